#include "pkg/lisafs/server.h"

#include <errno.h>
#include <fcntl.h>

#include <system_error>
#include <utility>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "pkg/fdchannel/fdchannel.h"
#include "pkg/flipcall/flipcall.h"
#include "pkg/lisafs/channel.h"
#include "pkg/lisafs/handlers.h"
#include "pkg/lisafs/messages.h"
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

}  // namespace

// ---------------------------------------------------------------------------
// Connection

// ServerChannel is one channel of a connection and its service thread.
struct Connection::ServerChannel {
  std::unique_ptr<Channel> channel;
  std::thread thread;
};

Connection::Connection(Server* server, unet::Socket sock,
                       std::string mount_path,
                       std::unique_ptr<ConnectionImpl> impl,
                       ConnectionOptions options)
    : server_(server),
      comm_(std::move(sock)),
      mount_path_(std::move(mount_path)),
      impl_(std::move(impl)),
      options_(options),
      max_message_size_(impl_->MaxMessageSize()),
      supported_list_(impl_->SupportedMessages()) {
  for (MID m : supported_list_) supported_[static_cast<uint16_t>(m)] = true;
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
  return fd;
}

internal::Response Connection::Dispatch(const Frame& req) {
  const context::Context& ctx = server_->ctx();
  if (req.oversized) return ErrorResponse(EIO);
  {
    std::unique_lock<std::mutex> l(requests_mu_);
    if (closing_) return ErrorResponse(ECONNRESET);
    ++in_flight_;
  }
  internal::Response resp;
  if (req.mid >= kNumMIDs || !internal::HasHandler(req.mid) ||
      !Supports(req.mid)) {
    resp = ErrorResponse(EOPNOTSUPP);
  } else {
    resp.mid = static_cast<MID>(req.mid);
    absl::Status hs = internal::Handle(*this, resp.mid, req.payload, &resp);
    if (!hs.ok()) {
      ctx.Debugf("lisafs %s: %s", MIDName(resp.mid), hs.ToString());
      resp = ErrorResponse(syserr::ToErrno(hs));
    } else if (resp.payload.size() > max_message_size_) {
      resp = ErrorResponse(EIO);
    }
  }
  // An error response has dropped the FDs the handler meant to donate.
  std::unique_lock<std::mutex> l(requests_mu_);
  if (--in_flight_ == 0) requests_done_.notify_all();
  return resp;
}

void Connection::Run() {
  const context::Context& ctx = server_->ctx();
  for (;;) {
    Frame frame;
    absl::Status s = comm_.RecvFrame(0, max_message_size_, &frame);
    if (!s.ok()) {
      ctx.Debugf("lisafs connection on %s: receive ended: %s", mount_path_,
                 s.ToString());
      break;
    }
    internal::Response resp = Dispatch(frame);
    std::vector<int> fds;
    for (const fd::OwnedFd& f : resp.fds) fds.push_back(f.get());
    s = comm_.SendFrame(static_cast<uint16_t>(resp.mid), resp.payload, fds);
    // resp.fds, the server's copies of donated FDs, close here.
    if (!s.ok()) {
      ctx.Debugf("lisafs connection on %s: send failed: %s", mount_path_,
                 s.ToString());
      break;
    }
  }
  Close();
}

void Connection::Close() {
  // Take no new request, and let those in flight on channels finish.
  {
    std::unique_lock<std::mutex> l(requests_mu_);
    closing_ = true;
    requests_done_.wait(l, [this] { return in_flight_ == 0; });
  }
  // Wake every channel thread (blocked waiting for the client, or about to
  // hand an answer over) and wait for it to end.
  std::vector<std::unique_ptr<ServerChannel>> channels;
  std::unique_ptr<flipcall::PacketWindowAllocator> windows;
  {
    std::unique_lock<std::mutex> l(channels_mu_);
    channels_closed_ = true;
    for (const std::unique_ptr<ServerChannel>& ch : channels_) {
      ch->channel->data().Shutdown();
    }
    channels.swap(channels_);
    windows.swap(windows_);
  }
  for (const std::unique_ptr<ServerChannel>& ch : channels) ch->thread.join();
  // The channels (windows unmapped, FD sockets closed) and then the memfd
  // go away here.
  channels.clear();
  windows.reset();
  std::map<FDID, std::shared_ptr<FD>> fds;
  {
    std::unique_lock<std::mutex> l(mu_);
    fds.swap(fds_);
  }
  // Every FD (and its backend object, and its host FDs) goes away here,
  // outside any lock.
}

absl::Status Connection::NewChannel(internal::Response* resp) {
  std::unique_lock<std::mutex> l(channels_mu_);
  if (channels_closed_) {
    return syserr::FromErrno(ENOSYS, "Channel: connection is closing");
  }
  if (channels_.size() >= MaxChannels()) {
    return syserr::FromErrno(
        ENOMEM, absl::StrCat("Channel: connection already has ",
                             channels_.size(), " channels"));
  }
  if (windows_ == nullptr) {
    absl::StatusOr<flipcall::PacketWindowAllocator> a =
        flipcall::PacketWindowAllocator::Create();
    if (!a.ok()) return syserr::WithContext(a.status(), "Channel");
    windows_ = std::make_unique<flipcall::PacketWindowAllocator>(
        *std::move(a));
  }
  // The window holds the flipcall header, the channel header and the
  // largest payload (WIRE.md §8.1).
  absl::StatusOr<flipcall::PacketWindowDescriptor> desc = windows_->Allocate(
      flipcall::kPacketHeaderBytes + Channel::kHeaderSize + max_message_size_);
  if (!desc.ok()) return syserr::WithContext(desc.status(), "Channel");
  absl::StatusOr<std::unique_ptr<flipcall::Endpoint>> data =
      flipcall::Endpoint::Create(flipcall::Side::kServer, *desc);
  if (!data.ok()) return syserr::WithContext(data.status(), "Channel");
  absl::StatusOr<std::pair<unet::Socket, unet::Socket>> socks =
      fdchannel::NewConnectedSockets();
  if (!socks.ok()) return syserr::WithContext(socks.status(), "Channel");
  auto ch = std::make_unique<ServerChannel>();
  ch->channel = std::make_unique<Channel>(
      *std::move(data), fdchannel::Endpoint(std::move(socks->first)));
  ServerChannel* raw = ch.get();
  // The thread waits for the client's handshake before the reply goes out.
  try {
    ch->thread = std::thread([this, raw] { ServeChannel(raw); });
  } catch (const std::system_error& e) {
    server_->ctx().Warningf("lisafs connection on %s: Channel refused: %s",
                            mount_path_, e.what());
    return syserr::FromErrno(EAGAIN, absl::StrCat(
        "Channel: cannot start a thread: ", e.what()));
  }
  channels_.push_back(std::move(ch));
  fd::OwnedFd memfd(fcntl(windows_->fd(), F_DUPFD_CLOEXEC, 0));
  if (!memfd.valid()) {
    int err = errno;
    raw->channel->data().Shutdown();
    return syserr::FromErrno(err, "Channel: dup of the packet window memfd");
  }
  resp->fds.push_back(std::move(memfd));
  resp->fds.push_back(socks->second.Release());
  ChannelResp out;
  out.data_offset = desc->offset;
  out.data_length = desc->length;
  absl::StatusOr<std::vector<uint8_t>> b = Marshal(out);
  if (!b.ok()) return b.status();
  resp->payload = *std::move(b);
  return absl::OkStatus();
}

void Connection::ServeChannel(ServerChannel* sc) {
  const context::Context& ctx = server_->ctx();
  Channel& ch = *sc->channel;
  absl::StatusOr<uint32_t> n = ch.data().RecvFirst();
  // A zero-length datagram ends the loop quietly; the channel is not shut
  // down (WIRE.md §8.5, §12 Q11).
  while (n.ok() && *n > 0) {
    Frame req;
    if (absl::Status s = ch.ReadMessage(*n, max_message_size_, &req);
        !s.ok()) {
      n = s;
      break;
    }
    // FDs flow only from server to client: drop any the client sent.
    req.fds.clear();
    internal::Response resp = Dispatch(req);
    std::vector<int> fds;
    for (const fd::OwnedFd& f : resp.fds) fds.push_back(f.get());
    // The FDs are queued on the FD socket before the hand-over.
    const uint8_t sent = ch.SendFDs(fds);
    if (sent != fds.size()) {
      ctx.Debugf("lisafs channel on %s: sent %d of %d FDs", mount_path_,
                 sent, fds.size());
    }
    resp.fds.clear();
    absl::StatusOr<uint32_t> len = ch.WriteMessage(
        static_cast<uint16_t>(resp.mid), sent, resp.payload);
    if (!len.ok()) {
      n = len.status();
      break;
    }
    n = ch.data().SendRecv(*len);
  }
  if (!n.ok() && !flipcall::IsShutdown(n.status())) {
    ctx.Debugf("lisafs channel on %s: %s", mount_path_,
               n.status().ToString());
  }
}

// ---------------------------------------------------------------------------
// Server

Server::Server(const context::Context& ctx)
    : ctx_(ctx), root_(Node::NewRoot()) {}

Server::~Server() {
  Shutdown();
  Wait();
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
  std::unique_lock<std::mutex> l(mu_);
  if (shutdown_) {
    return syserr::FromErrno(ESHUTDOWN, "StartConnection after Shutdown");
  }
  JoinFinishedLocked();
  auto conn = std::make_unique<Connection>(this, std::move(sock), *path,
                                           std::move(impl), options);
  uint64_t id = next_id_++;
  Connection* raw = conn.release();
  active_.emplace(id, raw);
  try {
    threads_.emplace(id, std::thread([this, raw, id] { Serve(raw, id); }));
  } catch (const std::system_error& e) {
    active_.erase(id);
    l.unlock();
    delete raw;
    ctx_.Warningf("lisafs: connection on %s refused: %s", *path, e.what());
    return syserr::FromErrno(
        EAGAIN, absl::StrCat("StartConnection: cannot start a thread: ",
                             e.what()));
  }
  ctx_.Debugf("lisafs: connection %d serves %s%s", id, *path,
              options.readonly ? " (read-only)" : "");
  return absl::OkStatus();
}

void Server::Serve(Connection* conn, uint64_t id) {
  conn->Run();
  {
    std::unique_lock<std::mutex> l(mu_);
    active_.erase(id);
  }
  // No one can reach conn any more (Shutdown only sees active_).
  delete conn;
  ctx_.Debugf("lisafs: connection %d ended", id);
  std::unique_lock<std::mutex> l(mu_);
  finished_.push_back(id);
  ended_.notify_all();
}

void Server::JoinFinishedLocked() {
  for (uint64_t id : finished_) {
    auto it = threads_.find(id);
    if (it == threads_.end()) continue;
    // The thread has nothing left to do but return.
    it->second.join();
    threads_.erase(it);
  }
  finished_.clear();
}

void Server::Shutdown() {
  std::unique_lock<std::mutex> l(mu_);
  shutdown_ = true;
  for (auto& [id, conn] : active_) conn->Shutdown();
}

void Server::Wait() {
  std::unique_lock<std::mutex> l(mu_);
  ended_.wait(l, [this] { return finished_.size() == threads_.size(); });
  JoinFinishedLocked();
}

void Server::AwaitConnections(size_t n) const {
  std::unique_lock<std::mutex> l(mu_);
  ended_.wait(l,
              [&] { return threads_.size() - finished_.size() <= n; });
}

size_t Server::connections() const {
  std::unique_lock<std::mutex> l(mu_);
  return active_.size();
}

}  // namespace gvisor::lisafs
