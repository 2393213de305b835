// Server: the shim's gRPC server. It serves DevGoferShim (service.h) over a
// ContainerRegistry, with gRPC's standard health service
// (grpc.health.v1.Health) and server reflection. Used by shim_main.cc and by
// the end-to-end tests, so that both run the same server. It records
// every DevGoferShim call in its Metrics (rpc_metrics.h) and, when
// ServerOptions asks for it, serves them to Prometheus (metrics_http.h).

#ifndef GVISOR_RUNSC_SHIM_SERVER_H_
#define GVISOR_RUNSC_SHIM_SERVER_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pkg/fd/fd.h"
#include "runsc_shim/address.h"
#include "runsc_shim/call_counter.h"
#include "runsc_shim/metrics.h"
#include "runsc_shim/metrics_http.h"
#include "runsc_shim/registry.h"
#include "runsc_shim/rpc_metrics.h"
#include "runsc_shim/service.h"

namespace gvisor::shim {

// ServerOptions are a Server's settings beyond its address.
struct ServerOptions {
  // metrics_listen, if set, is where the metrics endpoint listens (the
  // shim's --metrics_listen); unset, the metrics are kept but not served.
  std::optional<MetricsAddress> metrics_listen;
  // metrics_http bounds the metrics endpoint (the shim's --metrics_* flags).
  MetricsHttpOptions metrics_http;
  // managed, if not null, runs the managed containers' gofers (service.h).
  ManagedContainers* managed = nullptr;
};

class Server {
 public:
  // Start serves on address. The registry must outlive the server.
  //
  // For a unix: address the socket file is created with mode 0600. A stale
  // socket file (nobody accepts on it) is replaced; a live one is
  // ALREADY_EXISTS, and anything else at the path is FAILED_PRECONDITION.
  // The metrics endpoint's unix socket file is treated the same, and it
  // starts first: an endpoint that cannot listen fails Start, with an
  // error that IsMetricsError tells apart. options.managed, if set, must
  // outlive the server; Shutdown stops its gofers.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const Address& address, ContainerRegistry* registry,
      const ServerOptions& options = {});

  // StartOnListeningFd serves on listener, a listening unix stream socket
  // inherited through socket activation (pkg/sdnotify TakeListenFds).
  // gRPC 1.51 cannot adopt a listening FD (its ports are addresses it binds
  // itself), so a thread of the server accepts each connection and hands
  // it to gRPC with grpc::AddInsecureChannelFromFd. The socket is never
  // shut down or removed: its owner keeps it, and connections made while
  // no shim runs wait in its backlog. address() is unix:PATH of the socket.
  static absl::StatusOr<std::unique_ptr<Server>> StartOnListeningFd(
      fd::OwnedFd listener, ContainerRegistry* registry,
      const ServerOptions& options = {});

  // IsMetricsError reports whether a Start failed on the metrics endpoint
  // (not on the gRPC address).
  static bool IsMetricsError(const absl::Status& status);

  // The destructor shuts down with no grace, and waits for the gRPC server
  // to stop: for calls stuck in the kernel too (see Shutdown).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Shutdown reports NOT_SERVING through the health service, refuses new
  // DevGoferShim calls (UNAVAILABLE) and lets calls in flight run for up to
  // grace; a call is done once its response is written. Then it closes
  // every managed gofer (ManagedContainers::StopAll: each gets SIGTERM,
  // SIGKILL after its stop grace) and every client of the registry, so
  // that a call still blocked on a gofer
  // fails at once, gives such calls up to kDrainAfterClose to send their
  // errors, stops the gRPC server, cancelling what is left, and removes the
  // socket file. The metrics endpoint serves until then, and stops last.
  // Idle client connections do not hold it up.
  //
  // It returns within grace + kDrainAfterClose + kStopTimeout (plus the
  // managed gofers' stop grace) whatever the calls do. true: the gRPC server
  // has stopped. false: a call is stuck in its method (a syscall that does not
  // return, such as an open of a tty waiting for carrier), and gRPC, which
  // cannot stop before every handler returns, goes on stopping on a thread of
  // its own; no call is admitted any more and the socket file is gone, but the
  // process should exit rather than destroy the server (shim_main does).
  // Idempotent: later calls return at once, true once the server has stopped.
  bool Shutdown(absl::Duration grace);

  // kDrainAfterClose bounds the wait for calls woken by closing the
  // registry's clients.
  static constexpr absl::Duration kDrainAfterClose = absl::Seconds(2);
  // kStopTimeout bounds the wait for the gRPC server to stop after that.
  static constexpr absl::Duration kStopTimeout = absl::Seconds(1);

  const Address& address() const { return address_; }

  // calls_in_flight returns the number of DevGoferShim calls the server
  // holds now (running, or sending their response).
  int calls_in_flight() { return calls_.in_flight(); }

  // calls_running returns the number of DevGoferShim calls admitted and
  // still in their method (not refused, not yet sending a response).
  int calls_running() const { return service_.running(); }

  // metrics returns the server's metrics (to set their managed gofers'
  // source, or read them in tests).
  Metrics& metrics() { return metrics_; }

  // metrics_address returns where the metrics endpoint listens (its port
  // resolved), if it runs.
  std::optional<MetricsAddress> metrics_address() const;

 private:
  Server(Address address, ContainerRegistry* registry,
         ManagedContainers* managed)
      : address_(std::move(address)),
        registry_(registry),
        managed_(managed),
        calls_(v1::DevGoferShim::service_full_name()),
        metrics_(registry),
        rpc_metrics_(v1::DevGoferShim::service_full_name(), &metrics_),
        service_(registry, managed) {}

  // StartMetrics starts metrics_http_ if options ask for it.
  absl::Status StartMetrics(const ServerOptions& options);
  // StartGrpc builds and starts server_, on address_ unless inherited.
  absl::Status StartGrpc(bool inherited);
  // AcceptLoop runs on acceptor_: it hands every connection accepted on
  // listener_ to gRPC until stop_accept_ is written.
  void AcceptLoop();

  const Address address_;
  ContainerRegistry* const registry_;
  ManagedContainers* const managed_;
  // For StartOnListeningFd: the inherited socket, the thread accepting on
  // it, and the eventfd that stops it.
  fd::OwnedFd listener_;
  fd::OwnedFd stop_accept_;
  std::thread acceptor_;
  CallCounter calls_;  // outlives server_, whose calls it counts
  Metrics metrics_;    // outlives server_ and metrics_http_
  RpcMetrics rpc_metrics_;
  Service service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsHttp> metrics_http_;
  std::mutex mu_;  // serializes Shutdown; guards shut_down_ and stopper_
  bool shut_down_ = false;
  // stopper_ runs grpc::Server::Shutdown and Wait; stopped_ is set once
  // they have returned.
  std::thread stopper_;
  std::mutex stopped_mu_;  // with stopped_cv_, for waiting on stopped_
  std::condition_variable stopped_cv_;
  std::atomic<bool> stopped_{false};
};

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_SERVER_H_
