#include "pkg/lisafs/hangup_watcher.h"

#include <errno.h>
#include <sys/epoll.h>

#include <thread>
#include <utility>

#include "glog/logging.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs::internal {

HangupWatcher& HangupWatcher::Get() {
  // Never destroyed: its thread may be blocked in epoll_wait at exit.
  static HangupWatcher* const watcher = new HangupWatcher();
  return *watcher;
}

HangupWatcher::HangupWatcher() : epoll_(epoll_create1(EPOLL_CLOEXEC)) {
  if (!epoll_.valid()) {
    LOG(ERROR) << "lisafs: hang-up watcher: epoll_create1: "
               << syserr::ErrnoName(errno);
    return;
  }
  std::thread([this] { Loop(); }).detach();
}

absl::StatusOr<uint64_t> HangupWatcher::Watch(
    int fd, std::function<void()> on_hangup) {
  std::unique_lock<std::mutex> l(mu_);
  if (!epoll_.valid()) {
    return syserr::FromErrno(EMFILE, "hang-up watcher has no epoll set");
  }
  const uint64_t id = next_id_++;
  // One-shot: the registration fires once and then stays disabled until the
  // owner drops it (or closes fd), so no event can outlive its callback.
  epoll_event ev = {};
  ev.events = EPOLLRDHUP | EPOLLONESHOT;
  ev.data.u64 = id;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return syserr::FromErrno(errno, "epoll_ctl(EPOLL_CTL_ADD) of a socket");
  }
  callbacks_.emplace(id, std::move(on_hangup));
  return id;
}

void HangupWatcher::Unwatch(uint64_t id, int fd) {
  std::unique_lock<std::mutex> l(mu_);
  if (callbacks_.erase(id) == 0) return;
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  dropped_.notify_all();
}

size_t HangupWatcher::watched() const {
  std::unique_lock<std::mutex> l(mu_);
  return callbacks_.size();
}

bool HangupWatcher::AwaitWatched(size_t count, absl::Duration timeout) const {
  std::unique_lock<std::mutex> l(mu_);
  return dropped_.wait_until(l, absl::ToChronoTime(absl::Now() + timeout),
                             [&] {
                               return callbacks_.size() <= count &&
                                      running_ == 0;
                             });
}

void HangupWatcher::Loop() {
  epoll_event events[64];
  for (;;) {
    int n = epoll_wait(epoll_.get(), events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      LOG(ERROR) << "lisafs: hang-up watcher: epoll_wait: "
                 << syserr::ErrnoName(errno);
      return;
    }
    for (int i = 0; i < n; ++i) {
      std::function<void()> cb;
      {
        std::unique_lock<std::mutex> l(mu_);
        auto it = callbacks_.find(events[i].data.u64);
        if (it == callbacks_.end()) continue;  // unwatched meanwhile
        cb = it->second;
        ++running_;
      }
      cb();
      cb = nullptr;  // what it captured goes before running_ drops
      {
        std::unique_lock<std::mutex> l(mu_);
        --running_;
      }
      dropped_.notify_all();
    }
  }
}

}  // namespace gvisor::lisafs::internal
