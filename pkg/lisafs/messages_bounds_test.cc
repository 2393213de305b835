// The codec's bounds, table-driven over every message type: round trips,
// truncation, lengths and counts past the end of the payload, encoders
// refusing what does not fit a wire field, odd but legal values.

#include <errno.h>
#include <linux/stat.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/wire_testutil.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {
namespace {

using ::gvisor::lisafs::testutil::HexToBytes;
using ::gvisor::lisafs::testutil::StatCap1;
using ::gvisor::lisafs::testutil::StatDev;
using ::testing::HasSubstr;

static_assert((STATX_MODE | STATX_UID | STATX_GID | STATX_ATIME | STATX_MTIME |
               STATX_SIZE) == 0x27a);
static_assert(STATX_UID == 8);

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
                              .mask = STATX_MODE | STATX_UID | STATX_GID |
                                      STATX_ATIME | STATX_MTIME | STATX_SIZE,
                              .atime = {.sec = 1, .nsec = 0x3FFFFFFF}}));
  c.push_back(Case("SetStatResp", SetStatResp{.failure_mask = STATX_UID}));
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
  c.push_back(Case("BindAtResp",
                   BindAtResp{.child = SampleInode(7), .bound_socket_fd = 8}));
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
  c.push_back(
      Case("WalkResp", WalkResp{.status = WalkStatus::kComponentSymlink,
                                .inodes = {SampleInode(2), SampleInode(3)}}));
  c.push_back(Case("WalkRespEmpty", WalkResp{}));
  c.push_back(
      Case("WalkStatResp", WalkStatResp{.stats = {StatDev(), StatCap1()}}));
  c.push_back(Case("WalkStatRespEmpty", WalkStatResp{}));
  c.push_back(Case(
      "OpenCreateAtReq",
      OpenCreateAtReq{.common = SampleCommon(), .flags = 0101, .name = "new"}));
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
  c.push_back(
      Case("RenameAtReq",
           RenameAtReq{
               .old_dir = 1, .new_dir = 2, .old_name = "a", .new_name = "bb"}));
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
  c.push_back(
      Case("FSetXattrReq",
           FSetXattrReq{.fd = 3, .flags = 1, .name = "user.x", .value = "v"}));
  c.push_back(
      Case("FListXattrResp", FListXattrResp{.names = {"user.a", "user.b"}}));
  c.push_back(Case("FListXattrRespEmpty", FListXattrResp{}));
  c.push_back(
      Case("FRemoveXattrReq", FRemoveXattrReq{.fd = 3, .name = "user.x"}));
  c.push_back(Case(
      "BindAtReq",
      BindAtReq{.common = SampleCommon(), .sock_type = 1, .name = "sock"}));
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
    const std::vector<uint8_t> prefix(c.encoded.begin(), c.encoded.begin() + n);
    absl::Status s = c.decode(prefix);
    ASSERT_FALSE(s.ok()) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(syserr::ToErrno(s), EIO) << s;
    EXPECT_THAT(s.message(), HasSubstr("decoding ")) << s;
  }
}

INSTANTIATE_TEST_SUITE_P(Messages, EveryMessageTest,
                         ::testing::ValuesIn(AllCases()),
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
  c.push_back(Oversize<MountResp>("MountRespMidCount65535",
                                  "MountResp.supported_mids", [](Encoder& e) {
                                    e.PutStruct(Inode{});
                                    e.PutU32(0x1ff000);
                                    e.PutU16(0xffff);
                                    e.PutU16(1);
                                  }));
  c.push_back(Oversize<MountResp>("MountRespMidCountOneTooMany",
                                  "MountResp.supported_mids", [](Encoder& e) {
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
  c.push_back(Oversize<WalkReq>("WalkReqSecondStringPastEnd", "WalkReq.path[1]",
                                [](Encoder& e) {
                                  e.PutU64(1);
                                  e.PutU16(2);
                                  e.PutU16(1);
                                  e.PutU8('a');
                                  e.PutU16(0xffff);
                                  e.PutBytes(absl::string_view("bcd"));
                                }));
  c.push_back(Oversize<WalkResp>("WalkRespCount65535", "WalkResp.inodes",
                                 [](Encoder& e) {
                                   e.PutU8(0);
                                   e.PutU16(0xffff);
                                   e.PutStruct(Inode{});
                                 }));
  c.push_back(Oversize<WalkResp>("WalkRespOneByteShort", "WalkResp.inodes",
                                 [](Encoder& e) {
                                   e.PutU8(0);
                                   e.PutU16(2);
                                   e.PutStruct(Inode{});
                                   e.PutBytes(std::string(151, '\0'));
                                 }));
  c.push_back(Oversize<WalkStatResp>("WalkStatRespCount65535",
                                     "WalkStatResp.stats", [](Encoder& e) {
                                       e.PutU16(0xffff);
                                       e.PutStruct(Statx{});
                                     }));
  c.push_back(Oversize<OpenCreateAtReq>("OpenCreateAtReqNamePastEnd",
                                        "OpenCreateAtReq.name", [](Encoder& e) {
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
  c.push_back(Oversize<FsyncReq>("FsyncReqCountOneTooMany", "FsyncReq.fds",
                                 [](Encoder& e) {
                                   e.PutU16(3);
                                   e.PutU64(2);
                                   e.PutU64(3);
                                   e.PutBytes(std::string(7, '\0'));
                                 }));
  c.push_back(Oversize<PWriteReq>("PWriteReqCountMax", "PWriteReq.data",
                                  [](Encoder& e) {
                                    e.PutU64(0);
                                    e.PutU64(4);
                                    e.PutU32(0xffffffff);
                                    e.PutBytes(absl::string_view("abc"));
                                  }));
  c.push_back(Oversize<PWriteReq>("PWriteReqCountOneTooMany", "PWriteReq.data",
                                  [](Encoder& e) {
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
  // Only the low 32 bits of n match the data length (pkg/lisafs/README.md §11
  // Q8).
  c.push_back(Oversize<PReadResp>("PReadRespNHighBitsSet", "PReadResp.data",
                                  [](Encoder& e) {
                                    e.PutU64(uint64_t{1} << 32 | 3);
                                    e.PutBytes(absl::string_view("xyz"));
                                  }));
  c.push_back(Oversize<MkdirAtReq>("MkdirAtReqNamePastEnd", "MkdirAtReq.name",
                                   [](Encoder& e) {
                                     e.PutStruct(CreateCommon{});
                                     e.PutU16(0xffff);
                                     e.PutU8('d');
                                   }));
  c.push_back(Oversize<MknodAtReq>("MknodAtReqNamePastEnd", "MknodAtReq.name",
                                   [](Encoder& e) {
                                     e.PutStruct(CreateCommon{});
                                     e.PutU32(1);
                                     e.PutU32(195);
                                     e.PutU16(2);
                                     e.PutU8('n');
                                   }));
  c.push_back(Oversize<SymlinkAtReq>("SymlinkAtReqNamePastEnd",
                                     "SymlinkAtReq.name", [](Encoder& e) {
                                       e.PutU64(1);
                                       e.PutU32(0);
                                       e.PutU32(0);
                                       e.PutU16(0x8000);
                                     }));
  c.push_back(Oversize<SymlinkAtReq>("SymlinkAtReqTargetPastEnd",
                                     "SymlinkAtReq.target", [](Encoder& e) {
                                       e.PutU64(1);
                                       e.PutU32(0);
                                       e.PutU32(0);
                                       e.PutU16(1);
                                       e.PutU8('l');
                                       e.PutU16(5);
                                       e.PutBytes(absl::string_view("/tmp"));
                                     }));
  c.push_back(Oversize<LinkAtReq>("LinkAtReqNamePastEnd", "LinkAtReq.name",
                                  [](Encoder& e) {
                                    e.PutU64(1);
                                    e.PutU64(2);
                                    e.PutU16(2);
                                    e.PutU8('x');
                                  }));
  c.push_back(Oversize<UnlinkAtReq>("UnlinkAtReqNamePastEnd",
                                    "UnlinkAtReq.name", [](Encoder& e) {
                                      e.PutU64(1);
                                      e.PutU32(0);
                                      e.PutU16(0xffff);
                                    }));
  c.push_back(Oversize<RenameAtReq>("RenameAtReqOldNamePastEnd",
                                    "RenameAtReq.old_name", [](Encoder& e) {
                                      e.PutU64(1);
                                      e.PutU64(2);
                                      e.PutU16(9);
                                      e.PutU8('a');
                                      e.PutU16(1);
                                      e.PutU8('b');
                                    }));
  c.push_back(Oversize<RenameAtReq>("RenameAtReqNewNamePastEnd",
                                    "RenameAtReq.new_name", [](Encoder& e) {
                                      e.PutU64(1);
                                      e.PutU64(2);
                                      e.PutU16(1);
                                      e.PutU8('a');
                                      e.PutU16(2);
                                      e.PutU8('b');
                                    }));
  // The new_name length swallows the flags: then the flags are missing.
  c.push_back(Oversize<RenameAt2Req>("RenameAt2ReqNameSwallowsFlags",
                                     "RenameAt2Req.flags", [](Encoder& e) {
                                       e.PutU64(1);
                                       e.PutU64(2);
                                       e.PutU16(1);
                                       e.PutU8('a');
                                       e.PutU16(5);
                                       e.PutU8('b');
                                       e.PutU32(1);
                                     }));
  c.push_back(Oversize<RenameAt2Req>("RenameAt2ReqNewNamePastEnd",
                                     "RenameAt2Req.new_name", [](Encoder& e) {
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
      "Getdents64RespNamePastEnd",
      "Getdents64Resp.dirents[1]: ", [](Encoder& e) {
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
  c.push_back(Oversize<FGetXattrReq>("FGetXattrReqNamePastEnd",
                                     "FGetXattrReq.name", [](Encoder& e) {
                                       e.PutU64(3);
                                       e.PutU32(64);
                                       e.PutU16(7);
                                       e.PutBytes(absl::string_view("user.x"));
                                     }));
  c.push_back(Oversize<FGetXattrResp>("FGetXattrRespValuePastEnd",
                                      "FGetXattrResp.value", [](Encoder& e) {
                                        e.PutU16(0xffff);
                                        e.PutBytes(absl::string_view("v"));
                                      }));
  c.push_back(Oversize<FSetXattrReq>("FSetXattrReqValuePastEnd",
                                     "FSetXattrReq.value", [](Encoder& e) {
                                       e.PutU64(3);
                                       e.PutU32(0);
                                       e.PutU16(1);
                                       e.PutU8('a');
                                       e.PutU16(0xffff);
                                       e.PutBytes(absl::string_view("v"));
                                     }));
  c.push_back(Oversize<FListXattrResp>("FListXattrRespCount65535",
                                       "FListXattrResp.names", [](Encoder& e) {
                                         e.PutU16(0xffff);
                                         e.PutU16(0);
                                       }));
  c.push_back(Oversize<FListXattrResp>(
      "FListXattrRespNamePastEnd", "FListXattrResp.names[0]", [](Encoder& e) {
        e.PutU16(1);
        e.PutU16(7);
        e.PutBytes(absl::string_view("user.a"));
      }));
  c.push_back(Oversize<FRemoveXattrReq>("FRemoveXattrReqNamePastEnd",
                                        "FRemoveXattrReq.name", [](Encoder& e) {
                                          e.PutU64(3);
                                          e.PutU16(2);
                                          e.PutU8('a');
                                        }));
  c.push_back(Oversize<BindAtReq>("BindAtReqNamePastEnd", "BindAtReq.name",
                                  [](Encoder& e) {
                                    e.PutStruct(CreateCommon{});
                                    e.PutU32(1);
                                    e.PutU16(0xffff);
                                    e.PutBytes(absl::string_view("sock"));
                                  }));
  c.push_back(Oversize<ReadLinkAtResp>("ReadLinkAtRespTargetPastEnd",
                                       "ReadLinkAtResp.target", [](Encoder& e) {
                                         e.PutU16(3);
                                         e.PutBytes(absl::string_view("/x"));
                                       }));
  c.push_back(Oversize<AcceptResp>("AcceptRespAddrPastEnd",
                                   "AcceptResp.peer_addr",
                                   [](Encoder& e) { e.PutU16(1); }));
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
  ExpectEinval(Marshal(UnlinkAtReq{.name = big}).status(), "UnlinkAtReq.name");
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
  ExpectEinval(
      Marshal(WalkReq{.path = std::vector<std::string>(65536)}).status(),
      "WalkReq.path");
  ExpectEinval(Marshal(FListXattrResp{.names = std::vector<std::string>(65536)})
                   .status(),
               "FListXattrResp.names");
  ExpectEinval(Marshal(CloseReq{.fds = std::vector<FDID>(65536)}).status(),
               "CloseReq.fds");
  ExpectEinval(Marshal(FsyncReq{.fds = std::vector<FDID>(65536)}).status(),
               "FsyncReq.fds");
  ExpectEinval(
      Marshal(MountResp{.supported_mids = std::vector<MID>(65536)}).status(),
      "MountResp.supported_mids");
  ExpectEinval(Marshal(WalkResp{.inodes = std::vector<Inode>(65536)}).status(),
               "WalkResp.inodes");
  ExpectEinval(
      Marshal(WalkStatResp{.stats = std::vector<Statx>(65536)}).status(),
      "WalkStatResp.stats");
  ExpectEinval(
      Marshal(Getdents64Resp{.dirents = std::vector<Dirent64>(65536)}).status(),
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
