#include "pkg/devscope/spec_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <exception>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/exceptions.h"
#include "yaml-cpp/mark.h"
#include "yaml-cpp/parser.h"

namespace gvisor::devscope {
namespace {

// Abort carries a message out of the event handler through yaml-cpp.
struct Abort {
  std::string message;
};

// TreeBuilder turns yaml-cpp's parse events into a SpecNode tree, keeping
// the bounds as it goes.
class TreeBuilder : public YAML::EventHandler {
 public:
  std::optional<SpecNode> root;

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override {
    SpecNode n;
    n.line = mark.line + 1;
    Add(std::move(n), mark);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    Fail(mark, "aliases are not supported");
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                const std::string& value) override {
    SpecNode n;
    n.line = mark.line + 1;
    // A plain scalar has the non-specific tag "?"; a quoted one "!".
    bool plain = tag == "?" || tag.empty();
    if (plain && (value == "~" || value == "null" || value == "Null" ||
                  value == "NULL")) {
      Add(std::move(n), mark);
      return;
    }
    n.kind = SpecNode::Kind::kScalar;
    n.scalar = value;
    n.quoted = !plain;
    Add(std::move(n), mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&,
                       YAML::anchor_t, YAML::EmitterStyle::value) override {
    Open(SpecNode::Kind::kSequence, mark);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Open(SpecNode::Kind::kMap, mark);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Frame {
    SpecNode node;
    // For a map: the key read, waiting for its value.
    std::optional<std::string> key;
  };

  [[noreturn]] static void Fail(const YAML::Mark& mark, absl::string_view why) {
    throw Abort{absl::StrCat("line ", mark.line + 1, ": ", why)};
  }

  void Count(const YAML::Mark& mark) {
    if (++nodes_ > kMaxSpecNodes) {
      Fail(mark, absl::StrCat("more than ", kMaxSpecNodes, " nodes"));
    }
  }

  void Open(SpecNode::Kind kind, const YAML::Mark& mark) {
    Count(mark);
    if (stack_.size() >= kMaxSpecDepth) {
      Fail(mark, absl::StrCat("nested deeper than ", kMaxSpecDepth));
    }
    Frame f;
    f.node.kind = kind;
    f.node.line = mark.line + 1;
    stack_.push_back(std::move(f));
  }

  void Close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    YAML::Mark mark;
    mark.line = f.node.line - 1;
    Attach(std::move(f.node), mark);
  }

  void Add(SpecNode n, const YAML::Mark& mark) {
    Count(mark);
    Attach(std::move(n), mark);
  }

  void Attach(SpecNode n, const YAML::Mark& mark) {
    if (stack_.empty()) {
      root = std::move(n);
      return;
    }
    Frame& top = stack_.back();
    if (top.node.kind == SpecNode::Kind::kSequence) {
      top.node.items.push_back(std::move(n));
      return;
    }
    if (!top.key.has_value()) {
      if (n.kind != SpecNode::Kind::kScalar) {
        Fail(mark, "a map key is not a scalar");
      }
      for (const auto& [k, v] : top.node.fields) {
        if (k == n.scalar) {
          Fail(mark, absl::StrCat("duplicate key \"",
                                  absl::CHexEscape(n.scalar), "\""));
        }
      }
      top.key = std::move(n.scalar);
      return;
    }
    top.node.fields.emplace_back(std::move(*top.key), std::move(n));
    top.key.reset();
  }

  std::vector<Frame> stack_;
  size_t nodes_ = 0;
};

absl::Status Bad(absl::string_view what, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", why));
}

std::string Where(const SpecNode& node, absl::string_view key,
                  absl::string_view what) {
  return absl::StrCat(what, ": line ", node.line, ": \"", key, "\"");
}

// CleanAbsolute splits an absolute path into its components, dropping
// empty and "." ones. INVALID_ARGUMENT for a relative path or "..".
absl::StatusOr<std::vector<std::string>> CleanAbsolute(absl::string_view p) {
  if (p.empty() || p[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CHexEscape(p), "\" is not an absolute path"));
  }
  std::vector<std::string> out;
  for (absl::string_view c : absl::StrSplit(p, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", absl::CHexEscape(p), "\" holds \"..\""));
    }
    out.emplace_back(c);
  }
  return out;
}

}  // namespace

const SpecNode* SpecNode::Find(absl::string_view key) const {
  if (kind != Kind::kMap) return nullptr;
  for (const auto& [k, v] : fields) {
    if (k == key) return &v;
  }
  return nullptr;
}

absl::StatusOr<SpecNode> ParseSpecText(absl::string_view text,
                                       absl::string_view what) {
  if (text.size() > kMaxSpecFileBytes) {
    return Bad(what, absl::StrCat("larger than ", kMaxSpecFileBytes, " bytes"));
  }
  // yaml-cpp reports errors by exceptions: none leaves this function.
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    TreeBuilder builder;
    if (!parser.HandleNextDocument(builder) || !builder.root.has_value()) {
      return Bad(what, "empty document");
    }
    TreeBuilder rest;
    if (parser.HandleNextDocument(rest)) {
      return Bad(what, "more than one document");
    }
    return std::move(*builder.root);
  } catch (const Abort& a) {
    return Bad(what, a.message);
  } catch (const YAML::Exception& e) {
    return Bad(what, absl::StrCat("line ", e.mark.line + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return Bad(what, e.what());
  }
}

absl::StatusOr<SpecNode> LoadSpecFile(const std::string& path) {
  // O_NONBLOCK: a FIFO put in the file's place must not hang the start.
  fd::OwnedFd f(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!f.valid()) return syserr::FromLastErrno(absl::StrCat("open ", path));
  struct stat st;
  if (fstat(f.get(), &st) != 0) {
    return syserr::FromLastErrno(absl::StrCat("fstat ", path));
  }
  if (!S_ISREG(st.st_mode)) return Bad(path, "not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxSpecFileBytes) {
    return Bad(path, absl::StrCat(st.st_size, " bytes, larger than ",
                                  kMaxSpecFileBytes));
  }
  std::string text;
  text.resize(kMaxSpecFileBytes + 1);
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(f.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return syserr::FromLastErrno(absl::StrCat("read ", path));
    if (n == 0) break;
    got += n;
  }
  if (got > kMaxSpecFileBytes) {
    return Bad(path, absl::StrCat("larger than ", kMaxSpecFileBytes, " bytes"));
  }
  text.resize(got);
  return ParseSpecText(text, path);
}

absl::StatusOr<std::string> GetString(const SpecNode& node,
                                      absl::string_view key,
                                      absl::string_view what) {
  const SpecNode* v = node.Find(key);
  if (v == nullptr || v->kind == SpecNode::Kind::kNull) {
    return absl::NotFoundError(
        absl::StrCat(what, ": line ", node.line, ": no \"", key, "\""));
  }
  if (v->kind != SpecNode::Kind::kScalar) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(*v, key, what), " is not a string"));
  }
  return v->scalar;
}

absl::StatusOr<int64_t> GetInt(const SpecNode& node, absl::string_view key,
                               absl::string_view what) {
  const SpecNode* v = node.Find(key);
  if (v == nullptr || v->kind == SpecNode::Kind::kNull) {
    return absl::NotFoundError(
        absl::StrCat(what, ": line ", node.line, ": no \"", key, "\""));
  }
  int64_t out;
  absl::string_view s = v->scalar;
  bool digits = !s.empty() && s.size() <= 19;
  for (size_t i = 0; i < s.size() && digits; ++i) {
    digits = absl::ascii_isdigit(s[i]) || (i == 0 && s[i] == '-');
  }
  if (v->kind != SpecNode::Kind::kScalar || v->quoted || !digits ||
      !absl::SimpleAtoi(s, &out)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(*v, key, what), " is not an integer"));
  }
  return out;
}

absl::StatusOr<std::string> OptionalString(const SpecNode& node,
                                           absl::string_view key,
                                           absl::string_view what) {
  absl::StatusOr<std::string> s = GetString(node, key, what);
  if (absl::IsNotFound(s.status())) return std::string();
  return s;
}

absl::StatusOr<std::optional<int64_t>> OptionalInt(const SpecNode& node,
                                                   absl::string_view key,
                                                   absl::string_view what) {
  absl::StatusOr<int64_t> v = GetInt(node, key, what);
  if (absl::IsNotFound(v.status())) return std::optional<int64_t>();
  if (!v.ok()) return v.status();
  return std::optional<int64_t>(*v);
}

absl::Status SpecError(absl::string_view what, int line,
                       absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": line ", line, ": ", why));
}

absl::StatusOr<const SpecNode*> GetSequence(const SpecNode& node,
                                            absl::string_view key, size_t max,
                                            absl::string_view what) {
  const SpecNode* v = node.Find(key);
  if (v == nullptr || v->kind == SpecNode::Kind::kNull) return nullptr;
  if (v->kind != SpecNode::Kind::kSequence) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(*v, key, what), " is not a list"));
  }
  if (v->items.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(Where(*v, key, what),
                                                   " has ", v->items.size(),
                                                   " items, more than ", max));
  }
  return v;
}

absl::StatusOr<std::string> RuleForPath(absl::string_view path,
                                        absl::string_view base) {
  absl::StatusOr<std::vector<std::string>> p = CleanAbsolute(path);
  if (!p.ok()) return p.status();
  absl::StatusOr<std::vector<std::string>> b = CleanAbsolute(base);
  if (!b.ok()) return b.status();
  bool under = p->size() > b->size();
  for (size_t i = 0; i < b->size() && under; ++i) under = (*p)[i] == (*b)[i];
  if (!under) {
    return absl::InvalidArgumentError(
        absl::StrCat("device node \"", absl::CHexEscape(path),
                     "\" is not under \"", absl::CHexEscape(base), "\""));
  }
  std::string rule;
  for (size_t i = b->size(); i < p->size(); ++i) {
    if (!rule.empty()) rule += '/';
    for (char c : (*p)[i]) {
      if (c == '*' || c == '?' || c == '[' || c == '\\') rule += '\\';
      rule += c;
    }
  }
  return rule;
}

}  // namespace gvisor::devscope
