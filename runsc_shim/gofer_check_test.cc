// Tests of gofer_check: what a peer's first bytes say it is.

#include "runsc_shim/gofer_check.h"

#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/wire.h"
#include "pkg/unet/unet.h"

namespace gvisor::shim {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<uint8_t> Bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::vector<uint8_t> Header(uint32_t size, lisafs::MID mid) {
  auto h = lisafs::EncodeMessageHeader(size, mid);
  std::vector<uint8_t> out(h.begin(), h.end());
  out.push_back(0);  // a first payload byte
  return out;
}

TEST(NotLisafsAnswerTest, LisafsAnswersToMountPass) {
  EXPECT_THAT(NotLisafsAnswer(Header(4, lisafs::MID::kError)), IsEmpty());
  EXPECT_THAT(NotLisafsAnswer(Header(200, lisafs::MID::kMount)), IsEmpty());
  // Too few bytes to tell, and nothing at all.
  EXPECT_THAT(NotLisafsAnswer(Bytes(std::string("\x04\x00", 2))), IsEmpty());
  EXPECT_THAT(NotLisafsAnswer({}), IsEmpty());
}

TEST(NotLisafsAnswerTest, Http2SettingsIsNamed) {
  const std::string settings("\x00\x00\x18\x04\x00\x00\x00\x00\x00\x00", 10);
  EXPECT_THAT(NotLisafsAnswer(Bytes(settings)),
              HasSubstr("it is not a LISAFS gofer: it speaks HTTP/2"));
}

TEST(NotLisafsAnswerTest, OtherFramesAreShown) {
  EXPECT_THAT(NotLisafsAnswer(Bytes("HTTP/1.1 400 Bad")),
              HasSubstr("its first bytes, \"HTTP/1.1 400 Bad\", are no "
                        "LISAFS frame"));
  // Another MID, non-zero padding, an implausible length.
  EXPECT_THAT(NotLisafsAnswer(Header(4, lisafs::MID::kWalk)),
              HasSubstr("04 00 00 00 05 00"));
  EXPECT_THAT(NotLisafsAnswer(Header(1u << 30, lisafs::MID::kMount)),
              HasSubstr("are no LISAFS frame"));
  std::vector<uint8_t> padded = Header(4, lisafs::MID::kError);
  padded[7] = 1;
  EXPECT_THAT(NotLisafsAnswer(padded), HasSubstr("are no LISAFS frame"));
}

TEST(SpokeFirstTest, SilentPeerPassesAndNothingIsTaken) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fd::OwnedFd peer(sv[1]);
  absl::StatusOr<unet::Socket> sock = unet::Socket::FromFd(fd::OwnedFd(sv[0]));
  ASSERT_TRUE(sock.ok()) << sock.status();
  EXPECT_THAT(SpokeFirst(*sock), IsEmpty());
  ASSERT_EQ(write(peer.get(), "ab", 2), 2);
  EXPECT_THAT(SpokeFirst(*sock),
              HasSubstr("it sent \"ab\" before any request"));
  // Peeked, not taken.
  char buf[2];
  EXPECT_EQ(read(sock->fd(), buf, 2), 2);
}

TEST(AnswerToMountTest, UnreachablePeerSaysNothing) {
  EXPECT_THAT(
      AnswerToMount("/nonexistent/gofer.sock", absl::Now() + absl::Seconds(5)),
      IsEmpty());
}

}  // namespace
}  // namespace gvisor::shim
