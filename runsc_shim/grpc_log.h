// gRPC's own log (gpr_log) through glog, so that the shim's log has one
// format; and a way to hold it back while a step whose failure the shim
// reports in a line of its own (a server start) runs.

#ifndef GVISOR_RUNSC_SHIM_GRPC_LOG_H_
#define GVISOR_RUNSC_SHIM_GRPC_LOG_H_

#include <string>
#include <vector>

namespace gvisor::shim {

// RouteGrpcLogToGlog makes every gRPC log message a glog message of the same
// severity (gRPC's DEBUG and INFO are INFO, ERROR is ERROR) carrying gRPC's
// file and line. Which messages gRPC emits is still up to gRPC
// (GRPC_VERBOSITY, ERROR by default). Call it once, after
// google::InitGoogleLogging and before gRPC starts.
void RouteGrpcLogToGlog();

// GrpcLogCapture holds back gRPC's log messages (once routed to glog) while
// it lives, from every thread. The destructor logs what it holds at
// VLOG(1), unless Flush logged it already: a failure reported in one line
// of the caller's keeps gRPC's multi-line detail for --v=1. One capture at
// a time.
class GrpcLogCapture {
 public:
  GrpcLogCapture();
  ~GrpcLogCapture();
  GrpcLogCapture(const GrpcLogCapture&) = delete;
  GrpcLogCapture& operator=(const GrpcLogCapture&) = delete;

  // Flush logs the messages held so far at their own severity, and ends
  // the capture.
  void Flush();
};

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_GRPC_LOG_H_
