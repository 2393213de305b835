// Package devutil: the client a sandbox uses to reach its /dev gofer
// (WIRE.md §9). A GoferClient mounts a LISAFS connection to a dev gofer,
// lists the served /dev directory and opens device files by relative path,
// returning host FDs.
//
// When the gofer donated the mount point's host FD at Mount, both operations
// take a host fast path and make no RPC; otherwise they use LISAFS RPCs. Both
// paths behave alike: they stay beneath the mount point (no ".." or "."
// component, no absolute path, no symlink followed anywhere in the path).

#ifndef GVISOR_PKG_DEVUTIL_DEVUTIL_H_
#define GVISOR_PKG_DEVUTIL_DEVUTIL_H_

#include <stdint.h>

#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/context/context.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/client.h"

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

// GoferClient is a connection to one container's dev gofer. Its methods are
// thread-safe.
class GoferClient {
 public:
  GoferClient(const GoferClient&) = delete;
  GoferClient& operator=(const GoferClient&) = delete;
  // The destructor closes the client.
  ~GoferClient();

  // ContainerName returns the owning container's name. No I/O.
  const std::string& ContainerName() const { return cont_name_; }

  // HasHostFD reports whether the gofer donated the mount point's host FD,
  // so that DirentNames and OpenAt take the host fast path.
  bool HasHostFD() const { return host_fd_.valid(); }

  // DirentNames returns the names in the served directory, without "." and
  // "..", in the order the directory yields them.
  absl::StatusOr<std::vector<std::string>> DirentNames(
      const context::Context& ctx);

  // OpenAt opens the file at relpath, relative to the served directory, with
  // flags & O_ACCMODE (every other flag is dropped) and returns its host FD.
  // relpath is split into components like gVisor's fspath; "nvidia0" and
  // "nvidia-caps/nvidia-cap1" both work. Errors: ENOENT if a component does
  // not exist or the path has no component ("", "/"); EINVAL for an absolute
  // path or a "." or ".." component; an error (ELOOP on the fast path, ENOENT or EINVAL
  // from the gofer) where a symlink would have to be followed; EIO if the
  // gofer opened the file but donated no host FD.
  absl::StatusOr<fd::OwnedFd> OpenAt(const context::Context& ctx,
                                     absl::string_view relpath,
                                     uint32_t flags);

  // Close ends the connection (the gofer frees every FDID) and closes the
  // host FD. Close is idempotent; methods called afterwards fail with EBADF.
  void Close();

 private:
  friend absl::StatusOr<std::unique_ptr<GoferClient>> NewGoferClient(
      const context::Context& ctx, absl::string_view cont_name,
      fd::OwnedFd fd);
  GoferClient(lisafs::Mounted mounted, std::string cont_name);

  absl::StatusOr<std::vector<std::string>> HostDirentNames() const;
  absl::StatusOr<fd::OwnedFd> HostOpenAt(const std::vector<std::string>& path,
                                         int flags) const;
  absl::StatusOr<std::vector<std::string>> RpcDirentNames(
      const context::Context& ctx) const;
  absl::StatusOr<fd::OwnedFd> RpcOpenAt(const context::Context& ctx,
                                        const std::vector<std::string>& path,
                                        uint32_t flags) const;

  std::shared_ptr<lisafs::Client> client_;
  lisafs::ClientFD root_;
  fd::OwnedFd host_fd_;
  const std::string cont_name_;
  // Held shared by DirentNames/OpenAt and exclusively by Close, so that the
  // host FD is not closed under a running call.
  mutable std::shared_mutex mu_;
  bool closed_ = false;
};

// NewGoferClient takes ownership of fd, a connected SOCK_STREAM socket to a
// dev gofer, and mounts over it (one Mount RPC). cont_name is the owning
// container's name. The call is an uninterruptible sleep of ctx, and
// failures are also reported through ctx's logger. On error fd is closed.
absl::StatusOr<std::unique_ptr<GoferClient>> NewGoferClient(
    const context::Context& ctx, absl::string_view cont_name, fd::OwnedFd fd);

// GoferClientProvider hands out the GoferClient of a container.
class GoferClientProvider {
 public:
  virtual ~GoferClientProvider() = default;
  // GetDevGoferClient returns cont_name's client, or nullptr if it has none.
  // The client stays owned by the provider.
  virtual GoferClient* GetDevGoferClient(absl::string_view cont_name) = 0;
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
