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
// Adaptive: a spin only pays when the peer runs on another CPU at the same
// time; when it needs this CPU (the other CPUs are busy, or the scheduler
// put it here) spinning only delays it. The window in force starts at max.
// A spin that the peer's answer ends keeps it, or widens it to twice what
// that answer took if that is more (at most max). A spin that runs out
// halves it, down to none; with none, Spin makes a single check, and only
// every Nth wait probes with a whole window again, N doubling (up to
// kMaxProbeInterval) with every probe that runs out and back to 1 with one
// that succeeds. The window thus follows the answers that a spin catches,
// and a spin that runs out costs about twice a typical one. A slow or idle peer
// therefore costs a few shrinking spins and then a probe now and then: an idle
// connection uses no CPU once the window after its last wait has passed.

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

// kMaxProbeInterval bounds how many waits pass between probes once the
// window has shrunk to none.
inline constexpr int kMaxProbeInterval = 1024;

// Relax is a CPU pause hint, which lets a sibling hyperthread run and saves
// power while polling.
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
  // Clock reads a monotonic clock in nanoseconds (tests pass a fake one).
  using Clock = int64_t (*)();

  // A Spinner with max <= 0 never spins (Spin makes its one check and
  // returns). max is clamped to kMaxMax.
  explicit Spinner(absl::Duration max = kDefaultMax, Clock now = NowNs)
      : now_(now) {
    set_max(max);
  }

  // set_max changes the upper bound (and resets the window to it).
  void set_max(absl::Duration max) {
    if (max < absl::ZeroDuration()) max = absl::ZeroDuration();
    if (max > kMaxMax) max = kMaxMax;
    max_ns_ = absl::ToInt64Nanoseconds(max);
    window_ns_ = max_ns_;
    skip_ = 0;
    probe_interval_ = 1;
  }

  // max returns the upper bound; window the window in force now.
  absl::Duration max() const { return absl::Nanoseconds(max_ns_); }
  absl::Duration window() const { return absl::Nanoseconds(window_ns_); }
  bool enabled() const { return max_ns_ > 0; }

  // Spin calls ready() (cheap and non-blocking; true once the wait is
  // over, for whatever reason, error included) until it returns true or the
  // window has passed, with a CPU pause between calls; at least once. true
  // if ready() returned true: the caller need not block. false: the caller
  // blocks as it would without a spinner.
  template <typename Ready>
  bool Spin(Ready&& ready) {
    if (max_ns_ == 0) return ready();
    int64_t window = window_ns_;
    const bool probe = window == 0;
    if (probe) {
      if (ready()) return true;
      if (--skip_ > 0) return false;
      window = max_ns_;
    }
    const int64_t start = now_();
    const int64_t end = start + window;
    for (;;) {
      if (ready()) {
        // Keep a window of twice what this answer took, at least.
        const int64_t want = 2 * (now_() - start) + kMinWindowNs;
        if (want > window_ns_) window_ns_ = want < max_ns_ ? want : max_ns_;
        probe_interval_ = 1;
        return true;
      }
      if (now_() >= end) break;
      Relax();
    }
    if (probe) {
      if (probe_interval_ < kMaxProbeInterval) probe_interval_ *= 2;
    } else {
      window_ns_ /= 2;
      if (window_ns_ < kMinWindowNs) window_ns_ = 0;
    }
    skip_ = probe_interval_;
    return false;
  }

 private:
  // Below kMinWindowNs a spin is not worth its clock reads.
  static constexpr int64_t kMinWindowNs = 1000;

  Clock now_;
  int64_t max_ns_ = 0;
  int64_t window_ns_ = 0;
  // With no window: waits left until the next probe, and how many waits
  // the next probe interval lasts.
  int skip_ = 0;
  int probe_interval_ = 1;
};

}  // namespace gvisor::spin

#endif  // GVISOR_PKG_SPIN_SPIN_H_
