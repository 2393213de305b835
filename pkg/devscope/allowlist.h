// Allowlist: which files of a served tree a scoped gofer lets a client see.
//
// A scoped gofer (devgofer --allow, --cdi_spec, --oci_spec) serves its root
// directory as if it held only the files its allowlist names: a file that is
// not allowed behaves exactly as absent on every RPC that names or lists a
// file. The allowlist is a set of rules, each one of:
//
//   PATH-GLOB   a path relative to the served root, '/'-separated, whose
//               components may be fnmatch(3) patterns ("nvidiactl",
//               "nvidia[0-9]*", "nvidia-caps/*", "dri"). '*', '?' and
//               '[...]' never match '/' (and do match a leading '.'). No
//               leading '/', no empty, "." or
//               ".." component, at most kMaxRuleLength bytes.
//   T MAJ:MIN   a device-number rule: T is 'c' (character device), 'b'
//               (block device) or 'a' (either), MAJ and MIN are decimal
//               numbers or '*' ("c 195:*", "c 195:255", "a 10:200").
//
// A file at relative path P (components p1/.../pk; "" is the root) is
//   * kAllowed   when a path rule matches P, or matches a proper prefix
//                p1/.../pj of P (a rule naming a directory allows all of
//                the directory), or P is a character or block device whose
//                type and numbers a device-number rule matches;
//   * kTraverse  when it is the root, or a directory and P is a proper
//                prefix of what some path rule matches (p1..pk match the
//                rule's first k components): the directories on the way to
//                an allowed file are visible, and listing them shows only
//                their visible entries;
//   * kHidden    otherwise.
// Device-number rules match device nodes in any visible directory; they do
// not make a directory visible by themselves. An empty allowlist is "no
// scoping": every file is kAllowed.
//
// Thread-safe: immutable once parsed.

#ifndef GVISOR_PKG_DEVSCOPE_ALLOWLIST_H_
#define GVISOR_PKG_DEVSCOPE_ALLOWLIST_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gvisor::devscope {

// kMaxRules bounds the rules of one allowlist; kMaxRuleLength one rule.
inline constexpr size_t kMaxRules = 4096;
inline constexpr size_t kMaxRuleLength = 4096;

// Visibility is what an allowlist says about one file.
enum class Visibility {
  kHidden,    // behaves as absent
  kTraverse,  // a directory on the way to allowed files
  kAllowed,   // visible, and (for a directory) everything under it too
};

class Allowlist {
 public:
  // An empty allowlist scopes nothing.
  Allowlist() = default;

  // Parse parses rules as the file comment says. INVALID_ARGUMENT, naming
  // the rule, for a malformed one or too many.
  static absl::StatusOr<Allowlist> Parse(const std::vector<std::string>& rules);

  // empty reports an allowlist with no rules (no scoping).
  bool empty() const { return paths_.empty() && numbers_.empty(); }

  // Check says how the file at relative path `path` ("" for the root,
  // components separated by '/', no leading '/') is seen. `mode` is its
  // st_mode (only the S_IFMT bits matter) and `rdev` its st_rdev.
  Visibility Check(absl::string_view path, mode_t mode, dev_t rdev) const;

  // Visible is Check(...) != kHidden.
  bool Visible(absl::string_view path, mode_t mode, dev_t rdev) const {
    return Check(path, mode, rdev) != Visibility::kHidden;
  }

  // rules returns the rules in their canonical spelling: the path rules
  // in order, then the device-number rules in order.
  std::vector<std::string> rules() const;

  // ToString joins rules() with ", " (for logs).
  std::string ToString() const;

 private:
  struct NumberRule {
    char type;  // 'c', 'b' or 'a'
    std::optional<uint32_t> major;
    std::optional<uint32_t> minor;
  };
  std::vector<std::vector<std::string>> paths_;
  std::vector<NumberRule> numbers_;
};

}  // namespace gvisor::devscope

#endif  // GVISOR_PKG_DEVSCOPE_ALLOWLIST_H_
