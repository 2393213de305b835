// Package fdchannel: passing host FDs one at a time over a SOCK_SEQPACKET
// socket pair, the side channel that carries the FDs of a LISAFS channel's
// responses (pkg/lisafs/README.md §8.6). Each FD travels alone in a datagram
// with no data bytes and one SCM_RIGHTS control message.

#ifndef GVISOR_PKG_FDCHANNEL_FDCHANNEL_H_
#define GVISOR_PKG_FDCHANNEL_FDCHANNEL_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pkg/fd/fd.h"
#include "pkg/unet/unet.h"

namespace gvisor::fdchannel {

// NewConnectedSockets returns both ends of a new FD channel: a
// close-on-exec socketpair(AF_UNIX, SOCK_SEQPACKET).
absl::StatusOr<std::pair<unet::Socket, unet::Socket>> NewConnectedSockets();

// Endpoint is one end of an FD channel. It owns its socket and is move-only;
// one sender and one receiver may use it at the same time.
class Endpoint {
 public:
  Endpoint() = default;
  // Takes ownership of sock, one end of a SOCK_SEQPACKET pair.
  explicit Endpoint(unet::Socket sock) : sock_(std::move(sock)) {}
  // FromFd takes ownership of fd (for example one a peer donated), checking
  // that it is an AF_UNIX socket; fd is closed on error.
  static absl::StatusOr<Endpoint> FromFd(fd::OwnedFd fd);

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

  int fd() const { return sock_.fd(); }

 private:
  unet::Socket sock_;
};

}  // namespace gvisor::fdchannel

#endif  // GVISOR_PKG_FDCHANNEL_FDCHANNEL_H_
