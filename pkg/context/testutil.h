// Test fakes for code that takes a context::Context: CountingContext counts
// what the code under test does with its context (sleep hooks, messages),
// without locks, so that it may be shared by many threads.

#ifndef GVISOR_PKG_CONTEXT_TESTUTIL_H_
#define GVISOR_PKG_CONTEXT_TESTUTIL_H_

#include <atomic>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "pkg/context/context.h"

namespace gvisor::context::testutil {

// CountingContext counts calls to the sleep hooks and the messages logged
// through it (at every level; IsLogging keeps Context's default). Messages
// are counted, not emitted. It is thread-safe.
class CountingContext : public Context {
 public:
  void UninterruptibleSleepStart() const override { ++starts; }
  void UninterruptibleSleepFinish() const override { ++finishes; }
  void Log(LogLevel level, absl::string_view msg) const override {
    ++messages;
    if (level == LogLevel::kWarning) ++warnings;
    log_bytes += msg.size();
  }

  // starts and finishes count UninterruptibleSleepStart and Finish calls.
  mutable std::atomic<int64_t> starts{0};
  mutable std::atomic<int64_t> finishes{0};
  // messages counts the messages logged, warnings those at kWarning, and
  // log_bytes their total length.
  mutable std::atomic<int64_t> messages{0};
  mutable std::atomic<int64_t> warnings{0};
  mutable std::atomic<int64_t> log_bytes{0};
};

}  // namespace gvisor::context::testutil

#endif  // GVISOR_PKG_CONTEXT_TESTUTIL_H_
