#include "pkg/lisafs/messages.h"

#include <errno.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/lisafs/wire_testutil.h"
#include "pkg/lisafs/wire_vectors.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {
namespace {

using ::gvisor::lisafs::testutil::BytesToHex;
using ::gvisor::lisafs::testutil::HexToBytes;
using ::gvisor::lisafs::testutil::StatCap1;
using ::gvisor::lisafs::testutil::StatCaps;
using ::gvisor::lisafs::testutil::StatDev;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------
// WIRE.md §10 vectors, whole frames: encode must give the bytes exactly, and
// decoding the bytes must give back the header and the message.

template <WireMessage T>
void CheckFrameVector(absl::string_view hex, MID mid, const T& msg) {
  const std::vector<uint8_t> want = HexToBytes(hex);
  ASSERT_GE(want.size(), kMessageHeaderSize);

  absl::StatusOr<std::vector<uint8_t>> got = MarshalFrame(mid, msg);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(BytesToHex(*got), BytesToHex(want));

  absl::StatusOr<MessageHeader> h = DecodeMessageHeader(want);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->size, want.size() - kMessageHeaderSize);
  EXPECT_EQ(h->mid, static_cast<uint16_t>(mid));
  EXPECT_EQ(h->pad, 0);

  absl::StatusOr<T> decoded =
      Unmarshal<T>(absl::MakeConstSpan(want).subspan(kMessageHeaderSize));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(*decoded == msg);
}

// CheckPayload checks a message's payload encoding (no frame header) both
// ways.
template <WireMessage T>
void CheckPayload(absl::string_view hex, const T& msg) {
  const std::vector<uint8_t> want = HexToBytes(hex);
  absl::StatusOr<std::vector<uint8_t>> got = Marshal(msg);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(BytesToHex(*got), BytesToHex(want));
  absl::StatusOr<T> decoded = Unmarshal<T>(want);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(*decoded == msg);
}

TEST(VectorTest, V0Statx) {
  CheckPayload(vectors::kV0,
               StatDev());
}

TEST(VectorTest, V1MountRequest) {
  CheckFrameVector(vectors::kV1, MID::kMount,
                   EmptyMessage{});
}

TEST(VectorTest, V2MountResponse) {
  MountResp m{.root = {.control_fd = 1, .stat = StatDev()},
              .max_message_size = 0x1ff000};
  for (int i = 1; i <= 33; ++i) {
    if (i != 20) m.supported_mids.push_back(static_cast<MID>(i));
  }
  CheckFrameVector(vectors::kV2,
                   MID::kMount, m);
}

TEST(VectorTest, V3WalkRequest) {
  CheckFrameVector(vectors::kV3,
                   MID::kWalk,
                   WalkReq{.dir_fd = 1,
                           .path = {"nvidia-caps", "nvidia-cap1"}});
}

TEST(VectorTest, V4WalkResponseTwoInodes) {
  CheckFrameVector(vectors::kV4,
                   MID::kWalk,
                   WalkResp{.status = WalkStatus::kSuccess,
                            .inodes = {{.control_fd = 2, .stat = StatCaps()},
                                       {.control_fd = 3, .stat = StatCap1()}}});
}

TEST(VectorTest, V4bWalkResponseFirstComponentMissing) {
  CheckFrameVector(vectors::kV4b, MID::kWalk,
                   WalkResp{.status = WalkStatus::kComponentDoesNotExist});
}

TEST(VectorTest, V4cWalkResponseSecondComponentMissing) {
  CheckFrameVector(vectors::kV4c,
                   MID::kWalk,
                   WalkResp{.status = WalkStatus::kComponentDoesNotExist,
                            .inodes = {{.control_fd = 2, .stat = StatCaps()}}});
}

TEST(VectorTest, V5aOpenAtRequest) {
  CheckFrameVector(vectors::kV5a,
                   MID::kOpenAt, OpenAtReq{.fd = 3, .flags = 2});
}

TEST(VectorTest, V5bOpenAtResponse) {
  CheckFrameVector(vectors::kV5b,
                   MID::kOpenAt, OpenAtResp{.open_fd = 4});
}

TEST(VectorTest, V6aCloseRequest) {
  CheckFrameVector(vectors::kV6a,
                   MID::kClose, CloseReq{.fds = {2, 3, 4}});
}

TEST(VectorTest, V6bCloseResponse) {
  CheckFrameVector(vectors::kV6b, MID::kClose,
                   EmptyMessage{});
}

TEST(VectorTest, V7ErrorResponse) {
  CheckFrameVector(vectors::kV7, MID::kError,
                   ErrorResp{.err = ENOENT});
}

TEST(VectorTest, V8aGetdents64Request) {
  CheckFrameVector(vectors::kV8a,
                   MID::kGetdents64,
                   Getdents64Req{.dir_fd = 4, .count = 65536});
}

TEST(VectorTest, V8bGetdents64RequestSeekToZero) {
  CheckFrameVector(vectors::kV8b,
                   MID::kGetdents64,
                   Getdents64Req{.dir_fd = 4, .count = -65536});
}

TEST(VectorTest, V8cGetdents64ResponseTwoEntries) {
  CheckFrameVector(vectors::kV8c,
                   MID::kGetdents64,
                   Getdents64Resp{.dirents = {
                                      {.ino = 0x1e,
                                       .dev_minor = 5,
                                       .dev_major = 0,
                                       .off = 0x0a1b2c3d4e5f6071,
                                       .type = 2,
                                       .name = "nvidia0"},
                                      {.ino = 0x1c,
                                       .dev_minor = 5,
                                       .dev_major = 0,
                                       .off = 0x7fffffffffffffff,
                                       .type = 4,
                                       .name = "nvidia-caps"},
                                  }});
}

TEST(VectorTest, V8dGetdents64ResponseEndOfDirectory) {
  CheckFrameVector(vectors::kV8d, MID::kGetdents64,
                   Getdents64Resp{});
}

TEST(VectorTest, V9aFStatRequest) {
  CheckFrameVector(vectors::kV9a,
                   MID::kFStat, StatReq{.fd = 3});
}

TEST(VectorTest, V9bFStatResponse) {
  CheckFrameVector(vectors::kV9b,
                   MID::kFStat, StatCap1());
}

TEST(VectorTest, V10aChannelRequest) {
  CheckFrameVector(vectors::kV10a, MID::kChannel,
                   EmptyMessage{});
}

TEST(VectorTest, V10bChannelResponse) {
  CheckFrameVector(vectors::kV10b,
                   MID::kChannel,
                   ChannelResp{.data_offset = 0, .data_length = 2 << 20});
}

TEST(VectorTest, V11MkdirAtRequest) {
  CheckFrameVector(vectors::kV11,
                   MID::kMkdirAt,
                   MkdirAtReq{.common = {.dir_fd = 1,
                                         .uid = 1000,
                                         .gid = 1000,
                                         .mode = 0755},
                              .name = "d"});
}

TEST(VectorTest, V12RenameAt2Request) {
  CheckFrameVector(vectors::kV12,
                   MID::kRenameAt2,
                   RenameAt2Req{.old_dir = 1,
                                .new_dir = 2,
                                .old_name = "a",
                                .new_name = "b",
                                .flags = 1});
}

TEST(VectorTest, V13aPWriteRequest) {
  CheckFrameVector(vectors::kV13a,
                   MID::kPWrite,
                   PWriteReq{.offset = 0x10, .fd = 4, .data = "abc"});
}

TEST(VectorTest, V13bPWriteResponse) {
  CheckFrameVector(vectors::kV13b,
                   MID::kPWrite, PWriteResp{.count = 3});
}

TEST(VectorTest, V13cPReadRequest) {
  CheckFrameVector(vectors::kV13c,
                   MID::kPRead, PReadReq{.offset = 0, .fd = 4, .count = 4096});
}

TEST(VectorTest, V13dPReadResponse) {
  CheckFrameVector(vectors::kV13d,
                   MID::kPRead, PReadResp{.data = "xyz"});
}

TEST(VectorTest, V14aSetStatRequest) {
  CheckFrameVector(vectors::kV14a,
                   MID::kSetStat,
                   SetStatReq{.fd = 3,
                              .mask = 0x202,
                              .mode = 0644,
                              .uid = kNoUID,
                              .gid = kNoGID,
                              .size = 4096});
}

TEST(VectorTest, V14bSetStatResponse) {
  CheckFrameVector(vectors::kV14b,
                   MID::kSetStat,
                   SetStatResp{.failure_mask = 0x200, .failure_errno = EPERM});
}

// ---------------------------------------------------------------------------
// Messages without a §10 vector: payloads written out from the WIRE.md §4.2
// tables.

TEST(LayoutTest, OpenCreateAtRequest) {
  // createCommon @0, flags @24, name @28.
  CheckPayload(R"(
0000: 01 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff
0010: a4 01 00 00 00 00 00 00 42 00 00 00 02 00 66 6f
)",
               OpenCreateAtReq{.common = {.dir_fd = 1, .mode = 0644},
                               .flags = 0x42,
                               .name = "fo"});
}

TEST(LayoutTest, OpenCreateAtResponse) {
  Encoder want;
  want.PutStruct(Inode{.control_fd = 5, .stat = StatCap1()});
  want.PutU64(6);
  absl::StatusOr<std::vector<uint8_t>> got =
      Marshal(OpenCreateAtResp{.child = {.control_fd = 5, .stat = StatCap1()},
                               .new_fd = 6});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(BytesToHex(*got), BytesToHex(want.bytes()));
  EXPECT_EQ(got->size(), 160u);
}

TEST(LayoutTest, FsyncRequest) {
  CheckPayload("01 00 04 00 00 00 00 00 00 00", FsyncReq{.fds = {4}});
}

TEST(LayoutTest, MknodAtRequestPutsMinorFirst) {
  // createCommon @0, minor @24, major @28, name @32.
  CheckPayload(R"(
0000: 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0010: b6 21 00 00 00 00 00 00 01 00 00 00 c3 00 00 00
0020: 01 00 6e
)",
               MknodAtReq{.common = {.dir_fd = 1, .uid = 0, .gid = 0,
                                     .mode = 020666},
                          .minor = 1,
                          .major = 195,
                          .name = "n"});
}

TEST(LayoutTest, SymlinkAtRequest) {
  // dir_fd @0, uid @8, gid @12, name @16, target right after.
  CheckPayload(R"(
0000: 01 00 00 00 00 00 00 00 e8 03 00 00 e9 03 00 00
0010: 01 00 6c 03 00 2f 74 6d
)",
               SymlinkAtReq{.dir_fd = 1,
                            .uid = 1000,
                            .gid = 1001,
                            .name = "l",
                            .target = "/tm"});
}

TEST(LayoutTest, LinkAtRequest) {
  CheckPayload(R"(
0000: 01 00 00 00 00 00 00 00 07 00 00 00 00 00 00 00
0010: 02 00 68 6c
)",
               LinkAtReq{.dir_fd = 1, .target = 7, .name = "hl"});
}

TEST(LayoutTest, UnlinkAtRequest) {
  CheckPayload("01 00 00 00 00 00 00 00 00 02 00 00 01 00 64",
               UnlinkAtReq{.dir_fd = 1, .flags = 0x200, .name = "d"});
}

TEST(LayoutTest, RenameAtRequest) {
  CheckPayload(R"(
0000: 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00
0010: 01 00 61 02 00 62 63
)",
               RenameAtReq{.old_dir = 1,
                           .new_dir = 2,
                           .old_name = "a",
                           .new_name = "bc"});
}

TEST(LayoutTest, Dirent64PutsMinorBeforeMajor) {
  // ino @0, dev_minor @8, dev_major @12, off @16, type @24, name len @25.
  CheckPayload(R"(
0000: 01 00 01 00 00 00 00 00 00 00 02 00 00 00 03 00
0010: 00 00 04 00 00 00 00 00 00 00 08 01 00 78
)",
               Getdents64Resp{.dirents = {{.ino = 1,
                                           .dev_minor = 2,
                                           .dev_major = 3,
                                           .off = 4,
                                           .type = 8,
                                           .name = "x"}}});
}

TEST(LayoutTest, WalkStatResponse) {
  Encoder want;
  want.PutU16(2);
  want.PutStruct(StatDev());
  want.PutStruct(StatCap1());
  absl::StatusOr<std::vector<uint8_t>> got =
      Marshal(WalkStatResp{.stats = {StatDev(), StatCap1()}});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(BytesToHex(*got), BytesToHex(want.bytes()));
  EXPECT_EQ(got->size(), 2u + 2 * 144u);
}

TEST(LayoutTest, FGetXattrRequest) {
  CheckPayload("03 00 00 00 00 00 00 00 00 01 00 00 03 00 75 2e 61",
               FGetXattrReq{.fd = 3, .buf_size = 256, .name = "u.a"});
}

TEST(LayoutTest, FSetXattrRequest) {
  CheckPayload("03 00 00 00 00 00 00 00 01 00 00 00 01 00 61 02 00 76 76",
               FSetXattrReq{.fd = 3, .flags = 1, .name = "a", .value = "vv"});
}

TEST(LayoutTest, FRemoveXattrRequest) {
  CheckPayload("03 00 00 00 00 00 00 00 01 00 61",
               FRemoveXattrReq{.fd = 3, .name = "a"});
}

TEST(LayoutTest, BindAtRequest) {
  CheckPayload(R"(
0000: 01 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff
0010: ed 01 00 00 00 00 00 00 01 00 00 00 01 00 73
)",
               BindAtReq{.common = {.dir_fd = 1, .mode = 0755},
                         .sock_type = 1,
                         .name = "s"});
}

TEST(LayoutTest, SizedStringResponses) {
  CheckPayload("02 00 2f 78", ReadLinkAtResp{.target = "/x"});
  CheckPayload("01 00 76", FGetXattrResp{.value = "v"});
  CheckPayload("00 00", AcceptResp{});
  CheckPayload("02 00 01 00 61 00 00", FListXattrResp{.names = {"a", ""}});
}

TEST(LayoutTest, FixedRequests) {
  CheckPayload("03 00 00 00 00 00 00 00", FStatFSReq{.fd = 3});
  CheckPayload(
      "04 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 "
      "10 00 00 00 00 00 00 00 00 20 00 00 00 00 00 00",
      FAllocateReq{.fd = 4, .mode = 1, .offset = 16, .length = 8192});
  CheckPayload("03 00 00 00 00 00 00 00", ReadLinkAtReq{.fd = 3});
  CheckPayload("04 00 00 00 00 00 00 00", FlushReq{.fd = 4});
  CheckPayload("03 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00",
               ConnectReq{.fd = 3, .sock_type = 1});
  CheckPayload(
      "03 00 00 00 00 00 00 00 05 00 00 00 00 00 00 00 "
      "e8 03 00 00 e9 03 00 00",
      ConnectWithCredsReq{.fd = 3, .sock_type = 5, .uid = 1000, .gid = 1001});
  CheckPayload("03 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00",
               FListXattrReq{.fd = 3, .size = 65536});
  CheckPayload("05 00 00 00 00 00 00 00 80 00 00 00 00 00 00 00",
               ListenReq{.fd = 5, .backlog = 128});
  CheckPayload("05 00 00 00 00 00 00 00", AcceptReq{.fd = 5});
  CheckPayload(
      "ef be ad de 00 00 00 00 00 10 00 00 00 00 00 00 "
      "01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 "
      "03 00 00 00 00 00 00 00 04 00 00 00 00 00 00 00 "
      "05 00 00 00 00 00 00 00 ff 00 00 00 00 00 00 00",
      StatFS{.type = 0xdeadbeef,
             .block_size = 4096,
             .blocks = 1,
             .blocks_free = 2,
             .blocks_available = 3,
             .files = 4,
             .files_free = 5,
             .name_length = 255});
  CheckPayload("07 00 00 00 00 00 00 00", PWriteResp{.count = 7});
}

TEST(LayoutTest, BindAtResponse) {
  Encoder want;
  want.PutStruct(Inode{.control_fd = 8, .stat = StatCaps()});
  want.PutU64(9);
  absl::StatusOr<std::vector<uint8_t>> got = Marshal(
      BindAtResp{.child = {.control_fd = 8, .stat = StatCaps()},
                 .bound_socket_fd = 9});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(BytesToHex(*got), BytesToHex(want.bytes()));
}

TEST(LayoutTest, EmptyMessageIgnoresAnyPayload) {
  EXPECT_TRUE(Unmarshal<EmptyMessage>(HexToBytes("01 02 03")).ok());
  absl::StatusOr<std::vector<uint8_t>> got = Marshal(EmptyMessage{});
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
}

// ---------------------------------------------------------------------------
// Table-driven: every message type, round trip and truncation.

struct MessageCase {
  std::string name;
  std::vector<uint8_t> encoded;
  // decode decodes a payload and returns OK only if it equals the sample.
  std::function<absl::Status(absl::Span<const uint8_t>)> decode;
};

template <WireMessage T>
MessageCase Case(std::string name, const T& sample) {
  absl::StatusOr<std::vector<uint8_t>> encoded = Marshal(sample);
  if (!encoded.ok()) {
    ADD_FAILURE() << name << ": " << encoded.status();
    return {};
  }
  return MessageCase{
      std::move(name), *std::move(encoded),
      [sample](absl::Span<const uint8_t> payload) -> absl::Status {
        absl::StatusOr<T> m = Unmarshal<T>(payload);
        if (!m.ok()) return m.status();
        if (!(*m == sample)) {
          return absl::InternalError("decoded value differs");
        }
        return absl::OkStatus();
      }};
}

Inode SampleInode(FDID fd) {
  Inode i{.control_fd = fd, .stat = StatCap1()};
  i.stat.attributes = 0x1122334455667788;
  return i;
}

CreateCommon SampleCommon() {
  return CreateCommon{.dir_fd = 9, .uid = 1, .gid = 2, .mode = 0640};
}

std::vector<MessageCase> AllCases() {
  std::vector<MessageCase> c;
  // Fixed-size structs.
  c.push_back(Case("MessageHeader", MessageHeader{.size = 5, .mid = 3}));
  c.push_back(Case("StatxTimestamp", StatxTimestamp{.sec = -1, .nsec = 9}));
  c.push_back(Case("Statx", StatCap1()));
  c.push_back(Case("Inode", SampleInode(3)));
  c.push_back(Case("CreateCommon", SampleCommon()));
  c.push_back(Case("Timespec", Timespec{.sec = 1, .nsec = 0x3FFFFFFE}));
  c.push_back(Case("StatFS", StatFS{.type = 1, .name_length = 255}));
  c.push_back(Case("ErrorResp", ErrorResp{.err = EAGAIN}));
  c.push_back(Case("ChannelResp",
                   ChannelResp{.data_offset = 4096, .data_length = 8192}));
  c.push_back(Case("StatReq", StatReq{.fd = 3}));
  c.push_back(Case("SetStatReq",
                   SetStatReq{.fd = 3,
                              .mask = 0x27a,
                              .atime = {.sec = 1, .nsec = 0x3FFFFFFF}}));
  c.push_back(Case("SetStatResp", SetStatResp{.failure_mask = 8}));
  c.push_back(Case("OpenAtReq", OpenAtReq{.fd = 3, .flags = 2}));
  c.push_back(Case("OpenAtResp", OpenAtResp{.open_fd = 4}));
  c.push_back(Case("OpenCreateAtResp",
                   OpenCreateAtResp{.child = SampleInode(5), .new_fd = 6}));
  c.push_back(Case("PWriteResp", PWriteResp{.count = 3}));
  c.push_back(Case("PReadReq", PReadReq{.offset = 1, .fd = 4, .count = 9}));
  c.push_back(Case("FStatFSReq", FStatFSReq{.fd = 1}));
  c.push_back(Case("FAllocateReq", FAllocateReq{.fd = 4, .length = 10}));
  c.push_back(Case("ReadLinkAtReq", ReadLinkAtReq{.fd = 3}));
  c.push_back(Case("FlushReq", FlushReq{.fd = 4}));
  c.push_back(Case("ConnectReq", ConnectReq{.fd = 3, .sock_type = 1}));
  c.push_back(Case("ConnectWithCredsReq",
                   ConnectWithCredsReq{.fd = 3, .sock_type = 2, .uid = 7}));
  c.push_back(Case("Getdents64Req", Getdents64Req{.dir_fd = 4, .count = -1}));
  c.push_back(Case("FListXattrReq", FListXattrReq{.fd = 3, .size = 100}));
  c.push_back(Case("BindAtResp", BindAtResp{.child = SampleInode(7),
                                            .bound_socket_fd = 8}));
  c.push_back(Case("ListenReq", ListenReq{.fd = 8, .backlog = -1}));
  c.push_back(Case("AcceptReq", AcceptReq{.fd = 8}));

  // Variable-size messages, each with its lengths and counts non-zero, and
  // again with them empty where that is distinct.
  c.push_back(Case("MountResp",
                   MountResp{.root = SampleInode(1),
                             .max_message_size = 0x1ff000,
                             .supported_mids = {MID::kWalk, MID::kRenameAt2,
                                                static_cast<MID>(300)}}));
  c.push_back(Case("MountRespNoMids", MountResp{.root = SampleInode(1)}));
  c.push_back(Case("WalkReq", WalkReq{.dir_fd = 1, .path = {"a", "", "bc"}}));
  c.push_back(Case("WalkReqEmptyPath", WalkReq{.dir_fd = 1}));
  c.push_back(Case("WalkResp",
                   WalkResp{.status = WalkStatus::kComponentSymlink,
                            .inodes = {SampleInode(2), SampleInode(3)}}));
  c.push_back(Case("WalkRespEmpty", WalkResp{}));
  c.push_back(Case("WalkStatResp",
                   WalkStatResp{.stats = {StatDev(), StatCap1()}}));
  c.push_back(Case("WalkStatRespEmpty", WalkStatResp{}));
  c.push_back(Case("OpenCreateAtReq", OpenCreateAtReq{.common = SampleCommon(),
                                                      .flags = 0101,
                                                      .name = "new"}));
  c.push_back(Case("CloseReq", CloseReq{.fds = {2, 3, 4}}));
  c.push_back(Case("CloseReqEmpty", CloseReq{}));
  c.push_back(Case("FsyncReq", FsyncReq{.fds = {4, 0xffffffffffffffff}}));
  c.push_back(
      Case("PWriteReq", PWriteReq{.offset = 7, .fd = 4, .data = "hello"}));
  c.push_back(Case("PWriteReqEmpty", PWriteReq{.offset = 7, .fd = 4}));
  c.push_back(Case("PReadResp", PReadResp{.data = std::string("\0\1\2", 3)}));
  c.push_back(Case("PReadRespEof", PReadResp{}));
  c.push_back(
      Case("MkdirAtReq", MkdirAtReq{.common = SampleCommon(), .name = "dir"}));
  c.push_back(Case("MknodAtReq", MknodAtReq{.common = SampleCommon(),
                                            .minor = 1,
                                            .major = 195,
                                            .name = "nvidia1"}));
  c.push_back(Case("SymlinkAtReq",
                   SymlinkAtReq{.dir_fd = 1, .name = "l", .target = "t/u"}));
  c.push_back(Case("SymlinkAtReqEmpty", SymlinkAtReq{.dir_fd = 1}));
  c.push_back(
      Case("LinkAtReq", LinkAtReq{.dir_fd = 1, .target = 2, .name = "x"}));
  c.push_back(Case("UnlinkAtReq",
                   UnlinkAtReq{.dir_fd = 1, .flags = 0x200, .name = "x"}));
  c.push_back(Case("RenameAtReq", RenameAtReq{.old_dir = 1,
                                              .new_dir = 2,
                                              .old_name = "a",
                                              .new_name = "bb"}));
  c.push_back(Case("RenameAt2Req", RenameAt2Req{.old_dir = 1,
                                                .new_dir = 2,
                                                .old_name = "a",
                                                .new_name = "bb",
                                                .flags = 2}));
  c.push_back(Case("RenameAt2ReqEmptyNames",
                   RenameAt2Req{.old_dir = 1, .new_dir = 2, .flags = 4}));
  c.push_back(Case(
      "Getdents64Resp",
      Getdents64Resp{.dirents = {{.ino = 1, .type = 4, .name = "dir"},
                                 {.ino = 2, .off = 9, .type = 8, .name = ""},
                                 {.ino = 3,
                                  .dev_minor = 5,
                                  .dev_major = 6,
                                  .off = 10,
                                  .type = 2,
                                  .name = "nvidia0"}}}));
  c.push_back(Case("Getdents64RespEmpty", Getdents64Resp{}));
  c.push_back(Case("FGetXattrReq",
                   FGetXattrReq{.fd = 3, .buf_size = 64, .name = "user.x"}));
  c.push_back(Case("FGetXattrResp", FGetXattrResp{.value = "val"}));
  c.push_back(Case("FSetXattrReq", FSetXattrReq{.fd = 3,
                                                .flags = 1,
                                                .name = "user.x",
                                                .value = "v"}));
  c.push_back(
      Case("FListXattrResp", FListXattrResp{.names = {"user.a", "user.b"}}));
  c.push_back(Case("FListXattrRespEmpty", FListXattrResp{}));
  c.push_back(
      Case("FRemoveXattrReq", FRemoveXattrReq{.fd = 3, .name = "user.x"}));
  c.push_back(Case("BindAtReq", BindAtReq{.common = SampleCommon(),
                                          .sock_type = 1,
                                          .name = "sock"}));
  c.push_back(Case("ReadLinkAtResp", ReadLinkAtResp{.target = "../t"}));
  c.push_back(Case("AcceptResp", AcceptResp{.peer_addr = "@abstract"}));
  c.push_back(Case("AcceptRespEmpty", AcceptResp{}));
  c.push_back(Case("EmptyMessage", EmptyMessage{}));
  return c;
}

class EveryMessageTest : public ::testing::TestWithParam<MessageCase> {};

TEST_P(EveryMessageTest, RoundTrips) {
  const MessageCase& c = GetParam();
  absl::Status s = c.decode(c.encoded);
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(EveryMessageTest, IgnoresTrailingBytes) {
  const MessageCase& c = GetParam();
  std::vector<uint8_t> longer = c.encoded;
  longer.insert(longer.end(), {0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff});
  absl::Status s = c.decode(longer);
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(EveryMessageTest, EveryShorterPrefixFailsWithEio) {
  const MessageCase& c = GetParam();
  for (size_t n = 0; n < c.encoded.size(); ++n) {
    // A fresh buffer of exactly n bytes, so that AddressSanitizer catches
    // any read past its end.
    const std::vector<uint8_t> prefix(c.encoded.begin(),
                                      c.encoded.begin() + n);
    absl::Status s = c.decode(prefix);
    ASSERT_FALSE(s.ok()) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(syserr::ToErrno(s), EIO) << s;
    EXPECT_THAT(s.message(), HasSubstr("decoding ")) << s;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Messages, EveryMessageTest, ::testing::ValuesIn(AllCases()),
    [](const ::testing::TestParamInfo<MessageCase>& info) {
      return info.param.name;
    });

// ---------------------------------------------------------------------------
// Table-driven: lengths and counts that point past the end of the payload.

struct OversizeCase {
  std::string name;
  std::vector<uint8_t> payload;
  std::function<absl::Status(absl::Span<const uint8_t>)> decode;
  // The field the error must name.
  std::string field;
};

template <WireMessage T>
OversizeCase Oversize(std::string name, std::string field,
                      const std::function<void(Encoder&)>& build) {
  Encoder e;
  build(e);
  return OversizeCase{
      std::move(name), std::move(e).Take(),
      [](absl::Span<const uint8_t> p) { return Unmarshal<T>(p).status(); },
      std::move(field)};
}

std::vector<OversizeCase> AllOversizeCases() {
  std::vector<OversizeCase> c;
  c.push_back(Oversize<MountResp>(
      "MountRespMidCount65535", "MountResp.supported_mids", [](Encoder& e) {
        e.PutStruct(Inode{});
        e.PutU32(0x1ff000);
        e.PutU16(0xffff);
        e.PutU16(1);
      }));
  c.push_back(Oversize<MountResp>(
      "MountRespMidCountOneTooMany", "MountResp.supported_mids",
      [](Encoder& e) {
        e.PutStruct(Inode{});
        e.PutU32(0x1ff000);
        e.PutU16(3);
        e.PutU16(1);
        e.PutU16(2);
        e.PutU8(3);
      }));
  c.push_back(
      Oversize<WalkReq>("WalkReqCount65535", "WalkReq.path", [](Encoder& e) {
        e.PutU64(1);
        e.PutU16(0xffff);
        e.PutU16(1);
        e.PutU8('a');
      }));
  c.push_back(Oversize<WalkReq>(
      "WalkReqSecondStringPastEnd", "WalkReq.path[1]", [](Encoder& e) {
        e.PutU64(1);
        e.PutU16(2);
        e.PutU16(1);
        e.PutU8('a');
        e.PutU16(0xffff);
        e.PutBytes(absl::string_view("bcd"));
      }));
  c.push_back(Oversize<WalkResp>(
      "WalkRespCount65535", "WalkResp.inodes", [](Encoder& e) {
        e.PutU8(0);
        e.PutU16(0xffff);
        e.PutStruct(Inode{});
      }));
  c.push_back(Oversize<WalkResp>(
      "WalkRespOneByteShort", "WalkResp.inodes", [](Encoder& e) {
        e.PutU8(0);
        e.PutU16(2);
        e.PutStruct(Inode{});
        e.PutBytes(std::string(151, '\0'));
      }));
  c.push_back(Oversize<WalkStatResp>(
      "WalkStatRespCount65535", "WalkStatResp.stats", [](Encoder& e) {
        e.PutU16(0xffff);
        e.PutStruct(Statx{});
      }));
  c.push_back(Oversize<OpenCreateAtReq>(
      "OpenCreateAtReqNamePastEnd", "OpenCreateAtReq.name", [](Encoder& e) {
        e.PutStruct(CreateCommon{});
        e.PutU32(0);
        e.PutU16(4);
        e.PutBytes(absl::string_view("abc"));
      }));
  c.push_back(
      Oversize<CloseReq>("CloseReqCount65535", "CloseReq.fds", [](Encoder& e) {
        e.PutU16(0xffff);
        e.PutU64(2);
      }));
  c.push_back(Oversize<FsyncReq>(
      "FsyncReqCountOneTooMany", "FsyncReq.fds", [](Encoder& e) {
        e.PutU16(3);
        e.PutU64(2);
        e.PutU64(3);
        e.PutBytes(std::string(7, '\0'));
      }));
  c.push_back(Oversize<PWriteReq>(
      "PWriteReqCountMax", "PWriteReq.data", [](Encoder& e) {
        e.PutU64(0);
        e.PutU64(4);
        e.PutU32(0xffffffff);
        e.PutBytes(absl::string_view("abc"));
      }));
  c.push_back(Oversize<PWriteReq>(
      "PWriteReqCountOneTooMany", "PWriteReq.data", [](Encoder& e) {
        e.PutU64(0);
        e.PutU64(4);
        e.PutU32(4);
        e.PutBytes(absl::string_view("abc"));
      }));
  c.push_back(
      Oversize<PReadResp>("PReadRespNMax", "PReadResp.data", [](Encoder& e) {
        e.PutU64(std::numeric_limits<uint64_t>::max());
        e.PutBytes(absl::string_view("xyz"));
      }));
  // Only the low 32 bits of n match the data length (WIRE.md §12 Q8).
  c.push_back(Oversize<PReadResp>(
      "PReadRespNHighBitsSet", "PReadResp.data", [](Encoder& e) {
        e.PutU64(uint64_t{1} << 32 | 3);
        e.PutBytes(absl::string_view("xyz"));
      }));
  c.push_back(Oversize<MkdirAtReq>(
      "MkdirAtReqNamePastEnd", "MkdirAtReq.name", [](Encoder& e) {
        e.PutStruct(CreateCommon{});
        e.PutU16(0xffff);
        e.PutU8('d');
      }));
  c.push_back(Oversize<MknodAtReq>(
      "MknodAtReqNamePastEnd", "MknodAtReq.name", [](Encoder& e) {
        e.PutStruct(CreateCommon{});
        e.PutU32(1);
        e.PutU32(195);
        e.PutU16(2);
        e.PutU8('n');
      }));
  c.push_back(Oversize<SymlinkAtReq>(
      "SymlinkAtReqNamePastEnd", "SymlinkAtReq.name", [](Encoder& e) {
        e.PutU64(1);
        e.PutU32(0);
        e.PutU32(0);
        e.PutU16(0x8000);
      }));
  c.push_back(Oversize<SymlinkAtReq>(
      "SymlinkAtReqTargetPastEnd", "SymlinkAtReq.target", [](Encoder& e) {
        e.PutU64(1);
        e.PutU32(0);
        e.PutU32(0);
        e.PutU16(1);
        e.PutU8('l');
        e.PutU16(5);
        e.PutBytes(absl::string_view("/tmp"));
      }));
  c.push_back(Oversize<LinkAtReq>(
      "LinkAtReqNamePastEnd", "LinkAtReq.name", [](Encoder& e) {
        e.PutU64(1);
        e.PutU64(2);
        e.PutU16(2);
        e.PutU8('x');
      }));
  c.push_back(Oversize<UnlinkAtReq>(
      "UnlinkAtReqNamePastEnd", "UnlinkAtReq.name", [](Encoder& e) {
        e.PutU64(1);
        e.PutU32(0);
        e.PutU16(0xffff);
      }));
  c.push_back(Oversize<RenameAtReq>(
      "RenameAtReqOldNamePastEnd", "RenameAtReq.old_name", [](Encoder& e) {
        e.PutU64(1);
        e.PutU64(2);
        e.PutU16(9);
        e.PutU8('a');
        e.PutU16(1);
        e.PutU8('b');
      }));
  c.push_back(Oversize<RenameAtReq>(
      "RenameAtReqNewNamePastEnd", "RenameAtReq.new_name", [](Encoder& e) {
        e.PutU64(1);
        e.PutU64(2);
        e.PutU16(1);
        e.PutU8('a');
        e.PutU16(2);
        e.PutU8('b');
      }));
  // The new_name length swallows the flags: then the flags are missing.
  c.push_back(Oversize<RenameAt2Req>(
      "RenameAt2ReqNameSwallowsFlags", "RenameAt2Req.flags", [](Encoder& e) {
        e.PutU64(1);
        e.PutU64(2);
        e.PutU16(1);
        e.PutU8('a');
        e.PutU16(5);
        e.PutU8('b');
        e.PutU32(1);
      }));
  c.push_back(Oversize<RenameAt2Req>(
      "RenameAt2ReqNewNamePastEnd", "RenameAt2Req.new_name", [](Encoder& e) {
        e.PutU64(1);
        e.PutU64(2);
        e.PutU16(1);
        e.PutU8('a');
        e.PutU16(6);
        e.PutU8('b');
        e.PutU32(1);
      }));
  c.push_back(Oversize<Getdents64Resp>(
      "Getdents64RespCount65535", "Getdents64Resp.dirents", [](Encoder& e) {
        e.PutU16(0xffff);
        (void)Dirent64{.ino = 1, .name = "a"}.Encode(e);
      }));
  c.push_back(Oversize<Getdents64Resp>(
      "Getdents64RespNamePastEnd", "Getdents64Resp.dirents[1]: ",
      [](Encoder& e) {
        e.PutU16(2);
        (void)Dirent64{.ino = 1, .name = "a"}.Encode(e);
        e.PutU64(2);
        e.PutU32(0);
        e.PutU32(0);
        e.PutU64(0);
        e.PutU8(8);
        e.PutU16(0x100);
        e.PutBytes(std::string(30, 'n'));
      }));
  c.push_back(Oversize<FGetXattrReq>(
      "FGetXattrReqNamePastEnd", "FGetXattrReq.name", [](Encoder& e) {
        e.PutU64(3);
        e.PutU32(64);
        e.PutU16(7);
        e.PutBytes(absl::string_view("user.x"));
      }));
  c.push_back(Oversize<FGetXattrResp>(
      "FGetXattrRespValuePastEnd", "FGetXattrResp.value", [](Encoder& e) {
        e.PutU16(0xffff);
        e.PutBytes(absl::string_view("v"));
      }));
  c.push_back(Oversize<FSetXattrReq>(
      "FSetXattrReqValuePastEnd", "FSetXattrReq.value", [](Encoder& e) {
        e.PutU64(3);
        e.PutU32(0);
        e.PutU16(1);
        e.PutU8('a');
        e.PutU16(0xffff);
        e.PutBytes(absl::string_view("v"));
      }));
  c.push_back(Oversize<FListXattrResp>(
      "FListXattrRespCount65535", "FListXattrResp.names", [](Encoder& e) {
        e.PutU16(0xffff);
        e.PutU16(0);
      }));
  c.push_back(Oversize<FListXattrResp>(
      "FListXattrRespNamePastEnd", "FListXattrResp.names[0]", [](Encoder& e) {
        e.PutU16(1);
        e.PutU16(7);
        e.PutBytes(absl::string_view("user.a"));
      }));
  c.push_back(Oversize<FRemoveXattrReq>(
      "FRemoveXattrReqNamePastEnd", "FRemoveXattrReq.name", [](Encoder& e) {
        e.PutU64(3);
        e.PutU16(2);
        e.PutU8('a');
      }));
  c.push_back(Oversize<BindAtReq>(
      "BindAtReqNamePastEnd", "BindAtReq.name", [](Encoder& e) {
        e.PutStruct(CreateCommon{});
        e.PutU32(1);
        e.PutU16(0xffff);
        e.PutBytes(absl::string_view("sock"));
      }));
  c.push_back(Oversize<ReadLinkAtResp>(
      "ReadLinkAtRespTargetPastEnd", "ReadLinkAtResp.target", [](Encoder& e) {
        e.PutU16(3);
        e.PutBytes(absl::string_view("/x"));
      }));
  c.push_back(Oversize<AcceptResp>(
      "AcceptRespAddrPastEnd", "AcceptResp.peer_addr", [](Encoder& e) {
        e.PutU16(1);
      }));
  return c;
}

class OversizeTest : public ::testing::TestWithParam<OversizeCase> {};

TEST_P(OversizeTest, FailsWithEioNamingTheField) {
  const OversizeCase& c = GetParam();
  absl::Status s = c.decode(c.payload);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(syserr::ToErrno(s), EIO) << s;
  EXPECT_THAT(s.message(), HasSubstr(c.field)) << s;
  EXPECT_THAT(s.message(), HasSubstr("at offset ")) << s;
}

INSTANTIATE_TEST_SUITE_P(
    Messages, OversizeTest, ::testing::ValuesIn(AllOversizeCases()),
    [](const ::testing::TestParamInfo<OversizeCase>& info) {
      return info.param.name;
    });

// ---------------------------------------------------------------------------
// Encoders refuse what does not fit its wire field.

void ExpectEinval(const absl::Status& s, absl::string_view field) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(syserr::ToErrno(s), EINVAL) << s;
  EXPECT_THAT(s.message(), HasSubstr(std::string(field))) << s;
}

TEST(EncodeLimitsTest, SizedStringOf65536BytesIsRefusedEverywhere) {
  const std::string big(65536, 'x');
  ExpectEinval(Marshal(OpenCreateAtReq{.name = big}).status(),
               "OpenCreateAtReq.name");
  ExpectEinval(Marshal(MkdirAtReq{.name = big}).status(), "MkdirAtReq.name");
  ExpectEinval(Marshal(MknodAtReq{.name = big}).status(), "MknodAtReq.name");
  ExpectEinval(Marshal(SymlinkAtReq{.name = big}).status(),
               "SymlinkAtReq.name");
  ExpectEinval(Marshal(SymlinkAtReq{.name = "l", .target = big}).status(),
               "SymlinkAtReq.target");
  ExpectEinval(Marshal(LinkAtReq{.name = big}).status(), "LinkAtReq.name");
  ExpectEinval(Marshal(UnlinkAtReq{.name = big}).status(),
               "UnlinkAtReq.name");
  ExpectEinval(Marshal(RenameAtReq{.old_name = big}).status(),
               "RenameAtReq.old_name");
  ExpectEinval(Marshal(RenameAtReq{.new_name = big}).status(),
               "RenameAtReq.new_name");
  ExpectEinval(Marshal(RenameAt2Req{.old_name = big}).status(),
               "RenameAt2Req.old_name");
  ExpectEinval(Marshal(RenameAt2Req{.new_name = big}).status(),
               "RenameAt2Req.new_name");
  ExpectEinval(Marshal(FGetXattrReq{.name = big}).status(),
               "FGetXattrReq.name");
  ExpectEinval(Marshal(FGetXattrResp{.value = big}).status(),
               "FGetXattrResp.value");
  ExpectEinval(Marshal(FSetXattrReq{.name = big}).status(),
               "FSetXattrReq.name");
  ExpectEinval(Marshal(FSetXattrReq{.value = big}).status(),
               "FSetXattrReq.value");
  ExpectEinval(Marshal(FRemoveXattrReq{.name = big}).status(),
               "FRemoveXattrReq.name");
  ExpectEinval(Marshal(BindAtReq{.name = big}).status(), "BindAtReq.name");
  ExpectEinval(Marshal(ReadLinkAtResp{.target = big}).status(),
               "ReadLinkAtResp.target");
  ExpectEinval(Marshal(AcceptResp{.peer_addr = big}).status(),
               "AcceptResp.peer_addr");
  ExpectEinval(Marshal(WalkReq{.path = {"a", big}}).status(),
               "WalkReq.path[1]");
  ExpectEinval(Marshal(FListXattrResp{.names = {big}}).status(),
               "FListXattrResp.names[0]");
  ExpectEinval(
      Marshal(Getdents64Resp{.dirents = {{.name = "a"}, {.name = big}}})
          .status(),
      "Dirent64.name");
}

TEST(EncodeLimitsTest, SizedStringOf65535BytesIsAccepted) {
  const std::string max(65535, 'x');
  absl::StatusOr<std::vector<uint8_t>> got =
      Marshal(FGetXattrResp{.value = max});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 2u + 65535u);
  absl::StatusOr<FGetXattrResp> back = Unmarshal<FGetXattrResp>(*got);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->value, max);
}

TEST(EncodeLimitsTest, CountsOver65535AreRefused) {
  ExpectEinval(Marshal(WalkReq{.path = std::vector<std::string>(65536)})
                   .status(),
               "WalkReq.path");
  ExpectEinval(
      Marshal(FListXattrResp{.names = std::vector<std::string>(65536)})
          .status(),
      "FListXattrResp.names");
  ExpectEinval(Marshal(CloseReq{.fds = std::vector<FDID>(65536)}).status(),
               "CloseReq.fds");
  ExpectEinval(Marshal(FsyncReq{.fds = std::vector<FDID>(65536)}).status(),
               "FsyncReq.fds");
  ExpectEinval(
      Marshal(MountResp{.supported_mids = std::vector<MID>(65536)}).status(),
      "MountResp.supported_mids");
  ExpectEinval(
      Marshal(WalkResp{.inodes = std::vector<Inode>(65536)}).status(),
      "WalkResp.inodes");
  ExpectEinval(
      Marshal(WalkStatResp{.stats = std::vector<Statx>(65536)}).status(),
      "WalkStatResp.stats");
  ExpectEinval(
      Marshal(Getdents64Resp{.dirents = std::vector<Dirent64>(65536)})
          .status(),
      "Getdents64Resp.dirents");
}

TEST(EncodeLimitsTest, CountOf65535IsAccepted) {
  absl::StatusOr<std::vector<uint8_t>> got =
      Marshal(CloseReq{.fds = std::vector<FDID>(65535, 7)});
  ASSERT_TRUE(got.ok());
  absl::StatusOr<CloseReq> back = Unmarshal<CloseReq>(*got);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->fds.size(), 65535u);
}

TEST(EncodeLimitsTest, MarshalFramePassesEncodeErrorsOn) {
  ExpectEinval(
      MarshalFrame(MID::kMkdirAt, MkdirAtReq{.name = std::string(70000, 'x')})
          .status(),
      "MkdirAtReq.name");
}

// ---------------------------------------------------------------------------
// Odd but legal values pass through decoding untouched.

TEST(DecodeValuesTest, UnknownWalkStatusIsKeptRaw) {
  absl::StatusOr<WalkResp> r = Unmarshal<WalkResp>(HexToBytes("07 00 00"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(static_cast<int>(r->status), 7);
}

TEST(DecodeValuesTest, MountRespKeepsMidOrderAndUnknownMids) {
  Encoder e;
  e.PutStruct(Inode{.control_fd = 1});
  e.PutU32(4096);
  e.PutU16(3);
  e.PutU16(33);
  e.PutU16(1);
  e.PutU16(0x1234);
  absl::StatusOr<MountResp> m = Unmarshal<MountResp>(e.bytes());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->max_message_size, 4096u);
  EXPECT_THAT(m->supported_mids,
              ::testing::ElementsAre(MID::kRenameAt2, MID::kMount,
                                     static_cast<MID>(0x1234)));
}

TEST(DecodeValuesTest, Dirent64WireSize) {
  EXPECT_EQ((Dirent64{.name = "nvidia0"}).WireSize(), 34u);
  EXPECT_EQ((Dirent64{.name = "nvidia-caps"}).WireSize(), 38u);
}

}  // namespace
}  // namespace gvisor::lisafs
