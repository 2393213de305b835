#include "pkg/unet/hangup_watcher.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <climits>
#include <utility>

#include "glog/logging.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::unet {
namespace {

// kWakeId is the epoll data of the eventfd; registration IDs start at 1.
constexpr uint64_t kWakeId = 0;
// kMaxEvents is how many events one epoll_wait returns at most.
constexpr int kMaxEvents = 64;

// MakeFds creates the epoll set and the eventfd in it.
absl::StatusOr<std::pair<fd::OwnedFd, fd::OwnedFd>> MakeFds() {
  fd::OwnedFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll.valid()) return syserr::FromLastErrno("epoll_create1");
  fd::OwnedFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return syserr::FromLastErrno("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeId;
  if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &ev) != 0) {
    return syserr::FromLastErrno("epoll_ctl(ADD) of the eventfd");
  }
  return std::make_pair(std::move(epoll), std::move(wake));
}

}  // namespace

StallGuard& StallGuard::operator=(StallGuard&& other) noexcept {
  if (this != &other) {
    Disarm();
    watcher_ = std::exchange(other.watcher_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

bool StallGuard::Disarm() {
  HangupWatcher* w = std::exchange(watcher_, nullptr);
  return w != nullptr && w->DisarmGuard(id_);
}

HangupWatcher& HangupWatcher::Default() {
  static HangupWatcher* const watcher = [] {
    absl::StatusOr<std::unique_ptr<HangupWatcher>> w = Create();
    if (w.ok()) return w->release();
    LOG(ERROR) << "unet: hang-up watcher: " << w.status();
    return new HangupWatcher(fd::OwnedFd(), fd::OwnedFd());
  }();
  return *watcher;
}

absl::StatusOr<std::unique_ptr<HangupWatcher>> HangupWatcher::Create() {
  ASSIGN_OR_RETURN(auto fds, MakeFds());
  std::unique_ptr<HangupWatcher> w(
      new HangupWatcher(std::move(fds.first), std::move(fds.second)));
  w->thread_ = std::thread([p = w.get()] { p->Run(); });
  return w;
}

HangupWatcher::HangupWatcher(fd::OwnedFd epoll, fd::OwnedFd wake)
    : epoll_(std::move(epoll)), wake_(std::move(wake)) {}

HangupWatcher::~HangupWatcher() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<uint64_t> HangupWatcher::Watch(int fd,
                                              std::function<void()> on_hangup) {
  if (on_hangup == nullptr) {
    return syserr::FromErrno(EINVAL, "Watch without a callback");
  }
  std::lock_guard<std::mutex> l(mu_);
  if (!epoll_.valid()) {
    return syserr::FromErrno(EMFILE, "hang-up watcher has no epoll set");
  }
  const uint64_t id = next_id_++;
  // No EPOLLIN: the socket's owner reads it. EPOLLHUP and EPOLLERR are
  // always reported. One-shot: the registration fires once and then stays
  // disabled until the owner drops it (or closes fd), so a dead socket kept
  // open does not wake the thread again, and no event outlives its
  // callback.
  epoll_event ev{};
  ev.events = EPOLLRDHUP | EPOLLONESHOT;
  ev.data.u64 = id;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return syserr::FromLastErrno("epoll_ctl(ADD) of a socket");
  }
  callbacks_.emplace(id, std::move(on_hangup));
  return id;
}

void HangupWatcher::Unwatch(uint64_t id, int fd) {
  std::lock_guard<std::mutex> l(mu_);
  if (callbacks_.erase(id) == 0) return;
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  dropped_.notify_all();
}

size_t HangupWatcher::watched() const {
  std::lock_guard<std::mutex> l(mu_);
  return callbacks_.size();
}

bool HangupWatcher::AwaitWatched(size_t count, absl::Duration timeout) const {
  std::unique_lock<std::mutex> l(mu_);
  return dropped_.wait_until(l, absl::ToChronoTime(absl::Now() + timeout), [&] {
    return callbacks_.size() <= count && running_ == 0;
  });
}

StallGuard HangupWatcher::Guard(int fd, absl::Time deadline,
                                std::function<void()> on_fire) {
  Alarm a;
  a.fd = fd;
  a.deadline = deadline;
  a.on_fire = std::move(on_fire);
  bool earliest;
  uint64_t id;
  {
    std::lock_guard<std::mutex> l(mu_);
    id = next_alarm_++;
    alarms_.emplace(id, std::move(a));
    auto it = by_deadline_.emplace(deadline, id);
    earliest = it == by_deadline_.begin();
  }
  if (earliest) Wake();
  return StallGuard(this, id);
}

StallGuard HangupWatcher::Guard(Socket sock, absl::Time deadline,
                                std::function<void()> on_fire) {
  const int fd = sock.fd();
  StallGuard g = Guard(fd, deadline, std::move(on_fire));
  std::lock_guard<std::mutex> l(mu_);
  alarms_.at(g.id_).owned = std::move(sock);
  return g;
}

bool HangupWatcher::DisarmGuard(uint64_t id) {
  Socket owned;  // closes after mu_ is released
  std::lock_guard<std::mutex> l(mu_);
  auto it = alarms_.find(id);
  if (it == alarms_.end()) return false;
  const bool fired = it->second.fired;
  if (!fired) {
    auto [b, e] = by_deadline_.equal_range(it->second.deadline);
    for (auto d = b; d != e; ++d) {
      if (d->second == id) {
        by_deadline_.erase(d);
        break;
      }
    }
  }
  owned = std::move(it->second.owned);
  alarms_.erase(it);
  return fired;
}

void HangupWatcher::Wake() {
  if (!wake_.valid()) return;
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the thread will wake.
  if (write(wake_.get(), &one, sizeof(one)) < 0 && errno != EAGAIN) {
    PLOG(ERROR) << "unet: write to the hang-up watcher's eventfd";
  }
}

int HangupWatcher::FireDue() {
  absl::Time now = absl::Now();
  while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
    Alarm& a = alarms_.at(by_deadline_.begin()->second);
    a.fired = true;
    // Under mu_: DisarmGuard cannot return while this runs, so the FD is
    // still the caller's.
    if (a.on_fire) a.on_fire();
    ::shutdown(a.fd, SHUT_RDWR);
    by_deadline_.erase(by_deadline_.begin());
  }
  if (by_deadline_.empty()) return -1;
  absl::Duration left = by_deadline_.begin()->first - now;
  int64_t ms = absl::ToInt64Milliseconds(left + absl::Milliseconds(1) -
                                         absl::Nanoseconds(1));
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

void HangupWatcher::Run() {
  epoll_event events[kMaxEvents];
  for (;;) {
    int timeout;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
      timeout = FireDue();
    }
    int n = epoll_wait(epoll_.get(), events, kMaxEvents, timeout);
    if (n < 0) {
      if (errno != EINTR) {
        PLOG(ERROR) << "unet: hang-up watcher: epoll_wait";
        return;
      }
      continue;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == kWakeId) {
        uint64_t count;
        while (read(wake_.get(), &count, sizeof(count)) > 0) {
        }
        continue;
      }
      std::function<void()> cb;
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = callbacks_.find(id);
        if (it == callbacks_.end()) continue;  // unwatched meanwhile
        cb = it->second;
        ++running_;
      }
      cb();
      cb = nullptr;  // what it captured goes before running_ drops
      {
        std::lock_guard<std::mutex> l(mu_);
        --running_;
      }
      dropped_.notify_all();
    }
  }
}

}  // namespace gvisor::unet
