#include "pkg/lisafs/sock_communicator.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "pkg/lisafs/wire.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {

absl::Status SockCommunicator::SendFrame(uint16_t mid,
                                         absl::Span<const uint8_t> payload,
                                         absl::Span<const int> fds) {
  if (payload.size() > UINT32_MAX) {
    return syserr::FromErrno(EMSGSIZE, "SendFrame: payload over 4 GiB");
  }
  std::array<uint8_t, kMessageHeaderSize> header = EncodeMessageHeader(
      static_cast<uint32_t>(payload.size()), static_cast<MID>(mid));
  iovec iov[2] = {
      {header.data(), header.size()},
      {const_cast<uint8_t*>(payload.data()), payload.size()},
  };
  return sock_.SendAll(absl::MakeConstSpan(iov, payload.empty() ? 1 : 2), fds);
}

bool SockCommunicator::SpinUntilReadable() {
  if (!spinner_.enabled()) return false;
  const int fd = sock_.fd();
  return spinner_.Spin([fd] {
    uint8_t b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  });
}

absl::Status SockCommunicator::RecvFrame(size_t want_fds, uint32_t max_payload,
                                         Frame* out, uint32_t max_drain) {
  uint8_t header[kMessageHeaderSize];
  iovec hiov = {header, sizeof(header)};
  out->fds.clear();
  out->payload.clear();
  out->oversized = false;
  // Ask for a few more FDs than wanted, so that a peer that sends extras is
  // handled by the caller's keep-and-close policy rather than as a transport
  // failure.
  size_t max_fds = want_fds == 0 ? 0 : std::max(want_fds, kMaxRecvFds);
  SpinUntilReadable();
  if (absl::Status s =
          sock_.RecvExact(absl::MakeConstSpan(&hiov, 1), max_fds, &out->fds);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<MessageHeader> h = DecodeMessageHeader(header);
  if (!h.ok()) return h.status();
  out->payload_len = h->size;
  out->mid = h->mid;
  if (out->payload_len == 0) return absl::OkStatus();
  if (out->payload_len <= max_payload) {
    // Grow the buffer only as the bytes come: a peer that claims more than
    // it sends costs at most kRecvChunk, and one that sends costs at most
    // twice what it sent.
    size_t got = 0;
    while (got < out->payload_len) {
      size_t n =
          std::min<size_t>(out->payload_len - got, std::max(kRecvChunk, got));
      out->payload.resize(got + n);
      iovec piov = {out->payload.data() + got, n};
      if (absl::Status s =
              sock_.RecvExact(absl::MakeConstSpan(&piov, 1), 0, nullptr);
          !s.ok()) {
        out->fds.clear();
        out->payload.clear();
        return s;
      }
      got += n;
    }
    return absl::OkStatus();
  }
  out->oversized = true;
  if (out->payload_len > max_drain) {
    // Draining it would let the peer keep us reading for as long as it
    // likes (up to 4 GiB per frame): give up on the stream instead.
    out->fds.clear();
    return syserr::FromErrno(
        EMSGSIZE, absl::StrCat("frame of ", out->payload_len,
                               " bytes exceeds the limit of ", max_payload,
                               " bytes and the drain limit of ", max_drain));
  }
  // Oversized: drain it in bounded chunks so the stream stays in sync
  // without allocating what the peer announced (pkg/lisafs/README.md §11 Q12).
  uint8_t scratch[64 * 1024];
  uint32_t left = out->payload_len;
  while (left > 0) {
    size_t n = std::min<size_t>(left, sizeof(scratch));
    iovec piov = {scratch, n};
    absl::Status s = sock_.RecvExact(absl::MakeConstSpan(&piov, 1), 0, nullptr);
    if (!s.ok()) {
      out->fds.clear();
      return s;
    }
    left -= static_cast<uint32_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace gvisor::lisafs
