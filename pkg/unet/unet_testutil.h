// Helpers shared by the unet tests: FD bookkeeping, socket pairs, paths
// for named sockets, and the UnetTest fixture, which checks that every test
// leaves exactly the FDs it found.

#ifndef GVISOR_PKG_UNET_UNET_TESTUTIL_H_
#define GVISOR_PKG_UNET_UNET_TESTUTIL_H_

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

namespace gvisor::unet {

using fd::OwnedFd;

inline std::vector<std::string> OpenFds() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    names.push_back(e.path().filename().string());
  }
  return names;
}

inline int Errno(const absl::Status& s) { return syserr::ToErrno(s); }

inline bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

inline bool IsCloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  return flags != -1 && (flags & FD_CLOEXEC) != 0;
}

inline iovec Iov(void* p, size_t n) { return iovec{p, n}; }
inline iovec Iov(const std::string& s) {
  return iovec{const_cast<char*>(s.data()), s.size()};
}

inline std::pair<Socket, Socket> MustPair(int type) {
  absl::StatusOr<std::pair<Socket, Socket>> p = Socket::SocketPair(type);
  if (!p.ok()) {
    ADD_FAILURE() << p.status();
    std::abort();
  }
  return std::move(*p);
}

// MustPipe returns {read end, write end}, without O_CLOEXEC so that tests can
// see that received copies get it anyway.
inline std::pair<OwnedFd, OwnedFd> MustPipe() {
  int p[2];
  if (pipe(p) != 0) {
    ADD_FAILURE() << "pipe: " << strerror(errno);
    std::abort();
  }
  return {OwnedFd(p[0]), OwnedFd(p[1])};
}

inline OwnedFd MustOpenNull() {
  OwnedFd f(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!f.valid()) {
    ADD_FAILURE() << "open /dev/null: " << strerror(errno);
    std::abort();
  }
  return f;
}

inline std::vector<int> Raw(const std::vector<OwnedFd>& fds) {
  std::vector<int> raw;
  for (const OwnedFd& f : fds) raw.push_back(f.get());
  return raw;
}

inline std::vector<OwnedFd> OpenNulls(size_t n) {
  std::vector<OwnedFd> fds;
  for (size_t i = 0; i < n; ++i) fds.push_back(MustOpenNull());
  return fds;
}

inline bool SameFile(int a, int b) {
  struct stat sa, sb;
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

inline void SetNonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  ASSERT_NE(flags, -1);
  ASSERT_EQ(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
}

inline std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  }
  return s;
}

// UniquePath returns a fresh socket path under /tmp (TEST_TMPDIR would not
// fit in sun_path).
inline std::string UniquePath(absl::string_view tag) {
  static std::atomic<int> counter{0};
  return absl::StrCat("/tmp/unet_test_", getpid(), "_", tag, "_",
                      counter.fetch_add(1), ".sock");
}

inline std::string UniqueAbstract(absl::string_view tag) {
  static std::atomic<int> counter{0};
  return absl::StrCat("@unet_test_", getpid(), "_", tag, "_",
                      counter.fetch_add(1));
}

// WaitUntilBlockedIn spins (yielding, never sleeping) until thread tid is
// inside system call sysno, as /proc reports it. Returns false if that
// cannot be observed; callers then still test the same outcome, only less
// strictly, because every wake-up tested here is also sticky.
inline bool WaitUntilBlockedIn(pid_t tid, absl::Span<const long> sysnos) {
  const std::string file = absl::StrCat("/proc/self/task/", tid, "/syscall");
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    std::ifstream in(file);
    if (!in) return false;
    std::string first;
    in >> first;
    for (long sysno : sysnos) {
      if (first == std::to_string(sysno)) return true;
    }
    sched_yield();
  }
  return false;
}

// kPollSyscalls are the system calls poll(2) may be made of.
#ifdef SYS_poll
inline constexpr long kPollSyscalls[] = {SYS_poll, SYS_ppoll};
#else
inline constexpr long kPollSyscalls[] = {SYS_ppoll};
#endif

// Every test checks that it leaves exactly the FDs it found.
class UnetTest : public ::testing::Test {
 protected:
  void SetUp() override { before_ = OpenFds(); }
  void TearDown() override {
    std::vector<std::string> after = OpenFds();
    EXPECT_EQ(after.size(), before_.size())
        << "FD leak: before {" << absl::StrJoin(before_, ",") << "} after {"
        << absl::StrJoin(after, ",") << "}";
  }

 private:
  std::vector<std::string> before_;
};

}  // namespace gvisor::unet

#endif  // GVISOR_PKG_UNET_UNET_TESTUTIL_H_
