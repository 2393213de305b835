// Hostile clients against the server's file tree, end to end: a real
// lisafs::Server with the fsgofer backend over real directories, reached
// through real socket pairs by raw clients (testing/raw_client.h).
//
//  * deep chains (a stack overflow in the Node teardown, and the depth
//    bound ConnectionOptions::max_tree_depth);
//  * a RenameAt that, after a rename done on the host behind the server's
//    back, would make a Node its own ancestor;
//  * host calls that could block a handler (FIFO opens, connects to a
//    socket whose backlog is full).
//
// The server runs in this process, so a crash in it fails the test, and
// every test checks at the end that the gofer still serves a new
// connection.

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/fsgofer/fsgofer.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/server.h"
#include "pkg/lisafs/wire.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"
#include "testing/gofer_fixture.h"
#include "testing/raw_client.h"

namespace gvisor::lisafs {
namespace {

using ::gvisor::testing::RawClient;
using ::gvisor::testing::Reply;

// kBatch is how many components one Walk of a deep chain takes; the client
// then closes all but the last FDID, so it never holds more FDs than this.
constexpr size_t kBatch = 200;

// RemoveChain removes dir/name/name/.../name (a chain of any depth, with
// nothing else in it) with O(depth) syscalls and no long paths: it lifts
// the second level up in place of the first, one level at a time.
void RemoveChain(int dir, const std::string& name) {
  const std::string second = name + "/" + name;
  const std::string tmp = name + ".tmp";
  while (renameat(dir, second.c_str(), dir, tmp.c_str()) == 0) {
    ASSERT_EQ(unlinkat(dir, name.c_str(), AT_REMOVEDIR), 0) << errno;
    ASSERT_EQ(renameat(dir, tmp.c_str(), dir, name.c_str()), 0) << errno;
  }
  unlinkat(dir, name.c_str(), AT_REMOVEDIR);
}

// MakeChain makes dir/name/.../name, n levels deep, on the host.
void MakeChain(int dir, const std::string& name, int n) {
  fd::OwnedFd cur(openat(dir, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(mkdirat(cur.get(), name.c_str(), 0755), 0) << errno;
    cur.reset(openat(cur.get(), name.c_str(),
                     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    ASSERT_TRUE(cur.valid()) << errno;
  }
}

// ChainDepth returns how many levels dir/name/name/... has on the host.
uint32_t ChainDepth(int dir, const std::string& name) {
  uint32_t n = 0;
  fd::OwnedFd cur(openat(dir, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  while (true) {
    fd::OwnedFd next(openat(cur.get(), name.c_str(),
                            O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return n;
    cur = std::move(next);
    ++n;
  }
}

class TreeAttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = ::gvisor::testing::OpenFdCount();
    // On a tmpfs if there is one (deep chains are much faster to make and
    // remove there than on a journalling filesystem); a short path either
    // way, so that socket paths fit in sun_path.
    const char* dir =
        access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string tmpl = absl::StrCat(dir, "/tree.", getpid(), ".XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << errno;
    base_ = tmpl;
    base_fd_.reset(open(base_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(base_fd_.valid());
    server_ = std::make_unique<Server>();
  }

  void TearDown() override {
    clients_.clear();
    server_->Shutdown();
    server_->Wait();
    server_.reset();
    for (const std::string& c : chains_) RemoveChain(base_fd_.get(), c);
    base_fd_.reset();
    ::gvisor::testing::RemoveTree(base_);
    EXPECT_EQ(::gvisor::testing::OpenFdCount(), fds_before_) << "FD leak";
  }

  // Depth is the depth of the mount point (base_) in the server's tree.
  uint32_t BaseDepth() const {
    uint32_t d = 0;
    for (char ch : base_) d += ch == '/';
    return d;
  }

  // Connect starts a connection on base_ with options and returns a mounted
  // client; *root is its root FDID.
  RawClient* Connect(ConnectionOptions options, FDID* root) {
    absl::StatusOr<std::pair<unet::Socket, unet::Socket>> pair =
        unet::Socket::SocketPair(SOCK_STREAM);
    EXPECT_TRUE(pair.ok()) << pair.status();
    if (!pair.ok()) return nullptr;
    fsgofer::Options o;
    o.host_fifo_open = true;
    o.host_uds_open = true;
    o.host_uds_create = true;
    absl::Status s = server_->StartConnection(
        std::move(pair->second), base_,
        std::make_unique<fsgofer::Connection>(o), options);
    EXPECT_TRUE(s.ok()) << s;
    if (!s.ok()) return nullptr;
    clients_.push_back(std::make_unique<RawClient>(pair->first.Release()));
    RawClient* c = clients_.back().get();
    absl::StatusOr<Reply> r =
        c->CallBytes(static_cast<uint16_t>(MID::kMount), {});
    EXPECT_TRUE(r.ok() && r->mid == 1);
    absl::StatusOr<MountResp> m = r->As<MountResp>();
    EXPECT_TRUE(m.ok());
    *root = m.ok() ? m->root.control_fd : 0;
    return c;
  }

  template <WireMessage T>
  Reply Call(RawClient* c, MID mid, const T& req) {
    absl::StatusOr<Reply> r = c->Call(mid, req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : Reply{};
  }

  // Walk walks path from dir; *err is the errno (0 on success).
  WalkResp Walk(RawClient* c, FDID dir, std::vector<std::string> path,
                int* err = nullptr) {
    WalkReq req;
    req.dir_fd = dir;
    req.path = std::move(path);
    Reply r = Call(c, MID::kWalk, req);
    if (err != nullptr) {
      *err = r.err();
    } else {
      EXPECT_EQ(r.err(), 0);
    }
    absl::StatusOr<WalkResp> w = r.As<WalkResp>();
    return (r.err() == 0 && w.ok()) ? *std::move(w) : WalkResp{};
  }

  // WalkTo walks path and returns the last FDID (0 unless it got there).
  FDID WalkTo(RawClient* c, FDID dir, std::vector<std::string> path) {
    size_t n = path.size();
    WalkResp w = Walk(c, dir, std::move(path));
    if (w.status != WalkStatus::kSuccess || w.inodes.size() != n || n == 0) {
      ADD_FAILURE() << "walk did not reach the end";
      return 0;
    }
    return w.inodes.back().control_fd;
  }

  void Close(RawClient* c, std::vector<FDID> fds) {
    CloseReq req;
    req.fds = std::move(fds);
    EXPECT_EQ(Call(c, MID::kClose, req).err(), 0);
  }

  // WalkChain walks n levels of name/name/... from dir in kBatch steps,
  // closing every FDID but the deepest as it goes, as a client that keeps
  // only the deepest does. Returns the deepest FDID, or 0 and the errno in
  // *err when a Walk failed (the FDIDs so far are closed then).
  FDID WalkChain(RawClient* c, FDID dir, const std::string& name, size_t n,
                 int* err) {
    FDID cur = dir;
    *err = 0;
    for (size_t done = 0; done < n;) {
      size_t step = std::min(kBatch, n - done);
      WalkResp w = Walk(c, cur, std::vector<std::string>(step, name), err);
      std::vector<FDID> drop;
      if (cur != dir) drop.push_back(cur);
      if (*err != 0) {
        Close(c, drop);
        return 0;
      }
      if (w.status != WalkStatus::kSuccess || w.inodes.size() != step) {
        ADD_FAILURE() << "chain ends early at " << done;
        return 0;
      }
      for (size_t i = 0; i + 1 < w.inodes.size(); ++i) {
        drop.push_back(w.inodes[i].control_fd);
      }
      Close(c, drop);
      cur = w.inodes.back().control_fd;
      done += step;
    }
    return cur;
  }

  // Mkdir makes name in dir and returns its FDID (0 and *err on failure).
  FDID Mkdir(RawClient* c, FDID dir, const std::string& name, int* err) {
    MkdirAtReq req;
    req.common.dir_fd = dir;
    req.common.mode = 0755;
    req.name = name;
    Reply r = Call(c, MID::kMkdirAt, req);
    *err = r.err();
    if (*err != 0) return 0;
    absl::StatusOr<Inode> in = r.As<Inode>();
    EXPECT_TRUE(in.ok());
    return in.ok() ? in->control_fd : 0;
  }

  int Rename(RawClient* c, FDID old_dir, const std::string& old_name,
             FDID new_dir, const std::string& new_name, uint32_t flags = 0) {
    RenameAt2Req req;
    req.old_dir = old_dir;
    req.new_dir = new_dir;
    req.old_name = old_name;
    req.new_name = new_name;
    req.flags = flags;
    if (flags == 0) {
      RenameAtReq r{req.old_dir, req.new_dir, req.old_name, req.new_name};
      return Call(c, MID::kRenameAt, r).err();
    }
    return Call(c, MID::kRenameAt2, req).err();
  }

  // ExpectServes checks that the gofer still serves: a new connection
  // mounts, walks and renames (which needs the server-wide rename lock).
  void ExpectServes() {
    FDID root = 0;
    RawClient* c = Connect({}, &root);
    ASSERT_NE(c, nullptr);
    ASSERT_NE(root, 0u);
    ASSERT_EQ(mkdirat(base_fd_.get(), "alive", 0755), 0);
    EXPECT_NE(WalkTo(c, root, {"alive"}), 0u);
    EXPECT_EQ(Rename(c, root, "alive", root, "alive2"), 0);
    struct stat st;
    EXPECT_EQ(fstatat(base_fd_.get(), "alive2", &st, 0), 0);
  }

  bool HostExists(const std::string& rel) {
    struct stat st;
    return fstatat(base_fd_.get(), rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  }

  std::string base_;
  fd::OwnedFd base_fd_;
  std::unique_ptr<Server> server_;
  std::vector<std::unique_ptr<RawClient>> clients_;
  // chains_ are the names of chains below base_ that TearDown removes.
  std::vector<std::string> chains_;
  int fds_before_ = 0;
};

// Attack 1 with the default bound: MkdirAt after MkdirAt, keeping only the
// deepest FDID. The server refuses to go deeper than max_tree_depth with
// ENAMETOOLONG, makes nothing on the host then, and survives the close.
TEST_F(TreeAttackTest, MkdirChainStopsAtTheDefaultDepthBound) {
  const uint32_t max = ConnectionOptions{}.max_tree_depth;
  ASSERT_EQ(max, 4096u);
  FDID root = 0;
  RawClient* c = Connect({}, &root);
  ASSERT_NE(c, nullptr);
  chains_.push_back("d");
  FDID cur = root;
  uint32_t depth = BaseDepth();
  int err = 0;
  for (; depth < max; ++depth) {
    FDID next = Mkdir(c, cur, "d", &err);
    ASSERT_EQ(err, 0) << "at depth " << depth;
    if (cur != root) Close(c, {cur});
    cur = next;
  }
  // cur is at depth max: no child of it may be made.
  EXPECT_EQ(Mkdir(c, cur, "d", &err), 0u);
  EXPECT_EQ(err, ENAMETOOLONG);
  // The refusal came before the host call: the host chain ends at max.
  EXPECT_EQ(ChainDepth(base_fd_.get(), "d"), max - BaseDepth());
  Close(c, {cur});
  ExpectServes();
}

// Attack 1 through Walk: a deep chain that exists on the host can be walked
// down to max_tree_depth and no further, by one Walk or step by step.
TEST_F(TreeAttackTest, WalkStopsAtTheDepthBound) {
  constexpr uint32_t kMax = 1000;
  const uint32_t levels = kMax - BaseDepth();
  chains_.push_back("d");
  MakeChain(base_fd_.get(), "d", levels + 5);
  FDID root = 0;
  RawClient* c = Connect({.max_tree_depth = kMax}, &root);
  ASSERT_NE(c, nullptr);
  int err = 0;
  // A walk past the bound fails with ENAMETOOLONG (its last Walk as a
  // whole, leaving no FDIDs).
  EXPECT_EQ(WalkChain(c, root, "d", levels + 1, &err), 0u);
  EXPECT_EQ(err, ENAMETOOLONG);
  FDID deepest = WalkChain(c, root, "d", levels, &err);
  ASSERT_EQ(err, 0);
  ASSERT_NE(deepest, 0u);
  Walk(c, deepest, {"d"}, &err);
  EXPECT_EQ(err, ENAMETOOLONG);
  // WalkStat makes no Nodes but keeps to the same bound.
  WalkReq ws;
  ws.dir_fd = deepest;
  ws.path = {"d"};
  EXPECT_EQ(Call(c, MID::kWalkStat, ws).err(), ENAMETOOLONG);
  ws.path = {""};
  EXPECT_EQ(Call(c, MID::kWalkStat, ws).err(), 0);
  // Creates of every kind are refused at the bound.
  SymlinkAtReq sl;
  sl.dir_fd = deepest;
  sl.name = "l";
  sl.target = "x";
  EXPECT_EQ(Call(c, MID::kSymlinkAt, sl).err(), ENAMETOOLONG);
  OpenCreateAtReq oc;
  oc.common.dir_fd = deepest;
  oc.common.mode = 0644;
  oc.name = "f";
  oc.flags = O_RDWR;
  EXPECT_EQ(Call(c, MID::kOpenCreateAt, oc).err(), ENAMETOOLONG);
  MknodAtReq mk;
  mk.common.dir_fd = deepest;
  mk.common.mode = S_IFREG | 0644;
  mk.name = "n";
  EXPECT_EQ(Call(c, MID::kMknodAt, mk).err(), ENAMETOOLONG);
  BindAtReq b;
  b.common.dir_fd = deepest;
  b.common.mode = 0644;
  b.sock_type = SOCK_STREAM;
  b.name = "s";
  EXPECT_EQ(Call(c, MID::kBindAt, b).err(), ENAMETOOLONG);
  Close(c, {deepest});
  ExpectServes();
}

// Attack 1 at depth: with a bound raised past it, a client walks a chain
// of 40,000 directories, keeps only the deepest FDID and closes it. Before
// the teardown was iterative this overflowed the server's stack.
TEST_F(TreeAttackTest, ClosingTheDeepestOfAVeryDeepChainKeepsTheGoferUp) {
  constexpr uint32_t kLevels = 40000;
  chains_.push_back("d");
  MakeChain(base_fd_.get(), "d", kLevels);
  FDID root = 0;
  RawClient* c = Connect({.max_tree_depth = 100000}, &root);
  ASSERT_NE(c, nullptr);
  int err = 0;
  FDID deepest = WalkChain(c, root, "d", kLevels, &err);
  ASSERT_EQ(err, 0);
  ASSERT_NE(deepest, 0u);
  // A path-using RPC at that depth is bounded and answers.
  lisafs::FListXattrReq lx;
  lx.fd = deepest;
  Call(c, MID::kFListXattr, lx);
  Close(c, {deepest});
  // The same connection still answers, and so does a new one.
  EXPECT_NE(WalkTo(c, root, {"d"}), 0u);
  ExpectServes();
}

// Attack 6. The client holds A = /a, B = /a/b and L = /a/b/l (a symlink,
// whose xattrs the server reaches by rebuilding its path). On the host,
// /a/b moves to /b. Now RenameAt(root, "a", B, "c") is legal on the host,
// but in the server's tree B lies below A: moving A below B would make
// each the other's parent, and every later path rebuild through them
// looped forever under the rename lock. The server refuses it with EINVAL
// before touching the host.
class RenameCycleTest : public TreeAttackTest {
 protected:
  void SetUp() override {
    TreeAttackTest::SetUp();
    ASSERT_EQ(mkdirat(base_fd_.get(), "a", 0755), 0);
    ASSERT_EQ(mkdirat(base_fd_.get(), "a/b", 0755), 0);
    ASSERT_EQ(symlinkat("x", base_fd_.get(), "a/b/l"), 0);
    c_ = Connect({}, &root_);
    ASSERT_NE(c_, nullptr);
    a_ = WalkTo(c_, root_, {"a"});
    b_ = WalkTo(c_, a_, {"b"});
    l_ = WalkTo(c_, b_, {"l"});
    ASSERT_NE(l_, 0u);
    // Behind the server's back.
    ASSERT_EQ(renameat(base_fd_.get(), "a/b", base_fd_.get(), "b"), 0);
  }

  // ListXattrAnswers checks that a path-rebuilding RPC on L answers (the
  // path the tree knows, /a/b, is gone on the host: ENOENT).
  void ListXattrAnswers() {
    FListXattrReq req;
    req.fd = l_;
    EXPECT_EQ(Call(c_, MID::kFListXattr, req).err(), ENOENT);
  }

  RawClient* c_ = nullptr;
  FDID root_ = 0, a_ = 0, b_ = 0, l_ = 0;
};

TEST_F(RenameCycleTest, RenameOfADirectoryBelowItsOwnNodeIsRefused) {
  EXPECT_EQ(Rename(c_, root_, "a", b_, "c"), EINVAL);
  // Nothing moved on the host.
  EXPECT_TRUE(HostExists("a"));
  EXPECT_FALSE(HostExists("b/c"));
  ListXattrAnswers();
  ExpectServes();
}

TEST_F(RenameCycleTest, ExchangeThatWouldMakeACycleIsRefusedEitherWay) {
  ASSERT_EQ(mkdirat(base_fd_.get(), "b/c", 0755), 0);
  // A would move below B.
  EXPECT_EQ(Rename(c_, root_, "a", b_, "c", RENAME_EXCHANGE), EINVAL);
  // Walk B/c so that the tree knows it: then A is the replaced Node that
  // would move below B.
  FDID bc = WalkTo(c_, b_, {"c"});
  ASSERT_NE(bc, 0u);
  EXPECT_EQ(Rename(c_, b_, "c", root_, "a", RENAME_EXCHANGE), EINVAL);
  EXPECT_TRUE(HostExists("a"));
  EXPECT_TRUE(HostExists("b/c"));
  ListXattrAnswers();
  ExpectServes();
}

TEST_F(RenameCycleTest, RenamesThatKeepTheTreeATreeStillWork) {
  // The tree's stale view does no harm to renames that keep it a tree:
  // A's entry "b" is gone on the host (ENOENT, nothing changes)...
  EXPECT_EQ(Rename(c_, a_, "b", root_, "b2"), ENOENT);
  // ... and A itself may move elsewhere; L's path follows it in the tree.
  ASSERT_EQ(mkdirat(base_fd_.get(), "a/b", 0755), 0);
  ASSERT_EQ(symlinkat("x", base_fd_.get(), "a/b/l"), 0);
  EXPECT_EQ(Rename(c_, root_, "a", root_, "z"), 0);
  FListXattrReq req;
  req.fd = l_;
  EXPECT_EQ(Call(c_, MID::kFListXattr, req).err(), 0);
  ExpectServes();
}

// A rename that would put a Node of the moved subtree deeper than
// max_tree_depth is refused with ENAMETOOLONG before the host rename.
TEST_F(TreeAttackTest, RenameBelowTheDepthBoundIsRefused) {
  const uint32_t max = BaseDepth() + 6;
  chains_.push_back("d");
  MakeChain(base_fd_.get(), "d", 5);
  MakeChain(base_fd_.get(), "e", 3);
  chains_.push_back("e");
  FDID root = 0;
  RawClient* c = Connect({.max_tree_depth = max}, &root);
  ASSERT_NE(c, nullptr);
  FDID d5 = WalkTo(c, root, {"d", "d", "d", "d", "d"});
  FDID e3 = WalkTo(c, root, {"e", "e", "e"});
  ASSERT_NE(d5, 0u);
  ASSERT_NE(e3, 0u);
  // e (height 2 below it) under d/d/d/d/d: e/e/e at depth base + 8.
  FDID d3 = WalkTo(c, root, {"d", "d", "d"});
  EXPECT_EQ(Rename(c, root, "e", d5, "e"), ENAMETOOLONG);
  EXPECT_TRUE(HostExists("e/e/e"));
  // One level up it fits exactly: e/e/e at depth base + 6.
  EXPECT_EQ(Rename(c, root, "e", d3, "x"), 0);
  EXPECT_TRUE(HostExists("d/d/d/x/e/e"));
  // Back where TearDown expects it.
  ASSERT_EQ(renameat(base_fd_.get(), "d/d/d/x", base_fd_.get(), "e"), 0);
  Close(c, {d5, e3, d3});
  ExpectServes();
}

// Host calls that could block a handler. A blocked handler holds the
// server-wide rename lock shared (every RenameAt of every connection then
// waits), stalls its connection and holds up the connection's teardown.

// Opening a FIFO that has no writer for reading would block in open(2)
// without O_NONBLOCK; the server answers at once, donates a non-blocking
// FD and goes on serving the connection.
TEST_F(TreeAttackTest, OpenOfAFifoWithoutWriterAnswersAtOnce) {
  ASSERT_EQ(mkfifoat(base_fd_.get(), "fifo", 0644), 0);
  FDID root = 0;
  RawClient* c = Connect({}, &root);
  ASSERT_NE(c, nullptr);
  FDID fifo = WalkTo(c, root, {"fifo"});
  ASSERT_NE(fifo, 0u);
  OpenAtReq req;
  req.fd = fifo;
  req.flags = O_RDONLY;
  Reply r = Call(c, MID::kOpenAt, req);
  ASSERT_EQ(r.err(), 0);
  ASSERT_EQ(r.fds.size(), 1u);
  EXPECT_NE(fcntl(r.fds[0].get(), F_GETFL) & O_NONBLOCK, 0);
  absl::StatusOr<OpenAtResp> o = r.As<OpenAtResp>();
  ASSERT_TRUE(o.ok());
  // The connection goes on: a write open, an FStat, a Close.
  req.flags = O_WRONLY;
  Reply w = Call(c, MID::kOpenAt, req);
  EXPECT_EQ(w.err(), 0);
  StatReq st;
  st.fd = o->open_fd;
  EXPECT_EQ(Call(c, MID::kFStat, st).err(), 0);
  Close(c, {o->open_fd, fifo});
  ExpectServes();
}

// Connecting to a host socket whose listen backlog is full would block in
// connect(2) until the listener accepts, which a hostile client that made
// the socket (BindAt, Listen, never Accept) can see to. The server's
// socket is non-blocking: such a Connect fails with EAGAIN.
TEST_F(TreeAttackTest, ConnectToAFullBacklogFailsWithEagain) {
  FDID root = 0;
  RawClient* c = Connect({}, &root);
  ASSERT_NE(c, nullptr);
  BindAtReq b;
  b.common.dir_fd = root;
  b.common.mode = 0600;
  b.sock_type = SOCK_STREAM;
  b.name = "sock";
  Reply br = Call(c, MID::kBindAt, b);
  ASSERT_EQ(br.err(), 0);
  absl::StatusOr<BindAtResp> bound = br.As<BindAtResp>();
  ASSERT_TRUE(bound.ok());
  ListenReq l;
  l.fd = bound->bound_socket_fd;
  l.backlog = 0;
  ASSERT_EQ(Call(c, MID::kListen, l).err(), 0);
  ConnectReq req;
  req.fd = bound->child.control_fd;
  req.sock_type = SOCK_STREAM;
  // The kernel queues at most backlog + 1 connections; the next one would
  // block.
  std::vector<Reply> connected;
  int err = 0;
  for (int i = 0; i < 8 && err == 0; ++i) {
    Reply r = Call(c, MID::kConnect, req);
    err = r.err();
    if (err == 0) connected.push_back(std::move(r));
  }
  EXPECT_EQ(err, EAGAIN);
  EXPECT_LE(connected.size(), 2u);
  for (const Reply& r : connected) {
    ASSERT_EQ(r.fds.size(), 1u);
    EXPECT_NE(fcntl(r.fds[0].get(), F_GETFL) & O_NONBLOCK, 0);
  }
  ExpectServes();
}

}  // namespace
}  // namespace gvisor::lisafs
