#include "pkg/devutil/devutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "pkg/fspath/fspath.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

namespace gvisor::devutil {
namespace {

// kGetdentsCount is the byte budget of each Getdents64 RPC (WIRE.md §9.5).
constexpr int32_t kGetdentsCount = 65536;

// ValidatePath splits relpath into components and refuses what would leave
// the mount point or cannot name a file: no component at all (ENOENT, like
// openat of ""), an absolute path, "." or ".." (EINVAL).
absl::StatusOr<std::vector<std::string>> ValidatePath(
    absl::string_view relpath) {
  std::vector<std::string> path = fspath::Components(relpath);
  if (path.empty()) {
    return syserr::FromErrno(
        ENOENT, absl::StrCat("OpenAt of \"", relpath, "\": no component"));
  }
  if (relpath[0] == '/') {
    return syserr::FromErrno(
        EINVAL, absl::StrCat("OpenAt of \"", relpath, "\": absolute path"));
  }
  for (const std::string& c : path) {
    if (c == "." || c == ".." || c.find('\0') != std::string::npos) {
      return syserr::FromErrno(
          EINVAL, absl::StrCat("OpenAt of \"", relpath,
                               "\": invalid component \"", c, "\""));
    }
  }
  return path;
}

// Openat2Beneath opens path under dirfd with the kernel refusing symlinks
// and escapes. Returns -1 with errno ENOSYS where openat2 is missing.
int Openat2Beneath(int dirfd, const std::string& path, int flags) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = static_cast<int>(
        syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof(how)));
  } while (fd < 0 && errno == EAGAIN);
  return fd;
}

// OpenComponentwise is the fallback without openat2: every component is
// opened with O_NOFOLLOW, intermediates as O_PATH directories.
int OpenComponentwise(int dirfd, const std::vector<std::string>& path,
                      int flags) {
  fd::OwnedFd dir;
  int at = dirfd;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    int next = openat(at, path[i].c_str(),
                      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      // A symlink opened with O_DIRECTORY|O_NOFOLLOW gives ENOTDIR; report
      // it as the symlink refusal it is.
      if (errno == ENOTDIR) {
        int saved = errno;
        struct stat st;
        if (fstatat(at, path[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode)) {
          errno = ELOOP;
        } else {
          errno = saved;
        }
      }
      return -1;
    }
    dir.reset(next);
    at = next;
  }
  return openat(at, path.back().c_str(), flags);
}

}  // namespace

GoferClient::GoferClient(lisafs::Mounted mounted, std::string cont_name)
    : client_(std::move(mounted.client)),
      root_(client_->NewFD(mounted.root.control_fd)),
      host_fd_(std::move(mounted.host_fd)),
      cont_name_(std::move(cont_name)) {}

GoferClient::~GoferClient() { Close(); }

absl::StatusOr<std::unique_ptr<GoferClient>> NewGoferClient(
    const context::Context& ctx, absl::string_view cont_name, fd::OwnedFd fd) {
  context::UninterruptibleSleep sleep(ctx);
  absl::StatusOr<unet::Socket> sock = unet::Socket::FromFd(std::move(fd));
  if (!sock.ok()) {
    ctx.Warningf("devutil: gofer socket of container %s: %s", cont_name,
                 sock.status().ToString());
    return sock.status();
  }
  absl::StatusOr<lisafs::Mounted> mounted =
      lisafs::NewClient(ctx, std::move(*sock));
  if (!mounted.ok()) {
    ctx.Warningf("devutil: mounting the dev gofer of container %s: %s",
                 cont_name, mounted.status().ToString());
    return mounted.status();
  }
  return std::unique_ptr<GoferClient>(
      new GoferClient(std::move(*mounted), std::string(cont_name)));
}

void GoferClient::Close() {
  // Wake any RPC in flight first, then wait for running calls to end.
  if (client_) client_->Close();
  std::unique_lock<std::shared_mutex> l(mu_);
  if (closed_) return;
  closed_ = true;
  host_fd_.reset();
}

absl::StatusOr<std::vector<std::string>> GoferClient::DirentNames(
    const context::Context& ctx) {
  std::shared_lock<std::shared_mutex> l(mu_);
  if (closed_) return syserr::FromErrno(EBADF, "DirentNames: client closed");
  if (host_fd_.valid()) return HostDirentNames();
  return RpcDirentNames(ctx);
}

absl::StatusOr<fd::OwnedFd> GoferClient::OpenAt(const context::Context& ctx,
                                                 absl::string_view relpath,
                                                 uint32_t flags) {
  absl::StatusOr<std::vector<std::string>> path = ValidatePath(relpath);
  if (!path.ok()) return path.status();
  flags &= O_ACCMODE;
  std::shared_lock<std::shared_mutex> l(mu_);
  if (closed_) return syserr::FromErrno(EBADF, "OpenAt: client closed");
  if (host_fd_.valid()) return HostOpenAt(*path, static_cast<int>(flags));
  return RpcOpenAt(ctx, *path, flags);
}

absl::StatusOr<std::vector<std::string>> GoferClient::HostDirentNames() const {
  // A fresh open file description per call: concurrent callers never share
  // a directory offset, and the donated FD may be O_PATH.
  fd::OwnedFd dir(openat(host_fd_.get(), ".",
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) {
    return syserr::FromErrno(errno, "DirentNames: opening the mount point");
  }
  std::vector<std::string> names;
  alignas(8) char buf[8192];
  for (;;) {
    long n = syscall(SYS_getdents64, dir.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return syserr::FromErrno(errno, "DirentNames: getdents64");
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      absl::string_view name(d->d_name);
      if (name != "." && name != "..") names.emplace_back(name);
      off += d->d_reclen;
    }
  }
  return names;
}

absl::StatusOr<fd::OwnedFd> GoferClient::HostOpenAt(
    const std::vector<std::string>& path, int flags) const {
  const int open_flags = flags | O_NOFOLLOW | O_CLOEXEC;
  std::string joined = absl::StrJoin(path, "/");
  int fd = Openat2Beneath(host_fd_.get(), joined, open_flags);
  if (fd < 0 && errno == ENOSYS) {
    fd = OpenComponentwise(host_fd_.get(), path, open_flags);
  }
  if (fd < 0) {
    return syserr::FromErrno(errno, absl::StrCat("OpenAt of \"", joined,
                                                 "\" on the host FD"));
  }
  return fd::OwnedFd(fd);
}

absl::StatusOr<std::vector<std::string>> GoferClient::RpcDirentNames(
    const context::Context& ctx) const {
  absl::StatusOr<lisafs::OpenResult> open = root_.OpenAt(ctx, O_RDONLY);
  if (!open.ok()) {
    return syserr::WithContext(open.status(), "failed to open dev from gofer");
  }
  // A host FD donated for the directory is not needed: close it now.
  open->host_fd.reset();
  lisafs::ClientFD dir = client_->NewFD(open->open_fd);
  std::vector<std::string> names;
  absl::Status status;
  for (;;) {
    absl::StatusOr<std::vector<lisafs::Dirent64>> dirents =
        dir.Getdents64(ctx, kGetdentsCount);
    if (!dirents.ok()) {
      status = syserr::WithContext(dirents.status(), "Getdents64 RPC failed");
      break;
    }
    if (dirents->empty()) break;
    for (lisafs::Dirent64& d : *dirents) {
      if (d.name != "." && d.name != "..") names.push_back(std::move(d.name));
    }
  }
  dir.Close(ctx, /*flush=*/true);
  if (!status.ok()) return status;
  return names;
}

absl::StatusOr<fd::OwnedFd> GoferClient::RpcOpenAt(
    const context::Context& ctx, const std::vector<std::string>& path,
    uint32_t flags) const {
  const std::string joined = absl::StrJoin(path, "/");
  absl::StatusOr<lisafs::WalkResult> walk = root_.WalkMultiple(ctx, path);
  if (!walk.ok()) {
    LOG(INFO) << "devutil: walk of \"" << joined << "\" failed: "
              << walk.status();
    return walk.status();
  }
  std::vector<lisafs::Inode>& inodes = walk->inodes;
  const size_t n = inodes.size();
  // Intermediate control FDs are only batched for closing.
  for (size_t i = 0; i + 1 < n; ++i) {
    client_->CloseFD(ctx, inodes[i].control_fd, /*flush=*/false);
  }
  if (walk->status != lisafs::WalkStatus::kSuccess || n != path.size()) {
    if (n > 0) client_->CloseFD(ctx, inodes[n - 1].control_fd, true);
    return syserr::FromErrno(
        ENOENT, absl::StrCat("OpenAt of \"", joined, "\": walk stopped after ",
                             n, " of ", path.size(), " components"));
  }
  lisafs::ClientFD child = client_->NewFD(inodes[n - 1].control_fd);
  absl::StatusOr<lisafs::OpenResult> open = child.OpenAt(ctx, flags);
  if (!open.ok()) {
    child.Close(ctx, /*flush=*/true);
    LOG(INFO) << "devutil: OpenAt of \"" << joined << "\" failed: "
              << open.status();
    return syserr::WithContext(open.status(),
                               absl::StrCat("OpenAt of \"", joined, "\""));
  }
  child.Close(ctx, /*flush=*/false);
  client_->CloseFD(ctx, open->open_fd, /*flush=*/true);
  if (!open->host_fd.valid()) {
    return syserr::FromErrno(
        EIO, absl::StrCat("OpenAt of \"", joined,
                          "\": the gofer donated no host FD"));
  }
  return std::move(open->host_fd);
}

GoferClient* GoferClientFromContext(const context::Context& ctx) {
  GoferClient* const* v = context::Value(ctx, CtxDevGoferClient);
  return v != nullptr ? *v : nullptr;
}

GoferClientProvider* GoferClientProviderFromContext(
    const context::Context& ctx) {
  GoferClientProvider* const* v = context::Value(ctx, CtxDevGoferClientProvider);
  return v != nullptr ? *v : nullptr;
}

}  // namespace gvisor::devutil
