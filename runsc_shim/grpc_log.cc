#include "runsc_shim/grpc_log.h"

#include <mutex>
#include <utility>

#include "glog/logging.h"
#include "grpc/support/log.h"

namespace gvisor::shim {
namespace {

struct Held {
  std::string file;
  int line;
  google::LogSeverity severity;
  std::string message;
};

std::mutex mu;
bool capturing = false;                           // guarded by mu
std::vector<Held>* held = new std::vector<Held>;  // guarded by mu

google::LogSeverity SeverityOf(gpr_log_severity s) {
  return s == GPR_LOG_SEVERITY_ERROR ? google::GLOG_ERROR : google::GLOG_INFO;
}

void ToGlog(gpr_log_func_args* args) {
  {
    std::lock_guard<std::mutex> l(mu);
    if (capturing) {
      held->push_back(
          {args->file, args->line, SeverityOf(args->severity), args->message});
      return;
    }
  }
  google::LogMessage(args->file, args->line, SeverityOf(args->severity))
          .stream()
      << args->message;
}

// Release ends the capture and returns what it held.
std::vector<Held> Release() {
  std::lock_guard<std::mutex> l(mu);
  capturing = false;
  return std::exchange(*held, {});
}

}  // namespace

void RouteGrpcLogToGlog() { gpr_set_log_function(ToGlog); }

GrpcLogCapture::GrpcLogCapture() {
  std::lock_guard<std::mutex> l(mu);
  capturing = true;
}

GrpcLogCapture::~GrpcLogCapture() {
  for (const Held& h : Release()) {
    VLOG(1) << "gRPC (" << h.file << ":" << h.line << "): " << h.message;
  }
}

void GrpcLogCapture::Flush() {
  for (const Held& h : Release()) {
    google::LogMessage(h.file.c_str(), h.line, h.severity).stream()
        << h.message;
  }
}

}  // namespace gvisor::shim
