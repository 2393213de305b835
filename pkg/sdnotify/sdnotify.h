// Package sdnotify: the two systemd conventions a server follows, through
// libsystemd (sd-daemon(3)), without needing a running systemd.
//
//  - Readiness and stopping (sd_notify(3)): NotifyReady sends READY=1 once
//    the server accepts connections, NotifyStopping sends STOPPING=1 when
//    it begins to shut down. Both go to the datagram socket named by
//    $NOTIFY_SOCKET (a unit with Type=notify), and are no-ops without it.
//    They are independent of --ready_fd (pkg/readyfd), which a server
//    offers beside them.
//  - Socket activation (sd_listen_fds(3)): TakeListenFds returns the
//    listening sockets systemd (or any starter) passed as FDs 3, 4, ...
//    with $LISTEN_FDS, $LISTEN_PID (which must be this process) and
//    $LISTEN_FDNAMES, and unsets the three so that no child inherits them.
//
// Call TakeListenFds before any thread starts: it changes the environment.

#ifndef GVISOR_PKG_SDNOTIFY_SDNOTIFY_H_
#define GVISOR_PKG_SDNOTIFY_SDNOTIFY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/fd/fd.h"

namespace gvisor::sdnotify {

// Notify sends state (newline-separated VAR=value assignments, e.g.
// "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET with sd_notify(3). Returns
// true if it was sent, false if $NOTIFY_SOCKET is unset (nothing to do),
// and the errno of sd_notify(3) otherwise. sd_notify opens a datagram
// socket for every message: a process that confines itself (devgofer's
// seccomp sandbox refuses socket(2) for datagrams) uses a Notifier.
absl::StatusOr<bool> Notify(absl::string_view state);

// NotifyReady sends "READY=1" and, if status is not empty,
// "STATUS=<status>" (what `systemctl status` shows).
absl::StatusOr<bool> NotifyReady(absl::string_view status);

// NotifyStopping sends "STOPPING=1" and, if status is not empty,
// "STATUS=<status>".
absl::StatusOr<bool> NotifyStopping(absl::string_view status);

// Notifier sends to $NOTIFY_SOCKET through a datagram socket connected
// once, when it is made: made before a process confines itself, it needs
// only send(2) afterwards. The messages are those of sd_notify(3), whose
// protocol (one datagram of VAR=value lines) systemd documents as stable.
class Notifier {
 public:
  // FromEnvironment connects to $NOTIFY_SOCKET (a path, or "@name" for an
  // abstract one) and unsets it, so that no child inherits it. Without
  // $NOTIFY_SOCKET the Notifier does nothing. The errno of socket(2) or
  // connect(2) when it cannot be reached.
  static absl::StatusOr<Notifier> FromEnvironment();

  Notifier() = default;
  Notifier(Notifier&&) = default;
  Notifier& operator=(Notifier&&) = default;

  // enabled reports whether there is a $NOTIFY_SOCKET to tell.
  bool enabled() const { return fd_.valid(); }

  // Ready and Stopping send what NotifyReady and NotifyStopping send;
  // false if not enabled, the errno of send(2) on failure.
  absl::StatusOr<bool> Ready(absl::string_view status);
  absl::StatusOr<bool> Stopping(absl::string_view status);

 private:
  absl::StatusOr<bool> Send(absl::string_view first, absl::string_view status);
  fd::OwnedFd fd_;
};

// ListenFd is one inherited listening socket.
struct ListenFd {
  // fd is the socket, close-on-exec.
  fd::OwnedFd fd;
  // name is its name from $LISTEN_FDNAMES (FileDescriptorName= in the
  // .socket unit; systemd's default is the socket unit's name), or
  // "unknown" when none was given.
  std::string name;
};

// TakeListenFds returns the sockets passed by socket activation (empty
// when $LISTEN_FDS is unset or $LISTEN_PID is another process) and unsets
// the variables. Each FD is made close-on-exec. The errno of
// sd_listen_fds_with_names(3) for a malformed $LISTEN_FDS.
absl::StatusOr<std::vector<ListenFd>> TakeListenFds();

// CheckListeningUnixStream returns OK if fd is an AF_UNIX SOCK_STREAM
// socket in the listening state, else FAILED_PRECONDITION saying what it
// is instead. what names the FD in the message.
absl::Status CheckListeningUnixStream(int fd, absl::string_view what);

// SocketPath returns the path fd is bound to (getsockname(2)); "@name" for
// an abstract name, "" for an unbound socket.
std::string SocketPath(int fd);

}  // namespace gvisor::sdnotify

#endif  // GVISOR_PKG_SDNOTIFY_SDNOTIFY_H_
