// Package spin: a bounded, adaptive spin before a blocking wait.
//
// A thread that waits for a peer's answer (a futex hand-over, a socket
// read, an epoll set) normally blocks at once, and both sides of an RPC then
// sleep at the same time. Where waking a halted CPU is slow (a VM whose
// guest does not poll before halting, e.g. haltpoll.guest_halt_poll_ns=0),
// that wake-up dominates a short RPC. Spinner polls a cheap, non-blocking
// readiness check for a short window first, and only then lets the caller
// block as before.
//
// Bounded: one Spin call never lasts much longer than max (the window's
// upper bound), so a peer that never answers costs at most max of CPU per
// wait, and a waiter that has spun blocks exactly as it did without a
// spinner (deadlines, shutdown and hang-up detection are unchanged).
//
// Adaptive: the window in force starts at max. A wait that the peer
// answered within the window resets it to max. A wait that outlasted it
// (the caller blocked, and reports how long the whole wait took with
// Blocked) halves it when the peer took longer than max, down to 0, where
// Spin makes a single check; it grows back to max as soon as a blocked
// wait shows the peer answered within max. A slow or idle peer therefore
// costs a few halving spins and then nothing: an idle connection uses no CPU
// once its window has passed.

#ifndef GVISOR_PKG_SPIN_SPIN_H_
#define GVISOR_PKG_SPIN_SPIN_H_

#include <stdint.h>
#include <time.h>

#include "absl/time/time.h"

namespace gvisor::spin {

// kDefaultMax is the default upper bound of the spin window, chosen from
// the measurements in the README ("Spin before blocking").
inline constexpr absl::Duration kDefaultMax = absl::Microseconds(40);

// kMaxMax bounds what an embedder or a flag may ask for.
inline constexpr absl::Duration kMaxMax = absl::Milliseconds(10);

// Relax is the body of a spin iteration: a CPU pause hint, which lets a
// sibling hyperthread run and saves power while polling.
inline void Relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// NowNs reads CLOCK_MONOTONIC (the vDSO: no system call) in nanoseconds.
inline int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Spinner is the spin policy of one waiter (a socket, a flipcall endpoint,
// an epoll worker). It is not synchronized: one thread at a time uses it,
// as one thread at a time waits at its wait point.
class Spinner {
 public:
  // A Spinner with max <= 0 never spins (Spin makes its one check and
  // returns). max is clamped to kMaxMax.
  explicit Spinner(absl::Duration max = kDefaultMax) { set_max(max); }

  // set_max changes the upper bound (and resets the window to it).
  void set_max(absl::Duration max) {
    if (max < absl::ZeroDuration()) max = absl::ZeroDuration();
    if (max > kMaxMax) max = kMaxMax;
    max_ns_ = absl::ToInt64Nanoseconds(max);
    window_ns_ = max_ns_;
    blocked_ = false;
  }

  // max returns the upper bound; window the window in force now.
  absl::Duration max() const { return absl::Nanoseconds(max_ns_); }
  absl::Duration window() const { return absl::Nanoseconds(window_ns_); }
  bool enabled() const { return max_ns_ > 0; }

  // Spin calls ready() (cheap and non-blocking; true once the wait is
  // over, for whatever reason, error included) until it returns true or the
  // window has passed; at least once. true if ready() returned true: the
  // caller need not block. false: the caller blocks as it would without a
  // spinner, and then should call Blocked() so that the window adapts.
  template <typename Ready>
  bool Spin(Ready&& ready) {
    if (max_ns_ == 0) return ready();
    start_ns_ = NowNs();
    const int64_t end = start_ns_ + window_ns_;
    for (;;) {
      if (ready()) {
        window_ns_ = max_ns_;
        blocked_ = false;
        return true;
      }
      if (NowNs() >= end) break;
      Relax();
    }
    blocked_ = true;
    return false;
  }

  // Blocked tells the spinner that the blocking wait which followed a
  // false Spin has ended. It adapts the window from how long the whole wait
  // took. Without a preceding false Spin it does nothing.
  void Blocked() {
    if (!blocked_) return;
    blocked_ = false;
    const int64_t took = NowNs() - start_ns_;
    if (took <= max_ns_) {
      window_ns_ = max_ns_;
    } else {
      window_ns_ /= 2;
      if (window_ns_ < kMinWindowNs) window_ns_ = 0;
    }
  }

 private:
  // Below kMinWindowNs a spin is not worth its clock reads.
  static constexpr int64_t kMinWindowNs = 1000;

  int64_t max_ns_ = 0;
  int64_t window_ns_ = 0;
  int64_t start_ns_ = 0;
  bool blocked_ = false;
};

}  // namespace gvisor::spin

#endif  // GVISOR_PKG_SPIN_SPIN_H_
