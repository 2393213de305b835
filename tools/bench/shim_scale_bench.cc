// shim_scale_bench: what attached containers cost the shim. It starts
// devgofer (on the host's /dev by default) and the real shim binary, then
// attaches containers in steps (1,000 and 10,000 by default) through the
// gRPC API and reports, at each step, the shim's resident memory, thread
// count and open FDs, the attach rate, and the latency of ListContainers and
// ProbeDevice. At the end it detaches everything and stops the shim with
// SIGTERM.
//
// One devgofer serves many connections, each costing it one FD (its socket:
// connections on one mount point share the mount point's FD) plus its
// server-wide FD reserve; where RLIMIT_NOFILE cannot hold them all, the
// bench starts as many devgofers as it needs and spreads the containers
// over them. The shim needs one FD per container.
// Not a test:
//
//   bazel run -c opt //tools/bench:shim_scale_bench -- [--steps=1000,10000]

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pkg/fd/limit.h"
#include "runsc_shim/shim.grpc.pb.h"
#include "runsc_shim/testutil.h"
#include "tools/bench/scale_util.h"
#include "tools/bench/shim_step.h"

ABSL_FLAG(std::string, steps, "1000,10000",
          "attached-container counts to measure at, ascending");
ABSL_FLAG(int, clients, 8, "concurrent attaching client threads");
ABSL_FLAG(std::string, root, "/dev", "directory the devgofer serves");
ABSL_FLAG(int, gofers, 0,
          "devgofer processes to spread the containers over; 0: as few as "
          "RLIMIT_NOFILE allows");
ABSL_FLAG(bool, donate_mount_fd, false,
          "run the devgofer with --donate_mount_fd (one more FD per "
          "container in the shim)");

namespace gvisor::shim {
namespace {

namespace v1 = ::gvisor::devutil::shim::v1;
using testutil::Child;

struct Sample {
  int64_t rss_kib;
  int threads;
  int fds;
};

Sample Measure(pid_t pid) {
  return {testutil::RssKiB(pid), testutil::ThreadCount(pid),
          testutil::OpenFdCount(pid)};
}

using bench::Ms;

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<std::vector<int>> parsed =
      bench::ParseSteps(absl::GetFlag(FLAGS_steps));
  if (!parsed.ok()) {
    fprintf(stderr, "--steps: %s\n",
            std::string(parsed.status().message()).c_str());
    return 2;
  }
  const std::vector<int> steps = *std::move(parsed);
  const int clients = std::max(1, absl::GetFlag(FLAGS_clients));
  absl::StatusOr<uint64_t> nofile = fd::RaiseFdLimit();  // children inherit it
  if (!nofile.ok()) {
    fprintf(stderr, "%s\n", nofile.status().ToString().c_str());
    return 1;
  }
  printf("RLIMIT_NOFILE %llu; %d attaching clients; %d CPUs\n",
         static_cast<unsigned long long>(*nofile), clients,
         static_cast<int>(std::thread::hardware_concurrency()));

  std::vector<std::string> gofer_flags = {"--char_devices=passthrough"};
  gofer_flags.push_back(absl::GetFlag(FLAGS_donate_mount_fd)
                            ? "--donate_mount_fd"
                            : "--nodonate_mount_fd");
  // kGoferFdsPerConnection is a devgofer's FD cost per connection (a
  // donated mount FD is sent and closed); kGoferFdsSpare covers its own FDs
  // and its FD reserve (256 by default).
  constexpr uint64_t kGoferFdsPerConnection = 1;
  constexpr uint64_t kGoferFdsSpare = 400;
  int ngofers = absl::GetFlag(FLAGS_gofers);
  if (ngofers <= 0) {
    uint64_t need = steps.back() * kGoferFdsPerConnection;
    uint64_t per_gofer =
        *nofile > 2 * kGoferFdsSpare ? *nofile - kGoferFdsSpare : *nofile / 2;
    ngofers = static_cast<int>((need + per_gofer - 1) / per_gofer);
  }
  std::vector<std::unique_ptr<testutil::DevGofer>> gofers;
  for (int i = 0; i < ngofers; ++i) {
    auto g = testutil::DevGofer::Start(absl::GetFlag(FLAGS_root), gofer_flags);
    if (!g.ok()) {
      fprintf(stderr, "devgofer: %s\n", g.status().ToString().c_str());
      return 1;
    }
    gofers.push_back(std::move(*g));
  }
  printf("%d devgofer process(es) serving %s\n", ngofers,
         absl::GetFlag(FLAGS_root).c_str());
  auto shim_bin = testutil::Runfile("runsc_shim/shim");
  if (!shim_bin.ok()) {
    fprintf(stderr, "%s\n", shim_bin.status().ToString().c_str());
    return 1;
  }
  std::string sock = testutil::TempSocketPath("bench-shim");
  auto shim = Child::StartServer({*shim_bin, "--listen=unix:" + sock});
  if (!shim.ok()) {
    fprintf(stderr, "shim: %s\n", shim.status().ToString().c_str());
    return 1;
  }
  Child* shim_child = shim->get();
  const pid_t shim_pid = shim_child->pid();
  // GoferSample sums the devgofers' figures.
  auto gofer_sample = [&] {
    Sample sum{0, 0, 0};
    for (auto& g : gofers) {
      Sample s = Measure(g->child().pid());
      sum.rss_kib += s.rss_kib;
      sum.threads += s.threads;
      sum.fds += s.fds;
    }
    return sum;
  };

  auto channel =
      grpc::CreateChannel("unix:" + sock, grpc::InsecureChannelCredentials());
  auto stub = v1::DevGoferShim::NewStub(channel);
  auto deadline = [](grpc::ClientContext* ctx) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  };
  {
    grpc::ClientContext ctx;
    deadline(&ctx);
    v1::ListContainersResponse resp;
    grpc::Status st =
        stub->ListContainers(&ctx, v1::ListContainersRequest(), &resp);
    if (!st.ok()) {
      fprintf(stderr, "ListContainers: %s\n", st.error_message().c_str());
      return 1;
    }
  }
  Sample idle = Measure(shim_pid);
  Sample gofer_idle = gofer_sample();
  printf("\nshim idle: RSS %lld KiB, %d threads, %d FDs\n",
         static_cast<long long>(idle.rss_kib), idle.threads, idle.fds);
  printf("%10s %12s %14s %8s %8s %10s %13s %13s | %13s %13s %9s\n",
         "containers", "shim RSS KiB", "KiB/container", "threads", "FDs",
         "attach/s", "List latency", "Probe median", "gofer RSS KiB",
         "gofer threads", "gofer FDs");

  std::atomic<bool> failed{false};
  // Attach runs names [from, to) with `clients` threads.
  auto attach = [&](int from, int to) {
    bench::Spread(
        from, to, clients,
        [&](int i) {
          grpc::ClientContext ctx;
          deadline(&ctx);
          v1::AttachContainerRequest req;
          req.set_name(absl::StrCat("bench-", i));
          req.set_gofer_socket(gofers[i % gofers.size()]->socket());
          v1::Container c;
          grpc::Status st = stub->AttachContainer(&ctx, req, &c);
          if (!st.ok() && !failed.exchange(true)) {
            fprintf(stderr, "attach %s: %s\n", req.name().c_str(),
                    st.error_message().c_str());
          }
          return st.ok();
        },
        /*stop_on_failure=*/true);
  };

  int attached = 0;
  for (int n : steps) {
    absl::Time start = absl::Now();
    attach(attached, n);
    absl::Duration took = absl::Now() - start;
    if (failed) break;
    double rate = (n - attached) / absl::ToDoubleSeconds(took);
    attached = n;

    absl::StatusOr<bench::ShimStep> step =
        bench::MeasureShimStep(*stub, "bench-", n, v1::READ_WRITE);
    if (!step.ok()) {
      fprintf(stderr, "%s\n", std::string(step.status().message()).c_str());
      failed = true;
      break;
    }
    Sample s = Measure(shim_pid);
    Sample g = gofer_sample();
    printf("%10d %12lld %14.1f %8d %8d %10.0f %13s %13s | %13lld %13d %9d\n", n,
           static_cast<long long>(s.rss_kib),
           static_cast<double>(s.rss_kib - idle.rss_kib) / n, s.threads, s.fds,
           rate, Ms(step->list).c_str(), Ms(step->probe_median).c_str(),
           static_cast<long long>(g.rss_kib), g.threads, g.fds);
    fflush(stdout);
  }

  // Detach everything, then stop the shim as an orchestrator would.
  absl::Time start = absl::Now();
  const int detach_failures = bench::Spread(
      0, attached, clients,
      [&](int i) {
        grpc::ClientContext ctx;
        deadline(&ctx);
        v1::DetachContainerRequest req;
        req.set_name(absl::StrCat("bench-", i));
        v1::DetachContainerResponse resp;
        return stub->DetachContainer(&ctx, req, &resp).ok();
      },
      /*stop_on_failure=*/false);
  absl::Duration detach_took = absl::Now() - start;
  Sample after = Measure(shim_pid);
  printf(
      "\ndetached %d containers in %s (%d failures); shim now RSS %lld "
      "KiB, %d threads, %d FDs\n",
      attached, Ms(detach_took).c_str(), detach_failures,
      static_cast<long long>(after.rss_kib), after.threads, after.fds);
  printf("devgofer idle was RSS %lld KiB, %d threads\n",
         static_cast<long long>(gofer_idle.rss_kib), gofer_idle.threads);
  start = absl::Now();
  shim_child->Signal(SIGTERM);
  absl::StatusOr<int> status = shim_child->Wait(absl::Seconds(60));
  bool clean = status.ok() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
  printf("shim SIGTERM -> exit in %s (%s)\n", Ms(absl::Now() - start).c_str(),
         clean ? "clean" : "NOT clean");
  return failed || !clean || detach_failures > 0 ? 1 : 0;
}

}  // namespace
}  // namespace gvisor::shim

int main(int argc, char** argv) { return gvisor::shim::Main(argc, argv); }
