// Rescue: for a test whose failure on broken code is a hang (an open that
// blocks forever, a Close that waits for it), a guard that undoes the hang
// after a generous timeout so that the test fails rather than hangs.
//
//   testing::Rescue rescue([&] { lease->Release(); });
//   client->Close();               // must not wait for the stuck open
//   EXPECT_FALSE(rescue.Disarm()) << "Close waited for the stuck open";
//
// The timeout only bounds a failure: a passing test never reaches it, so
// the test's outcome does not depend on timing.

#ifndef GVISOR_TESTING_RESCUE_H_
#define GVISOR_TESTING_RESCUE_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/time/time.h"

namespace gvisor::testing {

class Rescue {
 public:
  // kDefaultTimeout is far beyond what any passing step takes, under
  // sanitizers on two loaded cores.
  static constexpr absl::Duration kDefaultTimeout = absl::Seconds(15);

  explicit Rescue(std::function<void()> fn,
                  absl::Duration timeout = kDefaultTimeout)
      : fn_(std::move(fn)) {
    thread_ = std::thread([this, timeout] {
      std::unique_lock<std::mutex> l(mu_);
      if (cv_.wait_for(l, absl::ToChronoNanoseconds(timeout),
                       [this] { return disarmed_; })) {
        return;
      }
      fired_ = true;
      l.unlock();
      fn_();
    });
  }
  ~Rescue() { Disarm(); }
  Rescue(const Rescue&) = delete;
  Rescue& operator=(const Rescue&) = delete;

  // Disarm stops the guard (waiting for fn if it is running) and reports
  // whether it had to fire. Idempotent.
  bool Disarm() {
    {
      std::lock_guard<std::mutex> l(mu_);
      disarmed_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> l(mu_);
    return fired_;
  }

 private:
  const std::function<void()> fn_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  bool fired_ = false;
  std::thread thread_;
};

}  // namespace gvisor::testing

#endif  // GVISOR_TESTING_RESCUE_H_
