// Package unet: AF_UNIX sockets that carry bytes and file descriptors.
//
// The LISAFS socket communicator (client and server) sends and receives its
// frames through Socket, and passes FDs as SCM_RIGHTS control data exactly as
// pkg/lisafs/README.md §2.3 and §2.4 describe (one control message, attached to
// the first sendmsg of a frame; FDs taken only from the first recvmsg that
// returns data). ServerSocket listens on a filesystem path or an abstract name
// (address.h builds every sockaddr_un).
//
// All I/O is blocking. A socket that happens to be in O_NONBLOCK mode (for
// example one handed over with FromFd) still works: EAGAIN is answered by
// waiting in poll(2). EINTR is always retried.
//
// Errors are absl::Status values that carry the errno (pkg/syserr).

#ifndef GVISOR_PKG_UNET_UNET_H_
#define GVISOR_PKG_UNET_UNET_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/fd/fd.h"

namespace gvisor::unet {

// kMaxFds is the most FDs one message may carry: the kernel's SCM_MAX_FD.
inline constexpr size_t kMaxFds = 253;

// Socket is one connected AF_UNIX socket. It owns its FD and is move-only.
//
// Concurrency: Shutdown may be called from any thread while other threads
// are blocked in Send* or Recv* on the same Socket. Otherwise a Socket is not
// synchronized; in particular it must not be moved, released or destroyed
// while another thread uses it. One sender and one receiver may run at the
// same time; two concurrent senders (or receivers) interleave their bytes.
class Socket {
 public:
  // FromFd takes ownership of fd and wraps it after checking that it is an
  // AF_UNIX socket. Returns ENOTSOCK if fd is not a socket, EINVAL if it is a
  // socket of another family, EBADF if fd holds nothing; fd is closed on
  // every error.
  static absl::StatusOr<Socket> FromFd(fd::OwnedFd fd);

  // SocketPair returns two connected sockets of the given type
  // (SOCK_STREAM or SOCK_SEQPACKET; anything else is EINVAL). Both ends are
  // close-on-exec.
  static absl::StatusOr<std::pair<Socket, Socket>> SocketPair(int type);

  // Connect returns a close-on-exec socket of the given type (SOCK_STREAM or
  // SOCK_SEQPACKET) connected to path. path is a filesystem path or '@' and
  // an abstract name (UnixAddress, address.h). Returns the errors of
  // UnixAddress::FromPath (ENAMETOOLONG if the name does not fit in
  // sockaddr_un.sun_path, EINVAL for an empty path), EINVAL for a bad type,
  // and the errno of connect(2) otherwise. EINTR is retried.
  static absl::StatusOr<Socket> Connect(absl::string_view path, int type);

  // Connect as above, bounded by deadline: a listener whose backlog is full
  // makes connect(2) wait for room, and that wait ends at deadline with
  // EAGAIN (SO_SNDTIMEO; a deadline already past still gets one attempt).
  // The returned socket has no send timeout left. An infinite deadline is
  // the unbounded Connect.
  static absl::StatusOr<Socket> Connect(absl::string_view path, int type,
                                        absl::Time deadline);

  // A default-constructed Socket holds no FD; every operation on it fails
  // with EBADF.
  Socket() = default;
  Socket(Socket&&) = default;
  Socket& operator=(Socket&&) = default;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // fd returns the socket's FD (or -1) without giving up ownership.
  int fd() const { return fd_.get(); }

  // Dup returns a second close-on-exec Socket on the same connection
  // (F_DUPFD_CLOEXEC): shutting either down shuts the connection down, and
  // the connection lasts until both are closed. EBADF on an empty Socket.
  absl::StatusOr<Socket> Dup() const;

  // Release gives up ownership of the FD and returns it; the Socket then
  // holds nothing.
  fd::OwnedFd Release() { return std::move(fd_); }

  // SendAll sends every byte of iov. The FDs in fds are borrowed: the caller
  // keeps (and closes) its copies. They travel as one SCM_RIGHTS control
  // message attached to the first sendmsg(2) only; partial writes are
  // continued without control data, so the peer receives them exactly once.
  // Uses MSG_NOSIGNAL: a vanished peer is an EPIPE status, not SIGPIPE.
  //
  // Returns EINVAL, with nothing sent, if fds holds more than kMaxFds FDs,
  // or if it holds FDs but iov holds no bytes (a stream socket cannot carry
  // control data without at least one byte). An empty iov with no FDs sends
  // nothing and returns OK. After any other error an unknown prefix of the
  // bytes may have been sent, and the connection should be dropped.
  absl::Status SendAll(absl::Span<const iovec> iov, absl::Span<const int> fds);

  // TrySend performs one non-blocking sendmsg(2) of iov with fds (borrowed)
  // as one SCM_RIGHTS control message, and returns the bytes sent, which may
  // be fewer than iov holds; the FDs went with them. EAGAIN (a status) means
  // nothing was sent, FDs included. Same EINVAL rules as SendAll; uses
  // MSG_NOSIGNAL.
  absl::StatusOr<size_t> TrySend(absl::Span<const iovec> iov,
                                 absl::Span<const int> fds);

  // RecvSome performs one recvmsg(2) (retrying EINTR and EAGAIN) into iov
  // and returns the number of bytes received; 0 means end of stream (the
  // peer closed, or this socket was shut down), or that iov holds no bytes.
  //
  // FDs that arrive with those bytes are made close-on-exec and, on
  // success, appended to *fds. With max_fds == 0 no FD is wanted: the kernel
  // drops whatever was sent (fds may then be null), and this is not an
  // error (pkg/lisafs/README.md §2.4, server side). With max_fds > 0, fds must
  // not be null (EINVAL), and if more than max_fds FDs were sent (the kernel
  // reports MSG_CTRUNC, or more arrive than asked for) the result is EMSGSIZE
  // with every received FD closed; the bytes are consumed all the same.
  absl::StatusOr<size_t> RecvSome(absl::Span<const iovec> iov, size_t max_fds,
                                  std::vector<fd::OwnedFd>* fds);

  // TryRecvSome is RecvSome without waiting (MSG_DONTWAIT): an empty
  // optional when nothing is there to receive yet, whatever the socket's
  // O_NONBLOCK. It allocates nothing in that case (a caller may poll with
  // it).
  absl::StatusOr<std::optional<size_t>> TryRecvSome(
      absl::Span<const iovec> iov, size_t max_fds,
      std::vector<fd::OwnedFd>* fds);

  // RecvExact fills every byte of iov, looping over short reads. FDs are
  // taken only from the first recvmsg(2) that returns data, with the same
  // rules as RecvSome; FDs that arrive with later reads are dropped.
  //
  // On success the received FDs (close-on-exec) are appended to *fds. On
  // error *fds is left as it was and every FD received by this call is
  // closed. End of stream before iov is full (the peer closed, or this
  // socket was shut down, e.g. by Shutdown from another thread) returns
  // ECONNRESET with a message saying the peer closed the connection; a reset
  // reported by the kernel is ECONNRESET too. After any error the stream is
  // out of sync and the connection should be dropped. An empty iov returns
  // OK at once.
  absl::Status RecvExact(absl::Span<const iovec> iov, size_t max_fds,
                         std::vector<fd::OwnedFd>* fds);

  // SendPacket sends buf as one record on a SOCK_SEQPACKET socket, with fds
  // (borrowed, at most kMaxFds) as one SCM_RIGHTS control message. Returns
  // EINVAL, with nothing sent, for too many FDs, or for an empty buf with no
  // FDs (which the receiver could not tell apart from end of stream).
  absl::Status SendPacket(absl::Span<const uint8_t> buf,
                          absl::Span<const int> fds);

  // RecvPacket receives one record from a SOCK_SEQPACKET socket into buf and
  // returns its length. FDs follow the rules of RecvSome. A record longer
  // than buf is EMSGSIZE (the rest of the record is lost and its FDs are
  // closed). End of stream returns ECONNRESET; so does an empty record that
  // carried no FDs, since Linux reports both the same way.
  absl::StatusOr<size_t> RecvPacket(absl::Span<uint8_t> buf, size_t max_fds,
                                    std::vector<fd::OwnedFd>* fds);

  // Shutdown shuts the socket down in both directions (shutdown(2),
  // SHUT_RDWR). Threads blocked receiving on this socket wake up and see end
  // of stream, and the peer sees end of stream too. The FD stays open until
  // the Socket is destroyed. Shutdown is idempotent.
  absl::Status Shutdown();

 private:
  friend class ServerSocket;  // Accept wraps the FDs it gets.
  explicit Socket(fd::OwnedFd fd) : fd_(std::move(fd)) {}

  fd::OwnedFd fd_;
};

// ServerSocket is a bound AF_UNIX socket that accepts connections. It owns
// its FD and is move-only. Accept and Shutdown may be called from different
// threads at the same time; nothing else is synchronized.
//
// Destroying a ServerSocket closes its FD but does not remove the socket
// file: another process (e.g. a forked child) may still serve on it, and
// only the caller knows when the name should go away. Call Unlink for that.
class ServerSocket {
 public:
  // Bind creates a close-on-exec socket of the given type (SOCK_STREAM or
  // SOCK_SEQPACKET) and binds it to path, which follows the rules of
  // UnixAddress::FromPath ('@' for an abstract name). A filesystem socket
  // file is created with exactly the permission bits in mode, whatever the
  // umask; its permissions are never looser than mode, not even briefly.
  // mode is ignored for abstract names. An existing file at path is not
  // replaced (EADDRINUSE).
  static absl::StatusOr<ServerSocket> Bind(absl::string_view path, int type,
                                           mode_t mode = 0600);

  // FromListeningFd takes ownership of fd, an AF_UNIX socket that is
  // already bound and listening (one inherited through socket activation),
  // and wraps it. path() is the address it is bound to; Unlink never removes
  // it (whoever bound it owns the name). EINVAL, with fd closed, if fd is
  // not a listening AF_UNIX socket of the given type.
  static absl::StatusOr<ServerSocket> FromListeningFd(fd::OwnedFd fd, int type);

  ServerSocket() = default;
  ServerSocket(ServerSocket&&) = default;
  ServerSocket& operator=(ServerSocket&&) = default;
  ServerSocket(const ServerSocket&) = delete;
  ServerSocket& operator=(const ServerSocket&) = delete;

  // Listen marks the socket as accepting connections (listen(2)).
  absl::Status Listen(int backlog = 128);

  // Accept waits for a connection and returns it as a close-on-exec Socket.
  // EINTR and ECONNABORTED are retried. After Shutdown, Accept (including
  // one already blocked) fails.
  absl::StatusOr<Socket> Accept();

  // fd returns the listening FD (or -1) without giving up ownership.
  int fd() const { return fd_.get(); }

  // path returns the name given to Bind ("@..." for an abstract name).
  const std::string& path() const { return path_; }

  // Shutdown stops the socket from accepting and wakes a thread blocked in
  // Accept. Idempotent.
  absl::Status Shutdown();

  // Unlink removes the socket file that Bind created. It is a no-op for an
  // abstract name, and idempotent: once it succeeded (or the file was
  // already gone) it does nothing more.
  absl::Status Unlink();

 private:
  ServerSocket(fd::OwnedFd fd, std::string path)
      : fd_(std::move(fd)), path_(std::move(path)) {}

  fd::OwnedFd fd_;
  std::string path_;
  bool unlinked_ = false;
};

}  // namespace gvisor::unet

#endif  // GVISOR_PKG_UNET_UNET_H_
