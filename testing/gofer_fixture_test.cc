#include "testing/gofer_fixture.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "gtest/gtest.h"
#include "pkg/lisafs/messages.h"
#include "testing/raw_client.h"

namespace gvisor::testing {
namespace {

using lisafs::MID;

mode_t LstatType(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & S_IFMT;
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
  if ((*f)->real_device_nodes()) {
    EXPECT_EQ(d, r + "/dev");
  } else {
    EXPECT_EQ(d, "/dev");
  }
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

}  // namespace
}  // namespace gvisor::testing
