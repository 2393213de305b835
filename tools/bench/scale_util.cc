#include "tools/bench/scale_util.h"

#include <algorithm>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace gvisor::bench {

absl::StatusOr<std::vector<int>> ParseSteps(absl::string_view list) {
  std::vector<int> steps;
  for (absl::string_view s : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    int n;
    if (!absl::SimpleAtoi(s, &n) || n <= 0 ||
        (!steps.empty() && n <= steps.back())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", list, "\": want ascending positive counts, e.g. 100,1000"));
    }
    steps.push_back(n);
  }
  if (steps.empty()) {
    return absl::InvalidArgumentError("want at least one count");
  }
  return steps;
}

absl::Duration Median(std::vector<absl::Duration> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? absl::ZeroDuration() : v[v.size() / 2];
}

std::string Ms(absl::Duration d) {
  return absl::StrFormat("%.3f ms", absl::ToDoubleMilliseconds(d));
}

int64_t SmapsKiB(pid_t pid, absl::string_view field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/smaps_rollup"));
  if (!in) return -1;
  std::string line;
  const std::string prefix = absl::StrCat(field, ":");
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, prefix)) continue;
    int64_t kib = 0;
    std::string v(absl::StripAsciiWhitespace(line.substr(prefix.size())));
    if (absl::SimpleAtoi(v.substr(0, v.find(' ')), &kib)) return kib;
  }
  return -1;
}

}  // namespace gvisor::bench
