#include "tools/bench/shim_step.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "tools/bench/scale_util.h"

namespace gvisor::bench {

namespace v1 = ::gvisor::devutil::shim::v1;

namespace {

void Deadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
}

}  // namespace

absl::StatusOr<ShimStep> MeasureShimStep(v1::DevGoferShim::Stub& stub,
                                         absl::string_view prefix, int n,
                                         v1::AccessMode mode) {
  ShimStep step;
  {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::ListContainersResponse list;
    const absl::Time t0 = absl::Now();
    grpc::Status st =
        stub.ListContainers(&ctx, v1::ListContainersRequest(), &list);
    step.list = absl::Now() - t0;
    if (!st.ok() || list.containers_size() != n) {
      return absl::InternalError(
          absl::StrCat("ListContainers: ", st.error_message(), " (",
                       list.containers_size(), " containers)"));
    }
  }
  std::vector<absl::Duration> probes;
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::ProbeDeviceRequest req;
    req.set_name(absl::StrCat(prefix, (i * 7919) % n));
    req.set_path("null");
    req.set_mode(mode);
    v1::DeviceInfo info;
    const absl::Time p0 = absl::Now();
    grpc::Status st = stub.ProbeDevice(&ctx, req, &info);
    probes.push_back(absl::Now() - p0);
    if (!st.ok()) {
      return absl::InternalError(
          absl::StrCat("ProbeDevice: ", st.error_message()));
    }
  }
  step.probe_median = Median(std::move(probes));
  return step;
}

}  // namespace gvisor::bench
