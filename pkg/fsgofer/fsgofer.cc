#include "pkg/fsgofer/fsgofer.h"

#include <errno.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/fsgofer/fds.h"
#include "pkg/fsgofer/host.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::fsgofer {

absl::StatusOr<CharDevicePolicy> ParseCharDevicePolicy(absl::string_view s) {
  if (s == "deny") return CharDevicePolicy::kDeny;
  if (s == "passthrough") return CharDevicePolicy::kPassthrough;
  return syserr::FromErrno(
      EINVAL, absl::StrCat("character device policy \"", s,
                           "\" is neither \"deny\" nor \"passthrough\""));
}

std::vector<lisafs::MID> SupportedMessages() {
  std::vector<lisafs::MID> mids;
  for (uint16_t m = 1; m <= 33; ++m) {
    if (m == static_cast<uint16_t>(lisafs::MID::kFlush)) continue;
    mids.push_back(static_cast<lisafs::MID>(m));
  }
  return mids;
}

Connection::Connection(Options options)
    : state_(std::make_shared<State>(options)) {}

Connection::~Connection() = default;

std::vector<lisafs::MID> Connection::SupportedMessages() const {
  return fsgofer::SupportedMessages();
}

namespace {

// MountPoints shares one host FD per mount point among every connection of
// the process that mounts it, so that a mounted connection costs the server
// its socket and no FD more. A shared FD is only used for *at(2) calls,
// fstat and the like, never for its offset. An entry serves a Mount only
// while some connection still holds it, and only if the Mount's own fresh
// open finds the same file (device, inode, kind of FD): a mount point
// replaced on the host gets a new entry, and connections on the old one
// keep it.
class MountPoints {
 public:
  // Find returns the shared FD for path if it still names st's file.
  std::shared_ptr<const fd::OwnedFd> Find(const std::string& path,
                                          const lisafs::Statx& st, bool opath) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = entries_.find(path);
    if (it == entries_.end()) return nullptr;
    const Entry& e = it->second;
    if (e.dev_major != st.dev_major || e.dev_minor != st.dev_minor ||
        e.ino != st.ino || e.opath != opath) {
      return nullptr;
    }
    return e.fd.lock();
  }

  // Insert makes fd the shared FD for path and returns it.
  std::shared_ptr<const fd::OwnedFd> Insert(const std::string& path,
                                            const lisafs::Statx& st, bool opath,
                                            fd::OwnedFd fd) {
    auto shared = std::make_shared<const fd::OwnedFd>(std::move(fd));
    std::lock_guard<std::mutex> l(mu_);
    // Forget mount points no connection holds any more.
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.fd.expired() ? entries_.erase(it) : std::next(it);
    }
    entries_[path] = {shared, st.dev_major, st.dev_minor, st.ino, opath};
    return shared;
  }

 private:
  struct Entry {
    std::weak_ptr<const fd::OwnedFd> fd;
    uint32_t dev_major = 0;
    uint32_t dev_minor = 0;
    uint64_t ino = 0;
    bool opath = false;
  };
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

MountPoints& SharedMountPoints() {
  static MountPoints* const m = new MountPoints;
  return *m;
}

}  // namespace

absl::StatusOr<lisafs::MountResult> Connection::Mount(
    absl::string_view mount_path) {
  std::string path(mount_path);
  absl::StatusOr<host::OpenedFile> file = host::OpenMountPoint(path);
  if (!file.ok()) return syserr::WithContext(file.status(), "Mount");
  absl::StatusOr<lisafs::Statx> st = host::StatSupported(file->fd.get());
  if (!st.ok()) return syserr::WithContext(st.status(), "Mount");
  lisafs::MountResult out;
  // A scoped connection never donates its mount point: the FD would reach
  // every file.
  const bool donate =
      state_->options.donate_mount_fd && state_->scope() == nullptr;
  std::shared_ptr<const fd::OwnedFd> shared =
      SharedMountPoints().Find(path, *st, file->opath);
  if (shared != nullptr) {
    // The fresh FD is this client's own, if donated (its own offset for
    // getdents); otherwise it closes here.
    if (donate) {
      if (absl::Status s = host::SetNonBlocking(file->fd.get()); !s.ok()) {
        return s;
      }
      out.donated = std::move(file->fd);
    }
  } else {
    if (donate) {
      absl::StatusOr<fd::OwnedFd> d = host::Dup(file->fd.get());
      if (!d.ok()) return d.status();
      if (absl::Status s = host::SetNonBlocking(d->get()); !s.ok()) return s;
      out.donated = *std::move(d);
    }
    shared =
        SharedMountPoints().Insert(path, *st, file->opath, std::move(file->fd));
  }
  state_->SetMountDirFd(shared);
  out.root.stat = *st;
  out.root.impl = std::make_unique<ControlFD>(state_, std::move(shared),
                                              file->opath, uint32_t{st->mode});
  return out;
}

}  // namespace gvisor::fsgofer
