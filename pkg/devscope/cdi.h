// CDI: device scoping from Container Device Interface specs, the files that
// `nvidia-ctk cdi generate` and other vendors' tools write to /etc/cdi and
// /var/run/cdi (https://github.com/cncf-tags/container-device-interface,
// SPEC.md).
//
// A spec (JSON or YAML, read by spec_file.h within its bounds) is
//
//   cdiVersion: "0.5.0"            # required, MAJOR.MINOR.PATCH
//   kind: nvidia.com/gpu           # required, "vendor/class"
//   containerEdits:                # optional: applies to every device of
//     deviceNodes:                 #   the spec that is requested
//     - path: /dev/nvidiactl
//   devices:                       # required, at least one
//   - name: "0"                    # required, unique in the spec
//     containerEdits:
//       deviceNodes:
//       - path: /dev/nvidia0       # required: the path in the container
//         hostPath: /dev/nvidia0   # optional: the node on the host
//         type: c                  # optional, with major, minor,
//         major: 195               #   fileMode, permissions, uid, gid
//         minor: 0
//
// Only device nodes matter here: env, mounts, hooks, annotations and the
// other edits are read past (they are the container runtime's business),
// and unknown fields are ignored. A device is requested by its fully
// qualified name "vendor/class=name" ("nvidia.com/gpu=0"), as CDI runtimes
// do. The rules for a set of requested devices are, for each requested
// device, its device nodes, followed by (once per spec) the spec's
// top-level nodes: each node's hostPath, else its path, relative to the
// served root (spec_file.h RuleForPath), in order, without duplicates.
//
// Thread-compatible: plain values and pure functions.

#ifndef GVISOR_PKG_DEVSCOPE_CDI_H_
#define GVISOR_PKG_DEVSCOPE_CDI_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gvisor::devscope {

// kMaxCdiDevices bounds the devices of a spec, kMaxCdiDeviceNodes the
// device nodes of one containerEdits.
inline constexpr size_t kMaxCdiDevices = 4096;
inline constexpr size_t kMaxCdiDeviceNodes = 4096;

// CdiDeviceNode is one entry of containerEdits.deviceNodes.
struct CdiDeviceNode {
  std::string path;       // in the container
  std::string host_path;  // on the host; empty when not given
  std::string type;       // "c", "b", "p", ... or empty
  std::optional<int64_t> major, minor;
  int line = 0;  // where it starts in the file

  // HostPath is host_path, else path.
  const std::string& HostPath() const {
    return host_path.empty() ? path : host_path;
  }
};

// CdiDevice is one entry of devices.
struct CdiDevice {
  std::string name;
  std::vector<CdiDeviceNode> nodes;
};

// CdiSpec is the part of one spec file that scoping uses.
struct CdiSpec {
  std::string file;  // where it came from (for messages)
  std::string version;
  std::string kind;                   // "vendor/class"
  std::vector<CdiDeviceNode> common;  // top-level containerEdits
  std::vector<CdiDevice> devices;
};

// ParseCdiSpec parses a spec's text; `file` names it in messages and in the
// result. INVALID_ARGUMENT, naming the file and the line, for text that does
// not parse or a spec that breaks the format above (a missing or malformed
// cdiVersion, kind or device name, no devices, a duplicate device name, a
// device node without path, a field of the wrong type, a broken bound).
absl::StatusOr<CdiSpec> ParseCdiSpec(absl::string_view text,
                                     const std::string& file);

// LoadCdiSpec reads and parses the spec file at `file` (spec_file.h
// LoadSpecFile's errors, then ParseCdiSpec's).
absl::StatusOr<CdiSpec> LoadCdiSpec(const std::string& file);

// ParseQualifiedName splits "vendor/class=name" into kind ("vendor/class")
// and name, checking each part as CDI does (vendor and class: letters,
// digits, '_', '-', '.', starting with a letter and ending with a letter or
// digit; name: also ':', starting and ending with a letter or digit).
// INVALID_ARGUMENT naming the device otherwise.
absl::Status ParseQualifiedName(absl::string_view device, std::string* kind,
                                std::string* name);

// CdiRules returns the allowlist rules (allowlist.h) for the requested
// devices (fully qualified names) of `specs`, relative to the absolute
// directory `root`, as the file comment says. INVALID_ARGUMENT for no
// requested device, a name that is not fully qualified (the message lists
// the qualified names available), a kind no spec has or a device no spec of
// its kind has (both list what is available), a device two specs define, a
// requested device without any device node, and a device node outside
// `root` (naming it and its file).
absl::StatusOr<std::vector<std::string>> CdiRules(
    const std::vector<CdiSpec>& specs, const std::vector<std::string>& devices,
    absl::string_view root);

}  // namespace gvisor::devscope

#endif  // GVISOR_PKG_DEVSCOPE_CDI_H_
