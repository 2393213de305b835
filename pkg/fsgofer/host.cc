#include "pkg/fsgofer/host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::fsgofer::host {

namespace {

absl::Status Err(absl::string_view what, absl::string_view name = "") {
  int err = errno;
  if (name.empty()) return syserr::FromErrno(err, what);
  return syserr::FromErrno(
      err, absl::StrCat(what, " \"", absl::CHexEscape(name), "\""));
}

lisafs::StatxTimestamp Ts(const struct statx_timestamp& t) {
  lisafs::StatxTimestamp out;
  out.sec = t.tv_sec;
  out.nsec = t.tv_nsec;
  return out;
}

// The host's struct linux_dirent64, up to the name.
struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  uint16_t d_reclen;
  uint8_t d_type;
  char d_name[];
};

}  // namespace

absl::StatusOr<OpenedFile> TryOpen(int dirfd, const std::string& name) {
  if (name.empty()) return syserr::FromErrno(ENOENT, "open of an empty name");
  int fd = openat(dirfd, name.c_str(), O_RDONLY | O_NONBLOCK | kOpenFlags);
  if (fd >= 0) return OpenedFile{fd::OwnedFd(fd), false};
  if (errno == ENOENT) return Err("open", name);
  fd = openat(dirfd, name.c_str(), O_PATH | kOpenFlags);
  if (fd < 0) return Err("open", name);
  return OpenedFile{fd::OwnedFd(fd), true};
}

absl::StatusOr<OpenedFile> OpenMountPoint(const std::string& path) {
  return TryOpen(AT_FDCWD, path);
}

absl::StatusOr<lisafs::Statx> Stat(int fd) {
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
            STATX_BASIC_STATS | STATX_BTIME, &stx) != 0) {
    return Err("statx");
  }
  lisafs::Statx out;
  out.mask = stx.stx_mask;
  out.blksize = stx.stx_blksize;
  out.nlink = stx.stx_nlink;
  out.uid = stx.stx_uid;
  out.gid = stx.stx_gid;
  out.mode = stx.stx_mode;
  out.ino = stx.stx_ino;
  out.size = stx.stx_size;
  out.blocks = stx.stx_blocks;
  out.atime = Ts(stx.stx_atime);
  out.btime = Ts(stx.stx_btime);
  out.ctime = Ts(stx.stx_ctime);
  out.mtime = Ts(stx.stx_mtime);
  out.rdev_major = stx.stx_rdev_major;
  out.rdev_minor = stx.stx_rdev_minor;
  out.dev_major = stx.stx_dev_major;
  out.dev_minor = stx.stx_dev_minor;
  return out;
}

bool SupportedFileType(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFLNK:
    case S_IFCHR:
    case S_IFSOCK:
    case S_IFIFO:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<lisafs::Statx> StatSupported(int fd) {
  absl::StatusOr<lisafs::Statx> st = Stat(fd);
  if (!st.ok()) return st;
  if (!SupportedFileType(st->mode)) {
    return syserr::FromErrno(EPERM, absl::StrCat("unsupported file type 0",
                                                 absl::Hex(st->mode & S_IFMT)));
  }
  return st;
}

std::string ProcFdPath(int fd) { return absl::StrCat("/proc/self/fd/", fd); }

std::string ProcFdPath(int dirfd, absl::string_view name) {
  return absl::StrCat("/proc/self/fd/", dirfd, "/", name);
}

absl::StatusOr<fd::OwnedFd> Reopen(int fd, int flags) {
  // On the stack: "/proc/self/fd/" and at most 10 digits.
  char path[32];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  int nfd = open(path, flags | O_CLOEXEC);
  if (nfd < 0) return Err("reopen");
  return fd::OwnedFd(nfd);
}

absl::StatusOr<fd::OwnedFd> Dup(int fd) {
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (nfd < 0) return Err("dup");
  return fd::OwnedFd(nfd);
}

absl::Status SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) {
    if (errno == EBADF) return absl::OkStatus();
    return Err("fcntl(F_GETFL)");
  }
  if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 && errno != EBADF) {
    return Err("fcntl(F_SETFL, O_NONBLOCK)");
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> ReadAt(int fd, absl::Span<uint8_t> buf,
                              uint64_t offset) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = pread(fd, buf.data() + done, buf.size() - done,
                      static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Err("pread");
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

absl::StatusOr<size_t> WriteAt(int fd, absl::Span<const uint8_t> data,
                               uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done,
                       static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Err("pwrite");
    }
    if (n == 0) return syserr::FromErrno(EIO, "pwrite wrote nothing");
    done += static_cast<size_t>(n);
  }
  return done;
}

absl::Status Getdents(int fd, uint32_t count, bool seek0,
                      std::vector<lisafs::Dirent64>* out,
                      const DirentFilter& keep) {
  if (seek0 && lseek(fd, 0, SEEK_SET) < 0) return Err("lseek");
  alignas(8) static thread_local char buf[8192];
  uint32_t left = count;
  while (left > 0) {
    size_t want = std::min<size_t>(sizeof(buf), left);
    long n = syscall(SYS_getdents64, fd, buf, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && left < kMaxDirentSize) break;
      return Err("getdents64");
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      const auto* d = reinterpret_cast<const LinuxDirent64*>(buf + off);
      off += d->d_reclen;
      absl::string_view name(d->d_name);
      if (name == "." || name == "..") continue;
      struct stat st;
      if (fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (keep != nullptr && !keep(name, st)) continue;
      lisafs::Dirent64 e;
      e.ino = d->d_ino;
      e.dev_minor = minor(st.st_dev);
      e.dev_major = major(st.st_dev);
      e.off = static_cast<uint64_t>(d->d_off);
      e.type = d->d_type;
      e.name = std::string(name);
      out->push_back(std::move(e));
      left -= std::min<uint32_t>(left, d->d_reclen);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<fd::OwnedFd> OpenDirAt(
    int dirfd, absl::Span<const std::string> components) {
  int cur = openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cur < 0) return Err("open of \".\"");
  fd::OwnedFd owned(cur);
  for (const std::string& name : components) {
    if (name.empty() || name.find('\0') != std::string::npos) {
      return syserr::FromErrno(EINVAL, "bad path component");
    }
    int next = openat(owned.get(), name.c_str(),
                      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return Err("open of directory", name);
    owned.reset(next);
  }
  return owned;
}

}  // namespace gvisor::fsgofer::host
