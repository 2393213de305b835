// Shared memory is hostile and mutable (pkg/lisafs/README.md §8.2): a channel's
// peer maps the same packet window and may rewrite it at any time, or hand over
// a window that faults. These tests play that peer against our client (a
// hostile gofer) and against our server (a hostile sandbox), and check that
// each side decodes a private copy, within bounds, and survives.

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/fdchannel/fdchannel.h"
#include "pkg/flipcall/packet_window.h"
#include "pkg/lisafs/channel.h"
#include "pkg/lisafs/client.h"
#include "pkg/lisafs/hostile_gofer_testutil.h"
#include "pkg/lisafs/messages.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/hangup_watcher.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"
#include "testing/gofer_fixture.h"
#include "testing/raw_client.h"

namespace gvisor::lisafs {
namespace {

using testutil::ChannelReplyFrame;
using testutil::ErrorReplyFrame;
using testutil::RawServerWindow;
using testutil::ServeSocket;
using testutil::SocketReply;

const context::Context& Ctx() { return context::Background(); }

// kMax is the hostile gofer's announced message size limit.
constexpr uint32_t kMax = 8192;

size_t WindowLength() {
  return flipcall::PacketWindowLengthForDataCap(Channel::kHeaderSize + kMax);
}

template <typename T>
std::vector<uint8_t> Payload(const T& m) {
  return *Marshal(m);
}

std::vector<uint8_t> StatxFrame() {
  return *MarshalFrame(MID::kFStat, Statx{});
}

// HostileGofer serves a client's socket on one thread: Mount, then every
// Channel request with the window file and FD socket it is given, and
// FStat with an empty Statx.
class HostileGofer {
 public:
  HostileGofer(int window_fd, int64_t offset, uint64_t length) {
    auto pair = unet::Socket::SocketPair(SOCK_STREAM);
    EXPECT_TRUE(pair.ok());
    client_ = std::move(pair->first);
    auto fds = fdchannel::NewConnectedSockets();
    EXPECT_TRUE(fds.ok());
    fd_server_ = std::move(fds->first);
    thread_ = std::thread([window_fd, offset, length,
                           fd_client = std::move(fds->second),
                           s = std::move(pair->second)]() mutable {
      ServeSocket(s, kMax, [&](uint16_t mid, absl::Span<const uint8_t>) {
        SocketReply r;
        if (mid == static_cast<uint16_t>(MID::kChannel)) {
          r.frame = ChannelReplyFrame(offset, length);
          r.fds = {window_fd, fd_client.fd()};
        } else if (mid == static_cast<uint16_t>(MID::kFStat)) {
          r.frame = StatxFrame();
        } else {
          r.frame = ErrorReplyFrame(EINVAL);
        }
        return r;
      });
    });
  }
  ~HostileGofer() { thread_.join(); }

  unet::Socket TakeClientSocket() { return std::move(client_); }
  unet::Socket& fd_server() { return fd_server_; }

 private:
  unet::Socket client_;
  unet::Socket fd_server_;
  std::thread thread_;
};

class ChannelMutationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unet::HangupWatcher::Default();
    fds_before_ = testing::OpenFdCount();
  }
  void TearDown() override {
    EXPECT_TRUE(
        unet::HangupWatcher::Default().AwaitWatched(0, absl::Seconds(10)));
    EXPECT_EQ(testing::OpenFdCount(), fds_before_) << "FD leak";
    EXPECT_EQ(testing::WindowMappingCount(), 0) << "window mapping leak";
  }

  std::shared_ptr<Client> Mount(HostileGofer& g, const ClientOptions& o = {}) {
    absl::StatusOr<Mounted> m = NewClient(Ctx(), g.TakeClientSocket(), o);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? m->client : nullptr;
  }

  int fds_before_ = 0;
};

// --- Windows that would fault ------------------------------------------------

TEST_F(ChannelMutationTest, WindowPastTheEndOfItsFileIsRefused) {
  // A sealed file of one page, and a window said to start at its end: any
  // touch of such a mapping raises SIGBUS.
  const size_t page = flipcall::PageSize();
  absl::StatusOr<fd::OwnedFd> file = testutil::NewWindowFile(page, true);
  ASSERT_TRUE(file.ok()) << file.status();
  {
    HostileGofer g(file->get(), page, WindowLength());
    std::shared_ptr<Client> c = Mount(g);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(syserr::ToErrno(c->StartChannels(Ctx())), ENOMEM);
    EXPECT_EQ(c->channels(), 0u);
    // The client goes on over the socket.
    EXPECT_TRUE(c->NewFD(1).FStat(Ctx()).ok());
    c->Close();
  }
}

TEST_F(ChannelMutationTest, WindowInAFileThePeerCanShrinkIsRefused) {
  // An unsealed file of the right size: the gofer maps it, answers the
  // handshake, then truncates the file, so that the client's next touch of
  // its mapping raises SIGBUS. The client must refuse such a window.
  const size_t len = WindowLength();
  absl::StatusOr<fd::OwnedFd> file = testutil::NewWindowFile(len, false);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<std::unique_ptr<RawServerWindow>> w =
      RawServerWindow::Map(file->get(), 0, len);
  ASSERT_TRUE(w.ok()) << w.status();
  std::thread window([&] {
    if ((*w)->Handshake()) {
      EXPECT_EQ(ftruncate(file->get(), 0), 0);
      // Answer Channel requests arriving on the channel with ENOMEM.
      while ((*w)->WaitForTurn()) {
        std::vector<uint8_t> err = {0, 0, 0, 0};
        std::vector<uint8_t> e = Payload(ErrorResp{.err = ENOMEM});
        err.insert(err.end(), e.begin(), e.end());
        (*w)->Reply(static_cast<uint32_t>(err.size()), err);
      }
    }
  });
  {
    HostileGofer g(file->get(), 0, len);
    std::shared_ptr<Client> c = Mount(g);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(syserr::ToErrno(c->StartChannels(Ctx())), ENOMEM);
    EXPECT_EQ(c->channels(), 0u);
    EXPECT_TRUE(c->NewFD(1).FStat(Ctx()).ok());
    c->Close();
  }
  (*w)->Shutdown();
  window.join();
  w->reset();
}

TEST_F(ChannelMutationTest, WindowLongerThanTheClientsLimitIsRefused) {
  const size_t len = 4 * WindowLength();
  absl::StatusOr<fd::OwnedFd> file = testutil::NewWindowFile(len, true);
  ASSERT_TRUE(file.ok()) << file.status();
  HostileGofer g(file->get(), 0, len);
  ClientOptions opts;
  opts.max_channel_window = len - 1;
  std::shared_ptr<Client> c = Mount(g, opts);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(syserr::ToErrno(c->StartChannels(Ctx())), ENOMEM);
  EXPECT_EQ(c->channels(), 0u);
  c->Close();
}

// --- The gofer rewrites the window while the client decodes ------------------

// MutateOnce rewrites the fields a decoder could be fooled by, choosing
// among small and huge values with i: the datagram length (never above
// data_cap, so the channel stays usable), the channel header's FD count,
// and the first 12 payload bytes (u16 counts and lengths, PRead's u64 n,
// WalkResp's status and count).
void MutateOnce(uint8_t* packet, uint32_t data_cap, uint64_t i) {
  static const uint32_t kLens[] = {0, 3, 4, 6, 21, 200, kMax + 4, 0};
  uint32_t len = kLens[i % 8];
  if (len == 0) len = data_cap;
  __atomic_store_n(reinterpret_cast<uint32_t*>(packet + 4), len,
                   __ATOMIC_RELAXED);
  __atomic_store_n(packet + 18, static_cast<uint8_t>((i & 1) ? 255 : 0),
                   __ATOMIC_RELAXED);
  static const uint32_t kWords[] = {0xFFFFFFFF, 100, 0xFFFF, 2, 0, 0x7FFF0001};
  for (int w = 0; w < 3; ++w) {
    __atomic_store_n(reinterpret_cast<uint32_t*>(packet + 20 + 4 * w),
                     kWords[(i / 3 + w) % 6], __ATOMIC_RELAXED);
  }
}

// Answer builds a well-formed answer to a request with the given MID.
std::vector<uint8_t> Answer(uint16_t mid) {
  std::vector<uint8_t> p;
  switch (static_cast<MID>(mid)) {
    case MID::kChannel:
      mid = 0;
      p = Payload(ErrorResp{.err = ENOMEM});
      break;
    case MID::kReadLinkAt:
      p = Payload(ReadLinkAtResp{std::string(100, 't')});
      break;
    case MID::kGetdents64: {
      Getdents64Resp r;
      for (int i = 0; i < 3; ++i) {
        r.dirents.push_back(Dirent64{.ino = 1, .type = 2, .name = "dev"});
      }
      p = Payload(r);
      break;
    }
    case MID::kPRead:
      p = Payload(PReadResp{std::string(50, 'x')});
      break;
    case MID::kFListXattr:
      p = Payload(FListXattrResp{{"user.a", "user.b", "user.c"}});
      break;
    case MID::kWalk:
      p = Payload(WalkResp{WalkStatus::kSuccess, {Inode{2}, Inode{3}}});
      break;
    case MID::kFStat:
      p = Payload(Statx{});
      break;
    default:
      mid = 0;
      p = Payload(ErrorResp{.err = EINVAL});
  }
  std::vector<uint8_t> out = {static_cast<uint8_t>(mid & 0xff),
                              static_cast<uint8_t>(mid >> 8), 0, 0};
  out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST_F(ChannelMutationTest, ClientDecodesAPrivateCopyWhileTheGoferRewritesIt) {
  const size_t len = WindowLength();
  absl::StatusOr<fd::OwnedFd> file = testutil::NewWindowFile(len, true);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<std::unique_ptr<RawServerWindow>> w =
      RawServerWindow::Map(file->get(), 0, len);
  ASSERT_TRUE(w.ok()) << w.status();
  RawServerWindow& win = **w;
  std::atomic<bool> mutate{false};
  std::atomic<uint64_t> mutations{0};
  // The gofer answers each request correctly, then keeps rewriting the
  // window for as long as the client holds it: while the client reads the
  // length, copies the answer and decodes it.
  std::thread gofer([&] {
    if (!win.Handshake()) return;
    uint64_t i = 0;
    for (;;) {
      if (!mutate.load()) {
        if (!win.WaitForTurn()) break;
      } else {
        uint32_t s;
        while ((s = __atomic_load_n(reinterpret_cast<uint32_t*>(win.packet()),
                                    __ATOMIC_ACQUIRE)) ==
               RawServerWindow::kClientActive) {
          MutateOnce(win.packet(), win.data_cap(), i++);
        }
        if (s != RawServerWindow::kServerActive) break;
      }
      std::vector<uint8_t> req = win.Read(Channel::kHeaderSize);
      std::vector<uint8_t> ans =
          Answer(static_cast<uint16_t>(req[0] | (req[1] << 8)));
      win.Reply(static_cast<uint32_t>(ans.size()), ans);
    }
    mutations.store(i);
  });

  HostileGofer g(file->get(), 0, len);
  std::shared_ptr<Client> c = Mount(g);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->StartChannels(Ctx()).ok());
  ASSERT_EQ(c->channels(), 1u);
  const uint64_t socket_rpcs = c->stats().socket_rpcs;
  mutate.store(true);

  constexpr int kRounds = 600;
  int ok = 0, failed = 0;
  ClientFD f = c->NewFD(1);
  auto check = [&](const absl::Status& s) {
    if (s.ok()) {
      ++ok;
      return;
    }
    ++failed;
    int err = syserr::ToErrno(s);
    EXPECT_TRUE(err == EIO || err == EINVAL) << s;
  };
  for (int round = 0; round < kRounds; ++round) {
    absl::StatusOr<std::string> link = f.ReadLinkAt(Ctx());
    if (link.ok()) {
      EXPECT_LE(link->size(), kMax - 2);
    }
    check(link.status());

    absl::StatusOr<std::vector<Dirent64>> d = f.Getdents64(Ctx(), 65536);
    if (d.ok()) {
      EXPECT_LE(d->size(), kMax / Dirent64::kFixedSize);
      for (const Dirent64& e : *d) EXPECT_LE(e.name.size(), kMax);
    }
    check(d.status());

    std::vector<uint8_t> buf(64);
    absl::StatusOr<size_t> n = f.Read(Ctx(), absl::MakeSpan(buf), 0);
    if (n.ok()) {
      EXPECT_LE(*n, buf.size());
    }
    check(n.status());

    absl::StatusOr<std::vector<std::string>> x = f.ListXattr(Ctx(), 0);
    if (x.ok()) {
      EXPECT_LE(x->size(), kMax / 2);
    }
    check(x.status());

    absl::StatusOr<WalkResult> walk =
        f.WalkMultiple(Ctx(), std::vector<std::string>{"a", "b"});
    if (walk.ok()) {
      EXPECT_LE(walk->inodes.size(), 2u);
    }
    check(walk.status());
  }
  mutate.store(false);
  // The last answer may still have been mutated; from the next on, none is.
  (void)f.FStat(Ctx());
  EXPECT_TRUE(f.FStat(Ctx()).ok());
  EXPECT_EQ(c->channels(), 1u);
  // Every RPC went over the channel (FDID closes included).
  EXPECT_GE(c->stats().channel_rpcs, 5u * kRounds);
  EXPECT_EQ(c->stats().socket_rpcs, socket_rpcs);
  c->Close();
  gofer.join();
  std::cout << ok << " RPCs decoded within bounds, " << failed
            << " refused, over " << mutations.load() << " window rewrites\n";
  w->reset();
}

// --- The sandbox rewrites the window while the server decodes ----------------

TEST_F(ChannelMutationTest, ServerDecodesAPrivateCopyWhileTheClientRewritesIt) {
  absl::StatusOr<testing::Gofer> g = testing::StartGofer();
  ASSERT_TRUE(g.ok()) << g.status();
  {
    testing::RawClient client(std::move(g->client));
    ASSERT_EQ(client.CallBytes(1, {})->mid, 1);
    absl::StatusOr<testing::Reply> chr = client.CallBytes(2, {});
    ASSERT_TRUE(chr.ok()) << chr.status();
    absl::StatusOr<std::unique_ptr<testing::RawChannel>> ch =
        testing::RawChannel::Connect(*std::move(chr));
    ASSERT_TRUE(ch.ok()) << ch.status();
    uint8_t* packet = (*ch)->channel().data().data() - 16;
    const uint32_t cap = (*ch)->channel().data().data_cap();

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> mutations{0};
    // The sandbox rewrites its requests while the server holds the window:
    // lengths from 4 (a bare header: never shorter, which would end the
    // server's loop, pkg/lisafs/README.md §8.5) to the whole window, and the
    // requests' counts, string lengths and FDIDs.
    std::thread mutator([&] {
      static const uint32_t kLens[] = {4, 5, 12, 30, 200};
      static const uint32_t kWords[] = {0xFFFFFFFF, 1, 0xFFFF0003, 0};
      uint64_t i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        uint32_t len = i % 6 == 5 ? cap : kLens[i % 6];
        __atomic_store_n(reinterpret_cast<uint32_t*>(packet + 4), len,
                         __ATOMIC_RELAXED);
        for (int w = 0; w < 4; ++w) {
          __atomic_store_n(reinterpret_cast<uint32_t*>(packet + 20 + 4 * w),
                           kWords[(i + w) % 4], __ATOMIC_RELAXED);
        }
        ++i;
      }
      mutations.store(i);
    });

    WalkReq walk{.dir_fd = 1, .path = {"dir", "nested", "deep"}};
    FGetXattrReq xattr{.fd = 1, .buf_size = 64, .name = "user.x"};
    for (int i = 0; i < 1200; ++i) {
      absl::StatusOr<testing::Reply> r =
          i % 2 == 0 ? (*ch)->Call(MID::kWalkStat, walk)
                     : (*ch)->Call(MID::kFGetXattr, xattr);
      ASSERT_TRUE(r.ok()) << r.status();
      uint16_t want =
          static_cast<uint16_t>(i % 2 == 0 ? MID::kWalkStat : MID::kFGetXattr);
      EXPECT_TRUE(r->mid == want || r->mid == 0) << r->mid;
    }
    stop.store(true);
    mutator.join();
    std::cout << mutations.load() << " window rewrites\n";
    // The channel is still in step, and the server still serves it.
    absl::StatusOr<testing::Reply> st =
        (*ch)->Call(MID::kFStat, StatReq{.fd = 1});
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->mid, static_cast<uint16_t>(MID::kFStat));
  }
  // And a new connection mounts.
  absl::StatusOr<fd::OwnedFd> sock = g->fixture->Connect();
  ASSERT_TRUE(sock.ok()) << sock.status();
  testing::RawClient again(std::move(*sock));
  absl::StatusOr<testing::Reply> m = again.CallBytes(1, {});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->mid, 1);
}

}  // namespace
}  // namespace gvisor::lisafs
