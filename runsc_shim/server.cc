#include "runsc_shim/server.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

namespace gvisor::shim {
namespace {

// ClearStaleSocket makes path free for a new socket: nothing there, or a
// socket file nobody accepts on (which it removes).
absl::Status ClearStaleSocket(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return syserr::FromLastErrno(absl::StrCat("lstat of \"", path, "\""));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("\"", path, "\" exists and is not a socket"));
  }
  absl::StatusOr<unet::Socket> probe = unet::Socket::Connect(path, SOCK_STREAM);
  if (probe.ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("another server is listening on \"", path, "\""));
  }
  if (syserr::ToErrno(probe.status()) != ECONNREFUSED) {
    return syserr::WithContext(
        probe.status(), absl::StrCat("probing the socket file \"", path, "\""));
  }
  LOG(INFO) << "removing stale socket file " << path;
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return syserr::FromLastErrno(absl::StrCat("unlink of \"", path, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const Address& address, ContainerRegistry* registry) {
  const bool unix_file = address.kind == Address::Kind::kUnix;
  if (unix_file) {
    RETURN_IF_ERROR(ClearStaleSocket(address.target));
  }
  std::unique_ptr<Server> server(new Server(address, registry));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address.GrpcTarget(),
                           grpc::InsecureServerCredentials());
  builder.RegisterService(&server->service_);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(server->calls_.NewFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // The socket file gets mode 0600 from the start: no window in which
  // another user could connect.
  mode_t old_umask = unix_file ? umask(0177) : 0;
  server->server_ = builder.BuildAndStart();
  if (unix_file) umask(old_umask);
  if (server->server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve on ", address.ToString(), " (see the gRPC log above)"));
  }
  if (unix_file && chmod(address.target.c_str(), 0600) != 0) {
    return syserr::FromErrno(
        errno, absl::StrCat("chmod 0600 of \"", address.target, "\""));
  }
  return server;
}

Server::~Server() {
  Shutdown(absl::ZeroDuration());
  std::lock_guard<std::mutex> l(mu_);
  if (stopper_.joinable()) stopper_.join();
}

bool Server::Shutdown(absl::Duration grace) {
  std::lock_guard<std::mutex> l(mu_);
  if (server_ == nullptr) return true;
  if (shut_down_) return stopped_.load();
  shut_down_ = true;
  if (grpc::HealthCheckServiceInterface* health =
          server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  // grpc::Server::Shutdown(deadline) would also wait for idle connections
  // whose peers are not reading (a client process with no call running
  // never sees the GOAWAY), so the grace is spent here, on calls only.
  service_.Refuse();
  const bool idle = calls_.WaitIdle(absl::Now() + grace);
  if (!idle) {
    LOG(WARNING) << calls_.in_flight()
                 << " call(s) still running after the grace period";
  }
  // CloseAll never waits for a call: one stuck in the kernel keeps only
  // its own container's client open until it returns.
  registry_->CloseAll();
  if (!idle && !calls_.WaitIdle(absl::Now() + kDrainAfterClose)) {
    LOG(WARNING) << calls_.in_flight()
                 << " call(s) still running after closing the gofer "
                    "connections; cancelling them";
  }
  // grpc::Server::Shutdown waits for every handler to return, which one
  // stuck in a syscall does not: it runs on a thread, waited for up to
  // kStopTimeout.
  auto stop = [this] {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    {
      std::lock_guard<std::mutex> s(stopped_mu_);
      stopped_.store(true);
    }
    stopped_cv_.notify_all();
  };
  try {
    stopper_ = std::thread(stop);
  } catch (const std::system_error& e) {
    LOG(WARNING) << "no thread to stop the gRPC server on (" << e.what()
                 << "); stopping it here";
    stop();
  }
  {
    std::unique_lock<std::mutex> w(stopped_mu_);
    stopped_cv_.wait_for(w, absl::ToChronoNanoseconds(kStopTimeout),
                         [this] { return stopped_.load(); });
  }
  if (address_.kind == Address::Kind::kUnix) {
    unlink(address_.target.c_str());
  }
  if (!stopped_.load()) {
    LOG(WARNING) << calls_.in_flight()
                 << " call(s) stuck in the kernel; the gRPC server cannot "
                    "stop until they return";
    return false;
  }
  return true;
}

}  // namespace gvisor::shim
