// devgofer's command line: what it serves and how.
//
//   devgofer [--root=DIR] (--listen=PATH | --fd=N) [--[no]donate_mount_fd]
//            [--readonly] [--char_devices=passthrough|deny]
//            [--host_fifo=none|open] [--host_uds=none|open|create|all]
//            [--ready_fd=M] [--nosandbox] [--seccomp_action=errno|kill|log]
//            [--v=N]
//            [--workers=N] [--max_fdids_per_connection=N] [--fd_reserve=N]
//            [--fd_reserve_per_connection=N] [--max_channel_threads=N]
//            [--shutdown_grace=DURATION] [--max_tree_depth=N]
//
// The last seven set the server's bounds (lisafs::ServerOptions and
// ConnectionOptions, where each is documented); --workers=0 picks the default.
// DURATION is e.g. "5s".
//
// Flags take "--name=value" or "--name value"; booleans also take a bare
// "--name", "--noname", or "=true"/"=false".
//
// The mount FD is donated by default (gVisor's default: runsc donates it
// with directfs), so that devices open on the client's host fast path. A
// donated mount FD lets the client open whatever the host lets it open
// beneath it, so donation must never widen what the other flags allow:
// PlanDonation decides.

#ifndef GVISOR_TOOLS_DEVGOFER_OPTIONS_H_
#define GVISOR_TOOLS_DEVGOFER_OPTIONS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pkg/fsgofer/fsgofer.h"
#include "pkg/lisafs/server.h"
#include "tools/devgofer/sandbox.h"

namespace gvisor::devgofer {

// Options is a parsed command line.
struct Options {
  // root is the directory served (the mount path of every connection).
  std::string root = "/dev";
  // listen, if set, is the unix socket path to accept connections on.
  std::string listen;
  // fd, if >= 0, is an inherited connected socket to serve instead.
  int fd = -1;
  // ready_fd, if >= 0, is an inherited FD (a pipe's write end) that gets
  // "ready\n" and is closed once the gofer serves (see pkg/readyfd).
  int ready_fd = -1;
  // readonly makes every connection read-only.
  bool readonly = false;
  // donate_mount_fd is --donate_mount_fd or --nodonate_mount_fd as given;
  // unset, PlanDonation picks the default.
  std::optional<bool> donate_mount_fd;
  // backend holds --char_devices, --host_fifo, --host_uds, and the
  // donation PlanDonation decided (donate_mount_fd).
  fsgofer::Options backend;
  // donation_note, if not empty, says why the mount FD is not donated by
  // default, for the start-up log.
  std::string donation_note;
  // server holds --workers, --max_fdids_per_connection, --fd_reserve,
  // --fd_reserve_per_connection, --max_channel_threads and
  // --shutdown_grace.
  lisafs::ServerOptions server;
  // max_tree_depth (--max_tree_depth, default 4096) is each connection's
  // lisafs::ConnectionOptions::max_tree_depth.
  uint32_t max_tree_depth = lisafs::ConnectionOptions().max_tree_depth;
  // verbosity is glog's --v.
  int verbosity = 0;

  // sandbox (--sandbox, on by default; --nosandbox turns it off) confines
  // the gofer once it is set up: sandbox.h.
  bool sandbox = true;
  // seccomp_action (--seccomp_action=errno|kill|log, default errno) is what
  // a syscall outside the allowlist does.
  SeccompAction seccomp_action = SeccompAction::kErrno;
  // selftest (--sandbox_selftest=PROBE, for tests, not in the usage): once
  // set up (and sandboxed unless --nosandbox), make the probe's syscall,
  // print "devgofer: sandbox_selftest PROBE: RESULT" and exit 0.
  std::optional<SelftestProbe> selftest;
};

// kUsage is the one-paragraph usage text.
extern const char kUsage[];

// Donation is the decision on donating the mount FD.
struct Donation {
  // donate says whether Mount donates the mount point's host FD.
  bool donate = false;
  // why_not, when donate is false by default (not by --nodonate_mount_fd),
  // says why.
  std::string why_not;
};

// PlanDonation decides, from the parsed flags (o.donate_mount_fd,
// o.readonly, o.backend), whether the mount FD is donated. It is the one
// place that knows what a donated mount FD would widen: the client opens
// character devices and regular files through it itself
// (pkg/devutil/devutil.h), so with --readonly (writes) or
// --char_devices=deny (devices) it would bypass the flag. With either, the
// default is no donation (why_not says so) and an explicit
// --donate_mount_fd is refused: INVALID_ARGUMENT with a message that says
// why. Any later restriction of what may be opened (an allowlist) belongs
// here too.
absl::StatusOr<Donation> PlanDonation(const Options& o);

// ParseOptions parses argv[1..]. Returns INVALID_ARGUMENT (EINVAL to
// syserr::ToErrno), with a message for the user that names the
// flag, for an unknown flag, a bad value, a missing value, when not
// exactly one of --listen and --fd is given, when --ready_fd is --fd, or
// when PlanDonation refuses --donate_mount_fd. backend.donate_mount_fd and
// donation_note hold PlanDonation's decision.
absl::StatusOr<Options> ParseOptions(const std::vector<std::string>& args);

}  // namespace gvisor::devgofer

#endif  // GVISOR_TOOLS_DEVGOFER_OPTIONS_H_
