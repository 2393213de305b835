// supervisor_bench: the shim's managed gofers (runsc_shim/gofer_supervisor.h)
// at scale, without gRPC. For each count it starts that many devgofers,
// scoped to /dev's null and zero (each in its own mount namespace, as a
// managed attach makes them) or unscoped, mounts over each, and reports
// how fast they start and serve, what each costs the shim (FDs, threads,
// RSS) and costs the machine (the gofers' own PSS), and how long StopAll
// takes for all of them.
//
//   bazel run -c opt //tools/bench:supervisor_bench [-- --counts=100,1000]
//       [--unscoped]
//
// The bench raises its soft RLIMIT_NOFILE to the hard limit. Not a test:
// the figures go in the README.

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/fd/limit.h"
#include "runsc_shim/gofer_supervisor.h"
#include "testing/fd_count.h"
#include "tools/bench/scale_util.h"

namespace gvisor {
namespace {

// Quiet drops the gofers' output (a few lines each at start).
class Quiet : public context::Context {
 public:
  void Log(context::LogLevel, absl::string_view) const override {}
  bool IsLogging(context::LogLevel) const override { return false; }
};

int Run(int argc, char** argv) {
  std::string binary;
  std::vector<size_t> counts = {100, 1000};
  bool scoped = true;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--counts=")) {
      counts.clear();
      for (absl::string_view c : absl::StrSplit(a, ',')) {
        size_t n;
        if (!absl::SimpleAtoi(c, &n)) return 2;
        counts.push_back(n);
      }
    } else if (a == "--unscoped") {
      scoped = false;
    } else {
      char* real = realpath(std::string(a).c_str(), nullptr);
      if (real == nullptr) return 2;
      binary = real;
      free(real);
    }
  }
  if (binary.empty()) {
    fprintf(stderr,
            "usage: supervisor_bench PATH_TO_DEVGOFER [--counts=N,...] "
            "[--unscoped]\n");
    return 2;
  }
  absl::StatusOr<uint64_t> limit = fd::RaiseFdLimit();
  printf("RLIMIT_NOFILE %s; %u CPUs; gofers %s\n",
         limit.ok() ? absl::StrCat(*limit).c_str() : "?",
         std::thread::hardware_concurrency(),
         scoped ? "scoped to null and zero (--private_dir)" : "unscoped");
  printf("\n%7s %10s %10s %12s %10s %13s %12s %14s %10s\n", "gofers",
         "starts/s", "served/s", "shim FDs/g", "shim thr", "shim RSS/g",
         "gofer PSS", "gofers' PSS", "StopAll");
  Quiet ctx;
  shim::GoferSpec spec;
  if (scoped) spec.allow = {"null", "zero"};
  for (size_t n : counts) {
    shim::SupervisorOptions o;
    o.binary = binary;
    o.max_gofers = n;
    auto sup = shim::GoferSupervisor::Create(ctx, o, nullptr);
    if (!sup.ok()) {
      fprintf(stderr, "%s\n", sup.status().ToString().c_str());
      return 1;
    }
    const int fds0 = testing::OpenFdCount();
    const int threads0 = testing::ThreadCount();
    const long rss0 = bench::SmapsKiB(getpid(), "Rss");
    std::vector<shim::GoferSupervisor::Started> started;
    started.reserve(n);
    absl::Time t0 = absl::Now();
    for (size_t i = 0; i < n; ++i) {
      auto g = (*sup)->Start(absl::StrCat("c", i), spec);
      if (!g.ok()) {
        fprintf(stderr, "gofer %zu: %s\n", i, g.status().ToString().c_str());
        return 1;
      }
      started.push_back(*std::move(g));
    }
    const absl::Duration start_time = absl::Now() - t0;
    // Each serves once its mount answers (the shim's sockets move into
    // the clients).
    std::vector<std::unique_ptr<devutil::GoferClient>> clients;
    clients.reserve(n);
    for (auto& g : started) {
      auto c = devutil::NewGoferClient(ctx, "c", std::move(g.sock));
      if (!c.ok()) {
        fprintf(stderr, "mount: %s; %s\n", c.status().ToString().c_str(),
                (*sup)
                    ->StartFailure(g.id, absl::Now() + absl::Seconds(5))
                    .ToString()
                    .c_str());
        return 1;
      }
      clients.push_back(*std::move(c));
    }
    const absl::Duration served_time = absl::Now() - t0;
    // Per gofer, the shim holds its pidfd and pipe, and the client's
    // socket (and donated mount FD, if any).
    const int fds = testing::OpenFdCount() - fds0;
    const int threads = testing::ThreadCount() - threads0;
    const long rss = bench::SmapsKiB(getpid(), "Rss") - rss0;
    long gofers_pss = 0;
    for (const auto& g : started) gofers_pss += bench::SmapsKiB(g.pid, "Pss");
    absl::Time s0 = absl::Now();
    (*sup)->StopAll();
    const absl::Duration stop_time = absl::Now() - s0;
    for (auto& c : clients) c->Close();
    const double dn = static_cast<double>(n);
    printf(
        "%7zu %10.0f %10.0f %12.2f %10d %9.1f KiB %8.0f KiB %10.1f MiB %7.2f "
        "s\n",
        n, dn / absl::ToDoubleSeconds(start_time),
        dn / absl::ToDoubleSeconds(served_time), fds / dn, threads, rss / dn,
        gofers_pss / dn, gofers_pss / 1024.0, absl::ToDoubleSeconds(stop_time));
  }
  return 0;
}

}  // namespace
}  // namespace gvisor

int main(int argc, char** argv) { return gvisor::Run(argc, argv); }
