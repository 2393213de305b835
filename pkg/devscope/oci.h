// OCI: device scoping from an OCI runtime spec (a bundle's config.json,
// https://github.com/opencontainers/runtime-spec, config-linux.md
// "Devices"), the devices a container runtime creates in the container:
//
//   { "ociVersion": "1.0.2",
//     "linux": { "devices": [
//       { "path": "/dev/nvidia0", "type": "c", "major": 195, "minor": 0,
//         "fileMode": 438, "uid": 0, "gid": 0 } ] } }
//
// Each entry needs path (absolute) and type ("c", "b", "u" or "p"); major
// and minor are read when given (required by OCI for c, b and u). The rest
// of the spec is read past. Read by spec_file.h, within its bounds.
//
// OCI paths are paths in the container. The gofer's served root stands for
// the container's /dev, so the rule for a device is its path relative to
// /dev ("/dev/nvidia0" -> "nvidia0", "/dev/nvidia-caps/nvidia-cap1" ->
// "nvidia-caps/nvidia-cap1"), whatever directory the gofer serves; a device
// outside /dev is an error. The host node is then found under --root by the
// same relative path, as a runtime that bind-mounts the host's /dev/X to the
// container's /dev/X does.
//
// Thread-compatible: plain values and pure functions.

#ifndef GVISOR_PKG_DEVSCOPE_OCI_H_
#define GVISOR_PKG_DEVSCOPE_OCI_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gvisor::devscope {

// kMaxOciDevices bounds linux.devices.
inline constexpr size_t kMaxOciDevices = 4096;

// kOciDeviceDir is the container directory the served root stands for.
inline constexpr char kOciDeviceDir[] = "/dev";

// OciDevice is one entry of linux.devices.
struct OciDevice {
  std::string path;  // in the container
  std::string type;  // "c", "b", "u" or "p"
  std::optional<int64_t> major, minor;
  int line = 0;  // where it starts in the file
};

// ParseOciDevices returns linux.devices of a runtime spec's text (none when
// the spec has no linux or no linux.devices); `file` names it in messages.
// INVALID_ARGUMENT, naming the file and line, for text that does not parse,
// a spec that is not a map, or an entry without path or type, with a
// relative path, an unknown type, or a field of the wrong type.
absl::StatusOr<std::vector<OciDevice>> ParseOciDevices(absl::string_view text,
                                                       const std::string& file);

// LoadOciDevices reads and parses the spec at `file` (spec_file.h
// LoadSpecFile's errors, then ParseOciDevices').
absl::StatusOr<std::vector<OciDevice>> LoadOciDevices(const std::string& file);

// OciRules returns the allowlist rules (allowlist.h) for `devices`: each
// path relative to kOciDeviceDir, in order, without duplicates.
// INVALID_ARGUMENT naming `file` and the device for one outside /dev, and
// for no devices at all (an empty allowlist would scope nothing).
absl::StatusOr<std::vector<std::string>> OciRules(
    const std::vector<OciDevice>& devices, absl::string_view file);

}  // namespace gvisor::devscope

#endif  // GVISOR_PKG_DEVSCOPE_OCI_H_
