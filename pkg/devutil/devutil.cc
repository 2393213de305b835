#include "pkg/devutil/devutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/types/span.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

namespace gvisor::devutil {
namespace {

// kGetdentsCount is the byte budget of each Getdents64 RPC
// (pkg/lisafs/README.md §9.5).
constexpr int32_t kGetdentsCount = 65536;

// PathViews is a relative path's components, as views of it; PathSpan is
// how the helpers take them.
using PathViews = absl::InlinedVector<absl::string_view, 8>;
using PathSpan = absl::Span<const absl::string_view>;

// SplitPath splits relpath into components, into out, and refuses what
// would leave the mount point or cannot name a file: no component at all
// (ENOENT, like openat of ""), an absolute path, "." or ".." (EINVAL).
// The splitting is fspath::Components's (pkg/lisafs/README.md §9.8), into
// views of relpath: nothing is allocated for a path of up to 8
// components. op names the call in the messages ("OpenAt", "Stat").
absl::Status SplitPath(absl::string_view op, absl::string_view relpath,
                       PathViews& out) {
  for (absl::string_view c : absl::StrSplit(relpath, '/', absl::SkipEmpty())) {
    out.push_back(c);
  }
  if (out.empty()) {
    return syserr::FromErrno(
        ENOENT, absl::StrCat(op, " of \"", relpath, "\": no component"));
  }
  if (relpath[0] == '/') {
    return syserr::FromErrno(
        EINVAL, absl::StrCat(op, " of \"", relpath, "\": absolute path"));
  }
  for (absl::string_view c : out) {
    if (c == "." || c == ".." || c.find('\0') != absl::string_view::npos) {
      return syserr::FromErrno(
          EINVAL, absl::StrCat(op, " of \"", relpath,
                               "\": invalid component \"", c, "\""));
    }
  }
  return absl::OkStatus();
}

// ToStrings copies path's components.
std::vector<std::string> ToStrings(PathSpan path) {
  return std::vector<std::string>(path.begin(), path.end());
}

// ValidatePath is SplitPath into strings.
absl::StatusOr<std::vector<std::string>> ValidatePath(
    absl::string_view op, absl::string_view relpath) {
  PathViews path;
  RETURN_IF_ERROR(SplitPath(op, relpath, path));
  return ToStrings(path);
}

// JoinedPath is a path's components joined by '/', NUL-terminated, held
// inline up to 255 bytes (a path longer than that is allocated).
class JoinedPath {
 public:
  explicit JoinedPath(PathSpan path) {
    for (size_t i = 0; i < path.size(); ++i) {
      if (i > 0) buf_.push_back('/');
      buf_.insert(buf_.end(), path[i].begin(), path[i].end());
    }
    buf_.push_back('\0');
  }

  const char* c_str() const { return buf_.data(); }
  absl::string_view view() const {
    return absl::string_view(buf_.data(), buf_.size() - 1);
  }

 private:
  absl::InlinedVector<char, 256> buf_;
};

// Prefix joins the first n components of path with '/'.
std::string Prefix(const std::vector<std::string>& path, size_t n) {
  return absl::StrJoin(path.begin(), path.begin() + static_cast<long>(n), "/");
}

// ToStat is the struct stat of a LISAFS Statx (pkg/lisafs/README.md §3.4).
struct stat ToStat(const lisafs::Statx& x) {
  struct stat st = {};
  st.st_mode = x.mode;
  st.st_ino = x.ino;
  st.st_nlink = x.nlink;
  st.st_uid = x.uid;
  st.st_gid = x.gid;
  st.st_rdev = makedev(x.rdev_major, x.rdev_minor);
  st.st_dev = makedev(x.dev_major, x.dev_minor);
  st.st_size = static_cast<off_t>(x.size);
  st.st_blksize = static_cast<blksize_t>(x.blksize);
  st.st_blocks = static_cast<blkcnt_t>(x.blocks);
  st.st_atim = {x.atime.sec, x.atime.nsec};
  st.st_mtim = {x.mtime.sec, x.mtime.nsec};
  st.st_ctim = {x.ctime.sec, x.ctime.nsec};
  return st;
}

// RawOpenat2Beneath opens path under dirfd with the kernel refusing
// symlinks and escapes; -1 and errno on failure.
int RawOpenat2Beneath(int dirfd, const char* path, int flags) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = static_cast<int>(syscall(SYS_openat2, dirfd, path, &how, sizeof(how)));
  } while (fd < 0 && errno == EAGAIN);
  return fd;
}

// Openat2State is what the process knows of openat2: not yet probed, usable,
// or missing (the kernel lacks it, or a seccomp policy answers ENOSYS or
// EPERM for it).
enum Openat2State : int { kOpenat2Unknown, kOpenat2Usable, kOpenat2Missing };

// openat2_state is probed once per process (a race of first calls probes
// more than once, with one answer).
std::atomic<int> openat2_state{kOpenat2Unknown};

// Openat2Usable reports whether openat2 may be used, probing it on first
// use with a harmless call beneath dirfd: an O_PATH open of "." opens
// nothing, needs no permission on the directory and cannot block. Only the
// probe's ENOSYS or EPERM say openat2 is missing, so that an EPERM of a
// real open later (a file the caller may not open, a policy's refusal) is
// reported as such rather than taken for a missing openat2. Any other
// failure of the probe decides nothing: the real call reports its error.
bool Openat2Usable(int dirfd) {
  int state = openat2_state.load(std::memory_order_acquire);
  if (state != kOpenat2Unknown) return state == kOpenat2Usable;
  fd::OwnedFd probe(
      RawOpenat2Beneath(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (probe.valid()) {
    state = kOpenat2Usable;
  } else if (errno == ENOSYS || errno == EPERM) {
    state = kOpenat2Missing;
  } else {
    return true;
  }
  openat2_state.store(state, std::memory_order_release);
  return state == kOpenat2Usable;
}

// OpenComponentwise is the fallback without openat2: every component is
// opened with O_NOFOLLOW, intermediates as O_PATH directories.
int OpenComponentwise(int dirfd, PathSpan views, int flags) {
  // Each component NUL-terminated (this path is for old kernels only).
  const std::vector<std::string> path = ToStrings(views);
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

// OpenBeneath opens path (joined: its components joined by '/') beneath
// dirfd, never following a symlink: with openat2 where the process has it
// (Openat2Usable), else, or if it answers ENOSYS anyway, componentwise.
int OpenBeneath(int dirfd, const JoinedPath& joined, PathSpan path, int flags) {
  if (Openat2Usable(dirfd)) {
    int fd = RawOpenat2Beneath(dirfd, joined.c_str(), flags);
    if (fd >= 0 || errno != ENOSYS) return fd;
  }
  return OpenComponentwise(dirfd, path, flags);
}

// Outcome is what OpenAt does with a file of a given type once it has
// found it (the table in devutil.h).
enum class Outcome {
  // kOpenHere: on the fast path, open it through the O_PATH FD (character
  // devices, regular files).
  kOpenHere,
  // kAskTheGofer: on the fast path too, send OpenAt to the gofer, whose
  // policy decides (FIFOs, sockets, block devices, anything else).
  kAskTheGofer,
  // kRefuse: on both paths, fail with RefusalErrno without opening it
  // (directories, symlinks).
  kRefuse,
};

Outcome OutcomeOf(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFCHR:
    case S_IFREG:
      return Outcome::kOpenHere;
    case S_IFDIR:
    case S_IFLNK:
      return Outcome::kRefuse;
    default:
      return Outcome::kAskTheGofer;
  }
}

// RefusalErrno is the errno of a kRefuse type: EISDIR for a directory (no
// device is one), ELOOP for a symlink (never followed).
int RefusalErrno(uint32_t mode) {
  return (mode & S_IFMT) == S_IFDIR ? EISDIR : ELOOP;
}

// kShownTargetBytes bounds how much of a symlink's target an error message
// shows: the target is the gofer's (or the host's) text, not ours.
constexpr size_t kShownTargetBytes = 128;

// ShownTarget is target as a message shows it: printable (C escapes), at
// most kShownTargetBytes of it, "..." after a cut.
std::string ShownTarget(absl::string_view target) {
  const bool cut = target.size() > kShownTargetBytes;
  return absl::StrCat(absl::CHexEscape(target.substr(0, kShownTargetBytes)),
                      cut ? "..." : "");
}

// IsSymlink says that link is a symlink, with its target if known:
// "\"link\" is a symlink to \"target\" (never followed)".
std::string IsSymlink(absl::string_view link,
                      const std::optional<std::string>& target) {
  return absl::StrCat("\"", link, "\" is a symlink",
                      target.has_value()
                          ? absl::StrCat(" to \"", ShownTarget(*target), "\"")
                          : "",
                      " (never followed)");
}

// IsDirectory says that path is a directory, which no device is.
std::string IsDirectory(absl::string_view path) {
  return absl::StrCat("\"", path, "\" is a directory, not a device");
}

// Refusal is what an open says of the kRefuse file at path (mode its
// type, target a symlink's target if known).
std::string Refusal(absl::string_view path, uint32_t mode,
                    const std::optional<std::string>& target) {
  return (mode & S_IFMT) == S_IFDIR ? IsDirectory(path)
                                    : IsSymlink(path, target);
}

// HostTarget reads the target of the symlink that link_fd (O_PATH) is
// open on, at most kShownTargetBytes + 1 bytes of it: one readlinkat.
std::optional<std::string> HostTarget(int link_fd) {
  char buf[kShownTargetBytes + 1];
  ssize_t n = readlinkat(link_fd, "", buf, sizeof(buf));
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

// kRpcPathMids are the RPCs the client sends when it has no host FD.
constexpr lisafs::MID kRpcPathMids[] = {
    lisafs::MID::kWalk, lisafs::MID::kOpenAt, lisafs::MID::kGetdents64,
    lisafs::MID::kClose};

// DirentBudget counts a listing's entries and name bytes against the
// client's bounds (GoferClientOptions).
class DirentBudget {
 public:
  explicit DirentBudget(const GoferClientOptions& o) : o_(o) {}

  // Take accounts for one entry, and fails with ENOBUFS (code
  // RESOURCE_EXHAUSTED) once a bound is passed.
  absl::Status Take(size_t name_len) {
    ++entries_;
    bytes_ += name_len;
    if (entries_ > o_.max_dirents) {
      return Exhausted(
          absl::StrCat("DirentNames: the listing passed ", o_.max_dirents,
                       " entries (GoferClientOptions::max_dirents)"));
    }
    if (bytes_ > o_.max_dirent_bytes) {
      return Exhausted(absl::StrCat(
          "DirentNames: the listing passed ", o_.max_dirent_bytes,
          " bytes of names (GoferClientOptions::max_dirent_bytes)"));
    }
    return absl::OkStatus();
  }

 private:
  static absl::Status Exhausted(absl::string_view what) {
    return syserr::WithCode(absl::StatusCode::kResourceExhausted,
                            syserr::FromErrno(ENOBUFS, what));
  }

  const GoferClientOptions& o_;
  size_t entries_ = 0;
  size_t bytes_ = 0;
};

// CheckMount refuses a mount that could serve no call (see NewGoferClient).
absl::Status CheckMount(const lisafs::Mounted& m) {
  if (m.host_fd.valid()) {
    struct stat st;
    if (fstat(m.host_fd.get(), &st) != 0) {
      return syserr::FromLastErrno("fstat of the donated mount FD");
    }
    if (!S_ISDIR(st.st_mode)) {
      return syserr::FromErrno(
          ENOTDIR, absl::StrFormat("the gofer donated a mount FD that is not "
                                   "a directory (file type 0%o)",
                                   st.st_mode & S_IFMT));
    }
    return absl::OkStatus();
  }
  if ((m.root.stat.mode & S_IFMT) != S_IFDIR) {
    return syserr::FromErrno(
        ENOTDIR, absl::StrFormat("the gofer's mount point is not a directory "
                                 "(file type 0%o)",
                                 m.root.stat.mode & S_IFMT));
  }
  std::vector<std::string> missing;
  for (lisafs::MID mid : kRpcPathMids) {
    if (!m.client->IsSupported(mid)) missing.emplace_back(lisafs::MIDName(mid));
  }
  if (!missing.empty()) {
    return syserr::FromErrno(
        EOPNOTSUPP, absl::StrCat("the gofer donated no mount FD and does not "
                                 "support ",
                                 absl::StrJoin(missing, ", ")));
  }
  return absl::OkStatus();
}

// kHostDirentBufferSize is the getdents64 buffer of the host fast path:
// a /dev of a few thousand entries in a handful of calls.
constexpr size_t kHostDirentBufferSize = 32 << 10;

// HostDirentBuffer is the calling thread's getdents64 buffer, made on its
// first listing and reused by every later one (no allocation, no fresh
// pages per call). Only the calling thread uses it, between two returns.
char* HostDirentBuffer() {
  // new char[] is aligned for any scalar, struct dirent64's 8 included.
  thread_local std::unique_ptr<char[]> buf;
  if (buf == nullptr) buf.reset(new char[kHostDirentBufferSize]);
  return buf.get();
}

}  // namespace

// Call counts one method call for the destructor, and hands it the host FD
// (null on the RPC path) it may use whatever Close does meanwhile.
class GoferClient::Call {
 public:
  explicit Call(GoferClient* c) : c_(c) {
    std::lock_guard<std::mutex> l(c_->mu_);
    ++c_->calls_;
    closed_ = c_->closed_;
    host_fd_ = c_->host_fd_;
  }
  ~Call() {
    host_fd_.reset();  // before the count: the destructor may then go on
    std::lock_guard<std::mutex> l(c_->mu_);
    if (--c_->calls_ == 0) c_->calls_done_.notify_all();
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  bool closed() const { return closed_; }
  const fd::OwnedFd* host_fd() const { return host_fd_.get(); }

 private:
  GoferClient* const c_;
  bool closed_ = false;
  std::shared_ptr<const fd::OwnedFd> host_fd_;
};

GoferClient::GoferClient(lisafs::Mounted mounted, std::string cont_name,
                         const GoferClientOptions& options)
    : client_(std::move(mounted.client)),
      root_(client_->NewFD(mounted.root.control_fd)),
      cont_name_(std::move(cont_name)),
      options_(options),
      has_host_fd_(mounted.host_fd.valid()) {
  if (has_host_fd_) {
    host_fd_ = std::make_shared<const fd::OwnedFd>(std::move(mounted.host_fd));
  }
}

GoferClient::~GoferClient() {
  Close();
  std::unique_lock<std::mutex> l(mu_);
  calls_done_.wait(l, [this] { return calls_ == 0; });
}

absl::StatusOr<std::unique_ptr<GoferClient>> NewGoferClient(
    const context::Context& ctx, absl::string_view cont_name, unet::Socket sock,
    const GoferClientOptions& options) {
  context::UninterruptibleSleep sleep(ctx);
  lisafs::ClientOptions lopts;
  lopts.spin = options.spin;
  absl::StatusOr<lisafs::Mounted> mounted =
      lisafs::NewClient(ctx, std::move(sock), lopts);
  if (!mounted.ok()) {
    ctx.Warningf("devutil: mounting the dev gofer of container %s: %s",
                 cont_name, mounted.status().ToString());
    return mounted.status();
  }
  if (absl::Status s = CheckMount(*mounted); !s.ok()) {
    ctx.Warningf("devutil: mounting the dev gofer of container %s: %s",
                 cont_name, s.ToString());
    mounted->client->Close();
    return s;
  }
  return std::unique_ptr<GoferClient>(
      new GoferClient(std::move(*mounted), std::string(cont_name), options));
}

void GoferClient::Close() {
  std::shared_ptr<const fd::OwnedFd> host_fd;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return;
    // From here on Shutdown and HungUp no longer touch the socket, which
    // client_->Close() closes.
    closed_ = true;
    host_fd = std::move(host_fd_);
  }
  // Wake any RPC in flight; it fails with EIO.
  client_->Close();
  // The host FD closes here, or when the last call using it returns.
}

void GoferClient::Shutdown() {
  // mu_ is held across shutdown(2), which never blocks, so that Close
  // cannot close the socket (and its number be reused) meanwhile.
  std::lock_guard<std::mutex> l(mu_);
  if (!closed_) client_->Shutdown();
}

bool GoferClient::HungUp() const {
  // As in Shutdown; lisafs::Client::HungUp polls with no timeout.
  std::lock_guard<std::mutex> l(mu_);
  return closed_ || client_->HungUp();
}

absl::Status GoferClient::ClosedError(absl::string_view op) const {
  return syserr::FromErrno(
      EBADF, absl::StrCat(op, ": the client of container \"", cont_name_,
                          "\" is closed (detached from its provider, or "
                          "Close was called)"));
}

absl::StatusOr<std::vector<std::string>> GoferClient::DirentNames(
    const context::Context& ctx) {
  Call call(this);
  if (call.closed()) {
    return ClosedError("DirentNames");
  }
  if (call.host_fd() != nullptr) return HostDirentNames(call.host_fd()->get());
  return RpcDirentNames(ctx);
}

absl::StatusOr<fd::OwnedFd> GoferClient::OpenAt(const context::Context& ctx,
                                                absl::string_view relpath,
                                                uint32_t flags) {
  PathViews path;
  RETURN_IF_ERROR(SplitPath("OpenAt", relpath, path));
  flags &= O_ACCMODE | O_NONBLOCK;
  Call call(this);
  if (call.closed()) return ClosedError("OpenAt");
  if (call.host_fd() != nullptr) {
    return HostOpenAt(ctx, call.host_fd()->get(), path,
                      static_cast<int>(flags));
  }
  return RpcOpenAt(ctx, ToStrings(path), flags & O_ACCMODE);
}

absl::StatusOr<struct stat> GoferClient::Stat(const context::Context& ctx,
                                              absl::string_view relpath) {
  return StatPath(ctx, "Stat", relpath, /*last_may_be_symlink=*/false);
}

absl::StatusOr<struct stat> GoferClient::Lstat(const context::Context& ctx,
                                               absl::string_view relpath) {
  return StatPath(ctx, "Lstat", relpath, /*last_may_be_symlink=*/true);
}

absl::StatusOr<struct stat> GoferClient::StatPath(const context::Context& ctx,
                                                  absl::string_view op,
                                                  absl::string_view relpath,
                                                  bool last_may_be_symlink) {
  ASSIGN_OR_RETURN(const std::vector<std::string> path,
                   ValidatePath(op, relpath));
  Call call(this);
  if (call.closed()) return ClosedError(op);
  if (call.host_fd() != nullptr) {
    return HostStat(call.host_fd()->get(), path, last_may_be_symlink, op);
  }
  return RpcStat(ctx, path, last_may_be_symlink);
}

void GoferClient::ReserveNames(std::vector<std::string>& names) const {
  const size_t hint = dirent_hint_.load(std::memory_order_relaxed);
  names.reserve(std::min(hint + hint / 16 + 8, options_.max_dirents));
}

void GoferClient::KeepNamesHint(std::vector<std::string>& names) const {
  // A directory that shrank much returns no more memory than it needs.
  if (names.capacity() > 2 * names.size() + 64) names.shrink_to_fit();
  dirent_hint_.store(names.size(), std::memory_order_relaxed);
}

absl::StatusOr<std::vector<std::string>> GoferClient::HostDirentNames(
    int host_fd) const {
  // A fresh open file description per call: concurrent callers never share
  // a directory offset, and the donated FD may be O_PATH.
  fd::OwnedFd dir(
      openat(host_fd, ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) {
    return syserr::FromLastErrno("DirentNames: opening the mount point");
  }
  DirentBudget budget(options_);
  std::vector<std::string> names;
  ReserveNames(names);
  char* const buf = HostDirentBuffer();
  for (;;) {
    long n = syscall(SYS_getdents64, dir.get(), buf, kHostDirentBufferSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      return syserr::FromLastErrno("DirentNames: getdents64");
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      if (d->d_reclen == 0) break;  // never from a kernel; no endless loop
      absl::string_view name(d->d_name);
      RETURN_IF_ERROR(budget.Take(name.size()));
      if (name != "." && name != "..") names.emplace_back(name);
      off += d->d_reclen;
    }
  }
  KeepNamesHint(names);
  return names;
}

absl::StatusOr<fd::OwnedFd> GoferClient::HostOpenAt(
    const context::Context& ctx, int host_fd,
    absl::Span<const absl::string_view> path, int flags) const {
  // Nothing is allocated on the way to an opened file (short paths).
  const JoinedPath joined(path);
  auto fail = [&](int err, absl::string_view step) {
    return syserr::FromErrno(err, absl::StrCat("OpenAt of \"", joined.view(),
                                               "\" on the host FD", step));
  };
  // Step 1: an O_PATH FD, which opens nothing and so cannot block.
  constexpr int kPathFlags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  int pfd = OpenBeneath(host_fd, joined, path, kPathFlags);
  if (pfd < 0) {
    const int err = errno;
    if (err == ELOOP) {
      // A symlink on the way: a componentwise stat names it.
      absl::Status named =
          HostStat(host_fd, ToStrings(path), false, "OpenAt").status();
      if (syserr::ToErrno(named) == ELOOP) return named;
    }
    return fail(err, "");
  }
  fd::OwnedFd file(pfd);
  // Step 2: the file's type, of the very file step 1 found.
  struct stat st;
  if (fstat(file.get(), &st) != 0) return fail(errno, ": fstat");
  switch (OutcomeOf(st.st_mode)) {
    case Outcome::kOpenHere:
      break;
    case Outcome::kAskTheGofer:
      // FIFOs, sockets, block devices: the gofer's policy decides
      // (--host_fifo, --host_uds, its supported types), as on the RPC path.
      file.reset();
      return RpcOpenAt(ctx, ToStrings(path),
                       static_cast<uint32_t>(flags & O_ACCMODE));
    case Outcome::kRefuse:
      return fail(RefusalErrno(st.st_mode),
                  absl::StrCat(
                      ": ", Refusal(joined.view(), st.st_mode,
                                    S_ISLNK(st.st_mode) ? HostTarget(file.get())
                                                        : std::nullopt)));
  }
  // Character devices and regular files, with the access mode: no
  // O_NONBLOCK unless the caller asks for it for a character device (see
  // OpenAt), as device drivers expect; O_NOCTTY so that a tty never
  // becomes the caller's controlling terminal.
  int open_flags = flags | O_NOCTTY | O_CLOEXEC;
  if (!S_ISCHR(st.st_mode)) open_flags &= ~O_NONBLOCK;
  // Step 3: open that same file through its magic link: no path is
  // resolved again, so nothing can be swapped in between. The calling
  // thread's table (thread-self): a thread with an FD table of its own
  // (CLONE_FILES unshared) would find another file, or none, at this
  // number in the thread-group leader's (/proc/self).
  char proc[sizeof("/proc/thread-self/fd/") + 16];
  absl::SNPrintF(proc, sizeof(proc), "/proc/thread-self/fd/%d", file.get());
  int fd;
  do {
    fd = open(proc, open_flags);
  } while (fd < 0 && errno == EINTR);
  if (fd >= 0) return fd::OwnedFd(fd);
  if (errno != ENOENT) return fail(errno, "");
  // No /proc: open the path again and check that it is still the file of
  // step 1. (A FIFO swapped in for a device between the two would block
  // this open: only with no /proc, and only if the served tree changes.)
  fd = OpenBeneath(host_fd, joined, path, open_flags | O_NOFOLLOW);
  if (fd < 0) return fail(errno, "");
  fd::OwnedFd opened(fd);
  struct stat again;
  if (fstat(opened.get(), &again) != 0) return fail(errno, ": fstat");
  if (again.st_dev != st.st_dev || again.st_ino != st.st_ino) {
    return fail(EAGAIN, ": the file changed during the open");
  }
  return opened;
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
  DirentBudget budget(options_);
  std::vector<std::string> names;
  ReserveNames(names);
  absl::Status status;
  while (status.ok()) {
    absl::StatusOr<std::vector<lisafs::Dirent64>> dirents =
        dir.Getdents64(ctx, kGetdentsCount);
    if (!dirents.ok()) {
      status = syserr::WithContext(dirents.status(), "Getdents64 RPC failed");
      break;
    }
    if (dirents->empty()) break;
    for (lisafs::Dirent64& d : *dirents) {
      status = budget.Take(d.name.size());
      if (!status.ok()) break;
      if (d.name != "." && d.name != "..") names.push_back(std::move(d.name));
    }
  }
  dir.Close(ctx, /*flush=*/true);
  RETURN_IF_ERROR(status);
  KeepNamesHint(names);
  return names;
}

absl::StatusOr<fd::OwnedFd> GoferClient::RpcOpenAt(
    const context::Context& ctx, const std::vector<std::string>& path,
    uint32_t flags) const {
  const std::string joined = absl::StrJoin(path, "/");
  absl::StatusOr<lisafs::WalkResult> walk = root_.WalkMultiple(ctx, path);
  if (!walk.ok()) {
    ctx.Infof("devutil: walk of \"%s\" failed: %s", joined,
              walk.status().ToString());
    return walk.status();
  }
  std::vector<lisafs::Inode>& inodes = walk->inodes;
  const size_t n = inodes.size();
  // Intermediate control FDs are only batched for closing.
  for (size_t i = 0; i + 1 < n; ++i) {
    client_->CloseFD(ctx, inodes[i].control_fd, /*flush=*/false);
  }
  if (walk->status != lisafs::WalkStatus::kSuccess || n != path.size()) {
    // A symlink in the middle of the path is refused as on the fast path;
    // its Inode is the last one (pkg/lisafs/README.md §7.2).
    const bool symlink =
        walk->status == lisafs::WalkStatus::kComponentSymlink && n > 0;
    std::string why = absl::StrCat("walk stopped after ", n, " of ",
                                   path.size(), " components");
    if (symlink) {
      lisafs::ClientFD link = client_->NewFD(inodes[n - 1].control_fd);
      why = IsSymlink(Prefix(path, n), RpcTarget(ctx, link));
      link.Close(ctx, /*flush=*/true);
    } else if (n > 0) {
      client_->CloseFD(ctx, inodes[n - 1].control_fd, true);
    }
    return syserr::FromErrno(symlink ? ELOOP : ENOENT,
                             absl::StrCat("OpenAt of \"", joined, "\": ", why));
  }
  lisafs::ClientFD child = client_->NewFD(inodes[n - 1].control_fd);
  // Directories and symlinks are refused here, before any OpenAt, with the
  // errno of the fast path.
  if (const uint32_t mode = inodes[n - 1].stat.mode;
      OutcomeOf(mode) == Outcome::kRefuse) {
    std::optional<std::string> target;
    if ((mode & S_IFMT) == S_IFLNK) target = RpcTarget(ctx, child);
    child.Close(ctx, /*flush=*/true);
    return syserr::FromErrno(RefusalErrno(mode),
                             absl::StrCat("OpenAt of \"", joined, "\": ",
                                          Refusal(joined, mode, target)));
  }
  absl::StatusOr<lisafs::OpenResult> open = child.OpenAt(ctx, flags);
  if (!open.ok()) {
    child.Close(ctx, /*flush=*/true);
    ctx.Infof("devutil: OpenAt of \"%s\" failed: %s", joined,
              open.status().ToString());
    return syserr::WithContext(open.status(),
                               absl::StrCat("OpenAt of \"", joined, "\""));
  }
  child.Close(ctx, /*flush=*/false);
  if (!open->host_fd.valid()) {
    // A gofer whose Walk did not say what the file is (a Statx without
    // its type) opens a directory and donates nothing: say what it is.
    std::string why = "the gofer donated no host FD";
    int err = EIO;
    if (client_->IsSupported(lisafs::MID::kFStat)) {
      absl::StatusOr<lisafs::Statx> st =
          client_->NewFD(open->open_fd).FStat(ctx);
      if (st.ok() && OutcomeOf(st->mode) == Outcome::kRefuse) {
        err = RefusalErrno(st->mode);
        why = Refusal(joined, st->mode, std::nullopt);
      }
    }
    client_->CloseFD(ctx, open->open_fd, /*flush=*/true);
    return syserr::FromErrno(err,
                             absl::StrCat("OpenAt of \"", joined, "\": ", why));
  }
  client_->CloseFD(ctx, open->open_fd, /*flush=*/true);
  return std::move(open->host_fd);
}

absl::StatusOr<struct stat> GoferClient::HostStat(
    int host_fd, const std::vector<std::string>& path, bool last_may_be_symlink,
    absl::string_view op) const {
  const std::string joined = absl::StrJoin(path, "/");
  auto fail = [&](int err, size_t n, absl::string_view why) {
    return syserr::FromErrno(
        err, absl::StrCat(op, " of \"", joined, "\" on the host FD: \"",
                          Prefix(path, n), "\"", why));
  };
  // Component by component, each an O_PATH FD (which opens nothing) taken
  // without following a symlink, so that the one in the way is named.
  fd::OwnedFd cur;
  int at = host_fd;
  struct stat st;
  for (size_t i = 0; i < path.size(); ++i) {
    int f = openat(at, path[i].c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (f < 0) return fail(errno, i + 1, "");
    cur.reset(f);
    at = f;
    if (fstat(f, &st) != 0) return fail(errno, i + 1, ": fstat");
    if (S_ISLNK(st.st_mode) && !(last_may_be_symlink && i + 1 == path.size())) {
      return syserr::FromErrno(
          ELOOP, absl::StrCat(op, " of \"", joined, "\" on the host FD: ",
                              IsSymlink(Prefix(path, i + 1), HostTarget(f))));
    }
    if (i + 1 < path.size() && !S_ISDIR(st.st_mode)) {
      return fail(ENOTDIR, i + 1, " is not a directory");
    }
  }
  return st;
}

std::optional<std::string> GoferClient::RpcTarget(
    const context::Context& ctx, const lisafs::ClientFD& link) const {
  if (!client_->IsSupported(lisafs::MID::kReadLinkAt)) return std::nullopt;
  absl::StatusOr<std::string> target = link.ReadLinkAt(ctx);
  if (!target.ok()) return std::nullopt;
  return *std::move(target);
}

absl::StatusOr<struct stat> GoferClient::RpcStat(
    const context::Context& ctx, const std::vector<std::string>& path,
    bool last_may_be_symlink) const {
  const std::string joined = absl::StrJoin(path, "/");
  const std::string what = absl::StrCat("Stat of \"", joined, "\"");
  if (!client_->IsSupported(lisafs::MID::kWalkStat)) {
    return syserr::FromErrno(
        EOPNOTSUPP,
        absl::StrCat(what,
                     ": the gofer does not support WalkStat, and an "
                     "open would not be a stat"));
  }
  absl::StatusOr<std::vector<lisafs::Statx>> stats = root_.WalkStat(ctx, path);
  if (!stats.ok()) return syserr::WithContext(stats.status(), what);
  // WalkStat stops quietly at a missing component, and after a symlink,
  // whose record it includes (pkg/lisafs/README.md §7.6).
  const size_t n = stats->size();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t type = (*stats)[i].mode & S_IFMT;
    const bool last_asked = i + 1 == path.size();
    if (i + 1 < n && type != S_IFDIR) {
      return syserr::FromErrno(
          EIO, absl::StrCat(what, ": WalkStat RPC: the gofer went on past \"",
                            Prefix(path, i + 1),
                            "\", which is not a "
                            "directory"));
    }
    if (type == S_IFLNK && !(last_may_be_symlink && last_asked)) {
      return syserr::FromErrno(
          ELOOP, absl::StrCat(what, ": ",
                              // One WalkStat and no FDID: no target.
                              IsSymlink(Prefix(path, i + 1), std::nullopt)));
    }
    if (!last_asked && type != S_IFDIR) {
      return syserr::FromErrno(ENOTDIR,
                               absl::StrCat(what, ": \"", Prefix(path, i + 1),
                                            "\" is not a directory"));
    }
  }
  if (n < path.size()) {
    return syserr::FromErrno(
        ENOENT,
        absl::StrCat(what, ": \"", Prefix(path, n + 1), "\" does not exist"));
  }
  return ToStat(stats->back());
}

GoferClient* GoferClientFromContext(const context::Context& ctx) {
  GoferClient* const* v = context::Value(ctx, CtxDevGoferClient);
  return v != nullptr ? *v : nullptr;
}

GoferClientProvider* GoferClientProviderFromContext(
    const context::Context& ctx) {
  GoferClientProvider* const* v =
      context::Value(ctx, CtxDevGoferClientProvider);
  return v != nullptr ? *v : nullptr;
}

}  // namespace gvisor::devutil
