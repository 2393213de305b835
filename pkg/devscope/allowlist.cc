#include "pkg/devscope/allowlist.h"

#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace gvisor::devscope {
namespace {

// Device numbers as the kernel encodes them: 12-bit majors, 20-bit minors.
constexpr uint32_t kMaxMajor = (1u << 12) - 1;
constexpr uint32_t kMaxMinor = (1u << 20) - 1;

absl::Status BadRule(absl::string_view rule, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("allowlist rule \"", absl::CHexEscape(rule), "\": ", why));
}

// ParseNumber parses "*" (nullopt) or a decimal number up to max.
bool ParseNumber(absl::string_view s, uint32_t max,
                 std::optional<uint32_t>* out) {
  if (s == "*") {
    *out = std::nullopt;
    return true;
  }
  if (s.empty() || s.size() > 7) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  uint32_t v;
  if (!absl::SimpleAtoi(s, &v) || v > max) return false;
  *out = v;
  return true;
}

bool Matches(const std::string& pattern, absl::string_view component) {
  // Components never hold a NUL (the gofer refuses such names), so the
  // copy is a faithful C string.
  std::string name(component);
  return fnmatch(pattern.c_str(), name.c_str(), FNM_PATHNAME) == 0;
}

std::string NumberToString(const std::optional<uint32_t>& n) {
  return n.has_value() ? absl::StrCat(*n) : "*";
}

}  // namespace

absl::StatusOr<Allowlist> Allowlist::Parse(
    const std::vector<std::string>& rules) {
  if (rules.size() > kMaxRules) {
    return absl::InvalidArgumentError(absl::StrCat(
        "allowlist: ", rules.size(), " rules, more than ", kMaxRules));
  }
  Allowlist a;
  for (const std::string& rule : rules) {
    if (rule.empty()) return BadRule(rule, "empty");
    if (rule.size() > kMaxRuleLength) {
      return BadRule(rule.substr(0, 64),
                     absl::StrCat("longer than ", kMaxRuleLength, " bytes"));
    }
    if (rule.find('\0') != std::string::npos) {
      return BadRule(rule, "holds a NUL byte");
    }
    // "T MAJ:MIN": a type letter, one space, two numbers.
    if (rule.size() >= 2 && rule[1] == ' ' &&
        (rule[0] == 'c' || rule[0] == 'b' || rule[0] == 'a')) {
      std::vector<absl::string_view> mm =
          absl::StrSplit(absl::string_view(rule).substr(2), ':');
      NumberRule n{rule[0], std::nullopt, std::nullopt};
      if (mm.size() != 2 || !ParseNumber(mm[0], kMaxMajor, &n.major) ||
          !ParseNumber(mm[1], kMaxMinor, &n.minor)) {
        return BadRule(
            rule,
            absl::StrCat("a device rule is \"c|b|a MAJOR:MINOR\" "
                         "with numbers (major <= ",
                         kMaxMajor, ", minor <= ", kMaxMinor, ") or '*'"));
      }
      a.numbers_.push_back(n);
      continue;
    }
    if (rule[0] == '/') {
      return BadRule(rule, "a path rule is relative to the served root");
    }
    std::vector<std::string> components = absl::StrSplit(rule, '/');
    for (const std::string& c : components) {
      if (c.empty() || c == "." || c == "..") {
        return BadRule(rule,
                       "a path rule has no empty, \".\" or \"..\" "
                       "component");
      }
    }
    a.paths_.push_back(std::move(components));
  }
  return a;
}

Visibility Allowlist::Check(absl::string_view path, mode_t mode,
                            dev_t rdev) const {
  if (empty()) return Visibility::kAllowed;
  std::vector<absl::string_view> p;
  if (!path.empty()) p = absl::StrSplit(path, '/');
  bool traverse = p.empty();
  for (const std::vector<std::string>& rule : paths_) {
    size_t n = std::min(rule.size(), p.size());
    bool match = true;
    for (size_t i = 0; i < n && match; ++i) match = Matches(rule[i], p[i]);
    if (!match) continue;
    // The rule matches all of P, or a directory above it.
    if (rule.size() <= p.size()) return Visibility::kAllowed;
    // P is a proper prefix of what the rule matches.
    if (S_ISDIR(mode)) traverse = true;
  }
  if (S_ISCHR(mode) || S_ISBLK(mode)) {
    char type = S_ISCHR(mode) ? 'c' : 'b';
    for (const NumberRule& n : numbers_) {
      if (n.type != 'a' && n.type != type) continue;
      if (n.major.has_value() && *n.major != major(rdev)) continue;
      if (n.minor.has_value() && *n.minor != minor(rdev)) continue;
      return Visibility::kAllowed;
    }
  }
  return traverse ? Visibility::kTraverse : Visibility::kHidden;
}

std::vector<std::string> Allowlist::rules() const {
  std::vector<std::string> out;
  for (const std::vector<std::string>& p : paths_) {
    out.push_back(absl::StrJoin(p, "/"));
  }
  for (const NumberRule& n : numbers_) {
    out.push_back(absl::StrCat(std::string(1, n.type), " ",
                               NumberToString(n.major), ":",
                               NumberToString(n.minor)));
  }
  return out;
}

std::string Allowlist::ToString() const { return absl::StrJoin(rules(), ", "); }

}  // namespace gvisor::devscope
