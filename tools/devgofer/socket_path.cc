#include "tools/devgofer/socket_path.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::devgofer {
namespace {

// kProbeTimeout bounds the connect(2) that tells a live server from a stale
// socket: a live server whose backlog is full makes it wait.
constexpr absl::Duration kProbeTimeout = absl::Milliseconds(500);

// kAttempts bounds the remove-and-bind loop: another process may create the
// path again between the removal and the bind.
constexpr int kAttempts = 3;

// ClearStale makes path free: nothing there, or a stale socket (removed).
absl::Status ClearStale(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return syserr::FromLastErrno(absl::StrCat("lstat of \"", path, "\""));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("\"", path, "\" is ", FileKind(st.st_mode),
                     ", not a socket; remove it or choose another path"));
  }
  absl::StatusOr<unet::Socket> probe =
      unet::Socket::Connect(path, SOCK_STREAM, absl::Now() + kProbeTimeout);
  const int err = probe.ok() ? 0 : syserr::ToErrno(probe.status());
  if (probe.ok() || err == EAGAIN) {
    return absl::AlreadyExistsError(absl::StrCat(
        "\"", path, "\": a live server is accepting connections on it",
        probe.ok() ? "" : " (its backlog is full)",
        "; stop it or choose another path"));
  }
  if (err != ECONNREFUSED) {
    return syserr::WithContext(
        probe.status(), absl::StrCat("probing the socket \"", path, "\""));
  }
  LOG(INFO) << "removing stale socket " << path << " (nobody accepts on it)";
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return syserr::FromLastErrno(
        absl::StrCat("removing the stale socket \"", path, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view FileKind(mode_t st_mode) {
  switch (st_mode & S_IFMT) {
    case S_IFREG:
      return "a regular file";
    case S_IFDIR:
      return "a directory";
    case S_IFLNK:
      return "a symbolic link";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFIFO:
      return "a FIFO";
    case S_IFSOCK:
      return "a socket";
  }
  return "a file of unknown type";
}

absl::StatusOr<unet::ServerSocket> ClaimSocketPath(const std::string& path,
                                                   mode_t mode) {
  absl::Status last;
  for (int i = 0; i < kAttempts; ++i) {
    RETURN_IF_ERROR(ClearStale(path));
    absl::StatusOr<unet::ServerSocket> s =
        unet::ServerSocket::Bind(path, SOCK_STREAM, mode);
    if (s.ok() || syserr::ToErrno(s.status()) != EADDRINUSE) return s;
    // Someone created the path after it was cleared: look again.
    last = s.status();
  }
  return last;
}

}  // namespace gvisor::devgofer
