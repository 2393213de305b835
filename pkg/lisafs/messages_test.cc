// The messages' exact bytes: the pkg/lisafs/README.md §10 vectors as whole
// frames, and the payload layouts of the messages without a vector
// (pkg/lisafs/README.md §4.2).

#include "pkg/lisafs/messages.h"

#include <errno.h>
#include <linux/stat.h>

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

// The STATX bits the vectors spell by name hold the values written in
// pkg/lisafs/README.md.
static_assert((STATX_MODE | STATX_SIZE) == 0x202);
static_assert(STATX_SIZE == 0x200);

// ---------------------------------------------------------------------------
// pkg/lisafs/README.md §10 vectors, whole frames: encode must give the bytes
// exactly, and decoding the bytes must give back the header and the message.

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

TEST(VectorTest, V0Statx) { CheckPayload(vectors::kV0, StatDev()); }

TEST(VectorTest, V1MountRequest) {
  CheckFrameVector(vectors::kV1, MID::kMount, EmptyMessage{});
}

TEST(VectorTest, V2MountResponse) {
  MountResp m{.root = {.control_fd = 1, .stat = StatDev()},
              .max_message_size = 0x1ff000};
  for (int i = 1; i <= 33; ++i) {
    if (i != 20) m.supported_mids.push_back(static_cast<MID>(i));
  }
  CheckFrameVector(vectors::kV2, MID::kMount, m);
}

TEST(VectorTest, V3WalkRequest) {
  CheckFrameVector(
      vectors::kV3, MID::kWalk,
      WalkReq{.dir_fd = 1, .path = {"nvidia-caps", "nvidia-cap1"}});
}

TEST(VectorTest, V4WalkResponseTwoInodes) {
  CheckFrameVector(vectors::kV4, MID::kWalk,
                   WalkResp{.status = WalkStatus::kSuccess,
                            .inodes = {{.control_fd = 2, .stat = StatCaps()},
                                       {.control_fd = 3, .stat = StatCap1()}}});
}

TEST(VectorTest, V4bWalkResponseFirstComponentMissing) {
  CheckFrameVector(vectors::kV4b, MID::kWalk,
                   WalkResp{.status = WalkStatus::kComponentDoesNotExist});
}

TEST(VectorTest, V4cWalkResponseSecondComponentMissing) {
  CheckFrameVector(vectors::kV4c, MID::kWalk,
                   WalkResp{.status = WalkStatus::kComponentDoesNotExist,
                            .inodes = {{.control_fd = 2, .stat = StatCaps()}}});
}

TEST(VectorTest, V5aOpenAtRequest) {
  CheckFrameVector(vectors::kV5a, MID::kOpenAt, OpenAtReq{.fd = 3, .flags = 2});
}

TEST(VectorTest, V5bOpenAtResponse) {
  CheckFrameVector(vectors::kV5b, MID::kOpenAt, OpenAtResp{.open_fd = 4});
}

TEST(VectorTest, V6aCloseRequest) {
  CheckFrameVector(vectors::kV6a, MID::kClose, CloseReq{.fds = {2, 3, 4}});
}

TEST(VectorTest, V6bCloseResponse) {
  CheckFrameVector(vectors::kV6b, MID::kClose, EmptyMessage{});
}

TEST(VectorTest, V7ErrorResponse) {
  CheckFrameVector(vectors::kV7, MID::kError, ErrorResp{.err = ENOENT});
}

TEST(VectorTest, V8aGetdents64Request) {
  CheckFrameVector(vectors::kV8a, MID::kGetdents64,
                   Getdents64Req{.dir_fd = 4, .count = 65536});
}

TEST(VectorTest, V8bGetdents64RequestSeekToZero) {
  CheckFrameVector(vectors::kV8b, MID::kGetdents64,
                   Getdents64Req{.dir_fd = 4, .count = -65536});
}

TEST(VectorTest, V8cGetdents64ResponseTwoEntries) {
  CheckFrameVector(vectors::kV8c, MID::kGetdents64,
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
  CheckFrameVector(vectors::kV8d, MID::kGetdents64, Getdents64Resp{});
}

TEST(VectorTest, V9aFStatRequest) {
  CheckFrameVector(vectors::kV9a, MID::kFStat, StatReq{.fd = 3});
}

TEST(VectorTest, V9bFStatResponse) {
  CheckFrameVector(vectors::kV9b, MID::kFStat, StatCap1());
}

TEST(VectorTest, V10aChannelRequest) {
  CheckFrameVector(vectors::kV10a, MID::kChannel, EmptyMessage{});
}

TEST(VectorTest, V10bChannelResponse) {
  CheckFrameVector(vectors::kV10b, MID::kChannel,
                   ChannelResp{.data_offset = 0, .data_length = 2 << 20});
}

TEST(VectorTest, V11MkdirAtRequest) {
  CheckFrameVector(
      vectors::kV11, MID::kMkdirAt,
      MkdirAtReq{
          .common = {.dir_fd = 1, .uid = 1000, .gid = 1000, .mode = 0755},
          .name = "d"});
}

TEST(VectorTest, V12RenameAt2Request) {
  CheckFrameVector(vectors::kV12, MID::kRenameAt2,
                   RenameAt2Req{.old_dir = 1,
                                .new_dir = 2,
                                .old_name = "a",
                                .new_name = "b",
                                .flags = 1});
}

TEST(VectorTest, V13aPWriteRequest) {
  CheckFrameVector(vectors::kV13a, MID::kPWrite,
                   PWriteReq{.offset = 0x10, .fd = 4, .data = "abc"});
}

TEST(VectorTest, V13bPWriteResponse) {
  CheckFrameVector(vectors::kV13b, MID::kPWrite, PWriteResp{.count = 3});
}

TEST(VectorTest, V13cPReadRequest) {
  CheckFrameVector(vectors::kV13c, MID::kPRead,
                   PReadReq{.offset = 0, .fd = 4, .count = 4096});
}

TEST(VectorTest, V13dPReadResponse) {
  CheckFrameVector(vectors::kV13d, MID::kPRead, PReadResp{.data = "xyz"});
}

TEST(VectorTest, V14aSetStatRequest) {
  CheckFrameVector(vectors::kV14a, MID::kSetStat,
                   SetStatReq{.fd = 3,
                              .mask = STATX_MODE | STATX_SIZE,
                              .mode = 0644,
                              .uid = kNoUID,
                              .gid = kNoGID,
                              .size = 4096});
}

TEST(VectorTest, V14bSetStatResponse) {
  CheckFrameVector(
      vectors::kV14b, MID::kSetStat,
      SetStatResp{.failure_mask = STATX_SIZE, .failure_errno = EPERM});
}

// ---------------------------------------------------------------------------
// Messages without a §10 vector: payloads written out from the
// pkg/lisafs/README.md §4.2 tables.

TEST(LayoutTest, OpenCreateAtRequest) {
  // createCommon @0, flags @24, name @28.
  CheckPayload(
      R"(
0000: 01 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff
0010: a4 01 00 00 00 00 00 00 42 00 00 00 02 00 66 6f
)",
      OpenCreateAtReq{
          .common = {.dir_fd = 1, .mode = 0644}, .flags = 0x42, .name = "fo"});
}

TEST(LayoutTest, OpenCreateAtResponse) {
  Encoder want;
  want.PutStruct(Inode{.control_fd = 5, .stat = StatCap1()});
  want.PutU64(6);
  absl::StatusOr<std::vector<uint8_t>> got = Marshal(OpenCreateAtResp{
      .child = {.control_fd = 5, .stat = StatCap1()}, .new_fd = 6});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(BytesToHex(*got), BytesToHex(want.bytes()));
  EXPECT_EQ(got->size(), 160u);
}

TEST(LayoutTest, FsyncRequest) {
  CheckPayload("01 00 04 00 00 00 00 00 00 00", FsyncReq{.fds = {4}});
}

TEST(LayoutTest, MknodAtRequestPutsMinorFirst) {
  // createCommon @0, minor @24, major @28, name @32.
  CheckPayload(
      R"(
0000: 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0010: b6 21 00 00 00 00 00 00 01 00 00 00 c3 00 00 00
0020: 01 00 6e
)",
      MknodAtReq{.common = {.dir_fd = 1, .uid = 0, .gid = 0, .mode = 020666},
                 .minor = 1,
                 .major = 195,
                 .name = "n"});
}

TEST(LayoutTest, SymlinkAtRequest) {
  // dir_fd @0, uid @8, gid @12, name @16, target right after.
  CheckPayload(
      R"(
0000: 01 00 00 00 00 00 00 00 e8 03 00 00 e9 03 00 00
0010: 01 00 6c 03 00 2f 74 6d
)",
      SymlinkAtReq{
          .dir_fd = 1, .uid = 1000, .gid = 1001, .name = "l", .target = "/tm"});
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
  CheckPayload(
      R"(
0000: 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00
0010: 01 00 61 02 00 62 63
)",
      RenameAtReq{
          .old_dir = 1, .new_dir = 2, .old_name = "a", .new_name = "bc"});
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
  CheckPayload(
      R"(
0000: 01 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff
0010: ed 01 00 00 00 00 00 00 01 00 00 00 01 00 73
)",
      BindAtReq{
          .common = {.dir_fd = 1, .mode = 0755}, .sock_type = 1, .name = "s"});
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
  absl::StatusOr<std::vector<uint8_t>> got = Marshal(BindAtResp{
      .child = {.control_fd = 8, .stat = StatCaps()}, .bound_socket_fd = 9});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(BytesToHex(*got), BytesToHex(want.bytes()));
}

TEST(LayoutTest, EmptyMessageIgnoresAnyPayload) {
  EXPECT_TRUE(Unmarshal<EmptyMessage>(HexToBytes("01 02 03")).ok());
  absl::StatusOr<std::vector<uint8_t>> got = Marshal(EmptyMessage{});
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
}

}  // namespace
}  // namespace gvisor::lisafs
