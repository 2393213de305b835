// devgofer's command line: what it serves and how.
//
//   devgofer (--listen=PATH | --fd=N) [FLAGS]
//
// Usage() lists every flag with its default and what it does; `devgofer
// --help` (or -h) prints it. A usage error (an unknown or mistyped flag, a
// bad value) is reported in one line that ends in "see devgofer --help".
//
// --allow (repeatable, one rule per flag: a value is never split, so a
// glob may hold ',') scopes the gofer to the files its rules allow
// (pkg/devscope/allowlist.h): paths and globs relative to --root
// ("nvidiactl", "nvidia[0-9]*", "nvidia-caps/*") or device numbers
// ("c 195:*"). --cdi_spec with --cdi_device, and --oci_spec, add the rules
// of the devices they name. Without any, every file is served.
//
// --workers, --max_fdids_per_connection, --fd_reserve,
// --fd_reserve_per_connection, --max_channel_threads, --shutdown_grace and
// --max_tree_depth set the server's bounds (lisafs::ServerOptions and
// ConnectionOptions, where each is documented); --workers=0 picks the
// default. A DURATION needs a unit: "5s", "500ms" ("10" is refused, saying
// so).
//
// --cdi_spec, --cdi_device and --oci_spec scope the gofer to devices named
// by the files orchestrators write (pkg/devscope/cdi.h, oci.h): the files
// are read once, here, and give Options::scope_rules.
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

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pkg/devscope/allowlist.h"
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
  // backend holds --char_devices, --host_fifo, --host_uds, the donation
  // PlanDonation decided (donate_mount_fd), and the allowlist (scope).
  fsgofer::Options backend;
  // donation_note, if not empty, says why the mount FD is not donated by
  // default, for the start-up log.
  std::string donation_note;
  // allow holds the --allow rules in order (empty: no scoping by flags).
  std::vector<std::string> allow;
  // server holds --workers, --max_fdids_per_connection, --fd_reserve,
  // --fd_reserve_per_connection, --max_channel_threads, --shutdown_grace
  // and --spin (ServerOptions::spin: 0 turns the spin before blocking off,
  // at most spin::kMaxMax).
  lisafs::ServerOptions server;
  // max_tree_depth (--max_tree_depth, default 4096) is each connection's
  // lisafs::ConnectionOptions::max_tree_depth.
  uint32_t max_tree_depth = lisafs::ConnectionOptions().max_tree_depth;
  // verbosity is glog's --v.
  int verbosity = 0;
  // logtostderr is glog's --logtostderr as given; unset, it is true unless
  // --log_dir is given. log_dir is glog's --log_dir (empty: none).
  std::optional<bool> logtostderr;
  std::string log_dir;
  // help (--help, -h) and version (--version): print the usage or the
  // version and exit 0. When either is set, ParseOptions returned as soon
  // as it met the flag, and nothing else in Options is meaningful.
  bool help = false;
  bool version = false;

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

  // cdi_specs (--cdi_spec=FILE, repeatable) are CDI spec files (JSON or
  // YAML), cdi_devices (--cdi_device=vendor.com/class=name, repeatable) the
  // fully qualified devices of them to serve (pkg/devscope/cdi.h). Either
  // needs the other.
  std::vector<std::string> cdi_specs;
  std::vector<std::string> cdi_devices;
  // oci_spec (--oci_spec=FILE) is an OCI runtime spec (config.json) whose
  // linux.devices to serve (pkg/devscope/oci.h).
  std::string oci_spec;
  // scope_rules are the allowlist rules (pkg/devscope/allowlist.h) that
  // the CDI devices (in --cdi_device order, relative to --root), then the
  // OCI devices (relative to the container's /dev) give, without
  // duplicates. Empty when none of the three flags is given.
  std::vector<std::string> scope_rules;
  // private_dir (--private_dir, off by default; needs scope_rules) serves
  // a private view of --root that holds only the files scope_rules allow
  // (private_dir.h MakePrivateDir), made at start: what a donated mount FD
  // reaches is then no more than the rules allow.
  bool private_dir = false;
  // scope is the allowlist of the --allow rules, then scope_rules (without
  // duplicates); null when there are none (every file is served). Without
  // --private_dir it is also backend.allowlist (fsgofer filters every RPC);
  // with it, the private directory holds only what it allows.
  std::shared_ptr<const devscope::Allowlist> scope;
};

// Usage returns the text --help prints: a synopsis, then every flag, its
// value, its default and what it does (the defaults are Options' own).
std::string Usage();

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

// ParseOptions parses argv[1..]. --help, -h and --version end the parse
// where they stand and set help or version. Returns INVALID_ARGUMENT (EINVAL to
// syserr::ToErrno), with a message for the user that names the
// flag, for an unknown flag (naming the closest known flag when one is near:
// "did you mean --listen?"), a bad value (a DURATION without a unit says a
// unit is needed) (an --allow rule the allowlist
// refuses: the message names it), a missing value, when not exactly one of
// --listen and --fd is given, when --ready_fd is --fd, when a --cdi_spec
// or --oci_spec file cannot be read, does not parse, or does not give rules
// (pkg/devscope/cdi.h CdiRules, oci.h OciRules: an unknown device, a node
// outside --root, ...), or when PlanDonation refuses --donate_mount_fd.
// backend.donate_mount_fd and donation_note hold PlanDonation's decision.
//
// socket_activated says that the process inherited its listening socket
// (pkg/sdnotify TakeListenFds): then --listen is optional (it serves the
// inherited socket either way) and --fd is refused.
absl::StatusOr<Options> ParseOptions(const std::vector<std::string>& args,
                                     bool socket_activated = false);

}  // namespace gvisor::devgofer

#endif  // GVISOR_TOOLS_DEVGOFER_OPTIONS_H_
