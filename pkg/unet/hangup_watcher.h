// HangupWatcher: one thread and one epoll set that watch any number of
// sockets, so that a process needs no thread per connection. It does two
// things:
//  * hang-up callbacks: a watched socket whose peer closed (or that was shut
//    down) is reported once (EPOLLRDHUP, EPOLLHUP, EPOLLERR; one-shot),
//    through the callback given to Watch, on the watcher's thread. The
//    LISAFS client watches the socket of every client that started channels
//    (a dead server must wake the threads asleep on them, pkg/lisafs/README.md
//    §6.8); the shim's registry watches every container's gofer socket;
//  * stall guards: a socket is shut down (shutdown(2), SHUT_RDWR) at a
//    deadline unless the caller is done with it first (StallGuard). LISAFS
//    cannot cancel a request in flight, so a peer that does not answer is
//    cut off rather than waited for.
//
// A watcher holds one epoll FD, one eventfd (to wake its thread for a new
// earliest deadline) and one thread. Default() is the process's, created on
// first use and kept for the life of the process; Create makes one of the
// caller's own, stopped by its destructor.
//
// The watcher borrows the FDs it is given: every socket must stay open
// until its registration is dropped (Unwatch) or its guard disarmed.

#ifndef GVISOR_PKG_UNET_HANGUP_WATCHER_H_
#define GVISOR_PKG_UNET_HANGUP_WATCHER_H_

#include <stddef.h>
#include <stdint.h>

#include <condition_variable>
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
#include "pkg/unet/unet.h"

namespace gvisor::unet {

class HangupWatcher;

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
  // socket again (and a socket the guard owned is closed). Idempotent;
  // later calls return false.
  bool Disarm();

 private:
  friend class HangupWatcher;
  StallGuard(HangupWatcher* watcher, uint64_t id)
      : watcher_(watcher), id_(id) {}

  HangupWatcher* watcher_ = nullptr;
  uint64_t id_ = 0;
};

// HangupWatcher: see the file comment. Every method is thread-safe.
class HangupWatcher {
 public:
  // Default returns the process's watcher, creating it on the first call.
  // It is never destroyed: its thread may be blocked in epoll_wait at exit.
  // If its FDs cannot be made, every Watch fails (EMFILE) and guards never
  // fire.
  static HangupWatcher& Default();

  // Create starts a watcher of the caller's own.
  static absl::StatusOr<std::unique_ptr<HangupWatcher>> Create();

  // The destructor stops and joins the thread. Registrations and guards
  // must be gone first.
  ~HangupWatcher();
  HangupWatcher(const HangupWatcher&) = delete;
  HangupWatcher& operator=(const HangupWatcher&) = delete;

  // Watch runs on_hangup (not null: EINVAL) once, on the watcher's thread,
  // when socket fd reports a hang-up; a socket that has already hung up is
  // reported at once. fd is borrowed: keep it open until after Unwatch. A
  // socket can be in one watcher's set once only (EEXIST). on_hangup must
  // not call Watch or Unwatch. Returns the registration's ID for Unwatch.
  absl::StatusOr<uint64_t> Watch(int fd, std::function<void()> on_hangup);

  // Unwatch drops registration id of fd. Call it while fd is still open
  // (the kernel forgets a closed FD by itself, but its number may be
  // reused). A callback the watcher picked up just before may still run,
  // or finish, after Unwatch returns, so it must hold nothing that Unwatch's
  // caller is about to destroy. Unknown IDs are ignored.
  void Unwatch(uint64_t id, int fd);

  // watched returns how many registrations are live.
  size_t watched() const;

  // AwaitWatched waits up to timeout until at most count registrations are
  // live and no callback is running, and reports whether that happened. A
  // callback may destroy what it watched (a LISAFS client whose socket hung
  // up); a caller that wants every such thing gone waits here.
  bool AwaitWatched(size_t count, absl::Duration timeout) const;

  // Guard returns a StallGuard that shuts socket fd down at deadline, first
  // calling on_fire (if set) on the watcher thread, so that the caller can
  // record why before anyone sees the hang-up. on_fire must not call into
  // the watcher. fd is borrowed: it must stay open until the guard is
  // disarmed. The guard must not outlive the watcher.
  StallGuard Guard(int fd, absl::Time deadline,
                   std::function<void()> on_fire = nullptr);

  // Guard as above, on a socket the guard owns (a Socket::Dup of one that
  // another owner may close first): it is closed when the guard is
  // disarmed.
  StallGuard Guard(Socket sock, absl::Time deadline,
                   std::function<void()> on_fire = nullptr);

 private:
  friend class StallGuard;
  struct Alarm {
    int fd;
    absl::Time deadline;
    std::function<void()> on_fire;
    Socket owned;  // holds nothing for a borrowed fd
    bool fired = false;
  };

  HangupWatcher(fd::OwnedFd epoll, fd::OwnedFd wake);
  void Run();
  void Wake();
  bool DisarmGuard(uint64_t id);
  // FireDue shuts down the sockets of due alarms and returns how long the
  // thread may sleep (in ms, -1 for no limit). Called with mu_ held.
  int FireDue();

  const fd::OwnedFd epoll_;
  const fd::OwnedFd wake_;

  // std::mutex rather than absl::Mutex so that ThreadSanitizer sees it.
  mutable std::mutex mu_;  // guards everything below
  // Notified when a registration is dropped or a callback returns.
  mutable std::condition_variable dropped_;
  bool stop_ = false;
  int running_ = 0;  // callbacks running now
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::function<void()>> callbacks_;
  uint64_t next_alarm_ = 1;
  std::map<uint64_t, Alarm> alarms_;
  // Pending alarms by deadline, for the next wakeup.
  std::multimap<absl::Time, uint64_t> by_deadline_;

  std::thread thread_;
};

}  // namespace gvisor::unet

#endif  // GVISOR_PKG_UNET_HANGUP_WATCHER_H_
