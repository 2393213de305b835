// The fsgofer backend's RPCs that create, rename and remove names:
// OpenCreateAt, MkdirAt, MknodAt, SymlinkAt, LinkAt, UnlinkAt, RenameAt and
// RenameAt2, each checked against the host.

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "pkg/fsgofer/fsgofer.h"
#include "pkg/fsgofer/fsgofer_test_base.h"
#include "pkg/lisafs/messages.h"
#include "testing/gofer_test_base.h"

namespace gvisor::fsgofer {
namespace {

using ::gvisor::testing::Reply;
using lisafs::FDID;
using lisafs::MID;

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

}  // namespace
}  // namespace gvisor::fsgofer
