// devgofer: a dev gofer. Like runsc's gofer serves /dev to a sandbox, it
// serves a host directory (default /dev) over LISAFS with the fsgofer
// backend, donating host FDs for the devices it opens.
//
// With --listen=PATH it serves every connection accepted on the unix socket
// PATH (created 0600, removed on exit); with --fd=N it serves the one
// connected socket N it inherited (runsc's --dev-io-fd) and exits when that
// connection ends. With --ready_fd=M it writes "ready\n" to the inherited
// FD M and closes it once it serves (pkg/readyfd). SIGTERM or SIGINT
// shut it down cleanly (exit 0). --help prints the usage, --version the
// version (exit 0); a usage error prints one line ending in "see devgofer
// --help" and exits 2; other failures exit 1. See options.h for the flags.
//
// Once its socket is set up and before it starts a thread, it confines
// itself (sandbox.h) unless --nosandbox.

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "pkg/context/context.h"
#include "pkg/devscope/allowlist.h"
#include "pkg/fd/fd.h"
#include "pkg/fd/limit.h"
#include "pkg/fsgofer/fsgofer.h"
#include "pkg/lisafs/server.h"
#include "pkg/readyfd/readyfd.h"
#include "pkg/sdnotify/sdnotify.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "tools/devgofer/options.h"
#include "tools/devgofer/private_dir.h"
#include "tools/devgofer/sandbox.h"
#include "tools/devgofer/socket_path.h"
#include "tools/version/version.h"

namespace gvisor::devgofer {
namespace {

constexpr int kExitUsage = 2;
constexpr int kExitFailure = 1;

// UsageError prints msg and the hint in one line and returns the usage
// exit code.
int UsageError(const std::string& msg) {
  fprintf(stderr, "devgofer: %s; see devgofer --help\n", msg.c_str());
  return kExitUsage;
}

// kAcceptBackoff is how long the accept loop waits after a transient
// failure (no FDs or memory left) before it tries again.
constexpr std::chrono::milliseconds kAcceptBackoff(50);

// IsTransientAcceptError reports whether accept(2) failed for a reason that
// passes once resources free up or that concerns only one connection.
bool IsTransientAcceptError(int err) {
  switch (err) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
    case ECONNABORTED:
    case EPROTO:
      return true;
    default:
      return false;
  }
}

// StartThread runs f on *t; false, with a log line, if no thread can start
// (RLIMIT_NPROC, a pids cgroup limit).
bool StartThread(std::thread* t, std::function<void()> f) {
  try {
    *t = std::thread(std::move(f));
    return true;
  } catch (const std::system_error& e) {
    LOG(ERROR) << "devgofer: cannot start a thread: " << e.what();
    return false;
  }
}

// StartOne serves sock as one more connection on root.
absl::Status StartOne(lisafs::Server& server, const Options& o,
                      unet::Socket sock) {
  lisafs::ConnectionOptions copts;
  copts.readonly = o.readonly;
  copts.max_tree_depth = o.max_tree_depth;
  return server.StartConnection(
      std::move(sock), o.root, std::make_unique<fsgofer::Connection>(o.backend),
      copts);
}

// ScopeNote describes the scope for the "serving" log line.
std::string ScopeNote(const Options& o) {
  if (o.scope == nullptr || o.scope->empty()) return "; scope: every file";
  return absl::StrCat("; scope: only ", o.scope->ToString(),
                      o.private_dir ? " (a private directory)" : "");
}

// Confine installs the sandbox unless --nosandbox. It runs once the gofer
// holds every FD it needs and before its first thread. Returns an exit code
// when the gofer must stop: the sandbox failed (it does not serve
// unconfined), or --sandbox_selftest ran its probe.
std::optional<int> Confine(const Options& o) {
  if (o.sandbox) {
    SandboxOptions so;
    so.action = o.seccomp_action;
    so.host_uds_open = o.backend.host_uds_open;
    so.host_uds_create = o.backend.host_uds_create;
    absl::StatusOr<SandboxReport> r = InstallSandbox(so);
    if (!r.ok()) {
      LOG(ERROR) << "devgofer: " << r.status()
                 << " (--nosandbox serves unconfined)";
      return kExitFailure;
    }
    LOG(INFO) << "devgofer: sandbox: " << r->ToString();
  } else {
    LOG(WARNING) << "devgofer: sandbox off (--nosandbox)";
  }
  if (o.selftest.has_value()) {
    std::string result = RunSelftestProbe(*o.selftest);
    fprintf(stderr, "devgofer: sandbox_selftest: %s\n", result.c_str());
    return 0;
  }
  return std::nullopt;
}

// NotifySystemd sends READY=1 (ready) or STOPPING=1 with status to
// $NOTIFY_SOCKET through n, if set (pkg/sdnotify).
void NotifySystemd(sdnotify::Notifier& n, const std::string& status,
                   bool ready) {
  absl::StatusOr<bool> sent = ready ? n.Ready(status) : n.Stopping(status);
  if (!sent.ok()) {
    LOG(WARNING) << "devgofer: " << sent.status();
  } else if (*sent) {
    VLOG(1) << "devgofer: told $NOTIFY_SOCKET "
            << (ready ? "READY" : "STOPPING");
  }
}

int Run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Socket activation: a listening socket inherited as FD 3 (taken before
  // any thread starts: it unsets $LISTEN_*).
  absl::StatusOr<std::vector<sdnotify::ListenFd>> inherited =
      sdnotify::TakeListenFds();
  if (!inherited.ok()) {
    fprintf(stderr, "devgofer: %s\n",
            std::string(inherited.status().message()).c_str());
    return kExitFailure;
  }
  const bool activated = !inherited->empty();
  // $NOTIFY_SOCKET (Type=notify): connected now, as the sandbox refuses the
  // socket later.
  absl::StatusOr<sdnotify::Notifier> notifier_or =
      sdnotify::Notifier::FromEnvironment();
  sdnotify::Notifier notifier;
  if (notifier_or.ok()) {
    notifier = *std::move(notifier_or);
  } else {
    // Not fatal: readiness is then only --ready_fd's.
    fprintf(stderr, "devgofer: warning: %s; not notifying\n",
            std::string(notifier_or.status().message()).c_str());
  }
  absl::StatusOr<Options> parsed = ParseOptions(args, activated);
  if (!parsed.ok()) return UsageError(std::string(parsed.status().message()));
  Options o = *std::move(parsed);
  if (o.help) {
    fputs(Usage().c_str(), stdout);
    return 0;
  }
  if (o.version) {
    fputs(gvisor_devutil::VersionText("devgofer").c_str(), stdout);
    return 0;
  }
  // glog's flags, before its first line.
  if (struct stat ld;
      !o.log_dir.empty() &&
      (stat(o.log_dir.c_str(), &ld) != 0 || !S_ISDIR(ld.st_mode))) {
    return UsageError("--log_dir=" + o.log_dir + ": not an existing directory");
  }
  FLAGS_v = o.verbosity;
  FLAGS_log_dir = o.log_dir;
  FLAGS_logtostderr = o.logtostderr.value_or(o.log_dir.empty());
  google::InitGoogleLogging(argv[0]);
  LOG(INFO) << "devgofer " << gvisor_devutil::kVersion << " starting";
  if (!o.donation_note.empty()) LOG(INFO) << "devgofer: " << o.donation_note;
  // Closed unwritten if the gofer fails before it serves.
  absl::StatusOr<fd::OwnedFd> ready = readyfd::Claim(o.ready_fd);
  if (!ready.ok()) return UsageError(std::string(ready.status().message()));

  // The served directory, made absolute; it must exist.
  char* real = realpath(o.root.c_str(), nullptr);
  if (real == nullptr) {
    return UsageError("--root=" + o.root + ": " + strerror(errno));
  }
  o.root = real;
  free(real);
  struct stat st;
  if (stat(o.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return UsageError("--root=" + o.root + " is not a directory");
  }

  // --private_dir: from here on this process sees at --root only what the
  // rules allow. First, while single-threaded and still privileged.
  if (o.private_dir) {
    absl::StatusOr<PrivateDir> d = MakePrivateDir(o.root, *o.scope);
    if (!d.ok()) {
      // The message names what is missing (its errno included); the
      // payload would only repeat the errno.
      LOG(ERROR) << "devgofer: --private_dir: " << d.status().message();
      return kExitFailure;
    }
    o.root = d->path;
    LOG(INFO) << "devgofer: serving a " << d->description;
  }

  // Every connection holds a few FDs, and a dev gofer may serve many.
  if (absl::StatusOr<uint64_t> l = fd::RaiseFdLimit(); !l.ok()) {
    LOG(WARNING) << "devgofer: " << l.status();
  }

  // Signals are taken through a signalfd, so every thread blocks them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);
  fd::OwnedFd sigfd(signalfd(-1, &sigs, SFD_CLOEXEC));
  fd::OwnedFd done(eventfd(0, EFD_CLOEXEC));
  fd::OwnedFd stop_accept(eventfd(0, EFD_CLOEXEC));
  if (!sigfd.valid() || !done.valid() || !stop_accept.valid()) {
    PLOG(ERROR) << "devgofer: signalfd/eventfd";
    return kExitFailure;
  }

  lisafs::Server server(o.server);
  unet::ServerSocket listener;
  std::thread waiter;
  std::atomic<bool> signalled{false};
  std::atomic<bool> stopping{false};

  const bool listening = !o.listen.empty() || activated;
  if (activated) {
    // The socket's owner (systemd) bound it and removes it: it is served
    // as it is, never unlinked.
    if (inherited->size() != 1) {
      std::string names;
      for (const sdnotify::ListenFd& l : *inherited) {
        absl::StrAppend(&names, names.empty() ? "" : ", ", l.name);
      }
      LOG(ERROR) << "devgofer: socket activation passed " << inherited->size()
                 << " sockets (" << names
                 << "); devgofer serves one: give its .socket unit one "
                    "ListenStream=";
      return kExitFailure;
    }
    sdnotify::ListenFd& l = inherited->front();
    if (absl::Status s = sdnotify::CheckListeningUnixStream(
            l.fd.get(), absl::StrCat("the inherited socket \"", l.name, "\""));
        !s.ok()) {
      LOG(ERROR) << "devgofer: " << s.message();
      return kExitFailure;
    }
    absl::StatusOr<unet::ServerSocket> ls =
        unet::ServerSocket::FromListeningFd(std::move(l.fd), SOCK_STREAM);
    if (!ls.ok()) {
      LOG(ERROR) << "devgofer: " << ls.status();
      return kExitFailure;
    }
    listener = *std::move(ls);
    if (!o.listen.empty() && o.listen != listener.path()) {
      LOG(WARNING) << "devgofer: serving the inherited socket "
                   << listener.path() << ", not --listen=" << o.listen;
    }
    o.listen = listener.path();
  } else if (listening) {
    // A stale socket (a gofer that was killed) is replaced; a live one,
    // or anything that is not a socket, is refused.
    absl::StatusOr<unet::ServerSocket> l = ClaimSocketPath(o.listen, 0600);
    if (!l.ok()) {
      LOG(ERROR) << "devgofer: cannot listen: " << l.status().message();
      return kExitFailure;
    }
    listener = *std::move(l);
    if (absl::Status s = listener.Listen(); !s.ok()) {
      LOG(ERROR) << "devgofer: listen on " << o.listen << ": " << s;
      listener.Unlink().IgnoreError();
      return kExitFailure;
    }
  }
  if (listening) {
    if (std::optional<int> rc = Confine(o); rc.has_value()) {
      listener.Unlink().IgnoreError();
      return *rc;
    }
    // The accept loop ends when stop_accept is written (or the listener
    // fails). An inherited socket is never shut down: systemd keeps it
    // listening for the next gofer, and queues connections meanwhile.
    bool started = StartThread(&waiter, [&] {
      for (;;) {
        pollfd pf[2] = {{listener.fd(), POLLIN, 0},
                        {stop_accept.get(), POLLIN, 0}};
        if (poll(pf, 2, -1) < 0) {
          if (errno == EINTR) continue;
          PLOG(ERROR) << "devgofer: poll for accept";
          break;
        }
        if (pf[1].revents != 0) break;
        absl::StatusOr<unet::Socket> c = listener.Accept();
        if (!c.ok()) {
          if (IsTransientAcceptError(syserr::ToErrno(c.status())) &&
              !stopping.load()) {
            // Out of FDs or memory: keep serving the connections we have
            // and retry once some have ended, rather than exit.
            LOG_EVERY_N(WARNING, 100)
                << "devgofer: accept: " << c.status() << "; retrying";
            std::this_thread::sleep_for(kAcceptBackoff);
            continue;
          }
          VLOG(1) << "devgofer: accept ended: " << c.status();
          break;
        }
        if (absl::Status s = StartOne(server, o, *std::move(c)); !s.ok()) {
          LOG(WARNING) << "devgofer: connection refused: " << s;
        } else {
          VLOG(1) << "devgofer: new connection";
        }
      }
      uint64_t one = 1;
      (void)!write(done.get(), &one, sizeof(one));
    });
    if (!started) {
      listener.Unlink().IgnoreError();
      return kExitFailure;
    }
    LOG(INFO) << "devgofer: serving " << o.root << " on " << o.listen
              << (activated ? " (inherited by socket activation)" : "")
              << (o.readonly ? " (read-only)" : "")
              << (o.backend.donate_mount_fd ? " (mount FD donated)" : "")
              << ScopeNote(o);
    readyfd::Notify(context::Background(), *std::move(ready));
    NotifySystemd(notifier, absl::StrCat("serving ", o.root, " on ", o.listen),
                  true);
  } else {
    absl::StatusOr<unet::Socket> sock = unet::Socket::FromFd(fd::OwnedFd(o.fd));
    if (!sock.ok()) {
      return UsageError(
          "--fd=" + std::to_string(o.fd) +
          " is not a unix socket: " + std::string(sock.status().message()));
    }
    if (std::optional<int> rc = Confine(o); rc.has_value()) return *rc;
    if (absl::Status s = StartOne(server, o, *std::move(sock)); !s.ok()) {
      LOG(ERROR) << "devgofer: " << s;
      return kExitFailure;
    }
    // With one connection, its end is the end of the gofer.
    if (!StartThread(&waiter, [&] {
          server.AwaitConnections(0);
          uint64_t one = 1;
          (void)!write(done.get(), &one, sizeof(one));
        })) {
      server.Shutdown();
      server.Wait();
      return kExitFailure;
    }
    LOG(INFO) << "devgofer: serving " << o.root << " on FD " << o.fd
              << (o.readonly ? " (read-only)" : "")
              << (o.backend.donate_mount_fd ? " (mount FD donated)" : "")
              << ScopeNote(o);
    readyfd::Notify(context::Background(), *std::move(ready));
    NotifySystemd(notifier, absl::StrCat("serving ", o.root, " on FD ", o.fd),
                  true);
  }

  pollfd pfds[2] = {{sigfd.get(), POLLIN, 0}, {done.get(), POLLIN, 0}};
  while (poll(pfds, 2, -1) < 0 && errno == EINTR) {
  }
  if (pfds[0].revents & POLLIN) {
    signalfd_siginfo si;
    if (read(sigfd.get(), &si, sizeof(si)) == sizeof(si)) {
      LOG(INFO) << "devgofer: signal " << si.ssi_signo << ", shutting down";
    }
    signalled = true;
  }
  stopping = true;
  NotifySystemd(notifier, "shutting down", false);
  if (listening) {
    uint64_t one = 1;
    (void)!write(stop_accept.get(), &one, sizeof(one));
    if (!activated) listener.Shutdown().IgnoreError();
  }
  server.Shutdown();
  waiter.join();
  server.Wait();
  if (listening) {
    if (absl::Status s = listener.Unlink(); !s.ok()) {
      LOG(WARNING) << "devgofer: removing " << o.listen << ": " << s;
    }
  }
  // Without a signal, a listener only stops when accept failed.
  if (listening && !signalled) {
    LOG(ERROR) << "devgofer: accepting connections failed";
    return kExitFailure;
  }
  LOG(INFO) << "devgofer: exiting";
  return 0;
}

}  // namespace
}  // namespace gvisor::devgofer

int main(int argc, char** argv) { return gvisor::devgofer::Run(argc, argv); }
