// PrivateDir: what a scoped devgofer serves, and donates, so that the
// donated mount FD gives no more than the allowlist allows.
//
// A donated mount FD lets the client open files beneath it on the host
// directly (pkg/lisafs/README.md §9), past every check the gofer makes on
// RPCs; an allowlist (pkg/devscope/allowlist.h) then holds only if the
// directory beneath the FD holds nothing else. MakePrivateDir makes that
// directory, in this order:
//
//   1. unshare(CLONE_NEWNS), then makes every mount of the new namespace
//      MS_REC|MS_PRIVATE, so nothing that follows reaches the host's (or
//      any other) mount namespace;
//   2. scans `root` (no symlink followed; at most limits.max_depth levels
//      and limits.max_entries entries, else RESOURCE_EXHAUSTED) and keeps
//      what the allowlist shows: a kAllowed file or directory, and the
//      kTraverse directories on the way (device-number rules are resolved
//      here, against the nodes the scan finds);
//   3. mounts a tmpfs over `root` (nodev, nosuid, noexec, with the owner
//      and mode of the original root) and, in it, for each file kept:
//      a traversed directory is made with the original's owner and mode;
//      an allowed directory, device node, FIFO, socket or regular file is
//      bind-mounted from the original (MS_REC for a directory, so its
//      submounts come along), so it is the same inode with the same owner,
//      mode and device number, and opens as the original does; an allowed
//      symlink is made anew with the same target and owner;
//   4. remounts the tmpfs read-only (the bind mounts keep their own flags):
//      nothing can be created beside the allowed files.
//
// The served path stays `root`: from then on this process (and only this
// one) sees at `root` just the allowed files, so the gofer opens --root,
// serves and donates it as usual. The original tree stays reachable only
// through FDs opened before.
//
// Call it early, while the process is single-threaded (unshare(CLONE_NEWNS)
// fails with EINVAL otherwise) and still holds CAP_SYS_ADMIN, i.e. before
// the sandbox (sandbox.h) and before the server starts. Without the
// privilege it fails with FAILED_PRECONDITION and a message saying so.

#ifndef GVISOR_TOOLS_DEVGOFER_PRIVATE_DIR_H_
#define GVISOR_TOOLS_DEVGOFER_PRIVATE_DIR_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pkg/devscope/allowlist.h"

namespace gvisor::devgofer {

// PrivateDirLimits bound the scan of the original root.
struct PrivateDirLimits {
  // max_entries bounds the directory entries read, all directories
  // together.
  size_t max_entries = 1 << 16;
  // max_depth bounds the levels of directories below the root scanned.
  size_t max_depth = 16;
};

// PrivateDir is the directory made.
struct PrivateDir {
  // path is the directory to serve: the root, canonical (realpath).
  std::string path;
  // entries are the relative paths put in it, parents before children, in
  // the order scanned (traversed directories included).
  std::vector<std::string> entries;
  // description says what was made, for the log.
  std::string description;
};

// MakePrivateDir makes the private view of `root` (an absolute directory,
// not "/") that shows what `allow` shows, as the file comment says. An
// empty allowlist scopes nothing: it returns the root, makes nothing and
// leaves the namespace alone. Errors: FAILED_PRECONDITION (with the errno)
// when the mount namespace cannot be made (no CAP_SYS_ADMIN: EPERM;
// threads: EINVAL); INVALID_ARGUMENT for a bad root; NOT_FOUND, naming the
// rules, when they match no file under root (there would be nothing to
// serve); RESOURCE_EXHAUSTED for a scan past `limits`; the errno of any
// other failed syscall, naming the file. After a failure past step 1 the
// process's view of `root` is undefined: give up (devgofer exits).
absl::StatusOr<PrivateDir> MakePrivateDir(
    const std::string& root, const devscope::Allowlist& allow,
    const PrivateDirLimits& limits = PrivateDirLimits());

}  // namespace gvisor::devgofer

#endif  // GVISOR_TOOLS_DEVGOFER_PRIVATE_DIR_H_
