#include "runsc_shim/gofer_child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"

extern char** environ;

namespace gvisor::shim {
namespace {

// kPrivateEnv are the variables systemd gives the shim alone: passed on,
// a gofer would take the shim's notify socket or its inherited sockets.
constexpr absl::string_view kPrivateEnv[] = {
    "LISTEN_FDS=",    "LISTEN_PID=",    "LISTEN_FDNAMES=",
    "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="};

// Step names what failed in the child before (or at) exec.
enum Step : int {
  kStepExec = 0,
  kStepPdeathsig,
  kStepSetpgid,
  kStepMoveFd,
  kStepDup2,
  kStepCloseRange,
};

const char* StepName(int step) {
  switch (step) {
    case kStepExec:
      return "execve";
    case kStepPdeathsig:
      return "prctl(PR_SET_PDEATHSIG)";
    case kStepSetpgid:
      return "setpgid";
    case kStepMoveFd:
      return "fcntl(F_DUPFD)";
    case kStepDup2:
      return "dup2";
    case kStepCloseRange:
      return "close_range";
  }
  return "start-up";
}

// ChildError is what a child that could not exec writes on its error pipe.
struct ChildError {
  int step;
  int err;
};

// ChildFds are the FDs the child makes 0 to 3, and its error pipe.
struct ChildFds {
  int devnull;
  int out;
  int sock;
  int err;
};

// KernelSigaction is the kernel's struct sigaction (the x86-64 and arm64
// layout): the child calls rt_sigaction itself, past libc's (and a
// sanitizer's) wrappers.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

// ChildMain runs in the forked child up to exec: async-signal-safe calls
// only, on memory prepared before the fork. It never returns.
[[noreturn]] void ChildMain(ChildFds f, pid_t parent, char* const* argv,
                            char* const* envp) {
  auto fail = [&f](int step) {
    ChildError e = {step, errno};
    (void)!write(f.err, &e, sizeof(e));
    _exit(127);
  };
  // The error pipe first, out of the way of the targets.
  if (f.err <= kGoferFd) {
    int moved = fcntl(f.err, F_DUPFD_CLOEXEC, kGoferFd + 1);
    if (moved < 0) _exit(127);
    f.err = moved;
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(kStepPdeathsig);
  // The parent died before PDEATHSIG was set: nobody would reap or stop
  // this gofer.
  if (getppid() != parent) _exit(127);
  if (setpgid(0, 0) != 0) fail(kStepSetpgid);
  // Every source above the targets, so that no dup2 overwrites a source
  // still to be copied, and none meets a source equal to its target (which
  // would leave close-on-exec set).
  for (int* fd : {&f.devnull, &f.out, &f.sock}) {
    if (*fd <= kGoferFd) {
      int moved = fcntl(*fd, F_DUPFD_CLOEXEC, kGoferFd + 1);
      if (moved < 0) fail(kStepMoveFd);
      *fd = moved;
    }
  }
  if (dup2(f.devnull, 0) < 0 || dup2(f.out, 1) < 0 || dup2(f.out, 2) < 0 ||
      dup2(f.sock, kGoferFd) < 0) {
    fail(kStepDup2);
  }
  // Every other FD closes at exec (the error pipe stays open until then).
  if (syscall(SYS_close_range, kGoferFd + 1, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    fail(kStepCloseRange);
  }
  // Default dispositions (an ignored signal stays ignored across exec),
  // then an empty mask (the forking thread blocks everything).
  KernelSigaction dfl = {};
  dfl.handler = SIG_DFL;
  for (int sig = 1; sig < _NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(uint64_t));
  }
  uint64_t none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof(none));
  execve(argv[0], argv, envp);
  fail(kStepExec);
  _exit(127);
}

// Reap waits for pid, which has exited or is about to.
void Reap(pid_t pid) {
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

absl::Status ResourceError(int err, absl::string_view what) {
  absl::Status s = syserr::FromErrno(err, what);
  switch (err) {
    case EMFILE:
    case ENFILE:
    case EAGAIN:
    case ENOMEM:
    case ENOSPC:
      return syserr::WithCode(absl::StatusCode::kResourceExhausted, s);
    default:
      return s;
  }
}

absl::StatusOr<ForkedGofer> ForkGofer(const std::vector<std::string>& args) {
  if (args.empty() || args[0].empty() || args[0][0] != '/') {
    return absl::InvalidArgumentError("ForkGofer: no absolute binary");
  }
  const std::string& binary = args[0];
  // Everything exec needs, built before the fork.
  std::vector<char*> argv;
  for (const std::string& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const absl::string_view v(*e);
    bool keep = true;
    for (absl::string_view p : kPrivateEnv)
      keep = keep && !absl::StartsWith(v, p);
    if (keep) envp.push_back(*e);
  }
  envp.push_back(nullptr);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return ResourceError(errno, "socketpair");
  }
  fd::OwnedFd mine(sv[0]), theirs(sv[1]);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ResourceError(errno, "pipe2");
  fd::OwnedFd out_r(p[0]), out_w(p[1]);
  if (fcntl(out_r.get(), F_SETFL, O_NONBLOCK) != 0) {
    return syserr::FromLastErrno("fcntl(O_NONBLOCK)");
  }
  if (pipe2(p, O_CLOEXEC) != 0) return ResourceError(errno, "pipe2");
  fd::OwnedFd err_r(p[0]), err_w(p[1]);
  fd::OwnedFd devnull(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull.valid()) return ResourceError(errno, "open /dev/null");

  const ChildFds child_fds = {devnull.get(), out_w.get(), theirs.get(),
                              err_w.get()};
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) ChildMain(child_fds, parent, argv.data(), envp.data());
  if (pid < 0) return ResourceError(errno, "fork");
  theirs.reset();
  out_w.reset();
  err_w.reset();
  devnull.reset();
  // Nobody else reaps our children (no SIGCHLD handler, no waitpid(-1)):
  // until we wait for it, its pid names it.
  fd::OwnedFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  const int pidfd_err = errno;
  // The child's end closes at exec, or brings why it could not.
  ChildError ce = {};
  ssize_t got;
  do {
    got = read(err_r.get(), &ce, sizeof(ce));
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof(ce))) {
    Reap(pid);
    return syserr::WithCode(
        absl::StatusCode::kFailedPrecondition,
        syserr::FromErrno(ce.err, ce.step == kStepExec
                                      ? absl::StrCat("cannot run ", binary)
                                      : absl::StrCat("cannot start ", binary,
                                                     ": ", StepName(ce.step))));
  }
  if (got != 0 || !pidfd.valid()) {
    kill(pid, SIGKILL);
    Reap(pid);
    if (got != 0) {
      return absl::InternalError(absl::StrCat(
          "starting ", binary, ": a broken report from the child"));
    }
    return ResourceError(pidfd_err, "pidfd_open");
  }
  ForkedGofer g;
  g.pid = pid;
  g.pidfd = std::move(pidfd);
  g.sock = std::move(mine);
  g.output = std::move(out_r);
  return g;
}

}  // namespace gvisor::shim
