#include "pkg/lisafs/frame_io.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

namespace gvisor::lisafs::internal {

namespace {

// kSkipChunk is how much of an oversized payload one recv throws away.
constexpr size_t kSkipChunk = 16 * 1024;

// Recv is one non-blocking recv: the byte count, 0 at end of stream, or -1
// with errno set (EAGAIN when nothing is there).
ssize_t Recv(int fd, void* buf, size_t n) {
  for (;;) {
    ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

struct Spares {
  std::vector<uint8_t> bufs[kSpares];
  size_t n = 0;
};
thread_local Spares t_spares;

}  // namespace

static_assert(FrameReader::kInitialChunk == kSpareCapacity);

std::vector<uint8_t> TakeBuffer() {
  Spares& s = t_spares;
  if (s.n == 0) return {};
  std::vector<uint8_t> out = std::move(s.bufs[--s.n]);
  out.clear();
  return out;
}

void GiveBack(std::vector<uint8_t> buf) {
  Spares& s = t_spares;
  if (buf.capacity() == 0 || buf.capacity() > kSpareCapacity ||
      s.n == kSpares) {
    return;
  }
  s.bufs[s.n++] = std::move(buf);
}

void FrameReader::Reset() {
  header_have_ = 0;
  len_ = 0;
  mid_ = 0;
  oversized_ = false;
  have_ = 0;
  std::vector<uint8_t>().swap(payload_);
}

absl::StatusOr<bool> FrameReader::Read(int fd, uint32_t max_payload,
                                       size_t* budget, Frame* out) {
  for (;;) {
    const bool header_done = header_have_ == kMessageHeaderSize;
    if (header_done && have_ == len_) {
      out->mid = mid_;
      out->payload_len = len_;
      out->oversized = oversized_;
      out->payload = std::move(payload_);
      out->fds.clear();
      Reset();
      return true;
    }
    if (*budget == 0) return false;
    uint8_t scratch[kSkipChunk];
    void* dst;
    size_t want;
    if (!header_done) {
      dst = header_.data() + header_have_;
      want = kMessageHeaderSize - header_have_;
    } else if (oversized_) {
      dst = scratch;
      want = std::min<size_t>(len_ - have_, sizeof(scratch));
    } else {
      if (have_ == payload_.size()) {
        if (payload_.capacity() == 0) payload_ = TakeBuffer();
        // Grow with what has arrived, never to what was announced.
        size_t grow = std::max<size_t>(kInitialChunk, payload_.size());
        payload_.resize(std::min<size_t>(len_, payload_.size() + grow));
      }
      dst = payload_.data() + have_;
      want = payload_.size() - have_;
    }
    want = std::min(want, *budget);
    ssize_t n = Recv(fd, dst, want);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      return syserr::FromErrno(errno, "recv");
    }
    if (n == 0) {
      return syserr::FromErrno(
          ECONNRESET, partial() ? "peer closed the connection mid-frame"
                                : "peer closed the connection");
    }
    *budget -= static_cast<size_t>(n);
    if (!header_done) {
      header_have_ += static_cast<size_t>(n);
      if (header_have_ == kMessageHeaderSize) {
        absl::StatusOr<MessageHeader> h = DecodeMessageHeader(header_);
        if (!h.ok()) return h.status();
        len_ = h->size;
        mid_ = h->mid;
        oversized_ = len_ > max_payload;
      }
    } else {
      have_ += static_cast<uint32_t>(n);
    }
  }
}

void FrameWriter::Start(uint16_t mid, std::vector<uint8_t> payload,
                        std::vector<fd::OwnedFd> fds) {
  header_ = EncodeMessageHeader(static_cast<uint32_t>(payload.size()),
                                static_cast<MID>(mid));
  payload_ = std::move(payload);
  fds_ = std::move(fds);
  sent_ = 0;
  pending_ = true;
}

absl::StatusOr<bool> FrameWriter::Flush(unet::Socket& sock) {
  const size_t total = header_.size() + payload_.size();
  while (pending_) {
    iovec iov[2];
    int niov = 0;
    if (sent_ < header_.size()) {
      iov[niov++] = {header_.data() + sent_, header_.size() - sent_};
    }
    const size_t off = sent_ > header_.size() ? sent_ - header_.size() : 0;
    if (off < payload_.size()) {
      iov[niov++] = {payload_.data() + off, payload_.size() - off};
    }
    // The FDs go with the first sendmsg that sends anything
    // (pkg/lisafs/README.md §2.3); one that finds the socket full sent nothing,
    // FDs included.
    std::vector<int> fds;
    fds.reserve(fds_.size());
    for (const fd::OwnedFd& f : fds_) fds.push_back(f.get());
    absl::StatusOr<size_t> r =
        sock.TrySend(absl::MakeConstSpan(iov, niov), fds);
    if (!r.ok()) {
      if (syserr::ToErrno(r.status()) == EAGAIN) return false;
      return r.status();
    }
    // The FDs went with these bytes; our copies close now.
    fds_.clear();
    sent_ += *r;
    if (sent_ >= total) {
      pending_ = false;
      GiveBack(std::exchange(payload_, {}));
    }
  }
  return true;
}

}  // namespace gvisor::lisafs::internal
