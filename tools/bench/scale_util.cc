#include "tools/bench/scale_util.h"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

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

int Spread(int from, int to, int threads, const std::function<bool(int)>& body,
           bool stop_on_failure) {
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < std::max(1, threads); ++t) {
    workers.emplace_back([&, t] {
      for (int i = from + t; i < to; i += std::max(1, threads)) {
        if (stop_on_failure && failures.load() > 0) return;
        if (!body(i)) ++failures;
      }
    });
  }
  for (std::thread& w : workers) w.join();
  return failures.load();
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
