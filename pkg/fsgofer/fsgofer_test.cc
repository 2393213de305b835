// The fsgofer backend through lisafs::Server, one or more tests per MID,
// with a raw client over a real socket pair (testing/gofer_test_base.h):
// Mount, stat and SetStat, Walk, OpenAt, I/O, directories and xattrs.
// Creating, renaming and removing names is in fsgofer_names_test.cc; FIFOs,
// devices and host sockets, with the options that allow them, in
// fsgofer_special_files_test.cc.

#include "pkg/fsgofer/fsgofer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pkg/fsgofer/fsgofer_test_base.h"
#include "pkg/lisafs/messages.h"
#include "testing/gofer_test_base.h"

namespace gvisor::fsgofer {
namespace {

using ::gvisor::testing::GoferOptions;
using ::gvisor::testing::Reply;
using lisafs::FDID;
using lisafs::MID;
using lisafs::WalkStatus;

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
  FDID o =
      Open(WalkTo({"file"}), O_RDWR | O_APPEND | O_TRUNC | O_CREAT, &donated);
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
  std::set<std::string> want = {"file",    "empty",  "dir",
                                "symlink", "escape", "escape_dir",
                                "fifo",    "socket", "dev"};
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

}  // namespace
}  // namespace gvisor::fsgofer
