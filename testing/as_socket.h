// AsSocket: the connected FD a fixture hands out (GoferFixture::Connect,
// HostileGofer::Dial) as the unet::Socket that devutil::NewGoferClient and
// lisafs::NewClient take.

#ifndef GVISOR_TESTING_AS_SOCKET_H_
#define GVISOR_TESTING_AS_SOCKET_H_

#include <utility>

#include "absl/status/statusor.h"
#include "pkg/fd/fd.h"
#include "pkg/unet/unet.h"

namespace gvisor::testing {

// AsSocket wraps fd (unet::Socket::FromFd). A failed fd, or one that is not
// an AF_UNIX socket, gives a Socket that holds nothing, on which every
// operation (a Mount included) fails with EBADF: the test then fails there.
inline unet::Socket AsSocket(absl::StatusOr<fd::OwnedFd> fd) {
  if (!fd.ok()) return unet::Socket();
  absl::StatusOr<unet::Socket> s = unet::Socket::FromFd(std::move(*fd));
  return s.ok() ? std::move(*s) : unet::Socket();
}

// AsSocket of an FD that is known to be good (HostileGofer::Dial).
inline unet::Socket AsSocket(fd::OwnedFd fd) {
  return AsSocket(absl::StatusOr<fd::OwnedFd>(std::move(fd)));
}

}  // namespace gvisor::testing

#endif  // GVISOR_TESTING_AS_SOCKET_H_
