// SockCommunicator frames LISAFS messages over the connection's main socket
// (pkg/lisafs/README.md §2): an 8-byte header (payload length, MID), the
// payload, and donated host FDs as SCM_RIGHTS on the frame's first bytes. Both
// the client and the server use it; each side applies its own policy on top
// (pkg/lisafs/README.md §2.5, §2.6).

#ifndef GVISOR_PKG_LISAFS_SOCK_COMMUNICATOR_H_
#define GVISOR_PKG_LISAFS_SOCK_COMMUNICATOR_H_

#include <stddef.h>
#include <stdint.h>

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/fd/fd.h"
#include "pkg/spin/spin.h"
#include "pkg/unet/unet.h"

namespace gvisor::lisafs {

// Frame is one received message.
struct Frame {
  uint16_t mid = 0;
  // payload_len is the length the header announced. When it exceeded the
  // receiver's limit, payload is empty and oversized is set: the bytes were
  // read and thrown away, so the stream is still in sync.
  uint32_t payload_len = 0;
  bool oversized = false;
  std::vector<uint8_t> payload;
  // FDs that came with the frame (close-on-exec), in the order sent.
  std::vector<fd::OwnedFd> fds;
};

// SockCommunicator sends and receives whole frames on a SOCK_STREAM socket.
// It is not synchronized: callers run one send+receive exchange at a time,
// except that Shutdown may be called from any thread.
class SockCommunicator {
 public:
  // kMaxRecvFds is how many FDs a receive accepts at most; callers keep what
  // they asked for and close the rest. Beyond it the frame is refused.
  static constexpr size_t kMaxRecvFds = 16;

  // Takes ownership of sock.
  explicit SockCommunicator(unet::Socket sock) : sock_(std::move(sock)) {}

  // SendFrame sends header and payload in one go. fds are borrowed: they go
  // in one SCM_RIGHTS message on the first sendmsg, and the caller keeps and
  // closes its copies.
  absl::Status SendFrame(uint16_t mid, absl::Span<const uint8_t> payload,
                         absl::Span<const int> fds = {});

  // kRecvChunk is how far ahead of the bytes that have arrived a payload
  // buffer may grow: a payload is read in chunks of max(kRecvChunk, bytes
  // so far), so its buffer never exceeds twice what the peer really sent
  // plus kRecvChunk, whatever length the header claims.
  static constexpr size_t kRecvChunk = 64 * 1024;

  // kReadAhead is the size of the connection's read buffer: RecvFrame's
  // first recvmsg asks for up to this many bytes, so the header and a small
  // payload (every fixed-size response, a Walk of a few components) arrive
  // in one system call. It is allocated on the first RecvFrame and reused;
  // bytes read beyond the frame (only a peer that sends what was not asked
  // for leaves any) stay in it for the next RecvFrame, so it is all a
  // partial frame ever holds besides its payload buffer.
  static constexpr size_t kReadAhead = 4096;

  // RecvFrame reads one frame. FDs are taken from the frame's first read
  // only (pkg/lisafs/README.md §2.4); with want_fds == 0 any FDs sent are
  // dropped. out->payload and out->fds are cleared first but keep their
  // capacity, so a caller that reuses one Frame receives small frames
  // without allocating. The header's length is checked before anything is
  // allocated from it:
  //  - up to max_payload bytes, the payload is read into out->payload,
  //    growing it only as bytes arrive (kRecvChunk);
  //  - over max_payload but at most max_drain bytes, it is read in bounded
  //    chunks and thrown away (Frame::oversized), so the stream stays in
  //    sync;
  //  - over both, nothing more is read: RecvFrame fails with EMSGSIZE
  //    (Frame::oversized and payload_len say what was claimed) and the
  //    stream is out of sync, so the caller must drop the connection.
  // Any other transport error (end of stream included) also leaves the
  // stream out of sync.
  absl::Status RecvFrame(size_t want_fds, uint32_t max_payload, Frame* out,
                         uint32_t max_drain = UINT32_MAX);

  // set_spin sets the upper bound of the spin before RecvFrame blocks
  // (pkg/spin/spin.h): until the first byte of the frame has arrived,
  // RecvFrame polls the socket with non-blocking recvmsg calls into its
  // read buffer for up to that long (less while the peer keeps answering
  // late), then blocks in recvmsg as before; the read that finds the frame
  // is the one that brings it. The spin ends at the first byte, at end of
  // stream, on any error and on Shutdown. Zero turns it off; the default is
  // spin::kDefaultMax.
  void set_spin(absl::Duration max) { spinner_.set_max(max); }

  // Shutdown wakes any thread blocked on the socket; later I/O fails.
  void Shutdown() { sock_.Shutdown().IgnoreError(); }

  int fd() const { return sock_.fd(); }

 private:
  // Fill reads once into the free end of the read buffer (compacting it
  // first), taking FDs into *fds if max_fds > 0; with a spin policy it
  // first polls with non-blocking reads for up to the spin window
  // (pkg/spin). End of stream is ECONNRESET.
  absl::Status Fill(size_t max_fds, std::vector<fd::OwnedFd>* fds);
  // Take moves up to n buffered bytes to dst (may be null: thrown away)
  // and returns how many.
  size_t Take(uint8_t* dst, size_t n);

  unet::Socket sock_;
  spin::Spinner spinner_;
  // The read buffer: bytes [rpos_, rend_) of rbuf_ are received but not yet
  // consumed.
  std::unique_ptr<uint8_t[]> rbuf_;
  size_t rpos_ = 0;
  size_t rend_ = 0;
};

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_SOCK_COMMUNICATOR_H_
