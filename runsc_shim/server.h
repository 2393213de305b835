// Server: the shim's gRPC server. It serves DevGoferShim (service.h) over a
// ContainerRegistry, with gRPC's standard health service
// (grpc.health.v1.Health) and server reflection. Used by shim_main.cc and by
// the end-to-end tests, so that both run the same server.

#ifndef GVISOR_RUNSC_SHIM_SERVER_H_
#define GVISOR_RUNSC_SHIM_SERVER_H_

#include <memory>
#include <mutex>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "runsc_shim/address.h"
#include "runsc_shim/registry.h"
#include "runsc_shim/service.h"

namespace gvisor::shim {

class Server {
 public:
  // Start serves on address. The registry must outlive the server.
  //
  // For a unix: address the socket file is created with mode 0600. A stale
  // socket file (nobody accepts on it) is replaced; a live one is
  // ALREADY_EXISTS, and anything else at the path is FAILED_PRECONDITION.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const Address& address, ContainerRegistry* registry);

  // The destructor shuts down with no grace.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Shutdown reports NOT_SERVING through the health service and lets
  // calls in flight run for up to grace. Then it closes every client of the
  // registry (so that a call still blocked on a gofer ends at once), stops
  // the gRPC server, cancelling what is left, and removes the socket file.
  // Idle client connections do not hold it up. Idempotent.
  void Shutdown(absl::Duration grace);

  const Address& address() const { return address_; }

  // calls_in_flight returns the number of DevGoferShim calls running now.
  int calls_in_flight() { return service_.calls_in_flight(); }

 private:
  Server(Address address, ContainerRegistry* registry)
      : address_(std::move(address)),
        registry_(registry),
        service_(registry) {}

  const Address address_;
  ContainerRegistry* const registry_;
  Service service_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;  // serializes Shutdown
  bool shut_down_ = false;
};

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_SERVER_H_
