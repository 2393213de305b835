// Helpers shared by the scale benchmarks (shim_scale_bench,
// managed_scale_bench, supervisor_bench): their --steps lists, medians and
// millisecond figures, and what /proc/PID/smaps_rollup says of a process.

#ifndef GVISOR_TOOLS_BENCH_SCALE_UTIL_H_
#define GVISOR_TOOLS_BENCH_SCALE_UTIL_H_

#include <stdint.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gvisor::bench {

// ParseSteps parses a comma-separated list of counts ("1000,10000"), each
// positive and larger than the one before; INVALID_ARGUMENT otherwise.
absl::StatusOr<std::vector<int>> ParseSteps(absl::string_view list);

// Spread runs body(i) for every i in [from, to) on `threads` threads (each
// takes every threads-th i) and returns how many calls returned false.
// With stop_on_failure, a failure stops every thread after its current
// call.
int Spread(int from, int to, int threads, const std::function<bool(int)>& body,
           bool stop_on_failure);

// Median returns the median of v (0 for none).
absl::Duration Median(std::vector<absl::Duration> v);

// Ms formats d as "1.234 ms".
std::string Ms(absl::Duration d);

// SmapsKiB returns field ("Rss", "Pss") of /proc/PID/smaps_rollup in KiB,
// -1 if unreadable. Pss splits each shared page among the processes that
// map it, so the Pss of a set of processes adds up to what they cost the
// machine.
int64_t SmapsKiB(pid_t pid, absl::string_view field);

}  // namespace gvisor::bench

#endif  // GVISOR_TOOLS_BENCH_SCALE_UTIL_H_
