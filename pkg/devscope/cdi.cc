#include "pkg/devscope/cdi.h"

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "pkg/devscope/spec_file.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::devscope {
namespace {

// kMaxListed bounds the names an error message lists.
constexpr size_t kMaxListed = 32;

bool NameChar(char c, bool colon) {
  return absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.' ||
         (colon && c == ':');
}

// ValidName checks a vendor or class name (colon false) or a device name
// (colon true) as CDI's pkg/parser does.
bool ValidName(absl::string_view s, bool colon) {
  if (s.empty() || s.size() > 253) return false;
  if (colon ? !absl::ascii_isalnum(s[0]) : !absl::ascii_isalpha(s[0])) {
    return false;
  }
  for (char c : s) {
    if (!NameChar(c, colon)) return false;
  }
  return absl::ascii_isalnum(s.back());
}

bool ValidKind(absl::string_view kind) {
  std::vector<absl::string_view> parts = absl::StrSplit(kind, '/');
  return parts.size() == 2 && ValidName(parts[0], false) &&
         ValidName(parts[1], false);
}

bool ValidVersion(absl::string_view v) {
  std::vector<absl::string_view> parts = absl::StrSplit(v, '.');
  if (parts.size() != 3) return false;
  for (absl::string_view p : parts) {
    if (p.empty() || p.size() > 9) return false;
    for (char c : p) {
      if (!absl::ascii_isdigit(c)) return false;
    }
  }
  return true;
}

// ParseEdits reads containerEdits.deviceNodes of `owner` (a spec or a
// device) into *out.
absl::Status ParseEdits(const SpecNode& owner, const std::string& file,
                        std::vector<CdiDeviceNode>* out) {
  const SpecNode* edits = owner.Find("containerEdits");
  if (edits == nullptr || edits->kind == SpecNode::Kind::kNull) {
    return absl::OkStatus();
  }
  if (edits->kind != SpecNode::Kind::kMap) {
    return SpecError(file, edits->line, "\"containerEdits\" is not a map");
  }
  ASSIGN_OR_RETURN(
      const SpecNode* nodes,
      GetSequence(*edits, "deviceNodes", kMaxCdiDeviceNodes, file));
  if (nodes == nullptr) return absl::OkStatus();
  for (const SpecNode& n : nodes->items) {
    if (n.kind != SpecNode::Kind::kMap) {
      return SpecError(file, n.line, "a deviceNodes entry is not a map");
    }
    CdiDeviceNode d;
    d.line = n.line;
    absl::StatusOr<std::string> path = GetString(n, "path", file);
    if (absl::IsNotFound(path.status())) {
      return SpecError(file, n.line, "a device node has no \"path\"");
    }
    RETURN_IF_ERROR(path.status());
    if (path->empty())
      return SpecError(file, n.line, "a device node's path is \"\"");
    d.path = std::move(*path);
    ASSIGN_OR_RETURN(d.host_path, OptionalString(n, "hostPath", file));
    ASSIGN_OR_RETURN(d.type, OptionalString(n, "type", file));
    ASSIGN_OR_RETURN(d.major, OptionalInt(n, "major", file));
    ASSIGN_OR_RETURN(d.minor, OptionalInt(n, "minor", file));
    out->push_back(std::move(d));
  }
  return absl::OkStatus();
}

std::string Listed(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  if (names.size() <= kMaxListed) return absl::StrJoin(names, ", ");
  std::vector<std::string> head(names.begin(), names.begin() + kMaxListed);
  return absl::StrCat(absl::StrJoin(head, ", "), ", ... (",
                      names.size() - kMaxListed, " more)");
}

// Available lists the qualified names of the devices of `specs` (of `kind`
// only, unless kind is empty).
std::string Available(const std::vector<CdiSpec>& specs,
                      absl::string_view kind) {
  std::vector<std::string> names;
  size_t total = 0;
  for (const CdiSpec& s : specs) {
    if (!kind.empty() && s.kind != kind) continue;
    for (const CdiDevice& d : s.devices) {
      if (++total <= kMaxListed) {
        names.push_back(absl::StrCat(s.kind, "=", d.name));
      }
    }
  }
  if (total == 0) return "none";
  return absl::StrCat(
      absl::StrJoin(names, ", "),
      total > kMaxListed ? absl::StrCat(", ... (", total - kMaxListed, " more)")
                         : "");
}

// SpecFromTree reads a spec from its parsed tree.
absl::StatusOr<CdiSpec> SpecFromTree(const SpecNode& root,
                                     const std::string& file) {
  if (root.kind != SpecNode::Kind::kMap) {
    return SpecError(file, root.line, "a CDI spec is a map");
  }
  CdiSpec spec;
  spec.file = file;
  absl::StatusOr<std::string> version = GetString(root, "cdiVersion", file);
  if (absl::IsNotFound(version.status())) {
    return SpecError(file, root.line, "no \"cdiVersion\"");
  }
  RETURN_IF_ERROR(version.status());
  if (!ValidVersion(*version)) {
    return SpecError(file, root.Find("cdiVersion")->line,
                     absl::StrCat("cdiVersion \"", absl::CHexEscape(*version),
                                  "\" is not MAJOR.MINOR.PATCH"));
  }
  spec.version = std::move(*version);
  absl::StatusOr<std::string> kind = GetString(root, "kind", file);
  if (absl::IsNotFound(kind.status())) {
    return SpecError(file, root.line, "no \"kind\"");
  }
  RETURN_IF_ERROR(kind.status());
  if (!ValidKind(*kind)) {
    return SpecError(file, root.Find("kind")->line,
                     absl::StrCat("kind \"", absl::CHexEscape(*kind),
                                  "\" is not \"vendor.com/class\""));
  }
  spec.kind = std::move(*kind);
  RETURN_IF_ERROR(ParseEdits(root, file, &spec.common));
  ASSIGN_OR_RETURN(const SpecNode* devices,
                   GetSequence(root, "devices", kMaxCdiDevices, file));
  if (devices == nullptr || devices->items.empty()) {
    return SpecError(file, root.line, "no \"devices\"");
  }
  std::set<std::string> seen;
  for (const SpecNode& d : devices->items) {
    if (d.kind != SpecNode::Kind::kMap) {
      return SpecError(file, d.line, "a devices entry is not a map");
    }
    CdiDevice dev;
    absl::StatusOr<std::string> name = GetString(d, "name", file);
    if (absl::IsNotFound(name.status())) {
      return SpecError(file, d.line, "a device has no \"name\"");
    }
    RETURN_IF_ERROR(name.status());
    if (!ValidName(*name, true)) {
      return SpecError(file, d.line,
                       absl::StrCat("device name \"", absl::CHexEscape(*name),
                                    "\" is not valid"));
    }
    if (!seen.insert(*name).second) {
      return SpecError(file, d.line,
                       absl::StrCat("device \"", *name, "\" is defined twice"));
    }
    dev.name = std::move(*name);
    RETURN_IF_ERROR(ParseEdits(d, file, &dev.nodes));
    spec.devices.push_back(std::move(dev));
  }
  return spec;
}

}  // namespace

absl::StatusOr<CdiSpec> ParseCdiSpec(absl::string_view text,
                                     const std::string& file) {
  ASSIGN_OR_RETURN(SpecNode root, ParseSpecText(text, file));
  return SpecFromTree(root, file);
}

absl::StatusOr<CdiSpec> LoadCdiSpec(const std::string& file) {
  ASSIGN_OR_RETURN(SpecNode root, LoadSpecFile(file));
  return SpecFromTree(root, file);
}

absl::Status ParseQualifiedName(absl::string_view device, std::string* kind,
                                std::string* name) {
  size_t eq = device.find('=');
  size_t slash = device.find('/');
  if (eq == absl::string_view::npos || slash == absl::string_view::npos ||
      slash > eq) {
    return absl::InvalidArgumentError(
        absl::StrCat("CDI device \"", absl::CHexEscape(device),
                     "\" is not a fully qualified name vendor.com/class=name"));
  }
  absl::string_view k = device.substr(0, eq), n = device.substr(eq + 1);
  if (!ValidKind(k)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CDI device \"", absl::CHexEscape(device),
        "\": invalid vendor or class \"", absl::CHexEscape(k), "\""));
  }
  if (!ValidName(n, true)) {
    return absl::InvalidArgumentError(
        absl::StrCat("CDI device \"", absl::CHexEscape(device),
                     "\": invalid device name \"", absl::CHexEscape(n), "\""));
  }
  *kind = std::string(k);
  *name = std::string(n);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> CdiRules(
    const std::vector<CdiSpec>& specs, const std::vector<std::string>& devices,
    absl::string_view root) {
  if (devices.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no CDI device requested; available: ", Available(specs, "")));
  }
  std::vector<std::string> rules;
  std::set<std::string> have;
  std::set<const CdiSpec*> common_done;
  auto add = [&](const CdiDeviceNode& n, const CdiSpec& spec) -> absl::Status {
    absl::StatusOr<std::string> rule = RuleForPath(n.HostPath(), root);
    if (!rule.ok()) {
      return SpecError(spec.file, n.line, rule.status().message());
    }
    if (have.insert(*rule).second) rules.push_back(std::move(*rule));
    return absl::OkStatus();
  };
  for (const std::string& device : devices) {
    std::string kind, name;
    absl::Status s = ParseQualifiedName(device, &kind, &name);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(s.message(), "; available: ", Available(specs, "")));
    }
    const CdiSpec* found_spec = nullptr;
    const CdiDevice* found = nullptr;
    bool kind_known = false;
    for (const CdiSpec& spec : specs) {
      if (spec.kind != kind) continue;
      kind_known = true;
      for (const CdiDevice& d : spec.devices) {
        if (d.name != name) continue;
        if (found != nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("CDI device ", device, " is defined by both ",
                           found_spec->file, " and ", spec.file));
        }
        found_spec = &spec;
        found = &d;
      }
    }
    if (!kind_known) {
      std::vector<std::string> kinds;
      for (const CdiSpec& spec : specs) kinds.push_back(spec.kind);
      return absl::InvalidArgumentError(
          absl::StrCat("CDI device ", device, ": no spec of kind ", kind,
                       "; kinds: ", Listed(kinds)));
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown CDI device ", device,
                       "; available: ", Available(specs, kind)));
    }
    if (found->nodes.empty() && found_spec->common.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("CDI device ", device,
                                                     " (", found_spec->file,
                                                     ") has no device nodes"));
    }
    for (const CdiDeviceNode& n : found->nodes) {
      RETURN_IF_ERROR(add(n, *found_spec));
    }
    if (common_done.insert(found_spec).second) {
      for (const CdiDeviceNode& n : found_spec->common) {
        RETURN_IF_ERROR(add(n, *found_spec));
      }
    }
  }
  return rules;
}

}  // namespace gvisor::devscope
