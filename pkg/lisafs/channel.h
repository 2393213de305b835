// Channel is a LISAFS channel communicator (pkg/lisafs/README.md §8), shared by
// the client and the server: a flipcall endpoint over a packet window carries
// each message as a 4-byte channel header (MID, FD count) and the payload,
// and an FD channel carries the FDs of a response, one per datagram, sent
// before the window is handed over.

#ifndef GVISOR_PKG_LISAFS_CHANNEL_H_
#define GVISOR_PKG_LISAFS_CHANNEL_H_

#include <stddef.h>
#include <stdint.h>

#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pkg/fdchannel/fdchannel.h"
#include "pkg/flipcall/flipcall.h"
#include "pkg/lisafs/sock_communicator.h"

namespace gvisor::lisafs {

// MaxChannels is how many channels one connection has at most, on either
// side: the host's hardware threads clamped to 2..4 (pkg/lisafs/README.md §6.7,
// §7.9).
size_t MaxChannels();

// Channel is one channel's two endpoints. One thread at a time uses it,
// except for data().Shutdown(), which any thread may call.
class Channel {
 public:
  // kHeaderSize is the channel header before each payload: MID (u16),
  // FD count (u8), one padding byte (pkg/lisafs/README.md §8.2).
  static constexpr uint32_t kHeaderSize = 4;

  // Takes ownership of both endpoints.
  Channel(std::unique_ptr<flipcall::Endpoint> data, fdchannel::Endpoint fds)
      : data_(std::move(data)), fds_(std::move(fds)) {}

  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // data is the flipcall endpoint over the packet window (borrowed).
  flipcall::Endpoint& data() { return *data_; }

  // max_payload is the largest payload one message may hold.
  uint32_t max_payload() const { return data_->data_cap() - kHeaderSize; }

  // WriteMessage writes the header (mid, num_fds) and payload into the
  // window (flipcall::CopyToShared) and returns the datagram length to send.
  // EIO if the payload does not fit. Call it only while this side is active.
  absl::StatusOr<uint32_t> WriteMessage(uint16_t mid, uint8_t num_fds,
                                        absl::Span<const uint8_t> payload);

  // ReadMessage copies the n-byte datagram this side just received out of
  // the window into *out and receives the FDs its header announces (at
  // most 255) from the FD channel, stopping at the first that is not there.
  // The peer shares the window and may rewrite it at any time: every byte
  // is read exactly once (flipcall::CopyFromShared) into out, which is all
  // that callers decode, and only n (read once by the endpoint) decides how
  // many bytes are copied. A payload longer than max_payload is not copied
  // (Frame::oversized). EIO if n is shorter than the header or longer than
  // the window's data_cap().
  absl::Status ReadMessage(uint32_t n, uint32_t max_payload, Frame* out);

  // SendFDs sends fds (borrowed) over the FD channel, one per datagram, and
  // returns how many went out: none if there are more than 255, and up to
  // the first failure otherwise.
  uint8_t SendFDs(absl::Span<const int> fds);

 private:
  std::unique_ptr<flipcall::Endpoint> data_;
  fdchannel::Endpoint fds_;
};

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_CHANNEL_H_
