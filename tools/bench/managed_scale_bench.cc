// managed_scale_bench: what managed containers cost. It starts the real
// shim binary and attaches containers whose gofers the shim runs itself
// (AttachContainer with a gofer spec: by default /dev scoped to null and
// zero, so each gofer makes its own mount namespace), in steps (100 and
// 1,000 by default), through the gRPC API. At each step it reports the
// shim's resident memory, threads and FDs, the number of gofer processes
// and their summed RSS, threads and FDs, the attach rate, and the latency
// of ListContainers and of a ProbeDevice. Then it kills one gofer per
// hundred containers and times their restarts (the containers ask for
// restart), detaches everything (each gofer is stopped and reaped), and
// stops the shim with SIGTERM; it fails if a gofer process outlives either.
// Not a test:
//
//   bazel run -c opt //tools/bench:managed_scale_bench -- [--steps=100,1000]

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
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

ABSL_FLAG(std::string, steps, "100,1000",
          "managed-container counts to measure at, ascending");
ABSL_FLAG(int, clients, 8, "concurrent attaching client threads");
ABSL_FLAG(std::string, root, "/dev", "directory each gofer serves");
ABSL_FLAG(bool, detach, true,
          "detach every container before the shim's SIGTERM (false: the "
          "SIGTERM stops every gofer itself)");
ABSL_FLAG(std::string, allow, "null,zero",
          "comma-separated allowlist of each gofer (empty: no scoping, no "
          "mount namespace)");

namespace gvisor::shim {
namespace {

namespace v1 = ::gvisor::devutil::shim::v1;
using testutil::Child;

struct Sample {
  int64_t rss_kib = 0;
  int64_t pss_kib = 0;  // proportional: shared pages split among sharers
  int threads = 0;
  int fds = 0;
  int procs = 0;
};

Sample Measure(pid_t pid) {
  return {testutil::RssKiB(pid), bench::SmapsKiB(pid, "Pss"),
          testutil::ThreadCount(pid), testutil::OpenFdCount(pid), 1};
}

// Children returns the PIDs whose parent is ppid.
std::vector<pid_t> Children(pid_t ppid) {
  std::vector<pid_t> out;
  std::ifstream in(absl::StrCat("/proc/", ppid, "/task/", ppid, "/children"));
  pid_t p;
  while (in >> p) out.push_back(p);
  // Threads other than the main one fork too (the supervisor's thread).
  DIR* d = opendir(absl::StrCat("/proc/", ppid, "/task").c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    pid_t tid;
    if (!absl::SimpleAtoi(e->d_name, &tid) || tid == ppid) continue;
    std::ifstream t(absl::StrCat("/proc/", ppid, "/task/", tid, "/children"));
    while (t >> p) out.push_back(p);
  }
  closedir(d);
  return out;
}

Sample Gofers(pid_t shim) {
  Sample sum;
  for (pid_t p : Children(shim)) {
    Sample s = Measure(p);
    if (s.rss_kib < 0) continue;
    sum.rss_kib += s.rss_kib;
    sum.pss_kib += std::max<int64_t>(s.pss_kib, 0);
    sum.threads += s.threads;
    sum.fds += s.fds;
    ++sum.procs;
  }
  return sum;
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
  std::vector<std::string> allow =
      absl::StrSplit(absl::GetFlag(FLAGS_allow), ',', absl::SkipEmpty());
  const int clients = std::max(1, absl::GetFlag(FLAGS_clients));
  absl::StatusOr<uint64_t> nofile = fd::RaiseFdLimit();
  if (!nofile.ok()) {
    fprintf(stderr, "%s\n", nofile.status().ToString().c_str());
    return 1;
  }
  printf(
      "RLIMIT_NOFILE %llu; %d attaching clients; %d CPUs; gofers serve "
      "%s%s\n",
      static_cast<unsigned long long>(*nofile), clients,
      static_cast<int>(std::thread::hardware_concurrency()),
      absl::GetFlag(FLAGS_root).c_str(),
      allow.empty()
          ? " unscoped"
          : absl::StrCat(" scoped to ", absl::GetFlag(FLAGS_allow)).c_str());
  auto shim_bin = testutil::Runfile("runsc_shim/shim");
  auto gofer_bin = testutil::Runfile("tools/devgofer/devgofer");
  if (!shim_bin.ok() || !gofer_bin.ok()) {
    fprintf(stderr, "binaries not found in the runfiles\n");
    return 1;
  }
  std::string sock = testutil::TempSocketPath("bench-managed");
  auto shim = Child::StartServer({*shim_bin, "--listen=unix:" + sock,
                                  "--gofer_binary=" + *gofer_bin,
                                  "--gofer_restart_backoff=10ms"});
  if (!shim.ok()) {
    fprintf(stderr, "shim: %s\n", shim.status().ToString().c_str());
    return 1;
  }
  Child* shim_child = shim->get();
  const pid_t shim_pid = shim_child->pid();
  auto channel =
      grpc::CreateChannel("unix:" + sock, grpc::InsecureChannelCredentials());
  auto stub = v1::DevGoferShim::NewStub(channel);
  auto deadline = [](grpc::ClientContext* ctx) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  };
  auto list = [&](v1::ListContainersResponse* resp) {
    grpc::ClientContext ctx;
    deadline(&ctx);
    return stub->ListContainers(&ctx, v1::ListContainersRequest(), resp);
  };
  {
    v1::ListContainersResponse resp;
    grpc::Status st = list(&resp);
    if (!st.ok()) {
      fprintf(stderr, "ListContainers: %s\n", st.error_message().c_str());
      return 1;
    }
  }
  Sample idle = Measure(shim_pid);
  printf("\nshim idle: RSS %lld KiB, %d threads, %d FDs\n",
         static_cast<long long>(idle.rss_kib), idle.threads, idle.fds);
  printf("%10s %12s %8s %8s %10s %13s %13s | %7s %14s %14s %13s %9s\n",
         "containers", "shim RSS KiB", "threads", "FDs", "attach/s",
         "List latency", "Probe median", "gofers", "gofer RSS KiB",
         "gofer PSS KiB", "gofer threads", "gofer FDs");

  std::atomic<bool> failed{false};
  auto attach = [&](int from, int to) {
    bench::Spread(
        from, to, clients,
        [&](int i) {
          grpc::ClientContext ctx;
          deadline(&ctx);
          v1::AttachContainerRequest req;
          req.set_name(absl::StrCat("managed-", i));
          v1::GoferSpec* spec = req.mutable_managed();
          spec->set_root(absl::GetFlag(FLAGS_root));
          for (const std::string& r : allow) spec->add_allow(r);
          spec->set_restart(true);
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
    absl::StatusOr<bench::ShimStep> step = bench::MeasureShimStep(
        *stub, "managed-", n, v1::ACCESS_MODE_UNSPECIFIED);
    if (!step.ok()) {
      fprintf(stderr, "%s\n", std::string(step.status().message()).c_str());
      failed = true;
      break;
    }
    Sample s = Measure(shim_pid);
    Sample g = Gofers(shim_pid);
    // Per gofer: RSS counts the shared library pages in every process,
    // PSS splits them among the processes that share them.
    const double per = g.procs > 0 ? 1.0 / g.procs : 0.0;
    printf(
        "%10d %12lld %8d %8d %10.0f %13s %13s | %7d %14.0f %14.0f %13.1f "
        "%9.1f  (per gofer)\n",
        n, static_cast<long long>(s.rss_kib), s.threads, s.fds, rate,
        Ms(step->list).c_str(), Ms(step->probe_median).c_str(), g.procs,
        g.rss_kib * per, g.pss_kib * per, g.threads * per, g.fds * per);
    fflush(stdout);
  }

  // Kill one gofer in a hundred and time until every container is
  // attached again on a new gofer.
  int restarted = 0;
  absl::Duration restart_took;
  if (!failed && attached > 0) {
    v1::ListContainersResponse before;
    (void)list(&before);
    std::vector<std::string> victims;
    absl::Time start = absl::Now();
    for (int i = 0; i < before.containers_size(); i += 100) {
      const v1::Container& c = before.containers(i);
      if (kill(c.gofer().pid(), SIGKILL) == 0) victims.push_back(c.name());
    }
    // No event to wait on from here but the watch stream; a bench may poll.
    for (;;) {
      v1::ListContainersResponse now;
      if (!list(&now).ok()) break;
      int back = 0;
      for (const v1::Container& c : now.containers()) {
        if (c.gofer().restarts() > 0 && c.state() == v1::Container::ATTACHED &&
            c.gofer().state() == v1::ManagedGofer::RUNNING) {
          ++back;
        }
      }
      if (back >= static_cast<int>(victims.size())) {
        restarted = back;
        break;
      }
      if (absl::Now() - start > absl::Seconds(60)) break;
      absl::SleepFor(absl::Milliseconds(5));
    }
    restart_took = absl::Now() - start;
    printf("\nkilled %zu gofers: %d restarted and attached again in %s\n",
           victims.size(), restarted, Ms(restart_took).c_str());
    if (restarted < static_cast<int>(victims.size())) failed = true;
  }

  // The gofers now, to check after the SIGTERM that none outlived the shim.
  const std::vector<pid_t> gofer_pids = Children(shim_pid);
  absl::Time start = absl::Now();
  const int to_detach = absl::GetFlag(FLAGS_detach) ? attached : 0;
  const int detach_failures = bench::Spread(
      0, to_detach, clients,
      [&](int i) {
        grpc::ClientContext ctx;
        deadline(&ctx);
        v1::DetachContainerRequest req;
        req.set_name(absl::StrCat("managed-", i));
        v1::DetachContainerResponse resp;
        return stub->DetachContainer(&ctx, req, &resp).ok();
      },
      /*stop_on_failure=*/false);
  absl::Duration detach_took = absl::Now() - start;
  Sample after = Measure(shim_pid);
  Sample left = Gofers(shim_pid);
  printf(
      "detached %d containers (gofers stopped and reaped) in %s (%s per "
      "container, %d failures); %d gofer processes left; shim now RSS %lld "
      "KiB, %d threads, %d FDs\n",
      to_detach, Ms(detach_took).c_str(),
      Ms(to_detach > 0 ? detach_took / to_detach : absl::ZeroDuration())
          .c_str(),
      detach_failures, left.procs, static_cast<long long>(after.rss_kib),
      after.threads, after.fds);
  start = absl::Now();
  shim_child->Signal(SIGTERM);
  absl::StatusOr<int> status = shim_child->Wait(absl::Seconds(60));
  bool clean = status.ok() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
  int outlived = 0;
  for (pid_t p : gofer_pids) outlived += kill(p, 0) == 0 ? 1 : 0;
  printf(
      "shim SIGTERM with %d containers attached -> exit in %s (%s); %d "
      "gofer(s) outlived it\n",
      attached - to_detach, Ms(absl::Now() - start).c_str(),
      clean ? "clean" : "NOT clean", outlived);
  return failed || !clean || detach_failures > 0 || outlived > 0 ||
                 (to_detach > 0 && left.procs > 0)
             ? 1
             : 0;
}

}  // namespace
}  // namespace gvisor::shim

int main(int argc, char** argv) { return gvisor::shim::Main(argc, argv); }
