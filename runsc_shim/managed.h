// ManagedContainers: containers whose gofer the shim runs itself (runsc's
// model: one dev gofer per sandbox, over a socket pair, confined to the
// container's devices). It joins a GoferSupervisor (gofer_supervisor.h),
// which starts, watches and reaps the processes, to the ContainerRegistry,
// which holds the connections, and keeps each managed container's
// ContainerInfo::gofer up to date, so that GetContainer, ListContainers and
// WatchContainers show the gofer's PID, state and last exit.
//
// Life of a managed container:
//   Attach   starts a gofer for the spec and mounts over its socket, by the
//            deadline; if the gofer exits before it serves, the error is
//            the gofer's own reason (GoferSupervisor::StartFailure), and
//            nothing is left behind.
//   exit     a gofer that exits is reaped; its connection's end has already
//            made the container DISCONNECTED (the registry's hang-up
//            watch), and the record shows how it ended (GOFER_CHANGED).
//            With spec.restart a new gofer is started after a backoff that
//            doubles from restart_backoff up to restart_backoff_max (and
//            starts over once a gofer has served for stable_after), and
//            the container gets it as a new connection (REATTACHED, and
//            ATTACHED again). A restart that fails is recorded
//            (last_error) and retried with the next backoff.
//   cut off  a gofer the registry cut off (it stopped answering: the stall
//            guard shut its connection down) or whose connection otherwise
//            ended while it still runs is stopped, so that it is reaped,
//            reported and, with spec.restart, replaced as above: a gofer
//            that hangs (or was SIGSTOPped) does not hold its container
//            DISCONNECTED for good.
//   Detach   forgets the container, then stops its gofer (SIGTERM, SIGKILL
//            after the supervisor's grace) and returns once it is reaped,
//            also when a restart was under way.
//   StopAll  (shim shutdown) stops every managed gofer the same way.
//
// One thread runs the restarts (a restart's mount happens there, bounded by
// restart_timeout), another stops the gofers whose connection ended (it
// waits on the registry's changes, ContainerRegistry::AwaitChange); the
// supervisor has its own. Thread-safe.

#ifndef GVISOR_RUNSC_SHIM_MANAGED_H_
#define GVISOR_RUNSC_SHIM_MANAGED_H_

#include <stdint.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/context/context.h"
#include "runsc_shim/gofer_spec.h"
#include "runsc_shim/gofer_supervisor.h"
#include "runsc_shim/registry.h"

namespace gvisor::shim {

// ManagedOptions configure the managed gofers.
struct ManagedOptions {
  // supervisor: the gofer binary, the bound of gofers, the stop grace.
  SupervisorOptions supervisor;
  // The first restart waits restart_backoff, each next one twice the last,
  // at most restart_backoff_max; a gofer that served for stable_after
  // resets the backoff.
  absl::Duration restart_backoff = absl::Milliseconds(250);
  absl::Duration restart_backoff_max = absl::Seconds(30);
  absl::Duration stable_after = absl::Seconds(10);
  // restart_timeout bounds a restart's mount.
  absl::Duration restart_timeout = absl::Seconds(10);
};

// ManagedStats counts the managed gofers, for metrics.
struct ManagedStats {
  uint64_t running = 0;     // gofers serving (state RUNNING)
  uint64_t restarting = 0;  // waiting for their restart
  uint64_t exited = 0;      // exited, not restarted, container still attached
  uint64_t starting = 0;    // Attach calls starting a gofer now
  uint64_t restarts_total = 0;
  uint64_t start_failures_total = 0;  // failed Attach starts and restarts
};

class ManagedContainers {
 public:
  // Create starts the supervisor (INVALID_ARGUMENT for a binary that is not
  // an executable file) and the restart thread. registry and ctx must
  // outlive the result.
  static absl::StatusOr<std::unique_ptr<ManagedContainers>> Create(
      const context::Context& ctx, ContainerRegistry* registry,
      ManagedOptions options);

  // The destructor is StopAll.
  ~ManagedContainers();
  ManagedContainers(const ManagedContainers&) = delete;
  ManagedContainers& operator=(const ManagedContainers&) = delete;

  // Attach starts a gofer for spec and attaches name to it by deadline (see
  // the file comment). Errors: those of ContainerRegistry::Attach (name,
  // ALREADY_EXISTS: also for a name a concurrent Attach is starting),
  // GoferSupervisor::Start (spec, binary, bound) and StartFailure (a gofer
  // that exited before serving); UNAVAILABLE once StopAll has begun.
  absl::StatusOr<ContainerInfo> Attach(absl::string_view name,
                                       const GoferSpec& spec,
                                       absl::Time deadline);

  // Manages reports whether name is a managed container (attached, or
  // being attached by Attach).
  bool Manages(absl::string_view name) const;

  // Detach detaches name from the registry and stops its gofer; returns
  // once the gofer is reaped. NOT_FOUND if name is not managed.
  absl::Status Detach(absl::string_view name);

  // StopAll detaches every managed container, stops every gofer, refuses
  // later Attach calls, and returns once every gofer is reaped.
  void StopAll();

  ManagedStats Stats() const;

 private:
  struct Entry;
  ManagedContainers(const context::Context& ctx, ContainerRegistry* registry,
                    ManagedOptions options)
      : ctx_(ctx), registry_(registry), options_(std::move(options)) {}

  // OnExit runs on the supervisor's thread for every reaped gofer.
  void OnExit(uint64_t id, const GoferExit& exit, const std::string& tail);
  // RestartLoop runs on restarter_: it starts the gofers whose restart is
  // due.
  void RestartLoop();
  // CutOffLoop runs on cutter_: it stops the running gofers whose
  // containers the registry shows DISCONNECTED.
  void CutOffLoop();
  // Restart starts a new gofer for e and gives name its connection.
  void Restart(const std::string& name, std::shared_ptr<Entry> e);
  // Exited moves e's record on after its gofer was reaped (under mu_):
  // kRestarting with the next restart due, or kExited; returns the record.
  ManagedGoferInfo Exited(Entry* e);

  const context::Context& ctx_;
  ContainerRegistry* const registry_;
  const ManagedOptions options_;
  std::unique_ptr<GoferSupervisor> supervisor_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, std::shared_ptr<Entry>, std::less<>> by_name_;
  std::map<uint64_t, std::string> by_gofer_;  // supervisor id -> name
  uint64_t restarts_total_ = 0;
  uint64_t start_failures_total_ = 0;
  std::thread restarter_;
  std::thread cutter_;
};

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_MANAGED_H_
