// Package fsgofer: a LISAFS backend that serves a host directory with the
// semantics of gVisor's reference gofer (pkg/lisafs/README.md §7.7).
//
// One Connection object is the backend of one lisafs connection
// (lisafs::Server::StartConnection). Every file is reached through a host FD
// the server already holds: walks open one name at a time relative to the
// parent's FD with O_NOFOLLOW, opens of a walked file go through
// /proc/self/fd, and the few operations that need a name (link, xattrs and
// times of a symlink) use the parent directory reached by re-walking the tree
// path from the mount point, again with O_NOFOLLOW at every step. Symlinks
// are never followed, so a client cannot leave the mount point.
//
// Host FDs are donated (pkg/lisafs/README.md §5.2, §7.7): on OpenAt and
// OpenCreateAt for regular files (best effort), FIFOs and character devices;
// for the mount point itself when Options::donate_mount_fd is set and no
// Options::allowlist scopes the connection (on Mount, and on OpenAt of the
// mount point); the connected socket on Connect, the
// accepted one on Accept and the bound one on BindAt. A donated FD shares
// its open file description with the server's, so it carries the flags of
// the open: a character device's is blocking (no O_NONBLOCK), as drivers
// expect and as gVisor's fsgofer opens it; every other donated FD is
// non-blocking.
//
// What OpenAt gives, by file type (the dev gofer's table, which
// GoferClient::OpenAt follows on both of its paths, is in
// pkg/devutil/devutil.h):
//  * character device: EPERM under CharDevicePolicy::kDeny; else opened
//    with the access mode (plus O_NOCTTY), blocking, and donated;
//  * block device and other unsupported types: never reached, the Walk to
//    them fails with EPERM (as gVisor's checkSupportedFileType);
//  * regular file: opened O_NONBLOCK, donated (best effort);
//  * directory: O_RDONLY opens it (no FD donated but for the mount point
//    with donate_mount_fd); any other access mode is EISDIR;
//  * FIFO: EPERM unless host_fifo_open; else opened O_NONBLOCK and donated
//    (the walk's control FD holds it open for reading, as gVisor's tryOpen
//    does, so O_WRONLY finds a reader);
//  * socket: EPERM unless host_uds_open; else ENXIO (the host cannot open
//    a socket; Connect is the way to one);
//  * symlink: EINVAL (the lisafs server refuses it, as gVisor's).
// A read-only connection refuses any access mode but O_RDONLY with EROFS.
//
// Where this backend departs from the reference one:
//  * sockets are connected and bound through /proc/self/fd paths (the
//    socket file's own O_PATH FD for Connect, the directory FD for BindAt),
//    so the 108-byte sun_path limit never bites and no symlink can be
//    followed; the limit is still enforced on the tree path, as in Go;
//  * chmod and times of sockets and other O_PATH files go through
//    /proc/self/fd/N rather than through the parent directory;
//  * xattrs of O_PATH files other than symlinks use /proc/self/fd/N too;
//  * names, xattr names and symlink targets holding a NUL byte are EINVAL;
//  * Connect and ConnectWithCreds connect a non-blocking socket, so a
//    listener whose backlog is full answers EAGAIN at once rather than
//    holding the handler (and the server's rename lock) until it accepts;
//  * OpenCreateAt reopens the new file with O_NONBLOCK too;
//  * a character device's donated FD stays blocking, where gVisor's lisafs
//    server makes every donated FD non-blocking (DonateFD): its devices then
//    behave as on gVisor's host fast path, which opens them blocking.
//
// No host call here waits on another party indefinitely, but one: walks
// and the opens of everything but character devices use O_NONBLOCK (FIFOs,
// file leases), connects and accepts do not block. The open of a character
// device is blocking, as in gVisor: a driver may make it wait (a tty for
// carrier, a device that is busy). What bounds it: only character devices
// the policy lets through (CharDevicePolicy; a dev gofer serves a directory
// of devices), one connection is served by one worker at a time so it can
// hold at most one worker stuck so, and the server's shutdown grace. Read
// and Write RPCs on such a device do not wait: they use a second,
// non-blocking open of it, made at the first one (fds.h). (A driver that
// ignores O_NONBLOCK, or a hung network filesystem, can also stall a
// call.)

#ifndef GVISOR_PKG_FSGOFER_FSGOFER_H_
#define GVISOR_PKG_FSGOFER_FSGOFER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/devscope/allowlist.h"
#include "pkg/lisafs/server_impl.h"
#include "pkg/lisafs/wire.h"

namespace gvisor::fsgofer {

// CharDevicePolicy says whether OpenAt may open character devices.
enum class CharDevicePolicy {
  // kDeny refuses OpenAt of a character device with EPERM (runsc's
  // "emulated-only" seen from the gofer: the sandbox emulates the device).
  kDeny,
  // kPassthrough opens it and donates the host FD (runsc's /dev gofer).
  kPassthrough,
};

// ParseCharDevicePolicy parses "deny" or "passthrough" (EINVAL otherwise).
absl::StatusOr<CharDevicePolicy> ParseCharDevicePolicy(absl::string_view s);

// Options configure one connection's backend.
struct Options {
  // donate_mount_fd donates a host FD on the mount point with Mount (and
  // with OpenAt of the mount point): runsc's DonateMountPointFD, which it
  // turns on with directfs.
  bool donate_mount_fd = false;
  // char_devices is the policy for OpenAt of character devices.
  CharDevicePolicy char_devices = CharDevicePolicy::kDeny;
  // host_fifo_open lets OpenAt open FIFOs (runsc --host-fifo=open);
  // otherwise EPERM.
  bool host_fifo_open = false;
  // host_uds_open lets clients open and connect to host unix sockets
  // (Connect, ConnectWithCreds); otherwise EPERM.
  bool host_uds_open = false;
  // host_uds_create lets clients create sockets with BindAt; otherwise
  // EPERM.
  bool host_uds_create = false;
  // allowlist scopes the connection (pkg/devscope/allowlist.h); null or
  // empty serves every file. A file the allowlist hides behaves as absent:
  //  * Walk stops at it as at a missing name, WalkStat stops before it, and
  //    it is not opened on the way (the name is fstatat'ed first unless a
  //    path rule allows it whatever its type), so a hidden device sees no
  //    open;
  //  * Getdents64 leaves it out without charging the count, and keeps
  //    reading, so a batch is empty only at the end of the directory;
  //  * UnlinkAt of it and RenameAt from it are ENOENT.
  // Creating a name the allowlist would hide (MkdirAt, MknodAt, SymlinkAt,
  // LinkAt, OpenCreateAt, BindAt, RenameAt's new name), or one where a
  // hidden file exists, is EACCES and makes no host file. RenameAt of a
  // directory that is only kTraverse (it may hold hidden entries) is
  // EACCES too. Only visible files can be reached, so every other RPC
  // (OpenAt, Connect, ReadLinkAt, xattrs, ...) acts on visible files only.
  // With a non-empty allowlist the mount point is never donated, whatever
  // donate_mount_fd says: the donated FD would see every file.
  std::shared_ptr<const devscope::Allowlist> allowlist;
};

// kMaxMessageSize is the payload limit advertised in Mount: a huge page
// less a page, as fsgofer on 4 KiB-page hosts (pkg/lisafs/README.md §5.1).
inline constexpr uint32_t kMaxMessageSize = 2093056;

// SupportedMessages returns the MIDs the backend advertises, those of
// gVisor's fsgofer: 1..19 and 21..33 (Channel included; Error and Flush
// left out).
std::vector<lisafs::MID> SupportedMessages();

// State is shared by a connection's backend objects.
struct State;

// Connection is the backend of one lisafs connection.
class Connection final : public lisafs::ConnectionImpl {
 public:
  explicit Connection(Options options);
  ~Connection() override;

  // Mount opens mount_path (O_RDONLY, or O_PATH if that fails with
  // anything but ENOENT; the last component is not followed) and requires a
  // supported file type (else EPERM).
  absl::StatusOr<lisafs::MountResult> Mount(
      absl::string_view mount_path) override;
  std::vector<lisafs::MID> SupportedMessages() const override;
  uint32_t MaxMessageSize() const override { return kMaxMessageSize; }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace gvisor::fsgofer

#endif  // GVISOR_PKG_FSGOFER_FSGOFER_H_
