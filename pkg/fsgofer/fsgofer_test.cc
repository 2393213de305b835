// The fsgofer backend through lisafs::Server, one or more tests per MID,
// with a raw client over a real socket pair (testing/gofer_test_base.h).

#include "pkg/fsgofer/fsgofer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pkg/lisafs/messages.h"
#include "pkg/unet/unet.h"
#include "testing/gofer_test_base.h"

namespace gvisor::fsgofer {
namespace {

using ::gvisor::testing::Bytes;
using ::gvisor::testing::GoferOptions;
using ::gvisor::testing::RawClient;
using ::gvisor::testing::Reply;
using lisafs::FDID;
using lisafs::MID;
using lisafs::WalkStatus;

class FsgoferTest : public ::gvisor::testing::GoferTest {
 protected:
  // SetStat sends req; *err is the reply's errno.
  lisafs::SetStatResp SetStat(const lisafs::SetStatReq& req, int* err) {
    Reply r = Call(MID::kSetStat, req);
    *err = r.err();
    if (r.mid != 4) return {};
    return *r.As<lisafs::SetStatResp>();
  }
};

// IsRoot reports whether the process is root in the initial user namespace
// (in a user namespace, as in some sandboxes, chown to arbitrary IDs fails).
bool IsRoot() {
  if (geteuid() != 0) return false;
  std::string map = ::gvisor::testing::GoferTest::HostRead("/proc/self/uid_map");
  return map.find("4294967295") != std::string::npos;
}

int FdFlags(int fd) { return fcntl(fd, F_GETFL); }

// --- Mount (1) --------------------------------------------------------------

TEST_F(FsgoferTest, MountAdvertisesFsgoferMessagesAndSize) {
  absl::StatusOr<Reply> r = client_->CallBytes(1, {});
  ASSERT_TRUE(r.ok());
  absl::StatusOr<lisafs::MountResp> m = r->As<lisafs::MountResp>();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->root.control_fd, 2u);  // SetUp's Mount made FDID 1
  EXPECT_EQ(m->max_message_size, 2093056u);
  std::vector<MID> want;
  for (uint16_t i = 1; i <= 33; ++i) {
    if (i != 20) want.push_back(static_cast<MID>(i));
  }
  EXPECT_EQ(m->supported_mids, want);
  struct stat st;
  ASSERT_EQ(stat(fixture_->root().c_str(), &st), 0);
  EXPECT_EQ(m->root.stat.ino, st.st_ino);
  EXPECT_EQ(m->root.stat.mode, st.st_mode);
  EXPECT_TRUE(r->fds.empty());
}

class DonatingTest : public FsgoferTest {
  GoferOptions Options() const override { return {.donate_mount_fd = true}; }
};

TEST_F(DonatingTest, MountDonatesANonBlockingFdOnTheMountPoint) {
  absl::StatusOr<Reply> r = client_->CallBytes(1, {});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->fds.size(), 1u);
  int f = r->fds[0].get();
  EXPECT_NE(FdFlags(f) & O_NONBLOCK, 0);
  struct stat got, want;
  ASSERT_EQ(fstat(f, &got), 0);
  ASSERT_EQ(stat(fixture_->root().c_str(), &want), 0);
  EXPECT_EQ(got.st_ino, want.st_ino);
  // The directory FD works directfs-style.
  EXPECT_EQ(faccessat(f, "file", R_OK, 0), 0);
}

TEST_F(DonatingTest, OpenAtOfTheMountPointDonatesToo) {
  fd::OwnedFd donated;
  FDID o = Open(root_, O_RDONLY, &donated);
  ASSERT_NE(o, 0u);
  ASSERT_TRUE(donated.valid());
  EXPECT_NE(FdFlags(donated.get()) & O_NONBLOCK, 0);
  // A subdirectory is not donated.
  fd::OwnedFd none;
  ASSERT_NE(Open(WalkTo({"dir"}), O_RDONLY, &none), 0u);
  EXPECT_FALSE(none.valid());
}

TEST_F(FsgoferTest, OpenAtOfTheMountPointDoesNotDonateByDefault) {
  fd::OwnedFd donated;
  ASSERT_NE(Open(root_, O_RDONLY, &donated), 0u);
  EXPECT_FALSE(donated.valid());
}

// --- FStat (3) --------------------------------------------------------------

TEST_F(FsgoferTest, FStatMatchesTheHost) {
  FDID f = WalkTo({"dir", "file2"});
  lisafs::Statx st = FStat(f);
  struct stat want;
  ASSERT_EQ(lstat(HostPath("dir/file2").c_str(), &want), 0);
  EXPECT_EQ(st.ino, want.st_ino);
  EXPECT_EQ(st.size, 7u);
  EXPECT_EQ(st.mode, want.st_mode);
  EXPECT_EQ(st.nlink, want.st_nlink);
  EXPECT_EQ(st.dev_major, major(want.st_dev));
  EXPECT_EQ(st.dev_minor, minor(want.st_dev));
  // An open FD stats the same file.
  FDID o = Open(f, O_RDONLY);
  EXPECT_EQ(FStat(o).ino, want.st_ino);
}

// --- SetStat (4) ------------------------------------------------------------

TEST_F(FsgoferTest, SetStatChangesModeSizeAndTimes) {
  FDID f = WalkTo({"file"});
  lisafs::SetStatReq req;
  req.fd = f;
  req.mask = 0x2 | 0x200 | 0x20 | 0x40;
  req.mode = S_IFDIR | 0600;  // type bits are ignored
  req.size = 2;
  req.atime = {1000, 5};
  req.mtime = {2000, 7};
  int err;
  lisafs::SetStatResp resp = SetStat(req, &err);
  ASSERT_EQ(err, 0);
  EXPECT_EQ(resp.failure_mask, 0u);
  EXPECT_EQ(resp.failure_errno, 0u);
  struct stat st;
  ASSERT_EQ(stat(HostPath("file").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFREG | 0600);
  EXPECT_EQ(st.st_size, 2);
  EXPECT_EQ(st.st_atim.tv_sec, 1000);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 7);
}

TEST_F(FsgoferTest, SetStatOfOnlyMtimeLeavesAtime) {
  struct stat before;
  ASSERT_EQ(stat(HostPath("file").c_str(), &before), 0);
  lisafs::SetStatReq req;
  req.fd = WalkTo({"file"});
  req.mask = 0x40;
  req.mtime = {3000, 0};
  int err;
  EXPECT_EQ(SetStat(req, &err).failure_mask, 0u);
  struct stat after;
  ASSERT_EQ(stat(HostPath("file").c_str(), &after), 0);
  EXPECT_EQ(after.st_mtim.tv_sec, 3000);
  EXPECT_EQ(after.st_atim.tv_sec, before.st_atim.tv_sec);
}

TEST_F(FsgoferTest, SetStatWithUnsupportedMaskBitsIsEPERM) {
  lisafs::SetStatReq req;
  req.fd = WalkTo({"file"});
  req.mask = 0x2 | 0x1;  // STATX_TYPE
  req.mode = 0600;
  EXPECT_EQ(Errno(MID::kSetStat, req), EPERM);
  struct stat st;
  ASSERT_EQ(stat(HostPath("file").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u) << "nothing may change on error";
}

TEST_F(FsgoferTest, SetStatModeOfASymlinkFailsInTheMask) {
  lisafs::SetStatReq req;
  req.fd = WalkTo({"symlink"});
  req.mask = 0x2 | 0x40;
  req.mode = 0600;
  req.mtime = {4000, 0};
  int err;
  lisafs::SetStatResp resp = SetStat(req, &err);
  ASSERT_EQ(err, 0);
  EXPECT_EQ(resp.failure_mask, 0x2u);
  EXPECT_EQ(resp.failure_errno, static_cast<uint32_t>(EOPNOTSUPP));
  // The times of the link itself were set, not those of its target.
  struct stat st;
  ASSERT_EQ(lstat(HostPath("symlink").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 4000);
  ASSERT_EQ(stat(HostPath("file").c_str(), &st), 0);
  EXPECT_NE(st.st_mtim.tv_sec, 4000);
}

TEST_F(FsgoferTest, SetStatOwner) {
  if (!IsRoot()) GTEST_SKIP() << "chown needs root";
  lisafs::SetStatReq req;
  req.fd = WalkTo({"file"});
  req.mask = 0x8 | 0x10;
  req.uid = 1234;
  req.gid = 5678;
  int err;
  EXPECT_EQ(SetStat(req, &err).failure_mask, 0u);
  struct stat st;
  ASSERT_EQ(stat(HostPath("file").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
}

TEST_F(FsgoferTest, SetStatSizeOfADirectoryFailsInTheMask) {
  lisafs::SetStatReq req;
  req.fd = WalkTo({"dir"});
  req.mask = 0x200;
  req.size = 0;
  int err;
  lisafs::SetStatResp resp = SetStat(req, &err);
  ASSERT_EQ(err, 0);
  EXPECT_EQ(resp.failure_mask, 0x200u);
  EXPECT_EQ(resp.failure_errno, static_cast<uint32_t>(EISDIR));
}

// --- Walk (5) and WalkStat (6) ----------------------------------------------

TEST_F(FsgoferTest, WalkReturnsOneInodePerComponent) {
  lisafs::WalkResp w = Walk(root_, {"dir", "nested", "deep"});
  EXPECT_EQ(w.status, WalkStatus::kSuccess);
  ASSERT_EQ(w.inodes.size(), 3u);
  EXPECT_TRUE(S_ISDIR(w.inodes[0].stat.mode));
  EXPECT_TRUE(S_ISDIR(w.inodes[1].stat.mode));
  EXPECT_TRUE(S_ISREG(w.inodes[2].stat.mode));
  EXPECT_EQ(w.inodes[2].stat.size, 5u);
  EXPECT_EQ(w.inodes[0].control_fd + 1, w.inodes[1].control_fd);
  EXPECT_EQ(w.inodes[1].control_fd + 1, w.inodes[2].control_fd);
}

TEST_F(FsgoferTest, WalkStopsAtAMissingComponent) {
  lisafs::WalkResp w = Walk(root_, {"dir", "missing", "x"});
  EXPECT_EQ(w.status, WalkStatus::kComponentDoesNotExist);
  EXPECT_EQ(w.inodes.size(), 1u);
  w = Walk(root_, {"missing"});
  EXPECT_EQ(w.status, WalkStatus::kComponentDoesNotExist);
  EXPECT_TRUE(w.inodes.empty());
}

TEST_F(FsgoferTest, WalkOfFileThenComponentIsENOTDIR) {
  lisafs::WalkReq req;
  req.dir_fd = root_;
  req.path = {"file", "x"};
  EXPECT_EQ(Errno(MID::kWalk, req), ENOTDIR);
}

TEST_F(FsgoferTest, WalkOfAnEmptyPathSucceedsWithNothing) {
  lisafs::WalkResp w = Walk(root_, {});
  EXPECT_EQ(w.status, WalkStatus::kSuccess);
  EXPECT_TRUE(w.inodes.empty());
}

TEST_F(FsgoferTest, WalkStatStatsEachComponent) {
  lisafs::WalkReq req;
  req.dir_fd = root_;
  req.path = {"", "dir", "nested", "deep"};
  Reply r = Call(MID::kWalkStat, req);
  ASSERT_EQ(r.mid, 6) << r.err();
  lisafs::WalkStatResp w = *r.As<lisafs::WalkStatResp>();
  ASSERT_EQ(w.stats.size(), 4u);
  EXPECT_TRUE(S_ISDIR(w.stats[0].mode));
  EXPECT_TRUE(S_ISREG(w.stats[3].mode));
  struct stat st;
  ASSERT_EQ(stat(HostPath("dir/nested/deep").c_str(), &st), 0);
  EXPECT_EQ(w.stats[3].ino, st.st_ino);
}

TEST_F(FsgoferTest, WalkStatStopsQuietlyAtMissingAndAfterSymlink) {
  lisafs::WalkReq req;
  req.dir_fd = root_;
  req.path = {"dir", "missing", "x"};
  Reply r = Call(MID::kWalkStat, req);
  ASSERT_EQ(r.mid, 6);
  EXPECT_EQ(r.As<lisafs::WalkStatResp>()->stats.size(), 1u);
  req.path = {"escape_dir", "secret"};
  r = Call(MID::kWalkStat, req);
  ASSERT_EQ(r.mid, 6);
  lisafs::WalkStatResp w = *r.As<lisafs::WalkStatResp>();
  ASSERT_EQ(w.stats.size(), 1u);
  EXPECT_TRUE(S_ISLNK(w.stats[0].mode));
}

TEST_F(FsgoferTest, WalkStatFromAFile) {
  FDID f = WalkTo({"file"});
  lisafs::WalkReq req;
  req.dir_fd = f;
  req.path = {""};
  Reply r = Call(MID::kWalkStat, req);
  ASSERT_EQ(r.mid, 6);
  EXPECT_EQ(r.As<lisafs::WalkStatResp>()->stats.size(), 1u);
  req.path = {"x"};
  EXPECT_EQ(Errno(MID::kWalkStat, req), ENOTDIR);
  req.path = {"", ""};
  EXPECT_EQ(Errno(MID::kWalkStat, req), ENOTDIR);
  FDID d = WalkTo({"dir"});
  req.dir_fd = d;
  req.path = {"", ""};
  EXPECT_EQ(Errno(MID::kWalkStat, req), EINVAL);
}

// --- OpenAt (7) -------------------------------------------------------------

TEST_F(FsgoferTest, OpenAtOfARegularFileDonatesANonBlockingFd) {
  fd::OwnedFd donated;
  FDID o = Open(WalkTo({"file"}), O_RDONLY, &donated);
  ASSERT_NE(o, 0u);
  ASSERT_TRUE(donated.valid());
  int fl = FdFlags(donated.get());
  EXPECT_EQ(fl & O_ACCMODE, O_RDONLY);
  EXPECT_NE(fl & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(donated.get(), F_GETFD) & FD_CLOEXEC, 0);
  char buf[16] = {};
  EXPECT_EQ(pread(donated.get(), buf, sizeof(buf), 0), 6);
  EXPECT_STREQ(buf, "hello\n");
}

TEST_F(FsgoferTest, OpenAtDropsFlagsOtherThanAccessModeAndTrunc) {
  fd::OwnedFd donated;
  FDID o = Open(WalkTo({"file"}), O_RDWR | O_APPEND | O_TRUNC | O_CREAT,
                &donated);
  ASSERT_NE(o, 0u);
  EXPECT_EQ(FdFlags(donated.get()) & O_APPEND, 0);
  EXPECT_EQ(FdFlags(donated.get()) & O_ACCMODE, O_RDWR);
  EXPECT_EQ(HostRead(HostPath("file")), "") << "O_TRUNC applies";
}

TEST_F(FsgoferTest, OpenAtOfADirectoryDonatesNothing) {
  fd::OwnedFd donated;
  ASSERT_NE(Open(WalkTo({"dir"}), O_RDONLY, &donated), 0u);
  EXPECT_FALSE(donated.valid());
}

TEST_F(FsgoferTest, OpenAtRefusals) {
  lisafs::OpenAtReq req;
  req.fd = WalkTo({"dir"});
  req.flags = O_WRONLY;
  EXPECT_EQ(Errno(MID::kOpenAt, req), EISDIR);
  req.flags = O_RDONLY | O_TRUNC;
  EXPECT_EQ(Errno(MID::kOpenAt, req), EISDIR);
  req.fd = WalkTo({"symlink"});
  req.flags = O_RDONLY;
  EXPECT_EQ(Errno(MID::kOpenAt, req), EINVAL);
}

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
    FDID zero = d.Call(MID::kWalk, w)->As<lisafs::WalkResp>()->inodes.at(0)
                    .control_fd;
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
  EXPECT_NE(FdFlags(z.get()) & O_NONBLOCK, 0);
  char buf[64];
  memset(buf, 'x', sizeof(buf));
  ASSERT_EQ(read(z.get(), buf, sizeof(buf)), 64);
  EXPECT_EQ(std::count(buf, buf + 64, '\0'), 64);
}

TEST_F(DevicesTest, NullDeviceTakesWrites) {
  if (!fixture_->real_device_nodes()) {
    GTEST_SKIP() << "the host's /dev is served read-only: "
                 << fixture_->devices_note();
  }
  fd::OwnedFd n = OpenDevice("null", O_WRONLY);
  ASSERT_TRUE(n.valid());
  EXPECT_EQ(FdFlags(n.get()) & O_ACCMODE, O_WRONLY);
  EXPECT_NE(FdFlags(n.get()) & O_NONBLOCK, 0);
  EXPECT_EQ(write(n.get(), "discard me", 10), 10);
}

TEST_F(DevicesTest, NullDeviceReadsEOF) {
  fd::OwnedFd n = OpenDevice("null", O_RDONLY);
  ASSERT_TRUE(n.valid());
  char c;
  EXPECT_EQ(read(n.get(), &c, 1), 0);
}

// --- OpenCreateAt (8) -------------------------------------------------------

TEST_F(FsgoferTest, OpenCreateAtCreatesOpensAndDonates) {
  lisafs::OpenCreateAtReq req;
  req.common.dir_fd = WalkTo({"dir"});
  req.common.mode = 0640;
  req.flags = O_RDWR;
  req.name = "new";
  Reply r = Call(MID::kOpenCreateAt, req);
  ASSERT_EQ(r.mid, 8) << r.err();
  lisafs::OpenCreateAtResp resp = *r.As<lisafs::OpenCreateAtResp>();
  EXPECT_EQ(resp.new_fd, resp.child.control_fd + 1);
  EXPECT_EQ(resp.child.stat.mode, S_IFREG | 0640);
  ASSERT_EQ(r.fds.size(), 1u);
  EXPECT_EQ(FdFlags(r.fds[0].get()) & O_ACCMODE, O_RDWR);
  EXPECT_NE(FdFlags(r.fds[0].get()) & O_NONBLOCK, 0);
  ASSERT_EQ(write(r.fds[0].get(), "via fd", 6), 6);
  EXPECT_EQ(HostRead(HostPath("dir/new")), "via fd");
  struct stat st;
  ASSERT_EQ(stat(HostPath("dir/new").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(FsgoferTest, OpenCreateAtSetsOwner) {
  if (!IsRoot()) GTEST_SKIP() << "chown needs root";
  lisafs::OpenCreateAtReq req;
  req.common.dir_fd = root_;
  req.common.mode = 0600;
  req.common.uid = 4321;
  req.common.gid = 8765;
  req.name = "owned";
  ASSERT_EQ(Errno(MID::kOpenCreateAt, req), 0);
  struct stat st;
  ASSERT_EQ(stat(HostPath("owned").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4321u);
  EXPECT_EQ(st.st_gid, 8765u);
}

TEST_F(FsgoferTest, EveryCreateSetsTheRequestedOwner) {
  if (!IsRoot()) GTEST_SKIP() << "chown needs root";
  lisafs::CreateCommon common{root_, 1001, 2002, 0700, 0, 0};
  lisafs::MkdirAtReq mk{common, "o_dir"};
  ASSERT_EQ(Errno(MID::kMkdirAt, mk), 0);
  common.mode = S_IFREG | 0600;
  lisafs::MknodAtReq mn;
  mn.common = common;
  mn.name = "o_reg";
  ASSERT_EQ(Errno(MID::kMknodAt, mn), 0);
  lisafs::SymlinkAtReq sl;
  sl.dir_fd = root_;
  sl.uid = 1001;
  sl.gid = 2002;
  sl.name = "o_link";
  sl.target = "file";
  ASSERT_EQ(Errno(MID::kSymlinkAt, sl), 0);
  lisafs::BindAtReq b;
  b.common = common;
  b.common.mode = 0600;
  b.sock_type = SOCK_STREAM;
  b.name = "o_sock";
  ASSERT_EQ(Errno(MID::kBindAt, b), 0);
  for (const char* name : {"o_dir", "o_reg", "o_link", "o_sock"}) {
    struct stat st;
    ASSERT_EQ(lstat(HostPath(name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_uid, 1001u) << name;
    EXPECT_EQ(st.st_gid, 2002u) << name;
  }
  // No owner given: the server's own.
  lisafs::MkdirAtReq mine{{root_, lisafs::kNoUID, lisafs::kNoGID, 0700, 0, 0},
                          "mine"};
  ASSERT_EQ(Errno(MID::kMkdirAt, mine), 0);
  struct stat st;
  ASSERT_EQ(stat(HostPath("mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, geteuid());
}

TEST_F(FsgoferTest, OpenCreateAtOfAnExistingNameIsEEXISTAndChangesNothing) {
  lisafs::OpenCreateAtReq req;
  req.common.dir_fd = root_;
  req.common.mode = 0600;
  req.flags = O_RDWR | O_TRUNC;
  req.name = "file";
  EXPECT_EQ(Errno(MID::kOpenCreateAt, req), EEXIST);
  EXPECT_EQ(HostRead(HostPath("file")), "hello\n");
  req.common.dir_fd = WalkTo({"file"});
  req.name = "x";
  EXPECT_EQ(Errno(MID::kOpenCreateAt, req), ENOTDIR);
}

// --- Close (9) --------------------------------------------------------------

TEST_F(FsgoferTest, CloseForgetsIdsAndIgnoresUnknownOnes) {
  FDID f = WalkTo({"file"});
  lisafs::CloseReq req;
  req.fds = {f, 9999, 0};
  Reply r = Call(MID::kClose, req);
  EXPECT_EQ(r.mid, 9);
  EXPECT_TRUE(r.payload.empty());
  lisafs::StatReq st;
  st.fd = f;
  EXPECT_EQ(Errno(MID::kFStat, st), EBADF);
}

TEST_F(FsgoferTest, ControlFdOutlivesItsCloseWhileAnOpenFdUsesIt) {
  FDID f = WalkTo({"file"});
  FDID o = Open(f, O_RDONLY);
  lisafs::CloseReq req;
  req.fds = {f};
  Call(MID::kClose, req);
  lisafs::PReadReq pr;
  pr.fd = o;
  pr.count = 100;
  Reply r = Call(MID::kPRead, pr);
  ASSERT_EQ(r.mid, 12);
  EXPECT_EQ(r.As<lisafs::PReadResp>()->data, "hello\n");
}

// --- FSync (10), PWrite (11), PRead (12), FAllocate (18) ---------------------

TEST_F(FsgoferTest, PWriteThenPReadThenFSync) {
  FDID o = Open(WalkTo({"file"}), O_RDWR);
  lisafs::PWriteReq w;
  w.fd = o;
  w.offset = 3;
  w.data = "XYZW";
  Reply r = Call(MID::kPWrite, w);
  ASSERT_EQ(r.mid, 11);
  EXPECT_EQ(r.As<lisafs::PWriteResp>()->count, 4u);
  EXPECT_EQ(HostRead(HostPath("file")), "helXYZW");
  lisafs::PReadReq pr;
  pr.fd = o;
  pr.offset = 2;
  pr.count = 3;
  r = Call(MID::kPRead, pr);
  ASSERT_EQ(r.mid, 12);
  // Exact bytes: u64 length 3, then "lXY".
  std::vector<uint8_t> want = {3, 0, 0, 0, 0, 0, 0, 0, 'l', 'X', 'Y'};
  EXPECT_EQ(r.payload, want);
  pr.offset = 100;
  r = Call(MID::kPRead, pr);
  EXPECT_EQ(r.As<lisafs::PReadResp>()->data, "");
  lisafs::FsyncReq s;
  s.fds = {o};
  EXPECT_EQ(Errno(MID::kFSync, s), 0);
}

TEST_F(FsgoferTest, AccessModeIsEnforced) {
  FDID f = WalkTo({"file"});
  FDID ro = Open(f, O_RDONLY);
  FDID wo = Open(f, O_WRONLY);
  lisafs::PWriteReq w;
  w.fd = ro;
  w.data = "x";
  EXPECT_EQ(Errno(MID::kPWrite, w), EBADF);
  lisafs::PReadReq pr;
  pr.fd = wo;
  pr.count = 1;
  EXPECT_EQ(Errno(MID::kPRead, pr), EBADF);
  lisafs::FAllocateReq a;
  a.fd = ro;
  a.length = 10;
  EXPECT_EQ(Errno(MID::kFAllocate, a), EBADF);
  EXPECT_EQ(HostRead(HostPath("file")), "hello\n");
}

TEST_F(FsgoferTest, PReadBeyondTheMessageLimitIsENOBUFS) {
  lisafs::PReadReq pr;
  pr.fd = Open(WalkTo({"file"}), O_RDONLY);
  pr.count = 2093056 - 8 + 1;
  EXPECT_EQ(Errno(MID::kPRead, pr), ENOBUFS);
  pr.count = 2093056 - 8;
  EXPECT_EQ(Errno(MID::kPRead, pr), 0);
}

TEST_F(FsgoferTest, FSyncReportsTheFirstError) {
  FDID f = WalkTo({"file"});
  FDID o = Open(f, O_RDONLY);
  lisafs::FsyncReq s;
  s.fds = {o, f, 12345};
  EXPECT_EQ(Errno(MID::kFSync, s), EINVAL);
  s.fds = {o, 12345, f};
  EXPECT_EQ(Errno(MID::kFSync, s), EBADF);
}

TEST_F(FsgoferTest, FAllocateGrowsTheFile) {
  lisafs::FAllocateReq a;
  a.fd = Open(WalkTo({"empty"}), O_WRONLY);
  a.offset = 0;
  a.length = 8192;
  ASSERT_EQ(Errno(MID::kFAllocate, a), 0);
  struct stat st;
  ASSERT_EQ(stat(HostPath("empty").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 8192);
}

// --- MkdirAt (13), MknodAt (14), SymlinkAt (15), LinkAt (16) -----------------

lisafs::Inode ReplyInode(const Reply& r) {
  absl::StatusOr<lisafs::Inode> i = r.As<lisafs::Inode>();
  return i.ok() ? *i : lisafs::Inode{};
}

TEST_F(FsgoferTest, MkdirAtCreatesADirectory) {
  lisafs::MkdirAtReq req;
  req.common.dir_fd = root_;
  req.common.mode = 0710;
  req.name = "newdir";
  Reply r = Call(MID::kMkdirAt, req);
  ASSERT_EQ(r.mid, 13) << r.err();
  lisafs::Inode i = ReplyInode(r);
  EXPECT_EQ(i.stat.mode, S_IFDIR | 0710);
  struct stat st;
  ASSERT_EQ(stat(HostPath("newdir").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, i.stat.ino);
  EXPECT_EQ(Errno(MID::kMkdirAt, req), EEXIST);
  // The new control FD is a directory one can create in.
  req.common.dir_fd = i.control_fd;
  req.name = "sub";
  EXPECT_EQ(Errno(MID::kMkdirAt, req), 0);
  EXPECT_TRUE(HostExists(HostPath("newdir/sub")));
}

TEST_F(FsgoferTest, MknodAtAllowsOnlyRegularFilesAndWhiteouts) {
  lisafs::MknodAtReq req;
  req.common.dir_fd = root_;
  req.common.mode = S_IFREG | 0600;
  req.name = "reg";
  Reply r = Call(MID::kMknodAt, req);
  ASSERT_EQ(r.mid, 14) << r.err();
  EXPECT_TRUE(S_ISREG(ReplyInode(r).stat.mode));
  req.name = "chr";
  req.common.mode = S_IFCHR | 0600;
  req.major = 1;
  req.minor = 3;
  EXPECT_EQ(Errno(MID::kMknodAt, req), EPERM);
  req.common.mode = S_IFIFO | 0600;
  req.major = req.minor = 0;
  EXPECT_EQ(Errno(MID::kMknodAt, req), EPERM);
  req.common.mode = S_IFBLK | 0600;
  EXPECT_EQ(Errno(MID::kMknodAt, req), EPERM);
  EXPECT_FALSE(HostExists(HostPath("chr")));
}

TEST_F(FsgoferTest, MknodAtOfAWhiteout) {
  lisafs::MknodAtReq req;
  req.common.dir_fd = root_;
  req.common.mode = S_IFCHR;
  req.name = "wh";
  int err = Errno(MID::kMknodAt, req);
  if (err == EPERM && !fixture_->real_device_nodes()) {
    GTEST_SKIP() << "mknod not permitted here";
  }
  ASSERT_EQ(err, 0);
  struct stat st;
  ASSERT_EQ(lstat(HostPath("wh").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
}

TEST_F(FsgoferTest, SymlinkAtCreatesALinkNotFollowed) {
  lisafs::SymlinkAtReq req;
  req.dir_fd = root_;
  req.name = "out";
  req.target = "/etc/passwd";
  Reply r = Call(MID::kSymlinkAt, req);
  ASSERT_EQ(r.mid, 15) << r.err();
  EXPECT_TRUE(S_ISLNK(ReplyInode(r).stat.mode));
  char buf[64] = {};
  ASSERT_EQ(readlink(HostPath("out").c_str(), buf, sizeof(buf)), 11);
  EXPECT_STREQ(buf, "/etc/passwd");
  req.name = "nul";
  req.target = std::string("a\0b", 3);
  EXPECT_EQ(Errno(MID::kSymlinkAt, req), EINVAL);
  EXPECT_FALSE(HostExists(HostPath("nul")));
}

TEST_F(FsgoferTest, LinkAtMakesAHardLink) {
  lisafs::LinkAtReq req;
  req.dir_fd = WalkTo({"dir"});
  req.target = WalkTo({"file"});
  req.name = "hard";
  Reply r = Call(MID::kLinkAt, req);
  ASSERT_EQ(r.mid, 16) << r.err();
  struct stat a, b;
  ASSERT_EQ(stat(HostPath("file").c_str(), &a), 0);
  ASSERT_EQ(stat(HostPath("dir/hard").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  req.target = WalkTo({"dir"});
  req.name = "dirlink";
  EXPECT_EQ(Errno(MID::kLinkAt, req), EPERM);
}

// --- FStatFS (17), ReadLinkAt (19), Flush (20) ------------------------------

TEST_F(FsgoferTest, FStatFSMatchesTheHost) {
  lisafs::FStatFSReq req;
  req.fd = root_;
  Reply r = Call(MID::kFStatFS, req);
  ASSERT_EQ(r.mid, 17);
  lisafs::StatFS s = *r.As<lisafs::StatFS>();
  struct statfs want;
  ASSERT_EQ(statfs(fixture_->root().c_str(), &want), 0);
  EXPECT_EQ(s.type, static_cast<uint64_t>(want.f_type));
  EXPECT_EQ(s.block_size, want.f_bsize);
  EXPECT_EQ(s.name_length, static_cast<uint64_t>(want.f_namelen));
  EXPECT_EQ(s.blocks, want.f_blocks);
}

TEST_F(FsgoferTest, ReadLinkAtReturnsTheTarget) {
  lisafs::ReadLinkAtReq req;
  req.fd = WalkTo({"dir", "up"});
  Reply r = Call(MID::kReadLinkAt, req);
  ASSERT_EQ(r.mid, 19);
  EXPECT_EQ(r.As<lisafs::ReadLinkAtResp>()->target, "../file");
  req.fd = WalkTo({"file"});
  EXPECT_EQ(Errno(MID::kReadLinkAt, req), EINVAL);
}

TEST_F(FsgoferTest, FlushIsNotServed) {
  lisafs::FlushReq f;
  f.fd = Open(WalkTo({"file"}), O_RDONLY);
  EXPECT_EQ(Errno(MID::kFlush, f), EOPNOTSUPP);
}

TEST_F(FsgoferTest, ChannelIsServed) {
  // The window sizes follow from the backend's message size: 2 MiB each.
  absl::StatusOr<Reply> r = client_->CallBytes(2, {});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->mid, 2) << r->err();
  absl::StatusOr<lisafs::ChannelResp> c = r->As<lisafs::ChannelResp>();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data_offset, 0u);
  EXPECT_EQ(c->data_length, 0x200000u);
  EXPECT_EQ(r->fds.size(), 2u);
}

// --- UnlinkAt (22), RenameAt (23), RenameAt2 (33) ---------------------------

TEST_F(FsgoferTest, UnlinkAtRemovesFilesAndDirectories) {
  lisafs::UnlinkAtReq req;
  req.dir_fd = root_;
  req.name = "file";
  EXPECT_EQ(Errno(MID::kUnlinkAt, req), 0);
  EXPECT_FALSE(HostExists(HostPath("file")));
  EXPECT_EQ(Errno(MID::kUnlinkAt, req), ENOENT);
  req.name = "dir";
  EXPECT_EQ(Errno(MID::kUnlinkAt, req), EISDIR);
  req.dir_fd = WalkTo({"dir"});
  req.name = "nested";
  req.flags = AT_REMOVEDIR;
  EXPECT_EQ(Errno(MID::kUnlinkAt, req), ENOTEMPTY);
  req.dir_fd = WalkTo({"dir", "nested"});
  req.name = "deep";
  req.flags = 0;
  EXPECT_EQ(Errno(MID::kUnlinkAt, req), 0);
  req.dir_fd = WalkTo({"dir"});
  req.name = "nested";
  req.flags = AT_REMOVEDIR;
  EXPECT_EQ(Errno(MID::kUnlinkAt, req), 0);
  EXPECT_FALSE(HostExists(HostPath("dir/nested")));
}

TEST_F(FsgoferTest, RenameAtMovesAndTheOldFdFollows) {
  FDID link = WalkTo({"dir", "up"});
  lisafs::RenameAtReq req;
  req.old_dir = WalkTo({"dir"});
  req.new_dir = root_;
  req.old_name = "up";
  req.new_name = "moved";
  ASSERT_EQ(Errno(MID::kRenameAt, req), 0);
  EXPECT_TRUE(HostExists(HostPath("moved")));
  EXPECT_FALSE(HostExists(HostPath("dir/up")));
  // The symlink's FD now lives at "moved": xattr and time calls through
  // its parent reach the right file.
  lisafs::SetStatReq s;
  s.fd = link;
  s.mask = 0x40;
  s.mtime = {5555, 0};
  Reply r = Call(MID::kSetStat, s);
  ASSERT_EQ(r.mid, 4);
  EXPECT_EQ(r.As<lisafs::SetStatResp>()->failure_mask, 0u);
  struct stat st;
  ASSERT_EQ(lstat(HostPath("moved").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 5555);
}

TEST_F(FsgoferTest, RenameOntoAnOpenFileMarksItDeleted) {
  FDID victim = WalkTo({"empty"});
  lisafs::RenameAtReq req;
  req.old_dir = root_;
  req.new_dir = root_;
  req.old_name = "file";
  req.new_name = "empty";
  ASSERT_EQ(Errno(MID::kRenameAt, req), 0);
  EXPECT_EQ(HostRead(HostPath("empty")), "hello\n");
  // The replaced file's FD still stats, but path operations are refused.
  FStat(victim);
  lisafs::FGetXattrReq g;
  g.fd = victim;
  g.name = "user.x";
  EXPECT_EQ(Errno(MID::kFGetXattr, g), EINVAL);
  // The name now walks to the new file.
  EXPECT_EQ(FStat(WalkTo({"empty"})).size, 6u);
}

TEST_F(FsgoferTest, RenameToItselfIsANoOp) {
  lisafs::RenameAtReq req;
  req.old_dir = root_;
  req.new_dir = root_;
  req.old_name = "missing";
  req.new_name = "missing";
  EXPECT_EQ(Errno(MID::kRenameAt, req), 0);
}

TEST_F(FsgoferTest, RenameAt2Flags) {
  lisafs::RenameAt2Req req;
  req.old_dir = root_;
  req.new_dir = root_;
  req.old_name = "file";
  req.new_name = "empty";
  req.flags = RENAME_NOREPLACE;
  EXPECT_EQ(Errno(MID::kRenameAt2, req), EEXIST);
  FDID f = WalkTo({"file"});
  req.flags = RENAME_EXCHANGE;
  ASSERT_EQ(Errno(MID::kRenameAt2, req), 0);
  EXPECT_EQ(HostRead(HostPath("empty")), "hello\n");
  EXPECT_EQ(HostRead(HostPath("file")), "");
  // Exchanged nodes are moved, not deleted: the old FD still works by name.
  lisafs::FSetXattrReq x;
  x.fd = f;
  x.name = "user.moved";
  x.value = "1";
  ASSERT_EQ(Errno(MID::kFSetXattr, x), 0);
  char v[4];
  EXPECT_EQ(getxattr(HostPath("empty").c_str(), "user.moved", v, sizeof(v)), 1);
}

// --- Getdents64 (24) --------------------------------------------------------

std::set<std::string> Names(const lisafs::Getdents64Resp& r) {
  std::set<std::string> out;
  for (const auto& d : r.dirents) out.insert(d.name);
  return out;
}

TEST_F(FsgoferTest, Getdents64ListsWithoutDotsAndSeeks) {
  FDID o = Open(root_, O_RDONLY);
  lisafs::Getdents64Req req;
  req.dir_fd = o;
  req.count = 65536;
  Reply r = Call(MID::kGetdents64, req);
  ASSERT_EQ(r.mid, 24) << r.err();
  std::set<std::string> want = {"file",   "empty", "dir",    "symlink",
                                "escape", "escape_dir", "fifo", "socket",
                                "dev"};
  EXPECT_EQ(Names(*r.As<lisafs::Getdents64Resp>()), want);
  r = Call(MID::kGetdents64, req);
  EXPECT_EQ(r.payload, (std::vector<uint8_t>{0, 0})) << "end of directory";
  req.count = -65536;
  r = Call(MID::kGetdents64, req);
  EXPECT_EQ(Names(*r.As<lisafs::Getdents64Resp>()), want);
}

TEST_F(FsgoferTest, Getdents64NeedsAnOpenDirectory) {
  lisafs::Getdents64Req req;
  req.dir_fd = root_;
  req.count = 1000;
  EXPECT_EQ(Errno(MID::kGetdents64, req), EINVAL);
  req.dir_fd = Open(WalkTo({"file"}), O_RDONLY);
  EXPECT_EQ(Errno(MID::kGetdents64, req), ENOTDIR);
}

TEST_F(FsgoferTest, Getdents64WithCountInt32MinSeeksAndReads) {
  lisafs::Getdents64Req req;
  req.dir_fd = Open(root_, O_RDONLY);
  req.count = INT32_MIN;
  // The tree is small, so the answer fits: only the budget is huge.
  EXPECT_EQ(Errno(MID::kGetdents64, req), 0);
}

// --- Xattrs (25-28) ---------------------------------------------------------

TEST_F(FsgoferTest, XattrsRoundTrip) {
  FDID f = WalkTo({"file"});
  lisafs::FSetXattrReq s;
  s.fd = f;
  s.name = "user.color";
  s.value = "blue";
  ASSERT_EQ(Errno(MID::kFSetXattr, s), 0);
  s.flags = XATTR_CREATE;
  EXPECT_EQ(Errno(MID::kFSetXattr, s), EEXIST);
  lisafs::FGetXattrReq g;
  g.fd = f;
  g.name = "user.color";
  g.buf_size = 0;  // means the maximum
  Reply r = Call(MID::kFGetXattr, g);
  ASSERT_EQ(r.mid, 25) << r.err();
  EXPECT_EQ(r.As<lisafs::FGetXattrResp>()->value, "blue");
  g.buf_size = 2;
  EXPECT_EQ(Errno(MID::kFGetXattr, g), ERANGE);
  lisafs::FListXattrReq l;
  l.fd = f;
  r = Call(MID::kFListXattr, l);
  ASSERT_EQ(r.mid, 27);
  EXPECT_EQ(r.As<lisafs::FListXattrResp>()->names,
            std::vector<std::string>{"user.color"});
  lisafs::FRemoveXattrReq rm;
  rm.fd = f;
  rm.name = "user.color";
  EXPECT_EQ(Errno(MID::kFRemoveXattr, rm), 0);
  g.buf_size = 100;
  EXPECT_EQ(Errno(MID::kFGetXattr, g), ENODATA);
  EXPECT_EQ(Errno(MID::kFRemoveXattr, rm), ENODATA);
}

TEST_F(FsgoferTest, XattrNamesWithNulAreEINVAL) {
  lisafs::FSetXattrReq s;
  s.fd = WalkTo({"file"});
  s.name = std::string("user.a\0b", 8);
  s.value = "v";
  EXPECT_EQ(Errno(MID::kFSetXattr, s), EINVAL);
  char buf[8];
  EXPECT_LT(getxattr(HostPath("file").c_str(), "user.a", buf, sizeof(buf)), 0);
}

TEST_F(FsgoferTest, XattrsOfAnOPathFile) {
  // The socket is held through an O_PATH FD; its xattrs go via procfs.
  lisafs::FListXattrReq l;
  l.fd = WalkTo({"socket"});
  Reply r = Call(MID::kFListXattr, l);
  EXPECT_EQ(r.mid, 27) << r.err();
  // A symlink's xattrs are those of the link (user.* is refused on links).
  lisafs::FGetXattrReq g;
  g.fd = WalkTo({"symlink"});
  g.name = "user.none";
  EXPECT_EQ(Errno(MID::kFGetXattr, g), ENODATA);
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
  fd::OwnedFd peer(accept4(fixture_->socket_listener(), nullptr, nullptr,
                           SOCK_CLOEXEC));
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
  fd::OwnedFd peer(accept4(fixture_->socket_listener(), nullptr, nullptr,
                           SOCK_CLOEXEC));
  ASSERT_TRUE(peer.valid());
  if (IsRoot()) {
    // The peer credentials are those the server switched to.
    req.uid = 1111;
    req.gid = 2222;
    r = Call(MID::kConnectWithCreds, req);
    ASSERT_EQ(r.mid, 32) << r.err();
    fd::OwnedFd p2(accept4(fixture_->socket_listener(), nullptr, nullptr,
                           SOCK_CLOEXEC));
    struct ucred cred;
    socklen_t len = sizeof(cred);
    ASSERT_EQ(getsockopt(p2.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len), 0);
    EXPECT_EQ(cred.uid, 1111u);
    EXPECT_EQ(cred.gid, 2222u);
    // ...and the server thread is back to its own.
    EXPECT_EQ(Errno(MID::kMkdirAt, lisafs::MkdirAtReq{
                                       {root_, lisafs::kNoUID, lisafs::kNoGID,
                                        0700, 0, 0},
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

  fd::OwnedFd cl(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  std::string p = HostPath("srv");
  memcpy(sa.sun_path, p.data(), p.size());
  ASSERT_EQ(connect(cl.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  r = Call(MID::kAccept, a);
  ASSERT_EQ(r.mid, 31) << r.err();
  EXPECT_EQ(r.payload, (std::vector<uint8_t>{0, 0})) << "empty peer address";
  ASSERT_EQ(r.fds.size(), 1u);
  EXPECT_NE(FdFlags(r.fds[0].get()) & O_NONBLOCK, 0);
  ASSERT_EQ(write(cl.get(), "hi", 2), 2);
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
