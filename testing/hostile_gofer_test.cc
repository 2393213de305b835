// The hostile gofer fixture does what its script says, over a real socket.

#include "testing/hostile_gofer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/wire.h"
#include "testing/raw_client.h"

namespace gvisor::testing {
namespace {

using lisafs::MID;

TEST(HostileGoferTest, AnswersAsScripted) {
  fd::OwnedFd donated(open("/dev/null", O_RDONLY | O_CLOEXEC));
  MountOptions mount;
  mount.max_message_size = 0xFFFFFFFF;
  mount.mids = {1, 5};
  mount.donate = donated.get();
  auto g = HostileGofer::Start([&](const GoferRequest& r) {
    switch (r.mid) {
      case MID::kMount:
        return MountAnswer(mount);
      case MID::kWalk:
        return GoferAnswer::Error(EBADMSG);
      case MID::kGetdents64:
        return DirentsAnswer({"a", "bb"});
      default:
        return GoferAnswer::HangUp();
    }
  });
  ASSERT_TRUE(g.ok()) << g.status();
  RawClient c((*g)->Dial());
  absl::StatusOr<Reply> r = c.Call(MID::kMount, lisafs::EmptyMessage{});
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<lisafs::MountResp> m = r->As<lisafs::MountResp>();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->max_message_size, 0xFFFFFFFFu);
  EXPECT_EQ(m->root.control_fd, kRootFdid);
  EXPECT_EQ(m->root.stat.mode, S_IFDIR | 0755);
  ASSERT_EQ(m->supported_mids.size(), 2u);
  ASSERT_EQ(r->fds.size(), 1u);
  struct stat a, b;
  ASSERT_EQ(fstat(r->fds[0].get(), &a), 0);
  ASSERT_EQ(fstat(donated.get(), &b), 0);
  EXPECT_EQ(a.st_rdev, b.st_rdev);

  r = c.Call(MID::kWalk, lisafs::WalkReq{.dir_fd = 1, .path = {"x"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->err(), EBADMSG);

  r = c.Call(MID::kGetdents64, lisafs::Getdents64Req{.dir_fd = 2, .count = 1});
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<lisafs::Getdents64Resp> d = r->As<lisafs::Getdents64Resp>();
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->dirents.size(), 2u);
  EXPECT_EQ(d->dirents[1].name, "bb");

  EXPECT_EQ((*g)->requests(MID::kMount), 1u);
  EXPECT_EQ((*g)->requests(MID::kWalk), 1u);
  // Anything else: the gofer hangs up.
  EXPECT_FALSE(c.Call(MID::kFStat, lisafs::StatReq{.fd = 1}).ok());
  EXPECT_TRUE((*g)->AwaitClosed(1));
}

TEST(HostileGoferTest, RawBytesThenSilenceUntilThePeerCloses) {
  auto g = HostileGofer::Start([](const GoferRequest&) {
    return GoferAnswer::Raw({0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0});
  });
  ASSERT_TRUE(g.ok()) << g.status();
  {
    fd::OwnedFd s = (*g)->Dial();
    RawClient c(std::move(s));
    ASSERT_TRUE(c.WriteBytes({0, 0, 0, 0, 1, 0, 0, 0}).ok());
    uint8_t header[8];
    ASSERT_EQ(recv(c.fd(), header, sizeof(header), MSG_WAITALL), 8);
    EXPECT_EQ(header[0], 0xFF);
    EXPECT_EQ(header[3], 0xFF);
    // Nothing follows, and the connection stays open.
    pollfd p{c.fd(), POLLIN | POLLRDHUP, 0};
    EXPECT_EQ(poll(&p, 1, 0), 0);
    EXPECT_EQ((*g)->closed(), 0u);
  }
  // The gofer notices the peer's close.
  EXPECT_TRUE((*g)->AwaitClosed(1));
}

TEST(HostileGoferTest, SilentConnectionsEndWithTheGofer) {
  auto g = HostileGofer::Start(
      [](const GoferRequest&) { return GoferAnswer::Silence(); });
  ASSERT_TRUE(g.ok()) << g.status();
  RawClient c((*g)->Dial());
  ASSERT_TRUE(c.WriteBytes({0, 0, 0, 0, 1, 0, 0, 0}).ok());
  ASSERT_TRUE((*g)->AwaitRequests(MID::kMount, 1));
  g->reset();
  // The connection was closed from the gofer's end.
  char b;
  EXPECT_EQ(recv(c.fd(), &b, 1, 0), 0);
}

}  // namespace
}  // namespace gvisor::testing
