// Client is the LISAFS client side of one connection (pkg/lisafs/README.md §6):
// it mounts, runs RPCs over the connection's socket, and batches FDID closes.
// ClientFD (client_fd.h, included here) is a handle on one server-side FDID
// with a method per RPC.
//
// RPCs go over the connection's socket until StartChannels adds flipcall
// channels (pkg/lisafs/README.md §6.7, §8); then each RPC takes an idle channel
// if there is one and the socket otherwise. A dead server is noticed on the RPC
// path for the socket; for channels, whose callers sleep on a futex that a dead
// server never wakes, one process-wide thread (unet/hangup_watcher.h) epolls
// the socket of every client that started channels and shuts those channels
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
#include <optional>
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
#include "pkg/lisafs/client_fd.h"
#include "pkg/lisafs/codec.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/sock_communicator.h"
#include "pkg/lisafs/wire.h"
#include "pkg/spin/spin.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/hangup_watcher.h"
#include "pkg/unet/unet.h"

namespace gvisor::lisafs {

class Client;

namespace internal {

// RpcScratch lends one RPC the calling thread's request and response
// buffers. Every RPC a thread makes reuses them, so that in steady state an
// RPC with small messages allocates nothing; an RPC started while the
// thread's buffers are lent (from a logger, say) gets buffers of its own.
// Buffers that grew past kRetainBytes are freed after use, so an idle
// thread keeps at most that much.
class RpcScratch {
 public:
  // kRetainBytes is the most capacity a thread's buffer keeps between RPCs.
  static constexpr size_t kRetainBytes = 64 * 1024;
  // Buffers are what one RPC uses.
  struct Buffers {
    std::vector<uint8_t> req;
    Frame frame;
    bool lent = false;
  };

  RpcScratch();
  ~RpcScratch();
  RpcScratch(const RpcScratch&) = delete;
  RpcScratch& operator=(const RpcScratch&) = delete;

  // req is the request payload buffer; frame receives the response.
  std::vector<uint8_t>& req() { return bufs_->req; }
  Frame& frame() { return bufs_->frame; }

 private:
  Buffers* bufs_;
  Buffers own_;
};

}  // namespace internal

// Mounted is what NewClient returns.
struct Mounted {
  std::shared_ptr<Client> client;
  // root is the mount point's Inode; the caller owns root.control_fd.
  Inode root;
  // host_fd is the mount point's host FD when the server donated one
  // (pkg/lisafs/README.md §5.2), else invalid.
  fd::OwnedFd host_fd;
};

// ClientOptions are the client's own limits on what it accepts from a
// server. The server may be hostile (a compromised gofer), so none of them
// is taken from what it announces: the limit in force is always the
// stricter of ours and the server's.
struct ClientOptions {
  // kDefaultMaxMessageSize is twice fsgofer's limit (2093056,
  // pkg/lisafs/README.md §5.1), so that against gVisor's gofers and ours the
  // server's value applies.
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
  // on (pkg/lisafs/README.md §2.6); one claiming more fails the connection at
  // once, without reading it: that RPC and every later one fail with EIO.
  uint32_t max_oversize_drain = kDefaultMaxOversizeDrain;
  // max_channel_window: StartChannels refuses (EIO) a packet window longer
  // than this. Mapping costs address space only: the client touches at
  // most the limit in force plus the headers.
  uint64_t max_channel_window = kDefaultMaxChannelWindow;
  // spin bounds how long a thread waiting for a response polls for it
  // before it sleeps (pkg/spin/spin.h): on the socket, a non-blocking
  // MSG_PEEK recv until the response's first byte (SockCommunicator), on a
  // channel, the flipcall futex word (flipcall::Endpoint::set_spin). The
  // window adapts: it shrinks, down to none, for a server that keeps
  // answering later than spin, and grows back when it answers sooner, so a
  // slow server costs little CPU and an idle connection none. It never
  // changes what an RPC returns or when it fails. Zero turns spinning off
  // (e.g. for an embedder whose CPUs are all busy); at most
  // spin::kMaxMax.
  absl::Duration spin = spin::kDefaultMax;
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

// Client is one mounted LISAFS connection, made by NewClient and shared (a
// shared_ptr) by the ClientFDs made from it. Every method is safe to call
// from any thread.
class Client : public std::enable_shared_from_this<Client> {
 public:
  // kCloseBatchSize is how many FDIDs a non-flushing close may queue before
  // a Close RPC goes out (pkg/lisafs/README.md §6.3).
  static constexpr size_t kCloseBatchSize = 100;
  // kMaxWantFds is the most FDs one RPC may ask for (a u8 in gVisor).
  static constexpr size_t kMaxWantFds = 255;

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  // The destructor runs Close.
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
  unet::StallGuard GuardStall(unet::HangupWatcher& watcher, absl::Time deadline,
                              std::function<void()> on_fire = nullptr);

  // StartChannels asks the server for up to MaxChannels() channels, one
  // Channel RPC after another (so later ones may travel over the first), and
  // from then on RPCs prefer an idle channel to the socket. It stops at the
  // server's ENOMEM (its limit); other failures are logged through ctx at
  // kWarning and the next channel is tried. Returns OK if at least one
  // channel works, ENOMEM if none does (the client goes on over the socket),
  // EIO after Close. The client's socket is then watched for a hang-up by
  // the process-wide watcher. Calling it again tops the channels up to
  // MaxChannels().
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
  // stats returns the counts so far.
  Stats stats() const;

  // IsSupported reports whether the server advertised mid at Mount.
  bool IsSupported(MID mid) const;
  // max_message_size is the payload limit in force: min(our
  // ClientOptions::max_message_size, the server's Mount value).
  uint32_t max_message_size() const { return max_message_size_; }
  // options are the limits the client was created with.
  const ClientOptions& options() const { return opts_; }

  // NewFD returns a handle on fd, an FDID of this connection (for example
  // Mounted::root.control_fd). Nothing is sent; the handle does not close
  // fd by itself (see ClientFD::Close).
  ClientFD NewFD(FDID fd);

  // CloseFD takes ownership of fd and queues it for a Close RPC
  // (pkg/lisafs/README.md §6.3), sending the batch now if flush is set or
  // kCloseBatchSize FDIDs are queued. kInvalidFDID queues nothing (with flush,
  // it sends what is queued). A failed Close RPC is logged through ctx at
  // kWarning, not returned.
  void CloseFD(const context::Context& ctx, FDID fd, bool flush);

  // SyncFDs fsyncs open FDs (borrowed) in one FSync RPC.
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
  // Resp (EIO if it does not decode). If fds is not null, it receives the
  // donated FDs (owned by the caller) on success; otherwise they are
  // closed.
  template <WireMessage Resp, WireMessage Req>
  absl::StatusOr<Resp> Rpc(const context::Context& ctx, MID mid, const Req& req,
                           size_t want_fds = 0,
                           std::vector<fd::OwnedFd>* fds = nullptr);

  // RpcWith runs one RPC without building request or response structs, in
  // the thread's reused buffers (internal::RpcScratch): encode, called as
  // absl::Status(Encoder&), appends the request payload (its error is
  // returned, nothing sent); on success decode, called as
  // absl::Status(absl::Span<const uint8_t> payload,
  // std::vector<fd::OwnedFd>& fds), reads the response and may take the
  // donated FDs (those left are closed). A decode error is EIO. Otherwise
  // the errors of SndRcvMessage.
  template <typename Encode, typename Decode>
  absl::Status RpcWith(const context::Context& ctx, MID mid, size_t want_fds,
                       const Encode& encode, const Decode& decode);

 private:
  friend absl::StatusOr<Mounted> NewClient(const context::Context& ctx,
                                           unet::Socket sock,
                                           const ClientOptions& opts);
  Client(unet::Socket sock, const ClientOptions& opts);

  struct ChannelSlot;

  // Exchange is SndRcvMessage into a frame the caller may reuse: on
  // success frame->payload is the response and frame->fds at most want_fds
  // FDs.
  absl::Status Exchange(const context::Context& ctx, MID mid,
                        absl::Span<const uint8_t> req, size_t want_fds,
                        Frame* frame);
  absl::Status DoRpc(const context::Context& ctx, MID mid,
                     absl::Span<const uint8_t> req, size_t want_fds,
                     Frame* frame);
  // SocketExchange and ChannelExchange send a request and read the
  // response frame; a failure is a transport error (EIO). ChannelExchange
  // logs a failed transfer through ctx.
  absl::Status SocketExchange(MID mid, absl::Span<const uint8_t> req,
                              size_t want_fds, Frame* frame);
  absl::Status ChannelExchange(const context::Context& ctx, ChannelSlot* slot,
                               MID mid, absl::Span<const uint8_t> req,
                               Frame* frame);
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
  void SendCloses(const context::Context& ctx, absl::Span<const FDID> fds);

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

// ---------------------------------------------------------------------------

template <typename Encode, typename Decode>
absl::Status Client::RpcWith(const context::Context& ctx, MID mid,
                             size_t want_fds, const Encode& encode,
                             const Decode& decode) {
  internal::RpcScratch scratch;
  std::vector<uint8_t>& req = scratch.req();
  req.clear();
  Encoder e(std::move(req));
  absl::Status es = encode(e);
  req = std::move(e).Take();
  RETURN_IF_ERROR(es);
  Frame& frame = scratch.frame();
  RETURN_IF_ERROR(Exchange(ctx, mid, req, want_fds, &frame));
  absl::Status ds = decode(absl::Span<const uint8_t>(frame.payload), frame.fds);
  frame.fds.clear();
  if (!ds.ok()) {
    return syserr::FromErrno(
        EIO, absl::StrCat(MIDName(mid), " response: ", ds.message()));
  }
  return absl::OkStatus();
}

template <WireMessage Resp, WireMessage Req>
absl::StatusOr<Resp> Client::Rpc(const context::Context& ctx, MID mid,
                                 const Req& req, size_t want_fds,
                                 std::vector<fd::OwnedFd>* fds) {
  std::optional<Resp> out;
  RETURN_IF_ERROR(RpcWith(
      ctx, mid, want_fds, [&req](Encoder& e) { return EncodeMessage(e, req); },
      [&](absl::Span<const uint8_t> payload,
          std::vector<fd::OwnedFd>& got) -> absl::Status {
        absl::StatusOr<Resp> r = Unmarshal<Resp>(payload);
        if (!r.ok()) return r.status();
        out.emplace(*std::move(r));
        if (fds != nullptr) {
          fds->clear();
          for (fd::OwnedFd& f : got) fds->push_back(std::move(f));
        }
        return absl::OkStatus();
      }));
  return *std::move(out);
}

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_CLIENT_H_
