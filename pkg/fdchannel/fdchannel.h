// Package fdchannel: passing host FDs one at a time over a SOCK_SEQPACKET
// socket pair, the side channel that carries the FDs of a LISAFS channel's
// responses (WIRE.md §8.6). Each FD travels alone in a datagram with no data
// bytes and one SCM_RIGHTS control message.

#ifndef GVISOR_PKG_FDCHANNEL_FDCHANNEL_H_
#define GVISOR_PKG_FDCHANNEL_FDCHANNEL_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pkg/fd/fd.h"

namespace gvisor::fdchannel {

// NewConnectedSockets returns both ends of a close-on-exec
// socketpair(AF_UNIX, SOCK_SEQPACKET).
absl::StatusOr<std::pair<fd::OwnedFd, fd::OwnedFd>> NewConnectedSockets();

// Endpoint is one end of an FD channel. It owns its socket and is move-only;
// one sender and one receiver may use it at the same time.
class Endpoint {
 public:
  Endpoint() = default;
  // Takes ownership of sock, one end of a SOCK_SEQPACKET pair.
  explicit Endpoint(fd::OwnedFd sock) : sock_(std::move(sock)) {}

  Endpoint(Endpoint&&) = default;
  Endpoint& operator=(Endpoint&&) = default;
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // SendFD sends a copy of fd (borrowed; the caller keeps and closes its
  // own) in one zero-byte datagram. Blocks while the socket is full.
  absl::Status SendFD(int fd);

  // RecvFDNonblock receives one FD if a datagram is waiting: EAGAIN if none
  // is, EPROTO if the datagram does not carry exactly one FD (whatever it
  // carried is closed). The FD is close-on-exec.
  absl::StatusOr<fd::OwnedFd> RecvFDNonblock();

  int fd() const { return sock_.get(); }

 private:
  fd::OwnedFd sock_;
};

}  // namespace gvisor::fdchannel

#endif  // GVISOR_PKG_FDCHANNEL_FDCHANNEL_H_
