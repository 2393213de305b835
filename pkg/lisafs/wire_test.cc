#include "pkg/lisafs/wire.h"

#include <errno.h>

#include <cstring>
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
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

template <typename T>
std::vector<uint8_t> RawBytes(const T& v) {
  std::vector<uint8_t> out(sizeof(T));
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}

TEST(MIDTest, NamesEveryStandardMID) {
  EXPECT_STREQ(MIDName(MID::kError), "Error");
  EXPECT_STREQ(MIDName(MID::kMount), "Mount");
  EXPECT_STREQ(MIDName(MID::kWalk), "Walk");
  EXPECT_STREQ(MIDName(MID::kFlush), "Flush");
  EXPECT_STREQ(MIDName(MID::kGetdents64), "Getdents64");
  EXPECT_STREQ(MIDName(MID::kConnectWithCreds), "ConnectWithCreds");
  EXPECT_STREQ(MIDName(MID::kRenameAt2), "RenameAt2");
  for (int i = 0; i < kNumMIDs; ++i) {
    EXPECT_STRNE(MIDName(static_cast<MID>(i)), "Unknown") << i;
  }
}

TEST(MIDTest, UnknownMIDsHaveAName) {
  EXPECT_STREQ(MIDName(static_cast<MID>(kNumMIDs)), "Unknown");
  EXPECT_STREQ(MIDName(static_cast<MID>(256)), "Unknown");
  EXPECT_STREQ(MIDName(static_cast<MID>(0xFFFF)), "Unknown");
}

TEST(MIDTest, NumbersMatchWire) {
  EXPECT_EQ(static_cast<int>(MID::kFlush), 20);
  EXPECT_EQ(static_cast<int>(MID::kGetdents64), 24);
  EXPECT_EQ(static_cast<int>(MID::kBindAt), 29);
  EXPECT_EQ(static_cast<int>(MID::kRenameAt2), 33);
  EXPECT_EQ(kNumMIDs, 34);
}

TEST(ConstantsTest, MatchWire) {
  EXPECT_EQ(kInvalidFDID, 0u);
  EXPECT_EQ(kNoUID, 0xFFFFFFFFu);
  EXPECT_EQ(kNoGID, 0xFFFFFFFFu);
  EXPECT_EQ(static_cast<int>(WalkStatus::kComponentSymlink), 2);
  EXPECT_EQ(kMessageHeaderSize, 8u);
}

TEST(MessageHeaderTest, EncodesMountRequestV1) {
  EXPECT_THAT(EncodeMessageHeader(0, MID::kMount),
              ElementsAreArray(HexToBytes(vectors::kV1)));
}

TEST(MessageHeaderTest, EncodesSizeAndMidLittleEndian) {
  // V2's header: payload 222, MID 1.
  EXPECT_THAT(EncodeMessageHeader(0xde, MID::kMount),
              ElementsAreArray(HexToBytes("de 00 00 00 01 00 00 00")));
  EXPECT_THAT(EncodeMessageHeader(0x01020304, MID::kRenameAt2),
              ElementsAreArray(HexToBytes("04 03 02 01 21 00 00 00")));
}

TEST(MessageHeaderTest, DecodesAndIgnoresPaddingAndTrailingBytes) {
  const std::vector<uint8_t> b = HexToBytes("33 01 00 00 05 00 ab cd 00 02 00");
  absl::StatusOr<MessageHeader> h = DecodeMessageHeader(b);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->size, 0x133u);
  EXPECT_EQ(h->mid, 5);
  EXPECT_EQ(h->pad, 0xcdab);
}

TEST(MessageHeaderTest, DecodesUnknownMidRaw) {
  absl::StatusOr<MessageHeader> h =
      DecodeMessageHeader(HexToBytes("00 00 00 00 ff ff 00 00"));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->mid, 0xFFFF);
}

TEST(MessageHeaderTest, EveryShortPrefixFailsWithEio) {
  const std::vector<uint8_t> b = HexToBytes("04 00 00 00 00 00 00 00");
  for (size_t n = 0; n < b.size(); ++n) {
    absl::StatusOr<MessageHeader> h =
        DecodeMessageHeader(absl::MakeConstSpan(b.data(), n));
    ASSERT_FALSE(h.ok()) << n;
    EXPECT_EQ(syserr::ToErrno(h.status()), EIO);
    EXPECT_THAT(h.status().message(), HasSubstr("MessageHeader"));
  }
}

TEST(FixedStructTest, DefaultsAreZeroExceptNoIds) {
  EXPECT_THAT(RawBytes(OpenAtReq{}), ::testing::Each(0));
  EXPECT_THAT(RawBytes(Statx{}), ::testing::Each(0));
  const CreateCommon c;
  EXPECT_EQ(c.uid, kNoUID);
  EXPECT_EQ(c.gid, kNoGID);
  EXPECT_EQ(c.pad0, 0);
  EXPECT_EQ(c.pad1, 0u);
}

TEST(FixedStructTest, StatxMatchesV0ByteForByte) {
  const std::vector<uint8_t> want = HexToBytes(vectors::kV0);
  ASSERT_EQ(want.size(), 144u);
  EXPECT_EQ(BytesToHex(RawBytes(testutil::StatDev())), BytesToHex(want));
}

TEST(FixedStructTest, CreateCommonMatchesV11Prefix) {
  const CreateCommon c{.dir_fd = 1, .uid = 1000, .gid = 1000, .mode = 0755};
  EXPECT_THAT(RawBytes(c), ElementsAreArray(HexToBytes(
                               "01 00 00 00 00 00 00 00 e8 03 00 00 e8 03 00 "
                               "00 ed 01 00 00 00 00 00 00")));
}

TEST(FixedStructTest, StructsCompareByValue) {
  Inode a{.control_fd = 2, .stat = testutil::StatCaps()};
  Inode b = a;
  EXPECT_EQ(a, b);
  b.stat.mtime.nsec = 5;
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace gvisor::lisafs
