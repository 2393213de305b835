#include "runsc_shim/gofer_check.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/lisafs/wire.h"

namespace gvisor::shim {
namespace {

// kNotAGofer begins every reason: the words an operator looks for.
constexpr absl::string_view kNotAGofer = "it is not a LISAFS gofer";

// kMaxPlausiblePayload bounds the payload a LISAFS answer to Mount may
// announce (the client's drain limit, pkg/lisafs/README.md §2.4).
constexpr uint32_t kMaxPlausiblePayload = 16 << 20;

// IsHttp2Settings reports whether b begins with an HTTP/2 SETTINGS frame
// header (RFC 9113 §4.1, §6.5): a 24-bit length that is a multiple of 6,
// type 4, flags 0 or ACK, stream 0. A server sends one first.
bool IsHttp2Settings(absl::Span<const uint8_t> b) {
  if (b.size() < 9) return false;
  const uint32_t len = (uint32_t{b[0]} << 16) | (uint32_t{b[1]} << 8) | b[2];
  return b[3] == 0x04 && (b[4] == 0 || b[4] == 1) && b[5] == 0 && b[6] == 0 &&
         b[7] == 0 && b[8] == 0 && len % 6 == 0;
}

// Shown is b as a message shows it: C-escaped text if it is mostly
// printable, else hex bytes.
std::string Shown(absl::Span<const uint8_t> b) {
  size_t printable = 0;
  for (uint8_t c : b) printable += (c >= 0x20 && c < 0x7f) || c == '\n';
  if (printable * 4 >= b.size() * 3) {
    return absl::StrCat("\"",
                        absl::CHexEscape(absl::string_view(
                            reinterpret_cast<const char*>(b.data()), b.size())),
                        "\"");
  }
  std::vector<std::string> hex;
  for (uint8_t c : b)
    hex.push_back(absl::StrCat(absl::Hex(c, absl::kZeroPad2)));
  return absl::StrJoin(hex, " ");
}

// Sent describes bytes b a peer sent before any request (unprompted), where
// a LISAFS gofer sends nothing, or in answer to Mount, where it sends a
// LISAFS frame.
std::string Sent(absl::Span<const uint8_t> b, bool unprompted) {
  if (IsHttp2Settings(b)) {
    return absl::StrCat(kNotAGofer,
                        ": it speaks HTTP/2 (a gRPC server, such as a "
                        "runsc_shim: give the dev gofer's socket instead)");
  }
  if (unprompted) {
    return absl::StrCat(kNotAGofer, ": it sent ", Shown(b),
                        " before any request (a LISAFS gofer waits for Mount)");
  }
  return absl::StrCat(kNotAGofer, ": its first bytes, ", Shown(b),
                      ", are no LISAFS frame");
}

// Closed is why a peer that closed the connection without a byte may be
// no gofer.
std::string Closed(absl::string_view when) {
  return absl::StrCat("it closed the connection ", when, ": ", kNotAGofer,
                      ", or one refusing connections (see its log)");
}

}  // namespace

std::string NotLisafsAnswer(absl::Span<const uint8_t> first) {
  if (first.empty()) return "";
  if (IsHttp2Settings(first)) return Sent(first, false);
  if (first.size() < lisafs::kMessageHeaderSize) {
    // Too few to judge but for the padding and MID bytes that did come.
    std::array<uint8_t, lisafs::kMessageHeaderSize> h{};
    std::copy(first.begin(), first.end(), h.begin());
    const bool bad = (first.size() > 5 && h[5] != 0) ||
                     (first.size() > 6 && h[6] != 0) ||
                     (first.size() > 4 && h[4] > 1);
    return bad ? Sent(first, false) : "";
  }
  absl::StatusOr<lisafs::MessageHeader> h = lisafs::DecodeMessageHeader(first);
  if (!h.ok()) return "";
  const uint16_t mid = h->mid;
  const bool lisafs = h->pad == 0 &&
                      (mid == static_cast<uint16_t>(lisafs::MID::kMount) ||
                       mid == static_cast<uint16_t>(lisafs::MID::kError)) &&
                      h->size <= kMaxPlausiblePayload;
  return lisafs ? "" : Sent(first, false);
}

std::string SpokeFirst(const unet::Socket& sock) {
  uint8_t buf[kFirstBytes];
  ssize_t n;
  do {
    n = recv(sock.fd(), buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    return Sent(absl::MakeConstSpan(buf, static_cast<size_t>(n)), true);
  }
  if (n == 0) return Closed("before any request");
  return "";  // nothing yet (EAGAIN), or an error Mount will report
}

std::string AnswerToMount(absl::string_view path, absl::Time deadline) {
  absl::StatusOr<unet::Socket> sock =
      unet::Socket::Connect(path, SOCK_STREAM, deadline);
  if (!sock.ok()) return "";
  std::array<uint8_t, lisafs::kMessageHeaderSize> mount =
      lisafs::EncodeMessageHeader(0, lisafs::MID::kMount);
  iovec iov = {mount.data(), mount.size()};
  // A peer that sent first and hung up may refuse the request (EPIPE):
  // what it sent can still be read.
  (void)sock->SendAll(absl::MakeConstSpan(&iov, 1), {});
  uint8_t buf[kFirstBytes];
  size_t got = 0;
  // 9 bytes decide: a LISAFS header and its first payload byte, or an
  // HTTP/2 frame header.
  while (got < 9) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd p = {sock->fd(), POLLIN, 0};
    const int ms = static_cast<int>(std::min<int64_t>(
        absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
        60'000));
    const int r = poll(&p, 1, ms);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;  // EINTR, or time is up: the loop checks
    ssize_t n = recv(sock->fd(), buf + got, sizeof(buf) - got, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      // The end of the stream (or a reset): what came is all there is.
      if (got == 0) return Closed("without answering Mount");
      break;
    }
    got += static_cast<size_t>(n);
  }
  return NotLisafsAnswer(absl::MakeConstSpan(buf, got));
}

}  // namespace gvisor::shim
