#include "pkg/lisafs/fd_budget.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs::internal {

void FdBudget::RecountLocked() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    limit_ = rl.rlim_cur == RLIM_INFINITY ? UINT32_MAX : rl.rlim_cur;
  }
  int64_t open = 0;
  if (DIR* d = opendir("/proc/self/fd"); d != nullptr) {
    const int own = dirfd(d);
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      if (atoi(e->d_name) == own) continue;
      ++open;
    }
    closedir(d);
  } else if (errno == EMFILE || errno == ENFILE) {
    // Not even one FD left for the count: the table is full.
    open = static_cast<int64_t>(limit_);
  } else {
    // No /proc: keep the estimate as it is.
    open = EstimateLocked() - charged_;
  }
  base_ = open;
  tracked_at_base_ = tracked_.load(std::memory_order_relaxed);
  last_count_ = absl::Now();
  counted_ = true;
}

int64_t FdBudget::EstimateLocked() const {
  return base_ + (tracked_.load(std::memory_order_relaxed) - tracked_at_base_) +
         charged_;
}

int64_t FdBudget::Estimate() const {
  std::unique_lock<std::mutex> l(mu_);
  return EstimateLocked();
}

uint64_t FdBudget::limit() const {
  std::unique_lock<std::mutex> l(mu_);
  return limit_;
}

absl::Status FdBudget::Charge(size_t n, size_t after) {
  std::unique_lock<std::mutex> l(mu_);
  if (!counted_) RecountLocked();
  auto fits = [&] {
    const int64_t reserve =
        static_cast<int64_t>(std::min<uint64_t>(reserve_, limit_ / 4));
    return after <= small_connection_ ||
           EstimateLocked() + static_cast<int64_t>(n) + reserve <=
               static_cast<int64_t>(limit_);
  };
  bool ok = fits();
  if (!ok && absl::Now() - last_count_ >= kRecountInterval) {
    RecountLocked();
    ok = fits();
  }
  if (!ok) {
    return syserr::FromErrno(
        EMFILE, absl::StrCat("the server holds about ", EstimateLocked(),
                             " of its ", limit_, " FDs, and keeps the last ",
                             std::min<uint64_t>(reserve_, limit_ / 4),
                             " for new connections"));
  }
  charged_ += static_cast<int64_t>(n);
  return absl::OkStatus();
}

void FdBudget::Uncharge(size_t n) {
  std::unique_lock<std::mutex> l(mu_);
  charged_ -= static_cast<int64_t>(n);
}

}  // namespace gvisor::lisafs::internal
