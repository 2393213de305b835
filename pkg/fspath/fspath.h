// Package fspath: splitting slash-separated paths into components.
//
// devutil's OpenAt walks a path one component at a time; this package does
// the splitting, with the rules of pkg/lisafs/README.md §9.8. Nothing is
// resolved: "." and
// ".." stay literal components, and it is up to the caller (or the server) to
// reject them.

#ifndef GVISOR_PKG_FSPATH_FSPATH_H_
#define GVISOR_PKG_FSPATH_FSPATH_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace gvisor::fspath {

// Path is a parsed path.
struct Path {
  // absolute is true if the path began with '/'.
  bool absolute = false;
  // dir is true if the path ended with '/' (so it must name a directory).
  bool dir = false;
  // components are the names between slashes, in order, with no empty ones.
  std::vector<std::string> components;

  bool operator==(const Path&) const = default;
};

// Parse splits path per pkg/lisafs/README.md §9.8 and records whether it was
// absolute and whether it ended with a slash. The empty path parses to Path{}
// (neither absolute nor dir); "/" is both absolute and dir, with no components.
// Bytes other than '/', NUL included, are kept as they are.
Path Parse(absl::string_view path);

// Components returns Parse(path).components: the names between runs of '/',
// skipping leading and trailing slashes. "." and ".." are kept. "", "/" and
// "//" give no components.
std::vector<std::string> Components(absl::string_view path);

}  // namespace gvisor::fspath

#endif  // GVISOR_PKG_FSPATH_FSPATH_H_
