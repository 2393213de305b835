// Package lisafs, server side: the interfaces a backend implements.
//
// The server framework (server.h) owns connections, the FD table, the file
// tree and its locks, and runs every generic check of pkg/lisafs/README.md
// §7.2-§7.6 before it calls a backend. A backend supplies one ConnectionImpl
// per connection, and for each FD the framework hands out, an implementation
// object: ControlFDImpl (a position in the tree), OpenFDImpl (an open file)
// or BoundSocketFDImpl (a bound unix socket). pkg/fsgofer is the backend
// over a host directory.
//
// Calls into a backend come with the lock level of pkg/lisafs/README.md §4.1
// already held, so a backend never takes the framework's locks itself. Returned
// statuses carry an errno (pkg/syserr); the framework sends it as the Error
// response. Every default implementation below fails with EOPNOTSUPP.

#ifndef GVISOR_PKG_LISAFS_SERVER_IMPL_H_
#define GVISOR_PKG_LISAFS_SERVER_IMPL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/wire.h"

namespace gvisor::lisafs {

class ControlFD;
class ControlFDImpl;
class OpenFDImpl;
class BoundSocketFDImpl;

// NewControlFD is what a backend returns for a file it walked to or
// created: the implementation of the new control FD and the file's Statx
// (whose type bits tell the framework what kind of file it is).
struct NewControlFD {
  std::unique_ptr<ControlFDImpl> impl;
  Statx stat;
};

// NewOpenFD is what a backend returns for an opened file: the open FD's
// implementation and, optionally, a host FD to donate to the client, in one
// of two forms (at most one of them):
//  - donated: an FD of its own, which the framework sends and then closes;
//  - lent: an FD that impl owns and keeps, which the framework sends as is
//    (no dup, no close), holding the new open FD, and so impl, alive until
//    the answer is out, however soon the client closes its FDID.
// Either way the client's copy shares the open file description (flags,
// O_NONBLOCK included, and offset) with the server's.
struct NewOpenFD {
  std::unique_ptr<OpenFDImpl> impl;
  fd::OwnedFd donated;
  int lent = -1;
};

// NewFile is the result of OpenCreate: the created file's control FD and
// the open FD on it.
struct NewFile {
  NewControlFD control;
  NewOpenFD open;
};

// NewBoundSocket is the result of BindAt: the socket file's control FD, the
// bound socket's implementation, and the host socket to donate.
struct NewBoundSocket {
  NewControlFD control;
  std::unique_ptr<BoundSocketFDImpl> impl;
  fd::OwnedFd donated;
};

// CreateArgs are the common arguments of the create RPCs (pkg/lisafs/README.md
// §3.6). The framework has validated name (pkg/lisafs/README.md §7.5). uid/gid
// may be kNoUID/kNoGID: keep the server's.
struct CreateArgs {
  absl::string_view name;
  uint32_t mode = 0;
  uint32_t uid = kNoUID;
  uint32_t gid = kNoGID;
};

// MountResult is what ConnectionImpl::Mount returns.
struct MountResult {
  NewControlFD root;
  // donated, if valid, is a host FD on the mount point sent with the Mount
  // response (pkg/lisafs/README.md §5.2).
  fd::OwnedFd donated;
};

// AcceptedSocket is one connection taken from a listening socket.
struct AcceptedSocket {
  fd::OwnedFd fd;
  std::string peer_addr;
};

// OpenFDImpl implements an open FD. It is destroyed when the client closes
// the FD or the connection ends.
class OpenFDImpl {
 public:
  virtual ~OpenFDImpl() = default;

  // Stat returns the open file's Statx (read guarantee).
  virtual absl::StatusOr<Statx> Stat() = 0;
  // Sync flushes the file to stable storage.
  virtual absl::Status Sync();
  // Write writes data at offset and returns the bytes written.
  virtual absl::StatusOr<size_t> Write(absl::Span<const uint8_t> data,
                                       uint64_t offset);
  // Read fills buf from offset and returns the bytes read (0 at EOF).
  virtual absl::StatusOr<size_t> Read(absl::Span<uint8_t> buf, uint64_t offset);
  // Allocate is fallocate(2).
  virtual absl::Status Allocate(uint64_t mode, uint64_t offset,
                                uint64_t length);
  // Flush is called on the client's Flush (MID 20).
  virtual absl::Status Flush();
  // Getdents appends directory entries to out, using at most count bytes of
  // budget (how the budget is charged is the backend's business). If seek0,
  // it starts again from the first entry. No entries means end of directory.
  virtual absl::Status Getdents(uint32_t count, bool seek0,
                                std::vector<Dirent64>* out);
};

// BoundSocketFDImpl implements a bound-socket FD (made by BindAt).
class BoundSocketFDImpl {
 public:
  virtual ~BoundSocketFDImpl() = default;

  // Listen is listen(2) with backlog.
  virtual absl::Status Listen(int32_t backlog);
  // Accept takes one pending connection without blocking (EAGAIN if none).
  virtual absl::StatusOr<AcceptedSocket> Accept();
};

// ControlFDImpl implements a control FD. Methods that create files return
// the new file's NewControlFD. The framework has checked the FD kinds, the
// names, the file types (directory, symlink, socket) and the deleted state
// the RPC requires before it calls them.
class ControlFDImpl {
 public:
  virtual ~ControlFDImpl() = default;

  // Stat returns the file's Statx.
  virtual absl::StatusOr<Statx> Stat() = 0;

  // SetStat applies the attributes in req.mask (only the bits STATX_MODE,
  // STATX_UID, STATX_GID, STATX_ATIME, STATX_MTIME and STATX_SIZE) and
  // reports what failed; it cannot fail as a whole (pkg/lisafs/README.md §4.2,
  // MID 4).
  virtual SetStatResp SetStat(const SetStatReq& req);

  // Walk steps from this directory to its child name without following a
  // symlink. Returns ENOENT if there is no such child; any other error
  // fails the whole Walk RPC.
  virtual absl::StatusOr<NewControlFD> Walk(absl::string_view name);

  // WalkStat appends the Statx of each component of path walked from this
  // file, stopping quietly at a missing component and after a symlink. A
  // first component "" means this file itself (pkg/lisafs/README.md §7.6).
  virtual absl::Status WalkStat(absl::Span<const std::string> path,
                                std::vector<Statx>* out);

  // Open opens the file with flags (already cut down to O_ACCMODE|O_TRUNC).
  virtual absl::StatusOr<NewOpenFD> Open(uint32_t flags);

  // OpenCreate creates the regular file args.name in this directory and
  // opens it with flags (O_ACCMODE|O_TRUNC). On failure nothing is left
  // behind.
  virtual absl::StatusOr<NewFile> OpenCreate(const CreateArgs& args,
                                             uint32_t flags);

  // Mkdir, Mknod and Symlink create args.name (name) in this directory. On
  // failure nothing is left behind.
  virtual absl::StatusOr<NewControlFD> Mkdir(const CreateArgs& args);
  virtual absl::StatusOr<NewControlFD> Mknod(const CreateArgs& args,
                                             uint32_t minor, uint32_t major);
  virtual absl::StatusOr<NewControlFD> Symlink(absl::string_view name,
                                               absl::string_view target,
                                               uint32_t uid, uint32_t gid);

  // Link makes name in this directory a hard link to target's file (target
  // is a control FD of the same connection, not a directory).
  virtual absl::StatusOr<NewControlFD> Link(ControlFD& target,
                                            absl::string_view name);

  // StatFs returns the statistics of the file's filesystem.
  virtual absl::StatusOr<StatFS> StatFs();

  // ReadLink returns the target of this symlink.
  virtual absl::StatusOr<std::string> ReadLink();

  // Connect connects a new socket of sock_type to this socket file and
  // returns it for donation. ConnectWithCreds does it with the effective
  // uid and gid switched to the caller's.
  virtual absl::StatusOr<fd::OwnedFd> Connect(uint32_t sock_type);
  virtual absl::StatusOr<fd::OwnedFd> ConnectWithCreds(uint32_t sock_type,
                                                       uint32_t uid,
                                                       uint32_t gid);

  // BindAt creates the socket file args.name in this directory, bound to a
  // new socket of sock_type. On failure nothing is left behind.
  virtual absl::StatusOr<NewBoundSocket> BindAt(const CreateArgs& args,
                                                uint32_t sock_type);

  // Unlink removes name from this directory (flags as unlinkat(2)).
  virtual absl::Status Unlink(absl::string_view name, uint32_t flags);

  // RenameAt renames old_name in this directory to new_name in new_dir
  // (flags as renameat2(2)).
  virtual absl::Status RenameAt(absl::string_view old_name, ControlFD& new_dir,
                                absl::string_view new_name, uint32_t flags);

  // Extended attributes (pkg/lisafs/README.md §4.2, MIDs 25-28). size is the
  // client's buffer size; how it is applied is the backend's business.
  virtual absl::StatusOr<std::string> GetXattr(absl::string_view name,
                                               uint32_t size);
  virtual absl::Status SetXattr(absl::string_view name, absl::string_view value,
                                uint32_t flags);
  virtual absl::StatusOr<std::vector<std::string>> ListXattr(uint64_t size);
  virtual absl::Status RemoveXattr(absl::string_view name);

 protected:
  // fd returns the control FD this object implements. Valid from the moment
  // the framework wraps the object, i.e. in every method above.
  ControlFD& fd() const { return *fd_; }

 private:
  friend class ControlFD;
  ControlFD* fd_ = nullptr;
};

// ConnectionImpl is a backend's per-connection object.
class ConnectionImpl {
 public:
  virtual ~ConnectionImpl() = default;

  // Mount opens the connection's mount point, the absolute host path
  // mount_path (pkg/lisafs/README.md §5.3). Called on each Mount RPC.
  virtual absl::StatusOr<MountResult> Mount(absl::string_view mount_path) = 0;

  // SupportedMessages lists the MIDs advertised in the Mount response, in
  // order. It must not be empty. The framework refuses any other MID with
  // EOPNOTSUPP.
  virtual std::vector<MID> SupportedMessages() const = 0;

  // MaxMessageSize is the payload limit advertised and enforced (non-zero).
  virtual uint32_t MaxMessageSize() const = 0;
};

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_SERVER_IMPL_H_
