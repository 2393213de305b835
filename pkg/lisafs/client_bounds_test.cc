// The client against a hostile server over a real socket: whatever lengths
// the server announces (in Mount) or claims (in a frame header), the client
// allocates only within its own limits (ClientOptions), fails the RPC with
// EIO, and a later, well-formed connection in the same process still works.
//
// Heap use is measured exactly: this binary replaces operator new/delete
// with versions that count the bytes held and the most ever held at once,
// so "the RPC never held more than N bytes" is a plain assertion, with no
// timing and no RSS noise.

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/lisafs/client.h"
#include "pkg/lisafs/messages.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"
#include "testing/gofer_fixture.h"

// --- Counting operator new/delete ---------------------------------------------

namespace {

std::atomic<int64_t> g_heap_held{0};
std::atomic<int64_t> g_heap_peak{0};

void Held(int64_t delta) {
  int64_t now = g_heap_held.fetch_add(delta, std::memory_order_relaxed) + delta;
  int64_t peak = g_heap_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_heap_peak.compare_exchange_weak(
                           peak, now, std::memory_order_relaxed)) {
  }
}

void* Allocate(size_t n, size_t align, bool nothrow) {
  void* p = align <= alignof(std::max_align_t)
                ? malloc(n == 0 ? 1 : n)
                : aligned_alloc(align, (n + align - 1) / align * align);
  if (p == nullptr) {
    if (nothrow) return nullptr;
    throw std::bad_alloc();
  }
  Held(static_cast<int64_t>(malloc_usable_size(p)));
  return p;
}

void Free(void* p) {
  if (p == nullptr) return;
  Held(-static_cast<int64_t>(malloc_usable_size(p)));
  free(p);
}

}  // namespace

void* operator new(size_t n) { return Allocate(n, 0, false); }
void* operator new[](size_t n) { return Allocate(n, 0, false); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  return Allocate(n, 0, true);
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  return Allocate(n, 0, true);
}
void* operator new(size_t n, std::align_val_t a) {
  return Allocate(n, static_cast<size_t>(a), false);
}
void* operator new[](size_t n, std::align_val_t a) {
  return Allocate(n, static_cast<size_t>(a), false);
}
void* operator new(size_t n, std::align_val_t a,
                   const std::nothrow_t&) noexcept {
  return Allocate(n, static_cast<size_t>(a), true);
}
void* operator new[](size_t n, std::align_val_t a,
                     const std::nothrow_t&) noexcept {
  return Allocate(n, static_cast<size_t>(a), true);
}
void operator delete(void* p) noexcept { Free(p); }
void operator delete[](void* p) noexcept { Free(p); }
void operator delete(void* p, size_t) noexcept { Free(p); }
void operator delete[](void* p, size_t) noexcept { Free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { Free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { Free(p); }
void operator delete(void* p, std::align_val_t) noexcept { Free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { Free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { Free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept {
  Free(p);
}
void operator delete(void* p, std::align_val_t,
                     const std::nothrow_t&) noexcept {
  Free(p);
}
void operator delete[](void* p, std::align_val_t,
                       const std::nothrow_t&) noexcept {
  Free(p);
}

namespace gvisor::lisafs {
namespace {

const context::Context& Ctx() { return context::Background(); }

// HeapPeak measures the most heap held at once, above what was held when
// it was created, until Get.
class HeapPeak {
 public:
  HeapPeak() : base_(g_heap_held.load()) { g_heap_peak.store(base_); }
  int64_t Get() const { return g_heap_peak.load() - base_; }

 private:
  const int64_t base_;
};

// kSmallHeap bounds what one failed RPC may hold: the client's own
// bookkeeping, a status message and at most one kRecvChunk of payload.
constexpr int64_t kSmallHeap = 256 * 1024;

std::vector<MID> AllMids() {
  std::vector<MID> mids;
  for (int m = 1; m <= 33; ++m) mids.push_back(static_cast<MID>(m));
  return mids;
}

// HostileServer plays the server end of a socket pair on its own thread:
// it answers Mount with the limit it is given, then runs script.
class HostileServer {
 public:
  using Script = std::function<void(unet::Socket&)>;

  HostileServer(uint32_t announced_max, Script script) {
    auto pair = unet::Socket::SocketPair(SOCK_STREAM);
    EXPECT_TRUE(pair.ok());
    client_ = std::move(pair->first);
    thread_ = std::thread([announced_max, script = std::move(script),
                           s = std::move(pair->second)]() mutable {
      if (!ReadFrame(s).has_value()) return;
      MountResp m;
      m.root.control_fd = 1;
      m.max_message_size = announced_max;
      m.supported_mids = AllMids();
      Send(s, *MarshalFrame(MID::kMount, m));
      script(s);
    });
  }

  ~HostileServer() { Join(); }

  // Join waits for the script to end.
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  // TakeClientSocket returns the client's end.
  unet::Socket TakeClientSocket() { return std::move(client_); }

  // ReadFrame reads one request frame; nullopt at end of stream.
  static std::optional<std::vector<uint8_t>> ReadFrame(unet::Socket& s) {
    std::vector<uint8_t> frame(kMessageHeaderSize);
    iovec h = {frame.data(), frame.size()};
    if (!s.RecvExact(absl::MakeConstSpan(&h, 1), 0, nullptr).ok()) {
      return std::nullopt;
    }
    uint32_t len;
    memcpy(&len, frame.data(), 4);
    frame.resize(kMessageHeaderSize + len);
    iovec p = {frame.data() + kMessageHeaderSize, len};
    if (len > 0 && !s.RecvExact(absl::MakeConstSpan(&p, 1), 0, nullptr).ok()) {
      return std::nullopt;
    }
    return frame;
  }

  static void Send(unet::Socket& s, const std::vector<uint8_t>& bytes) {
    iovec v = {const_cast<uint8_t*>(bytes.data()), bytes.size()};
    EXPECT_TRUE(s.SendAll(absl::MakeConstSpan(&v, 1), {}).ok());
  }

  // Header is a frame header claiming len payload bytes for mid.
  static std::vector<uint8_t> Header(MID mid, uint32_t len) {
    auto h = EncodeMessageHeader(len, mid);
    return std::vector<uint8_t>(h.begin(), h.end());
  }

  // AtEof blocks until the peer closes its end (true) or sends a byte.
  static bool AtEof(unet::Socket& s) {
    char c;
    return recv(s.fd(), &c, 1, MSG_PEEK) == 0;
  }

 private:
  unet::Socket client_;
  std::thread thread_;
};

class ClientBoundsTest : public ::testing::Test {
 protected:
  void SetUp() override { fds_before_ = testing::OpenFdCount(); }
  void TearDown() override {
    EXPECT_EQ(testing::OpenFdCount(), fds_before_) << "FD leak";
  }

  // Mount mounts on server's socket with opts.
  std::shared_ptr<Client> Mount(HostileServer& server,
                                const ClientOptions& opts = {}) {
    absl::StatusOr<Mounted> m =
        NewClient(Ctx(), server.TakeClientSocket(), opts);
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return nullptr;
    return m->client;
  }

  // ExpectAWellFormedConnectionWorks mounts a real server in this process
  // and runs an RPC: a hostile connection leaves nothing behind that
  // hurts the next one.
  void ExpectAWellFormedConnectionWorks() {
    absl::StatusOr<testing::Gofer> g = testing::StartGofer();
    ASSERT_TRUE(g.ok()) << g.status();
    absl::StatusOr<unet::Socket> sock =
        unet::Socket::FromFd(std::move(g->client));
    ASSERT_TRUE(sock.ok());
    absl::StatusOr<Mounted> m = NewClient(Ctx(), *std::move(sock));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_TRUE(m->client->NewFD(m->root.control_fd).FStat(Ctx()).ok());
    m->client->Close();
  }

  int fds_before_ = 0;
};

// --- The limit in force ----------------------------------------------------

TEST_F(ClientBoundsTest, OwnLimitAppliesWhenTheServerAnnouncesMore) {
  HostileServer server(0xFFFFFFFF, [](unet::Socket& s) {
    EXPECT_TRUE(HostileServer::AtEof(s));
  });
  std::shared_ptr<Client> c = Mount(server);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->max_message_size(), ClientOptions::kDefaultMaxMessageSize);
  c->Close();
}

TEST_F(ClientBoundsTest, ServerLimitAppliesWhenItIsLower) {
  HostileServer server(0x1FF000, [](unet::Socket& s) {
    EXPECT_TRUE(HostileServer::AtEof(s));
  });
  std::shared_ptr<Client> c = Mount(server);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->max_message_size(), 0x1FF000u);
  c->Close();
}

TEST_F(ClientBoundsTest, LimitBelowAPageIsInvalidAndNothingIsSent) {
  auto pair = unet::Socket::SocketPair(SOCK_STREAM);
  ASSERT_TRUE(pair.ok());
  ClientOptions opts;
  opts.max_message_size = ClientOptions::kMinMaxMessageSize - 1;
  absl::StatusOr<Mounted> m = NewClient(Ctx(), std::move(pair->first), opts);
  EXPECT_EQ(syserr::ToErrno(m.status()), EINVAL);
  EXPECT_TRUE(HostileServer::AtEof(pair->second));
}

// --- Attack: a frame header claiming 4 GiB (issue: 8 GiB RSS in the shim) --

TEST_F(ClientBoundsTest, FrameClaiming4GiBAllocatesNothing) {
  HostileServer server(0xFFFFFFFF, [](unet::Socket& s) {
    ASSERT_TRUE(HostileServer::ReadFrame(s).has_value());
    HostileServer::Send(s, HostileServer::Header(MID::kFStat, 0xFFFFFFFF));
    // Then end the stream: a client that allocated what was claimed
    // would now fail on end of stream, having held 4 GiB.
  });
  std::shared_ptr<Client> c = Mount(server);
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 2; ++i) {
    HeapPeak peak;
    absl::StatusOr<Statx> st = c->NewFD(1).FStat(Ctx());
    EXPECT_EQ(syserr::ToErrno(st.status()), EIO);
    EXPECT_LT(peak.Get(), kSmallHeap);
  }
  c->Close();
  ExpectAWellFormedConnectionWorks();
}

TEST_F(ClientBoundsTest, FrameClaimingMoreThanTheDrainLimitFailsAtOnce) {
  // The server claims 4 GiB and then sends nothing, holding the connection
  // open: the client must neither allocate nor try to read (drain) it, but
  // give up on the connection, which the server sees as end of stream.
  HostileServer server(0xFFFFFFFF, [](unet::Socket& s) {
    ASSERT_TRUE(HostileServer::ReadFrame(s).has_value());
    HostileServer::Send(s, HostileServer::Header(MID::kFStat, 0xFFFFFFFF));
    EXPECT_TRUE(HostileServer::AtEof(s));
  });
  std::shared_ptr<Client> c = Mount(server);
  ASSERT_NE(c, nullptr);
  HeapPeak peak;
  absl::StatusOr<Statx> st = c->NewFD(1).FStat(Ctx());
  EXPECT_EQ(syserr::ToErrno(st.status()), EIO);
  EXPECT_NE(st.status().message().find("exceeds the limit"), std::string::npos)
      << st.status();
  EXPECT_LT(peak.Get(), kSmallHeap);
  // The connection is dead: later RPCs fail at once, nothing is sent.
  EXPECT_EQ(syserr::ToErrno(c->NewFD(1).FStat(Ctx()).status()), EIO);
  c->Close();
  ExpectAWellFormedConnectionWorks();
}

TEST_F(ClientBoundsTest, ClaimWithinTheLimitCostsOnlyTheBytesThatArrive) {
  // 4 MiB claimed (the default limit), 10 bytes sent, then end of stream.
  HostileServer server(0xFFFFFFFF, [](unet::Socket& s) {
    ASSERT_TRUE(HostileServer::ReadFrame(s).has_value());
    std::vector<uint8_t> f = HostileServer::Header(
        MID::kFStat, ClientOptions::kDefaultMaxMessageSize);
    f.resize(f.size() + 10, 0xAB);
    HostileServer::Send(s, f);
  });
  std::shared_ptr<Client> c = Mount(server);
  ASSERT_NE(c, nullptr);
  HeapPeak peak;
  absl::StatusOr<Statx> st = c->NewFD(1).FStat(Ctx());
  EXPECT_EQ(syserr::ToErrno(st.status()), EIO);
  EXPECT_LT(peak.Get(), kSmallHeap);
  c->Close();
}

TEST_F(ClientBoundsTest, ResponseWithinTheLimitIsReadWhole) {
  // A real 1 MiB PRead answer arrives whole, in growing chunks.
  constexpr uint32_t kData = 1 << 20;
  HostileServer server(0xFFFFFFFF, [](unet::Socket& s) {
    ASSERT_TRUE(HostileServer::ReadFrame(s).has_value());
    PReadResp r;
    r.data.assign(kData, 'x');
    HostileServer::Send(s, *MarshalFrame(MID::kPRead, r));
    EXPECT_TRUE(HostileServer::AtEof(s));
  });
  std::shared_ptr<Client> c = Mount(server);
  ASSERT_NE(c, nullptr);
  std::vector<uint8_t> buf(kData);
  absl::StatusOr<size_t> n = c->NewFD(1).Read(Ctx(), absl::MakeSpan(buf), 0);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, kData);
  EXPECT_EQ(buf[kData - 1], 'x');
  c->Close();
}

TEST_F(ClientBoundsTest, OversizedResponseWithinTheDrainLimitIsSkipped) {
  // With a 64 KiB limit, a 512 KiB answer is read and thrown away in small
  // chunks; the connection stays in sync and the next RPC works.
  // Built before any measurement, as the server's memory counts too.
  std::vector<uint8_t> f = HostileServer::Header(MID::kFStat, 512 << 10);
  f.resize(f.size() + (512 << 10), 0xCD);
  HostileServer server(0xFFFFFFFF, [&f](unet::Socket& s) {
    ASSERT_TRUE(HostileServer::ReadFrame(s).has_value());
    HostileServer::Send(s, f);
    ASSERT_TRUE(HostileServer::ReadFrame(s).has_value());
    Statx st{};
    st.mask = 1;
    HostileServer::Send(s, *MarshalFrame(MID::kFStat, st));
    EXPECT_TRUE(HostileServer::AtEof(s));
  });
  ClientOptions opts;
  opts.max_message_size = 64 << 10;
  opts.max_oversize_drain = 1 << 20;
  std::shared_ptr<Client> c = Mount(server, opts);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->max_message_size(), 64u << 10);
  {
    HeapPeak peak;
    absl::StatusOr<Statx> st = c->NewFD(1).FStat(Ctx());
    EXPECT_EQ(syserr::ToErrno(st.status()), EIO);
    EXPECT_NE(st.status().message().find("exceeds the limit of 65536"),
              std::string::npos)
        << st.status();
    EXPECT_LT(peak.Get(), kSmallHeap);
  }
  absl::StatusOr<Statx> st = c->NewFD(1).FStat(Ctx());
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->mask, 1u);
  c->Close();
}

// --- Counts in responses ----------------------------------------------------

TEST_F(ClientBoundsTest, WalkWithMoreInodesThanComponentsIsEio) {
  HostileServer server(0x1FF000, [](unet::Socket& s) {
    ASSERT_TRUE(HostileServer::ReadFrame(s).has_value());
    WalkResp r{WalkStatus::kSuccess, {Inode{5}, Inode{6}, Inode{7}}};
    HostileServer::Send(s, *MarshalFrame(MID::kWalk, r));
    // The three FDIDs are given back.
    std::optional<std::vector<uint8_t>> close = HostileServer::ReadFrame(s);
    ASSERT_TRUE(close.has_value());
    absl::StatusOr<CloseReq> req = Unmarshal<CloseReq>(
        absl::MakeConstSpan(*close).subspan(kMessageHeaderSize));
    ASSERT_TRUE(req.ok());
    EXPECT_EQ(req->fds, (std::vector<FDID>{5, 6, 7}));
    HostileServer::Send(s, *MarshalFrame(MID::kClose, EmptyMessage{}));
    EXPECT_TRUE(HostileServer::AtEof(s));
  });
  std::shared_ptr<Client> c = Mount(server);
  ASSERT_NE(c, nullptr);
  absl::StatusOr<WalkResult> w =
      c->NewFD(1).WalkMultiple(Ctx(), std::vector<std::string>{"a"});
  EXPECT_EQ(syserr::ToErrno(w.status()), EIO);
  c->CloseFD(Ctx(), kInvalidFDID, true);
  c->Close();
}

TEST_F(ClientBoundsTest, WalkStatWithMoreRecordsThanComponentsIsEio) {
  HostileServer server(0x1FF000, [](unet::Socket& s) {
    ASSERT_TRUE(HostileServer::ReadFrame(s).has_value());
    WalkStatResp r;
    r.stats.resize(3);
    HostileServer::Send(s, *MarshalFrame(MID::kWalkStat, r));
    EXPECT_TRUE(HostileServer::AtEof(s));
  });
  std::shared_ptr<Client> c = Mount(server);
  ASSERT_NE(c, nullptr);
  absl::StatusOr<std::vector<Statx>> w =
      c->NewFD(1).WalkStat(Ctx(), std::vector<std::string>{"a", "b"});
  EXPECT_EQ(syserr::ToErrno(w.status()), EIO);
  c->Close();
}

TEST_F(ClientBoundsTest, Getdents64ByteBudgetIsClampedToTheLimit) {
  std::vector<int32_t> counts;
  HostileServer server(0xFFFFFFFF, [&counts](unet::Socket& s) {
    for (int i = 0; i < 3; ++i) {
      std::optional<std::vector<uint8_t>> f = HostileServer::ReadFrame(s);
      ASSERT_TRUE(f.has_value());
      absl::StatusOr<Getdents64Req> req = Unmarshal<Getdents64Req>(
          absl::MakeConstSpan(*f).subspan(kMessageHeaderSize));
      ASSERT_TRUE(req.ok());
      counts.push_back(req->count);
      HostileServer::Send(s,
                          *MarshalFrame(MID::kGetdents64, Getdents64Resp{}));
    }
    EXPECT_TRUE(HostileServer::AtEof(s));
  });
  ClientOptions opts;
  opts.max_message_size = 64 << 10;
  std::shared_ptr<Client> c = Mount(server, opts);
  ASSERT_NE(c, nullptr);
  ClientFD dir = c->NewFD(2);
  EXPECT_TRUE(dir.Getdents64(Ctx(), 1 << 30).ok());
  EXPECT_TRUE(dir.Getdents64(Ctx(), INT32_MIN).ok());
  EXPECT_TRUE(dir.Getdents64(Ctx(), 4096).ok());
  c->Close();
  server.Join();
  EXPECT_EQ(counts, (std::vector<int32_t>{64 << 10, -(64 << 10), 4096}));
}

}  // namespace
}  // namespace gvisor::lisafs
