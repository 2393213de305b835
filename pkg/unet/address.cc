#include "pkg/unet/address.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::unet {

absl::StatusOr<UnixAddress> UnixAddress::FromPath(absl::string_view path) {
  UnixAddress a;
  a.addr_.sun_family = AF_UNIX;
  if (path.empty()) {
    return syserr::FromErrno(EINVAL, "unix socket address: empty path");
  }
  if (IsAbstract(path)) {
    // The name may hold any bytes; its length comes from the address length.
    absl::string_view name = path.substr(1);
    if (name.size() > kMaxPathLength) {
      return syserr::FromErrno(
          ENAMETOOLONG,
          absl::StrCat("unix socket address \"", path, "\": name of ",
                       name.size(), " bytes exceeds ", kMaxPathLength));
    }
    memcpy(a.addr_.sun_path + 1, name.data(), name.size());
    a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 +
                                    name.size());
    a.abstract_ = true;
    return a;
  }
  if (path.find('\0') != absl::string_view::npos) {
    return syserr::FromErrno(EINVAL,
                             "unix socket address: path holds a NUL byte");
  }
  if (path.size() > kMaxPathLength) {
    return syserr::FromErrno(
        ENAMETOOLONG,
        absl::StrCat("unix socket address \"", path, "\": path of ",
                     path.size(), " bytes exceeds ", kMaxPathLength));
  }
  memcpy(a.addr_.sun_path, path.data(), path.size());
  a.len_ =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return a;
}

}  // namespace gvisor::unet
