#include "pkg/fd/fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "gtest/gtest.h"

namespace gvisor::fd {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

int OpenNull() {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  return fd;
}

TEST(OwnedFdTest, DefaultHoldsNothing) {
  OwnedFd f;
  EXPECT_FALSE(f.valid());
  EXPECT_EQ(f.get(), -1);
}

TEST(OwnedFdTest, NegativeMeansNothing) {
  OwnedFd f(-7);
  EXPECT_FALSE(f.valid());
  EXPECT_EQ(f.get(), -1);
}

TEST(OwnedFdTest, ClosesOnDestruction) {
  int raw = OpenNull();
  {
    OwnedFd f(raw);
    EXPECT_TRUE(f.valid());
    EXPECT_EQ(f.get(), raw);
    EXPECT_TRUE(IsOpen(raw));
  }
  EXPECT_FALSE(IsOpen(raw));
}

TEST(OwnedFdTest, ReleaseGivesUpOwnership) {
  int raw = OpenNull();
  {
    OwnedFd f(raw);
    EXPECT_EQ(f.release(), raw);
    EXPECT_FALSE(f.valid());
  }
  EXPECT_TRUE(IsOpen(raw));
  close(raw);
}

TEST(OwnedFdTest, ResetClosesOldAndTakesNew) {
  int a = OpenNull();
  int b = OpenNull();
  OwnedFd f(a);
  f.reset(b);
  EXPECT_FALSE(IsOpen(a));
  EXPECT_TRUE(IsOpen(b));
  EXPECT_EQ(f.get(), b);
  f.reset();
  EXPECT_FALSE(IsOpen(b));
  EXPECT_FALSE(f.valid());
}

TEST(OwnedFdTest, ResetToSameFdKeepsIt) {
  int a = OpenNull();
  OwnedFd f(a);
  f.reset(a);
  EXPECT_TRUE(IsOpen(a));
  EXPECT_EQ(f.get(), a);
}

TEST(OwnedFdTest, MoveTransfersOwnership) {
  int raw = OpenNull();
  OwnedFd a(raw);
  OwnedFd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.get(), raw);
  OwnedFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(IsOpen(raw));
  int other = OpenNull();
  OwnedFd d(other);
  d = std::move(c);  // closes `other`
  EXPECT_FALSE(IsOpen(other));
  EXPECT_EQ(d.get(), raw);
}

TEST(OwnedFdTest, SelfMoveAssignKeepsFd) {
  int raw = OpenNull();
  OwnedFd a(raw);
  OwnedFd& alias = a;
  a = std::move(alias);
  EXPECT_EQ(a.get(), raw);
  EXPECT_TRUE(IsOpen(raw));
}

}  // namespace
}  // namespace gvisor::fd
