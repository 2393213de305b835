#include "tools/devgofer/private_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::devgofer {
namespace {

// kMaxDescribed bounds the files the description names.
constexpr size_t kMaxDescribed = 32;

// Kept is one file of the original root that the private directory holds.
struct Kept {
  std::string rel;
  struct stat st;
  bool traverse;  // a kTraverse directory: made, not bound
};

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};

std::string Quoted(absl::string_view s) {
  return absl::StrCat("\"", absl::CHexEscape(s), "\"");
}

class Scanner {
 public:
  Scanner(const devscope::Allowlist& allow, const PrivateDirLimits& limits)
      : allow_(allow), limits_(limits) {}

  // Scan appends what directory `dir` (at relative path `rel`, `depth`
  // levels below the root) holds that the allowlist shows.
  absl::Status Scan(int dir, const std::string& rel, size_t depth) {
    std::vector<std::string> names;
    {
      int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return syserr::FromLastErrno(absl::StrCat("open ", rel));
      std::unique_ptr<DIR, DirCloser> d(fdopendir(fd));
      if (d == nullptr) {
        int err = errno;
        close(fd);
        return syserr::FromErrno(err, absl::StrCat("fdopendir ", rel));
      }
      errno = 0;
      while (struct dirent* e = readdir(d.get())) {
        absl::string_view n = e->d_name;
        if (n == "." || n == "..") continue;
        if (++entries_ > limits_.max_entries) {
          return absl::ResourceExhaustedError(absl::StrCat(
              "private directory: the root holds more than ",
              limits_.max_entries, " entries (scanning ", Quoted(rel), ")"));
        }
        names.emplace_back(n);
      }
      if (errno != 0) {
        return syserr::FromLastErrno(absl::StrCat("readdir ", Quoted(rel)));
      }
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      std::string child = rel.empty() ? name : absl::StrCat(rel, "/", name);
      struct stat st;
      if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // gone since readdir
        return syserr::FromLastErrno(absl::StrCat("stat ", Quoted(child)));
      }
      devscope::Visibility v = allow_.Check(child, st.st_mode, st.st_rdev);
      if (v == devscope::Visibility::kHidden) continue;
      bool traverse = v == devscope::Visibility::kTraverse;
      if (traverse && !S_ISDIR(st.st_mode)) continue;
      kept.push_back(Kept{child, st, traverse});
      if (!traverse) continue;
      if (depth + 1 > limits_.max_depth) {
        return absl::ResourceExhaustedError(
            absl::StrCat("private directory: ", Quoted(child), " is more than ",
                         limits_.max_depth, " levels below the root"));
      }
      fd::OwnedFd sub(openat(dir, name.c_str(),
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) {
        return syserr::FromLastErrno(absl::StrCat("open ", Quoted(child)));
      }
      RETURN_IF_ERROR(Scan(sub.get(), child, depth + 1));
    }
    return absl::OkStatus();
  }

  std::vector<Kept> kept;

 private:
  const devscope::Allowlist& allow_;
  const PrivateDirLimits& limits_;
  size_t entries_ = 0;
};

// SetOwner gives the file at rel (beneath dir, not followed) st's owner
// and, unless it is a symlink, st's permission bits.
absl::Status SetOwner(int dir, const std::string& rel, const struct stat& st) {
  if (fchownat(dir, rel.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) !=
      0) {
    return syserr::FromLastErrno(absl::StrCat("chown ", Quoted(rel)));
  }
  if (!S_ISLNK(st.st_mode) &&
      fchmodat(dir, rel.c_str(), st.st_mode & 07777, 0) != 0) {
    return syserr::FromLastErrno(absl::StrCat("chmod ", Quoted(rel)));
  }
  return absl::OkStatus();
}

// Place puts one kept file into the tmpfs (`tmp`, mounted at `root`),
// from the original root (`orig`).
absl::Status Place(int orig, int tmp, const std::string& root, const Kept& k) {
  const char* rel = k.rel.c_str();
  if (k.traverse) {
    if (mkdirat(tmp, rel, 0700) != 0) {
      return syserr::FromLastErrno(absl::StrCat("mkdir ", Quoted(k.rel)));
    }
    return SetOwner(tmp, k.rel, k.st);
  }
  if (S_ISLNK(k.st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(orig, rel, target, sizeof(target));
    if (n < 0) {
      return syserr::FromLastErrno(absl::StrCat("readlink ", Quoted(k.rel)));
    }
    if (static_cast<size_t>(n) >= sizeof(target)) {
      return syserr::FromErrno(ENAMETOOLONG,
                               absl::StrCat("readlink ", Quoted(k.rel)));
    }
    target[n] = '\0';
    if (symlinkat(target, tmp, rel) != 0) {
      return syserr::FromLastErrno(absl::StrCat("symlink ", Quoted(k.rel)));
    }
    return SetOwner(tmp, k.rel, k.st);
  }
  // Everything else is bind-mounted onto a placeholder of its kind.
  bool dir = S_ISDIR(k.st.st_mode);
  if (dir) {
    if (mkdirat(tmp, rel, 0700) != 0) {
      return syserr::FromLastErrno(absl::StrCat("mkdir ", Quoted(k.rel)));
    }
  } else {
    fd::OwnedFd f(
        openat(tmp, rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!f.valid()) {
      return syserr::FromLastErrno(absl::StrCat("create ", Quoted(k.rel)));
    }
  }
  // O_PATH: a device node is not opened (no driver side effect).
  fd::OwnedFd src(openat(orig, rel, O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!src.valid()) {
    return syserr::FromLastErrno(absl::StrCat("open ", Quoted(k.rel)));
  }
  std::string from = absl::StrCat("/proc/self/fd/", src.get());
  std::string to = absl::StrCat(root, "/", k.rel);
  if (mount(from.c_str(), to.c_str(), nullptr, MS_BIND | (dir ? MS_REC : 0),
            nullptr) != 0) {
    return syserr::FromLastErrno(absl::StrCat("bind mount ", Quoted(k.rel)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PrivateDir> MakePrivateDir(const std::string& root,
                                          const devscope::Allowlist& allow,
                                          const PrivateDirLimits& limits) {
  if (allow.empty()) {
    return PrivateDir{root, {}, absl::StrCat(root, " (no allowlist)")};
  }
  if (root.empty() || root[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "private directory: root ", Quoted(root), " is not an absolute path"));
  }
  char resolved[PATH_MAX];
  if (realpath(root.c_str(), resolved) == nullptr) {
    return syserr::FromLastErrno(absl::StrCat("realpath ", Quoted(root)));
  }
  std::string path = resolved;
  if (path == "/") {
    return absl::InvalidArgumentError(
        "private directory: cannot stand in for \"/\"");
  }
  fd::OwnedFd orig(
      open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!orig.valid()) {
    return syserr::FromLastErrno(absl::StrCat("open ", Quoted(path)));
  }
  struct stat root_st;
  if (fstat(orig.get(), &root_st) != 0) {
    return syserr::FromLastErrno(absl::StrCat("stat ", Quoted(path)));
  }

  // A mount namespace of our own, cut off from every other.
  if (unshare(CLONE_NEWNS) != 0) {
    int err = errno;
    return syserr::WithCode(
        absl::StatusCode::kFailedPrecondition,
        syserr::FromErrno(
            err,
            absl::StrCat(
                "a private directory (--private_dir) serves only the allowed "
                "files of ",
                path,
                " from a mount namespace of its own, and making one needs "
                "CAP_SYS_ADMIN",
                err == EINVAL ? " and a single-threaded process" : "",
                "; run devgofer with CAP_SYS_ADMIN, or scope it without "
                "--private_dir and with --nodonate_mount_fd (the allowlist "
                "then filters every RPC): unshare(CLONE_NEWNS)")));
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return syserr::FromLastErrno("private directory: make / MS_PRIVATE");
  }
  // Bind mounts take their source from this namespace's mounts only: open
  // the root again, here, and make sure it is the same directory.
  orig.reset(
      open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat again;
  if (!orig.valid() || fstat(orig.get(), &again) != 0) {
    return syserr::FromLastErrno(absl::StrCat("open ", Quoted(path)));
  }
  if (again.st_dev != root_st.st_dev || again.st_ino != root_st.st_ino) {
    return absl::AbortedError(
        absl::StrCat("private directory: ", Quoted(path), " was replaced"));
  }

  // What to keep (the scan happens here, in the new namespace, for the
  // same reason).
  Scanner scanner(allow, limits);
  RETURN_IF_ERROR(scanner.Scan(orig.get(), "", 0));
  // An empty view serves nothing: a scope that matches no file is a
  // mistake (a misspelt rule, a device not there), not a container.
  if (std::none_of(scanner.kept.begin(), scanner.kept.end(),
                   [](const Kept& k) { return !k.traverse; })) {
    return absl::NotFoundError(
        absl::StrCat("private directory: the scope (", allow.ToString(),
                     ") matches no file under ", path, ": nothing to serve"));
  }

  // A tmpfs over the root, holding the kept files.
  size_t bytes = std::max<size_t>(1 << 20, scanner.kept.size() * 8192);
  // tmpfs takes the mode in octal.
  char mode[16];
  snprintf(mode, sizeof(mode), "%o", root_st.st_mode & 07777);
  std::string opts = absl::StrCat("mode=", mode, ",uid=", root_st.st_uid,
                                  ",gid=", root_st.st_gid, ",size=", bytes,
                                  ",nr_inodes=", scanner.kept.size() + 16);
  constexpr unsigned long kTmpfsFlags = MS_NODEV | MS_NOSUID | MS_NOEXEC;
  if (mount("tmpfs", path.c_str(), "tmpfs", kTmpfsFlags, opts.c_str()) != 0) {
    return syserr::FromLastErrno(
        absl::StrCat("private directory: mount tmpfs on ", Quoted(path)));
  }
  fd::OwnedFd tmp(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!tmp.valid()) {
    return syserr::FromLastErrno(absl::StrCat("open tmpfs ", Quoted(path)));
  }
  PrivateDir out;
  out.path = path;
  std::vector<std::string> allowed;
  for (const Kept& k : scanner.kept) {
    RETURN_IF_ERROR(Place(orig.get(), tmp.get(), path, k));
    out.entries.push_back(k.rel);
    if (!k.traverse) allowed.push_back(k.rel);
  }

  // Nothing can be added beside them.
  if (mount(nullptr, path.c_str(), nullptr,
            MS_REMOUNT | MS_RDONLY | kTmpfsFlags, nullptr) != 0) {
    return syserr::FromLastErrno(absl::StrCat("private directory: remount ",
                                              Quoted(path), " read-only"));
  }
  size_t n = allowed.size();
  if (n > kMaxDescribed) allowed.resize(kMaxDescribed);
  out.description = absl::StrCat(
      "private tmpfs over ", path, " in a mount namespace of its own, with ", n,
      " allowed file(s): ", n == 0 ? "none" : absl::StrJoin(allowed, ", "),
      n > kMaxDescribed ? ", ..." : "");
  return out;
}

}  // namespace gvisor::devgofer
