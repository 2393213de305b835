#include "runsc_shim/registry.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/hangup_watcher.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/gofer_check.h"
#include "runsc_shim/validate.h"

namespace gvisor::shim {

// Connection is one gofer connection of a container: its client, and the
// registry's count of the calls that use it. A container has one current
// connection; Replace retires it for a new one, and Detach retires it for
// none. A retired connection's client is closed once no call uses it
// (at once if none does). Its counters are guarded by the owning
// Container's mu.
struct ContainerRegistry::Connection {
  Connection(uint64_t id, std::string gofer_socket,
             std::shared_ptr<devutil::GoferClient> client)
      : id(id),
        gofer_socket(std::move(gofer_socket)),
        mount_fd_donated(client->HasHostFD()),
        client(std::move(client)) {}

  // id keys the connection's hang-up reports (by_id_).
  const uint64_t id;
  const std::string gofer_socket;
  const bool mount_fd_donated;
  // client owns the gofer socket. client->Close() runs once the connection
  // is retired and no call uses it, so until then the client's Shutdown,
  // HungUp, hang-up watch and stall guards may be used; the registry never
  // holds the socket's FD number. GetDevGoferClient shares it: a holder's
  // calls fail with EBADF once it is closed, and the object lives until
  // the last holder lets go.
  const std::shared_ptr<devutil::GoferClient> client;
  // watch_id is the client's hang-up registration with the registry's
  // watcher; set under the registry's mu_ before the connection is found.
  uint64_t watch_id = 0;

  size_t users = 0;  // calls using client (Container::mu)
  bool retired = false;
  bool client_closed = false;
};

struct ContainerRegistry::Container {
  Container(std::string name, std::shared_ptr<Connection> first)
      : name(std::move(name)),
        attach_time(absl::Now()),
        conn(std::move(first)) {}

  // Enter counts a call on the current connection and returns it: NOT_FOUND
  // once the container is closing, RESOURCE_EXHAUSTED with max calls in
  // flight already (on all its connections: a stuck call holds a thread
  // whichever connection it began on).
  absl::StatusOr<std::shared_ptr<Connection>> Enter(size_t max) {
    std::lock_guard<std::mutex> l(mu);
    if (closing) {
      return absl::NotFoundError(
          absl::StrCat("container \"", name, "\" is not attached"));
    }
    if (calls >= max) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "container \"", name, "\" has ", calls,
          " calls in flight (RegistryOptions::max_calls_per_container); "
          "device opens may be stuck in the kernel"));
    }
    ++calls;
    ++conn->users;
    return conn;
  }

  // Leave ends a call that Enter counted on c; the last call to leave a
  // retired connection closes its client.
  void Leave(Connection& c) {
    bool close_now;
    {
      std::lock_guard<std::mutex> l(mu);
      --calls;
      --c.users;
      close_now = c.retired && c.users == 0 && !c.client_closed;
      if (close_now) {
        c.client_closed = true;
        std::erase_if(draining, [&c](const std::shared_ptr<Connection>& d) {
          return d.get() == &c;
        });
      }
    }
    if (close_now) c.client->Close();
  }

  // Retire admits no more calls on c and closes its client now if none
  // uses it (else the last to Leave does). It never waits.
  void Retire(const std::shared_ptr<Connection>& c) {
    bool close_now;
    {
      std::lock_guard<std::mutex> l(mu);
      c->retired = true;
      close_now = c->users == 0 && !c->client_closed;
      if (close_now) {
        c->client_closed = true;
      } else if (!c->client_closed) {
        draining.push_back(c);
      }
    }
    if (close_now) c->client->Close();
  }

  // Current returns the current connection.
  std::shared_ptr<Connection> Current() const {
    std::lock_guard<std::mutex> l(mu);
    return conn;
  }

  // MarkDisconnected moves the container to kDisconnected with reason if
  // conn_id is its current connection and it was attached, and reports
  // whether it did: a retired connection's hang-up or cut-off says
  // nothing of the container.
  bool MarkDisconnected(uint64_t conn_id, absl::string_view reason) {
    std::lock_guard<std::mutex> l(mu);
    if (conn->id != conn_id || state == ContainerState::kDisconnected) {
      return false;
    }
    state = ContainerState::kDisconnected;
    disconnect_reason = std::string(reason);
    return true;
  }

  const std::string name;
  const absl::Time attach_time;
  // detached is set once the container has left the registry's maps.
  std::atomic<bool> detached{false};

  mutable std::mutex mu;  // guards everything below, and Connection counters
  std::shared_ptr<Connection> conn;  // the current connection
  // draining holds retired connections that calls still use.
  std::vector<std::shared_ptr<Connection>> draining;
  size_t calls = 0;      // calls between Enter and Leave
  bool closing = false;  // detached: no more calls
  ContainerState state = ContainerState::kAttached;
  std::string disconnect_reason;
  absl::Time reattach_time = absl::InfinitePast();
  uint64_t reattaches = 0;
  std::optional<ManagedGoferInfo> gofer;  // a managed container's gofer

  bool Managed() const {
    std::lock_guard<std::mutex> l(mu);
    return gofer.has_value();
  }
};

// InCall counts one call in Attach, DirentNames or OpenAt, so that the
// destructor does not free what a running call still uses.
class ContainerRegistry::InCall {
 public:
  explicit InCall(const ContainerRegistry* r) : r_(r) {
    std::lock_guard<std::mutex> l(r_->calls_mu_);
    ++r_->calls_;
  }
  ~InCall() {
    std::lock_guard<std::mutex> l(r_->calls_mu_);
    if (--r_->calls_ == 0) r_->calls_done_.notify_all();
  }
  InCall(const InCall&) = delete;
  InCall& operator=(const InCall&) = delete;

 private:
  const ContainerRegistry* const r_;
};

namespace {

std::string Quoted(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

// Recode returns s with code, "<what>: " before its message, and its
// payloads (the errno) kept.
absl::Status Recode(absl::StatusCode code, const absl::Status& s,
                    absl::string_view what) {
  return syserr::WithCode(code, syserr::WithContext(s, what));
}

absl::Status NotAttached(absl::string_view name) {
  return absl::NotFoundError(
      absl::StrCat("container ", Quoted(name), " is not attached"));
}

// DeviceCode is the code of a failed open, by its errno (see the table in
// registry.h); kInternal for anything that names no device condition.
absl::StatusCode DeviceCode(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENODEV:
    case ENXIO:
      return absl::StatusCode::kNotFound;
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::StatusCode::kPermissionDenied;
    case ELOOP:
    case EISDIR:
    case EBUSY:
    case ETXTBSY:
    case EAGAIN:
      return absl::StatusCode::kFailedPrecondition;
    case ENOBUFS:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case ENOSPC:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kInternal;
  }
}

// ListingCode is the code of a failed listing of the served directory:
// only permissions and resources name a condition of their own; a
// directory that is missing or not one is the gofer's fault.
absl::StatusCode ListingCode(int err) {
  switch (err) {
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case ENOBUFS:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kInternal;
  }
}

// StatCode is the code of a failed stat (see ContainerRegistry::Stat).
absl::StatusCode StatCode(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::StatusCode::kNotFound;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case ELOOP:
      return absl::StatusCode::kFailedPrecondition;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kInternal;
  }
}

// MountCode is the code of a failed Mount: the gofer cannot serve
// (UNAVAILABLE), unless this process ran out of resources.
absl::StatusCode MountCode(int err) {
  switch (err) {
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kUnavailable;
  }
}

// IsTransportErrno reports whether err is how a lost gofer connection shows
// up: lisafs turns every transport failure into EIO.
bool IsTransportErrno(int err) {
  return err == EIO || err == ECONNRESET || err == EPIPE || err == ENOTCONN ||
         err == ESHUTDOWN;
}

// IsProtocolErrno reports whether err is how a Mount fails when the answer
// is no LISAFS frame or there is none: a transport failure, a MID
// mismatch, an undecodable answer (pkg/lisafs/README.md §2.6).
bool IsProtocolErrno(int err) {
  return IsTransportErrno(err) || err == EINVAL || err == EMSGSIZE ||
         err == EPROTO || err == EBADMSG;
}

// NotAGofer is the UNAVAILABLE (EPROTO) of an attach whose peer is not a
// LISAFS gofer: "<mount_over>: <why>", then the Mount failure if any.
absl::Status NotAGofer(absl::string_view mount_over, absl::string_view why,
                       const absl::Status& mount) {
  std::string msg = absl::StrCat(mount_over, ": ", why);
  if (!mount.ok()) absl::StrAppend(&msg, " (", mount.message(), ")");
  return syserr::WithCode(absl::StatusCode::kUnavailable,
                          syserr::FromErrno(EPROTO, msg));
}

// StallDeadline is when an RPC started now with the caller's deadline is
// cut off (see ContainerRegistry::OpenAt).
absl::Time StallDeadline(absl::Time deadline) {
  absl::Time now = absl::Now();
  return std::min(std::max(deadline, now + ContainerRegistry::kMinStallTimeout),
                  now + ContainerRegistry::kMaxStallTimeout);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ContainerRegistry>> ContainerRegistry::Create(
    const context::Context& ctx, const RegistryOptions& options) {
  std::unique_ptr<ContainerRegistry> r(new ContainerRegistry(ctx, options));
  ASSIGN_OR_RETURN(r->watcher_, unet::HangupWatcher::Create());
  return r;
}

ContainerRegistry::~ContainerRegistry() {
  CloseAll();
  {
    std::unique_lock<std::mutex> l(calls_mu_);
    calls_done_.wait(l, [this] { return calls_ == 0; });
  }
  // Stop the watcher before the maps go: its thread calls OnHangup.
  watcher_.reset();
}

absl::StatusOr<unet::Socket> ContainerRegistry::Dial(
    absl::string_view what, absl::string_view gofer_socket,
    absl::Time deadline) const {
  absl::StatusOr<unet::Socket> sock =
      unet::Socket::Connect(gofer_socket, SOCK_STREAM, deadline);
  if (sock.ok()) return sock;
  if (syserr::ToErrno(sock.status()) == EAGAIN) {
    return Recode(absl::StatusCode::kDeadlineExceeded, sock.status(),
                  absl::StrCat(what,
                               ": gofer's listen backlog stayed "
                               "full until the deadline"));
  }
  return Recode(absl::StatusCode::kUnavailable, sock.status(), what);
}

absl::StatusOr<std::unique_ptr<devutil::GoferClient>> ContainerRegistry::Mount(
    absl::string_view what, absl::string_view name, absl::string_view label,
    absl::string_view gofer_socket, unet::Socket sock,
    absl::Time deadline) const {
  const std::string mount_over =
      absl::StrCat(what, ": mount over gofer ", label);
  // A peer that has spoken before any request is no LISAFS gofer (see
  // gofer_check.h): say so rather than send it a Mount.
  if (std::string why = SpokeFirst(sock); !why.empty()) {
    return NotAGofer(mount_over, why, absl::OkStatus());
  }
  // The Mount RPC is bounded by shutting the socket down at the deadline.
  // The guard owns a second Socket on the connection: NewGoferClient closes
  // its own on error, before the guard is disarmed.
  absl::StatusOr<unet::Socket> guard_sock = sock.Dup();
  if (!guard_sock.ok()) return syserr::WithContext(guard_sock.status(), what);
  unet::StallGuard guard = watcher_->Guard(*std::move(guard_sock), deadline);
  absl::StatusOr<std::unique_ptr<devutil::GoferClient>> client =
      devutil::NewGoferClient(ctx_, name, std::move(sock), options_.client);
  const bool cut_off = guard.Disarm();
  if (cut_off) {
    return absl::DeadlineExceededError(absl::StrCat(
        what, ": gofer ", label,
        " did not answer Mount before the deadline: it is not a LISAFS "
        "gofer, or it is stuck or stopped"));
  }
  if (!client.ok()) {
    const int err = syserr::ToErrno(client.status());
    // A broken answer to Mount (pkg/lisafs/README.md §2.6): a second look
    // at the peer's first bytes tells a wrong kind of server from a broken
    // gofer.
    if (IsProtocolErrno(err) && !gofer_socket.empty()) {
      if (std::string why = AnswerToMount(gofer_socket, deadline);
          !why.empty()) {
        return NotAGofer(mount_over, why, client.status());
      }
    }
    return Recode(MountCode(err), client.status(), mount_over);
  }
  if (absl::Now() > deadline) {
    // The caller has given up: keep nothing it was told did not happen.
    (*client)->Close();
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": Mount finished after the deadline"));
  }
  return client;
}

absl::StatusOr<absl::Time> ContainerRegistry::StartBy(absl::string_view what,
                                                      absl::Time deadline) {
  absl::Time now = absl::Now();
  if (deadline == absl::InfiniteFuture()) {
    deadline = now + kDefaultAttachTimeout;
  }
  if (now >= deadline) {
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": deadline passed before connecting"));
  }
  return deadline;
}

absl::StatusOr<ContainerInfo> ContainerRegistry::Attach(
    absl::string_view name, absl::string_view gofer_socket,
    absl::Time deadline) {
  return Connect(name, /*replace=*/false, gofer_socket, std::nullopt, deadline,
                 std::nullopt);
}

absl::StatusOr<ContainerInfo> ContainerRegistry::Attach(
    absl::string_view name, unet::Socket gofer, absl::Time deadline,
    std::optional<ManagedGoferInfo> managed) {
  return Connect(name, /*replace=*/false, "", std::move(gofer), deadline,
                 std::move(managed));
}

absl::StatusOr<ContainerInfo> ContainerRegistry::Replace(
    absl::string_view name, absl::string_view gofer_socket,
    absl::Time deadline) {
  return Connect(name, /*replace=*/true, gofer_socket, std::nullopt, deadline,
                 std::nullopt);
}

absl::StatusOr<ContainerInfo> ContainerRegistry::Replace(
    absl::string_view name, unet::Socket gofer, absl::Time deadline,
    std::optional<ManagedGoferInfo> managed) {
  return Connect(name, /*replace=*/true, "", std::move(gofer), deadline,
                 std::move(managed));
}

absl::Status ContainerRegistry::SetGofer(absl::string_view name,
                                         ManagedGoferInfo gofer) {
  std::shared_ptr<Container> c = Find(name);
  if (c == nullptr) return NotAttached(name);
  {
    std::lock_guard<std::mutex> l(c->mu);
    gofer.version = c->gofer.has_value() ? c->gofer->version + 1 : 1;
    c->gofer = std::move(gofer);
  }
  Changed();
  return absl::OkStatus();
}

absl::StatusOr<ContainerInfo> ContainerRegistry::Connect(
    absl::string_view name, bool replace, absl::string_view gofer_socket,
    std::optional<unet::Socket> gofer, absl::Time deadline,
    std::optional<ManagedGoferInfo> managed) {
  InCall in_call(this);
  RETURN_IF_ERROR(ValidateContainerName(name));
  if (!gofer.has_value()) RETURN_IF_ERROR(ValidateSocketPath(gofer_socket));
  const std::string what = absl::StrCat(replace ? "reattach" : "attach",
                                        " of container ", Quoted(name));
  if (gofer.has_value()) RETURN_IF_ERROR(CheckConnected(what, *gofer));
  const std::shared_ptr<Container> found = Find(name);
  const bool attached = found != nullptr;
  if (!replace && attached) {
    return absl::AlreadyExistsError(absl::StrCat(what, ": already attached"));
  }
  if (replace && !attached) return NotAttached(name);
  if (replace && !gofer.has_value() && found->Managed()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what,
        ": the shim runs this container's gofer (a managed gofer); "
        "detach it and attach it again to use another"));
  }
  ASSIGN_OR_RETURN(deadline, StartBy(what, deadline));
  unet::Socket sock;
  if (gofer.has_value()) {
    sock = *std::move(gofer);
  } else {
    ASSIGN_OR_RETURN(sock, Dial(what, gofer_socket, deadline));
  }
  return Install(what, name, gofer_socket, std::move(sock), deadline, replace,
                 std::move(managed));
}

absl::Status ContainerRegistry::CheckConnected(absl::string_view what,
                                               const unet::Socket& sock) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (sock.fd() < 0 ||
      getsockopt(sock.fd(), SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    return syserr::WithCode(
        absl::StatusCode::kInvalidArgument,
        syserr::FromErrno(EBADF, absl::StrCat(what, ": no gofer socket")));
  }
  if (type != SOCK_STREAM) {
    return syserr::WithCode(
        absl::StatusCode::kInvalidArgument,
        syserr::FromErrno(EINVAL, absl::StrCat(what,
                                               ": the gofer socket is not "
                                               "SOCK_STREAM")));
  }
  return absl::OkStatus();
}

absl::StatusOr<ContainerInfo> ContainerRegistry::Install(
    absl::string_view what, absl::string_view name,
    absl::string_view gofer_socket, unet::Socket sock, absl::Time deadline,
    bool replace, std::optional<ManagedGoferInfo> managed) {
  const std::string label = gofer_socket.empty()
                                ? std::string("on the connected socket")
                                : absl::StrCat("at ", Quoted(gofer_socket));
  ASSIGN_OR_RETURN(
      std::unique_ptr<devutil::GoferClient> client,
      Mount(what, name, label, gofer_socket, std::move(sock), deadline));
  auto conn = std::make_shared<Connection>(
      next_id_++, std::string(gofer_socket), std::move(client));
  std::shared_ptr<Container> c;
  std::shared_ptr<Connection> old;
  absl::Status inserted;
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    auto it = by_name_.find(name);
    if (!replace && it != by_name_.end()) {
      inserted =
          absl::AlreadyExistsError(absl::StrCat(what, ": already attached"));
    } else if (replace && it == by_name_.end()) {
      inserted = NotAttached(name);
    } else {
      c = replace ? it->second
                  : std::make_shared<Container>(std::string(name), conn);
      if (managed.has_value()) {
        std::lock_guard<std::mutex> cl(c->mu);
        managed->version = c->gofer.has_value() ? c->gofer->version + 1 : 1;
        c->gofer = std::move(managed);
      }
      // Under mu_, so that a hangup reported at once finds the container.
      absl::StatusOr<uint64_t> watch = conn->client->WatchHangup(
          *watcher_, [this, id = conn->id] { OnHangup(id); });
      if (!watch.ok()) {
        inserted = syserr::WithContext(watch.status(), what);
      } else {
        conn->watch_id = *watch;
        by_id_.emplace(conn->id, c);
        if (replace) {
          std::lock_guard<std::mutex> cl(c->mu);
          old = std::exchange(c->conn, conn);
          c->state = ContainerState::kAttached;
          c->disconnect_reason.clear();
          c->reattach_time = absl::Now();
          ++c->reattaches;
          by_id_.erase(old->id);
        } else {
          by_name_.emplace(c->name, c);
        }
      }
    }
  }
  if (!inserted.ok()) {
    conn->client->Close();
    return inserted;
  }
  if (old != nullptr) {
    // The old connection serves the calls that began on it, then closes.
    old->client->UnwatchHangup(*watcher_, old->watch_id);
    c->Retire(old);
  }
  Changed();
  ctx_.Infof("%s container %s to gofer %s (mount FD %s)",
             replace ? "reattached" : "attached", c->name, label,
             conn->mount_fd_donated ? "donated" : "not donated");
  return Snapshot(*c);
}

absl::Status ContainerRegistry::Detach(absl::string_view name) {
  std::shared_ptr<Container> c;
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return NotAttached(name);
    c = std::move(it->second);
    by_name_.erase(it);
    by_id_.erase(c->Current()->id);
  }
  Close(std::move(c));
  Changed();
  ctx_.Infof("detached container %s", name);
  return absl::OkStatus();
}

void ContainerRegistry::CloseAll() {
  std::vector<std::shared_ptr<Container>> all;
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    all.reserve(by_name_.size());
    for (auto& [name, c] : by_name_) all.push_back(std::move(c));
    by_name_.clear();
    by_id_.clear();
  }
  for (auto& c : all) Close(std::move(c));
  if (!all.empty()) Changed();
}

void ContainerRegistry::Close(std::shared_ptr<Container> c) {
  c->detached = true;
  std::shared_ptr<Connection> conn;
  std::vector<std::shared_ptr<Connection>> draining;
  {
    std::lock_guard<std::mutex> l(c->mu);
    c->closing = true;
    conn = c->conn;
    draining = c->draining;
  }
  // The client is closed only after Retire below, and this runs once per
  // container (it has left the maps).
  conn->client->UnwatchHangup(*watcher_, conn->watch_id);
  // Wake calls blocked on the gofers (a connection replaced earlier may
  // still serve some) so that they end promptly, and tell the gofers...
  conn->client->Shutdown();
  for (const auto& d : draining) d->client->Shutdown();
  // ...then close the client now, or when the last call lets go of it: a
  // call stuck in the kernel must not hold Detach (or shutdown) up.
  c->Retire(conn);
}

std::vector<ContainerInfo> ContainerRegistry::List() const {
  std::vector<std::shared_ptr<Container>> all;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    all.reserve(by_name_.size());
    for (const auto& [name, c] : by_name_) all.push_back(c);
  }
  std::vector<ContainerInfo> out;
  out.reserve(all.size());
  for (const auto& c : all) out.push_back(Snapshot(*c));
  return out;
}

absl::StatusOr<ContainerInfo> ContainerRegistry::Get(
    absl::string_view name) const {
  std::shared_ptr<Container> c = Find(name);
  if (c == nullptr) return NotAttached(name);
  return Snapshot(*c);
}

size_t ContainerRegistry::size() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return by_name_.size();
}

ContainerRegistry::StateCounts ContainerRegistry::CountStates() const {
  std::vector<std::shared_ptr<Container>> all;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    all.reserve(by_name_.size());
    for (const auto& [name, c] : by_name_) all.push_back(c);
  }
  StateCounts counts;
  for (const auto& c : all) {
    std::lock_guard<std::mutex> l(c->mu);
    if (c->state == ContainerState::kAttached) {
      ++counts.attached;
    } else {
      ++counts.disconnected;
    }
  }
  return counts;
}

std::shared_ptr<devutil::GoferClient> ContainerRegistry::GetDevGoferClient(
    absl::string_view name) {
  std::shared_ptr<Container> c = Find(name);
  return c == nullptr ? nullptr : c->Current()->client;
}

std::shared_ptr<ContainerRegistry::Container> ContainerRegistry::Find(
    absl::string_view name) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

absl::StatusOr<std::shared_ptr<ContainerRegistry::Container>>
ContainerRegistry::Acquire(absl::string_view name, absl::Time deadline) const {
  std::shared_ptr<Container> c = Find(name);
  if (c == nullptr) return NotAttached(name);
  {
    std::lock_guard<std::mutex> l(c->mu);
    if (c->state == ContainerState::kDisconnected) {
      return absl::UnavailableError(
          absl::StrCat("container ", Quoted(name),
                       ": gofer disconnected: ", c->disconnect_reason));
    }
  }
  if (absl::Now() >= deadline) {
    return absl::DeadlineExceededError(absl::StrCat(
        "container ", Quoted(name), ": deadline passed before the call"));
  }
  return c;
}

absl::Status ContainerRegistry::Classify(Container& c, Connection& conn,
                                         const absl::Status& s,
                                         absl::string_view op,
                                         Table table) const {
  std::string what = absl::StrCat("container ", Quoted(c.name), ": ", op);
  if (c.detached) {
    return Recode(absl::StatusCode::kNotFound, s,
                  absl::StrCat(what, ": detached during the call"));
  }
  const int err = syserr::ToErrno(s);
  if (IsTransportErrno(err) && conn.client->HungUp()) {
    Disconnect(c, conn.id, absl::StrCat("connection lost: ", s.message()));
    return Recode(absl::StatusCode::kUnavailable, s,
                  absl::StrCat(what, ": gofer disconnected"));
  }
  absl::StatusCode code = absl::StatusCode::kInternal;
  switch (table) {
    case Table::kDevice:
      code = DeviceCode(err);
      break;
    case Table::kListing:
      code = ListingCode(err);
      break;
    case Table::kStat:
      code = StatCode(err);
      break;
  }
  if (code == absl::StatusCode::kInternal && !conn.mount_fd_donated) {
    return Recode(code, s, absl::StrCat(what, ": gofer fault"));
  }
  return Recode(code, s, what);
}

unet::StallGuard ContainerRegistry::Guard(Container& c, Connection& conn,
                                          absl::string_view op,
                                          absl::Time deadline) const {
  // With the mount point's host FD, calls take the host fast path and make
  // no RPC: there is nothing to cut off.
  if (conn.mount_fd_donated) return unet::StallGuard();
  absl::Time now = absl::Now();
  absl::Time at = StallDeadline(deadline);
  std::string reason =
      absl::StrCat("gofer did not answer ", op, " within ",
                   absl::FormatDuration(at - now), "; connection cut off");
  return conn.client->GuardStall(
      *watcher_, at,
      [&c, id = conn.id, reason, this] { Disconnect(c, id, reason); });
}

template <typename T>
absl::StatusOr<T> ContainerRegistry::RunCall(
    absl::string_view name, absl::string_view op, Table table,
    absl::Time deadline,
    absl::FunctionRef<absl::StatusOr<T>(devutil::GoferClient&)> call) {
  ASSIGN_OR_RETURN(std::shared_ptr<Container> c, Acquire(name, deadline));
  Container& cont = *c;
  ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn,
                   cont.Enter(options_.max_calls_per_container));
  // The call stays on this connection, whatever Replace does meanwhile.
  absl::Cleanup leave = [&cont, &conn] { cont.Leave(*conn); };
  const std::string what = absl::StrCat("container ", Quoted(name), ": ", op);
  unet::StallGuard guard = Guard(cont, *conn, op, deadline);
  absl::StatusOr<T> result = call(*conn->client);
  if (guard.Disarm()) {
    stall_cutoffs_.fetch_add(1);
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": gofer did not answer; connection cut off"));
  }
  if (!result.ok()) return Classify(cont, *conn, result.status(), op, table);
  if (cont.detached) {
    // The caller is told the container is gone: what the call returned
    // (an opened FD) is dropped here.
    return Recode(absl::StatusCode::kNotFound, NotAttached(name),
                  absl::StrCat(what, ": detached during the call"));
  }
  if (absl::Now() > deadline) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": deadline passed"));
  }
  return result;
}

absl::StatusOr<std::vector<std::string>> ContainerRegistry::DirentNames(
    absl::string_view name, absl::Time deadline) {
  InCall in_call(this);
  return RunCall<std::vector<std::string>>(
      name, "list devices", Table::kListing, deadline,
      [this](devutil::GoferClient& client) {
        return client.DirentNames(ctx_);
      });
}

absl::StatusOr<std::vector<DeviceEntry>> ContainerRegistry::DirentStats(
    absl::string_view name, absl::Time deadline) {
  InCall in_call(this);
  ASSIGN_OR_RETURN(std::vector<std::string> names,
                   RunCall<std::vector<std::string>>(
                       name, "list devices", Table::kListing, deadline,
                       [this](devutil::GoferClient& client) {
                         return client.DirentNames(ctx_);
                       }));
  std::sort(names.begin(), names.end());
  std::vector<DeviceEntry> out;
  out.reserve(names.size());
  for (std::string& entry : names) {
    if (entry.empty() || entry == "." || entry == ".." ||
        entry.find('/') != std::string::npos ||
        entry.find('\0') != std::string::npos) {
      return Recode(
          absl::StatusCode::kInternal,
          syserr::FromErrno(EIO, absl::StrCat("the listing holds ",
                                              Quoted(absl::CHexEscape(entry)),
                                              ", which names no entry")),
          absl::StrCat("container ", Quoted(name),
                       ": list devices: gofer fault"));
    }
    absl::StatusOr<struct stat> st = RunCall<struct stat>(
        name, absl::StrCat("stat ", Quoted(entry)), Table::kStat, deadline,
        [&](devutil::GoferClient& client) {
          return client.Lstat(ctx_, entry);
        });
    if (!st.ok()) {
      const int err = syserr::ToErrno(st.status());
      const absl::StatusCode code = st.status().code();
      if (code == absl::StatusCode::kNotFound && err == ENOENT &&
          Find(name) != nullptr) {
        continue;  // removed since the listing
      }
      if (code == absl::StatusCode::kPermissionDenied) {
        out.push_back(DeviceEntry{std::move(entry), std::nullopt});
        continue;
      }
      return st.status();
    }
    out.push_back(DeviceEntry{std::move(entry), *st});
  }
  return out;
}

absl::StatusOr<fd::OwnedFd> ContainerRegistry::OpenAt(absl::string_view name,
                                                      absl::string_view relpath,
                                                      uint32_t flags,
                                                      absl::Time deadline) {
  InCall in_call(this);
  RETURN_IF_ERROR(ValidateDevicePath(relpath));
  return RunCall<fd::OwnedFd>(name, absl::StrCat("open ", Quoted(relpath)),
                              Table::kDevice, deadline,
                              [&](devutil::GoferClient& client) {
                                return client.OpenAt(ctx_, relpath, flags);
                              });
}

absl::StatusOr<struct stat> ContainerRegistry::Stat(absl::string_view name,
                                                    absl::string_view relpath,
                                                    absl::Time deadline) {
  InCall in_call(this);
  RETURN_IF_ERROR(ValidateDevicePath(relpath));
  return RunCall<struct stat>(
      name, absl::StrCat("stat ", Quoted(relpath)), Table::kStat, deadline,
      [&](devutil::GoferClient& client) { return client.Stat(ctx_, relpath); });
}

void ContainerRegistry::OnHangup(uint64_t id) {
  std::shared_ptr<Container> c;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    c = it->second;
  }
  std::shared_ptr<Connection> conn = c->Current();
  Disconnect(*c, id,
             conn->gofer_socket.empty()
                 ? std::string("gofer closed the connection")
                 : absl::StrCat("gofer at ", conn->gofer_socket,
                                " closed the connection"));
}

bool ContainerRegistry::Disconnect(Container& c, uint64_t conn_id,
                                   absl::string_view reason) const {
  if (!c.MarkDisconnected(conn_id, reason)) return false;
  ctx_.Warningf("container %s: %s", c.name, reason);
  Changed();
  return true;
}

void ContainerRegistry::Changed() const {
  {
    std::lock_guard<std::mutex> l(changes_mu_);
    ++generation_;
  }
  changed_.notify_all();
}

void ContainerRegistry::WakeWaiters() const {
  {
    std::lock_guard<std::mutex> l(changes_mu_);
    ++wakeups_;
  }
  changed_.notify_all();
}

uint64_t ContainerRegistry::generation() const {
  std::lock_guard<std::mutex> l(changes_mu_);
  return generation_;
}

uint64_t ContainerRegistry::AwaitChange(uint64_t seen,
                                        absl::Time deadline) const {
  std::unique_lock<std::mutex> l(changes_mu_);
  const uint64_t wakeups = wakeups_;
  auto changed = [&] { return generation_ != seen || wakeups_ != wakeups; };
  if (deadline == absl::InfiniteFuture()) {
    changed_.wait(l, changed);
  } else {
    changed_.wait_until(l, absl::ToChronoTime(deadline), changed);
  }
  return generation_;
}

ContainerInfo ContainerRegistry::Snapshot(const Container& c) {
  ContainerInfo info;
  info.name = c.name;
  info.attach_time = c.attach_time;
  std::lock_guard<std::mutex> l(c.mu);
  info.gofer_socket = c.conn->gofer_socket;
  info.mount_fd_donated = c.conn->mount_fd_donated;
  info.state = c.state;
  info.disconnect_reason = c.disconnect_reason;
  info.reattach_time = c.reattach_time;
  info.reattaches = c.reattaches;
  info.gofer = c.gofer;
  return info;
}

}  // namespace gvisor::shim
