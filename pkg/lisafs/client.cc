// Client: NewClient and the Mount negotiation, the RPC path over the socket
// or a channel, close batching, and the channels' life cycle. The ClientFD
// methods are in client_fd.cc.
//
// Limits: until Mount's answer, RPCs are bounded by
// kProvisionalMaxMessageSize (and ClientOptions::max_message_size); from
// then on by Client::max_message_size(), the smaller of the client's option
// and the server's value. Library messages go to the Context of the call
// that logs them.

#include "pkg/lisafs/client.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/fdchannel/fdchannel.h"
#include "pkg/flipcall/flipcall.h"
#include "pkg/lisafs/channel.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {
namespace {

// kProvisionalMaxMessageSize bounds the Mount exchange, before the server
// has said what its limit is (pkg/lisafs/README.md §6.1).
constexpr uint32_t kProvisionalMaxMessageSize = 1 << 20;

absl::Status RpcError(MID mid, int err, absl::string_view detail) {
  return syserr::FromErrno(err, absl::StrCat(MIDName(mid), " RPC", detail));
}

}  // namespace

// ChannelSlot is one channel of the client. in_use and dead are guarded by
// channels_mu_; the channel itself belongs to whoever holds the slot.
struct Client::ChannelSlot {
  std::unique_ptr<Channel> channel;
  bool in_use = false;
  // dead is set after a failed transfer: the slot is never handed out again.
  bool dead = false;
};

Client::Client(unet::Socket sock, const ClientOptions& opts)
    : opts_(opts),
      max_message_size_(
          std::min(kProvisionalMaxMessageSize, opts.max_message_size)),
      sock_fd_(sock.fd()),
      comm_(std::move(sock)) {
  comm_.set_spin(opts.spin);
  supported_.assign(static_cast<size_t>(MID::kMount) + 1, false);
  supported_[static_cast<size_t>(MID::kMount)] = true;
}

Client::~Client() { Close(); }

absl::StatusOr<Mounted> NewClient(const context::Context& ctx,
                                  unet::Socket sock) {
  return NewClient(ctx, std::move(sock), ClientOptions());
}

absl::StatusOr<Mounted> NewClient(const context::Context& ctx,
                                  unet::Socket sock,
                                  const ClientOptions& opts) {
  if (opts.max_message_size < ClientOptions::kMinMaxMessageSize) {
    return syserr::FromErrno(
        EINVAL, absl::StrCat("NewClient: max_message_size ",
                             opts.max_message_size, " is below the minimum ",
                             ClientOptions::kMinMaxMessageSize));
  }
  std::shared_ptr<Client> client(new Client(std::move(sock), opts));
  std::vector<fd::OwnedFd> fds;
  absl::StatusOr<MountResp> resp =
      client->Rpc<MountResp>(ctx, MID::kMount, EmptyMessage{}, 1, &fds);
  if (!resp.ok()) {
    client->Close();
    return resp.status();
  }
  if (resp->max_message_size == 0 || resp->supported_mids.empty()) {
    client->Close();
    return syserr::FromErrno(
        EIO, "Mount RPC: server sent no message size limit or no MIDs");
  }
  // The client is not shared yet, so these need no lock. The server's
  // value only ever lowers our own limit.
  client->max_message_size_ =
      std::min(resp->max_message_size, opts.max_message_size);
  uint16_t max_mid = 0;
  for (MID m : resp->supported_mids) {
    max_mid = std::max(max_mid, static_cast<uint16_t>(m));
  }
  client->supported_.assign(static_cast<size_t>(max_mid) + 1, false);
  for (MID m : resp->supported_mids) {
    client->supported_[static_cast<size_t>(m)] = true;
  }
  Mounted out;
  out.client = std::move(client);
  out.root = resp->root;
  if (!fds.empty()) out.host_fd = std::move(fds[0]);
  return out;
}

void Client::Close() {
  if (closing_.exchange(true)) return;
  // Wake an RPC blocked on the socket, and those waiting on channels.
  // Only Close closes the socket, so sock_fd_ is still open here.
  ::shutdown(sock_fd_, SHUT_RDWR);
  std::vector<std::unique_ptr<ChannelSlot>> channels;
  uint64_t watch_id = 0;
  {
    std::unique_lock<std::mutex> l(channels_mu_);
    channels_closed_ = true;
    idle_.clear();
    // Shutting idle channels down too tells the server at once, rather than
    // when it notices the socket.
    for (const std::unique_ptr<ChannelSlot>& slot : channels_) {
      slot->channel->data().Shutdown();
    }
    channels_released_.wait(l, [this] { return channels_in_use_ == 0; });
    channels.swap(channels_);
    watch_id = std::exchange(watch_id_, 0);
  }
  if (watch_id != 0) {
    unet::HangupWatcher::Default().Unwatch(watch_id, sock_fd_);
  }
  // The windows are unmapped and the FD sockets closed here.
  channels.clear();
  // Then wait for a socket RPC to let go.
  std::lock_guard<std::mutex> l(mu_);
  dead_ = true;
  comm_ = SockCommunicator(unet::Socket());
}

void Client::Shutdown() { ::shutdown(sock_fd_, SHUT_RDWR); }

bool Client::HungUp() const {
  pollfd p{sock_fd_, POLLRDHUP, 0};
  int n;
  do {
    n = ::poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  return n > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

absl::StatusOr<uint64_t> Client::WatchHangup(unet::HangupWatcher& watcher,
                                             std::function<void()> on_hangup) {
  return watcher.Watch(sock_fd_, std::move(on_hangup));
}

void Client::UnwatchHangup(unet::HangupWatcher& watcher, uint64_t id) {
  watcher.Unwatch(id, sock_fd_);
}

unet::StallGuard Client::GuardStall(unet::HangupWatcher& watcher,
                                    absl::Time deadline,
                                    std::function<void()> on_fire) {
  return watcher.Guard(sock_fd_, deadline, std::move(on_fire));
}

absl::Status Client::StartChannels(const context::Context& ctx) {
  const size_t want = MaxChannels();
  size_t have = 0;
  {
    std::unique_lock<std::mutex> l(channels_mu_);
    if (channels_closed_ || closing_.load()) {
      return syserr::FromErrno(EIO, "StartChannels: connection is closed");
    }
    for (const std::unique_ptr<ChannelSlot>& slot : channels_) {
      if (!slot->dead) ++have;
    }
  }
  for (size_t attempt = have; attempt < want; ++attempt) {
    absl::StatusOr<std::unique_ptr<ChannelSlot>> slot = NewChannel(ctx);
    if (!slot.ok()) {
      if (syserr::ToErrno(slot.status()) == ENOMEM) {
        ctx.Debugf("lisafs: the server allows no more channels: %s",
                   slot.status().ToString());
        break;
      }
      ctx.Warningf("lisafs: channel creation failed: %s",
                   slot.status().ToString());
      continue;
    }
    std::unique_lock<std::mutex> l(channels_mu_);
    if (channels_closed_) break;  // the new channel is destroyed on the way
    // Watch the socket before the first channel is handed out, so that no
    // caller ever waits on a channel of a server that died unnoticed.
    if (watch_id_ == 0) {
      std::weak_ptr<Client> weak = weak_from_this();
      absl::StatusOr<uint64_t> id =
          unet::HangupWatcher::Default().Watch(sock_fd_, [weak] {
            if (std::shared_ptr<Client> c = weak.lock()) c->ShutdownChannels();
          });
      if (!id.ok()) return syserr::WithContext(id.status(), "StartChannels");
      watch_id_ = *id;
    }
    idle_.push_back(slot->get());
    channels_.push_back(*std::move(slot));
  }
  if (channels() == 0) {
    ctx.Warningf("lisafs: every Channel RPC failed; using the socket only");
    return syserr::FromErrno(ENOMEM, "StartChannels: no channel was created");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Client::ChannelSlot>> Client::NewChannel(
    const context::Context& ctx) {
  std::vector<fd::OwnedFd> fds;
  ASSIGN_OR_RETURN(ChannelResp resp, Rpc<ChannelResp>(ctx, MID::kChannel,
                                                      EmptyMessage{}, 2, &fds));
  if (fds.size() < 2) {
    return syserr::FromErrno(EIO, absl::StrCat("Channel RPC: server donated ",
                                               fds.size(), " FDs, want 2"));
  }
  if (resp.data_offset < 0) {
    return syserr::FromErrno(EIO, "Channel RPC: negative window offset");
  }
  if (resp.data_length > opts_.max_channel_window) {
    return syserr::FromErrno(
        EIO, absl::StrCat("Channel RPC: window of ", resp.data_length,
                          " bytes exceeds the client's limit of ",
                          opts_.max_channel_window));
  }
  flipcall::PacketWindowDescriptor desc;
  desc.fd = fds[0].get();
  desc.offset = resp.data_offset;
  desc.length = resp.data_length;
  absl::StatusOr<std::unique_ptr<flipcall::Endpoint>> data =
      flipcall::Endpoint::Create(flipcall::Side::kClient, desc);
  // The memfd is not needed once mapped (fds[0] closes with fds). A window
  // that cannot be mapped safely is the server's fault: EIO.
  if (!data.ok()) {
    return syserr::FromErrno(
        EIO, absl::StrCat("Channel RPC: ", data.status().message()));
  }
  (*data)->set_spin(opts_.spin);
  absl::StatusOr<fdchannel::Endpoint> fd_channel =
      fdchannel::Endpoint::FromFd(std::move(fds[1]));
  if (!fd_channel.ok()) {
    return syserr::WithContext(fd_channel.status(), "Channel RPC: FD socket");
  }
  auto slot = std::make_unique<ChannelSlot>();
  slot->channel =
      std::make_unique<Channel>(*std::move(data), *std::move(fd_channel));
  if (slot->channel->max_payload() < max_message_size_) {
    return syserr::FromErrno(
        EIO,
        absl::StrCat("Channel RPC: window of ", resp.data_length,
                     " bytes cannot hold a message of ", max_message_size_));
  }
  if (absl::Status s = slot->channel->data().Connect(); !s.ok()) {
    return syserr::WithContext(s, "channel handshake");
  }
  return slot;
}

size_t Client::channels() const {
  std::unique_lock<std::mutex> l(channels_mu_);
  if (channels_closed_) return 0;
  size_t n = 0;
  for (const std::unique_ptr<ChannelSlot>& slot : channels_) {
    if (!slot->dead) ++n;
  }
  return n;
}

void Client::ShutdownChannels() {
  std::unique_lock<std::mutex> l(channels_mu_);
  channels_closed_ = true;
  idle_.clear();
  for (const std::unique_ptr<ChannelSlot>& slot : channels_) {
    slot->channel->data().Shutdown();
  }
}

Client::ChannelSlot* Client::AcquireChannel() {
  std::unique_lock<std::mutex> l(channels_mu_);
  if (idle_.empty()) return nullptr;
  ChannelSlot* slot = idle_.back();
  idle_.pop_back();
  slot->in_use = true;
  ++channels_in_use_;
  ++channel_rpcs_;
  busiest_channels_ = std::max(busiest_channels_, channels_in_use_);
  return slot;
}

Client::Stats Client::stats() const {
  Stats s;
  s.socket_rpcs = socket_rpcs_.load();
  std::unique_lock<std::mutex> l(channels_mu_);
  s.channel_rpcs = channel_rpcs_;
  s.busiest_channels = busiest_channels_;
  return s;
}

void Client::ReleaseChannel(ChannelSlot* slot) {
  std::unique_lock<std::mutex> l(channels_mu_);
  slot->in_use = false;
  if (!slot->dead && !channels_closed_) idle_.push_back(slot);
  if (--channels_in_use_ == 0) channels_released_.notify_all();
}

bool Client::IsSupported(MID mid) const {
  size_t i = static_cast<size_t>(mid);
  return i < supported_.size() && supported_[i];
}

ClientFD Client::NewFD(FDID fd) { return ClientFD(shared_from_this(), fd); }

namespace internal {
namespace {

thread_local RpcScratch::Buffers t_rpc_buffers;

void Trim(std::vector<uint8_t>& v) {
  if (v.capacity() > RpcScratch::kRetainBytes) std::vector<uint8_t>().swap(v);
}

}  // namespace

RpcScratch::RpcScratch() : bufs_(&t_rpc_buffers) {
  if (bufs_->lent) bufs_ = &own_;
  bufs_->lent = true;
}

RpcScratch::~RpcScratch() {
  bufs_->frame.fds.clear();
  Trim(bufs_->req);
  Trim(bufs_->frame.payload);
  bufs_->lent = false;
}

}  // namespace internal

absl::Status Client::SndRcvMessage(const context::Context& ctx, MID mid,
                                   absl::Span<const uint8_t> req,
                                   size_t want_fds, std::vector<uint8_t>* resp,
                                   std::vector<fd::OwnedFd>* fds) {
  Frame frame;
  RETURN_IF_ERROR(Exchange(ctx, mid, req, want_fds, &frame));
  *resp = std::move(frame.payload);
  *fds = std::move(frame.fds);
  return absl::OkStatus();
}

absl::Status Client::Exchange(const context::Context& ctx, MID mid,
                              absl::Span<const uint8_t> req, size_t want_fds,
                              Frame* frame) {
  context::UninterruptibleSleep sleep(ctx);
  if (!IsSupported(mid)) {
    return RpcError(mid, EOPNOTSUPP, ": not supported by the server");
  }
  if (req.size() > max_message_size_) {
    return RpcError(
        mid, EIO,
        absl::StrCat(": request of ", req.size(),
                     " bytes exceeds the limit of ", max_message_size_));
  }
  if (want_fds > kMaxWantFds) {
    return RpcError(mid, EINVAL, ": too many FDs wanted");
  }
  return DoRpc(ctx, mid, req, want_fds, frame);
}

absl::Status Client::SocketExchange(MID mid, absl::Span<const uint8_t> req,
                                    size_t want_fds, Frame* frame) {
  std::lock_guard<std::mutex> l(mu_);
  if (dead_ || closing_.load()) {
    return RpcError(mid, EIO, ": connection is closed");
  }
  ++socket_rpcs_;
  absl::Status s = comm_.SendFrame(static_cast<uint16_t>(mid), req);
  if (s.ok()) {
    s = comm_.RecvFrame(want_fds, max_message_size_, frame,
                        opts_.max_oversize_drain);
  }
  if (!s.ok()) {
    // The stream is out of sync or gone: the connection is dead.
    dead_ = true;
    comm_.Shutdown();
    return RpcError(mid, EIO, absl::StrCat(": transport: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status Client::ChannelExchange(const context::Context& ctx,
                                     ChannelSlot* slot, MID mid,
                                     absl::Span<const uint8_t> req,
                                     Frame* frame) {
  Channel& ch = *slot->channel;
  // A request always announces no FDs (pkg/lisafs/README.md §8.5).
  absl::StatusOr<uint32_t> len =
      ch.WriteMessage(static_cast<uint16_t>(mid), 0, req);
  if (!len.ok()) {
    return RpcError(mid, EIO, absl::StrCat(": ", len.status().message()));
  }
  absl::StatusOr<uint32_t> n = ch.data().SendRecv(*len);
  if (!n.ok()) {
    std::unique_lock<std::mutex> l(channels_mu_);
    slot->dead = true;
    if (!flipcall::IsShutdown(n.status())) {
      ctx.Warningf("lisafs: %s RPC: channel transfer failed: %s", MIDName(mid),
                   n.status().ToString());
    }
    return RpcError(mid, EIO,
                    absl::StrCat(": channel: ", n.status().message()));
  }
  // The response's FDs are already queued on the FD channel; its header says
  // how many, whatever this RPC wanted (the caller reconciles, §2.5).
  if (absl::Status s = ch.ReadMessage(*n, max_message_size_, frame); !s.ok()) {
    return RpcError(mid, EIO, absl::StrCat(": channel: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status Client::DoRpc(const context::Context& ctx, MID mid,
                           absl::Span<const uint8_t> req, size_t want_fds,
                           Frame* frame) {
  if (ChannelSlot* slot = AcquireChannel(); slot != nullptr) {
    absl::Status s = ChannelExchange(ctx, slot, mid, req, frame);
    ReleaseChannel(slot);
    if (!s.ok()) return s;
  } else {
    RETURN_IF_ERROR(SocketExchange(mid, req, want_fds, frame));
  }
  // From here on, returning early leaves frame->fds to the caller, who
  // closes them.
  if (frame->oversized) {
    return RpcError(
        mid, EIO,
        absl::StrCat(": response of ", frame->payload_len,
                     " bytes exceeds the limit of ", max_message_size_));
  }
  if (frame->mid == static_cast<uint16_t>(MID::kError)) {
    uint32_t err = 0;
    if (frame->payload.size() >= sizeof(err)) {
      memcpy(&err, frame->payload.data(), sizeof(err));
    }
    if (err == 0 || err > 4095) {
      return RpcError(mid, EIO, ": malformed Error response");
    }
    return RpcError(mid, static_cast<int>(err), "");
  }
  if (frame->mid != static_cast<uint16_t>(mid)) {
    return RpcError(mid, EINVAL,
                    absl::StrCat(": response has MID ", frame->mid));
  }
  if (frame->fds.size() > want_fds) {
    ctx.Warningf("%s RPC: server donated %d FDs, %d wanted; closing the rest",
                 MIDName(mid), frame->fds.size(), want_fds);
    frame->fds.resize(want_fds);
  }
  return absl::OkStatus();
}

void Client::CloseFD(const context::Context& ctx, FDID fd, bool flush) {
  // The batch is swapped with the thread's spare vector, so that neither
  // the queue nor the batch reallocates once both have grown.
  thread_local std::vector<FDID> t_spare;
  std::vector<FDID> batch = std::move(t_spare);
  batch.clear();
  bool send = false;
  {
    std::lock_guard<std::mutex> l(close_mu_);
    if (fd != kInvalidFDID) pending_closes_.push_back(fd);
    if (!pending_closes_.empty() &&
        (flush || pending_closes_.size() >= kCloseBatchSize)) {
      batch.swap(pending_closes_);
      send = true;
    }
  }
  if (send) SendCloses(ctx, batch);
  batch.clear();
  t_spare = std::move(batch);
}

void Client::SendCloses(const context::Context& ctx,
                        absl::Span<const FDID> fds) {
  // Encoded in place: a CloseReq would copy the batch.
  absl::Status s = RpcWith(
      ctx, MID::kClose, 0,
      [fds](Encoder& e) { return e.PutFdArray(fds, "CloseReq.fds"); },
      [](absl::Span<const uint8_t> payload, std::vector<fd::OwnedFd>&) {
        return Unmarshal<EmptyMessage>(payload).status();
      });
  if (!s.ok()) {
    ctx.Warningf("lisafs: closing %d FDIDs failed: %s", fds.size(),
                 s.ToString());
  }
}

absl::Status Client::SyncFDs(const context::Context& ctx,
                             absl::Span<const FDID> fds) {
  FsyncReq req{std::vector<FDID>(fds.begin(), fds.end())};
  return Rpc<EmptyMessage>(ctx, MID::kFSync, req).status();
}

}  // namespace gvisor::lisafs
