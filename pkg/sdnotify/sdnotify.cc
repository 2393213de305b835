#include "pkg/sdnotify/sdnotify.h"

#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <stdlib.h>
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
