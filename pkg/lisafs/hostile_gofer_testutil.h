// Test-only pieces of a hostile LISAFS server, for tests and fuzzers of the
// client: a socket loop that answers each request with whatever a script
// returns, and the server side of a channel's packet window, mapped from a
// file the test made and driven by hand over the futex protocol
// (pkg/lisafs/README.md §8.3). Unlike flipcall::Endpoint, RawServerWindow
// checks nothing and writes what it is told (any data_len, any state, any
// bytes), as a compromised gofer would.

#ifndef GVISOR_PKG_LISAFS_HOSTILE_GOFER_TESTUTIL_H_
#define GVISOR_PKG_LISAFS_HOSTILE_GOFER_TESTUTIL_H_

#include <stddef.h>
#include <stdint.h>

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pkg/fd/fd.h"
#include "pkg/unet/unet.h"

namespace gvisor::lisafs::testutil {

// NewWindowFile makes a memfd named like the packet-window memfds
// ("flipcall_packet_windows") of size bytes, sealed against shrinking if
// seal is set.
absl::StatusOr<fd::OwnedFd> NewWindowFile(size_t size, bool seal);

// RawServerWindow is the server's mapping of one packet window.
class RawServerWindow {
 public:
  static constexpr uint32_t kClientActive = 0;
  static constexpr uint32_t kServerActive = 1;
  static constexpr uint32_t kShutdown = 2;

  // Map maps length bytes of fd (borrowed) at offset, shared, read-write.
  static absl::StatusOr<std::unique_ptr<RawServerWindow>> Map(int fd,
                                                              int64_t offset,
                                                              size_t length);
  ~RawServerWindow();

  RawServerWindow(const RawServerWindow&) = delete;
  RawServerWindow& operator=(const RawServerWindow&) = delete;

  // packet is the window's first byte (the state word); data is the data
  // area at offset 16.
  uint8_t* packet() const { return packet_; }
  uint8_t* data() const { return packet_ + 16; }
  size_t length() const { return length_; }
  uint32_t data_cap() const { return static_cast<uint32_t>(length_ - 16); }

  // WaitForTurn blocks while the client is active. True once the client has
  // handed the window over; false if the state is anything else (shut
  // down, or garbage).
  bool WaitForTurn();

  // DataLen reads the datagram length word once.
  uint32_t DataLen() const;

  // Read copies the datagram's first n bytes (at most data_cap) out.
  std::vector<uint8_t> Read(size_t n) const;

  // Reply writes bytes at the data area's start (cut to data_cap), stores
  // data_len as given (unchecked), then stores state and wakes the client.
  void Reply(uint32_t data_len, absl::Span<const uint8_t> bytes,
             uint32_t state = kClientActive);

  // Handshake waits for the client's handshake and answers "{}\n"
  // (pkg/lisafs/README.md §8.4). False if the client never handed over.
  bool Handshake();

  // Shutdown stores the shut-down state and wakes the client.
  void Shutdown();

 private:
  RawServerWindow(uint8_t* packet, size_t length)
      : packet_(packet), length_(length) {}

  uint8_t* const packet_;
  const size_t length_;
};

// SocketReply is what a ServeSocket script answers one request with: a
// whole frame (header included) and FDs to donate with it (borrowed).
struct SocketReply {
  std::vector<uint8_t> frame;
  std::vector<int> fds;
};

// ServeSocket answers Mount on s with announced_max and every MID from 1
// to 33, then each further request (mid, payload) with script's reply, until
// the stream ends or the script returns an empty frame.
using SocketScript =
    std::function<SocketReply(uint16_t mid, absl::Span<const uint8_t> payload)>;
void ServeSocket(unet::Socket& s, uint32_t announced_max,
                 const SocketScript& script);

// ChannelReply builds a Channel answer frame for a window at offset and
// length of some file.
std::vector<uint8_t> ChannelReplyFrame(int64_t offset, uint64_t length);

// ErrorReplyFrame builds an Error frame for err.
std::vector<uint8_t> ErrorReplyFrame(uint32_t err);

}  // namespace gvisor::lisafs::testutil

#endif  // GVISOR_PKG_LISAFS_HOSTILE_GOFER_TESTUTIL_H_
