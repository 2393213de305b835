#include "pkg/lisafs/codec.h"

#include <errno.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/lisafs/wire_testutil.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {
namespace {

using ::gvisor::lisafs::testutil::HexToBytes;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// ExpectEio checks that s failed with EIO and that its message names what.
void ExpectEio(const absl::Status& s, absl::string_view what) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(syserr::ToErrno(s), EIO) << s;
  EXPECT_THAT(s.message(), HasSubstr(std::string(what))) << s;
}

void ExpectEinval(const absl::Status& s) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(syserr::ToErrno(s), EINVAL) << s;
}

TEST(EncoderTest, ScalarsAreLittleEndianAndPacked) {
  Encoder e;
  e.PutU8(0x01);
  e.PutU16(0x0302);
  e.PutU32(0x07060504);
  e.PutU64(0x0f0e0d0c0b0a0908);
  e.PutI32(-2);
  e.PutI64(-1);
  EXPECT_THAT(e.bytes(), ElementsAreArray(HexToBytes(R"(
      01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f
      fe ff ff ff ff ff ff ff ff ff ff ff)")));
}

TEST(EncoderTest, KeepsInitialBytes) {
  Encoder e(std::vector<uint8_t>{0xaa, 0xbb});
  e.PutU8(0xcc);
  EXPECT_THAT(std::move(e).Take(), ElementsAre(0xaa, 0xbb, 0xcc));
}

TEST(EncoderTest, SizedString) {
  Encoder e;
  ASSERT_TRUE(e.PutSizedString("nvidia-caps").ok());
  ASSERT_TRUE(e.PutSizedString("").ok());
  EXPECT_THAT(e.bytes(), ElementsAreArray(HexToBytes(
                             "0b 00 6e 76 69 64 69 61 2d 63 61 70 73 00 00")));
}

TEST(EncoderTest, SizedStringOfMaxLengthIsAccepted) {
  Encoder e;
  ASSERT_TRUE(e.PutSizedString(std::string(65535, 'x')).ok());
  EXPECT_EQ(e.size(), 2u + 65535u);
  EXPECT_EQ(e.bytes()[0], 0xff);
  EXPECT_EQ(e.bytes()[1], 0xff);
}

TEST(EncoderTest, SizedStringOver65535IsRefusedAndAppendsNothing) {
  Encoder e;
  e.PutU8(7);
  absl::Status s = e.PutSizedString(std::string(65536, 'x'), "Foo.name");
  ExpectEinval(s);
  EXPECT_THAT(s.message(), HasSubstr("Foo.name"));
  EXPECT_THAT(e.bytes(), ElementsAre(7));
}

TEST(EncoderTest, StringArray) {
  Encoder e;
  ASSERT_TRUE(e.PutStringArray({"ab", "", "c"}).ok());
  EXPECT_THAT(e.bytes(),
              ElementsAreArray(HexToBytes("03 00 02 00 61 62 00 00 01 00 63")));
}

TEST(EncoderTest, StringArrayWithLongElementIsRefusedAndAppendsNothing) {
  Encoder e;
  const std::vector<std::string> strs = {"a", std::string(65536, 'x')};
  absl::Status s = e.PutStringArray(strs, "WalkReq.path");
  ExpectEinval(s);
  EXPECT_THAT(s.message(), HasSubstr("WalkReq.path[1]"));
  EXPECT_THAT(e.bytes(), IsEmpty());
}

TEST(EncoderTest, StringArrayWithTooManyElementsIsRefused) {
  Encoder e;
  const std::vector<std::string> strs(65536);
  ExpectEinval(e.PutStringArray(strs));
  EXPECT_THAT(e.bytes(), IsEmpty());
  ASSERT_TRUE(e.PutStringArray(std::vector<std::string>(65535)).ok());
  EXPECT_EQ(e.size(), 2u + 2u * 65535u);
}

TEST(EncoderTest, FdArray) {
  Encoder e;
  ASSERT_TRUE(e.PutFdArray({2, 0x0102030405060708}).ok());
  EXPECT_THAT(e.bytes(),
              ElementsAreArray(HexToBytes("02 00 02 00 00 00 00 00 00 00 "
                                          "08 07 06 05 04 03 02 01")));
}

TEST(EncoderTest, FdArrayWithTooManyElementsIsRefused) {
  Encoder e;
  ExpectEinval(e.PutFdArray(std::vector<FDID>(65536)));
  EXPECT_THAT(e.bytes(), IsEmpty());
}

TEST(EncoderTest, CountOver65535IsRefused) {
  Encoder e;
  ExpectEinval(e.PutCount(65536, "x"));
  EXPECT_THAT(e.bytes(), IsEmpty());
  ASSERT_TRUE(e.PutCount(65535, "x").ok());
  EXPECT_THAT(e.bytes(), ElementsAre(0xff, 0xff));
}

TEST(EncoderTest, PutStructCopiesWireBytes) {
  Encoder e;
  e.PutStruct(OpenAtReq{.fd = 3, .flags = 2});
  EXPECT_THAT(e.bytes(),
              ElementsAreArray(HexToBytes(
                  "03 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00")));
}

TEST(DecoderTest, ReadsScalarsLittleEndianUnaligned) {
  const std::vector<uint8_t> b = HexToBytes(R"(
      01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f
      fe ff ff ff ff ff ff ff ff ff ff ff 99)");
  Decoder d(b);
  EXPECT_EQ(*d.ReadU8("a"), 0x01);
  EXPECT_EQ(*d.ReadU16("b"), 0x0302);
  EXPECT_EQ(*d.ReadU32("c"), 0x07060504u);
  EXPECT_EQ(*d.ReadU64("d"), 0x0f0e0d0c0b0a0908u);
  EXPECT_EQ(*d.ReadI32("e"), -2);
  EXPECT_EQ(*d.ReadI64("f"), -1);
  EXPECT_EQ(d.offset(), 27u);
  EXPECT_EQ(d.remaining(), 1u);
}

TEST(DecoderTest, ShortScalarReadsFailAndKeepCursor) {
  const std::vector<uint8_t> b = {1, 2, 3};
  Decoder d(b);
  ASSERT_TRUE(d.ReadU8("first").ok());
  absl::StatusOr<uint32_t> v = d.ReadU32("Foo.bar");
  ExpectEio(v.status(), "Foo.bar");
  EXPECT_THAT(v.status().message(), HasSubstr("at offset 1"));
  EXPECT_EQ(d.offset(), 1u);
  ExpectEio(d.ReadU64("x").status(), "x");
  ExpectEio(d.ReadI64("x").status(), "x");
  ExpectEio(d.ReadI32("x").status(), "x");
  EXPECT_EQ(*d.ReadU16("y"), 0x0302);
  ExpectEio(d.ReadU8("z").status(), "z");
  ExpectEio(d.ReadU16("z").status(), "z");
}

TEST(DecoderTest, EmptySpanFailsEveryRead) {
  Decoder d(absl::Span<const uint8_t>{});
  ExpectEio(d.ReadU8("a").status(), "a");
  ExpectEio(d.ReadSizedString("s").status(), "s");
  ExpectEio(d.ReadStringArray("sa").status(), "sa");
  ExpectEio(d.ReadFdArray("fa").status(), "fa");
  ExpectEio(d.ReadStruct<StatReq>("st").status(), "st");
  EXPECT_TRUE(d.ReadBytes(0, "b").ok());
  EXPECT_TRUE(d.ReadString(0, "b").ok());
  EXPECT_TRUE(d.ReadStructs<Inode>(0, "i").ok());
}

TEST(DecoderTest, ReadBytesAndStringCheckHugeLengths) {
  const std::vector<uint8_t> b = {1, 2, 3};
  Decoder d(b);
  ExpectEio(d.ReadBytes(std::numeric_limits<uint64_t>::max(), "data").status(),
            "data");
  ExpectEio(d.ReadString(4, "data").status(), "data");
  ExpectEio(d.ReadString(uint64_t{1} << 32 | 3, "data").status(), "data");
  absl::StatusOr<absl::Span<const uint8_t>> s = d.ReadBytes(3, "data");
  ASSERT_TRUE(s.ok());
  EXPECT_THAT(*s, ElementsAre(1, 2, 3));
}

TEST(DecoderTest, SizedStringLengthPastEndFails) {
  const std::vector<uint8_t> b = HexToBytes("05 00 61 62 63 64");
  Decoder d(b);
  ExpectEio(d.ReadSizedString("Foo.name").status(), "Foo.name");
  EXPECT_EQ(d.offset(), 0u);
}

TEST(DecoderTest, SizedStringMaxLengthWithTinyBufferFails) {
  const std::vector<uint8_t> b = HexToBytes("ff ff 61");
  Decoder d(b);
  ExpectEio(d.ReadSizedString("s").status(), "s");
}

TEST(DecoderTest, SizedStringKeepsArbitraryBytes) {
  const std::vector<uint8_t> b = HexToBytes("03 00 00 ff 2f 99");
  Decoder d(b);
  absl::StatusOr<std::string> s = d.ReadSizedString("s");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, std::string("\0\xff/", 3));
  EXPECT_EQ(d.remaining(), 1u);
}

TEST(DecoderTest, StringArray) {
  const std::vector<uint8_t> b = HexToBytes("03 00 02 00 61 62 00 00 01 00 63");
  Decoder d(b);
  absl::StatusOr<std::vector<std::string>> v = d.ReadStringArray("a");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_THAT(*v, ElementsAre("ab", "", "c"));
  EXPECT_EQ(d.remaining(), 0u);
}

TEST(DecoderTest, StringArrayCount65535WithTinyBufferFailsFast) {
  const std::vector<uint8_t> b = HexToBytes("ff ff 01 00 61");
  Decoder d(b);
  absl::StatusOr<std::vector<std::string>> v =
      d.ReadStringArray("WalkReq.path");
  ExpectEio(v.status(), "WalkReq.path");
  EXPECT_THAT(v.status().message(), HasSubstr("65535 elements"));
  EXPECT_EQ(d.offset(), 0u);
}

TEST(DecoderTest, StringArrayElementPastEndNamesIndex) {
  // Two strings announced, room for both length prefixes, but the second
  // length points past the end.
  const std::vector<uint8_t> b = HexToBytes("02 00 01 00 61 09 00 62 63");
  Decoder d(b);
  absl::StatusOr<std::vector<std::string>> v = d.ReadStringArray("p");
  ExpectEio(v.status(), "p[1]");
  EXPECT_THAT(v.status().message(), HasSubstr("offset 5"));
  EXPECT_EQ(d.offset(), 0u);
}

TEST(DecoderTest, FdArray) {
  const std::vector<uint8_t> b =
      HexToBytes("02 00 02 00 00 00 00 00 00 00 08 07 06 05 04 03 02 01 ee");
  Decoder d(b);
  absl::StatusOr<std::vector<FDID>> v = d.ReadFdArray("f");
  ASSERT_TRUE(v.ok());
  EXPECT_THAT(*v, ElementsAre(2u, 0x0102030405060708u));
  EXPECT_EQ(d.remaining(), 1u);
}

TEST(DecoderTest, FdArrayCountPastEndFails) {
  const std::vector<uint8_t> b =
      HexToBytes("02 00 02 00 00 00 00 00 00 00 08 07 06 05 04 03 02");
  Decoder d(b);
  ExpectEio(d.ReadFdArray("CloseReq.fds").status(), "CloseReq.fds");
  const std::vector<uint8_t> big = HexToBytes("ff ff 00");
  Decoder d2(big);
  ExpectEio(d2.ReadFdArray("f").status(), "f");
}

TEST(DecoderTest, ReadCountBoundsByRemainingBytes) {
  const std::vector<uint8_t> b = HexToBytes("03 00 00 00 00 00 00 00");
  Decoder d(b);
  ExpectEio(d.ReadCount(3, "c").status(), "c");
  EXPECT_EQ(d.offset(), 0u);
  absl::StatusOr<uint16_t> c = d.ReadCount(2, "c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, 3);
  EXPECT_EQ(d.offset(), 2u);
}

TEST(DecoderTest, ReadStructsRejectsCountsThatCannotFit) {
  const std::vector<uint8_t> b(152 * 2 + 10);
  Decoder d(b);
  ExpectEio(d.ReadStructs<Inode>(3, "WalkResp.inodes").status(),
            "WalkResp.inodes");
  ExpectEio(
      d.ReadStructs<Inode>(std::numeric_limits<uint64_t>::max(), "i").status(),
      "i");
  absl::StatusOr<std::vector<Inode>> v = d.ReadStructs<Inode>(2, "i");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->size(), 2u);
  EXPECT_EQ(d.remaining(), 10u);
}

TEST(DecoderTest, ReadStructFromUnalignedOffset) {
  const std::vector<uint8_t> b =
      HexToBytes("00 03 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00");
  Decoder d(b);
  ASSERT_TRUE(d.ReadU8("skip").ok());
  absl::StatusOr<OpenAtReq> r = d.ReadStruct<OpenAtReq>("OpenAtReq");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fd, 3u);
  EXPECT_EQ(r->flags, 2u);
  Decoder d2(absl::MakeConstSpan(b).subspan(1, 15));
  ExpectEio(d2.ReadStruct<OpenAtReq>("OpenAtReq").status(), "OpenAtReq");
}

}  // namespace
}  // namespace gvisor::lisafs
