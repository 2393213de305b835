// The devgofer binary (its path is argv[1]) under hostile clients and
// short resources, as a real child process: one connection that takes all
// the FDs it can (RLIMIT_NOFILE lowered), threads that cannot start
// (RLIMIT_NPROC, as an unprivileged user), many idle connections, and peers
// that stall in the middle of a frame. Each time the gofer stays up, other
// connections are served, and the attacker gets a clear error.
//
// Clients wait for answers with SO_RCVTIMEO as a guard only: a gofer that
// never answers fails the test instead of hanging it.

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/messages.h"
#include "testing/raw_client.h"
#include "tools/devgofer/gofer_process.h"
#include "tools/devgofer/options.h"

namespace gvisor::devgofer {
namespace {

using ::gvisor::testing::RawClient;
using ::gvisor::testing::Reply;
using lisafs::FDID;
using lisafs::MID;

const char* g_binary = nullptr;

// kNobody is the unprivileged uid the thread-limit tests run the gofer as
// when they run as root (RLIMIT_NPROC does not apply to root).
constexpr int kNobody = 65534;

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = absl::StrCat("/tmp/limits_test.", getpid(), ".XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    ASSERT_EQ(chmod(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/dir").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/dir/sub").c_str(), 0755), 0);
    fd::OwnedFd f(open((root_ + "/dir/sub/file").c_str(),
                       O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(f.valid());
  }
  void TearDown() override {
    gofer_.reset();
    unlink((root_ + "/dir/sub/file").c_str());
    rmdir((root_ + "/dir/sub").c_str());
    rmdir((root_ + "/dir").c_str());
    rmdir(root_.c_str());
  }

  void StartGofer(std::vector<std::string> flags, rlim_t nofile = 0,
                  int uid = -1) {
    GoferSpawn s;
    s.binary = g_binary;
    s.root = root_;
    // The RPC path: these bounds are the server's, and a donated mount FD
    // (sent, then closed after the reply) would blur the FD counts.
    s.flags = {"--nodonate_mount_fd"};
    s.flags.insert(s.flags.end(), flags.begin(), flags.end());
    s.nofile = nofile;
    s.uid = uid;
    absl::StatusOr<std::unique_ptr<GoferProcess>> g =
        GoferProcess::Start(std::move(s));
    ASSERT_TRUE(g.ok()) << g.status();
    gofer_ = *std::move(g);
  }

  // Connect returns a client connected to the gofer (not mounted).
  std::unique_ptr<RawClient> Connect() {
    absl::StatusOr<fd::OwnedFd> s = gofer_->Connect();
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return nullptr;
    timeval guard = {20, 0};
    setsockopt(s->get(), SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
    return std::make_unique<RawClient>(*std::move(s));
  }

  // Mount mounts c and returns the errno of the answer (0 on success).
  static int Mount(RawClient& c) {
    absl::StatusOr<Reply> r = c.CallBytes(1, {});
    if (!r.ok()) return -1;
    return r->mid == 1 ? 0 : r->err();
  }

  // Walk walks path from FDID 1; the errno of the answer (0 on success,
  // -1 if the connection failed), and the last FDID in *last.
  static int Walk(RawClient& c, std::vector<std::string> path,
                  FDID* last = nullptr) {
    absl::StatusOr<Reply> r =
        c.Call(MID::kWalk, lisafs::WalkReq{.dir_fd = 1, .path = path});
    if (!r.ok()) return -1;
    if (r->mid != 5) return r->err();
    absl::StatusOr<lisafs::WalkResp> w = r->As<lisafs::WalkResp>();
    if (!w.ok() || w->inodes.size() != path.size()) return -2;
    if (last != nullptr) *last = w->inodes.back().control_fd;
    return 0;
  }

  // FStatRoot returns the errno of an FStat of FDID 1.
  static int FStatRoot(RawClient& c) {
    absl::StatusOr<Reply> r = c.Call(MID::kFStat, lisafs::StatReq{.fd = 1});
    if (!r.ok()) return -1;
    return r->mid == 3 ? 0 : r->err();
  }

  // SetNproc sets the gofer's soft RLIMIT_NPROC (at most its hard one). It
  // does so as the gofer's own user, which needs no CAP_SYS_RESOURCE: from
  // a child that switched to kNobody when we are root.
  void SetNproc(rlim_t n) {
    const pid_t target = gofer_->pid();
    const bool switch_user = geteuid() == 0;
    pid_t helper = fork();
    ASSERT_GE(helper, 0);
    if (helper == 0) {
      if (switch_user && (setgroups(0, nullptr) != 0 ||
                          setresgid(kNobody, kNobody, kNobody) != 0 ||
                          setresuid(kNobody, kNobody, kNobody) != 0)) {
        _exit(2);
      }
      rlimit rl;
      if (prlimit(target, RLIMIT_NPROC, nullptr, &rl) != 0) _exit(3);
      rl.rlim_cur = std::min(n, rl.rlim_max);
      _exit(prlimit(target, RLIMIT_NPROC, &rl, nullptr) == 0 ? 0 : 4);
    }
    int status = 0;
    ASSERT_EQ(waitpid(helper, &status, 0), helper);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }

  // StartUnprivileged starts the gofer as a user that RLIMIT_NPROC applies
  // to: kNobody when we are root, else ourselves. Skips when neither works.
  void StartUnprivileged(std::vector<std::string> flags = {}) {
    GoferSpawn s;
    s.binary = g_binary;
    s.root = root_;
    s.flags = std::move(flags);
    s.uid = geteuid() == 0 ? kNobody : -1;
    absl::StatusOr<std::unique_ptr<GoferProcess>> g =
        GoferProcess::Start(std::move(s));
    if (!g.ok()) {
      GTEST_SKIP() << "cannot run devgofer as an unprivileged user here, so "
                      "RLIMIT_NPROC cannot bind it: "
                   << g.status();
    }
    gofer_ = *std::move(g);
  }

  std::string root_;
  std::unique_ptr<GoferProcess> gofer_;
};

// Attack 4: one connection holds FDIDs until it gets EMFILE, within the FD
// reserve of the gofer's RLIMIT_NOFILE. Another connection accepted before
// still Mounts and Walks, a new one is still accepted and served, and the
// first one keeps its FDs and its clear error.
TEST_F(LimitsTest, OneConnectionCannotTakeTheFdsOthersNeed) {
  constexpr rlim_t kNofile = 256;
  ASSERT_NO_FATAL_FAILURE(StartGofer({}, kNofile));
  std::unique_ptr<RawClient> attacker = Connect();
  std::unique_ptr<RawClient> victim = Connect();
  ASSERT_NE(attacker, nullptr);
  ASSERT_NE(victim, nullptr);
  ASSERT_EQ(Mount(*attacker), 0);
  std::vector<FDID> held;
  int err = 0;
  while (held.size() < kNofile) {
    FDID id = 0;
    err = Walk(*attacker, {"dir"}, &id);
    if (err != 0) break;
    held.push_back(id);
  }
  EXPECT_EQ(err, EMFILE) << gofer_->Log();
  // It got most of what the limit allows, but not the reserve (a quarter
  // of 256 here).
  EXPECT_GT(held.size(), 100u);
  EXPECT_LT(held.size(), kNofile - 32);

  // The other connection mounts and walks: from the reserve.
  EXPECT_EQ(Mount(*victim), 0) << gofer_->Log();
  EXPECT_EQ(Walk(*victim, {"dir", "sub", "file"}), 0) << gofer_->Log();
  EXPECT_EQ(FStatRoot(*victim), 0);
  // A new connection is accepted and served too.
  std::unique_ptr<RawClient> late = Connect();
  ASSERT_NE(late, nullptr);
  EXPECT_EQ(Mount(*late), 0) << gofer_->Log();
  EXPECT_EQ(Walk(*late, {"dir", "sub"}), 0) << gofer_->Log();

  // The attacker still gets its clear error, and what it holds still works.
  EXPECT_EQ(Walk(*attacker, {"dir"}), EMFILE);
  EXPECT_EQ(FStatRoot(*attacker), 0);
  // Closing FDIDs makes room again.
  lisafs::CloseReq close;
  close.fds.assign(held.end() - 40, held.end());
  ASSERT_TRUE(attacker->Call(MID::kClose, close).ok());
  EXPECT_EQ(Walk(*attacker, {"dir"}), 0);
  EXPECT_TRUE(absl::StrContains(gofer_->Log(), "keeps the last"))
      << gofer_->Log();
  EXPECT_TRUE(gofer_->Running());
}

// The per-connection FDID cap is EMFILE for that connection alone.
TEST_F(LimitsTest, PerConnectionFdidCapIsEMFILE) {
  ASSERT_NO_FATAL_FAILURE(StartGofer({"--max_fdids_per_connection=20"}));
  std::unique_ptr<RawClient> a = Connect();
  std::unique_ptr<RawClient> b = Connect();
  ASSERT_EQ(Mount(*a), 0);
  ASSERT_EQ(Mount(*b), 0);
  // The root and 19 walked FDIDs; a walk of two more does not fit at all.
  for (int i = 0; i < 18; ++i) ASSERT_EQ(Walk(*a, {"dir"}), 0) << i;
  EXPECT_EQ(Walk(*a, {"dir", "sub"}), EMFILE);
  EXPECT_EQ(Walk(*a, {"dir"}), 0);
  EXPECT_EQ(Walk(*a, {"dir"}), EMFILE);
  EXPECT_EQ(Mount(*a), EMFILE);
  // The other connection has its own cap.
  EXPECT_EQ(Walk(*b, {"dir", "sub", "file"}), 0);
  EXPECT_TRUE(absl::StrContains(gofer_->Log(), "may hold 20")) << gofer_->Log();
}

// Attack 5: a Channel request when no thread can start gets EAGAIN; the
// gofer stays up and serves this connection and others.
TEST_F(LimitsTest, AChannelWhoseThreadCannotStartIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartUnprivileged());
  if (gofer_ == nullptr) return;
  std::unique_ptr<RawClient> a = Connect();
  ASSERT_EQ(Mount(*a), 0);
  const int threads = gofer_->Threads();
  ASSERT_NO_FATAL_FAILURE(SetNproc(1));
  absl::StatusOr<Reply> ch = a->CallBytes(2, {});
  ASSERT_TRUE(ch.ok()) << ch.status() << "\n" << gofer_->Log();
  EXPECT_EQ(ch->err(), EAGAIN);
  EXPECT_TRUE(ch->fds.empty());
  EXPECT_EQ(FStatRoot(*a), 0);
  // New connections need no thread.
  std::unique_ptr<RawClient> b = Connect();
  EXPECT_EQ(Mount(*b), 0) << gofer_->Log();
  EXPECT_EQ(Walk(*b, {"dir", "sub"}), 0);
  EXPECT_EQ(gofer_->Threads(), threads);
  EXPECT_TRUE(absl::StrContains(gofer_->Log(), "Channel refused"))
      << gofer_->Log();
  // Once threads can start again, so can channels.
  ASSERT_NO_FATAL_FAILURE(SetNproc(RLIM_INFINITY));
  ch = a->CallBytes(2, {});
  ASSERT_TRUE(ch.ok());
  EXPECT_EQ(ch->mid, 2) << ch->err();
  EXPECT_TRUE(gofer_->Running());
}

// Attack 5: a first connection when no worker thread can start is refused
// (closed, with a log line); the gofer stays up and serves the next one once
// threads can start.
TEST_F(LimitsTest, AConnectionIsRefusedWhenNoWorkerCanStart) {
  ASSERT_NO_FATAL_FAILURE(StartUnprivileged());
  if (gofer_ == nullptr) return;
  ASSERT_NO_FATAL_FAILURE(SetNproc(1));
  std::unique_ptr<RawClient> a = Connect();
  absl::StatusOr<Reply> r = a->CallBytes(1, {});
  EXPECT_FALSE(r.ok()) << "mounted with no worker";
  EXPECT_TRUE(gofer_->Running());
  ASSERT_NO_FATAL_FAILURE(SetNproc(RLIM_INFINITY));
  std::unique_ptr<RawClient> b = Connect();
  EXPECT_EQ(Mount(*b), 0) << gofer_->Log();
  EXPECT_TRUE(absl::StrContains(gofer_->Log(), "no worker thread"))
      << gofer_->Log();
}

// An idle mounted connection costs no thread and one FD: the gofer has as
// many threads with 200 connections as with one.
TEST_F(LimitsTest, IdleConnectionsCostNoThread) {
  ASSERT_NO_FATAL_FAILURE(StartGofer({}));
  std::vector<std::unique_ptr<RawClient>> conns;
  conns.push_back(Connect());
  ASSERT_EQ(Mount(*conns.back()), 0);
  const int threads = gofer_->Threads();
  const int fds = gofer_->OpenFds();
  for (int i = 1; i < 200; ++i) {
    conns.push_back(Connect());
    ASSERT_EQ(Mount(*conns.back()), 0) << i;
  }
  EXPECT_EQ(gofer_->Threads(), threads);
  // One FD each, its socket: the mount point's FD is shared.
  EXPECT_EQ(gofer_->OpenFds() - fds, 199);
  for (auto& c : conns) EXPECT_EQ(FStatRoot(*c), 0);
}

// A peer that sends half a frame and stalls holds no worker (with one
// worker, others are still served) and only the bytes it sent, not the
// payload length it announced.
TEST_F(LimitsTest, StalledPeersHoldNoWorkerAndLittleMemory) {
  constexpr int kStalled = 100;
  ASSERT_NO_FATAL_FAILURE(StartGofer({"--workers=1"}));
  std::unique_ptr<RawClient> control = Connect();
  ASSERT_EQ(Mount(*control), 0);
  const long rss = gofer_->RssKiB();
  const int threads = gofer_->Threads();
  std::vector<std::unique_ptr<RawClient>> stalled;
  for (int i = 0; i < kStalled; ++i) {
    stalled.push_back(Connect());
    // A header announcing the largest payload, and ten bytes of it.
    uint8_t h[18] = {0x00, 0xf0, 0x1f, 0x00, 5, 0, 0, 0};
    ASSERT_TRUE(stalled.back()->WriteBytes(h).ok());
  }
  // The one worker reached every stalled peer before this request, which
  // came last (the epoll ready list is in order).
  std::unique_ptr<RawClient> late = Connect();
  EXPECT_EQ(Mount(*late), 0);
  EXPECT_EQ(Walk(*control, {"dir", "sub", "file"}), 0);
  EXPECT_EQ(gofer_->Threads(), threads);
  // A first payload chunk (4 KiB) each and the connection itself, far from
  // the 2 MiB announced (the bound leaves room for ASan's own overhead).
  EXPECT_LT(gofer_->RssKiB() - rss, kStalled * 128) << gofer_->RssKiB();
  EXPECT_TRUE(gofer_->Running());
}

TEST(LimitFlagsTest, ServerBoundsComeFromFlags) {
  absl::StatusOr<Options> o = ParseOptions(
      {"--listen=/tmp/s", "--workers=3", "--max_fdids_per_connection=100",
       "--fd_reserve=50", "--fd_reserve_per_connection=5",
       "--max_channel_threads=7", "--shutdown_grace=250ms"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->server.workers, 3u);
  EXPECT_EQ(o->server.max_fdids_per_connection, 100u);
  EXPECT_EQ(o->server.fd_reserve, 50u);
  EXPECT_EQ(o->server.fd_reserve_per_connection, 5u);
  EXPECT_EQ(o->server.max_channel_threads, 7u);
  EXPECT_EQ(o->server.shutdown_grace, absl::Milliseconds(250));
  o = ParseOptions({"--listen=/tmp/s"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->server.workers, lisafs::ServerOptions::kDefaultWorkers);
  EXPECT_EQ(o->server.max_fdids_per_connection, 8192u);
  for (const char* bad : {"--workers=-1", "--fd_reserve=x",
                          "--shutdown_grace=5", "--shutdown_grace=-1s"}) {
    EXPECT_FALSE(ParseOptions({"--listen=/tmp/s", bad}).ok()) << bad;
  }
}

}  // namespace
}  // namespace gvisor::devgofer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    fprintf(stderr, "usage: limits_test PATH_TO_DEVGOFER\n");
    return 2;
  }
  gvisor::devgofer::g_binary = argv[1];
  return RUN_ALL_TESTS();
}
