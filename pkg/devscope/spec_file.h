// Spec files: the bounded tree of one YAML or JSON file (a CDI spec, an OCI
// runtime spec), parsed by yaml-cpp, and the path arithmetic that turns the
// device paths they name into allowlist rules (allowlist.h).
//
// JSON is read as YAML 1.2 (of which it is a subset), so one parser reads
// both formats. The tree is built from yaml-cpp's parse events, so its
// bounds hold while parsing, not after: a file is at most kMaxSpecFileBytes
// (checked before it is read), a tree at most kMaxSpecNodes nodes and
// kMaxSpecDepth levels. A document with an alias ("*name"), a non-scalar
// map key, a duplicate map key, or more than one document is refused.
//
// Thread-compatible: plain values and pure functions.

#ifndef GVISOR_PKG_DEVSCOPE_SPEC_FILE_H_
#define GVISOR_PKG_DEVSCOPE_SPEC_FILE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gvisor::devscope {

inline constexpr size_t kMaxSpecFileBytes = 4 << 20;
inline constexpr size_t kMaxSpecNodes = 1 << 18;
inline constexpr size_t kMaxSpecDepth = 32;

// SpecNode is one node of a parsed document.
struct SpecNode {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  // scalar is a kScalar's text; quoted says it was written quoted (so it is
  // a string, never a number).
  std::string scalar;
  bool quoted = false;
  // items are a kSequence's elements; fields a kMap's entries in order.
  std::vector<SpecNode> items;
  std::vector<std::pair<std::string, SpecNode>> fields;
  // line is the 1-based line the node starts on (for messages).
  int line = 0;

  // Find returns the value of field `key` of a kMap, or nullptr (also for
  // a node that is not a map).
  const SpecNode* Find(absl::string_view key) const;
};

// ParseSpecText parses text (YAML or JSON). `what` names the text in
// messages (a file name). INVALID_ARGUMENT, naming `what` and the line, for
// malformed text or a broken bound.
absl::StatusOr<SpecNode> ParseSpecText(absl::string_view text,
                                       absl::string_view what);

// LoadSpecFile reads and parses the file at `path`: the errno of a failed
// open or read (naming the file), INVALID_ARGUMENT for a file that is not a
// regular file, is larger than kMaxSpecFileBytes, or does not parse.
absl::StatusOr<SpecNode> LoadSpecFile(const std::string& path);

// GetString returns field `key` of map `node` as a string: a scalar,
// quoted or not. NOT_FOUND when absent (or null), INVALID_ARGUMENT when it is
// not a scalar. `what` names the file in messages.
absl::StatusOr<std::string> GetString(const SpecNode& node,
                                      absl::string_view key,
                                      absl::string_view what);

// GetInt returns field `key` of map `node` as an integer: an unquoted
// decimal scalar. NOT_FOUND when absent (or null), INVALID_ARGUMENT
// otherwise.
absl::StatusOr<int64_t> GetInt(const SpecNode& node, absl::string_view key,
                               absl::string_view what);

// OptionalString is GetString with "" for an absent (or null) field.
absl::StatusOr<std::string> OptionalString(const SpecNode& node,
                                           absl::string_view key,
                                           absl::string_view what);

// OptionalInt is GetInt with nullopt for an absent (or null) field.
absl::StatusOr<std::optional<int64_t>> OptionalInt(const SpecNode& node,
                                                   absl::string_view key,
                                                   absl::string_view what);

// SpecError is INVALID_ARGUMENT "WHAT: line LINE: WHY", the form of every
// message about a spec's content.
absl::Status SpecError(absl::string_view what, int line, absl::string_view why);

// GetSequence returns field `key` of map `node`, which must be a sequence
// of at most `max` items: nullptr when absent (or null), INVALID_ARGUMENT
// when it is not a sequence or is longer.
absl::StatusOr<const SpecNode*> GetSequence(const SpecNode& node,
                                            absl::string_view key, size_t max,
                                            absl::string_view what);

// RuleForPath returns the allowlist path rule (allowlist.h) that names the
// file at absolute path `path` under the absolute directory `base`:
// `path` relative to `base`, with fnmatch's special characters ('*', '?',
// '[', '\') escaped so the rule names exactly that file. Both are taken
// lexically: repeated '/' and "." components are dropped; ".." is refused.
// INVALID_ARGUMENT, naming `path`, when it is not absolute, holds "..", is
// `base` itself or lies outside it.
absl::StatusOr<std::string> RuleForPath(absl::string_view path,
                                        absl::string_view base);

}  // namespace gvisor::devscope

#endif  // GVISOR_PKG_DEVSCOPE_SPEC_FILE_H_
