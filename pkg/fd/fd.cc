#include "pkg/fd/fd.h"

#include <unistd.h>

namespace gvisor::fd {

void OwnedFd::reset(int fd) {
  int old = fd_;
  fd_ = fd < 0 ? -1 : fd;
  // close(2) releases the descriptor even when it fails with EINTR on Linux,
  // so it must not be retried.
  if (old >= 0 && old != fd_) ::close(old);
}

}  // namespace gvisor::fd
