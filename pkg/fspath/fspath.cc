#include "pkg/fspath/fspath.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace gvisor::fspath {

Path Parse(absl::string_view path) {
  Path p;
  if (path.empty()) return p;
  p.absolute = path.front() == '/';
  p.dir = path.back() == '/';
  p.components = Components(path);
  return p;
}

std::vector<std::string> Components(absl::string_view path) {
  // Skipping empty pieces drops leading and trailing slashes and merges runs
  // of slashes, which is exactly the splitting of pkg/lisafs/README.md §9.8.
  return absl::StrSplit(path, '/', absl::SkipEmpty());
}

}  // namespace gvisor::fspath
