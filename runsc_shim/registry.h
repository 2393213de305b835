// ContainerRegistry: the shim's table of attached containers, one devutil
// GoferClient each, as the sentry keeps them (AddDevGofer, RemoveDevGofer,
// GetDevGoferClient). The gRPC service (service.h) is a thin layer over it;
// nothing here depends on gRPC.
//
// Each container costs one FD (its gofer socket) and no thread: a single
// unet::HangupWatcher notices every gofer that goes away and cuts off every
// gofer that stops answering (pkg/unet/hangup_watcher.h), through each
// GoferClient's hooks: the registry never holds a socket's FD number.

#ifndef GVISOR_RUNSC_SHIM_REGISTRY_H_
#define GVISOR_RUNSC_SHIM_REGISTRY_H_

#include <stdint.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/fd/fd.h"
#include "pkg/unet/hangup_watcher.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/gofer_spec.h"

namespace gvisor::shim {

// ContainerState is a container's connection state.
enum class ContainerState {
  // kAttached: the gofer connection is up.
  kAttached,
  // kDisconnected: the gofer went away or was cut off; calls fail with
  // UNAVAILABLE until the container is detached.
  kDisconnected,
};

// ContainerInfo is a snapshot of one container.
struct ContainerInfo {
  std::string name;
  // gofer_socket is the path of the current gofer connection; empty for
  // one made from a connected socket (Attach or Replace of a unet::Socket).
  std::string gofer_socket;
  ContainerState state = ContainerState::kAttached;
  absl::Time attach_time;
  // mount_fd_donated reports whether the gofer donated the mount point's
  // host FD (GoferClient::HasHostFD).
  bool mount_fd_donated = false;
  // disconnect_reason says why the state is kDisconnected.
  std::string disconnect_reason;
  // reattach_time is when Replace last gave the container a new gofer
  // connection (InfinitePast if never); reattaches counts those.
  absl::Time reattach_time = absl::InfinitePast();
  uint64_t reattaches = 0;
  // gofer describes the container's gofer when the shim runs it itself (a
  // managed gofer: managed.h); unset for a gofer reached through a socket.
  std::optional<ManagedGoferInfo> gofer;
};

// DeviceEntry is one entry of a long listing (ContainerRegistry::
// DirentStats): its name in the served directory and its lstat, unless
// the gofer refused to stat it.
struct DeviceEntry {
  std::string name;
  std::optional<struct stat> st;
};

// RegistryOptions bound what a registry gives each container.
struct RegistryOptions {
  // kDefaultMaxCallsPerContainer bounds one container's calls in flight. A
  // device open can block in the kernel beyond any deadline (a tty waiting
  // for carrier, a file on a dead NFS server) and each such call holds a
  // thread; past the bound a container's calls fail with
  // RESOURCE_EXHAUSTED rather than take more.
  static constexpr size_t kDefaultMaxCallsPerContainer = 64;

  // client bounds each container's GoferClient (its listing bounds).
  devutil::GoferClientOptions client;
  // max_calls_per_container: see kDefaultMaxCallsPerContainer.
  size_t max_calls_per_container = kDefaultMaxCallsPerContainer;
};

// ContainerRegistry holds the GoferClient of every attached container. All
// methods are thread-safe.
//
// Errors are absl::Status values with canonical codes, and the errno in the
// message (and payload; see pkg/syserr). The code says whose fault it is:
//
//   INVALID_ARGUMENT    the caller's own bad input only: a name, device
//                       path or socket path that fails validation
//                       (validate.h), a relative socket path
//   NOT_FOUND           the container is not attached (or was detached
//                       during the call); or the device does not exist:
//                       ENOENT, ENOTDIR, ENODEV, ENXIO
//   ALREADY_EXISTS      a second Attach of a name
//   PERMISSION_DENIED   EACCES, EPERM, EROFS (the gofer's policy, or the
//                       host's permissions)
//   FAILED_PRECONDITION the device cannot be opened as it is now: ELOOP (a
//                       symlink, never followed), EISDIR, EBUSY, ETXTBSY,
//                       EAGAIN
//   RESOURCE_EXHAUSTED  ENOBUFS (a listing past the client's bounds),
//                       EMFILE, ENFILE, ENOMEM, ENOSPC; or a container
//                       with max_calls_per_container calls in flight
//   UNAVAILABLE         the gofer cannot be reached, is gone, or cannot
//                       serve: connect failures, any Mount failure (a
//                       protocol fault, a mount FD or mount point that is
//                       not a directory, missing RPCs), a connection that
//                       was lost or cut off
//   DEADLINE_EXCEEDED   a deadline passed
//   INTERNAL            any other failure of a device call: on the RPC
//                       path a gofer fault ("gofer fault: ..."): EIO,
//                       EPROTO, EBADMSG, a garbled answer or one of another
//                       MID, EINVAL or EBADF from a gofer that was sent
//                       valid requests, an errno that names no device
//                       condition (ETIMEDOUT, EEXIST, EOPNOTSUPP, ...); on
//                       the fast path a host error such as a driver's EIO
//
// A gofer's errno never reaches the caller as a code that would blame the
// caller (INVALID_ARGUMENT) or claim what the registry alone decides
// (ALREADY_EXISTS, DEADLINE_EXCEEDED, CANCELLED, UNIMPLEMENTED).
class ContainerRegistry final : public devutil::GoferClientProvider {
 public:
  // kDefaultAttachTimeout bounds Attach when its deadline is infinite.
  static constexpr absl::Duration kDefaultAttachTimeout = absl::Seconds(10);
  // kMinStallTimeout is the least time a gofer gets to answer an RPC of an
  // attached container before it is cut off, however close the caller's
  // deadline: a short deadline must not kill a healthy connection.
  static constexpr absl::Duration kMinStallTimeout = absl::Seconds(1);
  // kMaxStallTimeout is how long a gofer gets to answer an RPC when the
  // caller has no deadline (or a later one).
  static constexpr absl::Duration kMaxStallTimeout = absl::Seconds(30);

  // Create starts the registry's watcher thread. Gofer calls run in ctx
  // (its sleep hooks and logger), which must outlive the registry.
  static absl::StatusOr<std::unique_ptr<ContainerRegistry>> Create(
      const context::Context& ctx = context::Background(),
      const RegistryOptions& options = {});

  // The destructor closes every client (CloseAll), waits for calls still
  // in the registry's methods (a call stuck in the kernel holds it up:
  // shim_main exits rather than destroy a registry with stuck calls) and
  // stops the watcher.
  ~ContainerRegistry() override;
  ContainerRegistry(const ContainerRegistry&) = delete;
  ContainerRegistry& operator=(const ContainerRegistry&) = delete;

  // Attach connects to the gofer listening on gofer_socket (an absolute
  // path, or '@' and an abstract name), mounts with devutil::NewGoferClient
  // and records the client under name. Connect and Mount must finish by
  // deadline (now + kDefaultAttachTimeout if it is infinite):
  // DEADLINE_EXCEEDED otherwise, and nothing is kept. A gofer that refuses
  // or drops the connection, or whose Mount fails or could serve no call
  // (NewGoferClient's checks), is UNAVAILABLE, with the errno in the
  // message. A peer that is not a LISAFS gofer (gofer_check.h) is
  // UNAVAILABLE with EPROTO and says so ("... it is not a LISAFS gofer:
  // it speaks HTTP/2 ..."): one that sent bytes before any request, or
  // whose broken answer to Mount a second connection shows to be no
  // LISAFS frame (made by deadline, only after such a failure, and only
  // with a gofer_socket); one that closed the connection unanswered is
  // told apart the same way.
  absl::StatusOr<ContainerInfo> Attach(absl::string_view name,
                                       absl::string_view gofer_socket,
                                       absl::Time deadline);

  // Attach, for an embedder that holds an already-connected socket to the
  // gofer (the sandbox's --dev-io-fd socketpair model), takes ownership of
  // gofer and mounts over it as above; the container's gofer_socket is
  // empty. INVALID_ARGUMENT if gofer holds no socket or one that is not
  // SOCK_STREAM; gofer is closed on every error.
  // With managed, the container is a managed one from the start: its
  // snapshots carry managed (ContainerInfo::gofer).
  absl::StatusOr<ContainerInfo> Attach(
      absl::string_view name, unet::Socket gofer, absl::Time deadline,
      std::optional<ManagedGoferInfo> managed = std::nullopt);

  // Replace gives the attached container name a new gofer connection (a
  // sandbox restored from a checkpoint gets a new gofer for the same
  // container): it connects to gofer_socket and mounts as Attach does
  // (same validation, deadline and errors), then swaps the container's
  // client atomically. Calls in flight finish on the old client, which is
  // closed once the last of them returns (at once if none runs); calls
  // that start afterwards use the new one. The container keeps its name,
  // attach time, bound of calls and whatever watches it (WatchContainers,
  // AwaitChange); it becomes kAttached, its reattach_time and reattaches
  // are updated, and the hang-up watch moves to the new connection: the
  // old one's end or cut-off no longer changes the container. A holder of
  // the old client (GetDevGoferClient) sees it closed like after a Detach
  // and must ask again. NOT_FOUND if name is not attached (before
  // connecting, or if it was detached meanwhile); if connecting or
  // mounting fails, the old client stays in place and the error is
  // returned.
  absl::StatusOr<ContainerInfo> Replace(absl::string_view name,
                                        absl::string_view gofer_socket,
                                        absl::Time deadline);
  // Replace, with an already-connected socket (see the Attach above);
  // managed, if set, replaces the container's ContainerInfo::gofer in the
  // same step. Replace by gofer_socket (above) refuses a managed container
  // with FAILED_PRECONDITION: the shim runs its gofer, and a connection to
  // another would leave that one serving nobody.
  absl::StatusOr<ContainerInfo> Replace(
      absl::string_view name, unet::Socket gofer, absl::Time deadline,
      std::optional<ManagedGoferInfo> managed = std::nullopt);

  // SetGofer replaces the managed-gofer record of name (ContainerInfo::
  // gofer; its version is set by the registry) and counts as a change for
  // AwaitChange and WatchContainers. NOT_FOUND if name is not attached.
  absl::Status SetGofer(absl::string_view name, ManagedGoferInfo gofer);

  // Detach forgets name and closes its client, whatever its state, without
  // waiting for calls in flight: it shuts the gofer socket down, so that
  // RPCs fail at once and the gofer sees the end of the connection, and
  // returns. A call stuck in the kernel (a fast-path open that blocks)
  // keeps the client's socket and mount FD open until it returns, then
  // closes them; its caller gets NOT_FOUND. NOT_FOUND if name is not
  // attached.
  absl::Status Detach(absl::string_view name);

  // CloseAll detaches every container.
  void CloseAll();

  // List returns a snapshot of every container, sorted by name.
  std::vector<ContainerInfo> List() const;

  // Get returns a snapshot of one container.
  absl::StatusOr<ContainerInfo> Get(absl::string_view name) const;

  // options returns the bounds the registry was made with.
  const RegistryOptions& options() const { return options_; }

  // size returns the number of attached containers.
  size_t size() const;

  // StateCounts is how many containers are in each state.
  struct StateCounts {
    size_t attached = 0;
    size_t disconnected = 0;
  };
  // CountStates counts the containers by state, without copying their
  // snapshots (List); for the shim's metrics.
  StateCounts CountStates() const;

  // stall_cutoffs returns how many calls the stall guard has cut off so far
  // (see OpenAt): each such call returned DEADLINE_EXCEEDED and left its
  // container disconnected. An Attach or Replace whose Mount misses its
  // deadline is not counted here.
  uint64_t stall_cutoffs() const { return stall_cutoffs_.load(); }

  // DirentNames runs GoferClient::DirentNames for name's client. A listing
  // past the client's bounds is RESOURCE_EXHAUSTED (ENOBUFS).
  absl::StatusOr<std::vector<std::string>> DirentNames(absl::string_view name,
                                                       absl::Time deadline);

  // DirentStats lists name's served directory as DirentNames does, then
  // describes each entry with GoferClient::Lstat (one WalkStat RPC each,
  // or on the fast path an O_PATH open and fstat: nothing is opened, and a
  // symlink is described, never followed), and returns the entries sorted
  // by name. The listing's bounds (max_dirents, max_dirent_bytes) bound the
  // stats too. Each stat is a call of its own, with the guards of OpenAt
  // below (a gofer that stalls on one is cut off; the deadline is checked
  // before each; the bound of calls), and fails as Stat does, but for two
  // outcomes that concern one entry only: an entry gone by the time of its
  // stat (ENOENT) is left out, and one the gofer refuses to stat (EACCES,
  // EPERM: fsgofer's answer for a block device) is listed without st. A
  // listed name that
  // cannot be one entry ("", ".", "..", or one holding '/' or NUL) is a
  // gofer fault (INTERNAL, EIO).
  absl::StatusOr<std::vector<DeviceEntry>> DirentStats(absl::string_view name,
                                                       absl::Time deadline);

  // OpenAt runs GoferClient::OpenAt for name's client and returns the
  // opened host FD. relpath must pass ValidateDevicePath.
  //
  // For both calls: a disconnected container is UNAVAILABLE at once. An
  // RPC the gofer has not answered by max(deadline, now + kMinStallTimeout)
  // (or now + kMaxStallTimeout, whichever is sooner) is cut off: the
  // connection is shut down, the container becomes disconnected and the
  // call returns DEADLINE_EXCEEDED. A call that fails because the gofer
  // went away marks the container disconnected and returns UNAVAILABLE. A
  // call that finishes after deadline returns DEADLINE_EXCEEDED (an opened
  // FD is closed). A container with max_calls_per_container calls in
  // flight refuses more with RESOURCE_EXHAUSTED.
  absl::StatusOr<fd::OwnedFd> OpenAt(absl::string_view name,
                                     absl::string_view relpath, uint32_t flags,
                                     absl::Time deadline);

  // Stat runs GoferClient::Stat for name's client: it describes the file at
  // relpath without opening it. relpath must pass ValidateDevicePath. Its
  // failures have a table of their own, as a stat names fewer conditions
  // than an open: NOT_FOUND only where nothing is at relpath (ENOENT, or
  // ENOTDIR: a component before the last is not a directory);
  // PERMISSION_DENIED for EACCES and EPERM (fsgofer's answer for a file
  // type it does not serve); FAILED_PRECONDITION for ELOOP (a symlink on
  // the path; the message names it); RESOURCE_EXHAUSTED for EMFILE, ENFILE
  // and ENOMEM; UNAVAILABLE for a connection lost; INTERNAL for anything
  // else (on the RPC path a gofer fault: EIO, a malformed answer, an errno a
  // stat cannot have such as ENXIO, EOPNOTSUPP from a gofer without
  // WalkStat). Otherwise as OpenAt.
  absl::StatusOr<struct stat> Stat(absl::string_view name,
                                   absl::string_view relpath,
                                   absl::Time deadline);

  // generation counts the registry's changes so far: each attach,
  // reattach, detach and container turning disconnected adds one.
  uint64_t generation() const;

  // AwaitChange waits until generation() is no longer seen, or deadline
  // passes, and returns generation(). With it a caller can wait for a
  // condition on the registry (a container turning disconnected) without
  // polling: read generation(), check, and if not yet, AwaitChange.
  uint64_t AwaitChange(uint64_t seen, absl::Time deadline) const;

  // WakeWaiters makes every AwaitChange in progress return now, changed or
  // not, so that its caller rechecks its own reasons to stop (a server
  // shutting down).
  void WakeWaiters() const;

  // GetDevGoferClient implements devutil::GoferClientProvider: it returns
  // name's client (even if disconnected) or nullptr, shared with the
  // caller. Detach (and CloseAll) shuts the client down and closes it: the
  // holder's calls in flight then end at once (EIO on the RPC path) and
  // its later calls fail at once with EBADF, naming the container; the
  // handle itself stays valid until the holder drops it. Calls through the
  // handle bypass the registry (no stall guard, no bound of calls, no
  // error classification); callers must not Close it.
  std::shared_ptr<devutil::GoferClient> GetDevGoferClient(
      absl::string_view name) override;

 private:
  struct Container;
  struct Connection;
  // InCall counts one call in a method, for the destructor.
  class InCall;
  // Table names the errno-to-code table of Classify.
  enum class Table { kDevice, kListing, kStat };

  ContainerRegistry(const context::Context& ctx, const RegistryOptions& options)
      : ctx_(ctx), options_(options) {}

  // Dial connects to the gofer at gofer_socket by deadline.
  absl::StatusOr<unet::Socket> Dial(absl::string_view what,
                                    absl::string_view gofer_socket,
                                    absl::Time deadline) const;
  // Mount mounts over sock by deadline (label names the gofer in errors;
  // gofer_socket, unless empty, is where sock was connected, for a second
  // look at a peer whose Mount answer is broken: gofer_check.h).
  absl::StatusOr<std::unique_ptr<devutil::GoferClient>> Mount(
      absl::string_view what, absl::string_view name, absl::string_view label,
      absl::string_view gofer_socket, unet::Socket sock,
      absl::Time deadline) const;
  // StartBy returns the deadline of an attach (kDefaultAttachTimeout for an
  // infinite one), DEADLINE_EXCEEDED if it has passed.
  static absl::StatusOr<absl::Time> StartBy(absl::string_view what,
                                            absl::Time deadline);
  // CheckConnected refuses a socket an embedder handed over that cannot be
  // a gofer connection.
  static absl::Status CheckConnected(absl::string_view what,
                                     const unet::Socket& sock);
  // Connect is Attach (replace false) and Replace (true): with `gofer`, an
  // already-connected socket; without, a connection to gofer_socket.
  absl::StatusOr<ContainerInfo> Connect(
      absl::string_view name, bool replace, absl::string_view gofer_socket,
      std::optional<unet::Socket> gofer, absl::Time deadline,
      std::optional<ManagedGoferInfo> managed);
  // Install mounts over sock and records the client: as name's first
  // connection, or (replace) as its new one.
  absl::StatusOr<ContainerInfo> Install(
      absl::string_view what, absl::string_view name,
      absl::string_view gofer_socket, unet::Socket sock, absl::Time deadline,
      bool replace, std::optional<ManagedGoferInfo> managed);
  std::shared_ptr<Container> Find(absl::string_view name) const;
  // Acquire finds name's container and checks that it can serve a call.
  absl::StatusOr<std::shared_ptr<Container>> Acquire(absl::string_view name,
                                                     absl::Time deadline) const;
  // Classify turns a failed call on c into the status to return (see the
  // class comment), marking c disconnected if its gofer is gone.
  absl::Status Classify(Container& c, Connection& conn, const absl::Status& s,
                        absl::string_view op, Table table) const;
  // Guard arms the stall guard of a call (op) on c's connection conn; see
  // OpenAt.
  unet::StallGuard Guard(Container& c, Connection& conn, absl::string_view op,
                         absl::Time deadline) const;
  // RunCall runs call on name's client as DirentNames and OpenAt describe:
  // refused if the container is disconnected, past its deadline or at its
  // bound of calls; cut off by a stall guard; a failure classified by
  // table, as a disconnect if the gofer went away; NOT_FOUND if the
  // container was detached meanwhile, DEADLINE_EXCEEDED past deadline.
  template <typename T>
  absl::StatusOr<T> RunCall(
      absl::string_view name, absl::string_view op, Table table,
      absl::Time deadline,
      absl::FunctionRef<absl::StatusOr<T>(devutil::GoferClient&)> call);
  void OnHangup(uint64_t id);
  void Close(std::shared_ptr<Container> c);
  // Changed adds one to the generation and wakes AwaitChange.
  void Changed() const;
  // Disconnect marks c disconnected with reason if conn_id is its current
  // connection, logs it, and reports whether it was attached until now.
  bool Disconnect(Container& c, uint64_t conn_id,
                  absl::string_view reason) const;
  static ContainerInfo Snapshot(const Container& c);

  const context::Context& ctx_;
  const RegistryOptions options_;
  std::unique_ptr<unet::HangupWatcher> watcher_;

  mutable std::mutex calls_mu_;  // guards calls_
  mutable std::condition_variable calls_done_;
  mutable int calls_ = 0;  // calls in Attach, Replace, DirentNames, ...
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint64_t> stall_cutoffs_{0};

  // std::shared_mutex rather than absl::Mutex so that ThreadSanitizer sees
  // it (the system absl is not instrumented).
  mutable std::shared_mutex mu_;  // guards by_name_ and by_id_
  std::map<std::string, std::shared_ptr<Container>, std::less<>> by_name_;
  // by_id_ maps each container's current connection (Connection::id) to it.
  absl::flat_hash_map<uint64_t, std::shared_ptr<Container>> by_id_;

  mutable std::mutex changes_mu_;  // guards generation_ and wakeups_
  mutable std::condition_variable changed_;
  mutable uint64_t generation_ = 0;
  mutable uint64_t wakeups_ = 0;  // WakeWaiters calls
};

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_REGISTRY_H_
