// NotifyListener: what a service manager does with $NOTIFY_SOCKET, for
// tests: a bound AF_UNIX datagram socket whose messages can be read.

#ifndef GVISOR_PKG_SDNOTIFY_NOTIFY_LISTENER_H_
#define GVISOR_PKG_SDNOTIFY_NOTIFY_LISTENER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "pkg/fd/fd.h"

namespace gvisor::sdnotify {

class NotifyListener {
 public:
  // Bind creates the socket in a new directory below dir.
  static absl::StatusOr<std::unique_ptr<NotifyListener>> Bind(
      const std::string& dir);
  // The destructor removes the socket file.
  ~NotifyListener();

  // path is what $NOTIFY_SOCKET must be set to.
  const std::string& path() const { return path_; }

  // Read returns the next message. DEADLINE_EXCEEDED after 30 s without
  // one (a guard against a hung test, not a timing assertion).
  absl::StatusOr<std::string> Read();

 private:
  NotifyListener() = default;
  fd::OwnedFd fd_;
  std::string dir_;  // made for the socket, removed with it
  std::string path_;
};

}  // namespace gvisor::sdnotify

#endif  // GVISOR_PKG_SDNOTIFY_NOTIFY_LISTENER_H_
