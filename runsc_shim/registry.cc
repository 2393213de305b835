#include "runsc_shim/registry.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/hangup_watcher.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/validate.h"

namespace gvisor::shim {

struct ContainerRegistry::Container {
  Container(uint64_t id, std::string name, std::string gofer_socket,
            std::shared_ptr<devutil::GoferClient> client)
      : id(id),
        name(std::move(name)),
        gofer_socket(std::move(gofer_socket)),
        attach_time(absl::Now()),
        mount_fd_donated(client->HasHostFD()),
        client(std::move(client)) {}

  // MarkDisconnected moves an attached container to kDisconnected with
  // reason and reports whether it did (false if it already was).
  bool MarkDisconnected(absl::string_view reason) {
    std::lock_guard<std::mutex> l(state_mu);
    if (state == ContainerState::kDisconnected) return false;
    state = ContainerState::kDisconnected;
    disconnect_reason = std::string(reason);
    return true;
  }

  // Enter counts a call that uses client: NOT_FOUND once Close
  // has begun, RESOURCE_EXHAUSTED with max calls in flight already.
  absl::Status Enter(size_t max) {
    std::lock_guard<std::mutex> l(use_mu);
    if (closing) {
      return absl::NotFoundError(
          absl::StrCat("container \"", name, "\" is not attached"));
    }
    if (users >= max) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "container \"", name, "\" has ", users,
          " calls in flight (RegistryOptions::max_calls_per_container); "
          "device opens may be stuck in the kernel"));
    }
    ++users;
    return absl::OkStatus();
  }

  // Leave ends a call that Enter counted; the last one to leave after
  // BeginClose closes the client.
  void Leave() {
    bool close_now;
    {
      std::lock_guard<std::mutex> l(use_mu);
      --users;
      close_now = closing && users == 0 && !client_closed;
      if (close_now) client_closed = true;
    }
    if (close_now) client->Close();
  }

  // BeginClose admits no more calls and closes the client now if none is
  // running (else the last to Leave does). It never waits.
  void BeginClose() {
    bool close_now;
    {
      std::lock_guard<std::mutex> l(use_mu);
      closing = true;
      close_now = users == 0 && !client_closed;
      if (close_now) client_closed = true;
    }
    if (close_now) client->Close();
  }

  const uint64_t id;
  const std::string name;
  const std::string gofer_socket;
  const absl::Time attach_time;
  const bool mount_fd_donated;
  // client owns the gofer socket. client->Close() runs once Close has
  // begun and no call uses the container (BeginClose, Leave), so until then
  // the client's Shutdown, HungUp, hang-up watch and stall guards may be
  // used; the registry never holds the socket's FD number. GetDevGoferClient
  // shares it: a holder's calls fail with EBADF once it is closed, and the
  // object lives until the last holder lets go.
  const std::shared_ptr<devutil::GoferClient> client;
  // watch_id is the client's hang-up registration with the registry's
  // watcher; set under the registry's mu_ before the container is found.
  uint64_t watch_id = 0;

  // use_mu is never held across a call into the client.
  std::mutex use_mu;  // guards users, closing and client_closed
  size_t users = 0;   // calls between Enter and Leave
  bool closing = false;
  bool client_closed = false;
  // detached is set once the container has left the registry's maps.
  std::atomic<bool> detached{false};

  mutable std::mutex state_mu;  // guards state and disconnect_reason
  ContainerState state = ContainerState::kAttached;
  std::string disconnect_reason;
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

absl::StatusOr<ContainerInfo> ContainerRegistry::Attach(
    absl::string_view name, absl::string_view gofer_socket,
    absl::Time deadline) {
  InCall in_call(this);
  RETURN_IF_ERROR(ValidateContainerName(name));
  RETURN_IF_ERROR(ValidateSocketPath(gofer_socket));
  const std::string what = absl::StrCat("attach of container ", Quoted(name));
  if (Find(name) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat(what, ": already attached"));
  }
  absl::Time now = absl::Now();
  if (deadline == absl::InfiniteFuture()) {
    deadline = now + kDefaultAttachTimeout;
  }
  if (now >= deadline) {
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": deadline passed before connecting"));
  }

  absl::StatusOr<unet::Socket> sock =
      unet::Socket::Connect(gofer_socket, SOCK_STREAM, deadline);
  if (!sock.ok()) {
    if (syserr::ToErrno(sock.status()) == EAGAIN) {
      return Recode(absl::StatusCode::kDeadlineExceeded, sock.status(),
                    absl::StrCat(what,
                                 ": gofer's listen backlog stayed "
                                 "full until the deadline"));
    }
    return Recode(absl::StatusCode::kUnavailable, sock.status(), what);
  }

  // The Mount RPC is bounded by shutting the socket down at the deadline.
  // The guard owns a second Socket on the connection: NewGoferClient closes
  // its own on error, before the guard is disarmed.
  absl::StatusOr<unet::Socket> guard_sock = sock->Dup();
  if (!guard_sock.ok()) return syserr::WithContext(guard_sock.status(), what);
  unet::StallGuard guard = watcher_->Guard(*std::move(guard_sock), deadline);
  absl::StatusOr<std::unique_ptr<devutil::GoferClient>> client =
      devutil::NewGoferClient(ctx_, name, *std::move(sock), options_.client);
  const bool cut_off = guard.Disarm();
  if (cut_off) {
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": gofer at ", Quoted(gofer_socket),
                     " did not answer Mount before the deadline"));
  }
  if (!client.ok()) {
    return Recode(
        MountCode(syserr::ToErrno(client.status())), client.status(),
        absl::StrCat(what, ": mount over gofer at ", Quoted(gofer_socket)));
  }

  if (absl::Now() > deadline) {
    // The caller has given up: keep nothing it was told did not happen.
    (*client)->Close();
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": Mount finished after the deadline"));
  }

  auto c = std::make_shared<Container>(next_id_++, std::string(name),
                                       std::string(gofer_socket),
                                       std::move(*client));
  absl::Status inserted;
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    if (by_name_.contains(name)) {
      inserted =
          absl::AlreadyExistsError(absl::StrCat(what, ": already attached"));
    } else {
      by_name_.emplace(c->name, c);
      by_id_.emplace(c->id, c);
      // Under mu_, so that a hangup reported at once finds the container.
      absl::StatusOr<uint64_t> watch = c->client->WatchHangup(
          *watcher_, [this, id = c->id] { OnHangup(id); });
      if (watch.ok()) {
        c->watch_id = *watch;
      } else {
        by_name_.erase(c->name);
        by_id_.erase(c->id);
        inserted = syserr::WithContext(watch.status(), what);
      }
    }
  }
  if (!inserted.ok()) {
    c->client->Close();
    return inserted;
  }
  Changed();
  ctx_.Infof("attached container %s to gofer at %s (mount FD %s)", c->name,
             c->gofer_socket, c->mount_fd_donated ? "donated" : "not donated");
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
    by_id_.erase(c->id);
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
  // The client is closed only after BeginClose below, and this runs once
  // per container (it has left the maps).
  c->client->UnwatchHangup(*watcher_, c->watch_id);
  // Wake calls blocked on the gofer so that they end promptly, and tell
  // the gofer...
  c->client->Shutdown();
  // ...then close the client now, or when the last call lets go of it: a
  // call stuck in the kernel must not hold Detach (or shutdown) up.
  c->BeginClose();
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

std::shared_ptr<devutil::GoferClient> ContainerRegistry::GetDevGoferClient(
    absl::string_view name) {
  std::shared_ptr<Container> c = Find(name);
  return c == nullptr ? nullptr : c->client;
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
    std::lock_guard<std::mutex> l(c->state_mu);
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

absl::Status ContainerRegistry::Classify(Container& c, const absl::Status& s,
                                         absl::string_view op,
                                         Table table) const {
  std::string what = absl::StrCat("container ", Quoted(c.name), ": ", op);
  if (c.detached) {
    return Recode(absl::StatusCode::kNotFound, s,
                  absl::StrCat(what, ": detached during the call"));
  }
  const int err = syserr::ToErrno(s);
  if (IsTransportErrno(err) && c.client->HungUp()) {
    Disconnect(c, absl::StrCat("connection lost: ", s.message()));
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
  if (code == absl::StatusCode::kInternal && !c.mount_fd_donated) {
    return Recode(code, s, absl::StrCat(what, ": gofer fault"));
  }
  return Recode(code, s, what);
}

unet::StallGuard ContainerRegistry::Guard(Container& c, absl::string_view op,
                                          absl::Time deadline) const {
  // With the mount point's host FD, calls take the host fast path and make
  // no RPC: there is nothing to cut off.
  if (c.mount_fd_donated) return unet::StallGuard();
  absl::Time now = absl::Now();
  absl::Time at = StallDeadline(deadline);
  std::string reason =
      absl::StrCat("gofer did not answer ", op, " within ",
                   absl::FormatDuration(at - now), "; connection cut off");
  return c.client->GuardStall(*watcher_, at,
                              [&c, reason, this] { Disconnect(c, reason); });
}

template <typename T>
absl::StatusOr<T> ContainerRegistry::RunCall(
    absl::string_view name, absl::string_view op, Table table,
    absl::Time deadline,
    absl::FunctionRef<absl::StatusOr<T>(devutil::GoferClient&)> call) {
  ASSIGN_OR_RETURN(std::shared_ptr<Container> c, Acquire(name, deadline));
  Container& cont = *c;
  RETURN_IF_ERROR(cont.Enter(options_.max_calls_per_container));
  absl::Cleanup leave = [&cont] { cont.Leave(); };
  const std::string what = absl::StrCat("container ", Quoted(name), ": ", op);
  unet::StallGuard guard = Guard(cont, op, deadline);
  absl::StatusOr<T> result = call(*cont.client);
  if (guard.Disarm()) {
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": gofer did not answer; connection cut off"));
  }
  if (!result.ok()) return Classify(cont, result.status(), op, table);
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
  Disconnect(
      *c, absl::StrCat("gofer at ", c->gofer_socket, " closed the connection"));
}

bool ContainerRegistry::Disconnect(Container& c,
                                   absl::string_view reason) const {
  if (!c.MarkDisconnected(reason)) return false;
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
  info.gofer_socket = c.gofer_socket;
  info.attach_time = c.attach_time;
  info.mount_fd_donated = c.mount_fd_donated;
  std::lock_guard<std::mutex> l(c.state_mu);
  info.state = c.state;
  info.disconnect_reason = c.disconnect_reason;
  return info;
}

}  // namespace gvisor::shim
