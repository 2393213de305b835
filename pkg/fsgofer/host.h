// Package fsgofer, host side: the host syscalls the backend is built from,
// each with the exact flags of the reference fsgofer (pkg/lisafs/README.md
// §7.7).
//
// Nothing here follows a symlink: every open adds O_NOFOLLOW, every stat
// uses AT_SYMLINK_NOFOLLOW, and names are looked up one at a time relative
// to a directory FD that is already held. Functions return absl::Status
// values carrying the errno (pkg/syserr).

#ifndef GVISOR_PKG_FSGOFER_HOST_H_
#define GVISOR_PKG_FSGOFER_HOST_H_

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/wire.h"

namespace gvisor::fsgofer::host {

// kOpenFlags are added to every open.
inline constexpr int kOpenFlags = O_NOFOLLOW | O_CLOEXEC;

// kMaxDirentSize is the size of the largest host dirent64 (a 255-byte
// name), rounded as the kernel does.
inline constexpr uint32_t kMaxDirentSize = 280;

// DirentFilter says whether Getdents keeps an entry, given its name and its
// fstatat (AT_SYMLINK_NOFOLLOW).
using DirentFilter =
    std::function<bool(absl::string_view name, const struct stat& st)>;

// OpenedFile is a host FD from TryOpen with how it was opened.
struct OpenedFile {
  fd::OwnedFd fd;
  // opath is true if the FD is an O_PATH FD (symlinks, sockets, and files
  // the server may not read).
  bool opath = false;
};

// TryOpen opens name in dirfd the way fsgofer walks:
// O_RDONLY|O_NONBLOCK|O_NOFOLLOW|O_CLOEXEC, and on any failure but ENOENT,
// O_PATH|O_NOFOLLOW|O_CLOEXEC. name must hold no NUL. An empty name is
// refused with ENOENT.
absl::StatusOr<OpenedFile> TryOpen(int dirfd, const std::string& name);

// OpenMountPoint opens the absolute path like TryOpen does a name (final
// component not followed).
absl::StatusOr<OpenedFile> OpenMountPoint(const std::string& path);

// Stat returns statx(fd, "", AT_EMPTY_PATH|AT_SYMLINK_NOFOLLOW) of an FD
// (O_PATH FDs included), in the wire layout: mask, mode, nlink, uid, gid,
// ino, size, blocks, blksize, the four times, rdev and dev are copied;
// attributes and attributes_mask stay 0 (pkg/lisafs/README.md §3.4).
absl::StatusOr<lisafs::Statx> Stat(int fd);

// SupportedFileType reports whether the backend serves files of mode's
// type: regular, directory, symlink, character device, socket or FIFO.
bool SupportedFileType(uint32_t mode);

// StatSupported is Stat followed by SupportedFileType (EPERM if not).
absl::StatusOr<lisafs::Statx> StatSupported(int fd);

// ProcFdPath returns "/proc/self/fd/<fd>", a path that names exactly the
// file behind fd; with name, "/proc/self/fd/<fd>/<name>" names the entry
// name of the directory behind fd.
std::string ProcFdPath(int fd);
std::string ProcFdPath(int dirfd, absl::string_view name);

// Reopen opens the file behind fd again through procfs, with flags (plus
// O_CLOEXEC). No path is walked: it is the same inode.
absl::StatusOr<fd::OwnedFd> Reopen(int fd, int flags);

// Dup duplicates fd (close-on-exec).
absl::StatusOr<fd::OwnedFd> Dup(int fd);

// SetNonBlocking puts fd's open file description in O_NONBLOCK mode, as
// every donated FD but a character device's must be. EBADF (an O_PATH FD)
// is ignored.
absl::Status SetNonBlocking(int fd);

// ReadAt fills buf from offset with pread(2), looping over short reads,
// and stops early only at EOF. An error drops what was read.
absl::StatusOr<size_t> ReadAt(int fd, absl::Span<uint8_t> buf, uint64_t offset);

// WriteAt writes all of data at offset with pwrite(2), looping over short
// writes.
absl::StatusOr<size_t> WriteAt(int fd, absl::Span<const uint8_t> data,
                               uint64_t offset);

// Getdents reads entries of the directory fd with getdents64(2), after an
// lseek to 0 if seek0. "." and ".." are dropped; each entry's device comes
// from an fstatat of it, and entries whose fstatat fails are skipped. The
// budget count is charged with each recorded entry's host record length;
// reads are made in 8 KiB chunks capped at what is left of it. If less than
// kMaxDirentSize is left and the kernel answers EINVAL (no room for the next
// entry), the entries so far are the result. Entries a non-null keep
// refuses are skipped without being charged, and reading goes on, so the
// result is empty only at the end of the directory (or for a count too
// small for one entry).
absl::Status Getdents(int fd, uint32_t count, bool seek0,
                      std::vector<lisafs::Dirent64>* out,
                      const DirentFilter& keep = nullptr);

// OpenDirAt walks components from dirfd, one O_PATH|O_DIRECTORY|O_NOFOLLOW
// open at a time, and returns an O_PATH FD on the last directory (a dup of
// dirfd's file for no components).
absl::StatusOr<fd::OwnedFd> OpenDirAt(int dirfd,
                                      absl::Span<const std::string> components);

}  // namespace gvisor::fsgofer::host

#endif  // GVISOR_PKG_FSGOFER_HOST_H_
