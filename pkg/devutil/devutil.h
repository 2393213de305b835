// Package devutil: the client a sandbox uses to reach its /dev gofer
// (pkg/lisafs/README.md §9). A GoferClient mounts a LISAFS connection to a dev
// gofer, lists the served /dev directory and opens device files by relative
// path, returning host FDs.
//
// When the gofer donated the mount point's host FD at Mount, both operations
// take a host fast path and make no RPC; otherwise they use LISAFS RPCs. Both
// paths behave alike: they stay beneath the mount point (no ".." or "."
// component, no absolute path, no symlink followed anywhere in the path).

#ifndef GVISOR_PKG_DEVUTIL_DEVUTIL_H_
#define GVISOR_PKG_DEVUTIL_DEVUTIL_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

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
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/context/context.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/client.h"
#include "pkg/spin/spin.h"
#include "pkg/unet/hangup_watcher.h"
#include "pkg/unet/unet.h"

namespace gvisor::devutil {

class GoferClient;
class GoferClientProvider;

// contextID is devutil's private key type: its keys cannot collide with any
// other package's.
enum class contextID : int {
  kDevGoferClient = 0,
  kDevGoferClientProvider = 1,
};

// CtxDevGoferClient is the context key for the container's GoferClient.
inline constexpr context::Key<contextID, GoferClient*> CtxDevGoferClient{
    contextID::kDevGoferClient};

// CtxDevGoferClientProvider is the context key for a GoferClientProvider.
inline constexpr context::Key<contextID, GoferClientProvider*>
    CtxDevGoferClientProvider{contextID::kDevGoferClientProvider};

// GoferClientOptions bound what one GoferClient accepts from its gofer. A
// gofer is trusted with its content but not with the client's memory: a
// hostile or broken one must not grow the client without limit.
struct GoferClientOptions {
  // kDefaultMaxDirents is more than ten times the entries of a large host's
  // /dev (a few thousand with many GPUs and ptys).
  static constexpr size_t kDefaultMaxDirents = 65536;
  // kDefaultMaxDirentBytes lets those entries average 64 bytes of name
  // (NAME_MAX is 255). With std::string's 32 bytes per entry, one listing
  // holds at most about 6 MiB.
  static constexpr size_t kDefaultMaxDirentBytes = 4 << 20;

  // max_dirents bounds the entries one DirentNames call accepts, "." and
  // ".." included (so that a gofer cannot loop a client on them either).
  size_t max_dirents = kDefaultMaxDirents;
  // max_dirent_bytes bounds the sum of the name lengths of those entries.
  size_t max_dirent_bytes = kDefaultMaxDirentBytes;
  // spin is lisafs::ClientOptions::spin for the connection: how long a
  // caller waiting for the gofer's answer polls before it sleeps (zero: it
  // sleeps at once). It changes no result, only CPU and latency.
  absl::Duration spin = spin::kDefaultMax;
};

// GoferClient is a connection to one container's dev gofer. Its methods are
// thread-safe.
class GoferClient {
 public:
  GoferClient(const GoferClient&) = delete;
  GoferClient& operator=(const GoferClient&) = delete;
  // The destructor closes the client and waits for calls still running
  // (which Close does not).
  ~GoferClient();

  // ContainerName returns the owning container's name. No I/O.
  const std::string& ContainerName() const { return cont_name_; }

  // HasHostFD reports whether the gofer donated the mount point's host FD,
  // so that DirentNames and OpenAt take the host fast path.
  bool HasHostFD() const { return has_host_fd_; }

  // options returns the bounds the client was made with.
  const GoferClientOptions& options() const { return options_; }

  // DirentNames returns the names in the served directory, without "." and
  // "..", in the order the directory yields them. A listing that passes
  // options().max_dirents entries or options().max_dirent_bytes bytes of
  // names fails with ENOBUFS (code RESOURCE_EXHAUSTED), on both paths;
  // nothing of it is kept. The vector is reserved from the client's last
  // listing; on the fast path each thread that lists keeps one 32 KiB
  // getdents64 buffer for its next listing (freed when the thread exits).
  absl::StatusOr<std::vector<std::string>> DirentNames(
      const context::Context& ctx);

  // OpenAt opens the file at relpath, relative to the served directory, with
  // flags & (O_ACCMODE | O_NONBLOCK) (every other flag is dropped; O_NONBLOCK
  // is honoured for a character device on the fast path only, the wire
  // carrying the access mode alone) and returns its host FD (close-on-exec).
  // relpath is split into components like gVisor's fspath; "nvidia0" and
  // "nvidia-caps/nvidia-cap1" both work. Errors: ENOENT if a component does not
  // exist or the path has no component ("", "/"); EINVAL for an absolute path
  // or a "." or ".." component; ELOOP where a symlink would have to be followed
  // (anywhere in the path); EIO if the gofer opened the file but donated no
  // host FD.
  //
  // Both paths follow one table, by the type of the file found (a "gofer"
  // outcome is what the gofer answers to OpenAt, on the fast path too, so
  // that its flags are the only policy; pkg/fsgofer/fsgofer.h has the
  // fsgofer's):
  //
  //   type              outcome                        FD flags
  //   character device  opened (fast path: here;       access mode, blocking
  //                     RPC: gofer, e.g. EPERM with    (no O_NONBLOCK)
  //                     --char_devices=deny, EROFS
  //                     for writes with --readonly)
  //   regular file      opened (fast path: here;       access mode; RPC
  //                     RPC: gofer)                    path: O_NONBLOCK
  //   block device      gofer: EPERM (its Walk)        -
  //   FIFO              gofer: EPERM unless            access mode,
  //                     --host_fifo=open, else opened  O_NONBLOCK
  //                     (never waits for a partner)
  //   socket            gofer: EPERM unless            -
  //                     --host_uds=open|all, else ENXIO
  //   directory         EISDIR (no OpenAt is sent)     -
  //   symlink           ELOOP (no OpenAt is sent)      -
  //
  // Character devices open blocking because drivers expect it: NVIDIA's
  // defers device init on a non-blocking open and registers no poll
  // wake-ups for an O_NONBLOCK file. A FIFO's open never waits for a
  // partner (the gofer's walk holds it open for reading, as gVisor's
  // fsgofer does, so even O_WRONLY finds a reader) and its FD stays
  // non-blocking. A regular file's open may wait
  // on a lease on the fast path (in the caller's thread); the gofer opens
  // it O_NONBLOCK so that no handler waits (the flag changes nothing for
  // its reads and writes).
  //
  // On the fast path the file is first opened O_PATH beneath the mount FD
  // (no open of the file itself, so nothing that can block), and its type
  // is read with fstat. A character device or regular file is then opened
  // through /proc/thread-self/fd with the access mode and O_NOCTTY: three
  // syscalls more than one openat (an openat2, an fstat, an open and a
  // close in all). Without /proc it falls back to a second openat2 checked
  // against the first by device and inode. Any other type goes to the
  // gofer (Walk and OpenAt RPCs), as on the RPC path. A gofer that donates
  // its mount FD must therefore not refuse what its mount FD allows
  // (devgofer does not donate with --readonly, --char_devices=deny, or a
  // scope without --private_dir).
  //
  // openat2 is probed once per process, with an O_PATH openat2 of "." of
  // the mount FD: where it answers ENOSYS (an old kernel) or EPERM (a
  // seccomp policy that refuses it) every path is opened componentwise
  // instead (openat with O_NOFOLLOW, intermediates as O_PATH directories),
  // with the same results. Once openat2 has been found usable, an EPERM
  // from it is the open's own error and is returned.
  //
  // O_NONBLOCK in flags is kept on the fast path for character devices
  // (block devices go to the gofer), so that a caller can open one without
  // waiting for its driver (a probe); other files are opened as without it
  // (FIFOs always non-blocking). Over RPC only the access mode goes to the
  // gofer, which opens as its backend does (pkg/lisafs/README.md §7.7).
  absl::StatusOr<fd::OwnedFd> OpenAt(const context::Context& ctx,
                                     absl::string_view relpath, uint32_t flags);

  // Stat describes the file at relpath, relative to the served directory,
  // without opening it: nothing a driver sees (no open, no close) happens.
  // relpath is checked as OpenAt checks it (ENOENT for no component, EINVAL
  // for an absolute path or a "." or ".." component). No symlink is
  // followed anywhere in the path: a symlink on it, the last component
  // included, is ELOOP, and the message names it ("... \"a/link\" is a
  // symlink"). ENOENT if a component does not exist, ENOTDIR if one before
  // the last is not a directory.
  //
  // On the fast path each component is opened O_PATH|O_NOFOLLOW beneath the
  // mount FD and fstat()ed; over RPC it is one WalkStat RPC (no FDID is
  // made; pkg/lisafs/README.md §6.4, §7.6), EOPNOTSUPP if the gofer does not
  // support it and EIO if its answer is malformed (a record after a
  // symlink or a non-directory, more records than components).
  absl::StatusOr<struct stat> Stat(const context::Context& ctx,
                                   absl::string_view relpath);

  // Lstat is Stat, except that a symlink as the last component is
  // described (S_IFLNK, as lstat(2) sees it) rather than refused: nothing
  // is followed, and a symlink before the last component is still ELOOP.
  // It is what a long listing shows of each entry.
  absl::StatusOr<struct stat> Lstat(const context::Context& ctx,
                                    absl::string_view relpath);

  // Close ends the connection (the gofer frees every FDID) and drops the
  // client's reference to the host FD. It does not wait for calls in
  // flight: an RPC fails with EIO at once, and a host call stuck in the
  // kernel (the open of a tty waiting for carrier, a file on a dead NFS
  // server) keeps the host FD open until it returns. Close is idempotent;
  // DirentNames, OpenAt and Stat called afterwards fail at once with EBADF
  // ("the client of container ... is closed"), Shutdown does nothing and
  // HungUp reports true. A client handed out by a GoferClientProvider is
  // closed by its provider when the container goes away (a registry's
  // Detach): a caller that still holds it gets those errors, never a
  // dangling object.
  void Close();

  // Shutdown, HungUp, WatchHangup, UnwatchHangup and GuardStall act on the
  // gofer connection for an owner that keeps many clients and one watcher
  // (a registry of containers) and must not hold the socket's FD number
  // itself. WatchHangup, UnwatchHangup and GuardStall are those of
  // lisafs::Client and are for the client's owner only (not for a holder
  // of a provider's handle): the socket stays open until Close, so call
  // none of them during or after Close, and unwatch and disarm before it.
  // Shutdown and HungUp may be called by anyone at any time. On the host
  // fast path there are no RPCs to cut off, but the connection is still
  // there to watch.

  // Shutdown shuts the connection down without closing it: RPCs in flight
  // fail with EIO at once, and the gofer sees the end of the connection.
  // Close must still follow. Idempotent; nothing once Close has begun.
  void Shutdown();
  // HungUp reports, without blocking, whether the gofer closed the
  // connection (or it was shut down, or the client closed).
  bool HungUp() const;
  // WatchHangup runs on_hangup once, on watcher's thread, when the gofer
  // closes the connection. Returns the ID for UnwatchHangup.
  absl::StatusOr<uint64_t> WatchHangup(unet::HangupWatcher& watcher,
                                       std::function<void()> on_hangup) {
    return client_->WatchHangup(watcher, std::move(on_hangup));
  }
  // UnwatchHangup drops registration id of WatchHangup.
  void UnwatchHangup(unet::HangupWatcher& watcher, uint64_t id) {
    client_->UnwatchHangup(watcher, id);
  }
  // GuardStall shuts the connection down at deadline unless the returned
  // guard is disarmed first, calling on_fire (if set) just before.
  unet::StallGuard GuardStall(unet::HangupWatcher& watcher, absl::Time deadline,
                              std::function<void()> on_fire = nullptr) {
    return client_->GuardStall(watcher, deadline, std::move(on_fire));
  }

 private:
  friend absl::StatusOr<std::unique_ptr<GoferClient>> NewGoferClient(
      const context::Context& ctx, absl::string_view cont_name,
      unet::Socket sock, const GoferClientOptions& options);
  GoferClient(lisafs::Mounted mounted, std::string cont_name,
              const GoferClientOptions& options);

  // Call counts one method call in calls_ for the destructor.
  class Call;

  // ClosedError is the EBADF of op on a closed client.
  absl::Status ClosedError(absl::string_view op) const;

  // ReserveNames reserves names for the listing dirent_hint_ expects (at
  // most options_.max_dirents); KeepNamesHint records a finished one's size
  // and gives back most of a reservation it did not use.
  void ReserveNames(std::vector<std::string>& names) const;
  void KeepNamesHint(std::vector<std::string>& names) const;
  absl::StatusOr<std::vector<std::string>> HostDirentNames(int host_fd) const;
  absl::StatusOr<fd::OwnedFd> HostOpenAt(
      const context::Context& ctx, int host_fd,
      absl::Span<const absl::string_view> path, int flags) const;
  absl::StatusOr<std::vector<std::string>> RpcDirentNames(
      const context::Context& ctx) const;
  absl::StatusOr<fd::OwnedFd> RpcOpenAt(const context::Context& ctx,
                                        const std::vector<std::string>& path,
                                        uint32_t flags) const;
  // StatPath is Stat (last_may_be_symlink false) and Lstat (true).
  absl::StatusOr<struct stat> StatPath(const context::Context& ctx,
                                       absl::string_view op,
                                       absl::string_view relpath,
                                       bool last_may_be_symlink);
  // HostStat's op names the call in its messages ("Stat", "OpenAt").
  absl::StatusOr<struct stat> HostStat(int host_fd,
                                       const std::vector<std::string>& path,
                                       bool last_may_be_symlink,
                                       absl::string_view op = "Stat") const;
  // RpcTarget reads link's target (a symlink's control FD) with one
  // ReadLinkAt RPC, for a message; nullopt if that fails or is not
  // supported.
  std::optional<std::string> RpcTarget(const context::Context& ctx,
                                       const lisafs::ClientFD& link) const;

  absl::StatusOr<struct stat> RpcStat(const context::Context& ctx,
                                      const std::vector<std::string>& path,
                                      bool last_may_be_symlink) const;

  const std::shared_ptr<lisafs::Client> client_;
  const lisafs::ClientFD root_;
  const std::string cont_name_;
  const GoferClientOptions options_;
  const bool has_host_fd_;
  // dirent_hint_ is the size of the last listing (either path), so that
  // the next one's vector is reserved at once: a directory that does not
  // change is listed into one allocation, with no growth by doubling
  // (whose copies and fresh pages cost as much as the getdents64 calls).
  // A hint only: of racing listings, either may store it.
  mutable std::atomic<size_t> dirent_hint_{0};
  // mu_ is only ever held for a few instructions, never across a syscall
  // that may block (Shutdown and HungUp hold it across a shutdown(2) or a
  // poll(2) with no timeout): a call copies host_fd_ under it and then
  // works on its own reference, so that Close never waits for a call.
  mutable std::mutex mu_;
  std::shared_ptr<const fd::OwnedFd> host_fd_;  // guarded by mu_
  bool closed_ = false;                         // guarded by mu_
  int calls_ = 0;                               // guarded by mu_
  std::condition_variable calls_done_;
};

// NewGoferClient takes ownership of sock, a connected SOCK_STREAM socket to
// a dev gofer (unet::Socket::Connect, or FromFd of an inherited FD), and
// mounts over it (one Mount RPC). cont_name is the owning container's name.
// The call is an uninterruptible sleep of ctx, and failures are also
// reported through ctx's logger. On error sock is closed.
//
// A mount that could serve no call fails here rather than on every later
// call: ENOTDIR if the donated mount FD (checked with fstat) or, without
// one, the mount point the gofer describes is not a directory; EOPNOTSUPP
// if, without a donated FD, the gofer does not support the RPCs the client
// needs (Walk, OpenAt, Getdents64, Close).
absl::StatusOr<std::unique_ptr<GoferClient>> NewGoferClient(
    const context::Context& ctx, absl::string_view cont_name, unet::Socket sock,
    const GoferClientOptions& options = {});

// GoferClientProvider hands out the GoferClient of a container.
//
// The contract: GetDevGoferClient shares ownership of the client with the
// caller. The provider stays the client's owner: when the container goes
// away (a registry's Detach) the provider closes the client (GoferClient::
// Close), so that calls in flight end at once (EIO from an RPC) and later
// calls fail at once with EBADF; the object itself lives until the last
// holder drops its handle. A holder may use every method but WatchHangup,
// UnwatchHangup and GuardStall, and never needs to Close the client.
class GoferClientProvider {
 public:
  virtual ~GoferClientProvider() = default;
  // GetDevGoferClient returns cont_name's client, or nullptr if it has none.
  // See the class comment for what the handle allows after the container
  // goes away.
  virtual std::shared_ptr<GoferClient> GetDevGoferClient(
      absl::string_view cont_name) = 0;
};

// GoferClientFromContext returns the GoferClient stored in ctx under
// CtxDevGoferClient, or nullptr if there is none.
GoferClient* GoferClientFromContext(const context::Context& ctx);

// GoferClientProviderFromContext returns the provider stored in ctx under
// CtxDevGoferClientProvider, or nullptr if there is none.
GoferClientProvider* GoferClientProviderFromContext(
    const context::Context& ctx);

}  // namespace gvisor::devutil

#endif  // GVISOR_PKG_DEVUTIL_DEVUTIL_H_
