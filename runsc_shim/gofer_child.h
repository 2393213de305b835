// ForkGofer: the fork and exec of one managed gofer, as GoferSupervisor
// (gofer_supervisor.h) starts each. In the child, with async-signal-safe
// calls only (everything it needs is built before the fork):
//   - PR_SET_PDEATHSIG(SIGKILL), then a check that the parent is still the
//     one that forked (else it exits: nobody would reap it);
//   - setpgid(0, 0): a process group of its own, which Stop signals;
//   - FD 0 on /dev/null, FDs 1 and 2 on one pipe (the output), FD 3 the
//     gofer's end of a socket pair; every other FD close-on-exec
//     (close_range), whatever the parent left open;
//   - every signal's disposition back to the default (an ignored signal
//     would stay ignored across exec) and an empty signal mask;
//   - execve, with the process's environment less the variables systemd
//     gives the shim (NOTIFY_SOCKET, LISTEN_*, WATCHDOG_*), which are not
//     the gofer's.
// A child that cannot get that far writes the step and the errno on a
// close-on-exec pipe; ForkGofer reads it (end of file: exec happened), so
// it returns once the gofer runs or has been reaped.
//
// Internal to the supervisor; no gRPC.

#ifndef GVISOR_RUNSC_SHIM_GOFER_CHILD_H_
#define GVISOR_RUNSC_SHIM_GOFER_CHILD_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/fd/fd.h"

namespace gvisor::shim {

// kGoferFd is the FD the child serves its socket on (devgofer --fd=3).
inline constexpr int kGoferFd = 3;

// ForkedGofer is a gofer process ForkGofer started.
struct ForkedGofer {
  pid_t pid = -1;
  // pidfd refers to the process (pidfd_open): wait for it with
  // waitid(P_PIDFD) and poll it for its exit.
  fd::OwnedFd pidfd;
  // sock is our end of its socket pair (SOCK_STREAM, close-on-exec).
  fd::OwnedFd sock;
  // output is the read end of its stdout and stderr (O_NONBLOCK,
  // close-on-exec).
  fd::OwnedFd output;
};

// ForkGofer runs argv[0] (an absolute path) with argv, as the file comment
// says. Call it on the thread that reaps the child and outlives it
// (PDEATHSIG follows the thread that forked), with every signal blocked
// (so that no handler of the process runs in the child before it resets
// them). Errors: RESOURCE_EXHAUSTED, with the errno, when socketpair,
// pipe2, open, fork or pidfd_open run out (EMFILE, ENFILE, EAGAIN,
// ENOMEM); FAILED_PRECONDITION "cannot run /x/devgofer: ENOENT (...)" when
// exec failed, "cannot start /x/devgofer: setpgid: ..." when a step before
// it did, with the child's errno. On error no child is left (it is
// reaped) and no FD.
absl::StatusOr<ForkedGofer> ForkGofer(const std::vector<std::string>& argv);

// ResourceError is syserr::FromErrno(err, what), RESOURCE_EXHAUSTED for
// an errno that says a resource ran out (EMFILE, ENFILE, EAGAIN, ENOMEM,
// ENOSPC).
absl::Status ResourceError(int err, absl::string_view what);

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_GOFER_CHILD_H_
