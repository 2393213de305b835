// Client tests against a scripted fake server (client_test_fixture.h): the
// Mount negotiation, local checks, hostile or broken servers, close
// batching, concurrency and the context hooks. The bytes of each ClientFD
// RPC are in client_fd_test.cc.

#include "pkg/lisafs/client.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/context/testutil.h"
#include "pkg/lisafs/client_test_fixture.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/wire_testutil.h"
#include "pkg/lisafs/wire_vectors.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"

namespace gvisor::lisafs {
namespace {

using client_test::ClientTest;
using client_test::Ctx;
using client_test::ErrorFrame;
using client_test::Frame;
using client_test::HeadMids;
using client_test::MountFrame;
using context::testutil::CountingContext;
using testutil::BytesToHex;
using testutil::HexToBytes;

// ---------------------------------------------------------------------------
// Mount

TEST_F(ClientTest, MountSendsV1AndParsesV2) {
  auto fut = Run([&] { return NewClient(Ctx(), std::move(client_sock_)); });
  server_->Expect(HexToBytes(vectors::kV1));
  server_->Send(HexToBytes(vectors::kV2));
  absl::StatusOr<Mounted> m = fut.get();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->root.control_fd, 1u);
  EXPECT_EQ(m->root.stat, testutil::StatDev());
  EXPECT_FALSE(m->host_fd.valid());
  EXPECT_EQ(m->client->max_message_size(), 0x1ff000u);
  EXPECT_TRUE(m->client->IsSupported(MID::kWalk));
  EXPECT_TRUE(m->client->IsSupported(MID::kRenameAt2));
  EXPECT_FALSE(m->client->IsSupported(MID::kFlush));
  EXPECT_FALSE(m->client->IsSupported(MID::kError));
  EXPECT_FALSE(m->client->IsSupported(static_cast<MID>(34)));
  mounted_ = std::move(*m);
}

TEST_F(ClientTest, MountKeepsDonatedHostFd) {
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  Mount(0x1ff000, HeadMids(), null_fd);
  close(null_fd);
  ASSERT_TRUE(mounted_.host_fd.valid());
  struct stat st;
  ASSERT_EQ(fstat(mounted_.host_fd.get(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(fcntl(mounted_.host_fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST_F(ClientTest, MountErrorFailsAndClosesSocket) {
  auto fut = Run([&] { return NewClient(Ctx(), std::move(client_sock_)); });
  server_->ReadFrame();
  server_->Send(ErrorFrame(EACCES));
  absl::StatusOr<Mounted> m = fut.get();
  EXPECT_EQ(syserr::ToErrno(m.status()), EACCES);
  // The client's end is closed: the server sees end of stream.
  EXPECT_TRUE(server_->AtEof());
}

TEST_F(ClientTest, MountWithNoMidsIsEio) {
  auto fut = Run([&] { return NewClient(Ctx(), std::move(client_sock_)); });
  server_->ReadFrame();
  server_->Send(MountFrame(0x1ff000, {}));
  EXPECT_EQ(syserr::ToErrno(fut.get().status()), EIO);
}

TEST_F(ClientTest, MountWithZeroMessageSizeIsEio) {
  auto fut = Run([&] { return NewClient(Ctx(), std::move(client_sock_)); });
  server_->ReadFrame();
  server_->Send(MountFrame(0, HeadMids()));
  EXPECT_EQ(syserr::ToErrno(fut.get().status()), EIO);
}

TEST_F(ClientTest, MountTruncatedResponseIsEio) {
  auto fut = Run([&] { return NewClient(Ctx(), std::move(client_sock_)); });
  server_->ReadFrame();
  std::vector<uint8_t> full = MountFrame(0x1ff000, HeadMids());
  // Announce only 100 payload bytes: too short for a MountResp.
  std::vector<uint8_t> cut(full.begin() + 8, full.begin() + 108);
  server_->Send(Frame(MID::kMount, cut));
  EXPECT_EQ(syserr::ToErrno(fut.get().status()), EIO);
}

// ---------------------------------------------------------------------------
// Local checks: nothing is sent.

TEST_F(ClientTest, UnsupportedRpcFailsLocally) {
  Mount(0x1ff000, {MID::kWalk, MID::kOpenAt});
  EXPECT_EQ(syserr::ToErrno(root_.FStat(Ctx()).status()), EOPNOTSUPP);
  EXPECT_TRUE(server_->Quiet());
}

TEST_F(ClientTest, FlushWithoutServerSupportSendsNothing) {
  Mount();
  EXPECT_TRUE(root_.Flush(Ctx()).ok());
  EXPECT_TRUE(server_->Quiet());
}

TEST_F(ClientTest, FlushIsSentWhenSupported) {
  std::vector<MID> mids = HeadMids();
  mids.push_back(MID::kFlush);
  Mount(0x1ff000, mids);
  auto r = Run([&] { return root_.Flush(Ctx()); });
  server_->Expect(*MarshalFrame(MID::kFlush, FlushReq{1}));
  server_->Send(Frame(MID::kFlush, {}));
  EXPECT_TRUE(r.get().ok());
}

TEST_F(ClientTest, OversizedRequestFailsLocally) {
  Mount(/*max_size=*/64);
  absl::Status s = root_.SetXattr(Ctx(), "user.k", std::string(100, 'v'), 0);
  EXPECT_EQ(syserr::ToErrno(s), EIO);
  EXPECT_TRUE(server_->Quiet());
}

TEST_F(ClientTest, TooManyWantedFdsIsEinval) {
  Mount();
  std::vector<uint8_t> resp;
  std::vector<fd::OwnedFd> fds;
  absl::Status s = mounted_.client->SndRcvMessage(
      Ctx(), MID::kFStat, *Marshal(StatReq{1}), 256, &resp, &fds);
  EXPECT_EQ(syserr::ToErrno(s), EINVAL);
  EXPECT_TRUE(server_->Quiet());
}

// ---------------------------------------------------------------------------
// Hostile or broken servers.

TEST_F(ClientTest, WrongResponseMidIsEinvalAndClosesFds) {
  Mount();
  int before = testing::OpenFdCount();
  auto r = Run([&] { return root_.OpenAt(Ctx(), O_RDONLY); });
  server_->ReadFrame();
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  server_->Send(*MarshalFrame(MID::kWalk, OpenAtResp{4}), {null_fd});
  close(null_fd);
  EXPECT_EQ(syserr::ToErrno(r.get().status()), EINVAL);
  EXPECT_EQ(testing::OpenFdCount(), before);
}

TEST_F(ClientTest, ErrorResponseWithFdsClosesThem) {
  Mount();
  int before = testing::OpenFdCount();
  auto r = Run([&] { return root_.OpenAt(Ctx(), O_RDONLY); });
  server_->ReadFrame();
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  server_->Send(ErrorFrame(EPERM), {null_fd});
  close(null_fd);
  EXPECT_EQ(syserr::ToErrno(r.get().status()), EPERM);
  EXPECT_EQ(testing::OpenFdCount(), before);
}

TEST_F(ClientTest, MalformedErrorResponsesAreEio) {
  Mount();
  for (const std::vector<uint8_t>& payload :
       {std::vector<uint8_t>{}, std::vector<uint8_t>{2, 0},
        std::vector<uint8_t>{0, 0, 0, 0}}) {
    auto r = Run([&] { return root_.FStat(Ctx()); });
    server_->ReadFrame();
    server_->Send(Frame(MID::kError, payload));
    EXPECT_EQ(syserr::ToErrno(r.get().status()), EIO);
  }
}

TEST_F(ClientTest, TruncatedResponsesAreEio) {
  Mount();
  std::vector<uint8_t> inode = *Marshal(Inode{5, testutil::StatDev()});
  for (size_t n : {size_t{0}, size_t{7}, size_t{8}, size_t{151}}) {
    auto r = Run([&] { return root_.MkdirAt(Ctx(), "d", 0755, 0, 0); });
    server_->ReadFrame();
    server_->Send(Frame(
        MID::kMkdirAt, std::vector<uint8_t>(inode.begin(), inode.begin() + n)));
    EXPECT_EQ(syserr::ToErrno(r.get().status()), EIO) << n;
  }
  // A Walk response whose count points past the end.
  auto w = Run([&] { return root_.Walk(Ctx(), "x"); });
  server_->ReadFrame();
  server_->Send(HexToBytes("03 00 00 00 05 00 00 00 00 ff ff"));
  EXPECT_EQ(syserr::ToErrno(w.get().status()), EIO);
  // The connection is still in sync and usable.
  auto ok = Run([&] { return root_.FStat(Ctx()); });
  server_->ReadFrame();
  server_->Send(Frame(MID::kFStat, *Marshal(testutil::StatDev())));
  EXPECT_TRUE(ok.get().ok());
}

TEST_F(ClientTest, OversizedResponseIsEioAndStreamStaysInSync) {
  Mount(/*max_size=*/4096);
  auto r = Run([&] { return root_.ReadLinkAt(Ctx()); });
  server_->ReadFrame();
  server_->Send(
      *MarshalFrame(MID::kReadLinkAt, ReadLinkAtResp{std::string(10000, 'x')}));
  EXPECT_EQ(syserr::ToErrno(r.get().status()), EIO);
  auto ok = Run([&] { return root_.ReadLinkAt(Ctx()); });
  server_->ReadFrame();
  server_->Send(*MarshalFrame(MID::kReadLinkAt, ReadLinkAtResp{"t"}));
  EXPECT_EQ(*ok.get(), "t");
}

TEST_F(ClientTest, ExtraDonatedFdsAreClosed) {
  Mount();
  int before = testing::OpenFdCount();
  {
    CountingContext ctx;
    auto r = Run([&] { return root_.OpenAt(ctx, O_RDONLY); });
    server_->ReadFrame();
    int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int b = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    int c = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    server_->Send(*MarshalFrame(MID::kOpenAt, OpenAtResp{4}), {a, b, c});
    close(a), close(b), close(c);
    absl::StatusOr<OpenResult> o = r.get();
    ASSERT_TRUE(o.ok()) << o.status();
    struct stat st;
    ASSERT_EQ(fstat(o->host_fd.get(), &st), 0);
    EXPECT_EQ(st.st_rdev, makedev(1, 3));  // the first one is kept
    EXPECT_EQ(testing::OpenFdCount(), before + 1);
    // The surplus is reported through the caller's context.
    EXPECT_EQ(ctx.warnings.load(), 1);
  }
  {
    // An RPC that wants no FD closes whatever comes.
    auto r = Run([&] { return root_.FStat(Ctx()); });
    server_->ReadFrame();
    int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
    server_->Send(Frame(MID::kFStat, *Marshal(testutil::StatDev())), {a});
    close(a);
    EXPECT_TRUE(r.get().ok());
  }
  EXPECT_EQ(testing::OpenFdCount(), before);
}

TEST_F(ClientTest, ServerClosingMidRpcFailsThisAndLaterRpcs) {
  Mount();
  auto r = Run([&] { return root_.FStat(Ctx()); });
  server_->ReadFrame();
  server_->Close();
  EXPECT_EQ(syserr::ToErrno(r.get().status()), EIO);
  EXPECT_EQ(syserr::ToErrno(root_.FStat(Ctx()).status()), EIO);
  EXPECT_EQ(syserr::ToErrno(root_.OpenAt(Ctx(), 0).status()), EIO);
}

TEST_F(ClientTest, ServerClosingMidResponseFails) {
  Mount();
  auto r = Run([&] { return root_.FStat(Ctx()); });
  server_->ReadFrame();
  std::vector<uint8_t> full = Frame(MID::kFStat, *Marshal(testutil::StatDev()));
  full.resize(50);  // header promises 144 bytes; 42 arrive, then EOF
  server_->Send(full);
  server_->Close();
  EXPECT_EQ(syserr::ToErrno(r.get().status()), EIO);
}

TEST_F(ClientTest, CloseWakesABlockedRpc) {
  Mount();
  auto r = Run([&] { return root_.FStat(Ctx()); });
  server_->ReadFrame();  // the RPC is now waiting for its response
  mounted_.client->Close();
  EXPECT_EQ(syserr::ToErrno(r.get().status()), EIO);
  EXPECT_EQ(syserr::ToErrno(root_.FStat(Ctx()).status()), EIO);
  mounted_.client->Close();  // idempotent
}

// ---------------------------------------------------------------------------
// Close batching (pkg/lisafs/README.md §6.3).

TEST_F(ClientTest, CloseBatchesUpToOneHundred) {
  Mount();
  for (FDID id = 100; id < 199; ++id) {
    mounted_.client->CloseFD(Ctx(), id, false);
  }
  EXPECT_TRUE(server_->Quiet());
  auto r = Run([&] { mounted_.client->CloseFD(Ctx(), 199, false); });
  CloseReq want;
  for (FDID id = 100; id < 200; ++id) want.fds.push_back(id);
  server_->Expect(*MarshalFrame(MID::kClose, want));
  server_->Send(Frame(MID::kClose, {}));
  r.get();
  // The batch is empty again.
  mounted_.client->CloseFD(Ctx(), 300, false);
  EXPECT_TRUE(server_->Quiet());
}

TEST_F(ClientTest, CloseErrorsAreOnlyLogged) {
  Mount();
  CountingContext ctx;
  auto r = Run([&] { mounted_.client->CloseFD(ctx, 5, true); });
  server_->ReadFrame();
  server_->Send(ErrorFrame(EIO));
  r.get();
  // The warning goes to the caller's context.
  EXPECT_EQ(ctx.warnings.load(), 1);
  // The client still works.
  auto ok = Run([&] { return root_.FStat(Ctx()); });
  server_->ReadFrame();
  server_->Send(Frame(MID::kFStat, *Marshal(testutil::StatDev())));
  EXPECT_TRUE(ok.get().ok());
}

// ---------------------------------------------------------------------------
// Concurrency and context hooks.

TEST_F(ClientTest, ConcurrentRpcsAreSerialized) {
  Mount();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  // An auto-responder: answers each FStat with a Statx whose ino is the
  // request's FDID, so each caller can check it got its own answer.
  std::thread responder([&] {
    for (int i = 0; i < kThreads * kPerThread; ++i) {
      std::vector<uint8_t> req = server_->ReadFrame();
      StatReq sr = *Unmarshal<StatReq>(
          absl::MakeConstSpan(req).subspan(kMessageHeaderSize));
      Statx st = testutil::StatDev();
      st.ino = sr.fd;
      server_->Send(Frame(MID::kFStat, *Marshal(st)));
    }
  });
  std::vector<std::thread> callers;
  std::atomic<int> good{0};
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        FDID id = 1000 * (t + 1) + i;
        absl::StatusOr<Statx> s = mounted_.client->NewFD(id).FStat(Ctx());
        if (s.ok() && s->ino == id) ++good;
      }
    });
  }
  for (auto& c : callers) c.join();
  responder.join();
  EXPECT_EQ(good.load(), kThreads * kPerThread);
}

TEST_F(ClientTest, EveryRpcIsAnUninterruptibleSleep) {
  Mount();
  CountingContext ctx;
  auto r = Run([&] { return root_.FStat(ctx); });
  server_->ReadFrame();
  server_->Send(Frame(MID::kFStat, *Marshal(testutil::StatDev())));
  ASSERT_TRUE(r.get().ok());
  EXPECT_EQ(ctx.starts.load(), 1);
  EXPECT_EQ(ctx.finishes.load(), 1);
  // A locally refused RPC is bracketed too.
  std::vector<uint8_t> resp;
  std::vector<fd::OwnedFd> fds;
  EXPECT_FALSE(mounted_.client
                   ->SndRcvMessage(ctx, MID::kFStat, *Marshal(StatReq{1}), 256,
                                   &resp, &fds)
                   .ok());
  EXPECT_EQ(ctx.starts.load(), 2);
  EXPECT_EQ(ctx.finishes.load(), 2);
}

}  // namespace
}  // namespace gvisor::lisafs
