#include "pkg/lisafs/event_pool.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>
#include <utility>

#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs::internal {

namespace {

// kStopTag marks the stop eventfd's events; no real tag is ever null.
void* const kStopTag = nullptr;

absl::Status Ctl(int epoll, int op, int fd, void* tag, uint32_t events) {
  epoll_event ev = {};
  ev.events = events | EPOLLONESHOT;
  ev.data.ptr = tag;
  if (epoll_ctl(epoll, op, fd, &ev) != 0) {
    return syserr::FromErrno(errno, "epoll_ctl");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventPool>> EventPool::Create(
    const context::Context& ctx, Handler handler, absl::Duration spin) {
  fd::OwnedFd ep(epoll_create1(EPOLL_CLOEXEC));
  if (!ep.valid()) return syserr::FromErrno(errno, "epoll_create1");
  fd::OwnedFd stop(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid()) return syserr::FromErrno(errno, "eventfd");
  // Level-triggered and never read: once written, every worker sees it.
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.ptr = kStopTag;
  if (epoll_ctl(ep.get(), EPOLL_CTL_ADD, stop.get(), &ev) != 0) {
    return syserr::FromErrno(errno, "epoll_ctl");
  }
  return std::unique_ptr<EventPool>(new EventPool(
      ctx, std::move(handler), std::move(ep), std::move(stop), spin));
}

EventPool::~EventPool() {
  Stop();
  Join(absl::InfiniteDuration());
}

size_t EventPool::Grow(size_t n) {
  std::unique_lock<std::mutex> l(mu_);
  while (!stopped_ && running_ < n) {
    const size_t slot = threads_.size();
    try {
      threads_.emplace_back([this, slot] { Work(slot); });
    } catch (const std::system_error& e) {
      ctx_.Warningf("lisafs: cannot start a worker thread (%d running): %s",
                    running_, e.what());
      break;
    }
    exited_.push_back(false);
    ++running_;
  }
  return running_;
}

size_t EventPool::workers() const {
  std::unique_lock<std::mutex> l(mu_);
  return running_;
}

absl::Status EventPool::Add(int fd, void* tag, uint32_t events) {
  return Ctl(epoll_.get(), EPOLL_CTL_ADD, fd, tag, events);
}

absl::Status EventPool::Arm(int fd, void* tag, uint32_t events) {
  return Ctl(epoll_.get(), EPOLL_CTL_MOD, fd, tag, events);
}

void EventPool::Remove(int fd) {
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void EventPool::Stop() {
  {
    std::unique_lock<std::mutex> l(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  uint64_t one = 1;
  (void)!write(stop_.get(), &one, sizeof(one));
}

bool EventPool::Join(absl::Duration grace) {
  std::unique_lock<std::mutex> l(mu_);
  if (joined_) return true;
  auto all_exited = [this] { return running_ == 0; };
  if (grace == absl::InfiniteDuration()) {
    exited_cv_.wait(l, all_exited);
  } else {
    exited_cv_.wait_for(l, absl::ToChronoMilliseconds(grace), all_exited);
  }
  const bool all = running_ == 0;
  std::vector<std::thread> threads;
  threads.swap(threads_);
  std::vector<bool> exited;
  exited.swap(exited_);
  joined_ = true;
  l.unlock();
  for (size_t i = 0; i < threads.size(); ++i) {
    // A worker that has marked itself exited has nothing left but to
    // return; one that has not is stuck in a handler.
    if (exited[i]) {
      threads[i].join();
    } else {
      threads[i].detach();
    }
  }
  if (!all) {
    ctx_.Warningf(
        "lisafs: %d worker threads still busy after %s; left behind",
        threads.size() - std::count(exited.begin(), exited.end(), true),
        absl::FormatDuration(grace));
  }
  return all;
}

void EventPool::Work(size_t slot) {
  spin::Spinner spinner(spin_);
  // A worker spins only after it ran a handler: one that found nothing to
  // do sleeps at once, so that idle workers stay asleep.
  bool after_handler = false;
  for (;;) {
    epoll_event ev;
    int n = 0;
    bool spun = false;
    if (after_handler && spinner.enabled()) {
      spun = spinner.Spin([&] {
        n = epoll_wait(epoll_.get(), &ev, 1, 0);
        return n != 0;
      });
    }
    if (!spun) n = epoll_wait(epoll_.get(), &ev, 1, -1);
    after_handler = false;
    if (n < 0) {
      if (errno == EINTR) continue;
      ctx_.Warningf("lisafs: epoll_wait: %s", strerror(errno));
      break;
    }
    if (n == 0) continue;
    if (ev.data.ptr == kStopTag) break;
    busy_.fetch_add(1, std::memory_order_relaxed);
    handler_(ev.data.ptr, ev.events);
    busy_.fetch_sub(1, std::memory_order_relaxed);
    after_handler = true;
  }
  std::unique_lock<std::mutex> l(mu_);
  if (slot < exited_.size()) exited_[slot] = true;
  --running_;
  exited_cv_.notify_all();
}

}  // namespace gvisor::lisafs::internal
