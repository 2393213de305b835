#include "pkg/lisafs/server.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <system_error>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "pkg/fdchannel/fdchannel.h"
#include "pkg/flipcall/flipcall.h"
#include "pkg/lisafs/channel.h"
#include "pkg/lisafs/event_pool.h"
#include "pkg/lisafs/handlers.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/response.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {

namespace {

// CleanMountPath drops empty components of an absolute path; "." and ".."
// are refused rather than resolved, since the tree never resolves them.
absl::StatusOr<std::string> CleanMountPath(absl::string_view path) {
  if (path.empty() || path[0] != '/') {
    return syserr::FromErrno(
        EINVAL, absl::StrCat("mount path \"", path, "\" is not absolute"));
  }
  std::vector<absl::string_view> parts =
      absl::StrSplit(path, '/', absl::SkipEmpty());
  for (absl::string_view p : parts) {
    if (p == "." || p == "..") {
      return syserr::FromErrno(
          EINVAL, absl::StrCat("mount path \"", path, "\" has \"", p, "\""));
    }
  }
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

internal::Response ErrorResponse(int err) {
  if (err <= 0) err = EIO;
  internal::Response r;
  r.mid = MID::kError;
  ErrorResp e;
  e.err = static_cast<uint32_t>(err);
  r.payload.resize(sizeof(e));
  memcpy(r.payload.data(), &e, sizeof(e));
  return r;
}

size_t WorkerCount(size_t asked) {
  if (asked != ServerOptions::kDefaultWorkers) return asked;
  size_t n = 2 * static_cast<size_t>(std::thread::hardware_concurrency());
  return std::clamp(n, ServerOptions::kMinDefaultWorkers,
                    ServerOptions::kMaxDefaultWorkers);
}

// FdidsMade returns how many FDIDs a request makes if it succeeds:
// OpenCreateAt and BindAt two, the other creates, Mount and OpenAt one
// (pkg/lisafs/README.md §7.3). A Walk is charged by its handler, one component
// at a time (Connection::ChargeFdids), since it may stop early.
size_t FdidsMade(uint16_t mid) {
  switch (static_cast<MID>(mid)) {
    case MID::kMount:
    case MID::kOpenAt:
    case MID::kMkdirAt:
    case MID::kMknodAt:
    case MID::kSymlinkAt:
    case MID::kLinkAt:
      return 1;
    case MID::kOpenCreateAt:
    case MID::kBindAt:
      return 2;
    default:
      return 0;
  }
}

// t_charge is the FD charge of the request being dispatched on this
// thread (Connection::Dispatch), for handlers that charge as they go.
thread_local void* t_charge = nullptr;

// kInitialFdids is what a connection's FD table is sized for at first.
constexpr size_t kInitialFdids = 16;

// kChannelHostFds is what a channel holds: its end of the FD socket, and
// the memfd of the windows (charged to every channel, held once).
constexpr size_t kChannelHostFds = 2;

}  // namespace

// ---------------------------------------------------------------------------
// ServerCore

ServerCore::ServerCore(const context::Context& ctx, ServerOptions options)
    : ctx_(ctx),
      options_(options),
      workers_(WorkerCount(options.workers)),
      root_(Node::NewRoot()),
      fd_budget_(options.fd_reserve, options.fd_reserve_per_connection) {
  // The epoll set exists from the start, so that its two FDs are held
  // before the first connection needs FDs of its own.
  absl::StatusOr<std::unique_ptr<internal::EventPool>> p =
      internal::EventPool::Create(ctx_, &ServerCore::HandleEvent,
                                  options_.spin);
  if (p.ok()) {
    pool_ = *std::move(p);
  } else {
    pool_error_ = p.status();
    ctx_.Warningf("lisafs: server cannot watch sockets: %s",
                  pool_error_.ToString());
  }
}

ServerCore::~ServerCore() = default;

void ServerCore::HandleEvent(void* tag, uint32_t) {
  static_cast<Connection*>(tag)->Serve();
}

absl::Status ServerCore::StartConnection(unet::Socket sock,
                                         std::string mount_path,
                                         std::unique_ptr<ConnectionImpl> impl,
                                         ConnectionOptions options) {
  std::unique_lock<std::mutex> l(mu_);
  if (shutdown_) {
    return syserr::FromErrno(ESHUTDOWN, "StartConnection after Shutdown");
  }
  if (pool_ == nullptr) {
    ctx_.Warningf("lisafs: connection on %s refused: %s", mount_path,
                  pool_error_.ToString());
    return syserr::WithContext(pool_error_, "StartConnection");
  }
  // Workers start with the first connection; a shortfall (threads cannot
  // start) is made up later, and only no worker at all refuses.
  if (pool_->Grow(workers_) == 0) {
    ctx_.Warningf("lisafs: connection on %s refused: no worker thread runs",
                  mount_path);
    return syserr::FromErrno(
        EAGAIN, "StartConnection: no worker thread runs and none can start");
  }
  auto conn =
      std::make_unique<Connection>(Connection::Passkey(), this, std::move(sock),
                                   mount_path, std::move(impl), options);
  const uint64_t id = next_id_++;
  conn->id_ = id;
  Connection* raw = conn.get();
  if (absl::Status s = pool_->Add(raw->sock_.fd(), raw, EPOLLIN); !s.ok()) {
    ctx_.Warningf("lisafs: connection on %s refused: %s", mount_path,
                  s.ToString());
    return syserr::WithContext(s, "StartConnection");
  }
  active_.emplace(id, std::move(conn));
  fd_budget_.Track(1);
  ctx_.Debugf("lisafs: connection %d serves %s%s", id, mount_path,
              options.readonly ? " (read-only)" : "");
  return absl::OkStatus();
}

void ServerCore::Shutdown() {
  std::unique_lock<std::mutex> l(mu_);
  if (!shutdown_) {
    shutdown_ = true;
    shutdown_at_ = absl::Now();
  }
  for (auto& [id, conn] : active_) conn->Shutdown();
  ended_.notify_all();
}

bool ServerCore::Wait() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    if (active_.empty() && finishing_ == 0) return true;
    if (!shutdown_) {
      ended_.wait(l);
      continue;
    }
    const absl::Time deadline = shutdown_at_ + options_.shutdown_grace;
    const absl::Time now = absl::Now();
    if (now >= deadline) break;
    ended_.wait_for(l, absl::ToChronoNanoseconds(deadline - now));
  }
  ctx_.Warningf(
      "lisafs: %d connections still busy %s after shutdown; left running",
      active_.size() + finishing_,
      absl::FormatDuration(options_.shutdown_grace));
  return false;
}

void ServerCore::AwaitConnections(size_t n) const {
  std::unique_lock<std::mutex> l(mu_);
  ended_.wait(l, [&] { return active_.size() + finishing_ <= n; });
}

size_t ServerCore::connections() const {
  std::unique_lock<std::mutex> l(mu_);
  return active_.size() + finishing_;
}

ServerStats ServerCore::stats() const {
  ServerStats s;
  {
    std::unique_lock<std::mutex> l(mu_);
    s.connections = active_.size() + finishing_;
    if (pool_ != nullptr) {
      s.workers = pool_->workers();
      s.busy_workers = pool_->busy();
    }
  }
  s.channel_threads = channel_threads_.load();
  s.fdids = fdids_.load();
  s.partial_frames = partial_frames_.load();
  s.buffered_bytes = buffered_bytes_.load();
  s.host_fds = fd_budget_.Estimate();
  s.fd_limit = fd_budget_.limit();
  return s;
}

bool ServerCore::Stop(bool connections_ended) {
  internal::EventPool* pool;
  {
    std::unique_lock<std::mutex> l(mu_);
    pool = pool_.get();
  }
  if (pool == nullptr) return connections_ended;
  pool->Stop();
  // With every connection gone no worker has anything left to do; else
  // those stuck had their grace already.
  return pool->Join(connections_ended ? absl::InfiniteDuration()
                                      : absl::ZeroDuration()) &&
         connections_ended;
}

std::unique_ptr<Connection> ServerCore::Detach(Connection* conn) {
  std::unique_lock<std::mutex> l(mu_);
  std::unique_ptr<Connection> owned;
  if (auto it = active_.find(conn->id_); it != active_.end()) {
    owned = std::move(it->second);
    active_.erase(it);
  }
  ++finishing_;
  return owned;
}

void ServerCore::Ended() {
  std::unique_lock<std::mutex> l(mu_);
  --finishing_;
  ended_.notify_all();
}

// ---------------------------------------------------------------------------
// Connection

// ServerChannel is one channel of a connection and its service thread.
// ready and abandoned are guarded by Connection::channels_mu_.
struct Connection::ServerChannel {
  std::unique_ptr<Channel> channel;
  std::thread thread;
  bool ready = false;
  bool abandoned = false;
};

Connection::Connection(Passkey, ServerCore* server, unet::Socket sock,
                       std::string mount_path,
                       std::unique_ptr<ConnectionImpl> impl,
                       ConnectionOptions options)
    : server_(server),
      sock_(std::move(sock)),
      mount_path_(std::move(mount_path)),
      impl_(std::move(impl)),
      options_(options),
      max_message_size_(impl_->MaxMessageSize()),
      supported_list_(impl_->SupportedMessages()) {
  for (MID m : supported_list_) {
    const uint16_t i = static_cast<uint16_t>(m);
    if (i < supported_.size()) supported_[i] = true;
  }
  // A table past the smallest sizes drops the tombstones of closed FDIDs
  // in place, so a connection that opens and closes FDIDs at a steady
  // count allocates nothing for them.
  fds_.reserve(kInitialFdids);
}

Connection::~Connection() = default;

std::shared_ptr<Node> Connection::mount_node() const {
  std::unique_lock<std::mutex> l(mu_);
  return mount_node_;
}

void Connection::set_mount_node(std::shared_ptr<Node> node) {
  std::shared_ptr<Node> old;
  std::unique_lock<std::mutex> l(mu_);
  old = std::exchange(mount_node_, std::move(node));
  // old is released after mu_ (declared first, destroyed last).
}

FDID Connection::Insert(std::shared_ptr<FD> fd) {
  std::unique_lock<std::mutex> l(mu_);
  FDID id = next_fdid_++;
  fds_.emplace(id, std::move(fd));
  server_->fdids_.fetch_add(1, std::memory_order_relaxed);
  server_->fd_budget().Track(1);
  return id;
}

std::shared_ptr<FD> Connection::Lookup(FDID id) const {
  std::unique_lock<std::mutex> l(mu_);
  auto it = fds_.find(id);
  return it == fds_.end() ? nullptr : it->second;
}

std::shared_ptr<FD> Connection::Remove(FDID id) {
  std::unique_lock<std::mutex> l(mu_);
  auto it = fds_.find(id);
  if (it == fds_.end()) return nullptr;
  std::shared_ptr<FD> fd = std::move(it->second);
  fds_.erase(it);
  server_->fdids_.fetch_sub(1, std::memory_order_relaxed);
  server_->fd_budget().Track(-1);
  return fd;
}

size_t Connection::fdids() const {
  std::unique_lock<std::mutex> l(mu_);
  return fds_.size();
}

void Connection::Shutdown() {
  shutdown_.store(true);
  // Wakes the connection if it waits in epoll: the socket reads end of
  // stream from now on.
  sock_.Shutdown().IgnoreError();
}

absl::Status Connection::Charge(size_t fdids, size_t host_fds, MID mid,
                                FdCharge* charge) {
  const ServerOptions& o = server_->options();
  const context::Context& ctx = server_->ctx();
  size_t after;
  {
    std::unique_lock<std::mutex> l(mu_);
    after = fds_.size() + fdids_charged_ + fdids;
    if (after > o.max_fdids_per_connection) {
      absl::Status s = syserr::FromErrno(
          EMFILE,
          absl::StrCat(MIDName(mid), ": the connection holds ", fds_.size(),
                       " FDIDs and may hold ", o.max_fdids_per_connection));
      if (!std::exchange(warned_fdid_cap_, true)) {
        ctx.Warningf("lisafs connection %d on %s: %s", id_, mount_path_,
                     s.message());
      }
      return s;
    }
    fdids_charged_ += fdids;
  }
  if (absl::Status s = server_->fd_budget().Charge(host_fds, after); !s.ok()) {
    std::unique_lock<std::mutex> l(mu_);
    fdids_charged_ -= fdids;
    s = syserr::WithContext(s, MIDName(mid));
    if (!std::exchange(warned_fd_reserve_, true)) {
      ctx.Warningf("lisafs connection %d on %s (%d FDIDs): %s", id_,
                   mount_path_, fds_.size(), s.message());
    }
    return s;
  }
  charge->fdids += fdids;
  charge->host_fds += host_fds;
  return absl::OkStatus();
}

absl::Status Connection::ChargeFdids(size_t n, MID mid) {
  auto* charge = static_cast<FdCharge*>(t_charge);
  if (charge == nullptr) {
    return syserr::FromErrno(EINVAL, "ChargeFdids outside Dispatch");
  }
  return Charge(n, n, mid, charge);
}

void Connection::Uncharge(const FdCharge& charge) {
  if (charge.host_fds == 0 && charge.fdids == 0) return;
  server_->fd_budget().Uncharge(charge.host_fds);
  std::unique_lock<std::mutex> l(mu_);
  fdids_charged_ -= charge.fdids;
}

internal::Response Connection::Dispatch(const Frame& req) {
  const context::Context& ctx = server_->ctx();
  if (req.oversized) return ErrorResponse(EIO);
  if (closing_.load()) return ErrorResponse(ECONNRESET);
  if (req.mid >= kNumMIDs || !internal::HasHandler(req.mid) ||
      !Supports(req.mid)) {
    return ErrorResponse(EOPNOTSUPP);
  }
  const MID mid = static_cast<MID>(req.mid);
  FdCharge charge;
  const size_t fdids = FdidsMade(req.mid);
  const size_t host_fds = mid == MID::kChannel ? kChannelHostFds : fdids;
  if (host_fds > 0) {
    if (absl::Status s = Charge(fdids, host_fds, mid, &charge); !s.ok()) {
      ctx.Debugf("lisafs %s", s.ToString());
      return ErrorResponse(syserr::ToErrno(s));
    }
  }
  internal::Response resp;
  resp.mid = mid;
  void* const outer = std::exchange(t_charge, &charge);
  absl::Status hs = internal::Handle(internal::Request{
      .conn = *this, .mid = mid, .payload = req.payload, .resp = &resp});
  t_charge = outer;
  Uncharge(charge);
  if (!hs.ok()) {
    ctx.Debugf("lisafs %s: %s", MIDName(resp.mid), hs.ToString());
    // An error response drops the FDs the handler meant to donate.
    resp = ErrorResponse(syserr::ToErrno(hs));
  } else if (resp.payload.size() > max_message_size_) {
    resp = ErrorResponse(EIO);
  }
  return resp;
}

// ---------------------------------------------------------------------------
// Connection: turns on a worker

void Connection::Serve() {
  bool finish = false;
  {
    std::unique_lock<std::mutex> l(turn_mu_);
    if (!closing_.load()) {
      absl::Status s = Turn();
      if (s.ok()) return;
      server_->ctx().Debugf("lisafs connection %d on %s ends: %s", id_,
                            mount_path_, s.ToString());
      BeginClose();
    }
    finish = ReadyToFinish();
  }
  if (finish) Finish();
}

absl::Status Connection::Arm(uint32_t events) {
  return server_->pool().Arm(sock_.fd(), this, events);
}

void Connection::UpdateBuffered() {
  const size_t now = reader_.buffered() + writer_.buffered();
  if (now != published_buffered_) {
    server_->buffered_bytes_.fetch_add(now - published_buffered_,
                                       std::memory_order_relaxed);
    published_buffered_ = now;
  }
  const bool partial = reader_.partial();
  if (partial != published_partial_) {
    if (partial) {
      server_->partial_frames_.fetch_add(1, std::memory_order_relaxed);
    } else {
      server_->partial_frames_.fetch_sub(1, std::memory_order_relaxed);
    }
    published_partial_ = partial;
  }
}

absl::Status Connection::Turn() {
  const ServerOptions& o = server_->options();
  const int fd = sock_.fd();
  auto stopped = [] {
    return syserr::FromErrno(ESHUTDOWN, "the server is shutting down");
  };
  // Every way out of the turn ends the reader's turn first: bytes it read
  // ahead move out of this thread's buffer (FrameReader::EndTurn).
  absl::Cleanup end_turn = [this] { reader_.EndTurn(); };
  if (shutdown_.load()) return stopped();
  // An answer the peer has not taken yet comes first: nothing more is read
  // until it is out, so a peer that does not read holds one answer.
  if (writer_.pending()) {
    absl::StatusOr<bool> sent = writer_.Flush(sock_);
    if (!sent.ok()) return sent.status();
    UpdateBuffered();
    if (!*sent) return Arm(EPOLLOUT);
  }
  size_t budget = o.bytes_per_turn;
  for (size_t i = 0; i < o.frames_per_turn; ++i) {
    Frame req;
    absl::StatusOr<bool> got =
        reader_.Read(fd, max_message_size_, &budget, &req);
    if (!got.ok()) {
      UpdateBuffered();
      return got.status();
    }
    if (!*got) break;
    // The frame is whole and the reader holds nothing: say so before the
    // answer goes out, so that a peer that has its answer sees the stats
    // without the request's buffer.
    UpdateBuffered();
    internal::Response resp = Dispatch(req);
    // The request's buffer serves the next request or answer.
    internal::GiveBack(std::exchange(req.payload, {}));
    req = Frame();
    writer_.Start(static_cast<uint16_t>(resp.mid), std::move(resp.payload),
                  std::move(resp.fds), resp.lent_fd, std::move(resp.lender));
    absl::StatusOr<bool> sent = writer_.Flush(sock_);
    if (!sent.ok()) return sent.status();
    if (!*sent) {
      reader_.EndTurn();
      UpdateBuffered();
      return Arm(EPOLLOUT);
    }
    if (shutdown_.load()) return stopped();
  }
  // Bytes read ahead may hold a whole request, which no EPOLLIN would
  // announce: then the connection comes back as soon as it can be answered
  // (EPOLLOUT), still behind the others that are ready.
  const bool ahead = reader_.EndTurn();
  UpdateBuffered();
  // Whatever is left waiting on the socket brings the connection back,
  // behind the others that are ready.
  return Arm(ahead ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

void Connection::BeginClose() {
  closing_.store(true);
  // The peer sees end of stream at once, even while channels finish.
  sock_.Shutdown().IgnoreError();
  std::unique_lock<std::mutex> l(channels_mu_);
  channels_closed_ = true;
  // Wake every channel thread (blocked waiting for the client, or about to
  // hand an answer over).
  for (const std::unique_ptr<ServerChannel>& ch : channels_) {
    ch->channel->data().Shutdown();
  }
}

bool Connection::ReadyToFinish() {
  std::unique_lock<std::mutex> l(channels_mu_);
  if (live_channel_threads_ == 0) return true;
  // No worker waits: the last channel thread to return re-arms the socket
  // (shut down, hence ready at once) for a final turn.
  finish_on_last_thread_ = true;
  return false;
}

void Connection::ChannelThreadReturned() {
  bool rearm;
  {
    std::unique_lock<std::mutex> l(channels_mu_);
    --live_channel_threads_;
    rearm = live_channel_threads_ == 0 && finish_on_last_thread_;
    if (rearm) finish_on_last_thread_ = false;
  }
  server_->channel_threads_.fetch_sub(1, std::memory_order_relaxed);
  if (rearm) {
    if (absl::Status s = Arm(EPOLLIN); !s.ok()) {
      server_->ctx().Warningf("lisafs connection %d on %s: cannot end: %s", id_,
                              mount_path_, s.ToString());
    }
  }
}

void Connection::Finish() {
  ServerCore* const server = server_;
  // Shutdown no longer reaches this connection; it still counts until it
  // has dropped everything. self owns this connection from here on.
  std::unique_ptr<Connection> self = server->Detach(this);
  server->pool().Remove(sock_.fd());
  std::vector<std::unique_ptr<ServerChannel>> channels;
  std::unique_ptr<flipcall::PacketWindowAllocator> windows;
  {
    std::unique_lock<std::mutex> l(channels_mu_);
    channels.swap(channels_);
    windows.swap(windows_);
  }
  // Every channel thread has returned or is returning.
  for (const std::unique_ptr<ServerChannel>& ch : channels) ch->thread.join();
  int64_t host_fds =
      1 + static_cast<int64_t>(channels.size()) + (windows != nullptr ? 1 : 0);
  // The channels (windows unmapped, FD sockets closed) and then the memfd
  // go away here.
  channels.clear();
  windows.reset();
  absl::flat_hash_map<FDID, std::shared_ptr<FD>> fds;
  {
    std::unique_lock<std::mutex> l(mu_);
    fds.swap(fds_);
  }
  server->fdids_.fetch_sub(fds.size(), std::memory_order_relaxed);
  host_fds += static_cast<int64_t>(fds.size());
  // Every FD (and its backend object, and its host FDs) goes away here,
  // outside any lock.
  fds.clear();
  reader_ = internal::FrameReader();
  writer_ = internal::FrameWriter();
  UpdateBuffered();
  const uint64_t id = id_;
  // The connection is destroyed here; only locals are used below.
  self.reset();
  server->fd_budget().Track(-host_fds);
  server->ctx().Debugf("lisafs: connection %d ended", id);
  server->Ended();
}

// ---------------------------------------------------------------------------
// Connection: channels

absl::Status Connection::NewChannel(internal::Response* resp) {
  const context::Context& ctx = server_->ctx();
  auto sc = std::make_unique<ServerChannel>();
  ServerChannel* raw = sc.get();
  {
    std::unique_lock<std::mutex> l(channels_mu_);
    if (channels_closed_) {
      return syserr::FromErrno(ENOSYS, "Channel: connection is closing");
    }
    if (channels_.size() + pending_channels_ >= MaxChannels()) {
      return syserr::FromErrno(ENOMEM,
                               absl::StrCat("Channel: connection already has ",
                                            channels_.size(), " channels"));
    }
    ++pending_channels_;
    ++live_channel_threads_;
  }
  const size_t max_threads = server_->options().max_channel_threads;
  if (server_->channel_threads_.fetch_add(1) >= max_threads) {
    server_->channel_threads_.fetch_sub(1);
    {
      std::unique_lock<std::mutex> l(channels_mu_);
      --pending_channels_;
      --live_channel_threads_;
    }
    ctx.Warningf(
        "lisafs connection %d on %s: Channel refused: the server "
        "runs %d channel threads already",
        id_, mount_path_, max_threads);
    return syserr::FromErrno(
        EAGAIN, absl::StrCat("Channel: the server runs ", max_threads,
                             " channel threads already"));
  }
  // The thread comes first, so that a thread that cannot start costs no
  // window; it waits until the channel is made.
  try {
    sc->thread = std::thread([this, raw] { ChannelMain(raw); });
  } catch (const std::system_error& e) {
    {
      std::unique_lock<std::mutex> l(channels_mu_);
      --pending_channels_;
      --live_channel_threads_;
    }
    server_->channel_threads_.fetch_sub(1, std::memory_order_relaxed);
    ctx.Warningf("lisafs connection %d on %s: Channel refused: %s", id_,
                 mount_path_, e.what());
    return syserr::FromErrno(
        EAGAIN, absl::StrCat("Channel: cannot start a thread: ", e.what()));
  }
  std::unique_lock<std::mutex> l(channels_mu_);
  --pending_channels_;
  const bool had_windows = windows_ != nullptr;
  if (absl::Status s = SetUpChannelLocked(raw, resp); !s.ok()) {
    ctx.Warningf("lisafs connection %d on %s: Channel refused: %s", id_,
                 mount_path_, s.ToString());
    raw->abandoned = true;
    channels_cv_.notify_all();
    l.unlock();
    raw->thread.join();
    resp->fds.clear();
    return s;
  }
  server_->fd_budget().Track(1 + (had_windows || windows_ == nullptr ? 0 : 1));
  // A close that began meanwhile did not see this channel.
  if (channels_closed_) raw->channel->data().Shutdown();
  raw->ready = true;
  channels_.push_back(std::move(sc));
  channels_cv_.notify_all();
  return absl::OkStatus();
}

absl::Status Connection::SetUpChannelLocked(ServerChannel* sc,
                                            internal::Response* resp) {
  if (windows_ == nullptr) {
    absl::StatusOr<flipcall::PacketWindowAllocator> a =
        flipcall::PacketWindowAllocator::Create();
    if (!a.ok()) return syserr::WithContext(a.status(), "Channel");
    windows_ = std::make_unique<flipcall::PacketWindowAllocator>(*std::move(a));
  }
  // The window holds the flipcall header, the channel header and the
  // largest payload (pkg/lisafs/README.md §8.1).
  absl::StatusOr<flipcall::PacketWindowDescriptor> desc = windows_->Allocate(
      flipcall::kPacketHeaderBytes + Channel::kHeaderSize + max_message_size_);
  if (!desc.ok()) return syserr::WithContext(desc.status(), "Channel");
  absl::StatusOr<std::unique_ptr<flipcall::Endpoint>> data =
      flipcall::Endpoint::Create(flipcall::Side::kServer, *desc);
  if (!data.ok()) return syserr::WithContext(data.status(), "Channel");
  (*data)->set_spin(server_->options().spin);
  absl::StatusOr<std::pair<unet::Socket, unet::Socket>> socks =
      fdchannel::NewConnectedSockets();
  if (!socks.ok()) return syserr::WithContext(socks.status(), "Channel");
  fd::OwnedFd memfd(fcntl(windows_->fd(), F_DUPFD_CLOEXEC, 0));
  if (!memfd.valid()) {
    return syserr::FromErrno(errno, "Channel: dup of the packet window memfd");
  }
  ChannelResp out;
  out.data_offset = desc->offset;
  out.data_length = desc->length;
  absl::StatusOr<std::vector<uint8_t>> b = Marshal(out);
  if (!b.ok()) return b.status();
  sc->channel = std::make_unique<Channel>(
      *std::move(data), fdchannel::Endpoint(std::move(socks->first)));
  resp->fds.push_back(std::move(memfd));
  resp->fds.push_back(socks->second.Release());
  resp->payload = *std::move(b);
  return absl::OkStatus();
}

void Connection::ChannelMain(ServerChannel* sc) {
  bool serve;
  {
    std::unique_lock<std::mutex> l(channels_mu_);
    channels_cv_.wait(l, [sc] { return sc->ready || sc->abandoned; });
    serve = sc->ready;
  }
  // The thread waits for the client's handshake before it serves.
  if (serve) ServeChannel(sc);
  ChannelThreadReturned();
}

void Connection::ServeChannel(ServerChannel* sc) {
  const context::Context& ctx = server_->ctx();
  Channel& ch = *sc->channel;
  absl::StatusOr<uint32_t> n = ch.data().RecvFirst();
  // A zero-length datagram ends the loop quietly; the channel is not shut
  // down (pkg/lisafs/README.md §8.5, §11 Q11).
  // One frame for the channel's life: ReadMessage clears it and keeps its
  // payload's storage, so a small request allocates nothing.
  Frame req;
  while (n.ok() && *n > 0) {
    if (absl::Status s = ch.ReadMessage(*n, max_message_size_, &req); !s.ok()) {
      n = s;
      break;
    }
    // FDs flow only from server to client: drop any the client sent.
    req.fds.clear();
    internal::Response resp = Dispatch(req);
    // A large request's storage is not kept for the channel's life.
    if (req.payload.capacity() > internal::kSpareCapacity) {
      req.payload = std::vector<uint8_t>();
    }
    absl::InlinedVector<int, 4> fds;
    for (const fd::OwnedFd& f : resp.fds) fds.push_back(f.get());
    if (resp.lent_fd >= 0) fds.push_back(resp.lent_fd);
    // The FDs are queued on the FD socket before the hand-over.
    const uint8_t sent = ch.SendFDs(fds);
    if (sent != fds.size()) {
      ctx.Debugf("lisafs channel on %s: sent %d of %d FDs", mount_path_, sent,
                 fds.size());
    }
    resp.fds.clear();
    resp.lender.reset();
    absl::StatusOr<uint32_t> len =
        ch.WriteMessage(static_cast<uint16_t>(resp.mid), sent, resp.payload);
    // The answer is in the window: its buffer serves a later answer.
    internal::GiveBack(std::move(resp.payload));
    if (!len.ok()) {
      n = len.status();
      break;
    }
    n = ch.data().SendRecv(*len);
  }
  if (!n.ok() && !flipcall::IsShutdown(n.status())) {
    ctx.Debugf("lisafs channel on %s: %s", mount_path_, n.status().ToString());
  }
}

// ---------------------------------------------------------------------------
// Server

Server::Server(const context::Context& ctx, ServerOptions options)
    : core_(std::make_unique<ServerCore>(ctx, options)) {}

Server::~Server() {
  core_->Shutdown();
  const bool ended = core_->Wait();
  if (!core_->Stop(ended)) {
    core_->ctx().Warningf(
        "lisafs: a request is stuck in the kernel; the server's state is "
        "left to it");
    // Deliberately leaked: the stuck request still uses it.
    (void)core_.release();
    return;
  }
  core_.reset();
}

absl::Status Server::StartConnection(unet::Socket sock,
                                     absl::string_view mount_path,
                                     std::unique_ptr<ConnectionImpl> impl,
                                     ConnectionOptions options) {
  absl::StatusOr<std::string> path = CleanMountPath(mount_path);
  if (!path.ok()) return path.status();
  if (impl == nullptr) return syserr::FromErrno(EINVAL, "no ConnectionImpl");
  if (impl->MaxMessageSize() == 0) {
    return syserr::FromErrno(EINVAL, "backend's max message size is 0");
  }
  if (impl->SupportedMessages().empty()) {
    return syserr::FromErrno(EINVAL, "backend supports no message");
  }
  return core_->StartConnection(std::move(sock), *std::move(path),
                                std::move(impl), options);
}

void Server::Shutdown() { core_->Shutdown(); }

void Server::Wait() { core_->Wait(); }

size_t Server::connections() const { return core_->connections(); }

void Server::AwaitConnections(size_t n) const { core_->AwaitConnections(n); }

ServerStats Server::stats() const { return core_->stats(); }

}  // namespace gvisor::lisafs
