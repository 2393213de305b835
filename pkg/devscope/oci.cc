#include "pkg/devscope/oci.h"

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pkg/devscope/spec_file.h"
#include "pkg/syserr/status_macros.h"

namespace gvisor::devscope {
namespace {

absl::StatusOr<std::vector<OciDevice>> DevicesFromTree(
    const SpecNode& root, const std::string& file) {
  if (root.kind != SpecNode::Kind::kMap) {
    return SpecError(file, root.line, "an OCI runtime spec is a map");
  }
  std::vector<OciDevice> out;
  const SpecNode* linux = root.Find("linux");
  if (linux == nullptr || linux->kind == SpecNode::Kind::kNull) return out;
  if (linux->kind != SpecNode::Kind::kMap) {
    return SpecError(file, linux->line, "\"linux\" is not a map");
  }
  ASSIGN_OR_RETURN(const SpecNode* devices,
                   GetSequence(*linux, "devices", kMaxOciDevices, file));
  if (devices == nullptr) return out;
  for (const SpecNode& n : devices->items) {
    if (n.kind != SpecNode::Kind::kMap) {
      return SpecError(file, n.line, "a linux.devices entry is not a map");
    }
    OciDevice d;
    d.line = n.line;
    absl::StatusOr<std::string> path = GetString(n, "path", file);
    if (absl::IsNotFound(path.status())) {
      return SpecError(file, n.line, "a device has no \"path\"");
    }
    RETURN_IF_ERROR(path.status());
    if (path->empty() || (*path)[0] != '/') {
      return SpecError(file, n.line,
                       absl::StrCat("device path \"", absl::CHexEscape(*path),
                                    "\" is not absolute"));
    }
    d.path = std::move(*path);
    absl::StatusOr<std::string> type = GetString(n, "type", file);
    if (absl::IsNotFound(type.status())) {
      return SpecError(file, n.line,
                       absl::StrCat("device ", d.path, " has no \"type\""));
    }
    RETURN_IF_ERROR(type.status());
    if (*type != "c" && *type != "b" && *type != "u" && *type != "p") {
      return SpecError(
          file, n.line,
          absl::StrCat("device ", d.path, ": type \"", absl::CHexEscape(*type),
                       "\" is not c, b, u or p"));
    }
    d.type = std::move(*type);
    ASSIGN_OR_RETURN(d.major, OptionalInt(n, "major", file));
    ASSIGN_OR_RETURN(d.minor, OptionalInt(n, "minor", file));
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<OciDevice>> ParseOciDevices(
    absl::string_view text, const std::string& file) {
  ASSIGN_OR_RETURN(SpecNode root, ParseSpecText(text, file));
  return DevicesFromTree(root, file);
}

absl::StatusOr<std::vector<OciDevice>> LoadOciDevices(const std::string& file) {
  ASSIGN_OR_RETURN(SpecNode root, LoadSpecFile(file));
  return DevicesFromTree(root, file);
}

absl::StatusOr<std::vector<std::string>> OciRules(
    const std::vector<OciDevice>& devices, absl::string_view file) {
  if (devices.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": linux.devices lists no device, so it scopes nothing"));
  }
  std::vector<std::string> rules;
  std::set<std::string> have;
  for (const OciDevice& d : devices) {
    absl::StatusOr<std::string> rule = RuleForPath(d.path, kOciDeviceDir);
    if (!rule.ok()) return SpecError(file, d.line, rule.status().message());
    if (have.insert(*rule).second) rules.push_back(std::move(*rule));
  }
  return rules;
}

}  // namespace gvisor::devscope
