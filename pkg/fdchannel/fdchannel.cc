#include "pkg/fdchannel/fdchannel.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::fdchannel {

absl::StatusOr<std::pair<unet::Socket, unet::Socket>> NewConnectedSockets() {
  return unet::Socket::SocketPair(SOCK_SEQPACKET);
}

absl::StatusOr<Endpoint> Endpoint::FromFd(fd::OwnedFd fd) {
  absl::StatusOr<unet::Socket> sock = unet::Socket::FromFd(std::move(fd));
  if (!sock.ok()) return sock.status();
  return Endpoint(*std::move(sock));
}

absl::Status Endpoint::SendFD(int fd) {
  // A datagram with no data bytes and the FD as its only control message.
  return sock_.SendPacket({}, absl::MakeConstSpan(&fd, 1));
}

absl::StatusOr<fd::OwnedFd> Endpoint::RecvFDNonblock() {
  // Room for a few FDs, so that a peer sending more than one in a datagram
  // is noticed (and its FDs closed) rather than silently truncated.
  alignas(cmsghdr) unsigned char ctrl[CMSG_SPACE(4 * sizeof(int))];
  msghdr msg = {};
  ssize_t n;
  do {
    msg = {};
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof(ctrl);
    n = recvmsg(sock_.fd(), &msg, MSG_TRUNC | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return syserr::FromErrno(
        errno, absl::StrCat("receiving an FD on FD channel ", sock_.fd()));
  }
  std::vector<fd::OwnedFd> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
       c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len < CMSG_LEN(0)) {
      continue;
    }
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int raw;
      memcpy(&raw, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (raw >= 0) fds.emplace_back(raw);
    }
  }
  if (fds.size() != 1 || (msg.msg_flags & MSG_CTRUNC) != 0) {
    return syserr::FromErrno(
        EPROTO, absl::StrCat("FD channel ", sock_.fd(), ": datagram carried ",
                             fds.size(), " FDs, want 1"));
  }
  return std::move(fds[0]);
}

}  // namespace gvisor::fdchannel
