#include "tools/devgofer/options.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/devscope/allowlist.h"
#include "pkg/devscope/cdi.h"
#include "pkg/devscope/oci.h"
#include "pkg/spin/spin.h"
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
    "[--max_tree_depth=N] [--spin=DURATION] [--allow=RULE]... "
    "[--cdi_spec=FILE]... "
    "[--cdi_device=VENDOR/CLASS=NAME]... [--oci_spec=FILE] [--private_dir]\n"
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
    "--shutdown_grace (5s) and --max_tree_depth (4096) bound the server. "
    "--spin (40us; 0 turns it off, at most 10ms) bounds how long a server "
    "thread polls for the next request before it sleeps. "
    "Each --allow adds one rule (a path or glob below DIR such as "
    "nvidia[0-9]* or nvidia-caps/*, or a device number such as 'c 195:*'); "
    "with any, only what the rules allow is served and the rest is absent. "
    "--cdi_spec and --cdi_device (a CDI spec's devices, e.g. "
    "nvidia.com/gpu=0) and --oci_spec (a config.json's linux.devices) "
    "serve only those devices' nodes; --private_dir serves them from a "
    "private directory that holds only them (needs CAP_SYS_ADMIN).";

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

// AbsoluteRoot is root, made absolute against the working directory.
std::string AbsoluteRoot(const std::string& root) {
  if (!root.empty() && root[0] == '/') return root;
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) return root;
  return absl::StrCat(cwd, "/", root);
}

// ScopeRules reads --cdi_spec, --cdi_device and --oci_spec into
// o->scope_rules.
absl::Status ScopeRules(Options* o) {
  if (o->cdi_specs.empty() != o->cdi_devices.empty()) {
    return Bad(o->cdi_specs.empty()
                   ? "--cdi_device needs --cdi_spec"
                   : "--cdi_spec needs --cdi_device=vendor.com/class=name");
  }
  std::vector<std::string> rules;
  if (!o->cdi_specs.empty()) {
    std::vector<devscope::CdiSpec> specs;
    for (const std::string& f : o->cdi_specs) {
      absl::StatusOr<devscope::CdiSpec> s = devscope::LoadCdiSpec(f);
      if (!s.ok())
        return Bad(absl::StrCat("--cdi_spec: ", s.status().message()));
      specs.push_back(std::move(*s));
    }
    absl::StatusOr<std::vector<std::string>> r =
        devscope::CdiRules(specs, o->cdi_devices, AbsoluteRoot(o->root));
    if (!r.ok())
      return Bad(absl::StrCat("--cdi_device: ", r.status().message()));
    rules = std::move(*r);
  }
  if (!o->oci_spec.empty()) {
    absl::StatusOr<std::vector<devscope::OciDevice>> d =
        devscope::LoadOciDevices(o->oci_spec);
    if (!d.ok()) return Bad(absl::StrCat("--oci_spec: ", d.status().message()));
    absl::StatusOr<std::vector<std::string>> r =
        devscope::OciRules(*d, o->oci_spec);
    if (!r.ok()) return Bad(absl::StrCat("--oci_spec: ", r.status().message()));
    for (std::string& rule : *r) {
      if (std::find(rules.begin(), rules.end(), rule) == rules.end()) {
        rules.push_back(std::move(rule));
      }
    }
  }
  // ParseOptions makes them an allowlist, with the --allow rules.
  o->scope_rules = std::move(rules);
  return absl::OkStatus();
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
  } else if (o.scope != nullptr && !o.private_dir) {
    widens =
        "the scope of --allow, --cdi_spec or --oci_spec (the client would "
        "reach every file of --root through it; --private_dir serves a "
        "private directory that holds only the allowed files and can be "
        "donated)";
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
      {"spin",
       [&](absl::string_view v) {
         if (!absl::ParseDuration(v, &o.server.spin) ||
             o.server.spin < absl::ZeroDuration() ||
             o.server.spin > spin::kMaxMax) {
           return Bad(absl::StrCat("--spin: \"", v,
                                   "\" is not a duration from 0 to 10ms "
                                   "such as 40us"));
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
      {"allow",
       [&](absl::string_view v) {
         o.allow.emplace_back(v);
         return absl::OkStatus();
       }},
      {"cdi_spec",
       [&](absl::string_view v) {
         if (v.empty()) return Bad("--cdi_spec: empty path");
         o.cdi_specs.emplace_back(v);
         return absl::OkStatus();
       }},
      {"cdi_device",
       [&](absl::string_view v) {
         std::string kind, name;
         if (absl::Status s = devscope::ParseQualifiedName(v, &kind, &name);
             !s.ok()) {
           return Bad(absl::StrCat("--cdi_device: ", s.message()));
         }
         o.cdi_devices.emplace_back(v);
         return absl::OkStatus();
       }},
      {"oci_spec",
       [&](absl::string_view v) {
         if (v.empty()) return Bad("--oci_spec: empty path");
         o.oci_spec = std::string(v);
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
      {"private_dir", [&](bool b) { o.private_dir = b; }},
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
  if (absl::Status s = ScopeRules(&o); !s.ok()) return s;
  // The scope: the --allow rules, then the CDI and OCI ones.
  std::vector<std::string> rules = o.allow;
  for (const std::string& r : o.scope_rules) {
    if (std::find(rules.begin(), rules.end(), r) == rules.end()) {
      rules.push_back(r);
    }
  }
  if (!rules.empty()) {
    absl::StatusOr<devscope::Allowlist> a = devscope::Allowlist::Parse(rules);
    if (!a.ok()) {
      return Bad(absl::StrCat(o.scope_rules.empty()
                                  ? "--allow: "
                                  : "--allow, --cdi_spec, --oci_spec: ",
                              a.status().message()));
    }
    o.scope = std::make_shared<const devscope::Allowlist>(*std::move(a));
  }
  if (o.private_dir && o.scope == nullptr) {
    return Bad(
        "--private_dir needs rules: --allow, --cdi_spec with --cdi_device, "
        "or --oci_spec");
  }
  // A private directory holds only what the scope allows, so the served
  // tree needs no filter; otherwise the backend filters every RPC.
  if (!o.private_dir) o.backend.allowlist = o.scope;
  absl::StatusOr<Donation> donation = PlanDonation(o);
  if (!donation.ok()) return donation.status();
  o.backend.donate_mount_fd = donation->donate;
  o.donation_note = std::move(donation->why_not);
  return o;
}

}  // namespace gvisor::devgofer
