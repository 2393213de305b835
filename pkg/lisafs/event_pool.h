// Package lisafs, server side, internal: EventPool, an epoll set served by
// a bounded number of worker threads. The server registers every
// connection's socket here (server.h), so that an idle connection costs an
// epoll entry and no thread.
//
// Every registration is one-shot (EPOLLONESHOT): when an FD becomes ready,
// exactly one worker is woken for it and calls the handler with its tag, and
// the FD reports nothing more until someone arms it again. A tag whose
// handler re-arms only at the end of its turn is therefore never served by
// two workers at once, which is how requests on one connection keep their
// order (pkg/lisafs/README.md §2.7).

#ifndef GVISOR_PKG_LISAFS_EVENT_POOL_H_
#define GVISOR_PKG_LISAFS_EVENT_POOL_H_

#include <stddef.h>
#include <stdint.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pkg/context/context.h"
#include "pkg/fd/fd.h"
#include "pkg/spin/spin.h"

namespace gvisor::lisafs::internal {

class EventPool {
 public:
  // Handler runs on a worker for a ready FD: its tag and epoll events.
  using Handler = std::function<void(void* tag, uint32_t events)>;

  // Create makes the epoll set and its stop eventfd; no worker runs yet
  // (see Grow). Errors are those of epoll_create1 and eventfd. ctx (for
  // logging) must outlive the pool and any worker it leaves behind.
  //
  // spin bounds how long a worker that has just run a handler polls the
  // set (epoll_wait with a zero timeout) before it sleeps in epoll_wait
  // (pkg/spin/spin.h; each worker adapts its own window): the next request
  // on a busy connection then finds a running worker. Workers that slept
  // stay asleep, and a worker spins only after a handler, so an idle pool
  // uses no CPU once the window after its last event has passed. Zero
  // turns it off.
  static absl::StatusOr<std::unique_ptr<EventPool>> Create(
      const context::Context& ctx, Handler handler,
      absl::Duration spin = absl::ZeroDuration());

  // The destructor stops the workers and joins them. Call Join first if a
  // handler may be stuck: a pool whose Join failed must not be destroyed.
  ~EventPool();

  EventPool(const EventPool&) = delete;
  EventPool& operator=(const EventPool&) = delete;

  // Grow starts workers until n run and returns how many run now. A thread
  // that cannot start (std::system_error under RLIMIT_NPROC or a pids
  // limit) is logged and ends the attempt; a later Grow tries again. After
  // Stop it starts nothing.
  size_t Grow(size_t n);

  // Add registers fd, armed for events (one-shot), with tag.
  absl::Status Add(int fd, void* tag, uint32_t events);

  // Arm re-arms a registered fd for events (one-shot), with tag.
  absl::Status Arm(int fd, void* tag, uint32_t events);

  // Remove unregisters fd. Its tag is never handed to a worker afterwards,
  // unless a worker already holds it.
  void Remove(int fd);

  // Stop tells every worker to return once its current handler call ends.
  // Idempotent.
  void Stop();

  // Join waits up to grace (after Stop) for every worker to return and
  // joins those that did. true if all did; otherwise the others (stuck in a
  // handler) are detached, and the pool and whatever their handlers use
  // must stay alive as long as the process.
  bool Join(absl::Duration grace);

  // workers returns how many workers run; busy how many are in a handler.
  size_t workers() const;
  size_t busy() const { return busy_.load(std::memory_order_relaxed); }

 private:
  EventPool(const context::Context& ctx, Handler handler, fd::OwnedFd epoll,
            fd::OwnedFd stop, absl::Duration spin)
      : ctx_(ctx),
        handler_(std::move(handler)),
        spin_(spin),
        epoll_(std::move(epoll)),
        stop_(std::move(stop)) {}

  // Work is a worker's loop; slot indexes exited_.
  void Work(size_t slot);

  const context::Context& ctx_;
  const Handler handler_;
  const absl::Duration spin_;
  const fd::OwnedFd epoll_;
  const fd::OwnedFd stop_;
  std::atomic<size_t> busy_{0};

  // mu_ guards the fields below it; exited_cv_ is signalled as workers
  // return.
  mutable std::mutex mu_;
  std::condition_variable exited_cv_;
  bool stopped_ = false;
  bool joined_ = false;
  std::vector<std::thread> threads_;
  std::vector<bool> exited_;
  size_t running_ = 0;
};

}  // namespace gvisor::lisafs::internal

#endif  // GVISOR_PKG_LISAFS_EVENT_POOL_H_
