#include "pkg/readyfd/readyfd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::readyfd {
namespace {

struct Pipe {
  fd::OwnedFd r, w;
};

Pipe NewPipe() {
  int p[2];
  EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
  return {fd::OwnedFd(p[0]), fd::OwnedFd(p[1])};
}

// ReadAll reads fd until end of file.
std::string ReadAll(int fd) {
  std::string out;
  char buf[64];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

TEST(ReadyFdTest, NoFlagMeansNoFd) {
  absl::StatusOr<fd::OwnedFd> f = Claim(-1);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_FALSE(f->valid());
  Notify(context::Background(), *std::move(f));  // does nothing
}

TEST(ReadyFdTest, ClosedFdIsInvalidArgument) {
  Pipe p = NewPipe();
  const int n = p.w.get();
  p.w.reset();
  absl::StatusOr<fd::OwnedFd> f = Claim(n);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(f.status().message().find("EBADF"), std::string::npos)
      << f.status();
}

TEST(ReadyFdTest, ReadOnlyFdIsInvalidArgument) {
  Pipe p = NewPipe();
  absl::StatusOr<fd::OwnedFd> f = Claim(p.r.get());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(p.r.valid());  // not taken
  EXPECT_GE(fcntl(p.r.get(), F_GETFD), 0);
}

TEST(ReadyFdTest, NotifyWritesReadyAndCloses) {
  Pipe p = NewPipe();
  // An inherited FD has no FD_CLOEXEC: Claim sets it.
  ASSERT_EQ(fcntl(p.w.get(), F_SETFD, 0), 0);
  absl::StatusOr<fd::OwnedFd> f = Claim(p.w.release());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(fcntl(f->get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  Notify(context::Background(), *std::move(f));
  // "ready\n", then end of file: Notify closed the only write end.
  EXPECT_EQ(ReadAll(p.r.get()), std::string(kMessage));
}

TEST(ReadyFdTest, AReaderThatLeftIsNotFatal) {
  signal(SIGPIPE, SIG_IGN);  // as the servers do
  Pipe p = NewPipe();
  p.r.reset();
  absl::StatusOr<fd::OwnedFd> f = Claim(p.w.release());
  ASSERT_TRUE(f.ok()) << f.status();
  const int n = f->get();
  Notify(context::Background(), *std::move(f));
  EXPECT_LT(fcntl(n, F_GETFD), 0);  // closed all the same
}

}  // namespace
}  // namespace gvisor::readyfd
