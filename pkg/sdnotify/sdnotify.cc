#include "pkg/sdnotify/sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::sdnotify {
namespace {

absl::StatusOr<bool> NotifyWith(absl::string_view first,
                                absl::string_view status) {
  std::string state(first);
  if (!status.empty()) absl::StrAppend(&state, "\nSTATUS=", status);
  return Notify(state);
}

}  // namespace

absl::StatusOr<bool> Notify(absl::string_view state) {
  // unset_environment 0: READY and STOPPING go to the same socket.
  int r = sd_notify(0, std::string(state).c_str());
  if (r < 0) return syserr::FromErrno(-r, "sd_notify to $NOTIFY_SOCKET");
  return r > 0;
}

absl::StatusOr<bool> NotifyReady(absl::string_view status) {
  return NotifyWith("READY=1", status);
}

absl::StatusOr<bool> NotifyStopping(absl::string_view status) {
  return NotifyWith("STOPPING=1", status);
}

absl::StatusOr<Notifier> Notifier::FromEnvironment() {
  Notifier n;
  const char* e = getenv("NOTIFY_SOCKET");
  if (e == nullptr || e[0] == '\0') return n;
  std::string path = e;
  unsetenv("NOTIFY_SOCKET");
  if (path[0] != '/' && path[0] != '@') {
    return absl::InvalidArgumentError(absl::StrCat(
        "$NOTIFY_SOCKET=", path, ": neither a path nor an @abstract name"));
  }
  sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("$NOTIFY_SOCKET=", path, ": too long"));
  }
  memcpy(a.sun_path, path.data(), path.size());
  socklen_t len = offsetof(sockaddr_un, sun_path) + path.size();
  if (path[0] == '@') {
    a.sun_path[0] = '\0';
  } else {
    ++len;
  }
  n.fd_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!n.fd_.valid()) return syserr::FromLastErrno("socket for $NOTIFY_SOCKET");
  if (connect(n.fd_.get(), reinterpret_cast<sockaddr*>(&a), len) != 0) {
    return syserr::FromLastErrno(
        absl::StrCat("connect to $NOTIFY_SOCKET=", path));
  }
  return n;
}

absl::StatusOr<bool> Notifier::Ready(absl::string_view status) {
  return Send("READY=1", status);
}

absl::StatusOr<bool> Notifier::Stopping(absl::string_view status) {
  return Send("STOPPING=1", status);
}

absl::StatusOr<bool> Notifier::Send(absl::string_view first,
                                    absl::string_view status) {
  if (!fd_.valid()) return false;
  std::string state(first);
  if (!status.empty()) absl::StrAppend(&state, "\nSTATUS=", status);
  for (;;) {
    ssize_t n = send(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL);
    if (n >= 0) return true;
    if (errno != EINTR) return syserr::FromLastErrno("send to $NOTIFY_SOCKET");
  }
}

absl::StatusOr<std::vector<ListenFd>> TakeListenFds() {
  char** names = nullptr;
  int n = sd_listen_fds_with_names(1, &names);
  if (n < 0) {
    return syserr::FromErrno(-n, "socket activation ($LISTEN_FDS)");
  }
  std::vector<ListenFd> fds;
  for (int i = 0; i < n; ++i) {
    ListenFd l;
    l.fd = fd::OwnedFd(SD_LISTEN_FDS_START + i);
    l.name = names != nullptr && names[i] != nullptr ? names[i] : "unknown";
    fds.push_back(std::move(l));
  }
  if (names != nullptr) {
    for (int i = 0; names[i] != nullptr; ++i) free(names[i]);
    free(names);
  }
  return fds;
}

absl::Status CheckListeningUnixStream(int fd, absl::string_view what) {
  if (sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) > 0) {
    return absl::OkStatus();
  }
  std::string is;
  if (sd_is_socket(fd, AF_UNSPEC, 0, -1) <= 0) {
    is = fcntl(fd, F_GETFD) < 0 ? "not open" : "not a socket";
  } else if (sd_is_socket(fd, AF_UNIX, 0, -1) <= 0) {
    is = "not a unix socket (use ListenStream=/a/path)";
  } else if (sd_is_socket(fd, AF_UNIX, SOCK_STREAM, -1) <= 0) {
    is = "not a stream socket (use ListenStream=, not ListenDatagram= or "
         "ListenSequentialPacket=)";
  } else {
    is = "not listening (Accept=no is needed)";
  }
  return absl::FailedPreconditionError(
      absl::StrCat(what, " (FD ", fd, ") is ", is));
}

std::string SocketPath(int fd) {
  sockaddr_un a = {};
  socklen_t len = sizeof(a);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      a.sun_family != AF_UNIX || len <= offsetof(sockaddr_un, sun_path)) {
    return "";
  }
  size_t n = len - offsetof(sockaddr_un, sun_path);
  if (a.sun_path[0] == '\0') {
    return absl::StrCat("@", std::string(a.sun_path + 1, n - 1));
  }
  return std::string(a.sun_path, strnlen(a.sun_path, n));
}

}  // namespace gvisor::sdnotify
