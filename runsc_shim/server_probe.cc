#include "runsc_shim/server_probe.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

namespace gvisor::shim {
namespace {

// kLisafsProbe is a LISAFS frame header with no payload and MID 0, which
// has no handler (pkg/lisafs/README.md §2.2, §7.2): a LISAFS server answers
// it with an Error frame, an HTTP/2 server (which has sent its SETTINGS
// already) takes it for a bad preface and closes the connection without
// logging it.
constexpr char kLisafsProbe[8] = {};
// kLisafsError is the header of the LISAFS Error frame that answers it:
// payload_len 4, MID 0.
constexpr char kLisafsError[8] = {4, 0, 0, 0, 0, 0, 0, 0};
// kFrameHeader is the size of an HTTP/2 frame header (RFC 9113 §4.1).
constexpr size_t kFrameHeader = 9;
constexpr uint8_t kSettings = 0x4;
constexpr uint8_t kAckFlag = 0x1;

absl::Status NotHttp2(absl::string_view what) {
  return absl::FailedPreconditionError(what);
}

}  // namespace

absl::Status ProbeServer(const Address& address, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  if (address.kind == Address::Kind::kTcp) return absl::OkStatus();
  const std::string path = address.kind == Address::Kind::kUnixAbstract
                               ? absl::StrCat("@", address.target)
                               : address.target;
  ASSIGN_OR_RETURN(unet::Socket sock,
                   unet::Socket::Connect(path, SOCK_STREAM, deadline));
  // A peer that has already closed makes this EPIPE or ECONNRESET; the read
  // below then sees the close.
  (void)send(sock.fd(), kLisafsProbe, sizeof(kLisafsProbe),
             MSG_NOSIGNAL | MSG_DONTWAIT);
  std::string got;
  bool closed = false;
  while (got.size() < kFrameHeader && !closed) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd p = {.fd = sock.fd(), .events = POLLIN, .revents = 0};
    int r = poll(&p, 1,
                 static_cast<int>(absl::ToInt64Milliseconds(
                     absl::Ceil(left, absl::Milliseconds(1)))));
    if (r < 0 && errno != EINTR) return syserr::FromLastErrno("poll");
    if (r <= 0) continue;
    char buf[kFrameHeader];
    ssize_t n = recv(sock.fd(), buf, kFrameHeader - got.size(), MSG_DONTWAIT);
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno == ECONNRESET || errno == EPIPE) {
      closed = true;
    } else if (errno != EAGAIN && errno != EINTR) {
      return syserr::FromLastErrno("recv");
    }
  }
  if (got.size() >= kFrameHeader) {
    const auto type = static_cast<uint8_t>(got[3]);
    const auto flags = static_cast<uint8_t>(got[4]);
    const bool stream0 =
        got[5] == 0 && got[6] == 0 && got[7] == 0 && got[8] == 0;
    if (type == kSettings && (flags & kAckFlag) == 0 && stream0) {
      return absl::OkStatus();
    }
  }
  if (got.size() >= sizeof(kLisafsError) &&
      got.compare(0, sizeof(kLisafsError), kLisafsError,
                  sizeof(kLisafsError)) == 0) {
    return NotHttp2(
        "it speaks LISAFS (a gofer such as devgofer; attach a container to "
        "it with devctl attach)");
  }
  if (!got.empty()) {
    return NotHttp2(absl::StrCat(
        "it answered with bytes that are not an HTTP/2 SETTINGS frame: \"",
        absl::CHexEscape(got), "\""));
  }
  if (closed) {
    return NotHttp2("it closed the connection without an HTTP/2 greeting");
  }
  return NotHttp2(absl::StrCat("it sent nothing in ",
                               absl::FormatDuration(timeout),
                               " (an HTTP/2 server sends its SETTINGS at "
                               "once)"));
}

}  // namespace gvisor::shim
