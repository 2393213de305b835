// The server framework's generic behaviour (pkg/lisafs/README.md §7): dispatch
// order and generic errors, the FD table, name validation, path escapes,
// read-only connections, deleted nodes, concurrency, vanishing clients and FD
// leaks. A raw client talks to the fsgofer backend over real socket pairs.

#include "pkg/lisafs/server.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "pkg/flipcall/flipcall.h"
#include "pkg/lisafs/channel.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/server_test_base.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"
#include "testing/gofer_test_base.h"

namespace gvisor::lisafs {
namespace {

using ::gvisor::testing::Bytes;
using ::gvisor::testing::GoferOptions;
using ::gvisor::testing::OpenFdCount;
using ::gvisor::testing::RawClient;
using ::gvisor::testing::Reply;

using ::gvisor::lisafs::servertest::kMax;
using ::gvisor::lisafs::servertest::ServerTest;

static_assert((STATX_MODE | STATX_SIZE | STATX_MTIME) == (0x2 | 0x200 | 0x40));

// --- Dispatch and generic errors (pkg/lisafs/README.md §7.2)
// ------------------------------

TEST_F(ServerTest, UnadvertisedAndUnknownMidsAreEOPNOTSUPP) {
  for (uint16_t mid : {0, 20, 34, 255, 256, 65535}) {
    absl::StatusOr<Reply> r = client_->CallBytes(mid, {});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->mid, 0) << mid;
    // Error = MID 0 with exactly 4 bytes of errno.
    EXPECT_EQ(r->payload, (std::vector<uint8_t>{EOPNOTSUPP, 0, 0, 0})) << mid;
  }
}

TEST_F(ServerTest, OversizedRequestIsEIOAndTheStreamStaysInSync) {
  std::vector<uint8_t> big(kMax + 1, 0);
  absl::StatusOr<Reply> r = client_->CallBytes(3, big);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->err(), EIO);
  // A request of exactly the limit is decoded (and fails on its FDID).
  std::vector<uint8_t> max(kMax, 0);
  r = client_->CallBytes(3, max);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->err(), EBADF);
  EXPECT_TRUE(S_ISDIR(FStat(root_).mode));
}

TEST_F(ServerTest, MalformedPayloadIsEIO) {
  absl::StatusOr<Reply> r = client_->CallBytes(3, Bytes("abc"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->err(), EIO);
  // Walk: one component announced 200 bytes long, 1 present.
  std::vector<uint8_t> walk = {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 200, 0, 'x'};
  r = client_->CallBytes(5, walk);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->err(), EIO);
}

TEST_F(ServerTest, UnknownFdidIsEBADFAndWrongKindIsEINVAL) {
  StatReq st;
  st.fd = 0;
  EXPECT_EQ(Errno(MID::kFStat, st), EBADF);
  st.fd = 999;
  EXPECT_EQ(Errno(MID::kFStat, st), EBADF);
  FDID open = Open(root_, O_RDONLY);
  WalkReq w;
  w.dir_fd = open;
  w.path = {"file"};
  EXPECT_EQ(Errno(MID::kWalk, w), EINVAL);
  PReadReq pr;
  pr.fd = root_;
  pr.count = 1;
  EXPECT_EQ(Errno(MID::kPRead, pr), EINVAL);
  ListenReq l;
  l.fd = root_;
  EXPECT_EQ(Errno(MID::kListen, l), EINVAL);
  AcceptReq a;
  a.fd = open;
  EXPECT_EQ(Errno(MID::kAccept, a), EINVAL);
  LinkAtReq link;
  link.dir_fd = root_;
  link.target = 777;
  link.name = "x";
  EXPECT_EQ(Errno(MID::kLinkAt, link), EBADF);
}

TEST_F(ServerTest, ErrorFrameBytes) {
  UnlinkAtReq u;
  u.dir_fd = root_;
  u.name = "missing";
  Reply r = Call(MID::kUnlinkAt, u);
  EXPECT_EQ(r.mid, 0);
  EXPECT_EQ(r.payload, (std::vector<uint8_t>{2, 0, 0, 0}));  // ENOENT
  EXPECT_TRUE(r.fds.empty());
  // Walk whose first component is missing: 01 00 00 (pkg/lisafs/README.md V4b).
  WalkReq w;
  w.dir_fd = root_;
  w.path = {"missing"};
  r = Call(MID::kWalk, w);
  EXPECT_EQ(r.mid, 5);
  EXPECT_EQ(r.payload, (std::vector<uint8_t>{1, 0, 0}));
}

TEST_F(ServerTest, WalkThatCannotFitTheLimitIsEIO) {
  WalkReq w;
  w.dir_fd = root_;
  // 3 + 152 * n > 2093056 for n = 13771.
  w.path.assign(13771, "dir");
  EXPECT_EQ(Errno(MID::kWalk, w), EIO);
  w.path.assign(13770, "x");
  EXPECT_EQ(Errno(MID::kWalk, w), 0);
}

// --- FD table (pkg/lisafs/README.md §7.3)
// --------------------------------------------------

TEST_F(ServerTest, FdidsStartAtOneGrowByOneAndAreNeverReused) {
  EXPECT_EQ(root_, 1u);
  WalkResp w = Walk(root_, {"dir", "file2"});
  ASSERT_EQ(w.inodes.size(), 2u);
  EXPECT_EQ(w.inodes[0].control_fd, 2u);
  EXPECT_EQ(w.inodes[1].control_fd, 3u);
  CloseReq c;
  c.fds = {2, 3};
  Call(MID::kClose, c);
  EXPECT_EQ(Open(root_, O_RDONLY), 4u);
  EXPECT_EQ(Walk(root_, {"dir"}).inodes.at(0).control_fd, 5u);
}

TEST_F(ServerTest, FailedWalkRemovesItsFdsButConsumesTheirIds) {
  WalkReq w;
  w.dir_fd = root_;
  w.path = {"dir", "file2", "x"};
  EXPECT_EQ(Errno(MID::kWalk, w), ENOTDIR);
  StatReq st;
  st.fd = 2;
  EXPECT_EQ(Errno(MID::kFStat, st), EBADF);
  st.fd = 3;
  EXPECT_EQ(Errno(MID::kFStat, st), EBADF);
  EXPECT_EQ(Walk(root_, {"dir"}).inodes.at(0).control_fd, 4u);
}

TEST_F(ServerTest, FailedCreateConsumesNoId) {
  MkdirAtReq m;
  m.common.dir_fd = root_;
  m.common.mode = 0755;
  m.name = "dir";
  EXPECT_EQ(Errno(MID::kMkdirAt, m), EEXIST);
  EXPECT_EQ(Walk(root_, {"dir"}).inodes.at(0).control_fd, 2u);
}

// --- Names (pkg/lisafs/README.md §7.5)
// -----------------------------------------------------

const std::vector<std::string>& BadNames() {
  static const auto* names =
      new std::vector<std::string>{"",
                                   ".",
                                   "..",
                                   "a/b",
                                   "/",
                                   "/etc",
                                   std::string("file\0x", 6),
                                   std::string("\0", 1)};
  return *names;
}

TEST_F(ServerTest, WalkRefusesBadNames) {
  for (const std::string& bad : BadNames()) {
    WalkReq w;
    w.dir_fd = root_;
    w.path = {"dir", bad};
    EXPECT_EQ(Errno(MID::kWalk, w), EINVAL) << absl::CHexEscape(bad);
  }
  // Names are checked lazily: a missing component stops the walk first.
  WalkResp w = Walk(root_, {"missing", ".."});
  EXPECT_EQ(w.status, WalkStatus::kComponentDoesNotExist);
  WalkReq req;
  req.dir_fd = root_;
  req.path = {"symlink", ".."};
  EXPECT_EQ(Errno(MID::kWalk, req), EINVAL);
}

TEST_F(ServerTest, CreatesRefuseBadNamesAndCreateNothing) {
  for (const std::string& bad : BadNames()) {
    SCOPED_TRACE(absl::CHexEscape(bad));
    MkdirAtReq m;
    m.common.dir_fd = root_;
    m.common.mode = 0755;
    m.name = bad;
    EXPECT_EQ(Errno(MID::kMkdirAt, m), EINVAL);
    OpenCreateAtReq o;
    o.common.dir_fd = root_;
    o.common.mode = 0644;
    o.name = bad;
    EXPECT_EQ(Errno(MID::kOpenCreateAt, o), EINVAL);
    MknodAtReq n;
    n.common.dir_fd = root_;
    n.common.mode = S_IFREG | 0644;
    n.name = bad;
    EXPECT_EQ(Errno(MID::kMknodAt, n), EINVAL);
    SymlinkAtReq s;
    s.dir_fd = root_;
    s.name = bad;
    s.target = "file";
    EXPECT_EQ(Errno(MID::kSymlinkAt, s), EINVAL);
    LinkAtReq l;
    l.dir_fd = root_;
    l.target = WalkTo({"file"});
    l.name = bad;
    EXPECT_EQ(Errno(MID::kLinkAt, l), EINVAL);
    BindAtReq b;
    b.common.dir_fd = root_;
    b.common.mode = 0600;
    b.sock_type = SOCK_STREAM;
    b.name = bad;
    EXPECT_EQ(Errno(MID::kBindAt, b), EINVAL);
    UnlinkAtReq u;
    u.dir_fd = WalkTo({"dir"});
    u.name = bad;
    EXPECT_EQ(Errno(MID::kUnlinkAt, u), EINVAL);
    RenameAtReq r;
    r.old_dir = root_;
    r.new_dir = root_;
    r.old_name = "file";
    r.new_name = bad;
    EXPECT_EQ(Errno(MID::kRenameAt, r), EINVAL);
    r.old_name = bad;
    r.new_name = "renamed";
    EXPECT_EQ(Errno(MID::kRenameAt, r), EINVAL);
  }
  // Nothing new appeared in or around the tree, and nothing went away.
  EXPECT_EQ(HostRead(HostPath("file")), "hello\n");
  EXPECT_TRUE(HostExists(HostPath("dir/nested/deep")));
  EXPECT_FALSE(HostExists(HostPath("renamed")));
  EXPECT_FALSE(HostExists(HostPath("file\\x")));
  EXPECT_EQ(Walk(root_, {"dir"}).inodes.size(), 1u);
}

// --- Symlinks and escapes (pkg/lisafs/README.md §7.4, §7.7)
// ---------------------------------

TEST_F(ServerTest, AFinalSymlinkIsReturnedItself) {
  WalkResp w = Walk(root_, {"escape"});
  ASSERT_EQ(w.status, WalkStatus::kSuccess);
  ASSERT_EQ(w.inodes.size(), 1u);
  EXPECT_TRUE(S_ISLNK(w.inodes[0].stat.mode));
  struct stat st;
  ASSERT_EQ(lstat(HostPath("escape").c_str(), &st), 0);
  EXPECT_EQ(w.inodes[0].stat.ino, st.st_ino);
  FDID link = w.inodes[0].control_fd;
  OpenAtReq o;
  o.fd = link;
  EXPECT_EQ(Errno(MID::kOpenAt, o), EINVAL);
  ReadLinkAtReq rl;
  rl.fd = link;
  EXPECT_EQ(Call(MID::kReadLinkAt, rl).As<ReadLinkAtResp>()->target,
            fixture_->outside());
}

TEST_F(ServerTest, ASymlinkInTheMiddleStopsTheWalk) {
  for (std::vector<std::string> path :
       {std::vector<std::string>{"escape_dir", "secret"},
        {"escape", "x"},
        {"dir", "up", "x"},
        {"symlink", "x"}}) {
    size_t link_at = path[0] == "dir" ? 2 : 1;
    WalkResp w = Walk(root_, path);
    EXPECT_EQ(w.status, WalkStatus::kComponentSymlink) << path[0];
    ASSERT_EQ(w.inodes.size(), link_at);
    EXPECT_TRUE(S_ISLNK(w.inodes.back().stat.mode));
  }
}

TEST_F(ServerTest, MutationsThroughAnEscapingSymlinkStayOnTheLink) {
  FDID link = WalkTo({"escape"});
  SetStatReq s;
  s.fd = link;
  s.mask = STATX_MODE | STATX_SIZE | STATX_MTIME;
  s.mode = 0777;
  s.size = 0;
  s.mtime = {12345, 0};
  Reply r = Call(MID::kSetStat, s);
  ASSERT_EQ(r.mid, 4);
  EXPECT_EQ(r.As<SetStatResp>()->failure_mask & (STATX_MODE | STATX_SIZE),
            STATX_MODE | STATX_SIZE);
  FSetXattrReq x;
  x.fd = link;
  x.name = "user.evil";
  x.value = "1";
  EXPECT_NE(Errno(MID::kFSetXattr, x), 0);
  // Outside() is compared in TearDown.
}

TEST_F(ServerTest, HostReplacingAWalkedDirectoryByASymlinkLeadsNowhere) {
  FDID dir = WalkTo({"dir"});
  ASSERT_EQ(rename(HostPath("dir").c_str(), HostPath("dir.old").c_str()), 0);
  ASSERT_EQ(symlink(fixture_->outside_dir().c_str(), HostPath("dir").c_str()),
            0);
  // The held FD still means the directory it was opened on.
  MkdirAtReq m;
  m.common.dir_fd = dir;
  m.common.mode = 0755;
  m.name = "new";
  ASSERT_EQ(Errno(MID::kMkdirAt, m), 0);
  EXPECT_TRUE(HostExists(HostPath("dir.old/new")));
  // A new walk meets the symlink and stops.
  WalkResp w = Walk(root_, {"dir", "secret"});
  EXPECT_EQ(w.status, WalkStatus::kComponentSymlink);
  // Name-based operations on a child of the held FD re-walk the tree path
  // with O_NOFOLLOW: the symlink now at "dir" is refused, not followed.
  FDID link = Walk(dir, {"up"}).inodes.at(0).control_fd;
  FSetXattrReq x;
  x.fd = link;
  x.name = "trusted.x";
  x.value = "1";
  EXPECT_NE(Errno(MID::kFSetXattr, x), 0);
}

TEST_F(ServerTest, RenameRaceDuringWalksNeverLeavesTheTree) {
  struct stat secret;
  ASSERT_EQ(stat(fixture_->outside().c_str(), &secret), 0);
  std::atomic<bool> stop{false};
  std::atomic<int> swaps{0};
  const std::string nested = HostPath("dir/nested");
  const std::string parked = HostPath("dir/parked");
  std::thread racer([&] {
    while (!stop.load()) {
      // Swap dir/nested between the real directory and a symlink out.
      if (rename(nested.c_str(), parked.c_str()) != 0) break;
      if (symlink(fixture_->outside_dir().c_str(), nested.c_str()) != 0) break;
      if (unlink(nested.c_str()) != 0) break;
      if (rename(parked.c_str(), nested.c_str()) != 0) break;
      swaps.fetch_add(1);
    }
  });
  int ok = 0;
  for (int i = 0; i < 2000; ++i) {
    WalkReq w;
    w.dir_fd = root_;
    w.path = {"dir", "nested", "secret"};
    Reply r = Call(MID::kWalk, w);
    if (r.mid != 5) {
      // The only failure a race may cause is the walk meeting a name
      // that changed type between its open and its stat.
      EXPECT_TRUE(r.err() == ENOTDIR || r.err() == ENOENT) << r.err();
      continue;
    }
    WalkResp resp = *r.As<WalkResp>();
    for (const Inode& in : resp.inodes) {
      EXPECT_NE(in.stat.ino, secret.st_ino) << "walked out of the tree";
    }
    EXPECT_LE(resp.inodes.size(), 2u);
    CloseReq c;
    for (const Inode& in : resp.inodes) c.fds.push_back(in.control_fd);
    Call(MID::kClose, c);
    ++ok;
  }
  stop.store(true);
  racer.join();
  EXPECT_GT(ok, 0);
  EXPECT_GT(swaps.load(), 0) << "the race never ran";
}

TEST_F(ServerTest, ConcurrentClientRenamesAndWalksStayConsistent) {
  absl::StatusOr<fd::OwnedFd> other = fixture_->Connect();
  ASSERT_TRUE(other.ok());
  RawClient renamer(*std::move(other));
  FDID r_root = Mount(&renamer);
  ASSERT_EQ(r_root, 1u);
  std::atomic<bool> stop{false};
  std::thread t([&] {
    RenameAtReq a, b;
    a.old_dir = b.old_dir = a.new_dir = b.new_dir = r_root;
    a.old_name = b.new_name = "dir";
    a.new_name = b.old_name = "dir2";
    while (!stop.load()) {
      absl::StatusOr<Reply> r = renamer.Call(MID::kRenameAt, a);
      if (!r.ok() || r->err() != 0) break;
      r = renamer.Call(MID::kRenameAt, b);
      if (!r.ok() || r->err() != 0) break;
    }
  });
  for (int i = 0; i < 500; ++i) {
    for (const char* d : {"dir", "dir2"}) {
      WalkResp w = Walk(root_, {d, "nested", "deep"});
      if (w.status == WalkStatus::kSuccess) {
        ASSERT_EQ(w.inodes.size(), 3u);
        EXPECT_EQ(w.inodes[2].stat.size, 5u);
      } else {
        EXPECT_EQ(w.status, WalkStatus::kComponentDoesNotExist);
      }
      CloseReq c;
      for (const Inode& in : w.inodes) c.fds.push_back(in.control_fd);
      Call(MID::kClose, c);
    }
  }
  stop.store(true);
  t.join();
}

// --- Read-only connections (pkg/lisafs/README.md §7.8)
// ----------------------------------------

class ReadOnlyTest : public ServerTest {
  GoferOptions Options() const override { return {.readonly = true}; }
};

TEST_F(ReadOnlyTest, EveryMutationIsEROFSBeforeDecoding) {
  // An empty payload would be EIO if it were decoded first.
  for (uint16_t mid : {4, 8, 11, 13, 14, 15, 16, 18, 22, 23, 26, 28, 29, 33}) {
    absl::StatusOr<Reply> r = client_->CallBytes(mid, {});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->err(), EROFS) << "MID " << mid;
  }
  // OpenAt decodes first.
  absl::StatusOr<Reply> r = client_->CallBytes(7, {});
  EXPECT_EQ(r->err(), EIO);
}

TEST_F(ReadOnlyTest, WellFormedMutationsAreEROFSAndChangeNothing) {
  FDID file = WalkTo({"file"});
  FDID dir = WalkTo({"dir"});
  FDID ro = Open(file, O_RDONLY);
  ASSERT_NE(ro, 0u);
  OpenAtReq o;
  o.fd = file;
  for (uint32_t flags : {O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC}) {
    o.flags = flags;
    EXPECT_EQ(Errno(MID::kOpenAt, o), EROFS) << flags;
  }
  SetStatReq s;
  s.fd = file;
  s.mask = STATX_MODE;
  s.mode = 0777;
  EXPECT_EQ(Errno(MID::kSetStat, s), EROFS);
  OpenCreateAtReq oc;
  oc.common.dir_fd = dir;
  oc.name = "n";
  EXPECT_EQ(Errno(MID::kOpenCreateAt, oc), EROFS);
  PWriteReq w;
  w.fd = ro;
  w.data = "x";
  EXPECT_EQ(Errno(MID::kPWrite, w), EROFS);
  MkdirAtReq m;
  m.common.dir_fd = dir;
  m.name = "n";
  EXPECT_EQ(Errno(MID::kMkdirAt, m), EROFS);
  MknodAtReq mn;
  mn.common.dir_fd = dir;
  mn.common.mode = S_IFREG;
  mn.name = "n";
  EXPECT_EQ(Errno(MID::kMknodAt, mn), EROFS);
  SymlinkAtReq sl;
  sl.dir_fd = dir;
  sl.name = "n";
  sl.target = "t";
  EXPECT_EQ(Errno(MID::kSymlinkAt, sl), EROFS);
  LinkAtReq l;
  l.dir_fd = dir;
  l.target = file;
  l.name = "n";
  EXPECT_EQ(Errno(MID::kLinkAt, l), EROFS);
  FAllocateReq fa;
  fa.fd = ro;
  fa.length = 100;
  EXPECT_EQ(Errno(MID::kFAllocate, fa), EROFS);
  UnlinkAtReq u;
  u.dir_fd = root_;
  u.name = "file";
  EXPECT_EQ(Errno(MID::kUnlinkAt, u), EROFS);
  RenameAtReq rn;
  rn.old_dir = rn.new_dir = root_;
  rn.old_name = "file";
  rn.new_name = "n";
  EXPECT_EQ(Errno(MID::kRenameAt, rn), EROFS);
  RenameAt2Req rn2;
  rn2.old_dir = rn2.new_dir = root_;
  rn2.old_name = "file";
  rn2.new_name = "n";
  EXPECT_EQ(Errno(MID::kRenameAt2, rn2), EROFS);
  FSetXattrReq sx;
  sx.fd = file;
  sx.name = "user.a";
  sx.value = "b";
  EXPECT_EQ(Errno(MID::kFSetXattr, sx), EROFS);
  FRemoveXattrReq rx;
  rx.fd = file;
  rx.name = "user.a";
  EXPECT_EQ(Errno(MID::kFRemoveXattr, rx), EROFS);
  BindAtReq b;
  b.common.dir_fd = root_;
  b.sock_type = SOCK_STREAM;
  b.name = "n";
  EXPECT_EQ(Errno(MID::kBindAt, b), EROFS);

  // Reads and connects still work.
  PReadReq pr;
  pr.fd = ro;
  pr.count = 10;
  EXPECT_EQ(Call(MID::kPRead, pr).As<PReadResp>()->data, "hello\n");
  ConnectReq c;
  c.fd = WalkTo({"socket"});
  c.sock_type = SOCK_STREAM;
  EXPECT_EQ(Errno(MID::kConnect, c), 0);

  EXPECT_EQ(HostRead(HostPath("file")), "hello\n");
  struct stat st;
  ASSERT_EQ(stat(HostPath("file").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_FALSE(HostExists(HostPath("n")));
  EXPECT_FALSE(HostExists(HostPath("dir/n")));
}

// --- Deleted nodes (pkg/lisafs/README.md §7.4)
// ----------------------------------------------

TEST_F(ServerTest, UnlinkedDirectoryRefusesPathOperations) {
  FDID nested = WalkTo({"dir", "nested"});
  FDID deep = WalkTo({"dir", "nested", "deep"});
  UnlinkAtReq u;
  u.dir_fd = nested;
  u.name = "deep";
  ASSERT_EQ(Errno(MID::kUnlinkAt, u), 0);
  u.dir_fd = WalkTo({"dir"});
  u.name = "nested";
  u.flags = AT_REMOVEDIR;
  ASSERT_EQ(Errno(MID::kUnlinkAt, u), 0);
  MkdirAtReq m;
  m.common.dir_fd = nested;
  m.common.mode = 0755;
  m.name = "again";
  EXPECT_EQ(Errno(MID::kMkdirAt, m), EINVAL);
  // A walk from a deleted directory says "does not exist".
  EXPECT_EQ(Walk(nested, {"x"}).status, WalkStatus::kComponentDoesNotExist);
  // FStat still works, and a deleted file may still be opened and read.
  EXPECT_EQ(FStat(deep).size, 5u);
  FDID o = Open(deep, O_RDONLY);
  ASSERT_NE(o, 0u);
  PReadReq pr;
  pr.fd = o;
  pr.count = 10;
  EXPECT_EQ(Call(MID::kPRead, pr).As<PReadResp>()->data, "deep\n");
  FGetXattrReq g;
  g.fd = deep;
  g.name = "user.x";
  EXPECT_EQ(Errno(MID::kFGetXattr, g), EINVAL);
  FListXattrReq fl;
  fl.fd = deep;
  EXPECT_EQ(Errno(MID::kFListXattr, fl), EINVAL);
}

TEST_F(ServerTest, DeletedSymlinkReadLinkIsEINVAL) {
  FDID link = WalkTo({"symlink"});
  UnlinkAtReq u;
  u.dir_fd = root_;
  u.name = "symlink";
  ASSERT_EQ(Errno(MID::kUnlinkAt, u), 0);
  ReadLinkAtReq rl;
  rl.fd = link;
  EXPECT_EQ(Errno(MID::kReadLinkAt, rl), EINVAL);
}

// --- Connections
// -------------------------------------------------------------------

TEST_F(ServerTest, ManyConnectionsAtOnce) {
  constexpr int kConns = 8;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::vector<fd::OwnedFd> socks;
  for (int t = 0; t < kConns; ++t) {
    absl::StatusOr<fd::OwnedFd> s = fixture_->Connect();
    ASSERT_TRUE(s.ok());
    socks.push_back(*std::move(s));
  }
  EXPECT_EQ(fixture_->server().connections(), kConns + 1u);
  for (int t = 0; t < kConns; ++t) {
    threads.emplace_back(
        [this, t, &failures, sock = std::move(socks[t])]() mutable {
          RawClient c(std::move(sock));
          FDID root = Mount(&c);
          std::string name = absl::StrCat("conn", t);
          OpenCreateAtReq oc;
          oc.common.dir_fd = root;
          oc.common.mode = 0644;
          oc.flags = O_RDWR;
          oc.name = name;
          absl::StatusOr<Reply> r = c.Call(MID::kOpenCreateAt, oc);
          if (!r.ok() || r->mid != 8) {
            failures++;
            return;
          }
          FDID open = r->As<OpenCreateAtResp>()->new_fd;
          for (int i = 0; i < 200; ++i) {
            PWriteReq w;
            w.fd = open;
            w.offset = 0;
            w.data = absl::StrCat(t, ":", i);
            r = c.Call(MID::kPWrite, w);
            PReadReq pr;
            pr.fd = open;
            pr.count = 64;
            absl::StatusOr<Reply> rr = c.Call(MID::kPRead, pr);
            if (!r.ok() || !rr.ok() || rr->mid != 12 ||
                rr->As<PReadResp>()->data.substr(0, w.data.size()) != w.data) {
              failures++;
              return;
            }
            WalkReq wr;
            wr.dir_fd = root;
            wr.path = {"dir", "nested", "deep"};
            absl::StatusOr<Reply> wk = c.Call(MID::kWalk, wr);
            if (!wk.ok() || wk->mid != 5) {
              failures++;
              return;
            }
            CloseReq cl;
            absl::StatusOr<WalkResp> walked = wk->As<WalkResp>();
            for (const Inode& in : walked->inodes) {
              cl.fds.push_back(in.control_fd);
            }
            c.Call(MID::kClose, cl).IgnoreError();
          }
        });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  fixture_->server().AwaitConnections(1);
  for (int t = 0; t < kConns; ++t) {
    EXPECT_TRUE(HostExists(HostPath(absl::StrCat("conn", t))));
  }
}

TEST_F(ServerTest, ClientVanishingMidRequestLeavesTheServerHealthy) {
  int fds_with_one = OpenFdCount();
  for (int variant = 0; variant < 4; ++variant) {
    SCOPED_TRACE(variant);
    absl::StatusOr<fd::OwnedFd> s = fixture_->Connect();
    ASSERT_TRUE(s.ok());
    {
      RawClient c(*std::move(s));
      ASSERT_EQ(Mount(&c), 1u);
      // Leave server-side state behind: open files and donated FDs.
      WalkReq w;
      w.dir_fd = 1;
      w.path = {"file"};
      absl::StatusOr<Reply> r = c.Call(MID::kWalk, w);
      ASSERT_TRUE(r.ok());
      OpenAtReq o;
      o.fd = r->As<WalkResp>()->inodes.at(0).control_fd;
      ASSERT_EQ(c.Call(MID::kOpenAt, o)->fds.size(), 1u);
      switch (variant) {
        case 0: {  // half a header
          const uint8_t h[3] = {16, 0, 0};
          ASSERT_TRUE(c.WriteBytes(h).ok());
          break;
        }
        case 1: {  // a header announcing more payload than sent
          const uint8_t h[12] = {100, 0, 0, 0, 3, 0, 0, 0, 1, 2, 3, 4};
          ASSERT_TRUE(c.WriteBytes(h).ok());
          break;
        }
        case 2: {  // a whole request whose answer is never read
          PReadReq pr;
          pr.fd = 3;
          pr.count = 1 << 20;
          std::vector<uint8_t> b = *Marshal(pr);
          std::vector<uint8_t> frame(8);
          uint32_t len = b.size();
          memcpy(frame.data(), &len, 4);
          frame[4] = 12;
          frame.insert(frame.end(), b.begin(), b.end());
          ASSERT_TRUE(c.WriteBytes(frame).ok());
          break;
        }
        case 3:  // an oversized header, then nothing
        {
          const uint8_t h[8] = {0xff, 0xff, 0xff, 0x7f, 3, 0, 0, 0};
          ASSERT_TRUE(c.WriteBytes(h).ok());
          break;
        }
      }
    }  // the client's socket closes here
    fixture_->server().AwaitConnections(1);
    EXPECT_EQ(OpenFdCount(), fds_with_one)
        << "server kept FDs of a dead client";
    // The server still serves the first connection.
    EXPECT_TRUE(S_ISDIR(FStat(root_).mode));
  }
}

TEST_F(ServerTest, ShutdownEndsConnectedClients) {
  fixture_->server().Shutdown();
  absl::StatusOr<Reply> r = client_->CallBytes(3, {});
  EXPECT_FALSE(r.ok());
  fixture_->server().Wait();
  EXPECT_EQ(fixture_->server().connections(), 0u);
  absl::StatusOr<fd::OwnedFd> again = fixture_->Connect();
  EXPECT_EQ(syserr::ToErrno(again.status()), ESHUTDOWN);
}

TEST_F(ServerTest, RepeatedOpenAndCloseLeaksNothing) {
  int before = OpenFdCount();
  for (int i = 0; i < 300; ++i) {
    WalkResp w = Walk(root_, {"dir", "file2"});
    ASSERT_EQ(w.inodes.size(), 2u);
    fd::OwnedFd donated;
    FDID o = Open(w.inodes[1].control_fd, O_RDONLY, &donated);
    ASSERT_TRUE(donated.valid());
    CloseReq c;
    c.fds = {w.inodes[0].control_fd, w.inodes[1].control_fd, o};
    Call(MID::kClose, c);
  }
  EXPECT_EQ(OpenFdCount(), before);
}

// --- StartConnection arguments
// ----------------------------------------------------

class TinyImpl : public ConnectionImpl {
 public:
  TinyImpl(std::vector<MID> mids, uint32_t max) : mids_(mids), max_(max) {}
  absl::StatusOr<MountResult> Mount(absl::string_view) override {
    return syserr::FromErrno(EACCES, "no");
  }
  std::vector<MID> SupportedMessages() const override { return mids_; }
  uint32_t MaxMessageSize() const override { return max_; }

 private:
  std::vector<MID> mids_;
  uint32_t max_;
};

TEST(ServerArgsTest, StartConnectionValidatesItsArguments) {
  int before = OpenFdCount();
  {
    Server server;
    auto start = [&](absl::string_view path, std::vector<MID> mids,
                     uint32_t max) {
      auto pair = unet::Socket::SocketPair(SOCK_STREAM);
      return server.StartConnection(std::move(pair->second), path,
                                    std::make_unique<TinyImpl>(mids, max));
    };
    EXPECT_EQ(syserr::ToErrno(start("relative", {MID::kMount}, 100)), EINVAL);
    EXPECT_EQ(syserr::ToErrno(start("/a/../b", {MID::kMount}, 100)), EINVAL);
    EXPECT_EQ(syserr::ToErrno(start("/tmp", {}, 100)), EINVAL);
    EXPECT_EQ(syserr::ToErrno(start("/tmp", {MID::kMount}, 0)), EINVAL);
    EXPECT_TRUE(start("//tmp//", {MID::kMount}, 100).ok());
  }
  EXPECT_EQ(OpenFdCount(), before);
}

TEST(ServerArgsTest, BackendErrorsReachTheClient) {
  Server server;
  auto pair = unet::Socket::SocketPair(SOCK_STREAM);
  ASSERT_TRUE(server
                  .StartConnection(std::move(pair->second), "/tmp",
                                   std::make_unique<TinyImpl>(
                                       std::vector<MID>{MID::kMount}, 100))
                  .ok());
  RawClient c(pair->first.Release());
  absl::StatusOr<Reply> r = c.CallBytes(1, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->err(), EACCES);
  // A request over this backend's own 100-byte limit is EIO.
  std::vector<uint8_t> big(101);
  EXPECT_EQ(c.CallBytes(1, big)->err(), EIO);
  // A MID it did not advertise is EOPNOTSUPP even though a handler exists.
  EXPECT_EQ(c.CallBytes(3, std::vector<uint8_t>(8))->err(), EOPNOTSUPP);
  absl::StatusOr<Reply> ch = c.CallBytes(2, {});
  EXPECT_EQ(ch->err(), EOPNOTSUPP);
  EXPECT_TRUE(ch->fds.empty());
}

}  // namespace
}  // namespace gvisor::lisafs
