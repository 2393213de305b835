#include "pkg/readyfd/readyfd.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::readyfd {

absl::StatusOr<fd::OwnedFd> Claim(int fd) {
  if (fd < 0) return fd::OwnedFd();
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ready_fd=", fd, ": ", syserr::ErrnoName(errno)));
  }
  if ((fl & O_ACCMODE) == O_RDONLY) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ready_fd=", fd, " is not open for writing"));
  }
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    return syserr::FromErrno(errno, absl::StrCat("--ready_fd=", fd));
  }
  return fd::OwnedFd(fd);
}

void Notify(const context::Context& ctx, fd::OwnedFd fd) {
  if (!fd.valid()) return;
  absl::string_view left = kMessage;
  while (!left.empty()) {
    ssize_t n = write(fd.get(), left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ctx.Warningf("--ready_fd: write: %s", syserr::ErrnoName(errno));
      return;
    }
    left.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace gvisor::readyfd
