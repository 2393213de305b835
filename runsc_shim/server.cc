#include "runsc_shim/server.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server_posix.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/health.pb.h"

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

// kMetricsErrorKey marks a Start error of the metrics endpoint.
constexpr char kMetricsErrorKey[] = "gvisor.devutil.shim/metrics";

// UnixAddressKind is the Address kind of a socket path from getsockname.
Address::Kind UnixAddressKind(absl::string_view path) {
  return !path.empty() && path[0] == '@' ? Address::Kind::kUnixAbstract
                                         : Address::Kind::kUnix;
}

}  // namespace

bool Server::IsMetricsError(const absl::Status& status) {
  return status.GetPayload(kMetricsErrorKey).has_value();
}

std::optional<MetricsAddress> Server::metrics_address() const {
  if (metrics_http_ == nullptr) return std::nullopt;
  return metrics_http_->address();
}

absl::Status Server::StartMetrics(const ServerOptions& options) {
  if (!options.metrics_listen.has_value()) return absl::OkStatus();
  const MetricsAddress& a = *options.metrics_listen;
  absl::Status s = absl::OkStatus();
  if (a.kind == MetricsAddress::Kind::kUnix) {
    s = ClearStaleSocket(a.host);
    if (!s.ok()) {
      s = syserr::WithContext(
          s, absl::StrCat("metrics endpoint on ", a.ToString()));
    }
  }
  if (s.ok()) {
    absl::StatusOr<std::unique_ptr<MetricsHttp>> http = MetricsHttp::Start(
        a, [this] { return metrics_.Render(); }, options.metrics_http);
    if (http.ok()) {
      metrics_http_ = *std::move(http);
      return absl::OkStatus();
    }
    s = http.status();  // it names the endpoint
  }
  s.SetPayload(kMetricsErrorKey, absl::Cord("1"));
  return s;
}

absl::Status Server::StartGrpc(bool inherited) {
  const bool unix_file = !inherited && address_.kind == Address::Kind::kUnix;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // gRPC's built-in health service carries no descriptors, so reflection
  // would list grpc.health.v1.Health but not describe it (grpcurl then
  // cannot call it). Building health.proto into the generated pool (and
  // keeping it linked) lets reflection serve its schema.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::ServerBuilder builder;
  if (!inherited) {
    builder.AddListeningPort(address_.GrpcTarget(),
                             grpc::InsecureServerCredentials());
  }
  builder.RegisterService(&service_);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(calls_.NewFactory());
  interceptors.push_back(rpc_metrics_.NewFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // The socket file gets mode 0600 from the start: no window in which
  // another user could connect.
  mode_t old_umask = unix_file ? umask(0177) : 0;
  server_ = builder.BuildAndStart();
  if (unix_file) umask(old_umask);
  if (server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve on ", address_.ToString(), " (see the gRPC log above)"));
  }
  if (unix_file && chmod(address_.target.c_str(), 0600) != 0) {
    return syserr::FromErrno(
        errno, absl::StrCat("chmod 0600 of \"", address_.target, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const Address& address, ContainerRegistry* registry,
    const ServerOptions& options) {
  std::unique_ptr<Server> server(
      new Server(address, registry, options.managed));
  RETURN_IF_ERROR(server->StartMetrics(options));
  if (address.kind == Address::Kind::kUnix) {
    RETURN_IF_ERROR(ClearStaleSocket(address.target));
  }
  RETURN_IF_ERROR(server->StartGrpc(/*inherited=*/false));
  return server;
}

absl::StatusOr<std::unique_ptr<Server>> Server::StartOnListeningFd(
    fd::OwnedFd listener, ContainerRegistry* registry,
    const ServerOptions& options) {
  // Checks that it is a listening unix stream socket, and names it.
  absl::StatusOr<unet::ServerSocket> ls =
      unet::ServerSocket::FromListeningFd(std::move(listener), SOCK_STREAM);
  if (!ls.ok()) return ls.status();
  const absl::string_view path = ls->path();
  Address address;
  address.kind = UnixAddressKind(path);
  address.target = std::string(
      address.kind == Address::Kind::kUnixAbstract ? path.substr(1) : path);
  std::unique_ptr<Server> server(
      new Server(address, registry, options.managed));
  RETURN_IF_ERROR(server->StartMetrics(options));
  server->listener_ = fd::OwnedFd(dup(ls->fd()));
  server->stop_accept_ = fd::OwnedFd(eventfd(0, EFD_CLOEXEC));
  if (!server->listener_.valid() || !server->stop_accept_.valid()) {
    return syserr::FromLastErrno("dup/eventfd for the inherited socket");
  }
  RETURN_IF_ERROR(server->StartGrpc(/*inherited=*/true));
  try {
    server->acceptor_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no thread to accept on: ", e.what()));
  }
  return server;
}

void Server::AcceptLoop() {
  for (;;) {
    pollfd pf[2] = {{listener_.get(), POLLIN, 0},
                    {stop_accept_.get(), POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      PLOG(ERROR) << "poll for accept on " << address_.ToString();
      return;
    }
    if (pf[1].revents != 0) return;
    // gRPC's endpoints are non-blocking.
    int c = accept4(listener_.get(), nullptr, nullptr,
                    SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
      // Out of FDs or memory: the connections held go on; retry shortly.
      PLOG_EVERY_N(WARNING, 100) << "accept on " << address_.ToString();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    // gRPC owns c from here, and closes it with the connection.
    grpc::AddInsecureChannelFromFd(server_.get(), c);
  }
}

Server::~Server() {
  Shutdown(absl::ZeroDuration());
  std::lock_guard<std::mutex> l(mu_);
  if (stopper_.joinable()) stopper_.join();
}

bool Server::Shutdown(absl::Duration grace) {
  std::lock_guard<std::mutex> l(mu_);
  // The metrics endpoint stops last, whatever the gRPC server does.
  absl::Cleanup stop_metrics = [this] {
    if (metrics_http_ != nullptr) metrics_http_->Stop();
  };
  if (server_ == nullptr) return true;
  if (shut_down_) return stopped_.load();
  shut_down_ = true;
  // An inherited socket stops being accepted on; it is left listening for
  // its owner.
  if (acceptor_.joinable()) {
    uint64_t one = 1;
    (void)!write(stop_accept_.get(), &one, sizeof(one));
    acceptor_.join();
  }
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
  if (managed_ != nullptr) managed_->StopAll();
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
  if (address_.kind == Address::Kind::kUnix && !listener_.valid()) {
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
