// HangupWatcher: one process-wide thread that waits, with one epoll set,
// for hang-ups (EPOLLRDHUP, EPOLLHUP, EPOLLERR) on any number of sockets
// and runs a callback for each. The LISAFS client registers the socket of
// every client that started channels, so that a server's death wakes the
// threads waiting on those channels (WIRE.md §6.8) without a thread per
// client. Internal to the client.

#ifndef GVISOR_PKG_LISAFS_HANGUP_WATCHER_H_
#define GVISOR_PKG_LISAFS_HANGUP_WATCHER_H_

#include <stdint.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pkg/fd/fd.h"

namespace gvisor::lisafs::internal {

class HangupWatcher {
 public:
  // Get returns the process's watcher, creating it (one epoll FD, one
  // thread, both kept for the life of the process) on the first call.
  static HangupWatcher& Get();

  HangupWatcher(const HangupWatcher&) = delete;
  HangupWatcher& operator=(const HangupWatcher&) = delete;

  // Watch runs on_hangup once, on the watcher's thread, when fd (borrowed)
  // reports a hang-up. on_hangup must not call Watch or Unwatch. Returns
  // the registration's ID for Unwatch.
  absl::StatusOr<uint64_t> Watch(int fd, std::function<void()> on_hangup);

  // Unwatch drops registration id of fd. Call it while fd is still open
  // (the kernel forgets a closed FD by itself, but its number may be
  // reused). A callback the watcher picked up just before may still run,
  // or finish, after Unwatch returns, so it must hold nothing that Unwatch's
  // caller is about to destroy (the client's callback holds a weak_ptr).
  void Unwatch(uint64_t id, int fd);

  // watched returns how many registrations are live.
  size_t watched() const;

  // AwaitWatched waits up to timeout until at most count registrations are
  // live and no callback is running, and reports whether that happened. A
  // client whose socket hung up may be destroyed by its callback, on the
  // watcher's thread; a caller that wants every such client gone (its FDs
  // closed) waits here.
  bool AwaitWatched(size_t count, absl::Duration timeout) const;

 private:
  HangupWatcher();
  void Loop();

  const fd::OwnedFd epoll_;
  mutable std::mutex mu_;
  // Notified when a registration is dropped or a callback returns.
  mutable std::condition_variable dropped_;
  int running_ = 0;  // callbacks running now
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::function<void()>> callbacks_;
};

}  // namespace gvisor::lisafs::internal

#endif  // GVISOR_PKG_LISAFS_HANGUP_WATCHER_H_
