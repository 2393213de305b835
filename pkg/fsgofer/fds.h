// Package fsgofer, internal: the backend objects behind each kind of FDID.
// ControlFD is in control_fd.cc; OpenFD and BoundSocketFD in open_fd.cc.

#ifndef GVISOR_PKG_FSGOFER_FDS_H_
#define GVISOR_PKG_FSGOFER_FDS_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pkg/devscope/allowlist.h"
#include "pkg/fd/fd.h"
#include "pkg/fsgofer/fsgofer.h"
#include "pkg/fsgofer/host.h"
#include "pkg/lisafs/recycler.h"
#include "pkg/lisafs/server_impl.h"

namespace gvisor::fsgofer {

// State is what a connection's backend objects share.
struct State {
  explicit State(Options o) : options(o) {}

  const Options options;

  // scope returns the allowlist, or null when the connection is not scoped.
  const devscope::Allowlist* scope() const {
    if (options.allowlist == nullptr || options.allowlist->empty()) {
      return nullptr;
    }
    return options.allowlist.get();
  }

  // MountDirFd returns the host FD of the first mount point opened (-1
  // before the first Mount). It lives as long as the State.
  int MountDirFd() {
    std::lock_guard<std::mutex> l(mu);
    return mount_dir == nullptr ? -1 : mount_dir->get();
  }
  void SetMountDirFd(std::shared_ptr<const fd::OwnedFd> fd) {
    std::lock_guard<std::mutex> l(mu);
    if (mount_dir == nullptr) mount_dir = std::move(fd);
  }

  std::mutex mu;
  // mount_dir is shared with the other connections on the same mount point
  // (see Connection::Mount). Guarded by mu.
  std::shared_ptr<const fd::OwnedFd> mount_dir;
};

// HostFd is a ControlFD's host FD: its own, or one it shares with other
// connections (the mount point's).
class HostFd {
 public:
  explicit HostFd(fd::OwnedFd own) : own_(std::move(own)) {}
  explicit HostFd(std::shared_ptr<const fd::OwnedFd> shared)
      : shared_(std::move(shared)) {}
  int get() const { return shared_ != nullptr ? shared_->get() : own_.get(); }

 private:
  fd::OwnedFd own_;
  std::shared_ptr<const fd::OwnedFd> shared_;
};

// ControlFD is a control FD: a host FD on the file (O_PATH for symlinks,
// sockets and files the server cannot read).
// ControlFD and OpenFD come from the recycler (pkg/lisafs/recycler.h), so
// that Walk and OpenAt allocate nothing in steady state.
class ControlFD final : public lisafs::ControlFDImpl, public lisafs::Recycled {
 public:
  ControlFD(std::shared_ptr<State> state, host::OpenedFile file, uint32_t mode)
      : state_(std::move(state)),
        host_(std::move(file.fd)),
        opath_(file.opath),
        type_(mode & S_IFMT) {}
  // This one shares its host FD (a mount point's) with other ControlFDs.
  ControlFD(std::shared_ptr<State> state,
            std::shared_ptr<const fd::OwnedFd> shared, bool opath,
            uint32_t mode)
      : state_(std::move(state)),
        host_(std::move(shared)),
        opath_(opath),
        type_(mode & S_IFMT) {}

  int host_fd() const { return host_.get(); }

  // scope returns the connection's allowlist (null when not scoped).
  const devscope::Allowlist* scope() const { return state_->scope(); }

  // ScopePath returns the relative tree path ("a/b", "" for the mount
  // point) of this file, with "/name" appended for a non-empty name.
  // Requires the rename lock.
  absl::StatusOr<std::string> ScopePath(absl::string_view name) const;

  absl::StatusOr<lisafs::Statx> Stat() override;
  lisafs::SetStatResp SetStat(const lisafs::SetStatReq& req) override;
  absl::StatusOr<lisafs::NewControlFD> Walk(absl::string_view name) override;
  absl::Status WalkStat(absl::Span<const std::string> path,
                        std::vector<lisafs::Statx>* out) override;
  absl::StatusOr<lisafs::NewOpenFD> Open(uint32_t flags) override;
  absl::StatusOr<lisafs::NewFile> OpenCreate(const lisafs::CreateArgs& args,
                                             uint32_t flags) override;
  absl::StatusOr<lisafs::NewControlFD> Mkdir(
      const lisafs::CreateArgs& args) override;
  absl::StatusOr<lisafs::NewControlFD> Mknod(const lisafs::CreateArgs& args,
                                             uint32_t minor,
                                             uint32_t major) override;
  absl::StatusOr<lisafs::NewControlFD> Symlink(absl::string_view name,
                                               absl::string_view target,
                                               uint32_t uid,
                                               uint32_t gid) override;
  absl::StatusOr<lisafs::NewControlFD> Link(lisafs::ControlFD& target,
                                            absl::string_view name) override;
  absl::StatusOr<lisafs::StatFS> StatFs() override;
  absl::StatusOr<std::string> ReadLink() override;
  absl::StatusOr<fd::OwnedFd> Connect(uint32_t sock_type) override;
  absl::StatusOr<fd::OwnedFd> ConnectWithCreds(uint32_t sock_type, uint32_t uid,
                                               uint32_t gid) override;
  absl::StatusOr<lisafs::NewBoundSocket> BindAt(const lisafs::CreateArgs& args,
                                                uint32_t sock_type) override;
  absl::Status Unlink(absl::string_view name, uint32_t flags) override;
  absl::Status RenameAt(absl::string_view old_name, lisafs::ControlFD& new_dir,
                        absl::string_view new_name, uint32_t flags) override;
  absl::StatusOr<std::string> GetXattr(absl::string_view name,
                                       uint32_t size) override;
  absl::Status SetXattr(absl::string_view name, absl::string_view value,
                        uint32_t flags) override;
  absl::StatusOr<std::vector<std::string>> ListXattr(uint64_t size) override;
  absl::Status RemoveXattr(absl::string_view name) override;

 private:
  // NewChild wraps a freshly opened child file.
  absl::StatusOr<lisafs::NewControlFD> NewChild(host::OpenedFile file);
  // OpenCreated opens the child name this FD's directory just gained
  // (fsgofer's walk-step open), gives it uid/gid (unless both are "no ID")
  // and wraps it. The caller undoes the creation if this fails.
  absl::StatusOr<lisafs::NewControlFD> OpenCreated(const std::string& name,
                                                   uint32_t uid, uint32_t gid);
  // OpenParent returns an O_PATH FD on this file's parent directory and
  // sets *name to this file's name in it, by walking the tree path from the
  // mount point. EINVAL for a deleted file or the mount point itself.
  absl::StatusOr<fd::OwnedFd> OpenParent(std::string* name) const;
  // CheckWalkable fails with ENOENT if the scope hides name in this
  // directory, judged before it is opened: free when a path rule allows
  // the name whatever its type, else one fstatat. Sets *path to the
  // name's scope path. A no-op without a scope.
  absl::Status CheckWalkable(const std::string& name, std::string* path) const;
  // CheckReached fails with ENOENT if the scope hides the file at path with
  // stat st (the stat of the FD opened: the file really reached).
  absl::Status CheckReached(const std::string& path,
                            const lisafs::Statx& st) const;
  // CheckNewName fails with EACCES if a new file of mode and rdev named
  // name in this directory would be hidden, or if a hidden file already
  // holds the name (whose EEXIST would give it away).
  absl::Status CheckNewName(const std::string& name, uint32_t mode,
                            dev_t rdev) const;
  // CheckExisting fails with ENOENT if the scope hides the existing name
  // in this directory (for UnlinkAt, RenameAt); *st gets its stat when one
  // was taken (st_mode 0 otherwise).
  absl::Status CheckExisting(const std::string& name, struct stat* st) const;
  // ConnectTo connects a new socket of sock_type to this socket file.
  absl::StatusOr<fd::OwnedFd> ConnectTo(uint32_t sock_type);
  // WriteFd returns a write-only FD on the file, opened the first time.
  absl::StatusOr<int> WriteFd();

  const std::shared_ptr<State> state_;
  const HostFd host_;
  const bool opath_;
  const uint32_t type_;
  fd::OwnedFd write_fd_;
};

// OpenFD is an open FD: a host FD opened with the client's flags.
class OpenFD final : public lisafs::OpenFDImpl, public lisafs::Recycled {
 public:
  // dir is the control FD of a directory opened in a scoped connection
  // (its Getdents filters through the scope), else null. It outlives the
  // OpenFD: lisafs::OpenFD holds its ControlFD and destroys its impl first.
  explicit OpenFD(fd::OwnedFd host, const ControlFD* dir = nullptr)
      : host_(std::move(host)), dir_(dir) {}
  // OpenFD of a character device opened blocking (host, with flags): its
  // FD is the one donated, so it stays blocking, and Read and Write RPCs go
  // through a second, non-blocking open of the same file instead, made at
  // the first such RPC (devutil never sends one), so that no handler waits
  // on the device: EAGAIN where the device has nothing, as before.
  OpenFD(fd::OwnedFd host, int flags)
      : host_(std::move(host)),
        dir_(nullptr),
        blocking_device_(true),
        io_flags_(flags) {}

  absl::StatusOr<lisafs::Statx> Stat() override;
  absl::Status Sync() override;
  absl::StatusOr<size_t> Write(absl::Span<const uint8_t> data,
                               uint64_t offset) override;
  absl::StatusOr<size_t> Read(absl::Span<uint8_t> buf,
                              uint64_t offset) override;
  absl::Status Allocate(uint64_t mode, uint64_t offset,
                        uint64_t length) override;
  absl::Status Flush() override;
  absl::Status Getdents(uint32_t count, bool seek0,
                        std::vector<lisafs::Dirent64>* out) override;

 private:
  // IoFd is the FD for Read and Write: host_, or for a blocking device its
  // non-blocking twin (opened once, kept until the OpenFD goes).
  absl::StatusOr<int> IoFd();

  const fd::OwnedFd host_;
  const ControlFD* const dir_;
  const bool blocking_device_ = false;
  const int io_flags_ = 0;
  std::mutex mu_;
  fd::OwnedFd io_;  // guarded by mu_
};

// BoundSocketFD is a bound host socket made by BindAt.
class BoundSocketFD final : public lisafs::BoundSocketFDImpl {
 public:
  explicit BoundSocketFD(fd::OwnedFd sock) : sock_(std::move(sock)) {}

  absl::Status Listen(int32_t backlog) override;
  absl::StatusOr<lisafs::AcceptedSocket> Accept() override;

 private:
  const fd::OwnedFd sock_;
};

}  // namespace gvisor::fsgofer

#endif  // GVISOR_PKG_FSGOFER_FDS_H_
