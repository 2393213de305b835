#include "pkg/lisafs/server.h"

#include <errno.h>

#include <utility>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "pkg/lisafs/handlers.h"
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
    internal::Response resp;
    if (frame.oversized) {
      resp = ErrorResponse(EIO);
    } else if (frame.mid >= kNumMIDs || !internal::HasHandler(frame.mid) ||
               !Supports(frame.mid)) {
      resp = ErrorResponse(EOPNOTSUPP);
    } else {
      resp.mid = static_cast<MID>(frame.mid);
      absl::Status hs =
          internal::Handle(*this, resp.mid, frame.payload, &resp);
      if (!hs.ok()) {
        ctx.Debugf("lisafs %s: %s", MIDName(resp.mid), hs.ToString());
        resp = ErrorResponse(syserr::ToErrno(hs));
      } else if (resp.payload.size() > max_message_size_) {
        resp = ErrorResponse(EIO);
      }
    }
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
  std::map<FDID, std::shared_ptr<FD>> fds;
  {
    std::unique_lock<std::mutex> l(mu_);
    fds.swap(fds_);
  }
  // Every FD (and its backend object, and its host FDs) goes away here,
  // outside any lock.
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
  threads_.emplace(id, std::thread([this, raw, id] { Serve(raw, id); }));
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
