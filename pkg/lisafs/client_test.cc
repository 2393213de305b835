// Client tests against a scripted fake server: the test thread plays the
// server on the other end of a real socketpair, asserts the exact request
// bytes, and answers with crafted bytes (WIRE.md §10 vectors where they
// exist), while the RPC runs on another thread.

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
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/wire_testutil.h"
#include "pkg/lisafs/wire_vectors.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"

namespace gvisor::lisafs {
namespace {

using testutil::BytesToHex;
using testutil::HexToBytes;

const context::Context& Ctx() { return context::Background(); }

// V2's payload with a configurable limit and MID list.
std::vector<uint8_t> MountFrame(uint32_t max_size,
                                const std::vector<MID>& mids) {
  MountResp resp;
  resp.root.control_fd = 1;
  resp.root.stat = testutil::StatDev();
  resp.max_message_size = max_size;
  resp.supported_mids = mids;
  return *MarshalFrame(MID::kMount, resp);
}

std::vector<MID> HeadMids() {
  std::vector<MID> mids;
  for (int m = 1; m <= 33; ++m) {
    if (m != 20) mids.push_back(static_cast<MID>(m));
  }
  return mids;
}

std::vector<uint8_t> Frame(MID mid, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out(kMessageHeaderSize);
  auto h = EncodeMessageHeader(static_cast<uint32_t>(payload.size()), mid);
  std::copy(h.begin(), h.end(), out.begin());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<uint8_t> ErrorFrame(uint32_t err) {
  return *MarshalFrame(MID::kError, ErrorResp{.err = err});
}

// FakeServer is the server end of the connection, driven by the test.
class FakeServer {
 public:
  explicit FakeServer(unet::Socket sock) : sock_(std::move(sock)) {}

  // ReadFrame reads one whole request frame (header + payload).
  std::vector<uint8_t> ReadFrame() {
    std::vector<uint8_t> frame(kMessageHeaderSize);
    iovec h = {frame.data(), frame.size()};
    EXPECT_TRUE(sock_.RecvExact(absl::MakeConstSpan(&h, 1), 0, nullptr).ok());
    uint32_t len;
    memcpy(&len, frame.data(), 4);
    frame.resize(kMessageHeaderSize + len);
    if (len > 0) {
      iovec p = {frame.data() + kMessageHeaderSize, len};
      EXPECT_TRUE(sock_.RecvExact(absl::MakeConstSpan(&p, 1), 0, nullptr).ok());
    }
    return frame;
  }

  void Expect(const std::vector<uint8_t>& want) {
    std::vector<uint8_t> got = ReadFrame();
    EXPECT_EQ(got, want) << "got:\n"
                         << BytesToHex(got) << "want:\n"
                         << BytesToHex(want);
  }

  void Send(const std::vector<uint8_t>& frame, std::vector<int> fds = {}) {
    iovec v = {const_cast<uint8_t*>(frame.data()), frame.size()};
    ASSERT_TRUE(sock_.SendAll(absl::MakeConstSpan(&v, 1), fds).ok());
  }

  // Quiet reports whether no bytes are waiting from the client.
  bool Quiet() {
    pollfd p = {sock_.fd(), POLLIN, 0};
    return poll(&p, 1, 0) == 0;
  }

  // AtEof blocks until the client sends or closes; true if it closed.
  bool AtEof() {
    char c;
    return recv(sock_.fd(), &c, 1, MSG_PEEK) == 0;
  }

  void Close() { sock_ = unet::Socket(); }

 private:
  unet::Socket sock_;
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = testing::OpenFdCount();
    auto pair = unet::Socket::SocketPair(SOCK_STREAM);
    ASSERT_TRUE(pair.ok());
    client_sock_ = std::move(pair->first);
    server_ = std::make_unique<FakeServer>(std::move(pair->second));
  }

  void TearDown() override {
    root_ = ClientFD();
    if (mounted_.client) mounted_.client->Close();
    mounted_ = Mounted();
    server_.reset();
    client_sock_ = unet::Socket();
    EXPECT_EQ(testing::OpenFdCount(), fds_before_) << "FD leak";
  }

  // Mount runs NewClient against the fake server's answer.
  void Mount(uint32_t max_size = 0x1ff000,
             std::vector<MID> mids = HeadMids(), int donate = -1) {
    auto fut = std::async(std::launch::async, [&] {
      return NewClient(Ctx(), std::move(client_sock_));
    });
    server_->Expect(HexToBytes(vectors::kV1));
    std::vector<int> fds;
    if (donate >= 0) fds.push_back(donate);
    server_->Send(MountFrame(max_size, mids), fds);
    absl::StatusOr<Mounted> m = fut.get();
    ASSERT_TRUE(m.ok()) << m.status();
    mounted_ = std::move(*m);
    root_ = mounted_.client->NewFD(mounted_.root.control_fd);
  }

  // Run starts fn on another thread; the test then plays the server.
  template <typename F>
  auto Run(F fn) {
    return std::async(std::launch::async, fn);
  }

  int fds_before_ = 0;
  unet::Socket client_sock_;
  std::unique_ptr<FakeServer> server_;
  Mounted mounted_;
  ClientFD root_;
};

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
// The devutil sequence of WIRE.md §9.6, byte for byte (V3, V4, V5, V6).

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
  server_->Send(HexToBytes(vectors::kV5b),
                {zero});
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
  auto flush = Run([&] { mounted_.client->CloseFD(Ctx(), kInvalidFDID, true); });
  CloseReq want{{7, 8, 9}};
  server_->Expect(*MarshalFrame(MID::kClose, want));
  server_->Send(HexToBytes(vectors::kV6b));
  flush.get();

  auto ok = Run([&] { return root_.Walk(Ctx(), "nvidia0"); });
  server_->Expect(*MarshalFrame(MID::kWalk, WalkReq{1, {"nvidia0"}}));
  server_->Send(*MarshalFrame(
      MID::kWalk, WalkResp{WalkStatus::kSuccess, {Inode{10, testutil::StatCap1()}}}));
  absl::StatusOr<Inode> in = ok.get();
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->control_fd, 10u);
}

// ---------------------------------------------------------------------------
// Other vectors.

TEST_F(ClientTest, ErrorResponseCarriesErrno) {
  Mount();
  auto st = Run([&] { return root_.FStat(Ctx()); });
  server_->Expect(HexToBytes("08 00 00 00 03 00 00 00 01 00 00 00 00 00 00 00"));
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
  server_->Expect(*MarshalFrame(
      MID::kPRead, PReadReq{.offset = 0, .fd = 4, .count = 92}));
  server_->Send(*MarshalFrame(MID::kPRead, PReadResp{std::string(92, 'a')}));
  server_->Expect(*MarshalFrame(
      MID::kPRead, PReadReq{.offset = 92, .fd = 4, .count = 92}));
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
    auto r = Run([&] { return f.WalkStat(Ctx(), std::vector<std::string>{"", "a"}); });
    server_->Expect(*MarshalFrame(MID::kWalkStat, WalkReq{3, {"", "a"}}));
    server_->Send(*MarshalFrame(
        MID::kWalkStat, WalkStatResp{{testutil::StatDev(), testutil::StatCap1()}}));
    auto v = r.get();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->size(), 2u);
  }
  {
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    auto r = Run([&] { return f.OpenCreateAt(Ctx(), "new", O_RDWR, 0640, 1, 2); });
    OpenCreateAtReq want;
    want.common = CreateCommon{.dir_fd = 3, .uid = 1, .gid = 2, .mode = 0640};
    want.flags = O_RDWR;
    want.name = "new";
    server_->Expect(*MarshalFrame(MID::kOpenCreateAt, want));
    server_->Send(*MarshalFrame(MID::kOpenCreateAt,
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
    auto r = Run([&] { return f.MknodAt(Ctx(), "n", S_IFREG | 0600, 5, 6, 7, 8); });
    MknodAtReq want;
    want.common = CreateCommon{.dir_fd = 3, .uid = 5, .gid = 6, .mode = S_IFREG | 0600};
    want.minor = 7;
    want.major = 8;
    want.name = "n";
    server_->Expect(*MarshalFrame(MID::kMknodAt, want));
    server_->Send(*MarshalFrame(MID::kMknodAt, Inode{13, testutil::StatDev()}));
    EXPECT_EQ(r.get()->control_fd, 13u);
  }
  {
    auto r = Run([&] { return f.SymlinkAt(Ctx(), "l", "/target", 0, 0); });
    server_->Expect(*MarshalFrame(MID::kSymlinkAt,
                                  SymlinkAtReq{3, 0, 0, "l", "/target"}));
    server_->Send(*MarshalFrame(MID::kSymlinkAt, Inode{14, testutil::StatDev()}));
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
    server_->Expect(*MarshalFrame(MID::kUnlinkAt,
                                  UnlinkAtReq{3, AT_REMOVEDIR, "gone"}));
    server_->Send(Frame(MID::kUnlinkAt, kEmpty));
    EXPECT_TRUE(r.get().ok());
  }
  {
    auto r = Run([&] { return f.GetXattr(Ctx(), "user.k", 64); });
    server_->Expect(*MarshalFrame(MID::kFGetXattr, FGetXattrReq{3, 64, "user.k"}));
    server_->Send(*MarshalFrame(MID::kFGetXattr, FGetXattrResp{"v"}));
    EXPECT_EQ(*r.get(), "v");
  }
  {
    auto r = Run([&] { return f.SetXattr(Ctx(), "user.k", "v", 1); });
    server_->Expect(*MarshalFrame(MID::kFSetXattr, FSetXattrReq{3, 1, "user.k", "v"}));
    server_->Send(Frame(MID::kFSetXattr, kEmpty));
    EXPECT_TRUE(r.get().ok());
  }
  {
    auto r = Run([&] { return f.ListXattr(Ctx(), 0); });
    server_->Expect(*MarshalFrame(MID::kFListXattr, FListXattrReq{3, 0}));
    server_->Send(*MarshalFrame(MID::kFListXattr, FListXattrResp{{"user.a", "user.b"}}));
    EXPECT_THAT(*r.get(), ::testing::ElementsAre("user.a", "user.b"));
  }
  {
    auto r = Run([&] { return f.RemoveXattr(Ctx(), "user.a"); });
    server_->Expect(*MarshalFrame(MID::kFRemoveXattr, FRemoveXattrReq{3, "user.a"}));
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
        ConnectWithCredsReq{.fd = 3, .sock_type = SOCK_DGRAM, .uid = 1000, .gid = 1001}));
    server_->Send(Frame(MID::kConnectWithCreds, kEmpty));
    EXPECT_EQ(syserr::ToErrno(r.get().status()), EBADF);
  }
  ClientBoundSocketFD bound;
  {
    auto r = Run([&] { return f.BindAt(Ctx(), SOCK_STREAM, "sock", 0600, 1, 1); });
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
    server_->Expect(*MarshalFrame(MID::kListen, ListenReq{.fd = 21, .backlog = 16}));
    server_->Send(Frame(MID::kListen, kEmpty));
    EXPECT_TRUE(r.get().ok());
  }
  {
    auto r = Run([&] { return bound.Accept(Ctx()); });
    server_->Expect(*MarshalFrame(MID::kAccept, AcceptReq{21}));
    server_->Send(*MarshalFrame(MID::kAccept, AcceptResp{""}), {pair->first.fd()});
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
    auto r = Run([&] { return f.BindAt(Ctx(), SOCK_STREAM, "s2", 0600, 1, 1); });
    server_->ReadFrame();
    server_->Send(*MarshalFrame(MID::kBindAt,
                                BindAtResp{Inode{30, testutil::StatDev()}, 31}));
    EXPECT_EQ(syserr::ToErrno(r.get().status()), EBADF);
  }
  // Closing the bound socket flushes: one Close with everything queued.
  auto c = Run([&] { bound.Close(Ctx()); });
  server_->Expect(*MarshalFrame(MID::kClose, CloseReq{{30, 31, 21}}));
  server_->Send(Frame(MID::kClose, kEmpty));
  c.get();
  EXPECT_EQ(bound.notification_fd(), -1);
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
  absl::Status s =
      root_.SetXattr(Ctx(), "user.k", std::string(100, 'v'), 0);
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
    server_->Send(Frame(MID::kMkdirAt,
                        std::vector<uint8_t>(inode.begin(), inode.begin() + n)));
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
  server_->Send(*MarshalFrame(MID::kReadLinkAt,
                              ReadLinkAtResp{std::string(10000, 'x')}));
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
    auto r = Run([&] { return root_.OpenAt(Ctx(), O_RDONLY); });
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
// Close batching (WIRE.md §6.3).

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
  auto r = Run([&] { mounted_.client->CloseFD(Ctx(), 5, true); });
  server_->ReadFrame();
  server_->Send(ErrorFrame(EIO));
  r.get();
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

class CountingContext : public context::Context {
 public:
  void UninterruptibleSleepStart() const override { ++starts; }
  void UninterruptibleSleepFinish() const override { ++finishes; }
  mutable std::atomic<int> starts{0};
  mutable std::atomic<int> finishes{0};
};

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
