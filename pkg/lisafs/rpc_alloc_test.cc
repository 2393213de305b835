// Heap allocations per RPC in steady state, counted exactly: this binary
// replaces the global operator new (testing/alloc_count.h), so every
// allocation of the client thread (and of the whole process) is seen. After a
// warm-up, FStat, Walk+Close and OpenAt+Close over the socket must allocate
// nothing on the client thread, nor on the server's (in this process, on its
// own threads: the process's count less the client thread's).

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include <atomic>
#include <cstddef>
#include <new>

#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/lisafs/client.h"
#include "pkg/unet/unet.h"
#include "testing/alloc_count.h"
#include "testing/gofer_fixture.h"

namespace gvisor::lisafs {
namespace {

// Under AddressSanitizer and ThreadSanitizer the recycler
// (pkg/lisafs/recycler.h) hands every block back to the heap, so that the
// sanitizer sees every object's life: the server's FDIDs then allocate, and
// only their counts without it are exact.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kRecycling = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kRecycling = false;
#else
constexpr bool kRecycling = true;
#endif
#else
constexpr bool kRecycling = true;
#endif

constexpr int kWarmup = 50;
constexpr int kRpcs = 200;

struct Counts {
  uint64_t client = 0;
  uint64_t process = 0;
  uint64_t server() const { return process - client; }
};

template <typename F>
Counts Measure(F f) {
  for (int i = 0; i < kWarmup; ++i) f();
  const uint64_t t0 = testing::ThreadAllocs();
  const uint64_t g0 = testing::ProcessAllocs();
  for (int i = 0; i < kRpcs; ++i) f();
  return Counts{testing::ThreadAllocs() - t0, testing::ProcessAllocs() - g0};
}

class RpcAllocTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<gvisor::testing::Gofer> g = gvisor::testing::StartGofer();
    ASSERT_TRUE(g.ok()) << g.status();
    gofer_ = *std::move(g);
    absl::StatusOr<unet::Socket> sock =
        unet::Socket::FromFd(std::move(gofer_.client));
    ASSERT_TRUE(sock.ok()) << sock.status();
    absl::StatusOr<Mounted> m =
        NewClient(context::Background(), *std::move(sock));
    ASSERT_TRUE(m.ok()) << m.status();
    mounted_ = *std::move(m);
    root_ = mounted_.client->NewFD(mounted_.root.control_fd);
  }

  void TearDown() override {
    root_.Close(context::Background(), true);
    mounted_.client.reset();
  }

  void Report(const char* what, const Counts& c) {
    printf("%s: client thread %.2f allocations/RPC, server %.2f\n", what,
           static_cast<double>(c.client) / kRpcs,
           static_cast<double>(c.server()) / kRpcs);
    RecordProperty(std::string(what) + "_process_allocs",
                   static_cast<int>(c.process));
  }

  gvisor::testing::Gofer gofer_;
  Mounted mounted_;
  ClientFD root_;
};

TEST_F(RpcAllocTest, FStatAllocatesNothingOnEitherSide) {
  const context::Context& ctx = context::Background();
  bool ok = true;
  Counts c = Measure([&] { ok &= root_.FStat(ctx).ok(); });
  ASSERT_TRUE(ok);
  Report("FStat", c);
  EXPECT_EQ(c.client, 0u);
  EXPECT_EQ(c.server(), 0u);
}

TEST_F(RpcAllocTest, WalkAndCloseAllocateNothingOnEitherSide) {
  const context::Context& ctx = context::Background();
  bool ok = true;
  Counts c = Measure([&] {
    absl::StatusOr<Inode> i = root_.Walk(ctx, "file");
    ok &= i.ok();
    if (i.ok()) mounted_.client->CloseFD(ctx, i->control_fd, true);
  });
  ASSERT_TRUE(ok);
  Report("Walk+Close", c);
  EXPECT_EQ(c.client, 0u);
  // The FDID's ControlFD, its backend object and its Node are recycled.
  if (kRecycling) {
    EXPECT_EQ(c.server(), 0u);
  }
}

TEST_F(RpcAllocTest, OpenAtAndCloseAllocateNothingOnEitherSide) {
  const context::Context& ctx = context::Background();
  absl::StatusOr<Inode> file = root_.Walk(ctx, "file");
  ASSERT_TRUE(file.ok()) << file.status();
  ClientFD f = mounted_.client->NewFD(file->control_fd);
  bool ok = true;
  Counts c = Measure([&] {
    absl::StatusOr<OpenResult> o = f.OpenAt(ctx, O_RDONLY);
    ok &= o.ok();
    if (o.ok()) mounted_.client->CloseFD(ctx, o->open_fd, true);
  });
  ASSERT_TRUE(ok);
  Report("OpenAt+Close", c);
  EXPECT_EQ(c.client, 0u);
  // The OpenFD and its backend object are recycled; the host FD is lent,
  // not dup'ed.
  if (kRecycling) {
    EXPECT_EQ(c.server(), 0u);
  }
  f.Close(ctx, true);
}

// Over a flipcall channel the server's channel thread reuses its request
// frame and gives each answer's buffer back, as a worker does.
TEST_F(RpcAllocTest, OverAChannelFStatAndWalkAllocateNothingOnEitherSide) {
  const context::Context& ctx = context::Background();
  ASSERT_TRUE(mounted_.client->StartChannels(ctx).ok());
  bool ok = true;
  Counts fstat = Measure([&] { ok &= root_.FStat(ctx).ok(); });
  ASSERT_TRUE(ok);
  Report("FStat (channel)", fstat);
  EXPECT_EQ(fstat.client, 0u);
  EXPECT_EQ(fstat.server(), 0u);
  Counts walk = Measure([&] {
    absl::StatusOr<Inode> i = root_.Walk(ctx, "file");
    ok &= i.ok();
    if (i.ok()) mounted_.client->CloseFD(ctx, i->control_fd, true);
  });
  ASSERT_TRUE(ok);
  Report("Walk+Close (channel)", walk);
  EXPECT_EQ(walk.client, 0u);
  if (kRecycling) {
    EXPECT_EQ(walk.server(), 0u);
  }
}

}  // namespace
}  // namespace gvisor::lisafs
