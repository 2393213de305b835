// Package lisafs, server side, internal: FdBudget, a server's account of
// the host FDs its process holds, kept so that no single connection can take
// the FDs that accepting connections and other connections' Mounts need
// (ServerOptions::fd_reserve in server.h).
//
// The account is an estimate: the open FDs counted in /proc/self/fd at the
// last count, plus what the server has recorded taking or giving back since
// (Track: one host FD per FDID, per connection socket, per channel), plus
// what requests in flight have been charged (Charge). Host FDs a backend
// holds beyond one per FDID (fsgofer: a mount point FD per connection, a
// write FD opened for a truncate) are not tracked; instead the count is
// redone, at most every kRecountInterval, whenever the estimate says that a
// request would enter the reserve, so near the limit the estimate is never
// staler than that.

#ifndef GVISOR_PKG_LISAFS_FD_BUDGET_H_
#define GVISOR_PKG_LISAFS_FD_BUDGET_H_

#include <stddef.h>
#include <stdint.h>

#include <atomic>
#include <mutex>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace gvisor::lisafs::internal {

class FdBudget {
 public:
  // kRecountInterval is how often, at most, /proc/self/fd is counted again
  // while requests are near the reserve: often enough that the untracked
  // drift stays small, rarely enough that the count (a few ms with 20,000
  // FDs) costs little.
  static constexpr absl::Duration kRecountInterval = absl::Milliseconds(10);

  // reserve is the number of FDs kept back from the soft RLIMIT_NOFILE (at
  // most a quarter of it is kept); a connection that would hold at most
  // small_connection FDIDs may still use them.
  FdBudget(size_t reserve, size_t small_connection)
      : reserve_(reserve), small_connection_(small_connection) {}

  FdBudget(const FdBudget&) = delete;
  FdBudget& operator=(const FdBudget&) = delete;

  // Track records n host FDs taken (n > 0) or given back (n < 0).
  void Track(int64_t n) { tracked_.fetch_add(n, std::memory_order_relaxed); }

  // Charge asks for n host FDs for one request of a connection that would
  // then hold `after` FDIDs. OK if the estimate stays out of the reserve, or
  // if after <= small_connection; the charge is then held until Uncharge(n).
  // EMFILE otherwise, with a message that gives the figures.
  absl::Status Charge(size_t n, size_t after);

  // Uncharge gives back a successful Charge(n) once its request is over.
  void Uncharge(size_t n);

  // Estimate returns the host FDs believed open now.
  int64_t Estimate() const;

  // limit returns the soft RLIMIT_NOFILE read at the last count.
  uint64_t limit() const;

 private:
  // RecountLocked counts /proc/self/fd and re-reads the limit (mu_ held).
  void RecountLocked();
  int64_t EstimateLocked() const;

  const size_t reserve_;
  const size_t small_connection_;
  std::atomic<int64_t> tracked_{0};

  // mu_ guards the fields below it.
  mutable std::mutex mu_;
  bool counted_ = false;
  absl::Time last_count_ = absl::InfinitePast();
  int64_t base_ = 0;
  int64_t tracked_at_base_ = 0;
  int64_t charged_ = 0;
  uint64_t limit_ = 0;
};

}  // namespace gvisor::lisafs::internal

#endif  // GVISOR_PKG_LISAFS_FD_BUDGET_H_
