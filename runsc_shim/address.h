// Address: where the shim serves and devctl connects. A Unix socket by
// default; TCP only when spelled out, since the API has no authentication.

#ifndef GVISOR_RUNSC_SHIM_ADDRESS_H_
#define GVISOR_RUNSC_SHIM_ADDRESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gvisor::shim {

// kSocketName is the socket's file name in the default directory.
inline constexpr absl::string_view kSocketName = "runsc-shim.sock";

// Address is a parsed --listen or --server value.
struct Address {
  enum class Kind { kUnix, kUnixAbstract, kTcp };
  Kind kind = Kind::kUnix;
  // path for kUnix, the name for kUnixAbstract, HOST:PORT for kTcp.
  std::string target;

  // GrpcTarget returns the address in gRPC's URI form.
  std::string GrpcTarget() const;
  // ToString returns the address as ParseAddress accepts it.
  std::string ToString() const;
};

// DefaultAddress returns "unix:$XDG_RUNTIME_DIR/runsc-shim.sock" when
// XDG_RUNTIME_DIR is set to an absolute path, else
// "unix:/run/runsc-shim.sock".
std::string DefaultAddress();

// ParseAddress accepts "unix:PATH", "unix-abstract:NAME" and
// "tcp:HOST:PORT". Anything else, an empty part, a NUL byte, or a Unix path
// too long for sockaddr_un is INVALID_ARGUMENT.
absl::StatusOr<Address> ParseAddress(absl::string_view s);

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_ADDRESS_H_
