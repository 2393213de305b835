// UnixAddress: the sockaddr_un of an AF_UNIX socket name, built in one place
// for every bind(2) and connect(2) of the project.
//
// A name is a filesystem path, or '@' followed by an abstract name: the '@'
// stands for the leading NUL byte of sun_path, and the rest of the string
// (any bytes) is the name, its length given by the address length.

#ifndef GVISOR_PKG_UNET_ADDRESS_H_
#define GVISOR_PKG_UNET_ADDRESS_H_

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gvisor::unet {

// kMaxPathLength is the longest filesystem path (or abstract name) that fits
// in sockaddr_un.sun_path: the path needs room for its terminating NUL, and
// an abstract name for its leading one.
inline constexpr size_t kMaxPathLength = sizeof(sockaddr_un{}.sun_path) - 1;

// UnixAddress is a sockaddr_un and the length to pass with it. Copyable.
class UnixAddress {
 public:
  // FromPath returns the address of path ('@' for an abstract name).
  // Returns EINVAL for an empty path or a filesystem path that holds a NUL
  // byte, and ENAMETOOLONG for a path or name longer than kMaxPathLength.
  static absl::StatusOr<UnixAddress> FromPath(absl::string_view path);

  // IsAbstract reports whether path names an abstract socket ('@...').
  static bool IsAbstract(absl::string_view path) {
    return !path.empty() && path[0] == '@';
  }

  // addr and len are the arguments for bind(2) and connect(2).
  const sockaddr* addr() const {
    return reinterpret_cast<const sockaddr*>(&addr_);
  }
  socklen_t len() const { return len_; }

  // abstract reports whether the address names an abstract socket.
  bool abstract() const { return abstract_; }

 private:
  UnixAddress() = default;

  sockaddr_un addr_ = {};
  socklen_t len_ = 0;
  bool abstract_ = false;
};

}  // namespace gvisor::unet

#endif  // GVISOR_PKG_UNET_ADDRESS_H_
