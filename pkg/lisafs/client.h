// Client is the LISAFS client side of one connection (WIRE.md §6): it mounts,
// runs RPCs over the connection's socket, and batches FDID closes. ClientFD
// is a handle on one server-side FDID with a method per RPC.
//
// RPCs go over the connection's socket until StartChannels adds flipcall
// channels (WIRE.md §6.7, §8); then each RPC takes an idle channel if there
// is one and the socket otherwise. A dead server is noticed on the RPC path
// for the socket; for channels, whose callers sleep on a futex that a dead
// server never wakes, one process-wide thread (unet/hangup_watcher.h) epolls the
// socket of every client that started channels and shuts those channels
// down when it hangs up (§6.8). There is no thread per client, so one
// process can hold thousands of clients. A client that never starts
// channels behaves, and speaks, exactly as a socket-only client.

#ifndef GVISOR_PKG_LISAFS_CLIENT_H_
#define GVISOR_PKG_LISAFS_CLIENT_H_

#include <stddef.h>
#include <stdint.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/context/context.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/sock_communicator.h"
#include "pkg/lisafs/wire.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/hangup_watcher.h"
#include "pkg/unet/unet.h"

namespace gvisor::lisafs {

class Client;
class ClientFD;

// Mounted is what NewClient returns.
struct Mounted {
  std::shared_ptr<Client> client;
  // root is the mount point's Inode; the caller owns root.control_fd.
  Inode root;
  // host_fd is the mount point's host FD when the server donated one
  // (WIRE.md §5.2), else invalid.
  fd::OwnedFd host_fd;
};

// ClientOptions are the client's own limits on what it accepts from a
// server. The server may be hostile (a compromised gofer), so none of them
// is taken from what it announces: the limit in force is always the
// stricter of ours and the server's.
struct ClientOptions {
  // kDefaultMaxMessageSize is twice fsgofer's limit (2093056, WIRE.md §5.1),
  // so that against gVisor's gofers and ours the server's value applies.
  static constexpr uint32_t kDefaultMaxMessageSize = 4 << 20;
  // kMinMaxMessageSize: below a page, Mount's answer and Read/Write chunks
  // would not fit.
  static constexpr uint32_t kMinMaxMessageSize = 4096;
  // kDefaultMaxOversizeDrain bounds the bytes read and thrown away for one
  // oversized socket response.
  static constexpr uint32_t kDefaultMaxOversizeDrain = 16 << 20;
  // kDefaultMaxChannelWindow bounds the address space one channel's packet
  // window may take (a 4 KiB-page fsgofer uses 2 MiB).
  static constexpr uint64_t kDefaultMaxChannelWindow = 1 << 30;

  // max_message_size caps the payload of every message, either way: the
  // limit in force (Client::max_message_size) is min(max_message_size, the
  // server's Mount value). A response whose header claims more is never
  // allocated for, and the RPC fails with EIO; a payload buffer grows only
  // as bytes arrive (SockCommunicator::kRecvChunk). Decoded responses are
  // bounded by the payload (every count is checked against the bytes that
  // remain before anything is allocated), plus at most 65535 small
  // elements for a u16 count of empty names. At least kMinMaxMessageSize.
  uint32_t max_message_size = kDefaultMaxMessageSize;
  // max_oversize_drain: a socket response claiming more than the limit but
  // at most this many bytes is read and discarded, so the connection lives
  // on (WIRE.md §2.6); one claiming more fails the connection at once,
  // without reading it: that RPC and every later one fail with EIO.
  uint32_t max_oversize_drain = kDefaultMaxOversizeDrain;
  // max_channel_window: StartChannels refuses (EIO) a packet window longer
  // than this. Mapping costs address space only: the client touches at
  // most the limit in force plus the headers.
  uint64_t max_channel_window = kDefaultMaxChannelWindow;
};

// NewClient takes ownership of sock (a connected SOCK_STREAM socket) and
// mounts: it sends exactly one Mount RPC, wanting one FD. On error the socket
// is closed. The Client is shared by the ClientFDs made from it. EINVAL
// (nothing sent) if opts.max_message_size < kMinMaxMessageSize; EIO if the
// server's answer is unusable (a limit of 0, no MIDs).
absl::StatusOr<Mounted> NewClient(const context::Context& ctx,
                                  unet::Socket sock, const ClientOptions& opts);
// NewClient with the default ClientOptions.
absl::StatusOr<Mounted> NewClient(const context::Context& ctx,
                                  unet::Socket sock);

class Client : public std::enable_shared_from_this<Client> {
 public:
  // kCloseBatchSize is how many FDIDs a non-flushing close may queue before
  // a Close RPC goes out (WIRE.md §6.3).
  static constexpr size_t kCloseBatchSize = 100;
  // kMaxWantFds is the most FDs one RPC may ask for (a u8 in gVisor).
  static constexpr size_t kMaxWantFds = 255;

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  // Close shuts the connection down: blocked RPCs fail with EIO, later RPCs
  // fail with EIO, and the socket and channels are closed once no RPC uses
  // them. Batched closes are dropped (the server frees every FDID of the
  // connection). Close is idempotent and may race with RPCs on other
  // threads.
  void Close();

  // Shutdown, HungUp, WatchHangup, UnwatchHangup and GuardStall let the
  // client's owner act on the connection's socket without holding its FD
  // number. The socket stays open until Close: call none of them during or
  // after Close, and unwatch and disarm before it.

  // Shutdown shuts the socket down (shutdown(2)) without closing anything:
  // RPCs in flight and later ones fail with EIO, and the server sees the
  // end of the connection. Close must still follow. Idempotent.
  void Shutdown();
  // HungUp reports, without blocking, whether the server closed the
  // connection (or the socket was shut down).
  bool HungUp() const;
  // WatchHangup runs on_hangup once, on watcher's thread, when the server
  // closes the connection (unet::HangupWatcher::Watch); the watcher must not
  // be the process-wide one, which the client uses itself once it started
  // channels. Returns the ID for UnwatchHangup.
  absl::StatusOr<uint64_t> WatchHangup(unet::HangupWatcher& watcher,
                                       std::function<void()> on_hangup);
  // UnwatchHangup drops registration id of WatchHangup.
  void UnwatchHangup(unet::HangupWatcher& watcher, uint64_t id);
  // GuardStall shuts the socket down at deadline unless the returned guard
  // is disarmed first, calling on_fire (if set) just before
  // (unet::HangupWatcher::Guard).
  unet::StallGuard GuardStall(unet::HangupWatcher& watcher,
                              absl::Time deadline,
                              std::function<void()> on_fire = nullptr);

  // StartChannels asks the server for up to MaxChannels() channels, one
  // Channel RPC after another (so later ones may travel over the first), and
  // from then on RPCs prefer an idle channel to the socket. It stops at the
  // server's ENOMEM (its limit); other failures are logged and the next
  // channel is tried. Returns OK if at least one channel works, ENOMEM if
  // none does (the client goes on over the socket), EIO after Close. The
  // client's socket is then watched for a hang-up by the process-wide
  // watcher. Calling it again tops the channels up to MaxChannels().
  absl::Status StartChannels(const context::Context& ctx);

  // channels returns how many channels can still carry RPCs.
  size_t channels() const;

  // Stats counts how RPCs travelled, for tests and metrics.
  struct Stats {
    uint64_t socket_rpcs = 0;
    uint64_t channel_rpcs = 0;
    // busiest_channels is the most channels ever in use at once.
    size_t busiest_channels = 0;
  };
  Stats stats() const;

  // IsSupported reports whether the server advertised mid at Mount.
  bool IsSupported(MID mid) const;
  // max_message_size is the payload limit in force: min(our
  // ClientOptions::max_message_size, the server's Mount value).
  uint32_t max_message_size() const { return max_message_size_; }
  // options are the limits the client was created with.
  const ClientOptions& options() const { return opts_; }

  // NewFD returns a handle on fd, an FDID this client owns.
  ClientFD NewFD(FDID fd);

  // CloseFD queues fd for a Close RPC, sending the batch now if flush is set
  // or the batch is full. Errors are logged, not returned.
  void CloseFD(const context::Context& ctx, FDID fd, bool flush);

  // SyncFDs fsyncs open FDs in one FSync RPC.
  absl::Status SyncFDs(const context::Context& ctx, absl::Span<const FDID> fds);

  // SndRcvMessage runs one RPC: req is the request payload; on success
  // *resp holds the response payload and *fds the first want_fds donated FDs
  // (fewer if the server sent fewer; extras are closed). It fails with
  // EOPNOTSUPP (nothing sent) if the server did not advertise mid, EIO if req
  // exceeds the message size limit (nothing sent), EINVAL if want_fds > 255,
  // the peer's errno for an Error response, EINVAL for a response of another
  // MID, and EIO for any transport failure, after which the client is dead.
  absl::Status SndRcvMessage(const context::Context& ctx, MID mid,
                             absl::Span<const uint8_t> req, size_t want_fds,
                             std::vector<uint8_t>* resp,
                             std::vector<fd::OwnedFd>* fds);

  // Rpc marshals req, runs SndRcvMessage and unmarshals the response as
  // Resp (EIO if it does not decode).
  template <WireMessage Resp, WireMessage Req>
  absl::StatusOr<Resp> Rpc(const context::Context& ctx, MID mid,
                           const Req& req, size_t want_fds = 0,
                           std::vector<fd::OwnedFd>* fds = nullptr);

 private:
  friend absl::StatusOr<Mounted> NewClient(const context::Context& ctx,
                                           unet::Socket sock,
                                           const ClientOptions& opts);
  Client(unet::Socket sock, const ClientOptions& opts);

  struct ChannelSlot;

  absl::Status DoRpc(const context::Context& ctx, MID mid,
                     absl::Span<const uint8_t> req, size_t want_fds,
                     std::vector<uint8_t>* resp,
                     std::vector<fd::OwnedFd>* fds);
  // SocketExchange and ChannelExchange send a request and read the
  // response frame; a failure is a transport error (EIO).
  absl::Status SocketExchange(MID mid, absl::Span<const uint8_t> req,
                              size_t want_fds, Frame* frame);
  absl::Status ChannelExchange(ChannelSlot* slot, MID mid,
                               absl::Span<const uint8_t> req, Frame* frame);
  // AcquireChannel pops an idle channel (null if none); ReleaseChannel puts
  // it back unless it died or the channels are being shut down.
  ChannelSlot* AcquireChannel();
  void ReleaseChannel(ChannelSlot* slot);
  // NewChannel runs one Channel RPC and connects the channel it returns.
  absl::StatusOr<std::unique_ptr<ChannelSlot>> NewChannel(
      const context::Context& ctx);
  // ShutdownChannels stops handing channels out and shuts down those in
  // use, waking their callers; the watcher calls it on a hang-up.
  void ShutdownChannels();
  void SendCloses(const context::Context& ctx, std::vector<FDID> fds);

  const ClientOptions opts_;
  // Set by NewClient before the client is shared, read-only afterwards.
  uint32_t max_message_size_;
  std::vector<bool> supported_;

  // The socket's FD, for shutdown(2) by Close without taking mu_.
  const int sock_fd_;
  // std::mutex rather than absl::Mutex: the system absl is not built for
  // ThreadSanitizer, which then cannot see its ordering.
  std::mutex mu_;  // serializes RPCs on the socket; guards comm_ and dead_
  SockCommunicator comm_;
  bool dead_ = false;
  std::atomic<bool> closing_{false};

  std::mutex close_mu_;  // guards pending_closes_
  std::vector<FDID> pending_closes_;

  // channels_mu_ guards the channels: every one started (dead ones too,
  // until Close), the idle ones (a LIFO stack), how many are in use
  // (channels_released_ is signalled when one comes back), whether they may
  // still be handed out, and the watcher registration of the socket.
  mutable std::mutex channels_mu_;
  std::condition_variable channels_released_;
  std::vector<std::unique_ptr<ChannelSlot>> channels_;
  std::vector<ChannelSlot*> idle_;
  size_t channels_in_use_ = 0;
  bool channels_closed_ = false;
  uint64_t watch_id_ = 0;
  uint64_t channel_rpcs_ = 0;
  size_t busiest_channels_ = 0;
  std::atomic<uint64_t> socket_rpcs_{0};
};

// WalkResult is the raw outcome of a Walk RPC; the caller owns every control
// FD in inodes, whatever the status.
struct WalkResult {
  WalkStatus status = WalkStatus::kSuccess;
  std::vector<Inode> inodes;
};

// OpenResult is an open FDID and the host FD the server donated, if any.
struct OpenResult {
  FDID open_fd = kInvalidFDID;
  fd::OwnedFd host_fd;
};

// CreateResult is OpenCreateAt's outcome: the new file's Inode (a control
// FD the caller owns), its open FDID, and the donated host FD if any.
struct CreateResult {
  Inode child;
  FDID open_fd = kInvalidFDID;
  fd::OwnedFd host_fd;
};

// SetStatResult reports the attributes a SetStat could not change.
struct SetStatResult {
  uint32_t failure_mask = 0;
  int failure_errno = 0;
};

// AcceptResult is an accepted connection and the peer's address.
struct AcceptResult {
  fd::OwnedFd fd;
  std::string peer_addr;
};

class ClientBoundSocketFD;

// ClientFD is a handle on one FDID of a Client (control, open or bound
// socket; the server checks the kind). It is a cheap value: copies refer to
// the same FDID, and nothing is closed implicitly: call Close once.
class ClientFD {
 public:
  ClientFD() = default;
  ClientFD(std::shared_ptr<Client> client, FDID fd)
      : client_(std::move(client)), fd_(fd) {}

  FDID id() const { return fd_; }
  bool ok() const { return client_ != nullptr && fd_ != kInvalidFDID; }
  Client* client() const { return client_.get(); }

  // Close queues the FDID for closing (WIRE.md §6.3) and invalidates this
  // handle. Closing an invalid handle does nothing.
  void Close(const context::Context& ctx, bool flush);

  // FStat stats a control or open FD.
  absl::StatusOr<Statx> FStat(const context::Context& ctx) const;
  // SetStat changes the attributes in req.mask (req.fd is overwritten).
  // Partial failures are reported in the result, not as an error.
  absl::StatusOr<SetStatResult> SetStat(const context::Context& ctx,
                                        SetStatReq req) const;
  // WalkMultiple walks names from this directory in one RPC. EIO (with
  // every returned FDID closed) if the server returns more inodes than
  // names.
  absl::StatusOr<WalkResult> WalkMultiple(
      const context::Context& ctx, absl::Span<const std::string> names) const;
  // Walk walks one component: ENOENT if it does not exist, ENOTDIR for a
  // symlink in the way, EIO for a malformed answer.
  absl::StatusOr<Inode> Walk(const context::Context& ctx,
                             absl::string_view name) const;
  // WalkStat stats each component of names (the first may be "" for this
  // directory itself); no FDIDs are created. EIO if the server returns more
  // Statx records than names.
  absl::StatusOr<std::vector<Statx>> WalkStat(
      const context::Context& ctx, absl::Span<const std::string> names) const;
  // OpenAt opens this control FD with flags; the host FD is invalid if the
  // server donated none.
  absl::StatusOr<OpenResult> OpenAt(const context::Context& ctx,
                                    uint32_t flags) const;
  // OpenCreateAt creates and opens name in this directory.
  absl::StatusOr<CreateResult> OpenCreateAt(const context::Context& ctx,
                                            absl::string_view name,
                                            uint32_t flags, uint16_t mode,
                                            uint32_t uid, uint32_t gid) const;
  // Sync fsyncs this open FD.
  absl::Status Sync(const context::Context& ctx) const;
  // Read reads into dst from offset with PRead RPCs of at most
  // max_message_size - 8 bytes each, stopping at a short chunk. Returns the
  // bytes read; fewer than dst.size() means end of file.
  absl::StatusOr<size_t> Read(const context::Context& ctx,
                              absl::Span<uint8_t> dst, uint64_t offset) const;
  // Write writes src at offset with PWrite RPCs of at most
  // max_message_size - 20 bytes each, stopping at a short write.
  absl::StatusOr<size_t> Write(const context::Context& ctx,
                               absl::Span<const uint8_t> src,
                               uint64_t offset) const;
  absl::StatusOr<Inode> MkdirAt(const context::Context& ctx,
                                absl::string_view name, uint16_t mode,
                                uint32_t uid, uint32_t gid) const;
  absl::StatusOr<Inode> MknodAt(const context::Context& ctx,
                                absl::string_view name, uint16_t mode,
                                uint32_t uid, uint32_t gid, uint32_t minor,
                                uint32_t major) const;
  absl::StatusOr<Inode> SymlinkAt(const context::Context& ctx,
                                  absl::string_view name,
                                  absl::string_view target, uint32_t uid,
                                  uint32_t gid) const;
  // LinkAt makes name in this directory a hard link to target's file.
  absl::StatusOr<Inode> LinkAt(const context::Context& ctx, FDID target,
                               absl::string_view name) const;
  absl::StatusOr<StatFS> StatFSTo(const context::Context& ctx) const;
  absl::Status Allocate(const context::Context& ctx, uint64_t mode,
                        uint64_t offset, uint64_t length) const;
  absl::StatusOr<std::string> ReadLinkAt(const context::Context& ctx) const;
  // Flush sends Flush if the server supports it; otherwise it succeeds with
  // nothing sent (WIRE.md §6.6).
  absl::Status Flush(const context::Context& ctx) const;
  // Connect connects to the socket file of this control FD and returns the
  // connected host socket. With a valid euid and egid and server support it
  // uses ConnectWithCreds. EBADF if the server donated no FD.
  absl::StatusOr<fd::OwnedFd> Connect(const context::Context& ctx,
                                      int sock_type, uint32_t euid = kNoUID,
                                      uint32_t egid = kNoGID) const;
  absl::Status UnlinkAt(const context::Context& ctx, absl::string_view name,
                        uint32_t flags) const;
  // RenameAt renames old_name in this directory to new_name in new_dir.
  // flags != 0 needs RenameAt2 on the server (else EINVAL, nothing sent).
  absl::Status RenameAt(const context::Context& ctx, absl::string_view old_name,
                        FDID new_dir, absl::string_view new_name,
                        uint32_t flags = 0) const;
  // Getdents64 reads entries of this open directory FD; count < 0 seeks to
  // the start first. |count| is clamped to max_message_size(), so that a
  // well-behaved server never answers more than the client accepts. An
  // empty result means end of directory.
  absl::StatusOr<std::vector<Dirent64>> Getdents64(const context::Context& ctx,
                                                   int32_t count) const;
  absl::StatusOr<std::string> GetXattr(const context::Context& ctx,
                                       absl::string_view name,
                                       uint32_t size) const;
  absl::Status SetXattr(const context::Context& ctx, absl::string_view name,
                        absl::string_view value, uint32_t flags) const;
  absl::StatusOr<std::vector<std::string>> ListXattr(
      const context::Context& ctx, uint64_t size) const;
  absl::Status RemoveXattr(const context::Context& ctx,
                           absl::string_view name) const;
  // BindAt creates socket file name in this directory and binds it. Returns
  // the new file's Inode and the bound socket; EBADF (with both FDIDs
  // closed) if the server donated no FD.
  absl::StatusOr<std::pair<Inode, ClientBoundSocketFD>> BindAt(
      const context::Context& ctx, int sock_type, absl::string_view name,
      uint16_t mode, uint32_t uid, uint32_t gid) const;

 private:
  std::shared_ptr<Client> client_;
  FDID fd_ = kInvalidFDID;
};

// ClientBoundSocketFD is a bound-socket FDID plus the host socket the server
// donated for readiness notification.
class ClientBoundSocketFD {
 public:
  ClientBoundSocketFD() = default;
  ClientBoundSocketFD(std::shared_ptr<Client> client, FDID fd,
                      fd::OwnedFd notification_fd)
      : client_(std::move(client)),
        fd_(fd),
        notification_fd_(std::move(notification_fd)) {}

  FDID id() const { return fd_; }
  int notification_fd() const { return notification_fd_.get(); }

  absl::Status Listen(const context::Context& ctx, int32_t backlog) const;
  // Accept returns a pending connection; EAGAIN when none is pending.
  absl::StatusOr<AcceptResult> Accept(const context::Context& ctx) const;
  // Close closes the FDID (always flushed) and the notification FD.
  void Close(const context::Context& ctx);

 private:
  std::shared_ptr<Client> client_;
  FDID fd_ = kInvalidFDID;
  fd::OwnedFd notification_fd_;
};

// ---------------------------------------------------------------------------

template <WireMessage Resp, WireMessage Req>
absl::StatusOr<Resp> Client::Rpc(const context::Context& ctx, MID mid,
                                 const Req& req, size_t want_fds,
                                 std::vector<fd::OwnedFd>* fds) {
  absl::StatusOr<std::vector<uint8_t>> payload = Marshal(req);
  if (!payload.ok()) return payload.status();
  std::vector<uint8_t> resp;
  std::vector<fd::OwnedFd> got;
  if (absl::Status s = SndRcvMessage(ctx, mid, *payload, want_fds, &resp, &got);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<Resp> out = Unmarshal<Resp>(resp);
  if (!out.ok()) {
    return syserr::FromErrno(
        EIO, absl::StrCat(MIDName(mid), " response: ", out.status().message()));
  }
  if (fds != nullptr) *fds = std::move(got);
  return out;
}

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_CLIENT_H_
