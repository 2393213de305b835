// GoferSupervisor: the shim's managed dev gofers, one devgofer process per
// container, started as runsc starts its dev gofer: over a socket pair
// (--fd=3; no path on disk), confined, and watched until it is reaped.
//
// A gofer is started with
//   devgofer --fd=3 --root=ROOT [--allow=RULE]... [--cdi_spec=F
//            --cdi_device=D]... [--private_dir] [--readonly]
//            [options.extra_flags]
// --private_dir is given whenever the spec scopes anything (allow or CDI
// devices): the gofer then lives in its own mount namespace in which ROOT
// holds only the allowed nodes (tools/devgofer/private_dir.h), and its
// default sandbox (seccomp-bpf, capabilities dropped, no_new_privs;
// tools/devgofer/sandbox.h) confines it. In the child, before exec:
// PR_SET_PDEATHSIG(SIGKILL) (checked against a parent that died first),
// its own process group (setpgid(0, 0)), FD 0 on /dev/null, FD 1 and 2 on
// a pipe the supervisor reads, FD 3 the gofer's end of the pair, every
// other FD closed, signals unblocked and reset, systemd's variables for
// the shim (NOTIFY_SOCKET, LISTEN_*) left out of its environment
// (gofer_child.h). PDEATHSIG fires when the *thread* that forked exits, so
// every fork happens on the supervisor's own thread, which lives as long
// as the supervisor: never on a caller's (gRPC) thread.
//
// One thread watches every gofer: a pidfd each (pidfd_open), polled with
// the gofers' output pipes through one epoll set. A gofer that exits is
// reaped at once (waitid P_PIDFD; whatever is left in its process group is
// SIGKILLed first) and reported to on_exit; what it wrote is logged
// through the context's logger, a line at a time, prefixed with its
// container's name, at most options.log_bytes_per_second per gofer (the rest is
// counted and dropped, so a gofer cannot flood the shim's log), and the
// last kTailBytes are kept for error messages (gofer_output.h). Each gofer
// costs the shim three FDs (its socket, its pidfd, its output pipe) and no
// thread. The shim must not reap children it did not start with a
// waitpid(-1), nor set SIGCHLD to SIG_IGN (the kernel would reap them).
//
// Nothing here depends on gRPC or on the registry. Thread-safe.

#ifndef GVISOR_RUNSC_SHIM_GOFER_SUPERVISOR_H_
#define GVISOR_RUNSC_SHIM_GOFER_SUPERVISOR_H_

#include <stdint.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/context/context.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/gofer_spec.h"

namespace gvisor::shim {

// ValidateGoferSpec checks a spec before any process is started:
// INVALID_ARGUMENT for a root that is not absolute (or holds NUL), a rule
// the allowlist refuses, a CDI device without a spec file or the reverse,
// more than kMaxRules rules; each message names the field. Files are not
// read here (the gofer reads them; its refusal is a start failure).
absl::Status ValidateGoferSpec(const GoferSpec& spec);

// SupervisorOptions configure a supervisor.
struct SupervisorOptions {
  static constexpr size_t kDefaultMaxGofers = 4096;
  static constexpr absl::Duration kDefaultStopGrace = absl::Seconds(2);
  static constexpr size_t kDefaultLogBytesPerSecond = 64 * 1024;

  // binary is the devgofer to run (an absolute path).
  std::string binary;
  // extra_flags are added to every gofer's command line, after the spec's.
  std::vector<std::string> extra_flags;
  // max_gofers bounds the gofers alive at once; Start past it is
  // RESOURCE_EXHAUSTED.
  size_t max_gofers = kDefaultMaxGofers;
  // stop_grace is how long Stop waits after SIGTERM before SIGKILL.
  absl::Duration stop_grace = kDefaultStopGrace;
  // log_bytes_per_second bounds what one gofer's output adds to the log in
  // a second; past it lines are counted and dropped (gofer_output.h).
  size_t log_bytes_per_second = kDefaultLogBytesPerSecond;
};

// GoferSupervisor starts, watches, stops and reaps managed gofers.
class GoferSupervisor {
 public:
  static constexpr size_t kTailBytes = 4096;
  static constexpr size_t kMaxRules = 1024;
  // kExitHistory is how many reaped gofers StartFailure remembers (the
  // most recent ones): a caller asks right after its Mount failed.
  static constexpr size_t kExitHistory = 256;

  // Started is a gofer that Start ran.
  struct Started {
    // id names the gofer in Stop and in on_exit (never reused).
    uint64_t id = 0;
    pid_t pid = -1;
    // sock is the shim's end of the gofer's socket pair (SOCK_STREAM,
    // close-on-exec), connected; the gofer serves it once set up.
    unet::Socket sock;
  };

  // OnExit is called on the supervisor's thread, once per gofer, after the
  // gofer was reaped (whether it died or was stopped): id, how it ended,
  // and the tail of its output. It must not block, nor call Stop or
  // StopAll (Start is allowed).
  using OnExit = std::function<void(uint64_t id, const GoferExit& exit,
                                    const std::string& tail)>;

  // Create starts the supervisor's thread. INVALID_ARGUMENT if
  // options.binary is not an absolute path to an executable file
  // (checked here, so that a shim with a bad --gofer_binary fails at start).
  // ctx must outlive the supervisor.
  static absl::StatusOr<std::unique_ptr<GoferSupervisor>> Create(
      const context::Context& ctx, SupervisorOptions options, OnExit on_exit);

  // The destructor is StopAll, then ends the thread.
  ~GoferSupervisor();
  GoferSupervisor(const GoferSupervisor&) = delete;
  GoferSupervisor& operator=(const GoferSupervisor&) = delete;

  // Start starts a gofer for spec (label names it in the log: the
  // container's name), on the supervisor's thread, and returns at once
  // with the process started; it does not wait for the gofer to serve
  // (the caller's Mount over sock does, by its deadline). Errors:
  // INVALID_ARGUMENT (ValidateGoferSpec), RESOURCE_EXHAUSTED (max_gofers,
  // or EMFILE/EAGAIN from pipe, socketpair, fork), FAILED_PRECONDITION if
  // the binary could not be executed (the child reports exec's errno over
  // a close-on-exec pipe: "cannot run /x/devgofer: ENOENT"), UNAVAILABLE
  // once StopAll has begun.
  absl::StatusOr<Started> Start(absl::string_view label, const GoferSpec& spec);

  // StartFailure explains why gofer id stopped serving before it served:
  // it waits by deadline for the gofer to exit (it has, or is about to, if
  // its socket ended), then returns FAILED_PRECONDITION "the gofer exited
  // with status 1 before serving: <its last error line>" (the line that
  // names what is missing: "unshare(CLONE_NEWNS): EPERM ... CAP_SYS_ADMIN").
  // If it is still running by deadline it is UNAVAILABLE. NOT_FOUND for an
  // unknown id, or one reaped more than kExitHistory reaps ago.
  absl::Status StartFailure(uint64_t id, absl::Time deadline);

  // Exited waits by deadline for gofer id to have been reaped and reports
  // whether it was (true also for an id it no longer knows).
  bool Exited(uint64_t id, absl::Time deadline);

  // Stop stops gofer id: SIGTERM to its process group, SIGKILL after
  // stop_grace, and returns once it is reaped and on_exit has run for it.
  // A gofer that has already exited (reported or not) returns OK as soon
  // as its on_exit has run. NOT_FOUND for an id this supervisor never
  // returned; FAILED_PRECONDITION when called from on_exit (it would wait
  // for its own thread).
  absl::Status Stop(uint64_t id);

  // StopAll stops every gofer as Stop does (all SIGTERMed at once, one
  // grace for all), refuses later Starts, and returns when all are reaped
  // (called from on_exit, it signals them and returns at once).
  void StopAll();

  // Running returns the number of gofers started and not yet reaped.
  size_t Running() const;

 private:
  struct Impl;
  explicit GoferSupervisor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_GOFER_SUPERVISOR_H_
