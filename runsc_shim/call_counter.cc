#include "runsc_shim/call_counter.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gvisor::shim {

// Tracker is the interceptor of one counted call: it changes nothing about
// the call and only counts its life.
class CallCounter::Tracker final : public grpc::experimental::Interceptor {
 public:
  explicit Tracker(CallCounter* counter) : counter_(counter) {
    counter_->Add(1);
  }
  ~Tracker() override { counter_->Add(-1); }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  CallCounter* const counter_;
};

class CallCounter::Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(CallCounter* counter) : counter_(counter) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const char* method = info->method();
    if (method == nullptr || !absl::StartsWith(method, counter_->prefix_)) {
      return nullptr;  // not one of ours: no interceptor for this call
    }
    return new Tracker(counter_);
  }

 private:
  CallCounter* const counter_;
};

CallCounter::CallCounter(absl::string_view service)
    : prefix_(absl::StrCat("/", service, "/")) {}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
CallCounter::NewFactory() {
  return std::make_unique<Factory>(this);
}

void CallCounter::Add(int delta) {
  std::lock_guard<std::mutex> l(mu_);
  in_flight_ += delta;
  if (in_flight_ == 0) idle_.notify_all();
}

int CallCounter::in_flight() {
  std::lock_guard<std::mutex> l(mu_);
  return in_flight_;
}

bool CallCounter::WaitIdle(absl::Time deadline) {
  std::unique_lock<std::mutex> l(mu_);
  return idle_.wait_until(l, absl::ToChronoTime(deadline),
                          [this] { return in_flight_ == 0; });
}

}  // namespace gvisor::shim
