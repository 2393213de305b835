// ControlFD: path-style operations on a file the server holds open.

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "pkg/fsgofer/fds.h"
#include "pkg/lisafs/server_fd.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/address.h"

namespace gvisor::fsgofer {

namespace {

using lisafs::NewControlFD;

// STATX bits of SetStatReq.mask (pkg/lisafs/README.md §4.2, MID 4).
constexpr uint32_t kStatxMode = 0x2;
constexpr uint32_t kStatxUid = 0x8;
constexpr uint32_t kStatxGid = 0x10;
constexpr uint32_t kStatxAtime = 0x20;
constexpr uint32_t kStatxMtime = 0x40;
constexpr uint32_t kStatxSize = 0x200;

// kMaxXattrBuf is where fsgofer caps (and defaults) xattr buffers.
constexpr size_t kMaxXattrBuf = 65536;

absl::Status Err(absl::string_view what) {
  return syserr::FromErrno(errno, what);
}

absl::Status ErrName(absl::string_view what, absl::string_view name) {
  const int err = errno;
  return syserr::FromErrno(
      err, absl::StrCat(what, " \"", absl::CHexEscape(name), "\""));
}

bool HasNul(absl::string_view s) {
  return s.find('\0') != absl::string_view::npos;
}

absl::Status NoNul(absl::string_view s, absl::string_view what) {
  if (!HasNul(s)) return absl::OkStatus();
  return syserr::FromErrno(EINVAL, absl::StrCat(what, " holds a NUL byte"));
}

// Absent is the error of a name the scope hides: that of a missing name.
absl::Status Absent(absl::string_view what, absl::string_view name) {
  return syserr::FromErrno(
      ENOENT, absl::StrCat(what, " \"", absl::CHexEscape(name), "\""));
}

// OutOfScope is the error of creating a name the scope would hide: the
// client may not make files it could not see (EACCES, as for a directory
// it may not write).
absl::Status OutOfScope(absl::string_view name) {
  return syserr::FromErrno(
      EACCES, absl::StrCat("\"", absl::CHexEscape(name),
                           "\" is outside the scope of this gofer"));
}

dev_t Rdev(const lisafs::Statx& st) {
  return makedev(st.rdev_major, st.rdev_minor);
}

bool ValidSocketType(uint32_t t) {
  return t == SOCK_STREAM || t == SOCK_DGRAM || t == SOCK_SEQPACKET;
}

bool WantsChown(uint32_t uid, uint32_t gid) {
  return uid != lisafs::kNoUID || gid != lisafs::kNoGID;
}

absl::Status Fchown(int fd, uint32_t uid, uint32_t gid) {
  if (!WantsChown(uid, gid)) return absl::OkStatus();
  if (fchownat(fd, "", static_cast<uid_t>(uid), static_cast<gid_t>(gid),
               AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
    return Err("fchownat");
  }
  return absl::OkStatus();
}

// ThreadCreds switches the calling thread's effective gid and uid (only
// this thread's: raw syscalls, not glibc's process-wide wrappers) and
// switches them back on destruction. The saved IDs are left alone, so
// switching back is always allowed.
class ThreadCreds {
 public:
  static absl::StatusOr<std::unique_ptr<ThreadCreds>> Switch(uint32_t uid,
                                                             uint32_t gid) {
    auto c = std::unique_ptr<ThreadCreds>(new ThreadCreds);
    c->old_uid_ = geteuid();
    c->old_gid_ = getegid();
    if (syscall(SYS_setresgid, -1, static_cast<gid_t>(gid), -1) != 0) {
      return Err("setresgid");
    }
    c->gid_switched_ = true;
    if (syscall(SYS_setresuid, -1, static_cast<uid_t>(uid), -1) != 0) {
      return Err("setresuid");
    }
    c->uid_switched_ = true;
    return c;
  }
  ~ThreadCreds() {
    if (uid_switched_) syscall(SYS_setresuid, -1, old_uid_, -1);
    if (gid_switched_) syscall(SYS_setresgid, -1, old_gid_, -1);
  }

 private:
  ThreadCreds() = default;
  uid_t old_uid_ = 0;
  gid_t old_gid_ = 0;
  bool uid_switched_ = false;
  bool gid_switched_ = false;
};

}  // namespace

absl::StatusOr<lisafs::Statx> ControlFD::Stat() {
  return host::Stat(host_.get());
}

absl::StatusOr<std::string> ControlFD::ScopePath(absl::string_view name) const {
  ASSIGN_OR_RETURN(std::vector<std::string> path, fd().PathFromMount());
  if (!name.empty()) path.emplace_back(name);
  return absl::StrJoin(path, "/");
}

absl::Status ControlFD::CheckWalkable(const std::string& name,
                                      std::string* path) const {
  const devscope::Allowlist* scope = state_->scope();
  if (scope == nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(*path, ScopePath(name));
  // kAllowed for a regular file means a path rule allows the name whatever
  // it is (device-number rules only match devices, kTraverse only
  // directories): no need to look.
  if (scope->Check(*path, S_IFREG, 0) == devscope::Visibility::kAllowed) {
    return absl::OkStatus();
  }
  struct stat st;
  if (fstatat(host_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrName("stat of", name);
  }
  if (!scope->Visible(*path, st.st_mode, st.st_rdev)) {
    return Absent("not found:", name);
  }
  return absl::OkStatus();
}

absl::Status ControlFD::CheckReached(const std::string& path,
                                     const lisafs::Statx& st) const {
  const devscope::Allowlist* scope = state_->scope();
  if (scope == nullptr || scope->Visible(path, st.mode, Rdev(st))) {
    return absl::OkStatus();
  }
  return Absent("not found:", path);
}

absl::Status ControlFD::CheckNewName(const std::string& name, uint32_t mode,
                                     dev_t rdev) const {
  const devscope::Allowlist* scope = state_->scope();
  if (scope == nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string path, ScopePath(name));
  if (!scope->Visible(path, mode, rdev)) return OutOfScope(path);
  if (scope->Check(path, S_IFREG, 0) == devscope::Visibility::kAllowed) {
    return absl::OkStatus();  // whatever holds the name is visible
  }
  struct stat st;
  if (fstatat(host_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      !scope->Visible(path, st.st_mode, st.st_rdev)) {
    return OutOfScope(path);
  }
  return absl::OkStatus();
}

absl::Status ControlFD::CheckExisting(const std::string& name,
                                      struct stat* st) const {
  st->st_mode = 0;
  const devscope::Allowlist* scope = state_->scope();
  if (scope == nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string path, ScopePath(name));
  // Even a name a path rule allows is stat'ed: RenameAt needs its type.
  if (fstatat(host_.get(), name.c_str(), st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrName("stat of", name);
  }
  if (!scope->Visible(path, st->st_mode, st->st_rdev)) {
    return Absent("not found:", name);
  }
  return absl::OkStatus();
}

absl::StatusOr<NewControlFD> ControlFD::OpenCreated(const std::string& name,
                                                    uint32_t uid,
                                                    uint32_t gid) {
  absl::StatusOr<host::OpenedFile> f = host::TryOpen(host_.get(), name);
  if (!f.ok()) return f.status();
  if (absl::Status s = Fchown(f->fd.get(), uid, gid); !s.ok()) return s;
  return NewChild(*std::move(f));
}

absl::StatusOr<NewControlFD> ControlFD::NewChild(host::OpenedFile file) {
  absl::StatusOr<lisafs::Statx> st = host::StatSupported(file.fd.get());
  if (!st.ok()) return st.status();
  NewControlFD out;
  out.stat = *st;
  out.impl =
      std::make_unique<ControlFD>(state_, std::move(file), uint32_t{st->mode});
  return out;
}

absl::StatusOr<fd::OwnedFd> ControlFD::OpenParent(std::string* name) const {
  if (fd().node()->deleted()) {
    return syserr::FromErrno(EINVAL, "file was deleted");
  }
  absl::StatusOr<std::vector<std::string>> path = fd().PathFromMount();
  if (!path.ok()) return path.status();
  if (path->empty()) {
    return syserr::FromErrno(EINVAL, "the mount point has no parent here");
  }
  int mount = state_->MountDirFd();
  if (mount < 0) return syserr::FromErrno(EBADF, "no mount point");
  *name = path->back();
  return host::OpenDirAt(mount,
                         absl::MakeConstSpan(path->data(), path->size() - 1));
}

absl::StatusOr<int> ControlFD::WriteFd() {
  if (!write_fd_.valid()) {
    absl::StatusOr<fd::OwnedFd> w =
        host::Reopen(host_.get(), O_WRONLY | O_NONBLOCK);
    if (!w.ok()) return w.status();
    write_fd_ = *std::move(w);
  }
  return write_fd_.get();
}

lisafs::SetStatResp ControlFD::SetStat(const lisafs::SetStatReq& req) {
  lisafs::SetStatResp resp;
  auto fail = [&resp](uint32_t bits, const absl::Status& s) {
    resp.failure_mask |= bits;
    resp.failure_errno = static_cast<uint32_t>(syserr::ToErrno(s));
  };
  const uint32_t mask = req.mask;
  // Mode, size, times, owner: the order of the reference server.
  if (mask & kStatxMode) {
    mode_t mode = req.mode & 07777;
    if (type_ == S_IFLNK) {
      fail(kStatxMode, syserr::FromErrno(EOPNOTSUPP, "chmod of a symlink"));
    } else if (opath_) {
      if (chmod(host::ProcFdPath(host_.get()).c_str(), mode) != 0) {
        fail(kStatxMode, Err("chmod"));
      }
    } else if (fchmod(host_.get(), mode) != 0) {
      fail(kStatxMode, Err("fchmod"));
    }
  }
  if (mask & kStatxSize) {
    absl::StatusOr<int> w = WriteFd();
    if (!w.ok()) {
      fail(kStatxSize, w.status());
    } else if (ftruncate(*w, static_cast<off_t>(req.size)) != 0) {
      fail(kStatxSize, Err("ftruncate"));
    }
  }
  if (mask & (kStatxAtime | kStatxMtime)) {
    const uint32_t bits = mask & (kStatxAtime | kStatxMtime);
    struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (mask & kStatxAtime) {
      ts[0].tv_sec = req.atime.sec;
      ts[0].tv_nsec = req.atime.nsec;
    }
    if (mask & kStatxMtime) {
      ts[1].tv_sec = req.mtime.sec;
      ts[1].tv_nsec = req.mtime.nsec;
    }
    if (type_ == S_IFLNK) {
      std::string name;
      absl::StatusOr<fd::OwnedFd> parent = OpenParent(&name);
      if (!parent.ok()) {
        fail(bits, parent.status());
      } else if (utimensat(parent->get(), name.c_str(), ts,
                           AT_SYMLINK_NOFOLLOW) != 0) {
        fail(bits, Err("utimensat"));
      }
    } else if (type_ == S_IFREG) {
      absl::StatusOr<int> w = WriteFd();
      if (!w.ok()) {
        fail(bits, w.status());
      } else if (futimens(*w, ts) != 0) {
        fail(bits, Err("futimens"));
      }
    } else if (opath_) {
      if (utimensat(AT_FDCWD, host::ProcFdPath(host_.get()).c_str(), ts, 0) !=
          0) {
        fail(bits, Err("utimensat"));
      }
    } else if (futimens(host_.get(), ts) != 0) {
      fail(bits, Err("futimens"));
    }
  }
  if (mask & (kStatxUid | kStatxGid)) {
    uint32_t uid = (mask & kStatxUid) ? req.uid : lisafs::kNoUID;
    uint32_t gid = (mask & kStatxGid) ? req.gid : lisafs::kNoGID;
    if (absl::Status s = Fchown(host_.get(), uid, gid); !s.ok()) {
      fail(mask & (kStatxUid | kStatxGid), s);
    }
  }
  return resp;
}

absl::StatusOr<NewControlFD> ControlFD::Walk(absl::string_view name_view) {
  std::string name(name_view), path;
  // A hidden name is ENOENT, which ends the walk as a missing component
  // does (pkg/lisafs/README.md §4.2, MID 5); it is never opened.
  RETURN_IF_ERROR(CheckWalkable(name, &path));
  absl::StatusOr<host::OpenedFile> f = host::TryOpen(host_.get(), name);
  if (!f.ok()) return f.status();
  ASSIGN_OR_RETURN(NewControlFD child, NewChild(*std::move(f)));
  // The file opened may not be the one stat'ed (the host can swap it).
  RETURN_IF_ERROR(CheckReached(path, child.stat));
  return child;
}

absl::Status ControlFD::WalkStat(absl::Span<const std::string> path,
                                 std::vector<lisafs::Statx>* out) {
  size_t i = 0;
  if (!path.empty() && path[0].empty()) {
    absl::StatusOr<lisafs::Statx> st = host::StatSupported(host_.get());
    if (!st.ok()) return st.status();
    out->push_back(*st);
    i = 1;
  }
  if (type_ == S_IFLNK) return absl::OkStatus();
  const devscope::Allowlist* scope = state_->scope();
  std::string scope_path;
  if (scope != nullptr) {
    ASSIGN_OR_RETURN(scope_path, ScopePath(""));
  }
  fd::OwnedFd cur;
  int dir = host_.get();
  for (; i < path.size(); ++i) {
    // O_PATH: no open of the file itself, hidden or not.
    int f = openat(dir, path[i].c_str(), O_PATH | host::kOpenFlags);
    if (f < 0) {
      if (errno == ENOENT) return absl::OkStatus();
      return ErrName("WalkStat: open of", path[i]);
    }
    cur.reset(f);
    dir = f;
    absl::StatusOr<lisafs::Statx> st = host::Stat(f);
    if (!st.ok()) return st.status();
    if (scope != nullptr) {
      scope_path =
          scope_path.empty() ? path[i] : absl::StrCat(scope_path, "/", path[i]);
      // A hidden component ends the walk as a missing one.
      if (!scope->Visible(scope_path, st->mode, Rdev(*st))) {
        return absl::OkStatus();
      }
    }
    if (!host::SupportedFileType(st->mode)) {
      return syserr::FromErrno(EPERM,
                               absl::StrCat("unsupported file type 0",
                                            absl::Hex(st->mode & S_IFMT)));
    }
    out->push_back(*st);
    if ((st->mode & S_IFMT) == S_IFLNK) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<lisafs::NewOpenFD> ControlFD::Open(uint32_t flags) {
  const Options& o = state_->options;
  switch (type_) {
    case S_IFIFO:
      if (!o.host_fifo_open) {
        return syserr::FromErrno(EPERM, "OpenAt: host FIFOs may not be opened");
      }
      break;
    case S_IFSOCK:
      if (!o.host_uds_open) {
        return syserr::FromErrno(EPERM,
                                 "OpenAt: host sockets may not be opened");
      }
      break;
    case S_IFCHR:
      if (o.char_devices == CharDevicePolicy::kDeny) {
        return syserr::FromErrno(EPERM,
                                 "OpenAt: character devices may not be opened");
      }
      break;
    default:
      break;
  }
  // Character devices open blocking, as gVisor's fsgofer and its host fast
  // path open them: drivers expect it (NVIDIA's defers device init on a
  // non-blocking open and registers no poll wake-ups for an O_NONBLOCK
  // file), and the donated FD keeps that flag. O_NOCTTY: a tty never
  // becomes the gofer's controlling terminal. Everything else opens
  // O_NONBLOCK, so that it cannot hang the handler (pkg/lisafs/README.md
  // §7.4), which holds the rename lock shared meanwhile: a FIFO without a
  // writer opens at once for reading, and for writing either finds a
  // reader or fails with ENXIO; a lease on a regular file answers
  // EWOULDBLOCK.
  const bool blocking = type_ == S_IFCHR;
  const int open_flags =
      static_cast<int>(flags) | (blocking ? O_NOCTTY : O_NONBLOCK);
  absl::StatusOr<fd::OwnedFd> f = host::Reopen(host_.get(), open_flags);
  if (!f.ok()) return syserr::WithContext(f.status(), "OpenAt");
  lisafs::NewOpenFD out;
  bool donate = false;
  if (type_ == S_IFREG || type_ == S_IFIFO || type_ == S_IFCHR) {
    donate = true;
  } else if (state_->options.donate_mount_fd && state_->scope() == nullptr &&
             fd().IsMountPoint()) {
    // Never with a scope: the mount point's FD reaches every file.
    donate = true;
  }
  if (donate) {
    // The OpenFD keeps f and lends it: the client's copy is the same open
    // file description, so its flags are those of the open above
    // (non-blocking for all but character devices), and no dup is needed.
    out.lent = f->get();
  }
  const ControlFD* dir =
      type_ == S_IFDIR && state_->scope() != nullptr ? this : nullptr;
  out.impl = blocking ? std::make_unique<OpenFD>(*std::move(f), open_flags)
                      : std::make_unique<OpenFD>(*std::move(f), dir);
  return out;
}

absl::StatusOr<lisafs::NewFile> ControlFD::OpenCreate(
    const lisafs::CreateArgs& args, uint32_t flags) {
  std::string name(args.name);
  RETURN_IF_ERROR(CheckNewName(name, S_IFREG, 0));
  int f = openat(host_.get(), name.c_str(),
                 O_CREAT | O_EXCL | O_RDONLY | O_NONBLOCK | host::kOpenFlags,
                 args.mode & 07777);
  if (f < 0) return ErrName("OpenCreateAt: create of", name);
  host::OpenedFile file{fd::OwnedFd(f), false};
  absl::Cleanup undo = [&] { unlinkat(host_.get(), name.c_str(), 0); };
  if (absl::Status s = Fchown(f, args.uid, args.gid); !s.ok()) return s;
  // O_NONBLOCK as in Open: a lease on the file must not make us wait.
  absl::StatusOr<fd::OwnedFd> open =
      host::Reopen(f, static_cast<int>(flags) | O_NONBLOCK);
  if (!open.ok()) return open.status();
  absl::StatusOr<NewControlFD> child = NewChild(std::move(file));
  if (!child.ok()) return child.status();
  lisafs::NewFile out;
  // Lent as in Open: the same open file description, O_NONBLOCK included.
  out.open.lent = open->get();
  out.open.impl = std::make_unique<OpenFD>(*std::move(open));
  out.control = *std::move(child);
  std::move(undo).Cancel();
  return out;
}

absl::StatusOr<NewControlFD> ControlFD::Mkdir(const lisafs::CreateArgs& args) {
  std::string name(args.name);
  RETURN_IF_ERROR(CheckNewName(name, S_IFDIR, 0));
  if (mkdirat(host_.get(), name.c_str(), args.mode & 07777) != 0) {
    return ErrName("MkdirAt of", name);
  }
  absl::Cleanup undo = [&] {
    unlinkat(host_.get(), name.c_str(), AT_REMOVEDIR);
  };
  absl::StatusOr<NewControlFD> child = OpenCreated(name, args.uid, args.gid);
  if (child.ok()) std::move(undo).Cancel();
  return child;
}

absl::StatusOr<NewControlFD> ControlFD::Mknod(const lisafs::CreateArgs& args,
                                              uint32_t minor, uint32_t major) {
  const uint32_t type = args.mode & S_IFMT;
  // Only regular files and overlay whiteouts (0:0 character devices).
  if (type != S_IFREG && !(type == S_IFCHR && minor == 0 && major == 0)) {
    return syserr::FromErrno(EPERM, "MknodAt: file type not allowed");
  }
  std::string name(args.name);
  RETURN_IF_ERROR(CheckNewName(name, type, makedev(major, minor)));
  if (mknodat(host_.get(), name.c_str(), type | (args.mode & 07777),
              makedev(major, minor)) != 0) {
    return ErrName("MknodAt of", name);
  }
  absl::Cleanup undo = [&] { unlinkat(host_.get(), name.c_str(), 0); };
  absl::StatusOr<NewControlFD> child = OpenCreated(name, args.uid, args.gid);
  if (child.ok()) std::move(undo).Cancel();
  return child;
}

absl::StatusOr<NewControlFD> ControlFD::Symlink(absl::string_view name_view,
                                                absl::string_view target,
                                                uint32_t uid, uint32_t gid) {
  if (absl::Status s = NoNul(target, "SymlinkAt: target"); !s.ok()) return s;
  std::string name(name_view);
  RETURN_IF_ERROR(CheckNewName(name, S_IFLNK, 0));
  if (symlinkat(std::string(target).c_str(), host_.get(), name.c_str()) != 0) {
    return ErrName("SymlinkAt of", name);
  }
  absl::Cleanup undo = [&] { unlinkat(host_.get(), name.c_str(), 0); };
  int f = openat(host_.get(), name.c_str(), O_PATH | host::kOpenFlags);
  if (f < 0) return ErrName("SymlinkAt: open of", name);
  host::OpenedFile file{fd::OwnedFd(f), true};
  if (absl::Status s = Fchown(f, uid, gid); !s.ok()) return s;
  absl::StatusOr<NewControlFD> child = NewChild(std::move(file));
  if (child.ok()) std::move(undo).Cancel();
  return child;
}

absl::StatusOr<NewControlFD> ControlFD::Link(lisafs::ControlFD& target,
                                             absl::string_view name_view) {
  auto* t = dynamic_cast<ControlFD*>(&target.impl());
  if (t == nullptr) return syserr::FromErrno(EXDEV, "LinkAt across backends");
  std::string target_name;
  absl::StatusOr<fd::OwnedFd> parent = t->OpenParent(&target_name);
  if (!parent.ok()) return syserr::WithContext(parent.status(), "LinkAt");
  std::string name(name_view);
  {
    ASSIGN_OR_RETURN(lisafs::Statx st, host::Stat(t->host_fd()));
    RETURN_IF_ERROR(CheckNewName(name, st.mode, Rdev(st)));
  }
  // Not AT_EMPTY_PATH: that needs CAP_DAC_READ_SEARCH in the root user
  // namespace.
  if (linkat(parent->get(), target_name.c_str(), host_.get(), name.c_str(),
             0) != 0) {
    return ErrName("LinkAt of", name);
  }
  absl::Cleanup undo = [&] { unlinkat(host_.get(), name.c_str(), 0); };
  absl::StatusOr<NewControlFD> child =
      OpenCreated(name, lisafs::kNoUID, lisafs::kNoGID);
  if (child.ok()) std::move(undo).Cancel();
  return child;
}

absl::StatusOr<lisafs::StatFS> ControlFD::StatFs() {
  struct statfs s;
  if (fstatfs(host_.get(), &s) != 0) return Err("fstatfs");
  lisafs::StatFS out;
  out.type = static_cast<uint64_t>(s.f_type);
  out.block_size = s.f_bsize;
  out.blocks = s.f_blocks;
  out.blocks_free = s.f_bfree;
  out.blocks_available = s.f_bavail;
  out.files = s.f_files;
  out.files_free = s.f_ffree;
  out.name_length = static_cast<uint64_t>(s.f_namelen);
  return out;
}

absl::StatusOr<std::string> ControlFD::ReadLink() {
  for (size_t size = 1024; size <= lisafs::kMaxSizedString + 1; size *= 2) {
    std::string buf(size, '\0');
    ssize_t n = readlinkat(host_.get(), "", buf.data(), buf.size());
    if (n < 0) return Err("readlinkat");
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
  }
  return syserr::FromErrno(ENOMEM, "readlinkat: target too long");
}

absl::StatusOr<fd::OwnedFd> ControlFD::ConnectTo(uint32_t sock_type) {
  if (!state_->options.host_uds_open) {
    return syserr::FromErrno(EPERM, "host sockets may not be connected to");
  }
  absl::StatusOr<std::string> path = fd().FilePath();
  if (!path.ok()) return path.status();
  if (path->size() > unet::kMaxPathLength) {
    return syserr::FromErrno(EINVAL, "socket path too long");
  }
  if (!ValidSocketType(sock_type)) {
    return syserr::FromErrno(ENXIO, absl::StrCat("socket type ", sock_type));
  }
  // The socket file's own O_PATH FD names exactly the file we hold.
  absl::StatusOr<unet::UnixAddress> sa =
      unet::UnixAddress::FromPath(host::ProcFdPath(host_.get()));
  if (!sa.ok()) return syserr::FromErrno(EINVAL, "socket path too long");
  // Non-blocking from the start: a unix stream connect to a listener whose
  // backlog is full would otherwise wait until it accepts, with the
  // handler's locks held. It fails with EAGAIN instead (unix sockets never
  // answer EINPROGRESS), and the donated socket must be non-blocking
  // anyway.
  int s = socket(AF_UNIX,
                 static_cast<int>(sock_type) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return Err("socket");
  fd::OwnedFd sock(s);
  if (connect(s, sa->addr(), sa->len()) != 0) {
    return Err("connect");
  }
  return sock;
}

absl::StatusOr<fd::OwnedFd> ControlFD::Connect(uint32_t sock_type) {
  return ConnectTo(sock_type);
}

absl::StatusOr<fd::OwnedFd> ControlFD::ConnectWithCreds(uint32_t sock_type,
                                                        uint32_t uid,
                                                        uint32_t gid) {
  if (!state_->options.host_uds_open) {
    return syserr::FromErrno(EPERM, "host sockets may not be connected to");
  }
  absl::StatusOr<std::unique_ptr<ThreadCreds>> creds =
      ThreadCreds::Switch(uid, gid);
  if (!creds.ok()) return creds.status();
  return ConnectTo(sock_type);
}

absl::StatusOr<lisafs::NewBoundSocket> ControlFD::BindAt(
    const lisafs::CreateArgs& args, uint32_t sock_type) {
  if (!state_->options.host_uds_create) {
    return syserr::FromErrno(EPERM, "host sockets may not be created");
  }
  std::string name(args.name);
  RETURN_IF_ERROR(CheckNewName(name, S_IFSOCK, 0));
  absl::StatusOr<std::string> dir_path = fd().FilePath();
  if (!dir_path.ok()) return dir_path.status();
  if (dir_path->size() + 1 + name.size() > unet::kMaxPathLength) {
    return syserr::FromErrno(EINVAL, "socket path too long");
  }
  if (!ValidSocketType(sock_type)) {
    return syserr::FromErrno(ENXIO, absl::StrCat("socket type ", sock_type));
  }
  int s = socket(AF_UNIX, static_cast<int>(sock_type) | SOCK_CLOEXEC, 0);
  if (s < 0) return Err("socket");
  fd::OwnedFd sock(s);
  // The socket inode's mode becomes the file's mode at bind time.
  if (fchmod(s, args.mode & 07777) != 0) return Err("fchmod of socket");
  absl::StatusOr<unet::UnixAddress> sa =
      unet::UnixAddress::FromPath(host::ProcFdPath(host_.get(), name));
  if (!sa.ok()) return syserr::FromErrno(EINVAL, "socket path too long");
  if (bind(s, sa->addr(), sa->len()) != 0) {
    return ErrName("bind of", name);
  }
  absl::Cleanup undo = [&] { unlinkat(host_.get(), name.c_str(), 0); };
  absl::StatusOr<NewControlFD> child = OpenCreated(name, args.uid, args.gid);
  if (!child.ok()) return child.status();
  if ((child->stat.mode & S_IFMT) != S_IFSOCK) {
    return syserr::FromErrno(EIO, "BindAt: bound file is not a socket");
  }
  // Accept must never block: the shared description is non-blocking.
  if (absl::Status st = host::SetNonBlocking(s); !st.ok()) return st;
  absl::StatusOr<fd::OwnedFd> donated = host::Dup(s);
  if (!donated.ok()) return donated.status();
  lisafs::NewBoundSocket out;
  out.control = *std::move(child);
  out.impl = std::make_unique<BoundSocketFD>(std::move(sock));
  out.donated = *std::move(donated);
  std::move(undo).Cancel();
  return out;
}

absl::Status ControlFD::Unlink(absl::string_view name, uint32_t flags) {
  struct stat st;
  RETURN_IF_ERROR(CheckExisting(std::string(name), &st));
  if (unlinkat(host_.get(), std::string(name).c_str(),
               static_cast<int>(flags)) != 0) {
    return ErrName("UnlinkAt of", name);
  }
  return absl::OkStatus();
}

absl::Status ControlFD::RenameAt(absl::string_view old_name,
                                 lisafs::ControlFD& new_dir,
                                 absl::string_view new_name, uint32_t flags) {
  auto* nd = dynamic_cast<ControlFD*>(&new_dir.impl());
  if (nd == nullptr)
    return syserr::FromErrno(EXDEV, "RenameAt across backends");
  std::string o(old_name), n(new_name);
  if (state_->scope() != nullptr) {
    struct stat st;
    RETURN_IF_ERROR(CheckExisting(o, &st));
    // A directory that is only traversable may hold hidden entries, which
    // a new name could show.
    ASSIGN_OR_RETURN(std::string old_path, ScopePath(o));
    if (S_ISDIR(st.st_mode) &&
        state_->scope()->Check(old_path, st.st_mode, st.st_rdev) !=
            devscope::Visibility::kAllowed) {
      return OutOfScope(old_path);
    }
    RETURN_IF_ERROR(nd->CheckNewName(n, st.st_mode, st.st_rdev));
  }
  int r =
      flags == 0
          ? renameat(host_.get(), o.c_str(), nd->host_fd(), n.c_str())
          : renameat2(host_.get(), o.c_str(), nd->host_fd(), n.c_str(), flags);
  if (r != 0) return ErrName("RenameAt of", old_name);
  return absl::OkStatus();
}

// Xattrs: f*xattr on a readable FD; for an O_PATH FD the l*xattr calls on
// "/proc/self/fd/<parent>/<name>" for a symlink (the link itself), and the
// plain calls on "/proc/self/fd/<fd>" (the file itself) for anything else.

absl::StatusOr<std::string> ControlFD::GetXattr(absl::string_view name_view,
                                                uint32_t size) {
  if (absl::Status s = NoNul(name_view, "xattr name"); !s.ok()) return s;
  std::string name(name_view);
  size_t buf_size = (size == 0 || size > kMaxXattrBuf) ? kMaxXattrBuf : size;
  std::string buf(buf_size, '\0');
  ssize_t n;
  if (!opath_) {
    n = fgetxattr(host_.get(), name.c_str(), buf.data(), buf.size());
  } else if (type_ == S_IFLNK) {
    std::string leaf;
    absl::StatusOr<fd::OwnedFd> parent = OpenParent(&leaf);
    if (!parent.ok()) return parent.status();
    n = lgetxattr(host::ProcFdPath(parent->get(), leaf).c_str(), name.c_str(),
                  buf.data(), buf.size());
  } else {
    n = getxattr(host::ProcFdPath(host_.get()).c_str(), name.c_str(),
                 buf.data(), buf.size());
  }
  if (n < 0) return ErrName("getxattr of", name);
  if (static_cast<size_t>(n) > lisafs::kMaxSizedString) {
    return syserr::FromErrno(E2BIG, "xattr value does not fit a SizedString");
  }
  buf.resize(static_cast<size_t>(n));
  return buf;
}

absl::Status ControlFD::SetXattr(absl::string_view name_view,
                                 absl::string_view value, uint32_t flags) {
  if (absl::Status s = NoNul(name_view, "xattr name"); !s.ok()) return s;
  std::string name(name_view);
  int r;
  if (!opath_) {
    r = fsetxattr(host_.get(), name.c_str(), value.data(), value.size(),
                  static_cast<int>(flags));
  } else if (type_ == S_IFLNK) {
    std::string leaf;
    absl::StatusOr<fd::OwnedFd> parent = OpenParent(&leaf);
    if (!parent.ok()) return parent.status();
    r = lsetxattr(host::ProcFdPath(parent->get(), leaf).c_str(), name.c_str(),
                  value.data(), value.size(), static_cast<int>(flags));
  } else {
    r = setxattr(host::ProcFdPath(host_.get()).c_str(), name.c_str(),
                 value.data(), value.size(), static_cast<int>(flags));
  }
  if (r != 0) return ErrName("setxattr of", name);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ControlFD::ListXattr(uint64_t size) {
  size_t buf_size = (size == 0 || size > kMaxXattrBuf) ? kMaxXattrBuf : size;
  std::string buf(buf_size, '\0');
  ssize_t n;
  if (!opath_) {
    n = flistxattr(host_.get(), buf.data(), buf.size());
  } else if (type_ == S_IFLNK) {
    std::string leaf;
    absl::StatusOr<fd::OwnedFd> parent = OpenParent(&leaf);
    if (!parent.ok()) return parent.status();
    n = llistxattr(host::ProcFdPath(parent->get(), leaf).c_str(), buf.data(),
                   buf.size());
  } else {
    n = listxattr(host::ProcFdPath(host_.get()).c_str(), buf.data(),
                  buf.size());
  }
  if (n < 0) return Err("listxattr");
  buf.resize(static_cast<size_t>(n));
  std::vector<std::string> names = absl::StrSplit(buf, '\0', absl::SkipEmpty());
  return names;
}

absl::Status ControlFD::RemoveXattr(absl::string_view name_view) {
  if (absl::Status s = NoNul(name_view, "xattr name"); !s.ok()) return s;
  std::string name(name_view);
  int r;
  if (!opath_) {
    r = fremovexattr(host_.get(), name.c_str());
  } else if (type_ == S_IFLNK) {
    std::string leaf;
    absl::StatusOr<fd::OwnedFd> parent = OpenParent(&leaf);
    if (!parent.ok()) return parent.status();
    r = lremovexattr(host::ProcFdPath(parent->get(), leaf).c_str(),
                     name.c_str());
  } else {
    r = removexattr(host::ProcFdPath(host_.get()).c_str(), name.c_str());
  }
  if (r != 0) return ErrName("removexattr of", name);
  return absl::OkStatus();
}

}  // namespace gvisor::fsgofer
