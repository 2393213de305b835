#include "pkg/lisafs/frame_io.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/container/inlined_vector.h"
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

// Pool keeps up to kMax items for reuse by any thread: a worker that has
// not served before takes what others gave back, so the server allocates
// only while more requests are in flight than ever before.
template <typename T, size_t kMax>
class Pool {
 public:
  Pool() { items_.reserve(kMax); }
  // Take returns a kept item, or an empty one.
  T Take() {
    std::lock_guard<std::mutex> l(mu_);
    if (items_.empty()) return T();
    T out = std::move(items_.back());
    items_.pop_back();
    return out;
  }
  // Give keeps item unless kMax are kept (then it is freed).
  void Give(T item) {
    std::lock_guard<std::mutex> l(mu_);
    if (items_.size() < kMax) items_.push_back(std::move(item));
  }

 private:
  std::mutex mu_;
  std::vector<T> items_;
};

// Never destroyed: a worker left to a stuck request may still use them.
Pool<std::vector<uint8_t>, kSpares>& Buffers() {
  static auto* p = new Pool<std::vector<uint8_t>, kSpares>;
  return *p;
}
Pool<std::unique_ptr<uint8_t[]>, kSpares>& ReadAheadBuffers() {
  static auto* p = new Pool<std::unique_ptr<uint8_t[]>, kSpares>;
  return *p;
}

// ReadAhead is the read buffer of the turn running on this thread
// (FrameReader): bytes [pos, end) of buf are received and not yet consumed
// by owner (null between turns, when buf is back in its pool).
struct ReadAhead {
  std::unique_ptr<uint8_t[]> buf;
  size_t pos = 0;
  size_t end = 0;
  const FrameReader* owner = nullptr;
};
thread_local ReadAhead t_read_ahead;

}  // namespace

static_assert(FrameReader::kInitialChunk == kSpareCapacity);

std::vector<uint8_t> TakeBuffer() {
  std::vector<uint8_t> out = Buffers().Take();
  out.clear();
  return out;
}

void GiveBack(std::vector<uint8_t> buf) {
  if (buf.capacity() == 0 || buf.capacity() > kSpareCapacity) return;
  Buffers().Give(std::move(buf));
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
  ReadAhead& rb = t_read_ahead;
  if (rb.owner != this) {
    if (rb.buf == nullptr) rb.buf = ReadAheadBuffers().Take();
    if (rb.buf == nullptr) {
      rb.buf = std::make_unique_for_overwrite<uint8_t[]>(kReadAhead);
    }
    // The first Read of a turn: the thread's buffer holds nothing (EndTurn
    // emptied it), and what this reader read ahead last turn goes back in.
    rb.pos = rb.end = 0;
    rb.owner = this;
    if (!ahead_.empty()) {
      memcpy(rb.buf.get(), ahead_.data(), ahead_.size());
      rb.end = ahead_.size();
      std::vector<uint8_t>().swap(ahead_);
    }
  }
  for (;;) {
    // Consume what is buffered, never past the frame.
    const uint8_t* src = rb.buf.get() + rb.pos;
    const size_t avail = rb.end - rb.pos;
    if (header_have_ < kMessageHeaderSize) {
      const size_t n = std::min(avail, kMessageHeaderSize - header_have_);
      memcpy(header_.data() + header_have_, src, n);
      rb.pos += n;
      header_have_ += n;
      if (header_have_ == kMessageHeaderSize) {
        absl::StatusOr<MessageHeader> h = DecodeMessageHeader(header_);
        if (!h.ok()) return h.status();
        len_ = h->size;
        mid_ = h->mid;
        // Checked before anything is allocated for the payload.
        oversized_ = len_ > max_payload;
      }
    } else if (have_ < len_ && avail > 0) {
      size_t n = std::min<size_t>(avail, len_ - have_);
      if (!oversized_) {
        if (have_ == payload_.size()) {
          if (payload_.capacity() == 0) payload_ = TakeBuffer();
          // Grow with what has arrived, never to what was announced.
          const size_t grow = std::max<size_t>(kInitialChunk, payload_.size());
          payload_.resize(std::min<size_t>(len_, payload_.size() + grow));
        }
        n = std::min<size_t>(n, payload_.size() - have_);
        memcpy(payload_.data() + have_, src, n);
      }
      rb.pos += n;
      have_ += static_cast<uint32_t>(n);
    }
    if (header_have_ == kMessageHeaderSize && have_ == len_) {
      out->mid = mid_;
      out->payload_len = len_;
      out->oversized = oversized_;
      out->payload = std::move(payload_);
      out->fds.clear();
      Reset();
      return true;
    }
    if (rb.pos < rb.end) continue;
    rb.pos = rb.end = 0;
    if (*budget == 0) return false;
    // One recv: into the thread's buffer (the header, a small payload, and
    // what follows), or for the rest of a large payload straight into it.
    uint8_t scratch[kSkipChunk];
    uint8_t* dst = rb.buf.get();
    size_t want = kReadAhead;
    const bool in_place =
        header_have_ == kMessageHeaderSize && len_ - have_ >= kReadAhead;
    if (in_place && oversized_) {
      dst = scratch;
      want = std::min<size_t>(len_ - have_, sizeof(scratch));
    } else if (in_place) {
      if (have_ == payload_.size()) {
        if (payload_.capacity() == 0) payload_ = TakeBuffer();
        const size_t grow = std::max<size_t>(kInitialChunk, payload_.size());
        payload_.resize(std::min<size_t>(len_, payload_.size() + grow));
      }
      dst = payload_.data() + have_;
      want = payload_.size() - have_;
    }
    want = std::min(want, *budget);
    const ssize_t n = Recv(fd, dst, want);
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
    if (in_place) {
      have_ += static_cast<uint32_t>(n);
    } else {
      rb.end = static_cast<size_t>(n);
    }
  }
}

bool FrameReader::EndTurn() {
  ReadAhead& rb = t_read_ahead;
  if (rb.owner == this) {
    if (rb.pos < rb.end) {
      ahead_.assign(rb.buf.get() + rb.pos, rb.buf.get() + rb.end);
    }
    rb.pos = rb.end = 0;
    rb.owner = nullptr;
    ReadAheadBuffers().Give(std::move(rb.buf));
  }
  return !ahead_.empty();
}

void FrameWriter::Start(uint16_t mid, std::vector<uint8_t> payload,
                        std::vector<fd::OwnedFd> fds, int lent_fd,
                        std::shared_ptr<const void> lender) {
  header_ = EncodeMessageHeader(static_cast<uint32_t>(payload.size()),
                                static_cast<MID>(mid));
  payload_ = std::move(payload);
  fds_ = std::move(fds);
  lent_fd_ = lent_fd;
  lender_ = std::move(lender);
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
    absl::InlinedVector<int, 4> fds;
    for (const fd::OwnedFd& f : fds_) fds.push_back(f.get());
    if (lent_fd_ >= 0) fds.push_back(lent_fd_);
    absl::StatusOr<size_t> r =
        sock.TrySend(absl::MakeConstSpan(iov, niov), fds);
    if (!r.ok()) {
      if (syserr::ToErrno(r.status()) == EAGAIN) return false;
      return r.status();
    }
    // The FDs went with these bytes; our copies close now, and the lent one
    // may close with its owner.
    fds_.clear();
    lent_fd_ = -1;
    lender_.reset();
    sent_ += *r;
    if (sent_ >= total) {
      pending_ = false;
      GiveBack(std::exchange(payload_, {}));
    }
  }
  return true;
}

}  // namespace gvisor::lisafs::internal
