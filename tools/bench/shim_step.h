// What the shim scale benchmarks (shim_scale_bench, managed_scale_bench)
// measure of the shim at each step, through its gRPC API.

#ifndef GVISOR_TOOLS_BENCH_SHIM_STEP_H_
#define GVISOR_TOOLS_BENCH_SHIM_STEP_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runsc_shim/shim.grpc.pb.h"

namespace gvisor::bench {

// ShimStep is one step's latencies.
struct ShimStep {
  // list is how long one ListContainers of every container took.
  absl::Duration list;
  // probe_median is the median of 200 ProbeDevice stats of "null".
  absl::Duration probe_median;
};

// MeasureShimStep lists the containers, expecting exactly n of them, then
// probes "null" (with mode, a stat: not opened) in 200 of them picked
// across prefix+0 .. prefix+(n-1). Each call has a 60 s deadline. An
// error says which call failed and why.
absl::StatusOr<ShimStep> MeasureShimStep(
    ::gvisor::devutil::shim::v1::DevGoferShim::Stub& stub,
    absl::string_view prefix, int n,
    ::gvisor::devutil::shim::v1::AccessMode mode);

}  // namespace gvisor::bench

#endif  // GVISOR_TOOLS_BENCH_SHIM_STEP_H_
