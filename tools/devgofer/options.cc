#include "tools/devgofer/options.h"

#include <errno.h>

#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::devgofer {

const char kUsage[] =
    "usage: devgofer [--root=DIR] (--listen=PATH | --fd=N) "
    "[--[no]donate_mount_fd] [--readonly] [--char_devices=passthrough|deny] "
    "[--host_fifo=none|open] [--host_uds=none|open|create|all] "
    "[--ready_fd=M] [--nosandbox] [--seccomp_action=errno|kill|log] "
    "[--v=N] [--workers=N] [--max_fdids_per_connection=N] "
    "[--fd_reserve=N] [--fd_reserve_per_connection=N] "
    "[--max_channel_threads=N] [--shutdown_grace=DURATION] "
    "[--max_tree_depth=N]\n"
    "Serves DIR (default /dev) over LISAFS: on every connection accepted on "
    "the unix socket PATH (created 0600, removed on exit), or on the one "
    "inherited connected socket N. The mount FD is donated (the client's "
    "host fast path) unless --nodonate_mount_fd, --readonly or "
    "--char_devices=deny. With --ready_fd, writes \"ready\\n\" to "
    "the inherited FD M and closes it once it serves. Once set up it confines "
    "itself (capabilities, no_new_privs, a seccomp allowlist) unless "
    "--nosandbox; a syscall outside the list fails with EPERM, or with "
    "--seccomp_action=kill kills the gofer, or with =log is logged by the "
    "kernel and allowed. --workers (0: twice the CPUs, 4..32), "
    "--max_fdids_per_connection (8192), --fd_reserve (256), "
    "--fd_reserve_per_connection (16), --max_channel_threads (4096), "
    "--shutdown_grace (5s) and --max_tree_depth (4096) bound the server.";

namespace {

// Bad is INVALID_ARGUMENT (EINVAL to syserr::ToErrno) with msg alone, as
// it is shown to the user as is.
absl::Status Bad(absl::string_view msg) {
  return absl::InvalidArgumentError(msg);
}

absl::StatusOr<bool> ParseBool(absl::string_view flag, absl::string_view v) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  return Bad(absl::StrCat("--", flag, ": \"", v, "\" is not true or false"));
}

// SizeFlag returns a setter that parses a count into *out.
std::function<absl::Status(absl::string_view)> SizeFlag(const char* flag,
                                                        size_t* out) {
  return [flag, out](absl::string_view v) {
    if (!absl::SimpleAtoi(v, out)) {
      return Bad(absl::StrCat("--", flag, ": \"", v, "\" is not a count"));
    }
    return absl::OkStatus();
  };
}

}  // namespace

absl::StatusOr<Donation> PlanDonation(const Options& o) {
  // What the donated FD would let the client do that a flag forbids.
  std::string widens;
  if (o.readonly) {
    widens =
        "--readonly (the client would open files for writing, and change "
        "the tree, through it)";
  } else if (o.backend.char_devices == fsgofer::CharDevicePolicy::kDeny) {
    widens =
        "--char_devices=deny (the client would open character devices "
        "through it)";
  }
  if (widens.empty()) return Donation{o.donate_mount_fd.value_or(true), ""};
  if (o.donate_mount_fd.value_or(false)) {
    return Bad(absl::StrCat(
        "--donate_mount_fd: a donated mount FD would bypass ", widens,
        "; drop --donate_mount_fd (devices then open over RPCs)"));
  }
  if (o.donate_mount_fd.has_value()) return Donation{false, ""};
  return Donation{
      false, absl::StrCat("mount FD not donated: it would bypass ", widens)};
}

absl::StatusOr<Options> ParseOptions(const std::vector<std::string>& args) {
  Options o;
  o.backend.char_devices = fsgofer::CharDevicePolicy::kPassthrough;
  bool have_fd = false;

  using Setter = std::function<absl::Status(absl::string_view)>;
  const std::map<std::string, Setter> value_flags = {
      {"root",
       [&](absl::string_view v) {
         if (v.empty()) return Bad("--root: empty path");
         o.root = std::string(v);
         return absl::OkStatus();
       }},
      {"listen",
       [&](absl::string_view v) {
         if (v.empty()) return Bad("--listen: empty path");
         o.listen = std::string(v);
         return absl::OkStatus();
       }},
      {"fd",
       [&](absl::string_view v) {
         if (!absl::SimpleAtoi(v, &o.fd) || o.fd < 0) {
           return Bad(absl::StrCat("--fd: \"", v, "\" is not an FD number"));
         }
         have_fd = true;
         return absl::OkStatus();
       }},
      {"ready_fd",
       [&](absl::string_view v) {
         if (!absl::SimpleAtoi(v, &o.ready_fd) || o.ready_fd < 0) {
           return Bad(
               absl::StrCat("--ready_fd: \"", v, "\" is not an FD number"));
         }
         return absl::OkStatus();
       }},
      {"char_devices",
       [&](absl::string_view v) {
         absl::StatusOr<fsgofer::CharDevicePolicy> p =
             fsgofer::ParseCharDevicePolicy(v);
         if (!p.ok()) {
           return Bad(absl::StrCat("--char_devices: \"", v,
                                   "\" is neither passthrough nor deny"));
         }
         o.backend.char_devices = *p;
         return absl::OkStatus();
       }},
      {"host_fifo",
       [&](absl::string_view v) {
         if (v != "none" && v != "open") {
           return Bad(absl::StrCat("--host_fifo: \"", v,
                                   "\" is neither none nor open"));
         }
         o.backend.host_fifo_open = v == "open";
         return absl::OkStatus();
       }},
      {"host_uds",
       [&](absl::string_view v) {
         if (v != "none" && v != "open" && v != "create" && v != "all") {
           return Bad(absl::StrCat("--host_uds: \"", v,
                                   "\" is not none, open, create or all"));
         }
         o.backend.host_uds_open = v == "open" || v == "all";
         o.backend.host_uds_create = v == "create" || v == "all";
         return absl::OkStatus();
       }},
      {"seccomp_action",
       [&](absl::string_view v) {
         absl::StatusOr<SeccompAction> a = ParseSeccompAction(v);
         if (!a.ok()) {
           return Bad(absl::StrCat("--seccomp_action: ", a.status().message()));
         }
         o.seccomp_action = *a;
         return absl::OkStatus();
       }},
      {"sandbox_selftest",
       [&](absl::string_view v) {
         absl::StatusOr<SelftestProbe> p = ParseSelftestProbe(v);
         if (!p.ok()) {
           return Bad(
               absl::StrCat("--sandbox_selftest: ", p.status().message()));
         }
         o.selftest = *p;
         return absl::OkStatus();
       }},
      {"workers", SizeFlag("workers", &o.server.workers)},
      {"max_fdids_per_connection",
       SizeFlag("max_fdids_per_connection",
                &o.server.max_fdids_per_connection)},
      {"fd_reserve", SizeFlag("fd_reserve", &o.server.fd_reserve)},
      {"max_channel_threads",
       SizeFlag("max_channel_threads", &o.server.max_channel_threads)},
      {"fd_reserve_per_connection",
       SizeFlag("fd_reserve_per_connection",
                &o.server.fd_reserve_per_connection)},
      {"shutdown_grace",
       [&](absl::string_view v) {
         if (!absl::ParseDuration(v, &o.server.shutdown_grace) ||
             o.server.shutdown_grace < absl::ZeroDuration()) {
           return Bad(absl::StrCat("--shutdown_grace: \"", v,
                                   "\" is not a duration such as 5s"));
         }
         return absl::OkStatus();
       }},
      {"max_tree_depth",
       [&](absl::string_view v) {
         if (!absl::SimpleAtoi(v, &o.max_tree_depth) || o.max_tree_depth == 0) {
           return Bad(absl::StrCat("--max_tree_depth: \"", v,
                                   "\" is not a positive count"));
         }
         return absl::OkStatus();
       }},
      {"v",
       [&](absl::string_view v) {
         if (!absl::SimpleAtoi(v, &o.verbosity)) {
           return Bad(absl::StrCat("--v: \"", v, "\" is not a number"));
         }
         return absl::OkStatus();
       }},
  };
  const std::map<std::string, std::function<void(bool)>> bool_flags = {
      {"donate_mount_fd", [&](bool b) { o.donate_mount_fd = b; }},
      {"readonly", [&](bool b) { o.readonly = b; }},
      {"sandbox", [&](bool b) { o.sandbox = b; }},
  };

  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view a = args[i];
    if (a.substr(0, 2) != "--" || a.size() == 2) {
      return Bad(absl::StrCat("unexpected argument \"", a, "\""));
    }
    a.remove_prefix(2);
    absl::string_view name = a, value;
    bool has_value = false;
    if (size_t eq = a.find('='); eq != absl::string_view::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    if (auto it = bool_flags.find(std::string(name)); it != bool_flags.end()) {
      if (!has_value) {
        it->second(true);
        continue;
      }
      absl::StatusOr<bool> b = ParseBool(name, value);
      if (!b.ok()) return b.status();
      it->second(*b);
      continue;
    }
    if (name.substr(0, 2) == "no" && !has_value) {
      if (auto it = bool_flags.find(std::string(name.substr(2)));
          it != bool_flags.end()) {
        it->second(false);
        continue;
      }
    }
    auto it = value_flags.find(std::string(name));
    if (it == value_flags.end()) {
      return Bad(absl::StrCat("unknown flag --", name));
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return Bad(absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    if (absl::Status s = it->second(value); !s.ok()) return s;
  }
  if (o.listen.empty() == !have_fd) {
    return Bad("exactly one of --listen and --fd is required");
  }
  if (o.ready_fd >= 0 && o.ready_fd == o.fd) {
    return Bad("--ready_fd and --fd name the same FD");
  }
  absl::StatusOr<Donation> donation = PlanDonation(o);
  if (!donation.ok()) return donation.status();
  o.backend.donate_mount_fd = donation->donate;
  o.donation_note = std::move(donation->why_not);
  return o;
}

}  // namespace gvisor::devgofer
