#include "testing/gofer_fixture.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <string>

#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/lisafs/messages.h"
#include "testing/as_socket.h"
#include "testing/raw_client.h"

namespace gvisor::testing {
namespace {

using lisafs::MID;

mode_t LstatType(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & S_IFMT;
}

// HasCapSysAdmin reports whether the effective capabilities hold
// CAP_SYS_ADMIN (in the process's user namespace).
bool HasCapSysAdmin() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      return (std::stoull(line.substr(7), nullptr, 16) >> CAP_SYS_ADMIN) & 1;
    }
  }
  return false;
}

TEST(GoferFixtureTest, BuildsTheDocumentedTree) {
  absl::StatusOr<std::unique_ptr<GoferFixture>> f = GoferFixture::Create();
  ASSERT_TRUE(f.ok()) << f.status();
  const std::string& r = (*f)->root();
  EXPECT_EQ(LstatType(r + "/file"), S_IFREG);
  EXPECT_EQ(LstatType(r + "/empty"), S_IFREG);
  EXPECT_EQ(LstatType(r + "/dir"), S_IFDIR);
  EXPECT_EQ(LstatType(r + "/dir/nested/deep"), S_IFREG);
  EXPECT_EQ(LstatType(r + "/dir/up"), S_IFLNK);
  EXPECT_EQ(LstatType(r + "/symlink"), S_IFLNK);
  EXPECT_EQ(LstatType(r + "/escape"), S_IFLNK);
  EXPECT_EQ(LstatType(r + "/escape_dir"), S_IFLNK);
  EXPECT_EQ(LstatType(r + "/fifo"), S_IFIFO);
  EXPECT_EQ(LstatType(r + "/socket"), S_IFSOCK);
  EXPECT_EQ(LstatType((*f)->outside()), S_IFREG);
  EXPECT_NE((*f)->outside().rfind(r, 0), 0u) << "outside must be outside";
  char target[256] = {};
  ASSERT_GT(readlink((r + "/escape").c_str(), target, sizeof(target) - 1), 0);
  EXPECT_EQ(std::string(target), (*f)->outside());

  const std::string& d = (*f)->devices_dir();
  struct stat st;
  ASSERT_EQ(stat((d + "/null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  ASSERT_EQ(stat((d + "/zero").c_str(), &st), 0);
  EXPECT_EQ(st.st_rdev, makedev(1, 5));
  switch ((*f)->device_source()) {
    case DeviceSource::kMknod:
      EXPECT_TRUE((*f)->real_device_nodes());
      EXPECT_EQ(d, r + "/dev");
      break;
    case DeviceSource::kBindMount:
      EXPECT_FALSE((*f)->real_device_nodes());
      // Not under root(): Connect()'s dev/ holds no devices.
      EXPECT_NE(d.rfind(r, 0), 0u) << d;
      break;
    case DeviceSource::kHostDev:
      EXPECT_FALSE((*f)->real_device_nodes());
      EXPECT_EQ(d, "/dev");
      break;
  }
  EXPECT_EQ((*f)->writable_devices(),
            (*f)->device_source() != DeviceSource::kHostDev);
  RecordProperty("devices", (*f)->devices_note());
  std::cerr << "devices: " << (*f)->devices_note() << "\n";
}

TEST(GoferFixtureTest, StartGoferGivesAMountableConnection) {
  absl::StatusOr<Gofer> g = StartGofer();
  ASSERT_TRUE(g.ok()) << g.status();
  RawClient c(std::move(g->client));
  absl::StatusOr<Reply> r = c.CallBytes(1, {});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->mid, 1);
  absl::StatusOr<lisafs::MountResp> m = r->As<lisafs::MountResp>();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->root.control_fd, 1u);
  EXPECT_TRUE(S_ISDIR(m->root.stat.mode));
  EXPECT_TRUE(r->fds.empty());
}

TEST(GoferFixtureTest, DonateOptionDonatesTheMountFd) {
  absl::StatusOr<Gofer> g = StartGofer({.donate_mount_fd = true});
  ASSERT_TRUE(g.ok()) << g.status();
  RawClient c(std::move(g->client));
  absl::StatusOr<Reply> r = c.CallBytes(1, {});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->fds.size(), 1u);
  struct stat got, want;
  ASSERT_EQ(fstat(r->fds[0].get(), &got), 0);
  ASSERT_EQ(stat(g->fixture->root().c_str(), &want), 0);
  EXPECT_EQ(got.st_ino, want.st_ino);
}

TEST(GoferFixtureTest, ReadOnlyOptionRefusesMutations) {
  absl::StatusOr<Gofer> g = StartGofer({.readonly = true});
  ASSERT_TRUE(g.ok());
  RawClient c(std::move(g->client));
  ASSERT_TRUE(c.CallBytes(1, {}).ok());
  lisafs::MkdirAtReq req;
  req.common.dir_fd = 1;
  req.common.mode = 0755;
  req.name = "x";
  absl::StatusOr<Reply> r = c.Call(MID::kMkdirAt, req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->err(), EROFS);
}

TEST(GoferFixtureTest, DestructionRemovesTheTreeAndLeaksNoFd) {
  int before = OpenFdCount();
  std::string base;
  {
    absl::StatusOr<Gofer> g = StartGofer();
    ASSERT_TRUE(g.ok());
    base = g->fixture->root();
    RawClient c(std::move(g->client));
    ASSERT_TRUE(c.CallBytes(1, {}).ok());
    absl::StatusOr<fd::OwnedFd> dev = g->fixture->ConnectDevices();
    ASSERT_TRUE(dev.ok());
  }
  struct stat st;
  EXPECT_NE(stat(base.c_str(), &st), 0);
  EXPECT_EQ(OpenFdCount(), before);
}

// The way a consumer's cc_test uses the fixture: null and zero open
// read-write through devutil, on the RPC path and (donated mount FD) on the
// host fast path, also inside Bazel's default sandbox.
class DevicesReadWriteTest : public ::testing::TestWithParam<bool> {};

TEST_P(DevicesReadWriteTest, NullAndZeroOpenReadWrite) {
  const context::Context& ctx = context::Background();
  absl::StatusOr<std::unique_ptr<GoferFixture>> f =
      GoferFixture::Create({.donate_mount_fd = GetParam()});
  ASSERT_TRUE(f.ok()) << f.status();
  std::cerr << "devices: " << (*f)->devices_note() << "\n";
  if (!(*f)->writable_devices() && !HasCapSysAdmin()) {
    GTEST_SKIP() << "neither mknod nor a mount namespace is allowed here: "
                 << (*f)->devices_note();
  }
  // As root, or in Bazel's sandbox, one of them is.
  ASSERT_TRUE((*f)->writable_devices()) << (*f)->devices_note();
  absl::StatusOr<std::unique_ptr<devutil::GoferClient>> c =
      devutil::NewGoferClient(ctx, "c", AsSocket((*f)->ConnectDevices()));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->HasHostFD(), GetParam());

  absl::StatusOr<fd::OwnedFd> null = (*c)->OpenAt(ctx, "null", O_RDWR);
  ASSERT_TRUE(null.ok()) << null.status();
  struct stat st;
  ASSERT_EQ(fstat(null->get(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(fcntl(null->get(), F_GETFL) & O_ACCMODE, O_RDWR);
  EXPECT_EQ(write(null->get(), "abc", 3), 3);
  char buf[16];
  EXPECT_EQ(read(null->get(), buf, sizeof(buf)), 0);

  absl::StatusOr<fd::OwnedFd> zero = (*c)->OpenAt(ctx, "zero", O_RDWR);
  ASSERT_TRUE(zero.ok()) << zero.status();
  ASSERT_EQ(fstat(zero->get(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 5));
  EXPECT_EQ(fcntl(zero->get(), F_GETFL) & O_ACCMODE, O_RDWR);
  EXPECT_EQ(write(zero->get(), "abc", 3), 3);
  std::fill(buf, buf + sizeof(buf), 'x');
  ASSERT_EQ(read(zero->get(), buf, sizeof(buf)), 16);
  EXPECT_EQ(std::count(buf, buf + sizeof(buf), '\0'), 16);

  // Nothing else is served: only the two devices (and no host file).
  absl::StatusOr<std::vector<std::string>> names = (*c)->DirentNames(ctx);
  ASSERT_TRUE(names.ok()) << names.status();
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"null", "zero"}));
}

INSTANTIATE_TEST_SUITE_P(Donate, DevicesReadWriteTest, ::testing::Bool());

// A client of ConnectDevices cannot change the host's /dev: SetStat and
// UnlinkAt of "null" and "zero" leave the host's nodes as they were.
TEST(GoferFixtureTest, DevicesLeaveTheHostsDevAlone) {
  struct stat before_null, before_zero;
  ASSERT_EQ(stat("/dev/null", &before_null), 0);
  ASSERT_EQ(stat("/dev/zero", &before_zero), 0);
  {
    absl::StatusOr<std::unique_ptr<GoferFixture>> f = GoferFixture::Create();
    ASSERT_TRUE(f.ok()) << f.status();
    absl::StatusOr<fd::OwnedFd> sock = (*f)->ConnectDevices();
    ASSERT_TRUE(sock.ok()) << sock.status();
    RawClient c(*std::move(sock));
    ASSERT_EQ(c.CallBytes(1, {})->mid, 1);
    for (const char* name : {"null", "zero"}) {
      lisafs::WalkReq w;
      w.dir_fd = 1;
      w.path = {name};
      absl::StatusOr<Reply> r = c.Call(MID::kWalk, w);
      ASSERT_TRUE(r.ok()) << r.status();
      absl::StatusOr<lisafs::WalkResp> wr = r->As<lisafs::WalkResp>();
      ASSERT_TRUE(wr.ok()) << wr.status();
      ASSERT_EQ(wr->inodes.size(), 1u);
      lisafs::SetStatReq ss;
      ss.fd = wr->inodes[0].control_fd;
      ss.mask = STATX_MODE | STATX_ATIME | STATX_MTIME;
      ss.mode = 0600;
      ss.atime = {.sec = 1, .nsec = 0};
      ss.mtime = {.sec = 1, .nsec = 0};
      absl::StatusOr<Reply> set = c.Call(MID::kSetStat, ss);
      ASSERT_TRUE(set.ok()) << set.status();
      if ((*f)->device_source() == DeviceSource::kBindMount) {
        // The bind mount is read-only: the host's node cannot change.
        absl::StatusOr<lisafs::SetStatResp> sr = set->As<lisafs::SetStatResp>();
        ASSERT_TRUE(sr.ok()) << sr.status();
        EXPECT_NE(sr->failure_mask & STATX_MODE, 0u);
        EXPECT_EQ(sr->failure_errno, static_cast<uint32_t>(EROFS));
      }
      // Unlinking removes at most the fixture's own mount point.
      lisafs::UnlinkAtReq u;
      u.dir_fd = 1;
      u.name = name;
      ASSERT_TRUE(c.Call(MID::kUnlinkAt, u).ok());
    }
  }
  struct stat after_null, after_zero;
  ASSERT_EQ(stat("/dev/null", &after_null), 0);
  ASSERT_EQ(stat("/dev/zero", &after_zero), 0);
  for (const auto& [b, a] : {std::pair(before_null, after_null),
                             std::pair(before_zero, after_zero)}) {
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_rdev, b.st_rdev);
    EXPECT_EQ(a.st_mode, b.st_mode);
    EXPECT_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
  }
}

// The fixture mounts nothing in the test's own mount namespace (the bind
// mounts, when it makes them, live in a namespace of its own).
TEST(GoferFixtureTest, MountsNothingInTheTestsNamespace) {
  absl::StatusOr<std::unique_ptr<GoferFixture>> f = GoferFixture::Create();
  ASSERT_TRUE(f.ok()) << f.status();
  const std::string base = (*f)->root().substr(0, (*f)->root().rfind('/'));
  std::ifstream mountinfo("/proc/self/mountinfo");
  ASSERT_TRUE(mountinfo.good());
  std::string line;
  while (std::getline(mountinfo, line)) {
    EXPECT_EQ(line.find(base), std::string::npos) << line;
  }
  // From this namespace the fixture's own files are what it made.
  if ((*f)->device_source() == DeviceSource::kBindMount) {
    EXPECT_EQ(LstatType((*f)->root() + "/dev/null"), 0u);
  }
}

}  // namespace
}  // namespace gvisor::testing
