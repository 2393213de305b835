#include "testing/leased_file.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::testing {
namespace {

// The SIGIO handler writes a byte to this pipe for each lease break.
int break_pipe[2] = {-1, -1};
std::once_flag handler_once;

void OnLeaseBreak(int) {
  const int saved = errno;
  char b = 1;
  (void)!write(break_pipe[1], &b, 1);
  errno = saved;
}

absl::Status InstallHandler() {
  static absl::Status status;
  std::call_once(handler_once, [] {
    if (pipe2(break_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      status = syserr::FromErrno(errno, "pipe2");
      return;
    }
    struct sigaction sa = {};
    sa.sa_handler = OnLeaseBreak;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGIO, &sa, nullptr) != 0) {
      status = syserr::FromErrno(errno, "sigaction SIGIO");
    }
  });
  return status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LeasedFile>> LeasedFile::Create(
    const std::string& path) {
  if (absl::Status s = InstallHandler(); !s.ok()) return s;
  char stale;
  while (read(break_pipe[0], &stale, 1) == 1) {
  }
  {
    fd::OwnedFd w(
        open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
    if (!w.valid()) {
      return syserr::FromErrno(errno, absl::StrCat("creating ", path));
    }
  }
  // A read lease needs the file open read-only and by no writer.
  fd::OwnedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return syserr::FromErrno(errno, absl::StrCat("open ", path));
  if (fcntl(fd.get(), F_SETLEASE, F_RDLCK) != 0) {
    int err = errno;
    unlink(path.c_str());
    return syserr::FromErrno(err, absl::StrCat("F_SETLEASE on ", path));
  }
  return std::unique_ptr<LeasedFile>(new LeasedFile(path, std::move(fd)));
}

LeasedFile::~LeasedFile() {
  Release();
  unlink(path_.c_str());
}

bool LeasedFile::AwaitBreak(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    char b;
    if (read(break_pipe[0], &b, 1) == 1) return true;
    const int64_t ms = std::clamp<int64_t>(
        absl::ToInt64Milliseconds(deadline - absl::Now()), 0, INT32_MAX);
    if (ms == 0) return false;
    pollfd p{break_pipe[0], POLLIN, 0};
    poll(&p, 1, static_cast<int>(ms));
  }
}

void LeasedFile::Release() {
  if (!fd_.valid()) return;
  fcntl(fd_.get(), F_SETLEASE, F_UNLCK);
  fd_.reset();
}

}  // namespace gvisor::testing
