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
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/sock_communicator.h"
#include "pkg/lisafs/wire.h"
#include "pkg/unet/unet.h"

namespace gvisor::lisafs::internal {

// kSpareCapacity and kSpares bound the byte buffers the server keeps for
// reuse, shared by all its threads: at most kSpares, each of at most
// kSpareCapacity bytes (the first chunk of a request payload), so at most
// 256 KiB are kept between requests however many connections and workers
// there are; as many read-ahead buffers (FrameReader::kReadAhead) again.
inline constexpr size_t kSpareCapacity = 4096;
inline constexpr size_t kSpares = 64;

// TakeBuffer returns an empty byte vector, with the storage of one given
// back earlier (on any thread) if there is one. A request's payload and its
// response are built in such buffers, so that small RPCs allocate nothing
// in steady state.
std::vector<uint8_t> TakeBuffer();

// GiveBack keeps buf's storage for a later TakeBuffer when it is at most
// kSpareCapacity and fewer than kSpares are kept; it frees it otherwise.
void GiveBack(std::vector<uint8_t> buf);

// FrameReader assembles request frames from a non-blocking stream.
//
// Reads: one recv per frame in steady state. Each recv asks for up to
// kReadAhead bytes into the turn's read buffer, so the header and a small
// payload arrive together; a payload of kReadAhead bytes or more is read
// straight into its own buffer after what was buffered. The turn's buffer
// is taken from a pool shared by all threads at its first Read and given
// back by EndTurn. Bytes read beyond the frame stay in it for the
// next Read of the same turn;
// EndTurn moves whatever is left to the connection (ahead_, at most
// kReadAhead bytes, kept only until its next turn), so the thread's buffer
// never carries one connection's bytes into another's turn. After a frame,
// the next Read tries one more recv before the turn ends: a peer that
// answers quickly has its next request caught there, which costs less than
// re-arming the socket and waking a worker for it.
//
// Memory: the header is kept inline; the payload buffer starts at
// kInitialChunk bytes (or the announced length if smaller; a reused buffer,
// TakeBuffer, may hold up to kInitialChunk then too) and doubles only
// when the bytes received so far fill it, so it never holds more than twice
// the bytes actually received plus kInitialChunk, and never more than the
// caller's max_payload. Nothing is allocated from the announced length
// before it is checked against max_payload. A payload over max_payload is
// read and thrown away in bounded chunks (Frame::oversized), so the stream
// stays in sync (pkg/lisafs/README.md §2.4, §11 Q12) without allocating what
// the peer announced.
class FrameReader {
 public:
  // kInitialChunk is the first payload allocation.
  static constexpr size_t kInitialChunk = 4096;
  // kReadAhead is the size of a turn's read buffer, and so the most
  // one recv asks for unless it reads a large payload in place.
  static constexpr size_t kReadAhead = 4096;

  FrameReader() = default;
  FrameReader(FrameReader&&) = default;
  FrameReader& operator=(FrameReader&&) = default;

  // Read reads from fd with MSG_DONTWAIT, taking at most *budget bytes
  // (decremented by what it reads). It returns true once a whole frame is
  // in, which it moves to *out (mid, payload_len, oversized, payload; no
  // FDs: the kernel drops any the peer attached, pkg/lisafs/README.md §2.4
  // server side), and false when the socket has nothing more for now or the
  // budget is spent. End of stream is ECONNRESET; any other recv error its
  // errno. A turn's Reads run on one thread and end with EndTurn.
  absl::StatusOr<bool> Read(int fd, uint32_t max_payload, size_t* budget,
                            Frame* out);

  // EndTurn ends a turn's Reads: bytes read ahead and not yet consumed move
  // from the thread's buffer to this reader. Returns true if it holds such
  // bytes (then the next turn must not wait for the socket to become
  // readable: they may hold a whole frame). Idempotent.
  bool EndTurn();

  // partial reports whether part of a frame has been received.
  bool partial() const { return header_have_ > 0 || !ahead_.empty(); }

  // buffered returns the bytes of memory held for the partial frame.
  size_t buffered() const { return payload_.capacity() + ahead_.capacity(); }

 private:
  // Reset forgets the frame (the payload buffer has been handed out).
  void Reset();

  std::array<uint8_t, kMessageHeaderSize> header_{};
  size_t header_have_ = 0;
  uint32_t len_ = 0;
  uint16_t mid_ = 0;
  bool oversized_ = false;
  // have_ counts payload bytes received (kept, or skipped if oversized).
  uint32_t have_ = 0;
  std::vector<uint8_t> payload_;
  // ahead_ holds bytes read beyond the last frame between turns.
  std::vector<uint8_t> ahead_;
};

// FrameWriter sends one response frame at a time on a non-blocking stream.
class FrameWriter {
 public:
  // Start sets the frame to send: a header for mid and payload, then the
  // payload, with fds in one SCM_RIGHTS message on the first sendmsg that
  // carries bytes (pkg/lisafs/README.md §2.3). Takes ownership of everything;
  // the FDs are closed once sent, or with the writer. lent_fd, if >= 0, is
  // sent after them and never closed: lender, which owns it, is held until
  // it is sent (Response::lent_fd). Requires !pending().
  void Start(uint16_t mid, std::vector<uint8_t> payload,
             std::vector<fd::OwnedFd> fds, int lent_fd = -1,
             std::shared_ptr<const void> lender = nullptr);

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
  int lent_fd_ = -1;
  std::shared_ptr<const void> lender_;
  size_t sent_ = 0;
  bool pending_ = false;
};

}  // namespace gvisor::lisafs::internal

#endif  // GVISOR_PKG_LISAFS_FRAME_IO_H_
