#include "runsc_shim/watcher.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <climits>
#include <utility>

#include "glog/logging.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::shim {
namespace {

// kWakeId is the epoll data of the eventfd; container ids start at 1.
constexpr uint64_t kWakeId = 0;
// kMaxEvents is how many events one epoll_wait returns at most.
constexpr int kMaxEvents = 64;

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
  SocketWatcher* w = std::exchange(watcher_, nullptr);
  return w != nullptr && w->DisarmGuard(id_);
}

absl::StatusOr<std::unique_ptr<SocketWatcher>> SocketWatcher::Create(
    HangupFn on_hangup) {
  fd::OwnedFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll.valid()) return syserr::FromErrno(errno, "epoll_create1");
  fd::OwnedFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return syserr::FromErrno(errno, "eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeId;
  if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &ev) != 0) {
    return syserr::FromErrno(errno, "epoll_ctl(ADD) of the eventfd");
  }
  std::unique_ptr<SocketWatcher> w(new SocketWatcher(
      std::move(epoll), std::move(wake), std::move(on_hangup)));
  w->thread_ = std::thread([p = w.get()] { p->Run(); });
  return w;
}

SocketWatcher::SocketWatcher(fd::OwnedFd epoll, fd::OwnedFd wake,
                             HangupFn on_hangup)
    : epoll_(std::move(epoll)),
      wake_(std::move(wake)),
      on_hangup_(std::move(on_hangup)) {}

SocketWatcher::~SocketWatcher() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
}

absl::Status SocketWatcher::Watch(int fd, uint64_t id) {
  if (id == kWakeId) return syserr::FromErrno(EINVAL, "Watch with id 0");
  // No EPOLLIN: a gofer sends nothing unasked, and the RPC path reads the
  // socket. EPOLLHUP and EPOLLERR are always reported. One-shot, so that a
  // dead socket kept open until Detach does not wake the thread again.
  epoll_event ev{};
  ev.events = EPOLLRDHUP | EPOLLONESHOT;
  ev.data.u64 = id;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return syserr::FromErrno(errno, "epoll_ctl(ADD) of a gofer socket");
  }
  return absl::OkStatus();
}

void SocketWatcher::Unwatch(int fd) {
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0) {
    PLOG(WARNING) << "epoll_ctl(DEL) of gofer socket FD " << fd;
  }
}

StallGuard SocketWatcher::Guard(int fd, absl::Time deadline,
                                std::function<void()> on_fire) {
  bool earliest;
  uint64_t id;
  {
    std::lock_guard<std::mutex> l(mu_);
    id = next_alarm_++;
    alarms_.emplace(id, Alarm{fd, deadline, std::move(on_fire)});
    auto it = by_deadline_.emplace(deadline, id);
    earliest = it == by_deadline_.begin();
  }
  if (earliest) Wake();
  return StallGuard(this, id);
}

bool SocketWatcher::DisarmGuard(uint64_t id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = alarms_.find(id);
  if (it == alarms_.end()) return false;
  bool fired = it->second.fired;
  if (!fired) {
    auto [b, e] = by_deadline_.equal_range(it->second.deadline);
    for (auto d = b; d != e; ++d) {
      if (d->second == id) {
        by_deadline_.erase(d);
        break;
      }
    }
  }
  alarms_.erase(it);
  return fired;
}

void SocketWatcher::Wake() {
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the thread will wake.
  if (write(wake_.get(), &one, sizeof(one)) < 0 && errno != EAGAIN) {
    PLOG(ERROR) << "write to the watcher's eventfd";
  }
}

int SocketWatcher::FireDue() {
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

void SocketWatcher::Run() {
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
      if (errno != EINTR) PLOG(ERROR) << "epoll_wait";
      continue;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t id = events[i].data.u64;
      if (id == kWakeId) {
        uint64_t count;
        while (read(wake_.get(), &count, sizeof(count)) > 0) {
        }
        continue;
      }
      if (on_hangup_) on_hangup_(id);
    }
  }
}

}  // namespace gvisor::shim
