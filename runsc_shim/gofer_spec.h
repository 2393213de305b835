// What the shim knows of a managed gofer (one it runs itself for a
// container; gofer_supervisor.h starts it, managed.h keeps it serving): the
// spec it was started with, how its last run ended, and where it stands.
// Plain values, shared by the registry (which shows them in every snapshot
// of the container), the supervisor and the gRPC service.

#ifndef GVISOR_RUNSC_SHIM_GOFER_SPEC_H_
#define GVISOR_RUNSC_SHIM_GOFER_SPEC_H_

#include <stdint.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace gvisor::shim {

// GoferSpec says what a managed gofer serves.
struct GoferSpec {
  // root is the directory served: absolute, default /dev.
  std::string root = "/dev";
  // allow holds allowlist rules (pkg/devscope/allowlist.h), one each.
  std::vector<std::string> allow;
  // cdi_specs are CDI spec files, cdi_devices the fully qualified devices
  // of them to serve (pkg/devscope/cdi.h); either needs the other.
  std::vector<std::string> cdi_specs;
  std::vector<std::string> cdi_devices;
  // readonly makes the gofer's connection read-only.
  bool readonly = false;
  // restart starts the gofer again, with backoff, when it exits while its
  // container is attached (managed.h).
  bool restart = false;

  // scoped reports whether the spec names any device (allow or CDI).
  bool scoped() const { return !allow.empty() || !cdi_devices.empty(); }
};

// GoferExit is how a gofer ended.
struct GoferExit {
  // exit_code is the exit status, or -1 if it was killed.
  int exit_code = -1;
  // signal is the signal that killed it, 0 if it exited.
  int signal = 0;
  // ToString: "exited with status 1", "killed by SIGKILL".
  std::string ToString() const;
};

// ManagedGoferInfo is a managed gofer as its container's snapshot shows it.
struct ManagedGoferInfo {
  enum class State {
    // kRunning: the gofer serves the container's connection.
    kRunning,
    // kRestarting: it exited and a new one starts at next_restart (the
    // spec asks for restarts).
    kRestarting,
    // kExited: it exited and is not restarted (no restart in the spec, or
    // the container is being detached).
    kExited,
  };
  GoferSpec spec;
  State state = State::kRunning;
  // pid is the running gofer's process ID, or the last one's once it exited.
  pid_t pid = 0;
  // started is when the current (or last) gofer was started.
  absl::Time started = absl::InfinitePast();
  // last_exit is how the last gofer that ended did; unset before any has.
  std::optional<GoferExit> last_exit;
  // last_error is the last line the gofer wrote before it exited, or why
  // the last restart failed; empty if none.
  std::string last_error;
  // restarts counts the gofers started after the first.
  uint64_t restarts = 0;
  // next_restart is when the next restart is due (kRestarting only).
  absl::Time next_restart = absl::InfinitePast();
  // version counts the changes to this record (the registry's), so that a
  // watcher tells a changed gofer from an unchanged one.
  uint64_t version = 0;
};

// StateName is "RUNNING", "RESTARTING" or "EXITED".
const char* StateName(ManagedGoferInfo::State s);

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_GOFER_SPEC_H_
