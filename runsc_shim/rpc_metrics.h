// RpcMetrics: records each DevGoferShim call in the shim's Metrics (its
// method, status code and duration) through a gRPC server interceptor, as
// CallCounter counts them.
//
// A call is recorded when its status is about to be sent (the interceptor's
// PRE_SEND_STATUS hook; gRPC 1.51 has no hook after the status is sent), so
// a client that has its answer finds the call counted in a scrape made
// after. Its duration runs from the call's arrival to that point. A call
// that ends without a status (cancelled before its handler answered) is
// recorded as CANCELLED when gRPC lets it go. Only the service's own
// methods are recorded, by short name ("AttachContainer"): a client cannot
// make up label values.

#ifndef GVISOR_RUNSC_SHIM_RPC_METRICS_H_
#define GVISOR_RUNSC_SHIM_RPC_METRICS_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "grpcpp/support/server_interceptor.h"
#include "runsc_shim/metrics.h"

namespace gvisor::shim {

class RpcMetrics {
 public:
  // service is the full name of the service whose calls are recorded
  // ("package.Service"); its methods are read from the generated
  // descriptor pool (the service's .pb.cc must be linked). metrics must
  // outlive this object.
  RpcMetrics(absl::string_view service, Metrics* metrics);
  RpcMetrics(const RpcMetrics&) = delete;
  RpcMetrics& operator=(const RpcMetrics&) = delete;

  // methods returns the service's method names.
  const std::vector<std::string>& methods() const { return methods_; }

  // NewFactory returns the interceptor factory to hand to
  // grpc::ServerBuilder::experimental().SetInterceptorCreators. This object
  // must outlive the server built with it.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewFactory();

 private:
  class Factory;
  class Recorder;

  // ServiceMethods returns the method names of service.
  static std::vector<std::string> ServiceMethods(absl::string_view service);

  const std::string prefix_;  // "/package.Service/"
  const std::vector<std::string> methods_;
  const std::set<std::string, std::less<>> known_;
  Metrics* const metrics_;
};

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_RPC_METRICS_H_
