// Checks of what an orchestrator sends the shim. Each returns OK or an
// INVALID_ARGUMENT status (carrying EINVAL or ENAMETOOLONG) whose message
// names the field and the value.

#ifndef GVISOR_RUNSC_SHIM_VALIDATE_H_
#define GVISOR_RUNSC_SHIM_VALIDATE_H_

#include <stddef.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "pkg/unet/address.h"

namespace gvisor::shim {

// kMaxContainerName is the longest container name: a DNS name's limit.
inline constexpr size_t kMaxContainerName = 253;
// kMaxDevicePath is the longest device path: PATH_MAX less the NUL.
inline constexpr size_t kMaxDevicePath = 4095;
// kMaxSocketPath is the longest gofer socket path, '@' included for an
// abstract name: unet::kMaxPathLength (sizeof(sun_path) less the NUL).
inline constexpr size_t kMaxSocketPath = unet::kMaxPathLength;

// ValidateContainerName accepts 1 to kMaxContainerName bytes of ASCII
// letters, digits, '-', '_' and '.', beginning and ending with a letter or a
// digit.
absl::Status ValidateContainerName(absl::string_view name);

// ValidateDevicePath accepts a relative path of 1 to kMaxDevicePath bytes
// with no NUL byte, no empty component other than a trailing one, and no
// "." or ".." component.
absl::Status ValidateDevicePath(absl::string_view path);

// ValidateSocketPath accepts an absolute filesystem path or an '@'-prefixed
// abstract name that fits in sockaddr_un.sun_path, with no NUL byte. A
// relative path is refused: the shim's working directory means nothing to
// its callers.
absl::Status ValidateSocketPath(absl::string_view path);

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_VALIDATE_H_
