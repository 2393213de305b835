#include "runsc_shim/rpc_metrics.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"

namespace gvisor::shim {

// Recorder is the interceptor of one recorded call: it changes nothing
// about the call.
class RpcMetrics::Recorder final : public grpc::experimental::Interceptor {
 public:
  Recorder(Metrics* metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), start_(absl::Now()) {}
  ~Recorder() override {
    if (!recorded_) {
      metrics_->RecordRpc(method_, absl::StatusCode::kCancelled,
                          absl::Now() - start_);
    }
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!recorded_ &&
        methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      recorded_ = true;
      // grpc::StatusCode and absl::StatusCode share their numbers.
      metrics_->RecordRpc(
          method_,
          static_cast<absl::StatusCode>(methods->GetSendStatus().error_code()),
          absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  Metrics* const metrics_;
  const std::string method_;
  const absl::Time start_;
  bool recorded_ = false;  // gRPC runs one call's hooks one at a time
};

class RpcMetrics::Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(const RpcMetrics* owner) : owner_(owner) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    absl::string_view method = info->method() ? info->method() : "";
    if (!absl::ConsumePrefix(&method, owner_->prefix_) ||
        owner_->known_.find(method) == owner_->known_.end()) {
      return nullptr;  // not one of the service's methods
    }
    return new Recorder(owner_->metrics_, std::string(method));
  }

 private:
  const RpcMetrics* const owner_;
};

std::vector<std::string> RpcMetrics::ServiceMethods(absl::string_view service) {
  std::vector<std::string> out;
  const google::protobuf::ServiceDescriptor* s =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          std::string(service));
  if (s == nullptr) return out;
  for (int i = 0; i < s->method_count(); ++i) {
    out.push_back(s->method(i)->name());
  }
  return out;
}

RpcMetrics::RpcMetrics(absl::string_view service, Metrics* metrics)
    : prefix_(absl::StrCat("/", service, "/")),
      methods_(ServiceMethods(service)),
      known_(methods_.begin(), methods_.end()),
      metrics_(metrics) {
  for (const std::string& m : methods_) metrics_->InitMethod(m);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
RpcMetrics::NewFactory() {
  return std::make_unique<Factory>(this);
}

}  // namespace gvisor::shim
