// ClientFD tests against a scripted fake server (client_test_fixture.h):
// the request bytes of every RPC, byte for byte (pkg/lisafs/README.md §10
// vectors where they exist), and how each response is parsed.

#include "pkg/lisafs/client_fd.h"

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
using testutil::BytesToHex;
using testutil::HexToBytes;

// ---------------------------------------------------------------------------
// The devutil sequence of pkg/lisafs/README.md §9.6, byte for byte (V3, V4, V5,
// V6).

TEST_F(ClientTest, WalkOpenCloseMatchVectors) {
  Mount();
  auto walk = Run([&] {
    std::vector<std::string> names = {"nvidia-caps", "nvidia-cap1"};
    return root_.WalkMultiple(Ctx(), names);
  });
  server_->Expect(HexToBytes(vectors::kV3));
  WalkResp wr;
  wr.inodes = {Inode{2, testutil::StatCaps()}, Inode{3, testutil::StatCap1()}};
  server_->Send(*MarshalFrame(MID::kWalk, wr));
  absl::StatusOr<WalkResult> w = walk.get();
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->status, WalkStatus::kSuccess);
  ASSERT_EQ(w->inodes.size(), 2u);
  EXPECT_EQ(w->inodes[1].control_fd, 3u);
  EXPECT_EQ(w->inodes[1].stat.rdev_major, 236u);

  ClientFD child = mounted_.client->NewFD(3);
  auto open = Run([&] { return child.OpenAt(Ctx(), O_RDWR); });
  server_->Expect(HexToBytes(vectors::kV5a));
  int zero = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
  server_->Send(HexToBytes(vectors::kV5b), {zero});
  close(zero);
  absl::StatusOr<OpenResult> o = open.get();
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->open_fd, 4u);
  ASSERT_TRUE(o->host_fd.valid());
  char buf[4] = {1, 1, 1, 1};
  EXPECT_EQ(read(o->host_fd.get(), buf, 4), 4);
  EXPECT_EQ(buf[0], 0);

  // Intermediate and child closes are batched; the flushing close of the
  // open FD sends them all in one Close RPC (V6a), answered with V6b.
  mounted_.client->CloseFD(Ctx(), 2, false);
  child.Close(Ctx(), false);
  EXPECT_FALSE(child.ok());
  EXPECT_TRUE(server_->Quiet());
  auto close = Run([&] { mounted_.client->CloseFD(Ctx(), 4, true); });
  server_->Expect(HexToBytes(vectors::kV6a));
  server_->Send(HexToBytes(vectors::kV6b));
  close.get();
}

TEST_F(ClientTest, WalkStatusValuesComeBackRaw) {
  Mount();
  auto walk = Run([&] {
    std::vector<std::string> names = {"nvidia-caps", "missing"};
    return root_.WalkMultiple(Ctx(), names);
  });
  server_->ReadFrame();
  server_->Send(HexToBytes(vectors::kV4c));  // V4c
  absl::StatusOr<WalkResult> w = walk.get();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->status, WalkStatus::kComponentDoesNotExist);
  ASSERT_EQ(w->inodes.size(), 1u);
  EXPECT_EQ(w->inodes[0].control_fd, 2u);
  EXPECT_EQ(w->inodes[0].stat, testutil::StatCaps());
}

TEST_F(ClientTest, SingleWalkMapsStatuses) {
  Mount();
  auto missing = Run([&] { return root_.Walk(Ctx(), "nope"); });
  server_->ReadFrame();
  server_->Send(HexToBytes(vectors::kV4b));  // V4b
  EXPECT_EQ(syserr::ToErrno(missing.get().status()), ENOENT);

  auto symlink = Run([&] { return root_.Walk(Ctx(), "link"); });
  server_->ReadFrame();
  WalkResp wr{WalkStatus::kComponentSymlink, {Inode{7, testutil::StatDev()}}};
  server_->Send(*MarshalFrame(MID::kWalk, wr));
  EXPECT_EQ(syserr::ToErrno(symlink.get().status()), ENOTDIR);

  // Two inodes for one name is malformed: EIO, and both are queued for close.
  auto two = Run([&] { return root_.Walk(Ctx(), "x"); });
  server_->ReadFrame();
  WalkResp wr2{WalkStatus::kSuccess,
               {Inode{8, testutil::StatDev()}, Inode{9, testutil::StatDev()}}};
  server_->Send(*MarshalFrame(MID::kWalk, wr2));
  EXPECT_EQ(syserr::ToErrno(two.get().status()), EIO);
  auto flush =
      Run([&] { mounted_.client->CloseFD(Ctx(), kInvalidFDID, true); });
  CloseReq want{{7, 8, 9}};
  server_->Expect(*MarshalFrame(MID::kClose, want));
  server_->Send(HexToBytes(vectors::kV6b));
  flush.get();

  auto ok = Run([&] { return root_.Walk(Ctx(), "nvidia0"); });
  server_->Expect(*MarshalFrame(MID::kWalk, WalkReq{1, {"nvidia0"}}));
  server_->Send(*MarshalFrame(
      MID::kWalk,
      WalkResp{WalkStatus::kSuccess, {Inode{10, testutil::StatCap1()}}}));
  absl::StatusOr<Inode> in = ok.get();
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->control_fd, 10u);
}

// ---------------------------------------------------------------------------
// Other vectors.

TEST_F(ClientTest, ErrorResponseCarriesErrno) {
  Mount();
  auto st = Run([&] { return root_.FStat(Ctx()); });
  server_->Expect(
      HexToBytes("08 00 00 00 03 00 00 00 01 00 00 00 00 00 00 00"));
  server_->Send(HexToBytes(vectors::kV7));  // V7
  absl::StatusOr<Statx> s = st.get();
  EXPECT_EQ(syserr::ToErrno(s.status()), ENOENT);
  EXPECT_THAT(std::string(s.status().message()), ::testing::HasSubstr("FStat"));
}

TEST_F(ClientTest, FStatMatchesV9) {
  Mount();
  ClientFD f = mounted_.client->NewFD(3);
  auto st = Run([&] { return f.FStat(Ctx()); });
  server_->Expect(HexToBytes(vectors::kV9a));
  server_->Send(Frame(MID::kFStat, *Marshal(testutil::StatCap1())));
  absl::StatusOr<Statx> s = st.get();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, testutil::StatCap1());
}

TEST_F(ClientTest, Getdents64MatchesV8) {
  Mount();
  ClientFD dir = mounted_.client->NewFD(4);
  auto g = Run([&] { return dir.Getdents64(Ctx(), 65536); });
  server_->Expect(HexToBytes(vectors::kV8a));
  server_->Send(HexToBytes(vectors::kV8c));
  absl::StatusOr<std::vector<Dirent64>> d = g.get();
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].name, "nvidia0");
  EXPECT_EQ((*d)[0].type, DT_CHR);
  EXPECT_EQ((*d)[0].off, 0x0a1b2c3d4e5f6071u);
  EXPECT_EQ((*d)[1].name, "nvidia-caps");
  EXPECT_EQ((*d)[1].dev_minor, 5u);

  auto seek = Run([&] { return dir.Getdents64(Ctx(), -65536); });
  server_->Expect(HexToBytes(vectors::kV8b));
  server_->Send(HexToBytes(vectors::kV8d));  // V8d
  absl::StatusOr<std::vector<Dirent64>> end = seek.get();
  ASSERT_TRUE(end.ok());
  EXPECT_TRUE(end->empty());
}

TEST_F(ClientTest, MkdirAtMatchesV11) {
  Mount();
  auto m = Run([&] { return root_.MkdirAt(Ctx(), "d", 0755, 1000, 1000); });
  server_->Expect(HexToBytes(vectors::kV11));
  server_->Send(*MarshalFrame(MID::kMkdirAt, Inode{5, testutil::StatDev()}));
  absl::StatusOr<Inode> in = m.get();
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->control_fd, 5u);
}

TEST_F(ClientTest, RenameAt2MatchesV12) {
  Mount();
  auto r = Run([&] { return root_.RenameAt(Ctx(), "a", 2, "b", 1); });
  server_->Expect(HexToBytes(vectors::kV12));
  server_->Send(HexToBytes("00 00 00 00 21 00 00 00"));
  EXPECT_TRUE(r.get().ok());

  auto plain = Run([&] { return root_.RenameAt(Ctx(), "a", 2, "b"); });
  server_->Expect(*MarshalFrame(MID::kRenameAt, RenameAtReq{1, 2, "a", "b"}));
  server_->Send(HexToBytes("00 00 00 00 17 00 00 00"));
  EXPECT_TRUE(plain.get().ok());
}

TEST_F(ClientTest, RenameWithFlagsNeedsRenameAt2) {
  std::vector<MID> mids = HeadMids();
  mids.pop_back();  // drop RenameAt2, like the OLD fsgofer
  Mount(0x1ff000, mids);
  absl::Status s = root_.RenameAt(Ctx(), "a", 1, "b", 1);
  EXPECT_EQ(syserr::ToErrno(s), EINVAL);
  EXPECT_TRUE(server_->Quiet());
}

TEST_F(ClientTest, PWriteAndPReadMatchV13) {
  Mount();
  ClientFD f = mounted_.client->NewFD(4);
  auto w = Run([&] {
    const uint8_t abc[] = {'a', 'b', 'c'};
    return f.Write(Ctx(), abc, 0x10);
  });
  server_->Expect(HexToBytes(vectors::kV13a));
  server_->Send(HexToBytes(vectors::kV13b));
  absl::StatusOr<size_t> wn = w.get();
  ASSERT_TRUE(wn.ok());
  EXPECT_EQ(*wn, 3u);

  std::vector<uint8_t> buf(4096);
  auto r = Run([&] { return f.Read(Ctx(), absl::MakeSpan(buf), 0); });
  server_->Expect(HexToBytes(vectors::kV13c));
  server_->Send(HexToBytes(vectors::kV13d));
  absl::StatusOr<size_t> rn = r.get();
  ASSERT_TRUE(rn.ok());
  EXPECT_EQ(*rn, 3u);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + 3), "xyz");
}

TEST_F(ClientTest, ReadAndWriteAreChunkedAtTheMessageLimit) {
  Mount(/*max_size=*/100);
  ClientFD f = mounted_.client->NewFD(4);
  std::vector<uint8_t> data(250, 'q');
  auto w = Run([&] { return f.Write(Ctx(), data, 1000); });
  // Chunks of 100 - 20 = 80 bytes: 80, 80, 80, 10.
  for (size_t off = 0; off < 250; off += 80) {
    size_t n = std::min<size_t>(80, 250 - off);
    PWriteReq want;
    want.offset = 1000 + off;
    want.fd = 4;
    want.data.assign(n, 'q');
    server_->Expect(*MarshalFrame(MID::kPWrite, want));
    server_->Send(*MarshalFrame(MID::kPWrite, PWriteResp{.count = n}));
  }
  ASSERT_EQ(*w.get(), 250u);

  std::vector<uint8_t> buf(200);
  auto r = Run([&] { return f.Read(Ctx(), absl::MakeSpan(buf), 0); });
  // Chunks of 100 - 8 = 92; the second comes back short (EOF).
  server_->Expect(
      *MarshalFrame(MID::kPRead, PReadReq{.offset = 0, .fd = 4, .count = 92}));
  server_->Send(*MarshalFrame(MID::kPRead, PReadResp{std::string(92, 'a')}));
  server_->Expect(
      *MarshalFrame(MID::kPRead, PReadReq{.offset = 92, .fd = 4, .count = 92}));
  server_->Send(*MarshalFrame(MID::kPRead, PReadResp{std::string(5, 'b')}));
  ASSERT_EQ(*r.get(), 97u);
  EXPECT_EQ(buf[91], 'a');
  EXPECT_EQ(buf[92], 'b');
  EXPECT_TRUE(server_->Quiet());
}

TEST_F(ClientTest, PReadLongerThanAskedIsEio) {
  Mount();
  ClientFD f = mounted_.client->NewFD(4);
  std::vector<uint8_t> buf(2);
  auto r = Run([&] { return f.Read(Ctx(), absl::MakeSpan(buf), 0); });
  server_->ReadFrame();
  server_->Send(*MarshalFrame(MID::kPRead, PReadResp{"xyz"}));
  EXPECT_EQ(syserr::ToErrno(r.get().status()), EIO);
}

TEST_F(ClientTest, SetStatMatchesV14) {
  Mount();
  ClientFD f = mounted_.client->NewFD(3);
  auto s = Run([&] {
    SetStatReq req;
    req.mask = 0x202;
    req.mode = 0644;
    req.size = 4096;
    return f.SetStat(Ctx(), req);
  });
  server_->Expect(HexToBytes(vectors::kV14a));
  server_->Send(HexToBytes(vectors::kV14b));
  absl::StatusOr<SetStatResult> r = s.get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->failure_mask, 0x200u);
  EXPECT_EQ(r->failure_errno, EPERM);
}

// ---------------------------------------------------------------------------
// Every other RPC: request bytes as the codec encodes them, response parsed.

TEST_F(ClientTest, RemainingRpcsEncodeAndDecode) {
  Mount();
  ClientFD f = mounted_.client->NewFD(3);
  const std::vector<uint8_t> kEmpty;

  {
    auto r = Run([&] {
      return f.WalkStat(Ctx(), std::vector<std::string>{"", "a"});
    });
    server_->Expect(*MarshalFrame(MID::kWalkStat, WalkReq{3, {"", "a"}}));
    server_->Send(*MarshalFrame(
        MID::kWalkStat,
        WalkStatResp{{testutil::StatDev(), testutil::StatCap1()}}));
    auto v = r.get();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->size(), 2u);
  }
  {
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    auto r =
        Run([&] { return f.OpenCreateAt(Ctx(), "new", O_RDWR, 0640, 1, 2); });
    OpenCreateAtReq want;
    want.common = CreateCommon{.dir_fd = 3, .uid = 1, .gid = 2, .mode = 0640};
    want.flags = O_RDWR;
    want.name = "new";
    server_->Expect(*MarshalFrame(MID::kOpenCreateAt, want));
    server_->Send(
        *MarshalFrame(MID::kOpenCreateAt,
                      OpenCreateAtResp{Inode{11, testutil::StatDev()}, 12}),
        {null_fd});
    close(null_fd);
    auto v = r.get();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->child.control_fd, 11u);
    EXPECT_EQ(v->open_fd, 12u);
    EXPECT_EQ(write(v->host_fd.get(), "x", 1), 1);
  }
  {
    auto r = Run([&] { return f.Sync(Ctx()); });
    server_->Expect(*MarshalFrame(MID::kFSync, FsyncReq{{3}}));
    server_->Send(Frame(MID::kFSync, kEmpty));
    EXPECT_TRUE(r.get().ok());
  }
  {
    auto r =
        Run([&] { return f.MknodAt(Ctx(), "n", S_IFREG | 0600, 5, 6, 7, 8); });
    MknodAtReq want;
    want.common =
        CreateCommon{.dir_fd = 3, .uid = 5, .gid = 6, .mode = S_IFREG | 0600};
    want.minor = 7;
    want.major = 8;
    want.name = "n";
    server_->Expect(*MarshalFrame(MID::kMknodAt, want));
    server_->Send(*MarshalFrame(MID::kMknodAt, Inode{13, testutil::StatDev()}));
    EXPECT_EQ(r.get()->control_fd, 13u);
  }
  {
    auto r = Run([&] { return f.SymlinkAt(Ctx(), "l", "/target", 0, 0); });
    server_->Expect(
        *MarshalFrame(MID::kSymlinkAt, SymlinkAtReq{3, 0, 0, "l", "/target"}));
    server_->Send(
        *MarshalFrame(MID::kSymlinkAt, Inode{14, testutil::StatDev()}));
    EXPECT_EQ(r.get()->control_fd, 14u);
  }
  {
    auto r = Run([&] { return f.LinkAt(Ctx(), 9, "hard"); });
    server_->Expect(*MarshalFrame(MID::kLinkAt, LinkAtReq{3, 9, "hard"}));
    server_->Send(*MarshalFrame(MID::kLinkAt, Inode{15, testutil::StatDev()}));
    EXPECT_EQ(r.get()->control_fd, 15u);
  }
  {
    auto r = Run([&] { return f.StatFSTo(Ctx()); });
    server_->Expect(*MarshalFrame(MID::kFStatFS, FStatFSReq{3}));
    StatFS sfs;
    sfs.type = 0x1021994;
    sfs.name_length = 255;
    server_->Send(*MarshalFrame(MID::kFStatFS, sfs));
    auto v = r.get();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->type, 0x1021994u);
    EXPECT_EQ(v->name_length, 255u);
  }
  {
    auto r = Run([&] { return f.Allocate(Ctx(), 1, 2, 3); });
    server_->Expect(*MarshalFrame(MID::kFAllocate, FAllocateReq{3, 1, 2, 3}));
    server_->Send(Frame(MID::kFAllocate, kEmpty));
    EXPECT_TRUE(r.get().ok());
  }
  {
    auto r = Run([&] { return f.ReadLinkAt(Ctx()); });
    server_->Expect(*MarshalFrame(MID::kReadLinkAt, ReadLinkAtReq{3}));
    server_->Send(*MarshalFrame(MID::kReadLinkAt, ReadLinkAtResp{"../x"}));
    EXPECT_EQ(*r.get(), "../x");
  }
  {
    auto r = Run([&] { return f.UnlinkAt(Ctx(), "gone", AT_REMOVEDIR); });
    server_->Expect(
        *MarshalFrame(MID::kUnlinkAt, UnlinkAtReq{3, AT_REMOVEDIR, "gone"}));
    server_->Send(Frame(MID::kUnlinkAt, kEmpty));
    EXPECT_TRUE(r.get().ok());
  }
  {
    auto r = Run([&] { return f.GetXattr(Ctx(), "user.k", 64); });
    server_->Expect(
        *MarshalFrame(MID::kFGetXattr, FGetXattrReq{3, 64, "user.k"}));
    server_->Send(*MarshalFrame(MID::kFGetXattr, FGetXattrResp{"v"}));
    EXPECT_EQ(*r.get(), "v");
  }
  {
    auto r = Run([&] { return f.SetXattr(Ctx(), "user.k", "v", 1); });
    server_->Expect(
        *MarshalFrame(MID::kFSetXattr, FSetXattrReq{3, 1, "user.k", "v"}));
    server_->Send(Frame(MID::kFSetXattr, kEmpty));
    EXPECT_TRUE(r.get().ok());
  }
  {
    auto r = Run([&] { return f.ListXattr(Ctx(), 0); });
    server_->Expect(*MarshalFrame(MID::kFListXattr, FListXattrReq{3, 0}));
    server_->Send(
        *MarshalFrame(MID::kFListXattr, FListXattrResp{{"user.a", "user.b"}}));
    EXPECT_THAT(*r.get(), ::testing::ElementsAre("user.a", "user.b"));
  }
  {
    auto r = Run([&] { return f.RemoveXattr(Ctx(), "user.a"); });
    server_->Expect(
        *MarshalFrame(MID::kFRemoveXattr, FRemoveXattrReq{3, "user.a"}));
    server_->Send(Frame(MID::kFRemoveXattr, kEmpty));
    EXPECT_TRUE(r.get().ok());
  }
}

TEST_F(ClientTest, SocketRpcs) {
  Mount();
  ClientFD f = mounted_.client->NewFD(3);
  const std::vector<uint8_t> kEmpty;
  auto pair = unet::Socket::SocketPair(SOCK_STREAM);
  ASSERT_TRUE(pair.ok());

  {
    // No creds: plain Connect.
    auto r = Run([&] { return f.Connect(Ctx(), SOCK_STREAM); });
    server_->Expect(*MarshalFrame(MID::kConnect, ConnectReq{3, SOCK_STREAM}));
    server_->Send(Frame(MID::kConnect, kEmpty), {pair->first.fd()});
    auto v = r.get();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(write(v->get(), "p", 1), 1);
    char c;
    EXPECT_EQ(read(pair->second.fd(), &c, 1), 1);
  }
  {
    // Creds and server support: ConnectWithCreds; no FD donated → EBADF.
    auto r = Run([&] { return f.Connect(Ctx(), SOCK_DGRAM, 1000, 1001); });
    server_->Expect(*MarshalFrame(
        MID::kConnectWithCreds,
        ConnectWithCredsReq{
            .fd = 3, .sock_type = SOCK_DGRAM, .uid = 1000, .gid = 1001}));
    server_->Send(Frame(MID::kConnectWithCreds, kEmpty));
    EXPECT_EQ(syserr::ToErrno(r.get().status()), EBADF);
  }
  ClientBoundSocketFD bound;
  {
    auto r =
        Run([&] { return f.BindAt(Ctx(), SOCK_STREAM, "sock", 0600, 1, 1); });
    BindAtReq want;
    want.common = CreateCommon{.dir_fd = 3, .uid = 1, .gid = 1, .mode = 0600};
    want.sock_type = SOCK_STREAM;
    want.name = "sock";
    server_->Expect(*MarshalFrame(MID::kBindAt, want));
    server_->Send(*MarshalFrame(MID::kBindAt,
                                BindAtResp{Inode{20, testutil::StatDev()}, 21}),
                  {pair->second.fd()});
    auto v = r.get();
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->first.control_fd, 20u);
    bound = std::move(v->second);
    EXPECT_EQ(bound.id(), 21u);
    EXPECT_GE(bound.notification_fd(), 0);
  }
  {
    auto r = Run([&] { return bound.Listen(Ctx(), 16); });
    server_->Expect(
        *MarshalFrame(MID::kListen, ListenReq{.fd = 21, .backlog = 16}));
    server_->Send(Frame(MID::kListen, kEmpty));
    EXPECT_TRUE(r.get().ok());
  }
  {
    auto r = Run([&] { return bound.Accept(Ctx()); });
    server_->Expect(*MarshalFrame(MID::kAccept, AcceptReq{21}));
    server_->Send(*MarshalFrame(MID::kAccept, AcceptResp{""}),
                  {pair->first.fd()});
    auto v = r.get();
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->fd.valid());
    EXPECT_EQ(v->peer_addr, "");
  }
  {
    auto r = Run([&] { return bound.Accept(Ctx()); });
    server_->ReadFrame();
    server_->Send(ErrorFrame(EAGAIN));
    EXPECT_EQ(syserr::ToErrno(r.get().status()), EAGAIN);
  }
  {
    // BindAt with no FD: EBADF, and both FDIDs are queued for closing.
    auto r =
        Run([&] { return f.BindAt(Ctx(), SOCK_STREAM, "s2", 0600, 1, 1); });
    server_->ReadFrame();
    server_->Send(*MarshalFrame(
        MID::kBindAt, BindAtResp{Inode{30, testutil::StatDev()}, 31}));
    EXPECT_EQ(syserr::ToErrno(r.get().status()), EBADF);
  }
  // Closing the bound socket flushes: one Close with everything queued.
  auto c = Run([&] { bound.Close(Ctx()); });
  server_->Expect(*MarshalFrame(MID::kClose, CloseReq{{30, 31, 21}}));
  server_->Send(Frame(MID::kClose, kEmpty));
  c.get();
  EXPECT_EQ(bound.notification_fd(), -1);
}

}  // namespace
}  // namespace gvisor::lisafs
