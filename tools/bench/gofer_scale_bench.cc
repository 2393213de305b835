// gofer_scale_bench: one devgofer (a child process) with 1,000 and 10,000
// mounted connections. For each count it reports the gofer's threads, RSS
// and FDs (and what each connection adds), how fast connections mount, and
// the latency of an FStat RPC on one connection and on connections picked
// at random, while all the others sit idle.
//
//   bazel run -c opt //tools/bench:gofer_scale_bench [-- --counts=1000,10000]
//
// The bench raises its own soft RLIMIT_NOFILE to the hard limit (it holds
// one socket per connection) and the gofer does the same. Not a test: the
// figures go in the README.

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pkg/context/context.h"
#include "pkg/fd/limit.h"
#include "pkg/lisafs/client.h"
#include "pkg/unet/unet.h"
#include "tools/devgofer/gofer_process.h"

namespace gvisor {
namespace {

struct Sample {
  size_t connections = 0;
  int threads = 0;
  long rss_kib = 0;
  int fds = 0;
};

Sample Measure(const devgofer::GoferProcess& g, size_t n) {
  return {n, g.Threads(), g.RssKiB(), g.OpenFds()};
}

// Percentile returns the p-th percentile (0..1) of v (sorted here).
double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// FStatLatencies times one FStat of the root on each of the clients picked.
std::vector<double> FStatLatencies(const std::vector<lisafs::Mounted>& conns,
                                   const std::vector<size_t>& picks) {
  const context::Context& ctx = context::Background();
  std::vector<double> us;
  us.reserve(picks.size());
  for (size_t i : picks) {
    lisafs::ClientFD root = conns[i].client->NewFD(conns[i].root.control_fd);
    absl::Time t0 = absl::Now();
    absl::StatusOr<lisafs::Statx> st = root.FStat(ctx);
    us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
    if (!st.ok()) {
      fprintf(stderr, "FStat on connection %zu: %s\n", i,
              st.status().ToString().c_str());
      exit(1);
    }
  }
  return us;
}

int Run(int argc, char** argv) {
  std::string binary;
  std::vector<size_t> counts = {1000, 10000};
  size_t samples = 2000;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--counts=")) {
      counts.clear();
      for (absl::string_view c : absl::StrSplit(a, ',')) {
        size_t n;
        if (!absl::SimpleAtoi(c, &n)) return 2;
        counts.push_back(n);
      }
    } else if (absl::ConsumePrefix(&a, "--samples=")) {
      if (!absl::SimpleAtoi(a, &samples)) return 2;
    } else {
      binary = std::string(a);
    }
  }
  if (binary.empty()) {
    fprintf(stderr,
            "usage: gofer_scale_bench PATH_TO_DEVGOFER [--counts=N,...]"
            " [--samples=N]\n");
    return 2;
  }
  absl::StatusOr<uint64_t> limit = fd::RaiseFdLimit();
  printf("RLIMIT_NOFILE %s; %u CPUs\n",
         limit.ok() ? absl::StrCat(*limit).c_str() : "?",
         std::thread::hardware_concurrency());

  // A small tree of our own to serve.
  std::string root = absl::StrCat("/tmp/gofer_scale.", getpid());
  mkdir(root.c_str(), 0755);
  mkdir((root + "/dir").c_str(), 0755);
  close(open((root + "/dir/file").c_str(), O_CREAT | O_WRONLY, 0644));

  devgofer::GoferSpawn spawn;
  spawn.binary = binary;
  spawn.root = root;
  // The RPC path: a donated mount FD per connection would double our FDs.
  spawn.flags = {"--nodonate_mount_fd"};
  absl::StatusOr<std::unique_ptr<devgofer::GoferProcess>> g =
      devgofer::GoferProcess::Start(spawn);
  if (!g.ok()) {
    fprintf(stderr, "%s\n", g.status().ToString().c_str());
    return 1;
  }
  devgofer::GoferProcess& gofer = **g;
  const context::Context& ctx = context::Background();

  std::vector<lisafs::Mounted> conns;
  std::vector<Sample> rows = {Measure(gofer, 0)};
  Sample one;
  std::mt19937 rng(1);
  printf("\n%11s %8s %10s %7s %12s %9s %11s %12s %12s %14s\n", "connections",
         "threads", "RSS", "FDs", "RSS/conn", "FDs/conn", "mounts/s",
         "FStat p50", "FStat p99", "random p50/p99");
  auto print = [](const Sample& s, const Sample& base, double rate,
                  std::vector<double> hot, std::vector<double> cold) {
    const double n = static_cast<double>(s.connections - base.connections);
    std::string per_rss = "", per_fds = "";
    if (s.connections > base.connections) {
      per_rss = absl::StrFormat("%.2f KiB", (s.rss_kib - base.rss_kib) / n);
      per_fds = absl::StrFormat("%.2f", (s.fds - base.fds) / n);
    }
    printf("%11zu %8d %6.1f MiB %7d %12s %9s %11s %9.1f us %9.1f us %14s\n",
           s.connections, s.threads, s.rss_kib / 1024.0, s.fds, per_rss.c_str(),
           per_fds.c_str(),
           rate > 0 ? absl::StrFormat("%.0f", rate).c_str() : "",
           Percentile(hot, 0.5), Percentile(hot, 0.99),
           cold.empty() ? ""
                        : absl::StrFormat("%.1f/%.1f us", Percentile(cold, 0.5),
                                          Percentile(cold, 0.99))
                              .c_str());
  };
  print(rows[0], rows[0], 0, {}, {});

  std::vector<size_t> targets = counts;
  targets.insert(targets.begin(), 1);
  for (size_t target : targets) {
    absl::Time t0 = absl::Now();
    const size_t before = conns.size();
    while (conns.size() < target) {
      absl::StatusOr<fd::OwnedFd> s = gofer.Connect();
      if (!s.ok()) {
        fprintf(stderr, "connect %zu: %s\n", conns.size(),
                s.status().ToString().c_str());
        return 1;
      }
      absl::StatusOr<unet::Socket> sock = unet::Socket::FromFd(*std::move(s));
      absl::StatusOr<lisafs::Mounted> m =
          lisafs::NewClient(ctx, *std::move(sock));
      if (!m.ok()) {
        fprintf(stderr, "mount %zu: %s\n%s\n", conns.size(),
                m.status().ToString().c_str(), gofer.Log().c_str());
        return 1;
      }
      conns.push_back(*std::move(m));
    }
    const double rate =
        (conns.size() - before) / absl::ToDoubleSeconds(absl::Now() - t0);
    Sample s = Measure(gofer, conns.size());
    if (target == 1) one = s;
    // Latency with every other connection idle: one connection over and
    // over, and connections picked at random.
    std::vector<size_t> hot(samples, 0), cold(samples);
    for (size_t& c : cold) c = rng() % conns.size();
    std::vector<double> hot_us = FStatLatencies(conns, hot);
    std::vector<double> cold_us = FStatLatencies(conns, cold);
    print(s, target == 1 ? rows[0] : one, target == 1 ? 0 : rate, hot_us,
          cold_us);
    rows.push_back(s);
  }
  printf("\n(per connection: growth over the 1-connection row)\n");
  for (lisafs::Mounted& m : conns) m.client->Close();
  conns.clear();
  gofer.Terminate();
  unlink((root + "/dir/file").c_str());
  rmdir((root + "/dir").c_str());
  rmdir(root.c_str());
  return 0;
}

}  // namespace
}  // namespace gvisor

int main(int argc, char** argv) { return gvisor::Run(argc, argv); }
