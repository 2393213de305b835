// Flipcall tests: the packet-window allocator, the handshake and hand-over
// between two threads and between two processes, shutdown, hostile peers,
// and the window bytes of pkg/lisafs/README.md V15.

#include "pkg/flipcall/flipcall.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "pkg/flipcall/packet_window.h"
#include "pkg/spin/spin.h"
#include "pkg/syserr/syserr.h"
#include "testing/fd_count.h"

namespace gvisor::flipcall {
namespace {

using std::chrono::milliseconds;

// RawWindow is a test-side mapping of a window, for reading and writing the
// bytes a peer sees, independently of any Endpoint.
class RawWindow {
 public:
  explicit RawWindow(const PacketWindowDescriptor& d) : length_(d.length) {
    void* m = mmap(nullptr, d.length, PROT_READ | PROT_WRITE, MAP_SHARED, d.fd,
                   d.offset);
    EXPECT_NE(m, MAP_FAILED);
    p_ = static_cast<uint8_t*>(m);
  }
  ~RawWindow() { munmap(p_, length_); }

  std::vector<uint8_t> Bytes(size_t n) const {
    return std::vector<uint8_t>(p_, p_ + n);
  }
  std::atomic_ref<uint32_t> State() {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(p_));
  }
  std::atomic_ref<uint32_t> DataLen() {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(p_ + 4));
  }
  uint8_t* data() { return p_ + kPacketHeaderBytes; }
  // WaitState waits on the futex word, as a peer would, until it reads
  // want (false after 10 s). Every hand-over wakes the word's waiters.
  bool WaitState(uint32_t want) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (uint32_t cur = State().load(); cur != want; cur = State().load()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      timespec slice = {0, 100 * 1000 * 1000};
      syscall(SYS_futex, p_, FUTEX_WAIT, cur, &slice, nullptr, 0);
    }
    return true;
  }
  // Give sets the futex word to state and wakes every waiter, as a peer's
  // hand-over does.
  void Give(uint32_t state) {
    State().store(state);
    syscall(SYS_futex, p_, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }

 private:
  uint8_t* p_ = nullptr;
  size_t length_;
};

std::vector<uint8_t> Hex(std::initializer_list<int> b) {
  return std::vector<uint8_t>(b.begin(), b.end());
}

// A pair of endpoints over one fresh window.
struct Pair {
  PacketWindowAllocator alloc;
  PacketWindowDescriptor desc;
  std::unique_ptr<Endpoint> client;
  std::unique_ptr<Endpoint> server;
};

Pair NewPair(size_t size = 4096) {
  absl::StatusOr<PacketWindowAllocator> a = PacketWindowAllocator::Create();
  EXPECT_TRUE(a.ok()) << a.status();
  absl::StatusOr<PacketWindowDescriptor> d = a->Allocate(size);
  EXPECT_TRUE(d.ok()) << d.status();
  absl::StatusOr<std::unique_ptr<Endpoint>> c =
      Endpoint::Create(Side::kClient, *d);
  EXPECT_TRUE(c.ok()) << c.status();
  absl::StatusOr<std::unique_ptr<Endpoint>> s =
      Endpoint::Create(Side::kServer, *d);
  EXPECT_TRUE(s.ok()) << s.status();
  return Pair{*std::move(a), *d, *std::move(c), *std::move(s)};
}

// --- Allocator ---------------------------------------------------------------

TEST(PacketWindowTest, LengthForFsgoferMessageSizeIsTwoMiB) {
  // 4 bytes of channel header plus fsgofer's max message size.
  EXPECT_EQ(PacketWindowLengthForDataCap(4 + 0x1FF000), 0x200000u);
  EXPECT_EQ(PacketWindowLengthForDataCap(0), PageSize());
  EXPECT_EQ(PacketWindowLengthForDataCap(PageSize() - 16), PageSize());
  EXPECT_EQ(PacketWindowLengthForDataCap(PageSize() - 15), 2 * PageSize());
}

TEST(PacketWindowTest, WindowsFollowEachOtherAndAreNeverReused) {
  absl::StatusOr<PacketWindowAllocator> a = PacketWindowAllocator::Create();
  ASSERT_TRUE(a.ok()) << a.status();
  const size_t len = PacketWindowLengthForDataCap(4 + 0x1FF000);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<PacketWindowDescriptor> d = a->Allocate(len - 100);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->fd, a->fd());
    EXPECT_EQ(d->offset, static_cast<int64_t>(i * len));
    EXPECT_EQ(d->length, len);
  }
  // Three 2 MiB windows: the file doubled from one page up to 8 MiB.
  EXPECT_EQ(a->file_size(), 4 * static_cast<int64_t>(len));
}

TEST(PacketWindowTest, FileGrowsByDoublingFromOnePage) {
  absl::StatusOr<PacketWindowAllocator> a = PacketWindowAllocator::Create();
  ASSERT_TRUE(a.ok());
  const int64_t page = PageSize();
  ASSERT_TRUE(a->Allocate(1).ok());
  EXPECT_EQ(a->file_size(), page);
  absl::StatusOr<PacketWindowDescriptor> d = a->Allocate(2 * page + 1);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->offset, page);
  EXPECT_EQ(d->length, static_cast<size_t>(3 * page));
  EXPECT_EQ(a->file_size(), 4 * page);
  struct stat st;
  ASSERT_EQ(fstat(a->fd(), &st), 0);
  EXPECT_EQ(st.st_size, 4 * page);
}

TEST(PacketWindowTest, MemfdIsSealedAgainstShrinking) {
  absl::StatusOr<PacketWindowAllocator> a = PacketWindowAllocator::Create();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(fcntl(a->fd(), F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_SEAL);
  EXPECT_NE(fcntl(a->fd(), F_GETFD) & FD_CLOEXEC, 0);
  ASSERT_TRUE(a->Allocate(3 * PageSize()).ok());
  EXPECT_NE(ftruncate(a->fd(), 0), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(fcntl(a->fd(), F_ADD_SEALS, F_SEAL_WRITE), 0);
}

TEST(PacketWindowTest, NewWindowsAreZeroed) {
  absl::StatusOr<PacketWindowAllocator> a = PacketWindowAllocator::Create();
  ASSERT_TRUE(a.ok());
  absl::StatusOr<PacketWindowDescriptor> d = a->Allocate(2 * PageSize());
  ASSERT_TRUE(d.ok());
  RawWindow w(*d);
  EXPECT_EQ(w.Bytes(d->length), std::vector<uint8_t>(d->length, 0));
}

TEST(PacketWindowTest, ZeroSizeIsInvalid) {
  absl::StatusOr<PacketWindowAllocator> a = PacketWindowAllocator::Create();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(syserr::ToErrno(a->Allocate(0).status()), EINVAL);
}

// --- Endpoint creation -------------------------------------------------------

TEST(EndpointTest, WindowShorterThanAPageIsInvalid) {
  absl::StatusOr<PacketWindowAllocator> a = PacketWindowAllocator::Create();
  ASSERT_TRUE(a.ok());
  absl::StatusOr<PacketWindowDescriptor> d = a->Allocate(1);
  ASSERT_TRUE(d.ok());
  PacketWindowDescriptor small = *d;
  small.length = 64;
  EXPECT_EQ(syserr::ToErrno(Endpoint::Create(Side::kClient, small).status()),
            EINVAL);
  PacketWindowDescriptor bad = *d;
  bad.fd = -1;
  EXPECT_EQ(syserr::ToErrno(Endpoint::Create(Side::kClient, bad).status()),
            EBADF);
}

// A peer's file that could ever make a touch of the window fault is
// refused before it is mapped.
TEST(EndpointTest, WindowThatCouldFaultIsRefused) {
  const size_t page = PageSize();
  auto memfd = [](size_t size, bool seal) {
    fd::OwnedFd f(memfd_create("flipcall_packet_windows",
                               MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0)));
    EXPECT_TRUE(f.valid());
    EXPECT_EQ(ftruncate(f.get(), static_cast<off_t>(size)), 0);
    if (seal) {
      EXPECT_EQ(fcntl(f.get(), F_ADD_SEALS, F_SEAL_SHRINK), 0);
    }
    return f;
  };
  auto create = [](int fd, int64_t offset, size_t length) {
    PacketWindowDescriptor d{.fd = fd, .offset = offset, .length = length};
    return syserr::ToErrno(Endpoint::Create(Side::kClient, d).status());
  };
  fd::OwnedFd sealed = memfd(2 * page, true);
  EXPECT_EQ(create(sealed.get(), 0, 2 * page), 0);
  EXPECT_EQ(create(sealed.get(), page, page), 0);
  // Past the end of the file, wholly or partly.
  EXPECT_EQ(create(sealed.get(), 2 * page, page), EINVAL);
  EXPECT_EQ(create(sealed.get(), page, 2 * page), EINVAL);
  EXPECT_EQ(create(sealed.get(), 4 * page, page), EINVAL);
  // Negative or unaligned offsets.
  EXPECT_EQ(create(sealed.get(), -static_cast<int64_t>(page), page), EINVAL);
  EXPECT_EQ(create(sealed.get(), 1, page), EINVAL);
  // A file the peer could shrink later.
  fd::OwnedFd unsealed = memfd(2 * page, false);
  EXPECT_EQ(create(unsealed.get(), 0, page), EINVAL);
  // Not a regular file.
  fd::OwnedFd zero(open("/dev/zero", O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(zero.valid());
  EXPECT_EQ(create(zero.get(), 0, page), EINVAL);
  EXPECT_EQ(testing::WindowMappingCount(), 0);
}

TEST(SharedCopyTest, CopiesEveryByteAtAnyAlignmentAndLength) {
  std::vector<uint8_t> src(100), shared(120), back(120);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i + 1);
  for (size_t at = 0; at < 9; ++at) {
    for (size_t n = 0; n <= 40; ++n) {
      std::fill(shared.begin(), shared.end(), 0);
      CopyToShared(shared.data() + at, src.data(), n);
      EXPECT_EQ(
          std::vector<uint8_t>(shared.begin() + at, shared.begin() + at + n),
          std::vector<uint8_t>(src.begin(), src.begin() + n));
      EXPECT_EQ(shared[at + n], 0) << "wrote past the end";
      if (at > 0) {
        EXPECT_EQ(shared[at - 1], 0) << "wrote before the start";
      }
      std::fill(back.begin(), back.end(), 0xEE);
      CopyFromShared(back.data() + 1, shared.data() + at, n);
      EXPECT_EQ(std::vector<uint8_t>(back.begin() + 1, back.begin() + 1 + n),
                std::vector<uint8_t>(src.begin(), src.begin() + n));
      EXPECT_EQ(back[1 + n], 0xEE) << "read past the end";
      EXPECT_EQ(back[0], 0xEE);
    }
  }
}

TEST(EndpointTest, DataCapIsTheWindowLessTheHeader) {
  Pair p = NewPair(3 * PageSize());
  EXPECT_EQ(p.client->data_cap(), 3 * PageSize() - 16);
  EXPECT_EQ(p.server->data_cap(), 3 * PageSize() - 16);
}

TEST(EndpointTest, CreateAndDestroyLeaveNoFDsOrMappings) {
  const int fds = testing::OpenFdCount();
  ASSERT_EQ(testing::WindowMappingCount(), 0);
  for (int i = 0; i < 5; ++i) {
    Pair p = NewPair(2 * PageSize());
    EXPECT_EQ(testing::WindowMappingCount(), 2);
    std::thread t([&] {
      absl::StatusOr<uint32_t> n = p.server->RecvFirst();
      EXPECT_TRUE(IsShutdown(n.status())) << n.status();
    });
    ASSERT_TRUE(p.client->Connect().ok());
    p.client->Shutdown();
    t.join();
  }
  EXPECT_EQ(testing::OpenFdCount(), fds);
  EXPECT_EQ(testing::WindowMappingCount(), 0);
}

// --- Two threads -------------------------------------------------------------

TEST(EndpointTest, HandshakeThenRoundTrips) {
  Pair p = NewPair();
  constexpr int kRounds = 1000;
  std::thread server([&] {
    absl::StatusOr<uint32_t> n = p.server->RecvFirst();
    while (n.ok()) {
      // Echo the datagram back with every byte incremented.
      std::vector<uint8_t> got(p.server->data(), p.server->data() + *n);
      for (uint8_t& b : got) ++b;
      memcpy(p.server->data(), got.data(), got.size());
      n = p.server->SendRecv(*n);
    }
    EXPECT_TRUE(IsShutdown(n.status())) << n.status();
  });
  ASSERT_TRUE(p.client->Connect().ok());
  for (int i = 0; i < kRounds; ++i) {
    const uint32_t len = 1 + i % 200;
    for (uint32_t j = 0; j < len; ++j) p.client->data()[j] = (i + j) & 0xff;
    absl::StatusOr<uint32_t> n = p.client->SendRecv(len);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_EQ(*n, len);
    for (uint32_t j = 0; j < len; ++j) {
      ASSERT_EQ(p.client->data()[j], static_cast<uint8_t>((i + j + 1) & 0xff));
    }
  }
  p.client->Shutdown();
  server.join();
  // Both sides now fail at once.
  EXPECT_TRUE(IsShutdown(p.client->SendRecv(1).status()));
  EXPECT_TRUE(IsShutdown(p.server->SendRecv(1).status()));
}

TEST(EndpointTest, FullWindowRoundTrip) {
  Pair p = NewPair(2 * PageSize());
  const uint32_t cap = p.client->data_cap();
  std::thread server([&] {
    absl::StatusOr<uint32_t> n = p.server->RecvFirst();
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, cap);
    n = p.server->SendRecv(*n);
    EXPECT_TRUE(IsShutdown(n.status()));
  });
  ASSERT_TRUE(p.client->Connect().ok());
  memset(p.client->data(), 0xab, cap);
  absl::StatusOr<uint32_t> n = p.client->SendRecv(cap);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, cap);
  EXPECT_EQ(syserr::ToErrno(p.client->SendRecv(cap + 1).status()), EINVAL);
  p.client->Shutdown();
  server.join();
}

TEST(EndpointTest, ShutdownWakesThisSidesBlockedThread) {
  Pair p = NewPair();
  std::promise<absl::Status> done;
  std::thread server([&] { done.set_value(p.server->RecvFirst().status()); });
  std::future<absl::Status> f = done.get_future();
  EXPECT_EQ(f.wait_for(milliseconds(50)), std::future_status::timeout);
  p.server->Shutdown();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(IsShutdown(f.get()));
  server.join();
  EXPECT_TRUE(p.server->shut_down_locally());
  EXPECT_FALSE(p.client->shut_down_locally());
  // The client learns of it at its first hand-over.
  EXPECT_TRUE(IsShutdown(p.client->Connect()));
}

TEST(EndpointTest, ShutdownWakesAClientWaitingForAnAnswer) {
  Pair p = NewPair();
  std::thread server([&] {
    // Take the request and never answer.
    ASSERT_TRUE(p.server->RecvFirst().ok());
  });
  ASSERT_TRUE(p.client->Connect().ok());
  std::promise<absl::Status> done;
  std::thread client([&] { done.set_value(p.client->SendRecv(4).status()); });
  server.join();
  std::future<absl::Status> f = done.get_future();
  EXPECT_EQ(f.wait_for(milliseconds(50)), std::future_status::timeout);
  p.client->Shutdown();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(IsShutdown(f.get()));
  client.join();
  EXPECT_TRUE(IsShutdown(p.server->SendRecv(0).status()));
}

// ThreadCpu is the calling thread's CPU time (user + system).
absl::Duration ThreadCpu() {
  rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return absl::DurationFromTimeval(ru.ru_utime) +
         absl::DurationFromTimeval(ru.ru_stime);
}

TEST(EndpointTest, APeerThatNeverAnswersCostsOneSpinAtMost) {
  Pair p = NewPair();
  p.client->set_spin(spin::kMaxMax);
  EXPECT_EQ(p.client->spin(), spin::kMaxMax);
  std::thread server([&] { ASSERT_TRUE(p.server->RecvFirst().ok()); });
  ASSERT_TRUE(p.client->Connect().ok());
  std::promise<std::pair<absl::Status, absl::Duration>> done;
  std::thread client([&] {
    const absl::Duration before = ThreadCpu();
    absl::Status s = p.client->SendRecv(4).status();
    done.set_value({s, ThreadCpu() - before});
  });
  server.join();
  // The server never answers. The idle period is the measurement: the
  // client spins for one window, then sleeps in FUTEX_WAIT.
  std::future<std::pair<absl::Status, absl::Duration>> f = done.get_future();
  EXPECT_EQ(f.wait_for(milliseconds(300)), std::future_status::timeout);
  p.client->Shutdown();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto [status, cpu] = f.get();
  client.join();
  EXPECT_TRUE(IsShutdown(status));
  EXPECT_LT(cpu, spin::kMaxMax + absl::Milliseconds(10))
      << "the waiting client used " << cpu << " of CPU in 300ms";
}

TEST(EndpointTest, RoundTripsWithTheSpinOff) {
  Pair p = NewPair();
  p.client->set_spin(absl::ZeroDuration());
  p.server->set_spin(absl::ZeroDuration());
  std::thread server([&] {
    absl::StatusOr<uint32_t> n = p.server->RecvFirst();
    for (int i = 0; n.ok() && i < 100; ++i) n = p.server->SendRecv(*n);
  });
  ASSERT_TRUE(p.client->Connect().ok());
  for (uint32_t i = 0; i < 100; ++i) {
    absl::StatusOr<uint32_t> n = p.client->SendRecv(i % 8);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, i % 8);
  }
  p.client->Shutdown();
  server.join();
}

TEST(EndpointTest, PeerShutdownWakesTheWaitingSide) {
  Pair p = NewPair();
  std::promise<absl::Status> done;
  std::thread server([&] {
    absl::StatusOr<uint32_t> n = p.server->RecvFirst();
    // The client shuts down while it is active: we are woken.
    done.set_value(n.status());
  });
  ASSERT_TRUE(p.client->Connect().ok());
  std::future<absl::Status> f = done.get_future();
  EXPECT_EQ(f.wait_for(milliseconds(50)), std::future_status::timeout);
  p.client->Shutdown();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(IsShutdown(f.get()));
  server.join();
}

TEST(EndpointTest, ShutdownIsIdempotentAndRacesWithUse) {
  for (int i = 0; i < 50; ++i) {
    Pair p = NewPair();
    std::thread server([&] {
      absl::StatusOr<uint32_t> n = p.server->RecvFirst();
      while (n.ok()) n = p.server->SendRecv(*n);
    });
    std::thread client([&] {
      if (!p.client->Connect().ok()) return;
      absl::StatusOr<uint32_t> n = 1u;
      while (n.ok()) n = p.client->SendRecv(1);
      EXPECT_TRUE(IsShutdown(n.status())) << n.status();
    });
    // Let the pair run for a varying while before the shutdowns land.
    for (int k = 0; k < 20000 * (i % 5); ++k) {
      std::atomic_signal_fence(std::memory_order_seq_cst);  // keep the loop
    }
    std::thread a([&] { p.client->Shutdown(); });
    std::thread b([&] { p.client->Shutdown(); });
    a.join();
    b.join();
    client.join();
    // The server may be blocked or active; its own shutdown ends it.
    p.server->Shutdown();
    server.join();
  }
}

// --- Hostile or broken peers -------------------------------------------------

TEST(EndpointTest, OversizedDatagramLengthIsAProtocolError) {
  Pair p = NewPair();
  RawWindow w(p.desc);
  std::promise<absl::Status> done;
  std::thread client([&] { done.set_value(p.client->Connect()); });
  ASSERT_TRUE(w.WaitState(Endpoint::kStateServerActive));
  w.DataLen().store(p.client->data_cap() + 1);
  w.Give(Endpoint::kStateClientActive);
  absl::Status s = done.get_future().get();
  client.join();
  EXPECT_EQ(syserr::ToErrno(s), EPROTO) << s;
}

TEST(EndpointTest, UnknownStateIsAProtocolError) {
  Pair p = NewPair();
  RawWindow w(p.desc);
  std::promise<absl::Status> done;
  std::thread server([&] { done.set_value(p.server->RecvFirst().status()); });
  w.Give(7);
  absl::Status s = done.get_future().get();
  server.join();
  EXPECT_EQ(syserr::ToErrno(s), EPROTO) << s;
}

TEST(EndpointTest, HandshakeMustBeAJsonObject) {
  Pair p = NewPair();
  RawWindow w(p.desc);
  std::promise<absl::Status> done;
  std::thread client([&] { done.set_value(p.client->Connect()); });
  ASSERT_TRUE(w.WaitState(Endpoint::kStateServerActive));
  memcpy(w.data(), "[]\n", 3);
  w.DataLen().store(3);
  w.Give(Endpoint::kStateClientActive);
  absl::Status s = done.get_future().get();
  client.join();
  EXPECT_EQ(syserr::ToErrno(s), EPROTO) << s;
}

TEST(EndpointTest, HandshakeAcceptsAnyObjectWithLeadingSpace) {
  Pair p = NewPair();
  RawWindow w(p.desc);
  std::promise<absl::StatusOr<uint32_t>> done;
  std::thread server([&] { done.set_value(p.server->RecvFirst()); });
  memcpy(w.data(), " \n{\"a\": 1}", 10);
  w.DataLen().store(10);
  w.Give(Endpoint::kStateServerActive);
  // The server answers "{}\n" and waits for the first datagram.
  ASSERT_TRUE(w.WaitState(Endpoint::kStateClientActive));
  EXPECT_EQ(w.DataLen().load(), 3u);
  EXPECT_EQ(memcmp(w.data(), "{}\n", 3), 0);
  w.DataLen().store(5);
  w.Give(Endpoint::kStateServerActive);
  absl::StatusOr<uint32_t> n = done.get_future().get();
  server.join();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 5u);
}

// --- pkg/lisafs/README.md V15: window bytes
// -----------------------------------------------

TEST(VectorTest, V15aClientHandshake) {
  Pair p = NewPair();
  RawWindow w(p.desc);
  std::promise<absl::Status> done;
  std::thread client([&] { done.set_value(p.client->Connect()); });
  ASSERT_TRUE(w.WaitState(Endpoint::kStateServerActive));
  EXPECT_EQ(w.Bytes(19),
            Hex({0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7b, 0x7d, 0x0a}));
  memcpy(w.data(), "{}\n", 3);
  w.DataLen().store(3);
  w.Give(Endpoint::kStateClientActive);
  EXPECT_TRUE(done.get_future().get().ok());
  client.join();
}

TEST(VectorTest, V15bcdRequestAndResponses) {
  Pair p = NewPair();
  RawWindow w(p.desc);
  // (b) OpenAt of FDID 3, O_RDWR; (c) its answer, FDID 4 and one FD;
  // (d) Error(ENOENT).
  const std::vector<uint8_t> b = Hex(
      {0x01, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
       0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
       0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
  const std::vector<uint8_t> c =
      Hex({0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00,
           0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x01, 0x00,
           0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
  const std::vector<uint8_t> d = Hex(
      {0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
       0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00});
  std::thread server([&] {
    absl::StatusOr<uint32_t> n = p.server->RecvFirst();
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, 0x14u);
    EXPECT_EQ(w.Bytes(b.size()), b);
    memcpy(p.server->data(), c.data() + 16, c.size() - 16);
    n = p.server->SendRecv(c.size() - 16);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(w.Bytes(b.size()), b);
    memcpy(p.server->data(), d.data() + 16, d.size() - 16);
    n = p.server->SendRecv(d.size() - 16);
    EXPECT_TRUE(IsShutdown(n.status()));
  });
  ASSERT_TRUE(p.client->Connect().ok());
  for (const std::vector<uint8_t>* want : {&c, &d}) {
    memcpy(p.client->data(), b.data() + 16, b.size() - 16);
    absl::StatusOr<uint32_t> n = p.client->SendRecv(b.size() - 16);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, want->size() - 16);
    EXPECT_EQ(w.Bytes(want->size()), *want);
  }
  p.client->Shutdown();
  server.join();
}

// --- Two processes -----------------------------------------------------------

TEST(EndpointTest, TwoProcessesShareAMemfdWindow) {
  absl::StatusOr<PacketWindowAllocator> a = PacketWindowAllocator::Create();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->Allocate(PageSize()).ok());  // the second window is used
  absl::StatusOr<PacketWindowDescriptor> d = a->Allocate(2 * PageSize());
  ASSERT_TRUE(d.ok());
  constexpr int kRounds = 2000;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The server: its own mapping of the inherited memfd. Echo each
    // datagram with its first byte doubled until shut down.
    absl::StatusOr<std::unique_ptr<Endpoint>> s =
        Endpoint::Create(Side::kServer, *d);
    if (!s.ok()) _exit(2);
    absl::StatusOr<uint32_t> n = (*s)->RecvFirst();
    int rounds = 0;
    while (n.ok()) {
      if (*n < 1) _exit(3);
      (*s)->data()[0] = static_cast<uint8_t>((*s)->data()[0] * 2);
      ++rounds;
      n = (*s)->SendRecv(*n);
    }
    _exit(IsShutdown(n.status()) && rounds == kRounds ? 0 : 4);
  }
  absl::StatusOr<std::unique_ptr<Endpoint>> c =
      Endpoint::Create(Side::kClient, *d);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Connect().ok());
  for (int i = 0; i < kRounds; ++i) {
    (*c)->data()[0] = static_cast<uint8_t>(i & 0x7f);
    absl::StatusOr<uint32_t> n = (*c)->SendRecv(1 + i % 64);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_EQ(*n, static_cast<uint32_t>(1 + i % 64));
    ASSERT_EQ((*c)->data()[0], static_cast<uint8_t>((i & 0x7f) * 2));
  }
  (*c)->Shutdown();
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// BlockedInFutex reports whether process pid is blocked in futex(2) now,
// from /proc/<pid>/syscall (its first field is the number of the system
// call it is blocked in, or "running").
bool BlockedInFutex(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/syscall");
  long nr = -1;
  return (f >> nr) && nr == SYS_futex;
}

TEST(EndpointTest, ShutdownFromAnotherProcessWakesAWaiter) {
  absl::StatusOr<PacketWindowAllocator> a = PacketWindowAllocator::Create();
  ASSERT_TRUE(a.ok());
  absl::StatusOr<PacketWindowDescriptor> d = a->Allocate(PageSize());
  ASSERT_TRUE(d.ok());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The server answers the handshake, then waits for a first datagram
    // that never comes: only the client's shutdown can end the wait.
    absl::StatusOr<std::unique_ptr<Endpoint>> s =
        Endpoint::Create(Side::kServer, *d);
    if (!s.ok()) _exit(2);
    absl::StatusOr<uint32_t> n = (*s)->RecvFirst();
    _exit(IsShutdown(n.status()) ? 0 : 3);
  }
  absl::StatusOr<std::unique_ptr<Endpoint>> c =
      Endpoint::Create(Side::kClient, *d);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Connect().ok());
  // Shut down once the server sleeps on the futex word, so that the
  // shutdown has to wake it (rather than be seen before it waits).
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!BlockedInFutex(pid) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::yield();
  }
  EXPECT_TRUE(BlockedInFutex(pid)) << "the server never waited";
  (*c)->Shutdown();
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace gvisor::flipcall
