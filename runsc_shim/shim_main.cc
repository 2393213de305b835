// shim: the runsc_shim gRPC server. It keeps one devutil GoferClient per
// attached container and serves DevGoferShim (shim.proto), the standard
// health service and server reflection, by default on a Unix socket with
// mode 0600. SIGTERM or SIGINT shuts it down cleanly: calls in flight get
// --shutdown_grace to finish, then every client is closed.
//
//   shim [--listen=unix:/run/runsc-shim.sock] [--shutdown_grace=5s]
//        [--ready_fd=N] [--max_dirents=65536] [--max_dirent_bytes=4194304]
//        [--max_calls_per_container=64]
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

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
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
#include "runsc_shim/registry.h"
#include "runsc_shim/server.h"

ABSL_FLAG(std::string, listen, "",
          "where to serve: unix:PATH (default: unix:$XDG_RUNTIME_DIR/"
          "runsc-shim.sock, or unix:/run/runsc-shim.sock without "
          "XDG_RUNTIME_DIR), unix-abstract:NAME, or tcp:HOST:PORT. TCP has "
          "no authentication: use it only when you mean to.");
// A string, not an absl::Duration flag: those do not build under
// ThreadSanitizer with -Werror (their seqlock uses a fence).
ABSL_FLAG(std::string, shutdown_grace, "5s",
          "how long calls in flight may run after SIGTERM, e.g. 5s");
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
ABSL_FLAG(int, ready_fd, -1,
          "an inherited FD (a pipe's write end) that gets \"ready\\n\" and "
          "is closed once the shim serves");

namespace gvisor::shim {
namespace {

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "runsc_shim gRPC server: attaches containers to dev gofers.\n"
      "  shim [--listen=unix:PATH|unix-abstract:NAME|tcp:HOST:PORT]");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  if (args.size() > 1) {
    fprintf(stderr, "shim: unexpected argument \"%s\" (see --help)\n", args[1]);
    return 2;
  }

  // Closed unwritten if the shim fails before it serves.
  absl::StatusOr<fd::OwnedFd> ready =
      readyfd::Claim(absl::GetFlag(FLAGS_ready_fd));
  if (!ready.ok()) {
    fprintf(stderr, "shim: %s\n",
            std::string(ready.status().message()).c_str());
    return 2;
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

  absl::Duration grace;
  if (!absl::ParseDuration(absl::GetFlag(FLAGS_shutdown_grace), &grace) ||
      grace < absl::ZeroDuration()) {
    fprintf(stderr, "shim: --shutdown_grace=%s: not a duration (e.g. 5s)\n",
            absl::GetFlag(FLAGS_shutdown_grace).c_str());
    return 2;
  }
  std::string listen = absl::GetFlag(FLAGS_listen);
  if (listen.empty()) listen = DefaultAddress();
  absl::StatusOr<Address> address = ParseAddress(listen);
  if (!address.ok()) {
    fprintf(stderr, "shim: --listen: %s\n",
            std::string(address.status().message()).c_str());
    return 2;
  }
  if (address->kind == Address::Kind::kTcp) {
    LOG(WARNING) << "serving on TCP " << address->target
                 << ": anyone who can reach it controls the shim";
  }

  RegistryOptions options;
  options.client.max_dirents = absl::GetFlag(FLAGS_max_dirents);
  options.client.max_dirent_bytes = absl::GetFlag(FLAGS_max_dirent_bytes);
  options.max_calls_per_container =
      absl::GetFlag(FLAGS_max_calls_per_container);
  if (options.client.max_dirents == 0 || options.client.max_dirent_bytes == 0 ||
      options.max_calls_per_container == 0) {
    fprintf(stderr,
            "shim: --max_dirents, --max_dirent_bytes and "
            "--max_calls_per_container must be at least 1\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<ContainerRegistry>> registry =
      ContainerRegistry::Create(context::Background(), options);
  if (!registry.ok()) {
    LOG(ERROR) << "creating the registry: " << registry.status();
    return 1;
  }
  // Socket activation (a .socket unit): the one inherited socket is served
  // in place of --listen.
  absl::StatusOr<std::vector<sdnotify::ListenFd>> inherited =
      sdnotify::TakeListenFds();
  if (!inherited.ok() || inherited->size() > 1) {
    LOG(ERROR) << "shim: socket activation: "
               << (inherited.ok()
                       ? absl::StrCat(inherited->size(),
                                      " sockets; the shim serves one")
                       : inherited.status().ToString());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<Server>> server =
      inherited->empty()
          ? Server::Start(*address, registry->get())
          : Server::StartOnListeningFd(std::move(inherited->front().fd),
                                       registry->get());
  if (!server.ok()) {
    LOG(ERROR) << "shim: " << server.status();
    return 1;
  }
  LOG(INFO) << "serving on " << (*server)->address().ToString()
            << (inherited->empty() ? "" : " (inherited by socket activation)");
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
  if (!(*server)->Shutdown(grace)) {
    // A call is stuck in the kernel: nothing can join its thread, so the
    // server and the registry are not destroyed. Every client is closed
    // (the stuck call's as soon as it returns) and the socket is gone.
    LOG(WARNING) << "exiting with a call stuck in the kernel";
    fflush(stderr);
    _exit(0);
  }
  (*registry)->CloseAll();
  LOG(INFO) << "closed the clients of " << n << " container(s); bye";
  return 0;
}

}  // namespace
}  // namespace gvisor::shim

int main(int argc, char** argv) { return gvisor::shim::Main(argc, argv); }
