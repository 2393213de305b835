// CallCounter: how many gRPC calls of one service the server still holds.
//
// A call is counted from the moment gRPC hands it to the server until gRPC
// is finished with it: the handler has returned and its response and
// status have been written to the connection. Counting inside the handler
// instead would let a shutdown that waits for "no call running" cut off a
// response that is still on its way out.
//
// It works through a gRPC server interceptor: the interceptor of a call is
// created with the call and destroyed with it.

#ifndef GVISOR_RUNSC_SHIM_CALL_COUNTER_H_
#define GVISOR_RUNSC_SHIM_CALL_COUNTER_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/support/server_interceptor.h"

namespace gvisor::shim {

class CallCounter {
 public:
  // service is the full name of the service whose calls count
  // ("package.Service"); calls of other services (health, reflection) do
  // not.
  explicit CallCounter(absl::string_view service);
  CallCounter(const CallCounter&) = delete;
  CallCounter& operator=(const CallCounter&) = delete;

  // NewFactory returns the interceptor factory to hand to
  // grpc::ServerBuilder::experimental().SetInterceptorCreators. The counter
  // must outlive the server built with it.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewFactory();

  // in_flight returns the number of calls counted now.
  int in_flight();

  // WaitIdle waits until no call is counted or deadline passes, and reports
  // whether none is.
  bool WaitIdle(absl::Time deadline);

 private:
  class Factory;
  class Tracker;

  void Add(int delta);

  const std::string prefix_;  // "/package.Service/"
  std::mutex mu_;             // guards in_flight_
  std::condition_variable idle_;
  int in_flight_ = 0;
};

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_CALL_COUNTER_H_
