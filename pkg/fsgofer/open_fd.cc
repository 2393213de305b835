// OpenFD and BoundSocketFD: thin wrappers over the host FD.

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "pkg/fsgofer/fds.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::fsgofer {

absl::StatusOr<lisafs::Statx> OpenFD::Stat() { return host::Stat(host_.get()); }

absl::Status OpenFD::Sync() {
  if (fsync(host_.get()) != 0) return syserr::FromErrno(errno, "fsync");
  return absl::OkStatus();
}

absl::StatusOr<int> OpenFD::IoFd() {
  if (!blocking_device_) return host_.get();
  std::lock_guard<std::mutex> l(mu_);
  if (!io_.valid()) {
    ASSIGN_OR_RETURN(io_, host::Reopen(host_.get(), (io_flags_ & O_ACCMODE) |
                                                        O_NONBLOCK | O_NOCTTY));
  }
  return io_.get();
}

absl::StatusOr<size_t> OpenFD::Write(absl::Span<const uint8_t> data,
                                     uint64_t offset) {
  ASSIGN_OR_RETURN(const int fd, IoFd());
  return host::WriteAt(fd, data, offset);
}

absl::StatusOr<size_t> OpenFD::Read(absl::Span<uint8_t> buf, uint64_t offset) {
  ASSIGN_OR_RETURN(const int fd, IoFd());
  return host::ReadAt(fd, buf, offset);
}

absl::Status OpenFD::Allocate(uint64_t mode, uint64_t offset, uint64_t length) {
  if (fallocate(host_.get(), static_cast<int>(mode), static_cast<off_t>(offset),
                static_cast<off_t>(length)) != 0) {
    return syserr::FromErrno(errno, "fallocate");
  }
  return absl::OkStatus();
}

// Flush has nothing to do: writes go straight to the host file.
absl::Status OpenFD::Flush() { return absl::OkStatus(); }

absl::Status OpenFD::Getdents(uint32_t count, bool seek0,
                              std::vector<lisafs::Dirent64>* out) {
  const devscope::Allowlist* scope = dir_ == nullptr ? nullptr : dir_->scope();
  if (scope == nullptr) return host::Getdents(host_.get(), count, seek0, out);
  // The handler holds the rename lock, as ScopePath needs. The entries'
  // stats are those Getdents takes anyway: the filter costs no syscall.
  ASSIGN_OR_RETURN(std::string dir, dir_->ScopePath(""));
  return host::Getdents(host_.get(), count, seek0, out,
                        [&](absl::string_view name, const struct stat& st) {
                          std::string path = dir.empty()
                                                 ? std::string(name)
                                                 : absl::StrCat(dir, "/", name);
                          return scope->Visible(path, st.st_mode, st.st_rdev);
                        });
}

absl::Status BoundSocketFD::Listen(int32_t backlog) {
  if (listen(sock_.get(), backlog) != 0) {
    return syserr::FromErrno(errno, "listen");
  }
  return absl::OkStatus();
}

absl::StatusOr<lisafs::AcceptedSocket> BoundSocketFD::Accept() {
  int fd;
  do {
    fd = accept4(sock_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return syserr::FromErrno(errno, "accept4");
  // The peer address is always empty, as in fsgofer.
  return lisafs::AcceptedSocket{fd::OwnedFd(fd), ""};
}

}  // namespace gvisor::fsgofer
