// ClientFD is the LISAFS client's handle on one server-side FDID
// (pkg/lisafs/README.md §6), with a method per RPC on that FDID;
// ClientBoundSocketFD is the handle on a bound socket. Both are made by a
// Client (client.h, which includes this header) and share it.
//
// Every method runs its RPCs through Client::Rpc, so all of them share its
// errors (see Client::SndRcvMessage): EOPNOTSUPP (nothing sent) if the
// server did not advertise the RPC, the server's errno for an Error
// response, and EIO for a malformed response or a transport failure, after
// which the client is dead. Each method below lists only what it adds.
//
// Ownership: an FDID a method returns (in an Inode's control_fd, an
// open_fd, a bound socket) belongs to the caller, who closes it with
// ClientFD::Close or Client::CloseFD. A host FD a method returns is an
// fd::OwnedFd, owned by the caller. FDIDs passed in (target, new_dir) are
// borrowed: the caller keeps them.

#ifndef GVISOR_PKG_LISAFS_CLIENT_FD_H_
#define GVISOR_PKG_LISAFS_CLIENT_FD_H_

#include <stddef.h>
#include <stdint.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "pkg/context/context.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/wire.h"

namespace gvisor::lisafs {

class Client;
class ClientBoundSocketFD;

// WalkResult is the raw outcome of a Walk RPC; the caller owns every control
// FD in inodes, whatever the status.
struct WalkResult {
  WalkStatus status = WalkStatus::kSuccess;
  std::vector<Inode> inodes;
};

// OpenResult is an open FDID and the host FD the server donated, if any.
struct OpenResult {
  FDID open_fd = kInvalidFDID;
  fd::OwnedFd host_fd;
};

// CreateResult is OpenCreateAt's outcome: the new file's Inode (a control
// FD the caller owns), its open FDID, and the donated host FD if any.
struct CreateResult {
  Inode child;
  FDID open_fd = kInvalidFDID;
  fd::OwnedFd host_fd;
};

// SetStatResult reports the attributes a SetStat could not change.
struct SetStatResult {
  uint32_t failure_mask = 0;
  int failure_errno = 0;
};

// AcceptResult is an accepted connection and the peer's address.
struct AcceptResult {
  fd::OwnedFd fd;
  std::string peer_addr;
};

// ClientFD is a handle on one FDID of a Client (control, open or bound
// socket; the server checks the kind). It is a cheap value: copies refer to
// the same FDID, and nothing is closed implicitly: call Close once. Calling
// an RPC method on a handle that is not ok() is a programming error.
class ClientFD {
 public:
  // The default handle is invalid (ok() is false).
  ClientFD() = default;
  // Refers to fd of client. It does not take ownership of fd: whoever
  // closes it calls Close on one copy.
  ClientFD(std::shared_ptr<Client> client, FDID fd)
      : client_(std::move(client)), fd_(fd) {}

  // id is the FDID this handle refers to (kInvalidFDID once closed).
  FDID id() const { return fd_; }
  // ok reports whether this handle refers to an FDID of a client.
  bool ok() const { return client_ != nullptr && fd_ != kInvalidFDID; }
  // client is the Client this handle belongs to (borrowed; null if invalid).
  Client* client() const { return client_.get(); }

  // Close queues the FDID for closing (pkg/lisafs/README.md §6.3) and
  // invalidates this handle. Closing an invalid handle does nothing.
  void Close(const context::Context& ctx, bool flush);

  // FStat stats a control or open FD (one FStat RPC).
  absl::StatusOr<Statx> FStat(const context::Context& ctx) const;
  // SetStat changes the attributes in req.mask (req.fd is overwritten).
  // Partial failures are reported in the result, not as an error.
  absl::StatusOr<SetStatResult> SetStat(const context::Context& ctx,
                                        SetStatReq req) const;
  // WalkMultiple walks names from this directory in one RPC. EIO (with
  // every returned FDID closed) if the server returns more inodes than
  // names.
  absl::StatusOr<WalkResult> WalkMultiple(
      const context::Context& ctx, absl::Span<const std::string> names) const;
  // Walk walks one component: ENOENT if it does not exist, ENOTDIR for a
  // symlink in the way, EIO for a malformed answer.
  absl::StatusOr<Inode> Walk(const context::Context& ctx,
                             absl::string_view name) const;
  // WalkStat stats each component of names (the first may be "" for this
  // directory itself); no FDIDs are created. EIO if the server returns more
  // Statx records than names.
  absl::StatusOr<std::vector<Statx>> WalkStat(
      const context::Context& ctx, absl::Span<const std::string> names) const;
  // OpenAt opens this control FD with flags; the host FD is invalid if the
  // server donated none.
  absl::StatusOr<OpenResult> OpenAt(const context::Context& ctx,
                                    uint32_t flags) const;
  // OpenCreateAt creates and opens name in this directory.
  absl::StatusOr<CreateResult> OpenCreateAt(const context::Context& ctx,
                                            absl::string_view name,
                                            uint32_t flags, uint16_t mode,
                                            uint32_t uid, uint32_t gid) const;
  // Sync fsyncs this open FD.
  absl::Status Sync(const context::Context& ctx) const;
  // Read reads into dst from offset with PRead RPCs of at most
  // max_message_size - 8 bytes each, stopping at a short chunk. Returns the
  // bytes read; fewer than dst.size() means end of file.
  absl::StatusOr<size_t> Read(const context::Context& ctx,
                              absl::Span<uint8_t> dst, uint64_t offset) const;
  // Write writes src at offset with PWrite RPCs of at most
  // max_message_size - 20 bytes each, stopping at a short write.
  absl::StatusOr<size_t> Write(const context::Context& ctx,
                               absl::Span<const uint8_t> src,
                               uint64_t offset) const;
  // MkdirAt creates directory name in this directory with mode, uid and gid
  // (one MkdirAt RPC) and returns its Inode, whose control FD the caller
  // owns.
  absl::StatusOr<Inode> MkdirAt(const context::Context& ctx,
                                absl::string_view name, uint16_t mode,
                                uint32_t uid, uint32_t gid) const;
  // MknodAt creates node name in this directory; mode holds the file type
  // and permissions, minor and major the device number (one MknodAt RPC).
  // Returns its Inode, whose control FD the caller owns.
  absl::StatusOr<Inode> MknodAt(const context::Context& ctx,
                                absl::string_view name, uint16_t mode,
                                uint32_t uid, uint32_t gid, uint32_t minor,
                                uint32_t major) const;
  // SymlinkAt creates symlink name to target in this directory (one
  // SymlinkAt RPC) and returns its Inode, whose control FD the caller owns.
  absl::StatusOr<Inode> SymlinkAt(const context::Context& ctx,
                                  absl::string_view name,
                                  absl::string_view target, uint32_t uid,
                                  uint32_t gid) const;
  // LinkAt makes name in this directory a hard link to target's file
  // (target is borrowed) and returns the new link's Inode, whose control FD
  // the caller owns.
  absl::StatusOr<Inode> LinkAt(const context::Context& ctx, FDID target,
                               absl::string_view name) const;
  // StatFSTo returns the statfs(2) of the file system holding this FD (one
  // FStatFS RPC).
  absl::StatusOr<StatFS> StatFSTo(const context::Context& ctx) const;
  // Allocate runs fallocate(2) with mode over [offset, offset + length) of
  // this open FD (one FAllocate RPC).
  absl::Status Allocate(const context::Context& ctx, uint64_t mode,
                        uint64_t offset, uint64_t length) const;
  // ReadLinkAt returns the target of the symlink this control FD refers to
  // (one ReadLinkAt RPC).
  absl::StatusOr<std::string> ReadLinkAt(const context::Context& ctx) const;
  // Flush sends Flush if the server supports it; otherwise it succeeds with
  // nothing sent (pkg/lisafs/README.md §6.6).
  absl::Status Flush(const context::Context& ctx) const;
  // Connect connects to the socket file of this control FD and returns the
  // connected host socket, which the caller owns. With a valid euid and
  // egid and server support it uses ConnectWithCreds. EBADF if the server
  // donated no FD.
  absl::StatusOr<fd::OwnedFd> Connect(const context::Context& ctx,
                                      int sock_type, uint32_t euid = kNoUID,
                                      uint32_t egid = kNoGID) const;
  // UnlinkAt removes name from this directory; flags are unlinkat(2)'s
  // (AT_REMOVEDIR for a directory). One UnlinkAt RPC.
  absl::Status UnlinkAt(const context::Context& ctx, absl::string_view name,
                        uint32_t flags) const;
  // RenameAt renames old_name in this directory to new_name in new_dir
  // (borrowed). flags != 0 needs RenameAt2 on the server (else EINVAL,
  // nothing sent).
  absl::Status RenameAt(const context::Context& ctx, absl::string_view old_name,
                        FDID new_dir, absl::string_view new_name,
                        uint32_t flags = 0) const;
  // Getdents64 reads entries of this open directory FD; count < 0 seeks to
  // the start first. |count| is clamped to max_message_size(), so that a
  // well-behaved server never answers more than the client accepts. An
  // empty result means end of directory.
  absl::StatusOr<std::vector<Dirent64>> Getdents64(const context::Context& ctx,
                                                   int32_t count) const;
  // GetXattr returns the value of extended attribute name of this FD, with
  // size as fgetxattr(2)'s buffer size (one FGetXattr RPC).
  absl::StatusOr<std::string> GetXattr(const context::Context& ctx,
                                       absl::string_view name,
                                       uint32_t size) const;
  // SetXattr sets extended attribute name of this FD to value; flags are
  // fsetxattr(2)'s (one FSetXattr RPC).
  absl::Status SetXattr(const context::Context& ctx, absl::string_view name,
                        absl::string_view value, uint32_t flags) const;
  // ListXattr returns the names of the extended attributes of this FD, with
  // size as flistxattr(2)'s buffer size (one FListXattr RPC).
  absl::StatusOr<std::vector<std::string>> ListXattr(
      const context::Context& ctx, uint64_t size) const;
  // RemoveXattr removes extended attribute name of this FD (one
  // FRemoveXattr RPC).
  absl::Status RemoveXattr(const context::Context& ctx,
                           absl::string_view name) const;
  // BindAt creates socket file name in this directory and binds it. Returns
  // the new file's Inode and the bound socket, both owned by the caller;
  // EBADF (with both FDIDs closed) if the server donated no FD.
  absl::StatusOr<std::pair<Inode, ClientBoundSocketFD>> BindAt(
      const context::Context& ctx, int sock_type, absl::string_view name,
      uint16_t mode, uint32_t uid, uint32_t gid) const;

 private:
  // CheckWalk turns a Walk response for `components` names into a result:
  // EIO, with every returned FDID closed, if it has more inodes than names.
  absl::StatusOr<WalkResult> CheckWalk(const context::Context& ctx, WalkResp r,
                                       size_t components) const;

  std::shared_ptr<Client> client_;
  FDID fd_ = kInvalidFDID;
};

// ClientBoundSocketFD is a bound-socket FDID plus the host socket the server
// donated for readiness notification. It is move-only (it owns the
// notification FD); call Close once.
class ClientBoundSocketFD {
 public:
  // The default handle is invalid.
  ClientBoundSocketFD() = default;
  // Refers to fd of client and takes ownership of notification_fd.
  ClientBoundSocketFD(std::shared_ptr<Client> client, FDID fd,
                      fd::OwnedFd notification_fd)
      : client_(std::move(client)),
        fd_(fd),
        notification_fd_(std::move(notification_fd)) {}

  // id is the bound socket's FDID (kInvalidFDID once closed).
  FDID id() const { return fd_; }
  // notification_fd is the donated host socket, borrowed: poll it for
  // readiness, do not close it.
  int notification_fd() const { return notification_fd_.get(); }

  // Listen runs listen(2) with backlog on the bound socket (one Listen RPC).
  absl::Status Listen(const context::Context& ctx, int32_t backlog) const;
  // Accept returns a pending connection, whose FD the caller owns; EAGAIN
  // when none is pending, EBADF if the server donated no FD.
  absl::StatusOr<AcceptResult> Accept(const context::Context& ctx) const;
  // Close closes the FDID (always flushed) and the notification FD.
  // Closing an invalid handle does nothing.
  void Close(const context::Context& ctx);

 private:
  std::shared_ptr<Client> client_;
  FDID fd_ = kInvalidFDID;
  fd::OwnedFd notification_fd_;
};

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_CLIENT_FD_H_
