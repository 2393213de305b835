// Package lisafs, server side, internal: non-blocking framing on a
// connection's main socket (pkg/lisafs/README.md §2) for the event-driven
// server.
//
// A FrameReader takes whatever bytes have arrived and says when a whole
// request frame is in; a FrameWriter sends as much of a response frame as the
// socket takes now and keeps the rest for later. Neither ever blocks, so a
// peer that stalls in the middle of a frame, or stops reading its answers,
// holds no thread: only the bytes it made us keep, which both bound.

#ifndef GVISOR_PKG_LISAFS_FRAME_IO_H_
#define GVISOR_PKG_LISAFS_FRAME_IO_H_

#include <stddef.h>
#include <stdint.h>

#include <array>
#include <vector>

#include "absl/status/statusor.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/sock_communicator.h"
#include "pkg/lisafs/wire.h"
#include "pkg/unet/unet.h"

namespace gvisor::lisafs::internal {

// kSpareCapacity and kSpares bound the byte buffers a server thread keeps
// for reuse: at most kSpares, each of at most kSpareCapacity bytes (the
// first chunk of a request payload), so a worker holds at most 16 KiB
// between requests however many connections it serves.
inline constexpr size_t kSpareCapacity = 4096;
inline constexpr size_t kSpares = 4;

// TakeBuffer returns an empty byte vector, with the storage of one given
// back earlier on this thread if there is one. A request's payload and its
// response are built in such buffers, so that small RPCs allocate nothing
// in steady state.
std::vector<uint8_t> TakeBuffer();

// GiveBack keeps buf's storage for this thread's next TakeBuffer when it is
// at most kSpareCapacity and fewer than kSpares are kept; it frees it
// otherwise.
void GiveBack(std::vector<uint8_t> buf);

// FrameReader assembles request frames from a non-blocking stream.
//
// Memory: the header is kept inline; the payload buffer starts at
// kInitialChunk bytes (or the announced length if smaller; a reused buffer,
// TakeBuffer, may hold up to kInitialChunk then too) and doubles only
// when the bytes received so far fill it, so it never holds more than twice
// the bytes actually received plus kInitialChunk, and never more than the
// caller's max_payload. A payload over max_payload is read and thrown away in
// bounded chunks (Frame::oversized), so the stream stays in sync
// (pkg/lisafs/README.md §2.4, §11 Q12) without allocating what the peer
// announced.
class FrameReader {
 public:
  // kInitialChunk is the first payload allocation.
  static constexpr size_t kInitialChunk = 4096;

  // Read reads from fd with MSG_DONTWAIT, taking at most *budget bytes
  // (decremented by what it reads). It returns true once a whole frame is
  // in, which it moves to *out (mid, payload_len, oversized, payload; no
  // FDs: the kernel drops any the peer attached, pkg/lisafs/README.md §2.4
  // server side), and false when the socket has nothing more for now or the
  // budget is spent. End of stream is ECONNRESET; any other recv error its
  // errno.
  absl::StatusOr<bool> Read(int fd, uint32_t max_payload, size_t* budget,
                            Frame* out);

  // partial reports whether part of a frame has been received.
  bool partial() const { return header_have_ > 0; }

  // buffered returns the bytes of memory held for the partial frame.
  size_t buffered() const { return payload_.capacity(); }

 private:
  // Reset forgets the frame and frees its buffer.
  void Reset();

  std::array<uint8_t, kMessageHeaderSize> header_{};
  size_t header_have_ = 0;
  uint32_t len_ = 0;
  uint16_t mid_ = 0;
  bool oversized_ = false;
  // have_ counts payload bytes received (kept, or skipped if oversized).
  uint32_t have_ = 0;
  std::vector<uint8_t> payload_;
};

// FrameWriter sends one response frame at a time on a non-blocking stream.
class FrameWriter {
 public:
  // Start sets the frame to send: a header for mid and payload, then the
  // payload, with fds in one SCM_RIGHTS message on the first sendmsg that
  // carries bytes (pkg/lisafs/README.md §2.3). Takes ownership of everything;
  // the FDs are closed once sent, or with the writer. Requires !pending().
  void Start(uint16_t mid, std::vector<uint8_t> payload,
             std::vector<fd::OwnedFd> fds);

  // Flush sends what sock takes now (unet::Socket::TrySend: non-blocking,
  // MSG_NOSIGNAL).
  // true once the whole frame is out (the payload buffer is then freed),
  // false if the socket is full: wait for EPOLLOUT and call again. The
  // errno of sendmsg otherwise (EPIPE for a peer that went away).
  absl::StatusOr<bool> Flush(unet::Socket& sock);

  // pending reports whether a frame is not fully sent.
  bool pending() const { return pending_; }

  // buffered returns the bytes of memory held for the unsent frame.
  size_t buffered() const { return payload_.capacity(); }

 private:
  std::array<uint8_t, kMessageHeaderSize> header_{};
  std::vector<uint8_t> payload_;
  std::vector<fd::OwnedFd> fds_;
  size_t sent_ = 0;
  bool pending_ = false;
};

}  // namespace gvisor::lisafs::internal

#endif  // GVISOR_PKG_LISAFS_FRAME_IO_H_
