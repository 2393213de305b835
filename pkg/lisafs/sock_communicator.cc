#include "pkg/lisafs/sock_communicator.h"

#include <string.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "pkg/lisafs/wire.h"
#include "pkg/syserr/status_macros.h"
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

absl::Status SockCommunicator::Fill(size_t max_fds,
                                    std::vector<fd::OwnedFd>* fds) {
  if (rbuf_ == nullptr) {
    rbuf_ = std::make_unique_for_overwrite<uint8_t[]>(kReadAhead);
  }
  if (rpos_ == rend_) {
    rpos_ = rend_ = 0;
  } else if (rpos_ > 0) {
    memmove(rbuf_.get(), rbuf_.get() + rpos_, rend_ - rpos_);
    rend_ -= rpos_;
    rpos_ = 0;
  }
  iovec iov = {rbuf_.get() + rend_, kReadAhead - rend_};
  size_t n = 0;
  bool got = false;
  if (spinner_.enabled()) {
    // Spin with the read itself (not a peek followed by a read): the
    // recvmsg that finds the frame is the one that brings it.
    absl::Status error;
    spinner_.Spin([&] {
      absl::StatusOr<std::optional<size_t>> r =
          sock_.TryRecvSome(absl::MakeConstSpan(&iov, 1), max_fds, fds);
      if (!r.ok()) {
        error = r.status();
        return true;
      }
      if (!r->has_value()) return false;
      n = **r;
      got = true;
      return true;
    });
    RETURN_IF_ERROR(error);
  }
  if (!got) {
    ASSIGN_OR_RETURN(
        n, sock_.RecvSome(absl::MakeConstSpan(&iov, 1), max_fds, fds));
  }
  if (n == 0) {
    return syserr::FromErrno(ECONNRESET, "recvmsg: peer closed the connection");
  }
  rend_ += n;
  return absl::OkStatus();
}

size_t SockCommunicator::Take(uint8_t* dst, size_t n) {
  n = std::min(n, rend_ - rpos_);
  if (dst != nullptr && n > 0) memcpy(dst, rbuf_.get() + rpos_, n);
  rpos_ += n;
  return n;
}

absl::Status SockCommunicator::RecvFrame(size_t want_fds, uint32_t max_payload,
                                         Frame* out, uint32_t max_drain) {
  out->fds.clear();
  out->payload.clear();
  out->oversized = false;
  // Ask for a few more FDs than wanted, so that a peer that sends extras is
  // handled by the caller's keep-and-close policy rather than as a transport
  // failure. Only the frame's first bytes may carry its FDs
  // (pkg/lisafs/README.md §2.4): bytes already buffered were read with
  // whatever came before.
  size_t max_fds = want_fds == 0 ? 0 : std::max(want_fds, kMaxRecvFds);
  if (rpos_ != rend_) max_fds = 0;
  // One recvmsg normally brings the header and the whole (small) payload.
  while (rend_ - rpos_ < kMessageHeaderSize) {
    absl::Status s = Fill(max_fds, &out->fds);
    max_fds = 0;
    if (!s.ok()) {
      out->fds.clear();
      return s;
    }
  }
  absl::StatusOr<MessageHeader> h = DecodeMessageHeader(
      absl::MakeConstSpan(rbuf_.get() + rpos_, kMessageHeaderSize));
  if (!h.ok()) {
    out->fds.clear();
    return h.status();
  }
  rpos_ += kMessageHeaderSize;
  out->payload_len = h->size;
  out->mid = h->mid;
  if (out->payload_len == 0) return absl::OkStatus();
  if (out->payload_len <= max_payload) {
    // Grow the buffer only as the bytes come: a peer that claims more than
    // it sends costs at most kRecvChunk, and one that sends costs at most
    // twice what it sent. What is buffered goes first; the rest is read
    // straight into the payload, never past the frame.
    const size_t buffered = std::min<size_t>(out->payload_len, rend_ - rpos_);
    out->payload.resize(buffered);
    size_t got = Take(out->payload.data(), buffered);
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
  uint32_t left =
      out->payload_len - static_cast<uint32_t>(Take(nullptr, out->payload_len));
  uint8_t scratch[64 * 1024];
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
