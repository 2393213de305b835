#include "pkg/sdnotify/notify_listener.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::sdnotify {

absl::StatusOr<std::unique_ptr<NotifyListener>> NotifyListener::Bind(
    const std::string& dir) {
  std::unique_ptr<NotifyListener> l(new NotifyListener);
  // A fresh directory: a pid may repeat (in a PID namespace), a
  // directory made by mkdtemp cannot.
  std::string tmpl = absl::StrCat(dir, "/notify.XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) return syserr::FromLastErrno("mkdtemp");
  l->dir_ = tmpl;
  l->path_ = tmpl + "/n";
  sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  if (l->path_.size() >= sizeof(a.sun_path)) {
    return absl::InvalidArgumentError("notify socket path too long");
  }
  memcpy(a.sun_path, l->path_.data(), l->path_.size());
  l->fd_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!l->fd_.valid()) return syserr::FromLastErrno("socket");
  if (bind(l->fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    return syserr::FromLastErrno(absl::StrCat("bind ", l->path_));
  }
  return l;
}

NotifyListener::~NotifyListener() {
  if (!dir_.empty()) {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
}

absl::StatusOr<std::string> NotifyListener::Read() {
  for (;;) {
    pollfd p = {fd_.get(), POLLIN, 0};
    int n = poll(&p, 1, 30000);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return syserr::FromLastErrno("poll");
    if (n == 0) return absl::DeadlineExceededError("no notification");
    char buf[4096];
    ssize_t r = recv(fd_.get(), buf, sizeof(buf), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return syserr::FromLastErrno("recv");
    return std::string(buf, r);
  }
}

}  // namespace gvisor::sdnotify
