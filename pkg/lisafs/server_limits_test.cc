// The event-driven server's bounds (ServerOptions), in process over real
// socket pairs: a turn answers at most frames_per_turn requests, a peer
// that stalls mid-frame or does not read its answers holds no worker and
// only bounded memory, a connection whose channel thread is busy does not
// hold a worker while it closes, and Shutdown does not wait forever on a
// request stuck in the kernel.
//
// To order what the workers do without sleeping, these tests run one
// worker and park it in a backend call that blocks on a pipe (GateImpl):
// while it is parked, the test lines up what it wants on other
// connections; the epoll ready list then serves them in the order their
// bytes arrived.

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/fsgofer/fsgofer.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/server.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"
#include "testing/raw_client.h"

namespace gvisor::lisafs {
namespace {

using ::gvisor::testing::OpenFdCount;
using ::gvisor::testing::RawChannel;
using ::gvisor::testing::RawClient;
using ::gvisor::testing::Reply;

// Gate is a pipe a backend call blocks on until Open writes to it; entered
// is fulfilled once the call is blocked there (or about to be).
struct Gate {
  Gate() {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    r = fd::OwnedFd(p[0]);
    w = fd::OwnedFd(p[1]);
  }
  void Open() { EXPECT_EQ(write(w.get(), "x", 1), 1); }
  fd::OwnedFd r, w;
  std::promise<void> entered;
};

// GateImpl is a backend whose Mount blocks on gate (if any) and then fails
// with EACCES. It advertises Mount and Channel only: any other MID is
// EOPNOTSUPP at once.
class GateImpl : public ConnectionImpl {
 public:
  explicit GateImpl(Gate* gate, uint32_t max = 1 << 20)
      : gate_(gate), max_(max) {}
  absl::StatusOr<MountResult> Mount(absl::string_view) override {
    if (gate_ != nullptr) {
      gate_->entered.set_value();
      char c;
      while (read(gate_->r.get(), &c, 1) < 0 && errno == EINTR) {
      }
    }
    return syserr::FromErrno(EACCES, "gated");
  }
  std::vector<MID> SupportedMessages() const override {
    return {MID::kMount, MID::kChannel};
  }
  uint32_t MaxMessageSize() const override { return max_; }

 private:
  Gate* const gate_;
  const uint32_t max_;
};

// kAnswer is the size of an Error answer frame.
constexpr int kAnswer = 8 + 4;

class ServerLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override { fds_before_ = OpenFdCount(); }
  void TearDown() override {
    server_.reset();
    EXPECT_EQ(OpenFdCount(), fds_before_) << "FD leak";
  }

  void Start(ServerOptions options) {
    server_ = std::make_unique<Server>(options);
  }

  // Connect starts a connection on backend and returns its client end.
  std::unique_ptr<RawClient> Connect(std::unique_ptr<ConnectionImpl> backend,
                                     absl::string_view path = "/tmp") {
    absl::StatusOr<std::pair<unet::Socket, unet::Socket>> pair =
        unet::Socket::SocketPair(SOCK_STREAM);
    EXPECT_TRUE(pair.ok());
    EXPECT_TRUE(
        server_
            ->StartConnection(std::move(pair->second), path, std::move(backend))
            .ok());
    return std::make_unique<RawClient>(pair->first.Release());
  }

  // Frame is a whole request frame with an empty payload.
  static std::vector<uint8_t> Frame(uint16_t mid) {
    std::vector<uint8_t> f(8, 0);
    f[4] = static_cast<uint8_t>(mid);
    return f;
  }

  // Unread returns how many answer bytes wait on c's socket.
  static int Unread(const RawClient& c) {
    int n = -1;
    EXPECT_EQ(ioctl(c.fd(), FIONREAD, &n), 0);
    return n;
  }

  int fds_before_ = 0;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerLimitsTest, ATurnAnswersAtMostFramesPerTurn) {
  Start(ServerOptions{.workers = 1, .frames_per_turn = 4});
  Gate first, last;
  std::unique_ptr<RawClient> g = Connect(std::make_unique<GateImpl>(&first));
  std::unique_ptr<RawClient> p = Connect(std::make_unique<GateImpl>(nullptr));
  std::unique_ptr<RawClient> c = Connect(std::make_unique<GateImpl>(&last));
  ASSERT_TRUE(g->WriteBytes(Frame(1)).ok());
  first.entered.get_future().wait();
  // While the only worker is parked: 40 pipelined requests on p, then one
  // on c that parks the worker again.
  std::vector<uint8_t> burst;
  for (int i = 0; i < 40; ++i) {
    std::vector<uint8_t> f = Frame(3);
    burst.insert(burst.end(), f.begin(), f.end());
  }
  ASSERT_TRUE(p->WriteBytes(burst).ok());
  ASSERT_TRUE(c->WriteBytes(Frame(1)).ok());
  first.Open();
  last.entered.get_future().wait();
  // p had one turn of four answers before c's turn came.
  EXPECT_EQ(Unread(*p), 4 * kAnswer);
  last.Open();
  for (int i = 0; i < 40; ++i) {
    absl::StatusOr<Reply> r = p->ReadReply();
    ASSERT_TRUE(r.ok()) << i;
    EXPECT_EQ(r->err(), EOPNOTSUPP);
  }
  EXPECT_EQ(g->ReadReply()->err(), EACCES);
  EXPECT_EQ(c->ReadReply()->err(), EACCES);
}

TEST_F(ServerLimitsTest, APartialFrameHoldsWhatArrivedNotWhatWasAnnounced) {
  constexpr int kStalled = 50;
  Start(ServerOptions{.workers = 1});
  std::vector<std::unique_ptr<RawClient>> stalled;
  for (int i = 0; i < kStalled; ++i) {
    stalled.push_back(Connect(std::make_unique<GateImpl>(nullptr, 1 << 20)));
    // A header announcing 1,000,000 bytes, and ten of them.
    std::vector<uint8_t> h = {0x40, 0x42, 0x0f, 0x00, 3, 0, 0, 0};
    h.resize(18);
    ASSERT_TRUE(stalled.back()->WriteBytes(h).ok());
  }
  // This request came last, so when the worker parks on it, it has been
  // through every stalled peer, and is not held by any.
  Gate gate;
  std::unique_ptr<RawClient> c = Connect(std::make_unique<GateImpl>(&gate));
  ASSERT_TRUE(c->WriteBytes(Frame(1)).ok());
  gate.entered.get_future().wait();
  ServerStats s = server_->stats();
  EXPECT_EQ(s.partial_frames, static_cast<size_t>(kStalled));
  // One first chunk each.
  EXPECT_EQ(s.buffered_bytes, kStalled * internal::FrameReader::kInitialChunk);
  EXPECT_EQ(s.workers, 1u);
  gate.Open();
  EXPECT_EQ(c->ReadReply()->err(), EACCES);
  // The rest of the frames arrives: each is answered, and the buffers go.
  std::vector<uint8_t> rest(1000000 - 10);
  for (auto& p : stalled) ASSERT_TRUE(p->WriteBytes(rest).ok());
  for (auto& p : stalled) EXPECT_EQ(p->ReadReply()->err(), EOPNOTSUPP);
  s = server_->stats();
  EXPECT_EQ(s.partial_frames, 0u);
  EXPECT_EQ(s.buffered_bytes, 0u);
}

TEST_F(ServerLimitsTest, APeerThatDoesNotReadHoldsNoWorker) {
  // A 1 MiB file to read, in a tree of our own.
  std::string tmpl = absl::StrCat("/tmp/limits.", getpid(), ".XXXXXX");
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  {
    fd::OwnedFd f(
        open((dir + "/big").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_EQ(ftruncate(f.get(), 1 << 20), 0);
  }
  Start(ServerOptions{.workers = 1});
  auto fsgofer = [] {
    return std::make_unique<fsgofer::Connection>(fsgofer::Options{});
  };
  {
    std::unique_ptr<RawClient> s = Connect(fsgofer(), dir);
    ASSERT_EQ(s->CallBytes(1, {})->mid, 1);
    absl::StatusOr<Reply> w =
        s->Call(MID::kWalk, WalkReq{.dir_fd = 1, .path = {"big"}});
    ASSERT_EQ(w->mid, 5);
    const FDID big = w->As<WalkResp>()->inodes.at(0).control_fd;
    absl::StatusOr<Reply> o =
        s->Call(MID::kOpenAt, OpenAtReq{.fd = big, .flags = O_RDONLY});
    ASSERT_EQ(o->mid, 7) << o->err();
    const FDID open = o->As<OpenAtResp>()->open_fd;
    // Eight reads of 1 MiB whose answers are never read.
    std::vector<uint8_t> burst;
    for (int i = 0; i < 8; ++i) {
      absl::StatusOr<std::vector<uint8_t>> f = MarshalFrame(
          MID::kPRead, PReadReq{.offset = 0, .fd = open, .count = 1 << 20});
      ASSERT_TRUE(f.ok());
      burst.insert(burst.end(), f->begin(), f->end());
    }
    ASSERT_TRUE(s->WriteBytes(burst).ok());
    // Another connection, behind it, is answered by the same worker.
    std::unique_ptr<RawClient> t = Connect(fsgofer(), dir);
    EXPECT_EQ(t->CallBytes(1, {})->mid, 1);
    EXPECT_EQ(t->Call(MID::kFStat, StatReq{.fd = 1})->mid, 3);
    // The stalled one holds one answer (1 MiB and a header) at most.
    EXPECT_LE(server_->stats().buffered_bytes, (1u << 20) + 4096);
  }  // both clients close; the answers left unsent go with them
  server_->AwaitConnections(0);
  EXPECT_EQ(server_->stats().buffered_bytes, 0u);
  unlink((dir + "/big").c_str());
  rmdir(dir.c_str());
}

TEST_F(ServerLimitsTest, ABusyChannelDoesNotHoldAWorkerWhileItsConnectionEnds) {
  Start(ServerOptions{.workers = 1});
  Gate gate;
  std::unique_ptr<RawClient> a = Connect(std::make_unique<GateImpl>(&gate));
  absl::StatusOr<Reply> r = a->CallBytes(2, {});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->mid, 2) << r->err();
  absl::StatusOr<std::unique_ptr<RawChannel>> ch =
      RawChannel::Connect(*std::move(r));
  ASSERT_TRUE(ch.ok()) << ch.status();
  // The channel thread parks in Mount; its client waits on the channel.
  std::thread caller([&] { (*ch)->CallBytes(1, {}).IgnoreError(); });
  gate.entered.get_future().wait();
  EXPECT_EQ(server_->stats().channel_threads, 1u);
  // The connection ends while its channel thread is busy: the one worker
  // shuts the channel down (waking our caller) and moves on.
  a.reset();
  caller.join();
  std::unique_ptr<RawClient> b = Connect(std::make_unique<GateImpl>(nullptr));
  EXPECT_EQ(b->CallBytes(1, {})->err(), EACCES);
  EXPECT_EQ(server_->connections(), 2u);
  // Once the channel thread returns, the connection finishes.
  gate.Open();
  server_->AwaitConnections(1);
  EXPECT_EQ(server_->stats().channel_threads, 0u);
  ch->reset();
}

TEST_F(ServerLimitsTest, ChannelThreadsAreCappedServerWide) {
  Start(ServerOptions{.max_channel_threads = 2});
  std::unique_ptr<RawClient> a = Connect(std::make_unique<GateImpl>(nullptr));
  std::unique_ptr<RawClient> b = Connect(std::make_unique<GateImpl>(nullptr));
  std::vector<std::unique_ptr<RawChannel>> chans;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<Reply> r = a->CallBytes(2, {});
    ASSERT_EQ(r->mid, 2) << r->err();
    absl::StatusOr<std::unique_ptr<RawChannel>> ch =
        RawChannel::Connect(*std::move(r));
    ASSERT_TRUE(ch.ok()) << ch.status();
    chans.push_back(*std::move(ch));
  }
  absl::StatusOr<Reply> over = b->CallBytes(2, {});
  EXPECT_EQ(over->err(), EAGAIN);
  EXPECT_TRUE(over->fds.empty());
  // The channels that run still serve.
  EXPECT_EQ(chans[1]->CallBytes(1, {})->err(), EACCES);
  // Once a's connection ends, b may have one.
  a.reset();
  server_->AwaitConnections(1);
  chans.clear();
  absl::StatusOr<Reply> r = b->CallBytes(2, {});
  EXPECT_EQ(r->mid, 2) << r->err();
}

TEST_F(ServerLimitsTest, ShutdownDoesNotWaitForeverOnAStuckRequest) {
  Start(ServerOptions{.workers = 2, .shutdown_grace = absl::Milliseconds(100)});
  Gate gate;
  std::unique_ptr<RawClient> a = Connect(std::make_unique<GateImpl>(&gate));
  std::unique_ptr<RawClient> b = Connect(std::make_unique<GateImpl>(nullptr));
  ASSERT_TRUE(a->WriteBytes(Frame(1)).ok());
  gate.entered.get_future().wait();
  server_->Shutdown();
  // The idle connection ends (on the other worker); the stuck one is given
  // up on after the grace.
  server_->AwaitConnections(1);
  server_->Wait();
  EXPECT_EQ(server_->connections(), 1u);
  // Once its request returns, it ends too, and the server goes cleanly.
  gate.Open();
  server_->AwaitConnections(0);
  EXPECT_FALSE(a->ReadReply().ok());
}

// fsgofer shares the mount point's FD among connections, but each client
// that gets it donated gets an open file of its own (its own offset).
TEST_F(ServerLimitsTest, DonatedMountFdsAreNotShared) {
  Start(ServerOptions{});
  auto backend = [] {
    return std::make_unique<fsgofer::Connection>(
        fsgofer::Options{.donate_mount_fd = true});
  };
  std::unique_ptr<RawClient> a = Connect(backend());
  std::unique_ptr<RawClient> b = Connect(backend());
  absl::StatusOr<Reply> ma = a->CallBytes(1, {});
  absl::StatusOr<Reply> mb = b->CallBytes(1, {});
  ASSERT_EQ(ma->mid, 1);
  ASSERT_EQ(mb->mid, 1);
  ASSERT_EQ(ma->fds.size(), 1u);
  ASSERT_EQ(mb->fds.size(), 1u);
  char buf[4096];
  ASSERT_GT(syscall(SYS_getdents64, ma->fds[0].get(), buf, sizeof(buf)), 0);
  EXPECT_GT(lseek(ma->fds[0].get(), 0, SEEK_CUR), 0);
  EXPECT_EQ(lseek(mb->fds[0].get(), 0, SEEK_CUR), 0);
  // Both roots still work after the first connection goes.
  a.reset();
  server_->AwaitConnections(1);
  EXPECT_EQ(b->Call(MID::kFStat, StatReq{.fd = 1})->mid, 3);
  absl::StatusOr<Reply> w =
      b->Call(MID::kWalk, WalkReq{.dir_fd = 1, .path = {"no such name here"}});
  EXPECT_EQ(w->mid, 5);
  EXPECT_EQ(w->As<WalkResp>()->status, WalkStatus::kComponentDoesNotExist);
}

TEST_F(ServerLimitsTest, StatsCountWhatTheServerHolds) {
  Start(ServerOptions{.workers = 2});
  ServerStats s = server_->stats();
  EXPECT_EQ(s.connections, 0u);
  EXPECT_EQ(s.workers, 0u) << "workers start with the first connection";
  std::unique_ptr<RawClient> a =
      Connect(std::make_unique<fsgofer::Connection>(fsgofer::Options{}));
  ASSERT_EQ(a->CallBytes(1, {})->mid, 1);
  ASSERT_EQ(a->Call(MID::kWalk, WalkReq{.dir_fd = 1, .path = {}})->mid, 5);
  s = server_->stats();
  EXPECT_EQ(s.connections, 1u);
  EXPECT_EQ(s.workers, 2u);
  EXPECT_EQ(s.fdids, 1u);
  EXPECT_GT(s.host_fds, 0);
  EXPECT_GT(s.fd_limit, 0u);
  a.reset();
  server_->AwaitConnections(0);
  EXPECT_EQ(server_->stats().fdids, 0u);
}

}  // namespace
}  // namespace gvisor::lisafs
