#include "pkg/unet/unet.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/address.h"

namespace gvisor::unet {
namespace {

// kCtrlBufSize fits one SCM_RIGHTS control message with kMaxFds FDs.
constexpr size_t kCtrlBufSize = CMSG_SPACE(sizeof(int) * kMaxFds);

// kNoFdsCtrlSize is the control buffer used when no FD is wanted: room for a
// header only, so the kernel installs nothing (pkg/lisafs/README.md §2.4).
constexpr size_t kNoFdsCtrlSize = CMSG_SPACE(0);

// kIovMax caps the iovecs handed to one sendmsg/recvmsg (the kernel refuses
// more than IOV_MAX with EMSGSIZE); the loops continue with the rest.
constexpr size_t kIovMax = IOV_MAX;

// Fail returns a status carrying err, described as "<op> on FD <fd>" plus
// ": <detail>" when detail is given.
absl::Status Fail(int err, absl::string_view op, int fd,
                  absl::string_view detail = "") {
  if (detail.empty()) {
    return syserr::FromErrno(err, absl::StrCat(op, " on FD ", fd));
  }
  return syserr::FromErrno(err, absl::StrCat(op, " on FD ", fd, ": ", detail));
}

bool IsSupportedType(int type) {
  return type == SOCK_STREAM || type == SOCK_SEQPACKET;
}

absl::Status CheckType(int type, absl::string_view op) {
  if (IsSupportedType(type)) return absl::OkStatus();
  return syserr::FromErrno(
      EINVAL, absl::StrCat(op, ": socket type ", type,
                           " is neither SOCK_STREAM nor SOCK_SEQPACKET"));
}

// WaitReady blocks in poll(2) until fd reports one of events (or an error
// or hangup, which the caller's next syscall turns into a result).
absl::Status WaitReady(int fd, short events, absl::string_view op) {
  pollfd p = {};
  p.fd = fd;
  p.events = events;
  while (::poll(&p, 1, -1) < 0) {
    if (errno != EINTR) return Fail(errno, op, fd);
  }
  return absl::OkStatus();
}

// SendOnce performs one successful sendmsg(2) of iov[0..iovlen) with fds
// (if any) as one SCM_RIGHTS message, and returns the bytes sent. EINTR and
// EAGAIN mean nothing was sent, control data included, so retrying with the
// same FDs cannot duplicate them. With wait, EAGAIN waits for the socket to
// be writable; without, it is returned as an EAGAIN status.
absl::StatusOr<size_t> SendOnce(int fd, const iovec* iov, size_t iovlen,
                                absl::Span<const int> fds, bool wait = true) {
  alignas(cmsghdr) unsigned char ctrl[kCtrlBufSize];
  msghdr msg = {};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = iovlen;
  if (!fds.empty()) {
    // Layout as in pkg/lisafs/README.md V16: CMSG_SPACE(4n) bytes, zero
    // padding.
    const size_t payload = sizeof(int) * fds.size();
    memset(ctrl, 0, CMSG_SPACE(payload));
    msg.msg_control = ctrl;
    msg.msg_controllen = CMSG_SPACE(payload);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(payload);
    memcpy(CMSG_DATA(cmsg), fds.data(), payload);
  }
  while (true) {
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT));
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait) return syserr::FromErrno(EAGAIN, "sendmsg");
      RETURN_IF_ERROR(WaitReady(fd, POLLOUT, "poll for sendmsg"));
      continue;
    }
    return Fail(errno, "sendmsg", fd);
  }
}

// Received is the outcome of one recvmsg(2).
struct Received {
  size_t bytes = 0;
  int flags = 0;  // msg_flags
  // With MSG_DONTWAIT in the flags: nothing was there to receive yet.
  bool would_block = false;
  // Inline for the usual one or two FDs: receiving them allocates nothing
  // here (the caller's vector may already have room).
  absl::InlinedVector<fd::OwnedFd, 4> fds;
};

// RecvOnce performs one successful recvmsg(2) into iov[0..iovlen) with the
// given flags and collects SCM_RIGHTS FDs (close-on-exec) according to
// max_fds; see Socket::RecvSome for the rules. With MSG_DONTWAIT it does not
// wait: EAGAIN is a Received with would_block set (no status to build).
absl::StatusOr<Received> RecvOnce(int fd, const iovec* iov, size_t iovlen,
                                  size_t max_fds, int flags) {
  alignas(cmsghdr) unsigned char ctrl[kCtrlBufSize];
  const size_t want = std::min(max_fds, kMaxFds);
  msghdr msg = {};
  ssize_t n;
  while (true) {
    msg = {};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = iovlen;
    msg.msg_control = ctrl;
    msg.msg_controllen =
        want == 0 ? kNoFdsCtrlSize : CMSG_SPACE(sizeof(int) * want);
    n = ::recvmsg(fd, &msg, flags | MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (flags & MSG_DONTWAIT) {
        Received r;
        r.would_block = true;
        return r;
      }
      RETURN_IF_ERROR(WaitReady(fd, POLLIN, "poll for recvmsg"));
      continue;
    }
    return Fail(errno, "recvmsg", fd);
  }

  Received r;
  r.bytes = static_cast<size_t>(n);
  r.flags = msg.msg_flags;
  // Take ownership of every FD first, so that each one is closed on any
  // path below that does not hand it to the caller.
  const unsigned char* ctrl_end = ctrl + msg.msg_controllen;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
        cmsg->cmsg_len < CMSG_LEN(0)) {
      continue;
    }
    const unsigned char* data = CMSG_DATA(cmsg);
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    count = std::min<size_t>(count, (ctrl_end - data) / sizeof(int));
    for (size_t i = 0; i < count; ++i) {
      int raw;
      memcpy(&raw, data + i * sizeof(int), sizeof(int));
      if (raw >= 0) r.fds.emplace_back(raw);
    }
  }
  if (max_fds == 0) {
    // Nothing wanted: whatever arrived is dropped (pkg/lisafs/README.md §2.4).
    r.fds.clear();
    return r;
  }
  if ((r.flags & MSG_CTRUNC) != 0 || r.fds.size() > max_fds) {
    return Fail(
        EMSGSIZE, "recvmsg", fd,
        absl::StrCat(
            "peer sent more FDs than the ", max_fds, " expected (",
            r.fds.size(), " received",
            (r.flags & MSG_CTRUNC) != 0 ? ", control data truncated" : "",
            "; all closed)"));
  }
  return r;
}

size_t TotalBytes(absl::Span<const iovec> iov) {
  size_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  return total;
}

// IovCursor walks a private copy of an iovec array as bytes are consumed.
class IovCursor {
 public:
  explicit IovCursor(absl::Span<const iovec> iov)
      : iov_(iov.begin(), iov.end()) {
    SkipEmpty();
  }

  bool done() const { return idx_ == iov_.size(); }
  const iovec* data() const { return iov_.data() + idx_; }
  size_t count() const { return std::min(iov_.size() - idx_, kIovMax); }

  // Advance moves past n bytes, which must not exceed what remains.
  void Advance(size_t n) {
    while (n > 0) {
      iovec& v = iov_[idx_];
      const size_t step = std::min(n, v.iov_len);
      v.iov_base = static_cast<char*>(v.iov_base) + step;
      v.iov_len -= step;
      n -= step;
      SkipEmpty();
    }
  }

 private:
  void SkipEmpty() {
    while (idx_ < iov_.size() && iov_[idx_].iov_len == 0) ++idx_;
  }

  // Inline for the few iovecs of a frame: sending one allocates nothing.
  absl::InlinedVector<iovec, 4> iov_;
  size_t idx_ = 0;
};

}  // namespace

absl::StatusOr<Socket> Socket::FromFd(fd::OwnedFd fd) {
  if (!fd.valid()) return syserr::FromErrno(EBADF, "Socket::FromFd: no FD");
  int domain = 0;
  socklen_t len = sizeof(domain);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) {
    return Fail(errno, "Socket::FromFd", fd.get());
  }
  if (domain != AF_UNIX) {
    return Fail(EINVAL, "Socket::FromFd", fd.get(),
                absl::StrCat("socket family ", domain, " is not AF_UNIX"));
  }
  return Socket(std::move(fd));
}

absl::StatusOr<std::pair<Socket, Socket>> Socket::SocketPair(int type) {
  RETURN_IF_ERROR(CheckType(type, "socketpair"));
  int sv[2];
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0) {
    return syserr::FromLastErrno("socketpair(AF_UNIX)");
  }
  return std::make_pair(Socket(fd::OwnedFd(sv[0])), Socket(fd::OwnedFd(sv[1])));
}

absl::StatusOr<Socket> Socket::Connect(absl::string_view path, int type) {
  return Connect(path, type, absl::InfiniteFuture());
}

absl::StatusOr<Socket> Socket::Connect(absl::string_view path, int type,
                                       absl::Time deadline) {
  RETURN_IF_ERROR(CheckType(type, "connect"));
  ASSIGN_OR_RETURN(const UnixAddress addr, UnixAddress::FromPath(path));
  fd::OwnedFd sock(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return syserr::FromLastErrno("socket(AF_UNIX)");
  const bool bounded = deadline != absl::InfiniteFuture();
  // SetTimeout bounds a connect(2) that waits for room in the listener's
  // backlog by what is left of deadline (the kernel then says EAGAIN), or
  // lifts the bound (an infinite deadline) once connected.
  auto set_timeout = [&](absl::Time until) -> absl::Status {
    timeval tv = {};
    if (until != absl::InfiniteFuture()) {
      tv =
          absl::ToTimeval(std::max(until - absl::Now(), absl::Microseconds(1)));
    }
    if (::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) !=
        0) {
      return Fail(errno, "setsockopt(SO_SNDTIMEO)", sock.get());
    }
    return absl::OkStatus();
  };
  if (bounded) RETURN_IF_ERROR(set_timeout(deadline));
  bool retried = false;
  while (::connect(sock.get(), addr.addr(), addr.len()) != 0) {
    if (errno == EINTR) {
      retried = true;
      if (bounded) RETURN_IF_ERROR(set_timeout(deadline));
      continue;
    }
    // A connection completed by an interrupted attempt counts.
    if (errno == EISCONN && retried) break;
    return syserr::FromLastErrno(absl::StrCat("connect to \"", path, "\""));
  }
  if (bounded) RETURN_IF_ERROR(set_timeout(absl::InfiniteFuture()));
  return Socket(std::move(sock));
}

absl::StatusOr<Socket> Socket::Dup() const {
  fd::OwnedFd dup(::fcntl(fd(), F_DUPFD_CLOEXEC, 0));
  if (!dup.valid()) return Fail(errno, "dup", fd());
  return Socket(std::move(dup));
}

absl::Status Socket::SendAll(absl::Span<const iovec> iov,
                             absl::Span<const int> fds) {
  if (fds.size() > kMaxFds) {
    return Fail(EINVAL, "sendmsg", fd(),
                absl::StrCat(fds.size(), " FDs exceed the limit of ", kMaxFds));
  }
  if (TotalBytes(iov) == 0) {
    if (fds.empty()) return absl::OkStatus();
    return Fail(EINVAL, "sendmsg", fd(), "FDs need at least one byte of data");
  }
  IovCursor cur(iov);
  // The FDs go with the first sendmsg that sends anything (pkg/lisafs/README.md
  // §2.3).
  absl::Span<const int> pending = fds;
  while (!cur.done()) {
    ASSIGN_OR_RETURN(const size_t n,
                     SendOnce(fd(), cur.data(), cur.count(), pending));
    if (n == 0) {
      return Fail(EIO, "sendmsg", fd(), "no progress");
    }
    pending = {};
    cur.Advance(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Socket::TrySend(absl::Span<const iovec> iov,
                                       absl::Span<const int> fds) {
  if (fds.size() > kMaxFds) {
    return Fail(EINVAL, "sendmsg", fd(),
                absl::StrCat(fds.size(), " FDs exceed the limit of ", kMaxFds));
  }
  if (TotalBytes(iov) == 0) {
    if (fds.empty()) return 0;
    return Fail(EINVAL, "sendmsg", fd(), "FDs need at least one byte of data");
  }
  return SendOnce(fd(), iov.data(), iov.size(), fds, /*wait=*/false);
}

absl::StatusOr<size_t> Socket::RecvSome(absl::Span<const iovec> iov,
                                        size_t max_fds,
                                        std::vector<fd::OwnedFd>* fds) {
  if (max_fds > 0 && fds == nullptr) {
    return Fail(EINVAL, "recvmsg", fd(), "FDs wanted but no vector for them");
  }
  ASSIGN_OR_RETURN(
      Received r,
      RecvOnce(fd(), iov.data(), std::min(iov.size(), kIovMax), max_fds, 0));
  for (fd::OwnedFd& f : r.fds) fds->push_back(std::move(f));
  return r.bytes;
}

absl::StatusOr<std::optional<size_t>> Socket::TryRecvSome(
    absl::Span<const iovec> iov, size_t max_fds,
    std::vector<fd::OwnedFd>* fds) {
  if (max_fds > 0 && fds == nullptr) {
    return Fail(EINVAL, "recvmsg", fd(), "FDs wanted but no vector for them");
  }
  ASSIGN_OR_RETURN(Received r,
                   RecvOnce(fd(), iov.data(), std::min(iov.size(), kIovMax),
                            max_fds, MSG_DONTWAIT));
  if (r.would_block) return std::optional<size_t>();
  for (fd::OwnedFd& f : r.fds) fds->push_back(std::move(f));
  return std::optional<size_t>(r.bytes);
}

absl::Status Socket::RecvExact(absl::Span<const iovec> iov, size_t max_fds,
                               std::vector<fd::OwnedFd>* fds) {
  if (max_fds > 0 && fds == nullptr) {
    return Fail(EINVAL, "recvmsg", fd(), "FDs wanted but no vector for them");
  }
  const size_t total = TotalBytes(iov);
  size_t got = 0;
  IovCursor cur(iov);
  absl::InlinedVector<fd::OwnedFd, 4> received;
  bool fds_taken = false;
  while (!cur.done()) {
    // Only the first read that returns data may carry this message's FDs
    // (pkg/lisafs/README.md §2.4).
    ASSIGN_OR_RETURN(Received r, RecvOnce(fd(), cur.data(), cur.count(),
                                          fds_taken ? 0 : max_fds, 0));
    if (r.bytes == 0) {
      return Fail(ECONNRESET, "recvmsg", fd(),
                  absl::StrCat("peer closed the connection after ", got, " of ",
                               total, " bytes"));
    }
    if (!fds_taken) {
      received = std::move(r.fds);
      fds_taken = true;
    }
    got += r.bytes;
    cur.Advance(r.bytes);
  }
  for (fd::OwnedFd& f : received) fds->push_back(std::move(f));
  return absl::OkStatus();
}

absl::Status Socket::SendPacket(absl::Span<const uint8_t> buf,
                                absl::Span<const int> fds) {
  if (fds.size() > kMaxFds) {
    return Fail(EINVAL, "sendmsg", fd(),
                absl::StrCat(fds.size(), " FDs exceed the limit of ", kMaxFds));
  }
  if (buf.empty() && fds.empty()) {
    return Fail(EINVAL, "sendmsg", fd(),
                "an empty packet without FDs reads as end of stream");
  }
  iovec v = {const_cast<uint8_t*>(buf.data()), buf.size()};
  ASSIGN_OR_RETURN(const size_t n, SendOnce(fd(), &v, 1, fds));
  if (n != buf.size()) {
    return Fail(
        EMSGSIZE, "sendmsg", fd(),
        absl::StrCat("sent ", n, " of ", buf.size(), " bytes of a packet"));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Socket::RecvPacket(absl::Span<uint8_t> buf,
                                          size_t max_fds,
                                          std::vector<fd::OwnedFd>* fds) {
  if (max_fds > 0 && fds == nullptr) {
    return Fail(EINVAL, "recvmsg", fd(), "FDs wanted but no vector for them");
  }
  iovec v = {buf.data(), buf.size()};
  // MSG_TRUNC makes recvmsg return the record's real length.
  ASSIGN_OR_RETURN(Received r, RecvOnce(fd(), &v, 1, max_fds, MSG_TRUNC));
  if ((r.flags & MSG_TRUNC) != 0 || r.bytes > buf.size()) {
    return Fail(EMSGSIZE, "recvmsg", fd(),
                absl::StrCat("packet of ", r.bytes, " bytes does not fit in ",
                             buf.size()));
  }
  if (r.bytes == 0 && r.fds.empty() && (r.flags & MSG_CTRUNC) == 0) {
    return Fail(ECONNRESET, "recvmsg", fd(),
                "peer closed the connection (or sent an empty packet "
                "without FDs)");
  }
  for (fd::OwnedFd& f : r.fds) fds->push_back(std::move(f));
  return r.bytes;
}

absl::Status Socket::Shutdown() {
  // AF_UNIX accepts repeated shutdowns; ENOTCONN would only mean there is
  // nothing left to shut down.
  if (::shutdown(fd(), SHUT_RDWR) != 0 && errno != ENOTCONN) {
    return Fail(errno, "shutdown", fd());
  }
  return absl::OkStatus();
}

absl::StatusOr<ServerSocket> ServerSocket::Bind(absl::string_view path,
                                                int type, mode_t mode) {
  RETURN_IF_ERROR(CheckType(type, "bind"));
  ASSIGN_OR_RETURN(const UnixAddress addr, UnixAddress::FromPath(path));
  fd::OwnedFd sock(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return syserr::FromLastErrno("socket(AF_UNIX)");
  const bool abstract = addr.abstract();
  const mode_t perm = mode & 07777;
  if (!abstract) {
    // bind(2) creates the file with the socket inode's mode less the umask,
    // so the file never starts out looser than perm; chmod below then
    // removes the umask's effect.
    if (::fchmod(sock.get(), perm) != 0) {
      return Fail(errno, "fchmod", sock.get());
    }
  }
  if (::bind(sock.get(), addr.addr(), addr.len()) != 0) {
    return syserr::FromLastErrno(absl::StrCat("bind to \"", path, "\""));
  }
  std::string name(path);
  if (!abstract && ::chmod(name.c_str(), perm) != 0) {
    const int err = errno;
    ::unlink(name.c_str());
    return syserr::FromErrno(err, absl::StrCat("chmod of \"", path, "\""));
  }
  return ServerSocket(std::move(sock), std::move(name));
}

absl::StatusOr<ServerSocket> ServerSocket::FromListeningFd(fd::OwnedFd fd,
                                                           int type) {
  RETURN_IF_ERROR(CheckType(type, "FromListeningFd"));
  int domain = 0, got_type = 0, accepting = 0;
  socklen_t len = sizeof(int);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) {
    return Fail(errno, "ServerSocket::FromListeningFd", fd.get());
  }
  len = sizeof(int);
  ::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &got_type, &len);
  len = sizeof(int);
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len);
  if (domain != AF_UNIX || got_type != type || !accepting) {
    return Fail(EINVAL, "ServerSocket::FromListeningFd", fd.get(),
                "not a listening AF_UNIX socket of the type asked for");
  }
  sockaddr_un a = {};
  len = sizeof(a);
  std::string name;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0 &&
      len > offsetof(sockaddr_un, sun_path)) {
    const size_t n = len - offsetof(sockaddr_un, sun_path);
    name = a.sun_path[0] == '\0'
               ? absl::StrCat("@", absl::string_view(a.sun_path + 1, n - 1))
               : std::string(a.sun_path, strnlen(a.sun_path, n));
  }
  ServerSocket s(std::move(fd), std::move(name));
  s.unlinked_ = true;
  return s;
}

absl::Status ServerSocket::Listen(int backlog) {
  if (::listen(fd(), backlog) != 0) {
    return syserr::FromLastErrno(absl::StrCat("listen on \"", path_, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<Socket> ServerSocket::Accept() {
  while (true) {
    int conn = ::accept4(fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (conn >= 0) return Socket(fd::OwnedFd(conn));
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      RETURN_IF_ERROR(WaitReady(fd(), POLLIN, "poll for accept"));
      continue;
    }
    return syserr::FromLastErrno(absl::StrCat("accept on \"", path_, "\""));
  }
}

absl::Status ServerSocket::Shutdown() {
  if (::shutdown(fd(), SHUT_RDWR) != 0 && errno != ENOTCONN) {
    return syserr::FromLastErrno(absl::StrCat("shutdown of \"", path_, "\""));
  }
  return absl::OkStatus();
}

absl::Status ServerSocket::Unlink() {
  if (unlinked_ || path_.empty() || UnixAddress::IsAbstract(path_)) {
    return absl::OkStatus();
  }
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    return syserr::FromLastErrno(absl::StrCat("unlink of \"", path_, "\""));
  }
  unlinked_ = true;
  return absl::OkStatus();
}

}  // namespace gvisor::unet
