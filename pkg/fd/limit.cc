#include "pkg/fd/limit.h"

#include <errno.h>
#include <sys/resource.h>

#include "pkg/syserr/syserr.h"

namespace gvisor::fd {

absl::StatusOr<uint64_t> RaiseFdLimit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return syserr::FromErrno(errno, "getrlimit(RLIMIT_NOFILE)");
  }
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      return syserr::FromErrno(errno, "raising RLIMIT_NOFILE");
    }
  }
  return static_cast<uint64_t>(rl.rlim_cur);
}

}  // namespace gvisor::fd
