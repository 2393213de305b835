// RawClient: a test-only LISAFS client that sends exactly the frames it is
// given and returns exactly what came back (MID, payload bytes, donated
// FDs), so that server tests can assert bytes and errnos without any client
// policy in between. It also writes raw bytes, for half-sent frames.
// RawChannel does the same over a channel.

#ifndef GVISOR_TESTING_RAW_CLIENT_H_
#define GVISOR_TESTING_RAW_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/channel.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/sock_communicator.h"
#include "pkg/lisafs/wire.h"
#include "testing/fd_count.h"  // IWYU pragma: export

namespace gvisor::testing {

// Reply is one response frame.
struct Reply {
  uint16_t mid = 0;
  std::vector<uint8_t> payload;
  std::vector<fd::OwnedFd> fds;

  // err returns the errno of an Error response (-1 if its payload is not 4
  // bytes), or 0 for any other MID.
  int err() const;

  // As decodes the payload as a T.
  template <lisafs::WireMessage T>
  absl::StatusOr<T> As() const {
    return lisafs::Unmarshal<T>(payload);
  }
};

class RawClient {
 public:
  // kWantFds is how many donated FDs a call accepts.
  static constexpr size_t kWantFds = 4;

  // Takes ownership of sock, a connected SOCK_STREAM socket.
  explicit RawClient(fd::OwnedFd sock);

  // CallBytes sends one frame with mid and payload and reads the reply.
  absl::StatusOr<Reply> CallBytes(uint16_t mid,
                                  absl::Span<const uint8_t> payload);

  // Call encodes req and calls mid with it.
  template <lisafs::WireMessage T>
  absl::StatusOr<Reply> Call(lisafs::MID mid, const T& req) {
    absl::StatusOr<std::vector<uint8_t>> b = lisafs::Marshal(req);
    if (!b.ok()) return b.status();
    return CallBytes(static_cast<uint16_t>(mid), *b);
  }

  // WriteBytes writes raw bytes (no framing) to the socket.
  absl::Status WriteBytes(absl::Span<const uint8_t> bytes);

  // ReadReply reads one reply frame.
  absl::StatusOr<Reply> ReadReply();

  int fd() const { return comm_.fd(); }

 private:
  lisafs::SockCommunicator comm_;
};

// RawChannel is the client end of one LISAFS channel (pkg/lisafs/README.md §8),
// made from a raw Channel reply, that sends exactly the messages it is given
// and returns exactly what came back, FDs from the channel's FD socket
// included.
class RawChannel {
 public:
  // Connect maps the window of a successful Channel reply (which it takes
  // the two FDs of) and runs the client handshake.
  static absl::StatusOr<std::unique_ptr<RawChannel>> Connect(Reply channel);

  // CallBytes sends one message with mid and payload over the channel and
  // returns the answer. A transport failure (shutdown included) is an error.
  absl::StatusOr<Reply> CallBytes(uint16_t mid,
                                  absl::Span<const uint8_t> payload);

  template <lisafs::WireMessage T>
  absl::StatusOr<Reply> Call(lisafs::MID mid, const T& req) {
    absl::StatusOr<std::vector<uint8_t>> b = lisafs::Marshal(req);
    if (!b.ok()) return b.status();
    return CallBytes(static_cast<uint16_t>(mid), *b);
  }

  // Window returns the first n bytes of the packet window, header included,
  // as they are now (read them only while this side is active).
  std::vector<uint8_t> Window(size_t n) const;

  lisafs::Channel& channel() { return *channel_; }

 private:
  explicit RawChannel(std::unique_ptr<lisafs::Channel> channel)
      : channel_(std::move(channel)) {}

  std::unique_ptr<lisafs::Channel> channel_;
};

// Bytes views a string as bytes.
inline absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()),
                             s.size());
}

}  // namespace gvisor::testing

#endif  // GVISOR_TESTING_RAW_CLIENT_H_
