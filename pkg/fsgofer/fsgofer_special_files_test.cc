// The fsgofer backend and special files: host FIFOs, character devices
// (ConnectDevices) and host Unix sockets (Connect, BindAt, Listen, Accept),
// and the Options that allow each of them.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "pkg/fsgofer/fsgofer.h"
#include "pkg/fsgofer/fsgofer_test_base.h"
#include "pkg/lisafs/messages.h"
#include "pkg/unet/unet.h"
#include "testing/gofer_test_base.h"

namespace gvisor::fsgofer {
namespace {

using ::gvisor::testing::RawClient;
using ::gvisor::testing::Reply;
using lisafs::FDID;
using lisafs::MID;

// --- OpenAt (7) of a FIFO ---------------------------------------------------

TEST_F(FsgoferTest, OpenAtOfAFifoDonatesIt) {
  fd::OwnedFd donated;
  FDID o = Open(WalkTo({"fifo"}), O_RDONLY, &donated);
  ASSERT_NE(o, 0u);
  ASSERT_TRUE(donated.valid());
  EXPECT_NE(FdFlags(donated.get()) & O_NONBLOCK, 0);
  // A writer opened on the host feeds the donated reader.
  fd::OwnedFd w(open(HostPath("fifo").c_str(), O_WRONLY | O_NONBLOCK));
  ASSERT_TRUE(w.valid());
  ASSERT_EQ(write(w.get(), "x", 1), 1);
  char c;
  EXPECT_EQ(read(donated.get(), &c, 1), 1);
}

TEST(FsgoferPolicyTest, FifosSocketsAndDevicesNeedTheirOptions) {
  int before = ::gvisor::testing::OpenFdCount();
  {
    absl::StatusOr<std::unique_ptr<::gvisor::testing::GoferFixture>> f =
        ::gvisor::testing::GoferFixture::Create();
    ASSERT_TRUE(f.ok());
    absl::StatusOr<std::pair<unet::Socket, unet::Socket>> pair =
        unet::Socket::SocketPair(SOCK_STREAM);
    ASSERT_TRUE(pair.ok());
    Options strict;  // the library defaults: nothing allowed
    ASSERT_TRUE((*f)->server()
                    .StartConnection(std::move(pair->second), (*f)->root(),
                                     std::make_unique<Connection>(strict))
                    .ok());
    RawClient c(pair->first.Release());
    ASSERT_EQ(c.CallBytes(1, {})->mid, 1);
    for (const char* name : {"fifo", "socket"}) {
      lisafs::WalkReq w;
      w.dir_fd = 1;
      w.path = {name};
      absl::StatusOr<Reply> r = c.Call(MID::kWalk, w);
      ASSERT_TRUE(r.ok());
      FDID id = r->As<lisafs::WalkResp>()->inodes.at(0).control_fd;
      lisafs::OpenAtReq o;
      o.fd = id;
      EXPECT_EQ(c.Call(MID::kOpenAt, o)->err(), EPERM) << name;
      lisafs::ConnectReq cr;
      cr.fd = id;
      cr.sock_type = SOCK_STREAM;
      if (std::string(name) == "socket") {
        EXPECT_EQ(c.Call(MID::kConnect, cr)->err(), EPERM);
      }
    }
    lisafs::BindAtReq b;
    b.common.dir_fd = 1;
    b.common.mode = 0600;
    b.sock_type = SOCK_STREAM;
    b.name = "s";
    EXPECT_EQ(c.Call(MID::kBindAt, b)->err(), EPERM);
    EXPECT_FALSE(::gvisor::testing::GoferTest::HostExists((*f)->root() + "/s"));

    // Character devices: denied by kDeny.
    absl::StatusOr<std::pair<unet::Socket, unet::Socket>> dpair =
        unet::Socket::SocketPair(SOCK_STREAM);
    ASSERT_TRUE(dpair.ok());
    ASSERT_TRUE((*f)->server()
                    .StartConnection(std::move(dpair->second),
                                     (*f)->devices_dir(),
                                     std::make_unique<Connection>(strict),
                                     {.readonly = true})
                    .ok());
    RawClient d(dpair->first.Release());
    ASSERT_EQ(d.CallBytes(1, {})->mid, 1);
    lisafs::WalkReq w;
    w.dir_fd = 1;
    w.path = {"zero"};
    FDID zero =
        d.Call(MID::kWalk, w)->As<lisafs::WalkResp>()->inodes.at(0).control_fd;
    lisafs::OpenAtReq o;
    o.fd = zero;
    EXPECT_EQ(d.Call(MID::kOpenAt, o)->err(), EPERM);
  }
  EXPECT_EQ(::gvisor::testing::OpenFdCount(), before);
}

TEST(CharDevicePolicyTest, Parses) {
  EXPECT_EQ(*ParseCharDevicePolicy("deny"), CharDevicePolicy::kDeny);
  EXPECT_EQ(*ParseCharDevicePolicy("passthrough"),
            CharDevicePolicy::kPassthrough);
  EXPECT_FALSE(ParseCharDevicePolicy("emulated").ok());
}

// --- Devices through ConnectDevices -----------------------------------------

class DevicesTest : public FsgoferTest {
 protected:
  void SetUp() override {
    FsgoferTest::SetUp();
    absl::StatusOr<fd::OwnedFd> d = fixture_->ConnectDevices();
    ASSERT_TRUE(d.ok());
    dev_ = std::make_unique<RawClient>(*std::move(d));
    ASSERT_EQ(Mount(dev_.get()), 1u);
    std::cerr << "devices: " << fixture_->devices_note() << "\n";
  }
  void TearDown() override {
    dev_.reset();
    FsgoferTest::TearDown();
  }
  // OpenDevice walks to name and opens it; returns the donated FD.
  fd::OwnedFd OpenDevice(const std::string& name, uint32_t flags) {
    lisafs::WalkReq w;
    w.dir_fd = 1;
    w.path = {name};
    absl::StatusOr<Reply> r = dev_->Call(MID::kWalk, w);
    EXPECT_TRUE(r.ok());
    lisafs::WalkResp wr = *r->As<lisafs::WalkResp>();
    EXPECT_EQ(wr.inodes.size(), 1u);
    if (wr.inodes.empty()) return {};
    EXPECT_TRUE(S_ISCHR(wr.inodes[0].stat.mode));
    lisafs::OpenAtReq o;
    o.fd = wr.inodes[0].control_fd;
    o.flags = flags;
    r = dev_->Call(MID::kOpenAt, o);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->mid, 7) << "errno " << r->err();
    EXPECT_EQ(r->fds.size(), 1u);
    return r->fds.empty() ? fd::OwnedFd() : std::move(r->fds[0]);
  }
  std::unique_ptr<RawClient> dev_;
};

TEST_F(DevicesTest, ZeroDeviceReadsZeros) {
  fd::OwnedFd z = OpenDevice("zero", O_RDONLY);
  ASSERT_TRUE(z.valid());
  EXPECT_EQ(FdFlags(z.get()) & O_ACCMODE, O_RDONLY);
  // Opened blocking, as drivers expect; the donated FD keeps it.
  EXPECT_EQ(FdFlags(z.get()) & O_NONBLOCK, 0);
  char buf[64];
  memset(buf, 'x', sizeof(buf));
  ASSERT_EQ(read(z.get(), buf, sizeof(buf)), 64);
  EXPECT_EQ(std::count(buf, buf + 64, '\0'), 64);
}

TEST_F(DevicesTest, ReadRpcOnADeviceLeavesItsDonatedFdBlocking) {
  lisafs::WalkReq w;
  w.dir_fd = 1;
  w.path = {"zero"};
  absl::StatusOr<Reply> r = dev_->Call(MID::kWalk, w);
  ASSERT_TRUE(r.ok());
  lisafs::OpenAtReq o;
  o.fd = r->As<lisafs::WalkResp>()->inodes.at(0).control_fd;
  o.flags = O_RDONLY;
  r = dev_->Call(MID::kOpenAt, o);
  ASSERT_EQ(r->mid, 7) << r->err();
  ASSERT_EQ(r->fds.size(), 1u);
  fd::OwnedFd donated = std::move(r->fds[0]);
  // Read RPCs go through a non-blocking twin of the server's FD, so that
  // no handler waits on a device; the donated FD is left as it was opened.
  lisafs::PReadReq pr;
  pr.fd = r->As<lisafs::OpenAtResp>()->open_fd;
  pr.count = 16;
  for (int i = 0; i < 2; ++i) {
    r = dev_->Call(MID::kPRead, pr);
    ASSERT_EQ(r->mid, 12) << r->err();
    EXPECT_EQ(r->As<lisafs::PReadResp>()->data, std::string(16, '\0'));
  }
  EXPECT_EQ(FdFlags(donated.get()) & O_NONBLOCK, 0);
  EXPECT_EQ(FdFlags(donated.get()) & O_ACCMODE, O_RDONLY);
}

TEST_F(DevicesTest, NullDeviceTakesWrites) {
  if (!fixture_->writable_devices()) {
    GTEST_SKIP() << "the host's /dev is served read-only: "
                 << fixture_->devices_note();
  }
  fd::OwnedFd n = OpenDevice("null", O_WRONLY);
  ASSERT_TRUE(n.valid());
  EXPECT_EQ(FdFlags(n.get()) & O_ACCMODE, O_WRONLY);
  EXPECT_EQ(FdFlags(n.get()) & O_NONBLOCK, 0);
  EXPECT_EQ(write(n.get(), "discard me", 10), 10);
}

TEST_F(DevicesTest, NullDeviceReadsEOF) {
  fd::OwnedFd n = OpenDevice("null", O_RDONLY);
  ASSERT_TRUE(n.valid());
  char c;
  EXPECT_EQ(read(n.get(), &c, 1), 0);
}

// --- Sockets: BindAt (29), Listen (30), Accept (31), Connect (21, 32) --------

TEST_F(FsgoferTest, ConnectDonatesAConnectedSocket) {
  lisafs::ConnectReq req;
  req.fd = WalkTo({"socket"});
  req.sock_type = SOCK_STREAM;
  Reply r = Call(MID::kConnect, req);
  ASSERT_EQ(r.mid, 21) << r.err();
  EXPECT_TRUE(r.payload.empty());
  ASSERT_EQ(r.fds.size(), 1u);
  EXPECT_NE(FdFlags(r.fds[0].get()) & O_NONBLOCK, 0);
  fd::OwnedFd peer(
      accept4(fixture_->socket_listener(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(peer.valid());
  ASSERT_EQ(write(peer.get(), "ping", 4), 4);
  struct pollfd p = {r.fds[0].get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, -1), 1);
  char buf[4];
  EXPECT_EQ(read(r.fds[0].get(), buf, 4), 4);
}

TEST_F(FsgoferTest, ConnectRefusals) {
  lisafs::ConnectReq req;
  req.fd = WalkTo({"file"});
  req.sock_type = SOCK_STREAM;
  EXPECT_EQ(Errno(MID::kConnect, req), ENOTSOCK);
  req.fd = WalkTo({"socket"});
  req.sock_type = 0;
  EXPECT_EQ(Errno(MID::kConnect, req), ENXIO);
  req.sock_type = SOCK_DGRAM;
  EXPECT_EQ(Errno(MID::kConnect, req), EPROTOTYPE);
}

TEST_F(FsgoferTest, ConnectWithCredsConnectsAsTheCaller) {
  lisafs::ConnectWithCredsReq req;
  req.fd = WalkTo({"socket"});
  req.sock_type = SOCK_STREAM;
  req.uid = geteuid();
  req.gid = getegid();
  Reply r = Call(MID::kConnectWithCreds, req);
  ASSERT_EQ(r.mid, 32) << r.err();
  ASSERT_EQ(r.fds.size(), 1u);
  fd::OwnedFd peer(
      accept4(fixture_->socket_listener(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(peer.valid());
  if (IsRoot()) {
    // The peer credentials are those the server switched to.
    req.uid = 1111;
    req.gid = 2222;
    r = Call(MID::kConnectWithCreds, req);
    ASSERT_EQ(r.mid, 32) << r.err();
    fd::OwnedFd p2(
        accept4(fixture_->socket_listener(), nullptr, nullptr, SOCK_CLOEXEC));
    struct ucred cred;
    socklen_t len = sizeof(cred);
    ASSERT_EQ(getsockopt(p2.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len), 0);
    EXPECT_EQ(cred.uid, 1111u);
    EXPECT_EQ(cred.gid, 2222u);
    // ...and the server thread is back to its own.
    EXPECT_EQ(
        Errno(MID::kMkdirAt, lisafs::MkdirAtReq{{root_, lisafs::kNoUID,
                                                 lisafs::kNoGID, 0700, 0, 0},
                                                "after"}),
        0);
    struct stat st;
    ASSERT_EQ(stat(HostPath("after").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
  }
}

TEST_F(FsgoferTest, BindListenAcceptServeAHostSocket) {
  lisafs::BindAtReq b;
  b.common.dir_fd = root_;
  b.common.mode = 0600;
  b.sock_type = SOCK_STREAM;
  b.name = "srv";
  Reply r = Call(MID::kBindAt, b);
  ASSERT_EQ(r.mid, 29) << r.err();
  lisafs::BindAtResp br = *r.As<lisafs::BindAtResp>();
  EXPECT_EQ(br.bound_socket_fd, br.child.control_fd + 1);
  EXPECT_TRUE(S_ISSOCK(br.child.stat.mode));
  ASSERT_EQ(r.fds.size(), 1u);
  EXPECT_NE(FdFlags(r.fds[0].get()) & O_NONBLOCK, 0);
  struct stat st;
  ASSERT_EQ(lstat(HostPath("srv").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));

  lisafs::AcceptReq a;
  a.fd = br.bound_socket_fd;
  lisafs::ListenReq l;
  l.fd = br.bound_socket_fd;
  l.backlog = 4;
  ASSERT_EQ(Errno(MID::kListen, l), 0);
  EXPECT_EQ(Errno(MID::kAccept, a), EAGAIN) << "Accept must not block";

  absl::StatusOr<unet::Socket> cl =
      unet::Socket::Connect(HostPath("srv"), SOCK_STREAM);
  ASSERT_TRUE(cl.ok()) << cl.status();
  r = Call(MID::kAccept, a);
  ASSERT_EQ(r.mid, 31) << r.err();
  EXPECT_EQ(r.payload, (std::vector<uint8_t>{0, 0})) << "empty peer address";
  ASSERT_EQ(r.fds.size(), 1u);
  EXPECT_NE(FdFlags(r.fds[0].get()) & O_NONBLOCK, 0);
  ASSERT_EQ(write(cl->fd(), "hi", 2), 2);
  struct pollfd pf = {r.fds[0].get(), POLLIN, 0};
  ASSERT_EQ(poll(&pf, 1, -1), 1);
  char buf[2];
  EXPECT_EQ(read(r.fds[0].get(), buf, 2), 2);

  // Listen and Accept want a bound-socket FD.
  l.fd = br.child.control_fd;
  EXPECT_EQ(Errno(MID::kListen, l), EINVAL);
  // FStat of a bound-socket FD answers as gVisor's server does.
  lisafs::StatReq s;
  s.fd = br.bound_socket_fd;
  EXPECT_EQ(Errno(MID::kFStat, s), EREMOTEIO);
}

TEST_F(FsgoferTest, BindAtRefusalsLeaveNothingBehind) {
  lisafs::BindAtReq b;
  b.common.dir_fd = root_;
  b.common.mode = 0600;
  b.sock_type = 0;
  b.name = "s";
  EXPECT_EQ(Errno(MID::kBindAt, b), ENXIO);
  EXPECT_FALSE(HostExists(HostPath("s")));
  b.sock_type = SOCK_STREAM;
  b.name = "file";
  EXPECT_EQ(Errno(MID::kBindAt, b), EADDRINUSE);
  EXPECT_EQ(HostRead(HostPath("file")), "hello\n");
  b.name = std::string(120, 'n');
  EXPECT_EQ(Errno(MID::kBindAt, b), EINVAL) << "the tree path is too long";
}

}  // namespace
}  // namespace gvisor::fsgofer
