// The server's channels (pkg/lisafs/README.md §7.9, §8), driven by a raw client
// against the fsgofer backend: the Channel answer, requests over a channel, FDs
// sent through a channel, the per-connection limit, short datagrams,
// shutdown and close with channels, concurrency and leaks.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "pkg/flipcall/flipcall.h"
#include "pkg/lisafs/channel.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/server.h"
#include "pkg/lisafs/server_test_base.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"
#include "testing/gofer_test_base.h"

namespace gvisor::lisafs {
namespace {

using ::gvisor::lisafs::servertest::kMax;
using ::gvisor::lisafs::servertest::ServerTest;
using ::gvisor::testing::Bytes;
using ::gvisor::testing::OpenFdCount;
using ::gvisor::testing::RawChannel;
using ::gvisor::testing::RawClient;
using ::gvisor::testing::Reply;
using ::gvisor::testing::ThreadCount;
using ::gvisor::testing::WindowMappingCount;

// OpenChannel sends Channel over c (the socket by default) and connects to
// the channel it returns.
std::unique_ptr<RawChannel> OpenChannel(RawClient* c) {
  absl::StatusOr<Reply> r = c->CallBytes(2, {});
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return nullptr;
  EXPECT_EQ(r->mid, 2) << r->err();
  absl::StatusOr<std::unique_ptr<RawChannel>> ch =
      RawChannel::Connect(*std::move(r));
  EXPECT_TRUE(ch.ok()) << ch.status();
  return ch.ok() ? *std::move(ch) : nullptr;
}

// FdTarget returns what /proc says FD fd is ("socket:[...]", a path...).
std::string FdTarget(int fd) {
  char buf[256];
  ssize_t n =
      readlink(absl::StrCat("/proc/self/fd/", fd).c_str(), buf, sizeof(buf));
  return n < 0 ? "" : std::string(buf, n);
}

TEST_F(ServerTest, ChannelRepliesWithAWindowAMemfdAndAnFdSocket) {
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<Reply> r = client_->CallBytes(2, {});
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->mid, 2) << r->err();
    absl::StatusOr<ChannelResp> resp = r->As<ChannelResp>();
    ASSERT_TRUE(resp.ok());
    // Windows of 2 MiB, one after another in one memfd (pkg/lisafs/README.md
    // §8.1).
    EXPECT_EQ(resp->data_offset, i * 0x200000);
    EXPECT_EQ(resp->data_length, 0x200000u);
    ASSERT_EQ(r->fds.size(), 2u);
    EXPECT_TRUE(absl::StartsWith(FdTarget(r->fds[0].get()),
                                 "/memfd:flipcall_packet_windows"))
        << FdTarget(r->fds[0].get());
    int type = 0;
    socklen_t len = sizeof(type);
    ASSERT_EQ(getsockopt(r->fds[1].get(), SOL_SOCKET, SO_TYPE, &type, &len), 0);
    EXPECT_EQ(type, SOCK_SEQPACKET);
  }
}

TEST_F(ServerTest, AChannelAnswersLikeTheSocket) {
  std::unique_ptr<RawChannel> ch = OpenChannel(client_.get());
  ASSERT_NE(ch, nullptr);
  // The same requests, over the socket and the channel, get the same bytes
  // back (apart from the new FDIDs each Walk makes).
  StatReq stat{.fd = root_};
  WalkReq walk{.dir_fd = root_, .path = {"dir", "missing"}};
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> reqs = {
      {3, *Marshal(stat)},
      {3, *Marshal(StatReq{.fd = 999})},      // EBADF
      {5, *Marshal(walk)},                    // status 1
      {3, {}},                                // EIO: malformed
      {20, *Marshal(FlushReq{.fd = root_})},  // EOPNOTSUPP
      {34, {}},                               // EOPNOTSUPP
      {3, std::vector<uint8_t>(kMax + 1)},    // EIO: oversized
  };
  for (const auto& [mid, payload] : reqs) {
    absl::StatusOr<Reply> a = client_->CallBytes(mid, payload);
    absl::StatusOr<Reply> b = ch->CallBytes(mid, payload);
    ASSERT_TRUE(a.ok() && b.ok()) << mid;
    EXPECT_EQ(a->mid, b->mid) << mid;
    if (mid == 5) {
      EXPECT_EQ(a->payload.size(), b->payload.size());
    } else {
      EXPECT_EQ(a->payload, b->payload) << mid;
    }
    EXPECT_TRUE(b->fds.empty());
  }
}

TEST_F(ServerTest, V15OpenAtOverAChannel) {
  std::unique_ptr<RawChannel> ch = OpenChannel(client_.get());
  ASSERT_NE(ch, nullptr);
  // FDID 3 is "file" (1 is the root, 2 the Walk below makes first).
  WalkResp w = Walk(root_, {"dir"});
  ASSERT_EQ(w.inodes.size(), 1u);
  absl::StatusOr<Reply> walked =
      ch->Call(MID::kWalk, WalkReq{.dir_fd = root_, .path = {"file"}});
  ASSERT_TRUE(walked.ok());
  ASSERT_EQ(walked->As<WalkResp>()->inodes.at(0).control_fd, 3u);

  absl::StatusOr<Reply> r =
      ch->Call(MID::kOpenAt, OpenAtReq{.fd = 3, .flags = O_RDWR});
  ASSERT_TRUE(r.ok()) << r.status();
  // The response overwrote the request; V15(c): MID 7, one FD, FDID 4.
  EXPECT_EQ(ch->Window(28), (std::vector<uint8_t>{
                                0, 0, 0, 0, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                0, 0, 7, 0, 1,    0, 4, 0, 0, 0, 0, 0, 0, 0}));
  ASSERT_EQ(r->fds.size(), 1u);
  EXPECT_NE(fcntl(r->fds[0].get(), F_GETFL) & O_NONBLOCK, 0);
  char buf[8] = {};
  EXPECT_EQ(pread(r->fds[0].get(), buf, sizeof(buf), 0), 6);
  EXPECT_EQ(std::string(buf, 6), "hello\n");

  // V15(d): Error(ENOENT).
  r = ch->Call(MID::kUnlinkAt,
               UnlinkAtReq{.dir_fd = root_, .flags = 0, .name = "missing"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->err(), ENOENT);
  EXPECT_EQ(ch->Window(24),
            (std::vector<uint8_t>{0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0}));
}

TEST_F(ServerTest, AChannelRequestOnAChannelSendsItsFdsThroughThatChannel) {
  std::unique_ptr<RawChannel> a = OpenChannel(client_.get());
  ASSERT_NE(a, nullptr);
  absl::StatusOr<Reply> r = a->CallBytes(2, {});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->mid, 2) << r->err();
  // Both FDs came over a's FD socket; nothing waits on the main socket.
  ASSERT_EQ(r->fds.size(), 2u);
  pollfd p = {client_->fd(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0);
  absl::StatusOr<std::unique_ptr<RawChannel>> b =
      RawChannel::Connect(*std::move(r));
  ASSERT_TRUE(b.ok()) << b.status();
  absl::StatusOr<Reply> st = (*b)->Call(MID::kFStat, StatReq{.fd = root_});
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->mid, 3);
}

TEST_F(ServerTest, ChannelsBeyondTheLimitAreENOMEM) {
  std::vector<std::unique_ptr<RawChannel>> chans;
  chans.push_back(OpenChannel(client_.get()));
  ASSERT_NE(chans[0], nullptr);
  while (chans.size() < MaxChannels()) {
    // Later ones over the first channel, as gVisor's client may do.
    absl::StatusOr<Reply> r = chans[0]->CallBytes(2, {});
    ASSERT_TRUE(r.ok());
    absl::StatusOr<std::unique_ptr<RawChannel>> c =
        RawChannel::Connect(*std::move(r));
    ASSERT_TRUE(c.ok()) << c.status();
    chans.push_back(*std::move(c));
  }
  absl::StatusOr<Reply> over_socket = client_->CallBytes(2, {});
  EXPECT_EQ(over_socket->err(), ENOMEM);
  EXPECT_TRUE(over_socket->fds.empty());
  absl::StatusOr<Reply> over_channel = chans.back()->CallBytes(2, {});
  EXPECT_EQ(over_channel->err(), ENOMEM);
  EXPECT_TRUE(over_channel->fds.empty());
  // Every channel still serves, and so does the socket.
  for (const auto& c : chans) {
    EXPECT_EQ(c->Call(MID::kFStat, StatReq{.fd = root_})->mid, 3);
  }
  EXPECT_EQ(Call(MID::kFStat, StatReq{.fd = root_}).mid, 3);
  // Another connection has its own limit.
  RawClient other(*fixture_->Connect());
  ASSERT_NE(Mount(&other), 0u);
  EXPECT_NE(OpenChannel(&other), nullptr);
}

TEST_F(ServerTest, AShortDatagramEndsTheChannelButNotTheConnection) {
  std::unique_ptr<RawChannel> ch = OpenChannel(client_.get());
  ASSERT_NE(ch, nullptr);
  // 2 bytes cannot hold the channel header: the service loop ends without
  // answering (pkg/lisafs/README.md §8.5) and its thread returns, while the
  // client would wait for good. Once that thread is gone, the waker shuts the
  // wait down.
  const int threads = ThreadCount();
  std::atomic<bool> loop_ended{false};
  std::thread waker([&] {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    // threads + 1 while the waker itself runs.
    while (ThreadCount() > threads && absl::Now() < give_up) {
      std::this_thread::yield();
    }
    loop_ended = ThreadCount() <= threads;
    ch->channel().data().Shutdown();
  });
  absl::StatusOr<uint32_t> n = ch->channel().data().SendRecv(2);
  waker.join();
  EXPECT_TRUE(loop_ended) << "the server's channel thread did not return";
  EXPECT_TRUE(flipcall::IsShutdown(n.status())) << n.status();
  EXPECT_EQ(Call(MID::kFStat, StatReq{.fd = root_}).mid, 3);
}

TEST_F(ServerTest, ClosingTheConnectionShutsItsChannelsDown) {
  std::unique_ptr<RawChannel> ch = OpenChannel(client_.get());
  ASSERT_NE(ch, nullptr);
  std::unique_ptr<RawChannel> ch2 = OpenChannel(client_.get());
  ASSERT_NE(ch2, nullptr);
  EXPECT_EQ(WindowMappingCount(), 4);  // both sides of two channels
  client_.reset();
  fixture_->server().AwaitConnections(0);
  // The server side is gone: its windows are unmapped, and our next
  // hand-over finds the connection shut down.
  EXPECT_EQ(WindowMappingCount(), 2);
  absl::StatusOr<Reply> r = ch->Call(MID::kFStat, StatReq{.fd = root_});
  EXPECT_TRUE(flipcall::IsShutdown(r.status())) << r.status();
  // A client blocked on a channel wakes up when the server ends: the server
  // shuts every channel down, from whichever side is active.
  ch.reset();
  ch2.reset();
}

TEST_F(ServerTest, ServerShutdownWakesAChannelThreadAndJoinsIt) {
  std::unique_ptr<RawChannel> ch = OpenChannel(client_.get());
  ASSERT_NE(ch, nullptr);
  // The server's channel thread waits for us; Shutdown must still end the
  // connection promptly.
  fixture_->server().Shutdown();
  fixture_->server().Wait();
  EXPECT_EQ(fixture_->server().connections(), 0u);
  EXPECT_FALSE(ch->Call(MID::kFStat, StatReq{.fd = root_}).ok());
}

TEST_F(ServerTest, ConcurrentRequestsOverChannelsAndTheSocket) {
  std::vector<std::unique_ptr<RawChannel>> chans;
  for (size_t i = 0; i < MaxChannels(); ++i) {
    chans.push_back(OpenChannel(client_.get()));
    ASSERT_NE(chans.back(), nullptr);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (auto& c : chans) {
    threads.emplace_back([&, ch = c.get()] {
      for (int i = 0; i < 200; ++i) {
        absl::StatusOr<Reply> r =
            ch->Call(MID::kWalk, WalkReq{.dir_fd = root_, .path = {"dir"}});
        if (!r.ok() || r->mid != 5) {
          ++failures;
          continue;
        }
        FDID id = r->As<WalkResp>()->inodes.at(0).control_fd;
        r = ch->Call(MID::kClose, CloseReq{.fds = {id}});
        if (!r.ok() || r->mid != 9) ++failures;
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    if (Call(MID::kFStat, StatReq{.fd = root_}).mid != 3) ++failures;
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(ServerTest, ChannelsLeakNothing) {
  const int before = OpenFdCount();
  {
    RawClient c(*fixture_->Connect());
    ASSERT_NE(Mount(&c), 0u);
    std::unique_ptr<RawChannel> ch = OpenChannel(&c);
    ASSERT_NE(ch, nullptr);
    fd::OwnedFd donated;
    absl::StatusOr<Reply> w =
        ch->Call(MID::kWalk, WalkReq{.dir_fd = 1, .path = {"file"}});
    ASSERT_TRUE(w.ok());
    absl::StatusOr<Reply> o =
        ch->Call(MID::kOpenAt,
                 OpenAtReq{.fd = w->As<WalkResp>()->inodes.at(0).control_fd,
                           .flags = O_RDONLY});
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->fds.size(), 1u);
  }
  fixture_->server().AwaitConnections(1);
  EXPECT_EQ(OpenFdCount(), before);
  EXPECT_EQ(WindowMappingCount(), 0);
}

}  // namespace
}  // namespace gvisor::lisafs
