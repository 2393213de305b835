#include "tools/devgofer/options.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/devscope/allowlist.h"
#include "pkg/devscope/cdi.h"
#include "pkg/devscope/oci.h"
#include "pkg/spin/spin.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "tools/cli/cli.h"

namespace gvisor::devgofer {

namespace {

// FlagDoc is one flag of the usage.
struct FlagDoc {
  // spelling is how the flag is written, with its value ("--root=DIR").
  std::string spelling;
  // def is its default ("" for none).
  std::string def;
  // text says what it does.
  std::string text;
};

// FlagSection is a heading and its flags.
struct FlagSection {
  std::string heading;
  std::vector<FlagDoc> flags;
};

std::string Count(size_t n) { return absl::StrCat(n); }

std::vector<FlagSection> FlagSections() {
  const Options d;
  const lisafs::ServerOptions s;
  return {
      {"What it serves, and where",
       {
           {"--root=DIR", d.root,
            "the directory served (the mount point of every connection)"},
           {"--listen=PATH", "",
            "serve every connection accepted on the unix socket PATH "
            "(created 0600, removed on exit); a stale socket left by a "
            "gofer that was killed is replaced, a live one or anything "
            "that is not a socket is refused"},
           {"--fd=N", "",
            "serve the one connected unix socket inherited as FD N (runsc's "
            "--dev-io-fd) and exit when that connection ends"},
           {"--ready_fd=M", "",
            "write \"ready\\n\" to the inherited FD M (a pipe's write end) "
            "and close it once serving"},
           {"--[no]readonly", "false",
            "make every connection read-only (EROFS for writes and "
            "changes to the tree)"},
           {"--[no]donate_mount_fd", "true",
            "donate the mount point's host FD, so that the client opens "
            "devices itself (the host fast path); off by default with "
            "--readonly, --char_devices=deny or a scope without "
            "--private_dir, whose limits it would bypass, and refused "
            "there"},
           {"--char_devices=passthrough|deny", "passthrough",
            "whether character devices may be opened"},
           {"--host_fifo=none|open", "none",
            "whether named pipes of the host may be opened"},
           {"--host_uds=none|open|create|all", "none",
            "whether host unix sockets may be connected to (open), bound "
            "(create), or both"},
       }},
      {"Scope (without any of these, every file below --root is served)",
       {
           {"--allow=RULE", "",
            "repeatable: serve only what the rules allow, a path or glob "
            "below --root (nvidiactl, nvidia[0-9]*, nvidia-caps/*) or a "
            "device number ('c 195:*'); the rest is absent"},
           {"--cdi_spec=FILE", "",
            "repeatable: a CDI spec (JSON or YAML) whose --cdi_device "
            "devices to serve"},
           {"--cdi_device=VENDOR/CLASS=NAME", "",
            "repeatable: a device of a --cdi_spec, e.g. nvidia.com/gpu=0"},
           {"--oci_spec=FILE", "",
            "an OCI runtime spec (config.json) whose linux.devices to serve"},
           {"--[no]private_dir", "false",
            "serve the scope from a private directory that holds only the "
            "allowed nodes, so that the mount FD can be donated (needs "
            "CAP_SYS_ADMIN)"},
       }},
      {"Sandbox",
       {
           {"--[no]sandbox", "true",
            "once set up, confine the gofer: capabilities dropped, "
            "no_new_privs, a seccomp allowlist"},
           {"--seccomp_action=errno|kill|log", "errno",
            "what a syscall outside the allowlist does: fail with EPERM, "
            "kill the gofer, or be logged by the kernel and allowed"},
       }},
      {"Bounds (DURATION needs a unit: 5s, 500ms)",
       {
           {"--workers=N", "0",
            absl::StrCat("threads serving the connections; 0 is twice the "
                         "CPUs, at least ",
                         lisafs::ServerOptions::kMinDefaultWorkers,
                         " and at most ",
                         lisafs::ServerOptions::kMaxDefaultWorkers)},
           {"--max_fdids_per_connection=N", Count(s.max_fdids_per_connection),
            "the most FDIDs one connection holds (EMFILE past it)"},
           {"--fd_reserve=N", Count(s.fd_reserve),
            "host FDs kept for new and small connections"},
           {"--fd_reserve_per_connection=N", Count(s.fd_reserve_per_connection),
            "FDIDs a connection may still reach within the reserve"},
           {"--max_channel_threads=N", Count(s.max_channel_threads),
            "channel threads of all connections together"},
           {"--shutdown_grace=DURATION", absl::FormatDuration(s.shutdown_grace),
            "how long shutdown waits for requests stuck in the kernel"},
           {"--max_tree_depth=N", Count(d.max_tree_depth),
            "the deepest path a connection may walk to"},
       }},
      {"Logging (glog)",
       {
           {"--v=N", Count(d.verbosity),
            "verbose logging up to level N (1: every connection)"},
           {"--[no]logtostderr", "true, false with --log_dir",
            "log to stderr (a service manager's journal takes it from "
            "there)"},
           {"--log_dir=DIR", "",
            "write log files (devgofer.INFO, .WARNING, .ERROR) into the "
            "existing directory DIR instead of stderr; errors still go to "
            "stderr too"},
       }},
      {"Other",
       {
           {"-h, --help", "", "print this and exit"},
           {"--version", "",
            "print the version and the gVisor wire compatibility, and exit"},
       }},
  };
}

}  // namespace

std::string Usage() {
  std::string out =
      "usage: devgofer (--listen=PATH | --fd=N) [FLAGS]\n"
      "\n";
  absl::StrAppend(
      &out,
      cli::Wrap(
          "Serves a host directory (default /dev) over LISAFS, as runsc's dev "
          "gofer does: on every connection accepted on the unix socket PATH, "
          "or "
          "on the one connected socket inherited as FD N. Started by systemd "
          "with socket activation (LISTEN_FDS), it serves the listening socket "
          "it inherited instead of binding --listen; with $NOTIFY_SOCKET "
          "(Type=notify) it sends READY=1 once serving and STOPPING=1 when "
          "stopping. SIGTERM or SIGINT stop it "
          "(exit 0); a usage error exits 2, any other failure 1.",
          0, 78));
  for (const FlagSection& sec : FlagSections()) {
    absl::StrAppend(&out, "\n", sec.heading, ":\n");
    for (const FlagDoc& f : sec.flags) {
      absl::StrAppend(
          &out, "  ", f.spelling,
          f.def.empty() ? "" : absl::StrCat(" (default ", f.def, ")"), "\n");
      absl::StrAppend(&out, cli::Wrap(f.text, 6, 78));
    }
  }
  return out;
}

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

// Suggest returns " (did you mean --X?)" for the known name closest to
// name, if it is within two edits (or one for short names), else "".
std::string Suggest(absl::string_view name,
                    const std::vector<std::string>& known) {
  const size_t most = name.size() <= 4 ? 1 : 2;
  std::string best;
  size_t best_d = most + 1;
  for (const std::string& k : known) {
    size_t d = cli::EditDistance(name, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  if (best.empty()) return "";
  return absl::StrCat(" (did you mean --", best, "?)");
}

// ParseDurationFlag parses a DURATION flag's value into *out: a duration
// with a unit ("5s", "500ms"), or "0".
absl::Status ParseDurationFlag(absl::string_view flag, absl::string_view v,
                               absl::Duration* out) {
  double number;
  if (v != "0" && absl::SimpleAtod(v, &number)) {
    return Bad(absl::StrCat("--", flag, "=", v,
                            ": a duration needs a unit, e.g. ", v, "s, ",
                            "500ms"));
  }
  if (!absl::ParseDuration(v, out) || *out < absl::ZeroDuration()) {
    return Bad(absl::StrCat("--", flag, "=", v,
                            ": not a duration; give a number with a unit, "
                            "e.g. 5s, 500ms, 1m"));
  }
  return absl::OkStatus();
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

absl::StatusOr<Options> ParseOptions(const std::vector<std::string>& args,
                                     bool socket_activated) {
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
         return ParseDurationFlag("shutdown_grace", v,
                                  &o.server.shutdown_grace);
       }},
      {"spin",
       [&](absl::string_view v) {
         RETURN_IF_ERROR(ParseDurationFlag("spin", v, &o.server.spin));
         if (o.server.spin > spin::kMaxMax) {
           return Bad(absl::StrCat("--spin=", v, ": at most ",
                                   absl::FormatDuration(spin::kMaxMax),
                                   "; 0 turns the spin off"));
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
      {"log_dir",
       [&](absl::string_view v) {
         if (v.empty()) return Bad("--log_dir: empty path");
         o.log_dir = std::string(v);
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
      {"logtostderr", [&](bool b) { o.logtostderr = b; }},
  };
  auto known = [&] {
    std::vector<std::string> names = {"help", "version"};
    for (const auto& [n, f] : value_flags) names.push_back(n);
    for (const auto& [n, f] : bool_flags) {
      names.push_back(n);
      names.push_back("no" + n);
    }
    return names;
  };

  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view a = args[i];
    if (a == "-h") {
      o.help = true;
      return o;
    }
    if (a.substr(0, 2) != "--" || a.size() == 2) {
      return Bad(absl::StrCat("unexpected argument \"", a, "\"",
                              a.substr(0, 1) == "-" && a.size() > 1
                                  ? " (flags start with --)"
                                  : ""));
    }
    a.remove_prefix(2);
    absl::string_view name = a, value;
    bool has_value = false;
    if (size_t eq = a.find('='); eq != absl::string_view::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    if (name == "help" || name == "version") {
      if (has_value) return Bad(absl::StrCat("--", name, " takes no value"));
      (name == "help" ? o.help : o.version) = true;
      return o;
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
      return Bad(absl::StrCat("unknown flag --", name, Suggest(name, known())));
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return Bad(absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    if (absl::Status s = it->second(value); !s.ok()) return s;
  }
  if (socket_activated) {
    if (have_fd) {
      return Bad(
          "--fd: the gofer was given a listening socket by socket activation "
          "($LISTEN_FDS); it serves that one, drop --fd");
    }
  } else if (o.listen.empty() == !have_fd) {
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
