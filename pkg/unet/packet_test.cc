// unet::Socket on SOCK_SEQPACKET sockets: records and their FDs.

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "pkg/unet/unet_testutil.h"

namespace gvisor::unet {
namespace {

// --- SOCK_SEQPACKET ---

TEST_F(UnetTest, PacketsKeepTheirBoundariesAndFds) {
  auto [a, b] = MustPair(SOCK_SEQPACKET);
  auto [r, w] = MustPipe();
  const uint8_t p1[] = {1, 2, 3};
  const uint8_t p2[] = {4, 5};
  int sent[] = {w.get()};
  ASSERT_TRUE(a.SendPacket(p1, sent).ok());
  ASSERT_TRUE(a.SendPacket(p2, {}).ok());

  uint8_t buf[16];
  std::vector<OwnedFd> got;
  absl::StatusOr<size_t> n = b.RecvPacket(absl::MakeSpan(buf), 1, &got);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(buf[0], 1);
  EXPECT_EQ(buf[2], 3);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(IsCloexec(got[0].get()));
  EXPECT_TRUE(SameFile(got[0].get(), w.get()));

  n = b.RecvPacket(absl::MakeSpan(buf), 1, &got);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(buf[0], 4);
  EXPECT_EQ(got.size(), 1u);
}

TEST_F(UnetTest, TruncatedPacketIsEmsgsizeAndClosesItsFds) {
  auto [a, b] = MustPair(SOCK_SEQPACKET);
  {
    std::vector<OwnedFd> nulls = OpenNulls(2);
    std::vector<uint8_t> big(100, 7);
    ASSERT_TRUE(a.SendPacket(big, Raw(nulls)).ok());
  }
  const size_t open_before = OpenFds().size();
  uint8_t buf[10];
  std::vector<OwnedFd> got;
  absl::StatusOr<size_t> n = b.RecvPacket(absl::MakeSpan(buf), 2, &got);
  EXPECT_EQ(Errno(n.status()), EMSGSIZE) << n.status();
  EXPECT_NE(n.status().message().find("100"), absl::string_view::npos);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(OpenFds().size(), open_before);
}

TEST_F(UnetTest, EmptyPacketCanCarryFds) {
  auto [a, b] = MustPair(SOCK_SEQPACKET);
  OwnedFd null = MustOpenNull();
  int sent[] = {null.get()};
  ASSERT_TRUE(a.SendPacket({}, sent).ok());
  uint8_t buf[4];
  std::vector<OwnedFd> got;
  absl::StatusOr<size_t> n = b.RecvPacket(absl::MakeSpan(buf), 1, &got);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(got.size(), 1u);
}

TEST_F(UnetTest, EmptyPacketWithoutFdsIsRefused) {
  auto [a, b] = MustPair(SOCK_SEQPACKET);
  EXPECT_EQ(Errno(a.SendPacket({}, {})), EINVAL);
}

TEST_F(UnetTest, PacketPeerClosedIsEconnreset) {
  auto [a, b] = MustPair(SOCK_SEQPACKET);
  { Socket gone = std::move(b); }
  uint8_t buf[4];
  absl::StatusOr<size_t> n = a.RecvPacket(absl::MakeSpan(buf), 0, nullptr);
  EXPECT_EQ(Errno(n.status()), ECONNRESET) << n.status();
}

TEST_F(UnetTest, PacketFdsDroppedWhenNoneWanted) {
  auto [a, b] = MustPair(SOCK_SEQPACKET);
  std::vector<OwnedFd> nulls = OpenNulls(2);
  const uint8_t p[] = {9};
  ASSERT_TRUE(a.SendPacket(p, Raw(nulls)).ok());
  const size_t open_before = OpenFds().size();
  uint8_t buf[4];
  absl::StatusOr<size_t> n = b.RecvPacket(absl::MakeSpan(buf), 0, nullptr);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(OpenFds().size(), open_before);
}

}  // namespace
}  // namespace gvisor::unet
