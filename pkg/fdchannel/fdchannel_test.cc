#include "pkg/fdchannel/fdchannel.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "pkg/syserr/syserr.h"
#include "testing/fd_count.h"

namespace gvisor::fdchannel {
namespace {

TEST(FdChannelTest, SendsOneFDPerDatagram) {
  const int before = testing::OpenFdCount();
  {
    auto socks = NewConnectedSockets();
    ASSERT_TRUE(socks.ok()) << socks.status();
    Endpoint tx(std::move(socks->first));
    Endpoint rx(std::move(socks->second));
    int type = 0;
    socklen_t len = sizeof(type);
    ASSERT_EQ(getsockopt(tx.fd(), SOL_SOCKET, SO_TYPE, &type, &len), 0);
    EXPECT_EQ(type, SOCK_SEQPACKET);
    EXPECT_NE(fcntl(tx.fd(), F_GETFD) & FD_CLOEXEC, 0);

    fd::OwnedFd a(open("/dev/null", O_RDONLY | O_CLOEXEC));
    fd::OwnedFd b(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(tx.SendFD(a.get()).ok());
    ASSERT_TRUE(tx.SendFD(b.get()).ok());
    for (const fd::OwnedFd* want : {&a, &b}) {
      absl::StatusOr<fd::OwnedFd> got = rx.RecvFDNonblock();
      ASSERT_TRUE(got.ok()) << got.status();
      struct stat g, w;
      ASSERT_EQ(fstat(got->get(), &g), 0);
      ASSERT_EQ(fstat(want->get(), &w), 0);
      EXPECT_EQ(g.st_ino, w.st_ino);
      EXPECT_EQ(g.st_dev, w.st_dev);
      EXPECT_NE(fcntl(got->get(), F_GETFD) & FD_CLOEXEC, 0);
    }
    EXPECT_EQ(syserr::ToErrno(rx.RecvFDNonblock().status()), EAGAIN);
  }
  EXPECT_EQ(testing::OpenFdCount(), before);
}

TEST(FdChannelTest, DatagramWithoutAnFDIsRefused) {
  auto socks = NewConnectedSockets();
  ASSERT_TRUE(socks.ok());
  Endpoint rx(std::move(socks->second));
  char c = 'x';
  ASSERT_EQ(send(socks->first.fd(), &c, 1, 0), 1);
  EXPECT_EQ(syserr::ToErrno(rx.RecvFDNonblock().status()), EPROTO);
}

TEST(FdChannelTest, DatagramWithTwoFDsIsRefusedAndClosed) {
  const int before = testing::OpenFdCount();
  {
    auto socks = NewConnectedSockets();
    ASSERT_TRUE(socks.ok());
    Endpoint rx(std::move(socks->second));
    int fds[2] = {0, 1};
    alignas(cmsghdr) unsigned char ctrl[CMSG_SPACE(sizeof(fds))] = {};
    msghdr msg = {};
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof(ctrl);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(cmsg), fds, sizeof(fds));
    ASSERT_EQ(sendmsg(socks->first.fd(), &msg, 0), 0);
    EXPECT_EQ(syserr::ToErrno(rx.RecvFDNonblock().status()), EPROTO);
  }
  EXPECT_EQ(testing::OpenFdCount(), before);
}

TEST(FdChannelTest, ClosedPeerIsNotAnFD) {
  auto socks = NewConnectedSockets();
  ASSERT_TRUE(socks.ok());
  Endpoint tx(std::move(socks->first));
  Endpoint rx(std::move(socks->second));
  tx = Endpoint();
  EXPECT_FALSE(rx.RecvFDNonblock().ok());
  fd::OwnedFd a(open("/dev/null", O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(rx.SendFD(a.get()).ok());
}

}  // namespace
}  // namespace gvisor::fdchannel
