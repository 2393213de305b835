#include "runsc_shim/validate.h"

#include <errno.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::shim {
namespace {

// Quote returns s quoted and escaped for a message, cut after 64 bytes.
std::string Quote(absl::string_view s) {
  constexpr size_t kMaxShown = 64;
  std::string out =
      absl::StrCat("\"", absl::CHexEscape(s.substr(0, kMaxShown)));
  if (s.size() > kMaxShown) absl::StrAppend(&out, "...");
  absl::StrAppend(&out, "\"");
  return out;
}

absl::Status Invalid(int err, absl::string_view what, absl::string_view value,
                     absl::string_view why) {
  return syserr::FromErrno(err,
                           absl::StrCat(what, " ", Quote(value), ": ", why));
}

}  // namespace

absl::Status ValidateContainerName(absl::string_view name) {
  constexpr absl::string_view kWhat = "container name";
  if (name.empty()) return Invalid(EINVAL, kWhat, name, "empty");
  if (name.size() > kMaxContainerName) {
    return Invalid(ENAMETOOLONG, kWhat, name,
                   absl::StrCat("longer than ", kMaxContainerName, " bytes"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') {
      return Invalid(EINVAL, kWhat, name,
                     "only ASCII letters, digits, '-', '_' and '.' allowed");
    }
  }
  if (!absl::ascii_isalnum(name.front()) || !absl::ascii_isalnum(name.back())) {
    return Invalid(EINVAL, kWhat, name,
                   "must begin and end with a letter or a digit");
  }
  return absl::OkStatus();
}

absl::Status ValidateDevicePath(absl::string_view path) {
  constexpr absl::string_view kWhat = "device path";
  if (path.empty()) return Invalid(EINVAL, kWhat, path, "empty");
  if (path.size() > kMaxDevicePath) {
    return Invalid(ENAMETOOLONG, kWhat, path,
                   absl::StrCat("longer than ", kMaxDevicePath, " bytes"));
  }
  if (path.find('\0') != absl::string_view::npos) {
    return Invalid(EINVAL, kWhat, path, "holds a NUL byte");
  }
  if (path.front() == '/') {
    return Invalid(EINVAL, kWhat, path, "must be relative to /dev");
  }
  absl::string_view rest = path;
  if (rest.back() == '/') rest.remove_suffix(1);
  for (absl::string_view c : absl::StrSplit(rest, '/')) {
    if (c.empty()) {
      return Invalid(EINVAL, kWhat, path, "has an empty component");
    }
    if (c == "." || c == "..") {
      return Invalid(EINVAL, kWhat, path, "has a \".\" or \"..\" component");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSocketPath(absl::string_view path) {
  constexpr absl::string_view kWhat = "gofer socket";
  if (path.empty() || path == "@") return Invalid(EINVAL, kWhat, path, "empty");
  if (path.find('\0') != absl::string_view::npos) {
    return Invalid(EINVAL, kWhat, path, "holds a NUL byte");
  }
  if (path.size() > kMaxSocketPath) {
    return Invalid(ENAMETOOLONG, kWhat, path,
                   absl::StrCat("longer than ", kMaxSocketPath,
                                " bytes (sockaddr_un.sun_path)"));
  }
  if (path.front() != '/' && path.front() != '@') {
    return Invalid(EINVAL, kWhat, path,
                   "relative; the shim does not resolve it against its own "
                   "working directory: pass an absolute path (devctl attach "
                   "resolves a relative one against its own)");
  }
  return absl::OkStatus();
}

}  // namespace gvisor::shim
