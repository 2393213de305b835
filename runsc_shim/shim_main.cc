// shim: the runsc_shim gRPC server. It keeps one devutil GoferClient per
// attached container and serves DevGoferShim (shim.proto), the standard
// health service and server reflection, by default on a Unix socket with
// mode 0600. SIGTERM or SIGINT shuts it down cleanly: calls in flight get
// --shutdown_grace to finish, then every client is closed.
//
//   shim [--listen=unix:/run/runsc-shim.sock] [--shutdown_grace=5s]
//        [--ready_fd=N] [--max_dirents=65536] [--max_dirent_bytes=4194304]
//        [--max_calls_per_container=64] [--metrics_listen=HOST:PORT]
//        [--v=N] [--logtostderr] [--log_dir=DIR]
//
// shim --help documents every flag (tools/cli). gRPC's own log goes through
// glog (grpc_log.h); a socket it cannot serve on is one line naming the
// address and the reason (bind_error.h).
//
// SIGTERM returns within --shutdown_grace + 3 s even while a call is stuck
// in the kernel (Server::Shutdown); the process then exits without waiting
// for that call.
//
// With --ready_fd=N it writes "ready\n" to the inherited FD N and closes
// it once it serves (pkg/readyfd), so that its starter need not poll. Under
// systemd it sends READY=1 and STOPPING=1 to $NOTIFY_SOCKET, and with
// socket activation (LISTEN_FDS) serves the socket it inherited instead of
// --listen (pkg/sdnotify).
//
// With --metrics_listen it serves Prometheus metrics on GET /metrics
// (metrics.h lists them; metrics_http.h bounds the endpoint).

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/fd/fd.h"
#include "pkg/fd/limit.h"
#include "pkg/readyfd/readyfd.h"
#include "pkg/sdnotify/sdnotify.h"
#include "runsc_shim/address.h"
#include "runsc_shim/bind_error.h"
#include "runsc_shim/grpc_log.h"
#include "runsc_shim/managed.h"
#include "runsc_shim/metrics_http.h"
#include "runsc_shim/registry.h"
#include "runsc_shim/server.h"
#include "tools/cli/cli.h"
#include "tools/cli/glog_flags.h"
#include "tools/version/version.h"

ABSL_FLAG(std::string, listen, "",
          "where to serve: unix:PATH, unix-abstract:NAME, or tcp:HOST:PORT. "
          "TCP has no authentication: use it only when you mean to");
// A string, not an absl::Duration flag: those do not build under
// ThreadSanitizer with -Werror (their seqlock uses a fence).
ABSL_FLAG(std::string, shutdown_grace, "5s",
          "how long calls in flight may run after SIGTERM, a number with a "
          "unit: 5s, 500ms; 0 cancels them at once");
ABSL_FLAG(uint64_t, max_dirents,
          gvisor::devutil::GoferClientOptions::kDefaultMaxDirents,
          "the most entries one ListDevices accepts from a gofer; past it "
          "the call fails with RESOURCE_EXHAUSTED");
ABSL_FLAG(uint64_t, max_dirent_bytes,
          gvisor::devutil::GoferClientOptions::kDefaultMaxDirentBytes,
          "the most bytes of names one ListDevices accepts from a gofer");
ABSL_FLAG(uint64_t, max_calls_per_container,
          gvisor::shim::RegistryOptions::kDefaultMaxCallsPerContainer,
          "the most calls in flight on one container (each holds a thread "
          "while a device open blocks); more get RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, gofer_binary, "",
          "the devgofer that managed containers run (AttachContainer with "
          "a gofer spec); empty: devgofer beside the shim's own binary "
          "(installed layout) or in bazel-bin/tools/devgofer, and without "
          "one managed attaches fail with FAILED_PRECONDITION");
ABSL_FLAG(std::string, gofer_stop_grace, "2s",
          "how long a managed gofer has to exit after SIGTERM (on detach "
          "and shutdown) before it gets SIGKILL");
ABSL_FLAG(std::string, gofer_restart_backoff, "250ms",
          "the wait before a managed gofer with restart on is started again "
          "after it exited; it doubles with each restart in a row");
ABSL_FLAG(std::string, gofer_restart_backoff_max, "30s",
          "the longest wait between two restarts of a managed gofer");
ABSL_FLAG(uint64_t, gofer_log_bytes_per_second,
          gvisor::shim::SupervisorOptions::kDefaultLogBytesPerSecond,
          "the most bytes of one managed gofer's output logged in a second; "
          "past it lines are counted and dropped (0 logs none)");
ABSL_FLAG(uint64_t, max_managed_gofers,
          gvisor::shim::SupervisorOptions::kDefaultMaxGofers,
          "the most managed gofers running at once (each is a process and "
          "costs the shim 3 FDs); more attaches get RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, metrics_listen, "",
          "where to serve Prometheus metrics (GET /metrics): HOST:PORT "
          "(127.0.0.1:9464; port 0 picks one, which the log names) or "
          "unix:PATH (a socket file with mode 0600)");
ABSL_FLAG(int, metrics_threads, gvisor::shim::MetricsHttpOptions().threads,
          "threads that serve the metrics endpoint (one request per "
          "connection each)");
ABSL_FLAG(std::string, metrics_io_timeout, "1s",
          "the longest the metrics endpoint waits for a request's bytes or "
          "for room to write its answer");
ABSL_FLAG(std::string, metrics_connection_timeout, "5s",
          "the longest one metrics connection lives once a thread takes it");
ABSL_FLAG(uint64_t, metrics_max_queued,
          gvisor::shim::MetricsHttpOptions().max_queued,
          "the most metrics connections waiting for a thread; past it a "
          "new one is closed unserved");
ABSL_FLAG(int, ready_fd, -1,
          "an inherited FD (a pipe's write end) that gets \"ready\\n\" and "
          "is closed once the shim serves");

namespace gvisor::shim {
namespace {

constexpr char kProgram[] = "shim";
constexpr char kHint[] = "Run 'shim --help' for usage.";

// Flags returns the specs of every flag of the shim.
std::vector<cli::FlagSpec> Flags() {
  std::vector<cli::FlagSpec> flags = {
      cli::AbslFlag("listen", "ADDRESS", 0,
                    "unix:$XDG_RUNTIME_DIR/runsc-shim.sock, else "
                    "unix:/run/runsc-shim.sock"),
      cli::AbslFlag("shutdown_grace", "DURATION"),
      cli::AbslFlag("max_dirents", "N"),
      cli::AbslFlag("max_dirent_bytes", "N"),
      cli::AbslFlag("max_calls_per_container", "N"),
      cli::AbslFlag("gofer_binary", "PATH", 0, "beside the shim"),
      cli::AbslFlag("gofer_stop_grace", "DURATION"),
      cli::AbslFlag("gofer_restart_backoff", "DURATION"),
      cli::AbslFlag("gofer_restart_backoff_max", "DURATION"),
      cli::AbslFlag("max_managed_gofers", "N"),
      cli::AbslFlag("gofer_log_bytes_per_second", "N"),
      cli::AbslFlag("metrics_listen", "ADDRESS", 0, "off"),
      cli::AbslFlag("metrics_threads", "N"),
      cli::AbslFlag("metrics_io_timeout", "DURATION"),
      cli::AbslFlag("metrics_connection_timeout", "DURATION"),
      cli::AbslFlag("metrics_max_queued", "N"),
      cli::AbslFlag("ready_fd", "FD", 0, "none"),
  };
  for (cli::FlagSpec& f : cli::GlogFlags()) flags.push_back(std::move(f));
  return flags;
}

// DurationFlag is a DURATION flag of the shim (a string flag: see
// shutdown_grace), where its value goes, and whether 0 is allowed.
struct DurationFlag {
  const char* name;
  const absl::Flag<std::string>& flag;
  absl::Duration* out;
  bool allow_zero;
};

// ParseDurationFlags parses each flag's value into its destination
// (cli::ParseDuration); the first error is returned.
absl::Status ParseDurationFlags(std::initializer_list<DurationFlag> flags) {
  for (const DurationFlag& f : flags) {
    absl::StatusOr<absl::Duration> d =
        cli::ParseDuration(f.name, absl::GetFlag(f.flag), f.allow_zero);
    if (!d.ok()) return d.status();
    *f.out = *d;
  }
  return absl::OkStatus();
}

// FindGoferBinary returns the devgofer beside this binary (an installed
// shim: PREFIX/bin/runsc-shim and PREFIX/bin/devgofer) or where Bazel puts
// it (bazel-bin/runsc_shim/shim and bazel-bin/tools/devgofer/devgofer), or
// "" if neither is an executable file.
std::string FindGoferBinary() {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "";
  self[n] = '\0';
  std::string dir(self);
  dir.resize(dir.rfind('/'));
  for (const std::string& candidate :
       {dir + "/devgofer", dir + "/../tools/devgofer/devgofer"}) {
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      char* real = realpath(candidate.c_str(), nullptr);
      if (real == nullptr) continue;
      std::string out(real);
      free(real);
      return out;
    }
  }
  return "";
}

// CannotServe reports in one line that the shim cannot serve on address,
// and why, and returns the exit status.
int CannotServe(const Address& address, absl::Status why) {
  if (absl::IsUnavailable(why) &&
      absl::StrContains(why.message(), "gRPC log")) {
    // gRPC's own account is held back (GrpcLogCapture): bind once more to
    // learn the errno.
    absl::Status bind = BindError(address);
    why = bind.ok() ? absl::UnavailableError(
                          "gRPC could not listen there (--v=1 logs why)")
                    : bind;
  }
  const std::string line =
      absl::StrCat("cannot serve on ", address.ToString(), ": ", why.message());
  if (FLAGS_logtostderr) {
    fprintf(stderr, "%s: %s\n", kProgram, line.c_str());
  } else {
    LOG(ERROR) << line;  // glog copies it to stderr too
  }
  return cli::kExitFailure;
}

// CannotServeMetrics reports in one line that the metrics endpoint cannot
// listen, and why, and returns the exit status.
int CannotServeMetrics(const absl::Status& why) {
  const std::string line = absl::StrCat("cannot serve ", why.message());
  if (FLAGS_logtostderr) {
    fprintf(stderr, "%s: %s\n", kProgram, line.c_str());
  } else {
    LOG(ERROR) << line;
  }
  return cli::kExitFailure;
}

std::string Help(const std::vector<cli::FlagSpec>& flags) {
  return absl::StrCat(
      cli::Wrap("shim: the runsc_shim gRPC server. It attaches containers "
                "to devgofers (one LISAFS client each) and serves "
                "gvisor.devutil.shim.v1.DevGoferShim, the gRPC health "
                "service and server reflection; devctl is its command-line "
                "client. SIGTERM or SIGINT shuts it down: calls in flight "
                "get --shutdown_grace, then every client is closed and the "
                "socket file removed.",
                0),
      "\nUsage: shim [FLAGS]\n\n", cli::FormatFlags(flags), "\nExit status:\n",
      cli::Wrap("0 after a clean shutdown; 1 if it cannot serve (the socket "
                "cannot be bound, another server owns it); 2 a usage "
                "error.",
                2));
}

int Main(int argc, char** argv) {
  const std::vector<cli::FlagSpec> flags = Flags();
  absl::StatusOr<cli::Parsed> parsed = cli::Parse(flags, argc, argv);
  if (!parsed.ok()) {
    return cli::UsageError(kProgram, parsed.status().message(), kHint);
  }
  if (parsed->help) {
    fputs(Help(flags).c_str(), stdout);
    return 0;
  }
  if (parsed->version) {
    fputs(gvisor_devutil::VersionText("runsc_shim").c_str(), stdout);
    return 0;
  }
  if (!parsed->args.empty()) {
    return cli::UsageError(
        kProgram,
        absl::StrCat("unexpected argument \"", parsed->args[0],
                     "\" (the shim takes flags only)"),
        kHint);
  }
  absl::StatusOr<absl::Duration> grace =
      cli::ParseDuration("shutdown_grace", absl::GetFlag(FLAGS_shutdown_grace),
                         /*allow_zero=*/true);
  if (!grace.ok()) {
    return cli::UsageError(kProgram, grace.status().message(), kHint);
  }
  ManagedOptions managed_options;
  managed_options.supervisor.max_gofers =
      absl::GetFlag(FLAGS_max_managed_gofers);
  managed_options.supervisor.log_bytes_per_second =
      absl::GetFlag(FLAGS_gofer_log_bytes_per_second);
  if (absl::Status s = ParseDurationFlags({
          {"gofer_stop_grace", FLAGS_gofer_stop_grace,
           &managed_options.supervisor.stop_grace, /*allow_zero=*/true},
          {"gofer_restart_backoff", FLAGS_gofer_restart_backoff,
           &managed_options.restart_backoff, /*allow_zero=*/true},
          {"gofer_restart_backoff_max", FLAGS_gofer_restart_backoff_max,
           &managed_options.restart_backoff_max, /*allow_zero=*/true},
      });
      !s.ok()) {
    return cli::UsageError(kProgram, s.message(), kHint);
  }
  if (managed_options.supervisor.max_gofers == 0) {
    return cli::UsageError(kProgram, "--max_managed_gofers must be at least 1",
                           kHint);
  }
  const std::string gofer_flag = absl::GetFlag(FLAGS_gofer_binary);
  managed_options.supervisor.binary =
      gofer_flag.empty() ? FindGoferBinary() : gofer_flag;
  if (absl::Status s = cli::ApplyGlogFlags(*parsed); !s.ok()) {
    return cli::UsageError(kProgram, s.message(), kHint);
  }
  google::InitGoogleLogging(argv[0]);
  RouteGrpcLogToGlog();

  // Closed unwritten if the shim fails before it serves.
  absl::StatusOr<fd::OwnedFd> ready =
      readyfd::Claim(absl::GetFlag(FLAGS_ready_fd));
  if (!ready.ok()) {
    return cli::UsageError(kProgram, ready.status().message(), kHint);
  }

  // Block the shutdown signals before any thread starts, so that every
  // thread inherits the mask and only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A gofer that goes away must be an error, never a signal.
  signal(SIGPIPE, SIG_IGN);
  // Each attached container holds one FD.
  if (absl::StatusOr<uint64_t> l = fd::RaiseFdLimit(); l.ok()) {
    LOG(INFO) << "RLIMIT_NOFILE " << *l;
  } else {
    LOG(WARNING) << l.status();
  }

  std::string listen = absl::GetFlag(FLAGS_listen);
  if (listen.empty()) listen = DefaultAddress();
  absl::StatusOr<Address> address = ParseAddress(listen);
  if (!address.ok()) {
    return cli::UsageError(
        kProgram, absl::StrCat("--listen: ", address.status().message()),
        kHint);
  }
  if (address->kind == Address::Kind::kTcp) {
    LOG(WARNING) << "serving on TCP " << address->target
                 << ": anyone who can reach it controls the shim";
  }

  ServerOptions server_options;
  if (const std::string m = absl::GetFlag(FLAGS_metrics_listen); !m.empty()) {
    absl::StatusOr<MetricsAddress> a = ParseMetricsAddress(m);
    if (!a.ok()) {
      return cli::UsageError(
          kProgram, absl::StrCat("--metrics_listen: ", a.status().message()),
          kHint);
    }
    server_options.metrics_listen = *a;
  }
  MetricsHttpOptions& http = server_options.metrics_http;
  http.threads = absl::GetFlag(FLAGS_metrics_threads);
  http.max_queued = absl::GetFlag(FLAGS_metrics_max_queued);
  if (http.threads < 1) {
    return cli::UsageError(kProgram, "--metrics_threads must be at least 1",
                           kHint);
  }
  if (absl::Status s = ParseDurationFlags({
          {"metrics_io_timeout", FLAGS_metrics_io_timeout, &http.io_timeout,
           /*allow_zero=*/false},
          {"metrics_connection_timeout", FLAGS_metrics_connection_timeout,
           &http.connection_timeout, /*allow_zero=*/false},
      });
      !s.ok()) {
    return cli::UsageError(kProgram, s.message(), kHint);
  }

  RegistryOptions options;
  options.client.max_dirents = absl::GetFlag(FLAGS_max_dirents);
  options.client.max_dirent_bytes = absl::GetFlag(FLAGS_max_dirent_bytes);
  options.max_calls_per_container =
      absl::GetFlag(FLAGS_max_calls_per_container);
  if (options.client.max_dirents == 0 || options.client.max_dirent_bytes == 0 ||
      options.max_calls_per_container == 0) {
    return cli::UsageError(kProgram,
                           "--max_dirents, --max_dirent_bytes and "
                           "--max_calls_per_container must be at least 1",
                           kHint);
  }
  absl::StatusOr<std::unique_ptr<ContainerRegistry>> registry =
      ContainerRegistry::Create(context::Background(), options);
  if (!registry.ok()) {
    LOG(ERROR) << "creating the registry: " << registry.status();
    return 1;
  }
  // Managed gofers: with --gofer_binary a binary that cannot run is a
  // usage error; without, none found only turns them off.
  std::unique_ptr<ManagedContainers> managed;
  if (managed_options.supervisor.binary.empty()) {
    LOG(INFO) << "managed gofers off: no devgofer beside the shim (set "
                 "--gofer_binary)";
  } else {
    absl::StatusOr<std::unique_ptr<ManagedContainers>> m =
        ManagedContainers::Create(context::Background(), registry->get(),
                                  managed_options);
    if (!m.ok()) {
      if (!gofer_flag.empty()) {
        return cli::UsageError(
            kProgram, absl::StrCat("--gofer_binary: ", m.status().message()),
            kHint);
      }
      LOG(WARNING) << "managed gofers off: " << m.status();
    } else {
      managed = *std::move(m);
      LOG(INFO) << "managed gofers run " << managed_options.supervisor.binary;
    }
  }
  server_options.managed = managed.get();
  VLOG(1) << "listen " << address->ToString() << ", shutdown_grace " << *grace
          << ", max_dirents " << options.client.max_dirents
          << ", max_dirent_bytes " << options.client.max_dirent_bytes
          << ", max_calls_per_container " << options.max_calls_per_container;
  // Socket activation (a .socket unit): the one inherited socket is served
  // in place of --listen.
  absl::StatusOr<std::vector<sdnotify::ListenFd>> inherited =
      sdnotify::TakeListenFds();
  if (!inherited.ok() || inherited->size() > 1) {
    fprintf(stderr, "%s: socket activation: %s\n", kProgram,
            inherited.ok() ? absl::StrCat(inherited->size(),
                                          " sockets; the shim serves one")
                                 .c_str()
                           : std::string(inherited.status().message()).c_str());
    return cli::kExitFailure;
  }
  absl::StatusOr<std::unique_ptr<Server>> server;
  if (inherited->empty()) {
    GrpcLogCapture capture;  // a failure is reported in one line below
    server = Server::Start(*address, registry->get(), server_options);
    if (server.ok()) capture.Flush();
    if (!server.ok() && Server::IsMetricsError(server.status())) {
      return CannotServeMetrics(server.status());
    }
    if (!server.ok()) return CannotServe(*address, server.status());
  } else {
    server = Server::StartOnListeningFd(std::move(inherited->front().fd),
                                        registry->get(), server_options);
    if (!server.ok() && Server::IsMetricsError(server.status())) {
      return CannotServeMetrics(server.status());
    }
    if (!server.ok()) {
      fprintf(stderr, "%s: cannot serve on the inherited socket: %s\n",
              kProgram, std::string(server.status().message()).c_str());
      return cli::kExitFailure;
    }
  }
  if (managed != nullptr) {
    (*server)->metrics().SetManagedGoferSource([m = managed.get()] {
      const ManagedStats st = m->Stats();
      ManagedGoferStats out;
      out.running = st.running;
      out.starting = st.starting;
      out.restarting = st.restarting;
      out.restarts_total = st.restarts_total;
      out.start_failures_total = st.start_failures_total;
      return out;
    });
  }
  LOG(INFO) << "serving on " << (*server)->address().ToString()
            << (inherited->empty() ? "" : " (inherited by socket activation)");
  if (std::optional<MetricsAddress> m = (*server)->metrics_address()) {
    LOG(INFO) << "serving metrics on " << m->ToString() << " (GET /metrics)";
  }
  readyfd::Notify(context::Background(), *std::move(ready));
  if (absl::StatusOr<bool> n = sdnotify::NotifyReady(
          absl::StrCat("serving on ", (*server)->address().ToString()));
      !n.ok()) {
    LOG(WARNING) << n.status();
  }

  int sig = 0;
  while (sigwait(&signals, &sig) != 0) {
  }
  LOG(INFO) << "got " << strsignal(sig) << "; shutting down";
  sdnotify::NotifyStopping("shutting down").IgnoreError();
  size_t n = (*registry)->size();
  // Closes every client too (ContainerRegistry::CloseAll).
  if (!(*server)->Shutdown(*grace)) {
    // A call is stuck in the kernel: nothing can join its thread, so the
    // server and the registry are not destroyed. Every client is closed
    // (the stuck call's as soon as it returns) and the socket is gone.
    LOG(WARNING) << "exiting with a call stuck in the kernel";
    fflush(stderr);
    _exit(0);
  }
  if (managed != nullptr) managed->StopAll();  // Shutdown did; idempotent
  (*registry)->CloseAll();
  LOG(INFO) << "closed the clients of " << n << " container(s); bye";
  return 0;
}

}  // namespace
}  // namespace gvisor::shim

int main(int argc, char** argv) { return gvisor::shim::Main(argc, argv); }
