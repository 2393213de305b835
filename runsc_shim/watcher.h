// SocketWatcher: one thread that watches every container's gofer socket, so
// that the shim needs no thread per container.
//
// It does two things with one epoll set:
//  * hangup detection: a watched socket whose peer closed (or that was shut
//    down) is reported once through a callback, so that the registry marks
//    the container disconnected promptly, without waiting for an RPC;
//  * stall guards: a socket can be shut down at a deadline unless the caller
//    is done with it first. LISAFS cannot cancel a request in flight, so a
//    gofer that does not answer is cut off rather than waited for.

#ifndef GVISOR_RUNSC_SHIM_WATCHER_H_
#define GVISOR_RUNSC_SHIM_WATCHER_H_

#include <stdint.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pkg/fd/fd.h"

namespace gvisor::shim {

class SocketWatcher;

// StallGuard shuts its socket down (shutdown(2), SHUT_RDWR) when its deadline
// passes, unless Disarm ran first. Move-only; the destructor disarms.
class StallGuard {
 public:
  StallGuard() = default;
  StallGuard(StallGuard&& other) noexcept
      : watcher_(std::exchange(other.watcher_, nullptr)), id_(other.id_) {}
  StallGuard& operator=(StallGuard&& other) noexcept;
  StallGuard(const StallGuard&) = delete;
  StallGuard& operator=(const StallGuard&) = delete;
  ~StallGuard() { Disarm(); }

  // Disarm cancels the guard and reports whether it had already fired (the
  // socket was shut down). Once Disarm returns, the guard never touches the
  // socket again. Idempotent; later calls return false.
  bool Disarm();

 private:
  friend class SocketWatcher;
  StallGuard(SocketWatcher* watcher, uint64_t id)
      : watcher_(watcher), id_(id) {}

  SocketWatcher* watcher_ = nullptr;
  uint64_t id_ = 0;
};

// SocketWatcher owns an epoll FD, an eventfd and the thread that waits on
// them. Every method is thread-safe.
class SocketWatcher {
 public:
  // HangupFn is called on the watcher thread with the id given to Watch.
  using HangupFn = std::function<void(uint64_t id)>;

  // Create starts the watcher thread. on_hangup must not call back into the
  // watcher's Watch or Unwatch with a lock it also holds around them.
  static absl::StatusOr<std::unique_ptr<SocketWatcher>> Create(
      HangupFn on_hangup);

  // The destructor stops and joins the thread. Guards must be gone first.
  ~SocketWatcher();
  SocketWatcher(const SocketWatcher&) = delete;
  SocketWatcher& operator=(const SocketWatcher&) = delete;

  // Watch reports the hangup of socket fd (the peer closed it, or it was
  // shut down) once, as on_hangup(id). fd is borrowed: the caller keeps it
  // open until after Unwatch. id must not be 0. A socket that has already
  // hung up is reported at once.
  absl::Status Watch(int fd, uint64_t id);

  // Unwatch stops watching fd. It must be called while fd is still open
  // (closing fd alone does not end the registration if the file is shared).
  void Unwatch(int fd);

  // Guard returns a StallGuard that shuts fd down at deadline, first
  // calling on_fire (if set) on the watcher thread, so that the caller can
  // record why before anyone sees the hangup. on_fire must not call into
  // the watcher. fd is borrowed: it must stay open until the guard is
  // disarmed. The guard must not outlive the watcher.
  StallGuard Guard(int fd, absl::Time deadline,
                   std::function<void()> on_fire = nullptr);

 private:
  friend class StallGuard;
  struct Alarm {
    int fd;
    absl::Time deadline;
    std::function<void()> on_fire;
    bool fired = false;
  };

  SocketWatcher(fd::OwnedFd epoll, fd::OwnedFd wake, HangupFn on_hangup);
  void Run();
  void Wake();
  bool DisarmGuard(uint64_t id);
  // FireDue shuts down the sockets of due alarms and returns how long the
  // thread may sleep (in ms, -1 for no limit).
  int FireDue();

  const fd::OwnedFd epoll_;
  const fd::OwnedFd wake_;
  const HangupFn on_hangup_;

  // std::mutex rather than absl::Mutex so that ThreadSanitizer sees it.
  std::mutex mu_;  // guards everything below
  bool stop_ = false;
  uint64_t next_alarm_ = 1;
  std::map<uint64_t, Alarm> alarms_;
  // Pending alarms by deadline, for the next wakeup.
  std::multimap<absl::Time, uint64_t> by_deadline_;

  std::thread thread_;
};

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_WATCHER_H_
