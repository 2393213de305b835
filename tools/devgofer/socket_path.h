// ClaimSocketPath: binds a unix socket at a path a server owns, the way
// daemons that restart after a crash need it (the shim does the same in
// runsc_shim/server.cc).
//
//  - nothing at the path: the socket is bound there;
//  - a socket that nobody accepts on (connect(2) gives ECONNREFUSED: what a
//    crashed or SIGKILLed server leaves behind) is removed, logged, and the
//    socket is bound in its place;
//  - a socket a live server accepts on is refused, saying so;
//  - anything else (a regular file, a directory, a symbolic link, a device,
//    a FIFO) is refused, saying what it is; it is never removed.

#ifndef GVISOR_TOOLS_DEVGOFER_SOCKET_PATH_H_
#define GVISOR_TOOLS_DEVGOFER_SOCKET_PATH_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/unet/unet.h"

namespace gvisor::devgofer {

// FileKind names the type in st_mode for a user: "a regular file", "a
// directory", "a symbolic link", "a character device", "a block device",
// "a FIFO", "a socket".
absl::string_view FileKind(mode_t st_mode);

// ClaimSocketPath returns a SOCK_STREAM socket bound (not yet listening) at
// path with the permission bits in mode (unet::ServerSocket::Bind).
//
// Errors, each message naming the path and what to do:
//  - ALREADY_EXISTS: a live server accepts on the socket at path ("a live
//    server is accepting connections on it").
//  - FAILED_PRECONDITION: path is not a socket ("is a directory, not a
//    socket").
//  - otherwise the errno of lstat(2), connect(2), unlink(2) or bind(2).
// Only the path's last component is looked at: a symbolic link there is
// refused, not followed.
absl::StatusOr<unet::ServerSocket> ClaimSocketPath(const std::string& path,
                                                   mode_t mode = 0600);

}  // namespace gvisor::devgofer

#endif  // GVISOR_TOOLS_DEVGOFER_SOCKET_PATH_H_
