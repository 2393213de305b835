#include "pkg/fsgofer/fsgofer.h"

#include <errno.h>

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

absl::StatusOr<lisafs::MountResult> Connection::Mount(
    absl::string_view mount_path) {
  std::string path(mount_path);
  absl::StatusOr<host::OpenedFile> file = host::OpenMountPoint(path);
  if (!file.ok()) return syserr::WithContext(file.status(), "Mount");
  absl::StatusOr<lisafs::Statx> st = host::StatSupported(file->fd.get());
  if (!st.ok()) return syserr::WithContext(st.status(), "Mount");
  lisafs::MountResult out;
  if (state_->options.donate_mount_fd) {
    absl::StatusOr<fd::OwnedFd> d = host::Dup(file->fd.get());
    if (!d.ok()) return d.status();
    if (absl::Status s = host::SetNonBlocking(d->get()); !s.ok()) return s;
    out.donated = *std::move(d);
  }
  absl::StatusOr<fd::OwnedFd> dir = host::Dup(file->fd.get());
  if (!dir.ok()) return dir.status();
  state_->SetMountDirFd(*std::move(dir));
  out.root.stat = *st;
  out.root.impl =
      std::make_unique<ControlFD>(state_, *std::move(file), uint32_t{st->mode});
  return out;
}

}  // namespace gvisor::fsgofer
