// devctl: command-line client of the runsc_shim server.
//
//   devctl [--server=unix:PATH] [--json] [--timeout=10s] COMMAND [ARGS]
//
// The commands, their arguments and flags are in devctl_cli.cc, which also
// writes the help (devctl --help, devctl help COMMAND) and the bash
// completion script. Output is a readable table, or one JSON object with
// --json (watch: one line per event, a JSON object each with --json).
// Exit status: 0 on success, 1 when the server answers with an error (or
// cannot be reached, is not a runsc_shim, or ends a watch), 2 for a usage
// error (tools/cli); errors go to stderr, one line each.

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "runsc_shim/address.h"
#include "runsc_shim/devctl_cli.h"
#include "runsc_shim/health.grpc.pb.h"
#include "runsc_shim/server_probe.h"
#include "runsc_shim/shim.grpc.pb.h"
#include "tools/cli/cli.h"
#include "tools/version/version.h"

ABSL_FLAG(std::string, server, "",
          "the shim's address: unix:PATH, unix-abstract:NAME or "
          "tcp:HOST:PORT");
ABSL_FLAG(bool, json, false, "print the response as JSON");
// Durations are taken as strings: an absl::Duration flag does not build
// under ThreadSanitizer with -Werror (its seqlock uses a fence).
ABSL_FLAG(std::string, timeout, "10s",
          "deadline of the call, a number with a unit: 500ms, 10s, 1m");
ABSL_FLAG(bool, open, false,
          "open the device (non-blocking, closed at once) rather than only "
          "stat it");
ABSL_FLAG(std::string, mode, "r",
          "with --open: open the device for reading (r), writing (w) or "
          "both (rw)");
ABSL_FLAG(bool, long, false,
          "describe every entry as ls -l does: type, mode, major:minor, "
          "name");
ABSL_FLAG(bool, managed, false,
          "have the shim run the container's gofer itself (no "
          "GOFER_SOCKET): a devgofer over a socket pair, confined to the "
          "devices --allow and --cdi_device name");
ABSL_FLAG(std::string, root, "/dev",
          "with --managed: the directory the gofer serves");
ABSL_FLAG(bool, readonly, false, "with --managed: serve the devices read-only");
ABSL_FLAG(bool, restart, false,
          "with --managed: start the gofer again, with backoff, when it "
          "exits while the container is attached");
ABSL_FLAG(int64_t, count, 0,
          "exit after this many events (0: until interrupted or the server "
          "ends the stream)");

namespace gvisor::shim {
namespace {

namespace v1 = ::gvisor::devutil::shim::v1;
namespace health = ::grpc::health::v1;
using cli::kExitFailure;
using cli::kExitUsage;

constexpr char kProgram[] = "devctl";
constexpr char kHint[] = "Run 'devctl --help' for usage.";

// The repeatable flags of attach --managed, in the order given.
std::vector<std::string>& AllowRules() {
  static std::vector<std::string>* const v = new std::vector<std::string>;
  return *v;
}
std::vector<std::string>& CdiSpecs() {
  static std::vector<std::string>* const v = new std::vector<std::string>;
  return *v;
}
std::vector<std::string>& CdiDevices() {
  static std::vector<std::string>* const v = new std::vector<std::string>;
  return *v;
}

// Repeated returns the spec of a flag that may be given more than once,
// each value appended to *out.
cli::FlagSpec Repeated(std::string name, std::string value_name,
                       std::string help, std::vector<std::string>* out) {
  cli::FlagSpec f;
  f.name = std::move(name);
  f.value_name = std::move(value_name);
  f.default_text = "none";
  f.help = std::move(help);
  f.set = [out](absl::string_view v) {
    out->emplace_back(v);
    return absl::OkStatus();
  };
  return f;
}

// Flags returns the specs of every devctl flag.
std::vector<cli::FlagSpec> Flags() {
  return {
      cli::AbslFlag("server", "ADDRESS", 0,
                    absl::StrCat("$", devctl::kServerEnv, ", else ",
                                 "unix:$XDG_RUNTIME_DIR/runsc-shim.sock, "
                                 "else unix:/run/runsc-shim.sock")),
      cli::AbslFlag("json"),
      cli::AbslFlag("timeout", "DURATION"),
      cli::AbslFlag("open"),
      cli::AbslFlag("mode", "r|w|rw"),
      cli::AbslFlag("long", "", 'l'),
      cli::AbslFlag("count", "N"),
      cli::AbslFlag("managed"),
      cli::AbslFlag("root", "DIR"),
      Repeated("allow", "RULE",
               "with --managed: serve only what this rule allows (repeat "
               "for more): a path or glob relative to --root (null, "
               "nvidia[0-9]*, nvidia-caps/*) or a device number (\"c "
               "195:*\")",
               &AllowRules()),
      Repeated("cdi_spec", "FILE",
               "with --managed: a CDI spec file (JSON or YAML) that "
               "--cdi_device names devices of (repeatable); a relative path "
               "is made absolute here",
               &CdiSpecs()),
      Repeated("cdi_device", "VENDOR/CLASS=NAME",
               "with --managed: serve this CDI device's nodes (repeatable)",
               &CdiDevices()),
      cli::AbslFlag("readonly"),
      cli::AbslFlag("restart"),
  };
}

// CommandUsage reports a usage error of command c: the message, then its
// synopsis and where its help is.
int CommandUsage(const devctl::Command& c, absl::string_view why) {
  return cli::UsageError(kProgram, why,
                         absl::StrCat("usage: ", devctl::Synopsis(c),
                                      " (see 'devctl help ", c.name, "')"));
}

// OctalModes rewrites every "mode" member of the compact JSON json (a
// DeviceInfo's permission bits, which protobuf prints as a decimal number)
// as an octal string, "0666", as the tables print it. Strings are skipped,
// so a path that holds "mode": is left alone.
std::string OctalModes(absl::string_view json) {
  constexpr absl::string_view kKey = "\"mode\":";
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) {
        out.push_back(json[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (json.substr(i, kKey.size()) == kKey) {
      size_t end = i + kKey.size();
      uint32_t mode = 0;
      while (end < json.size() && json[end] >= '0' && json[end] <= '9') {
        mode = mode * 10 + static_cast<uint32_t>(json[end] - '0');
        ++end;
      }
      if (end > i + kKey.size()) {
        absl::StrAppend(&out, kKey, absl::StrFormat("\"%04o\"", mode));
        i = end - 1;
        continue;
      }
    }
    if (c == '"') in_string = true;
    out.push_back(c);
  }
  return out;
}

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  opts.always_print_enums_as_ints = false;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(m, &out, opts).ok()) {
    return "{}";
  }
  return out;
}

std::string StateName(v1::Container::State s) {
  switch (s) {
    case v1::Container::ATTACHED:
      return "attached";
    case v1::Container::DISCONNECTED:
      return "disconnected";
    default:
      return "unknown";
  }
}

std::string TimeOf(const google::protobuf::Timestamp& t) {
  absl::Time at =
      absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", at, absl::UTCTimeZone());
}

std::string TypeName(v1::FileType t) {
  switch (t) {
    case v1::CHAR_DEVICE:
      return "char device";
    case v1::BLOCK_DEVICE:
      return "block device";
    case v1::REGULAR:
      return "regular file";
    case v1::DIRECTORY:
      return "directory";
    case v1::FIFO:
      return "fifo";
    case v1::SOCKET:
      return "socket";
    case v1::SYMLINK:
      return "symlink";
    default:
      return "unknown";
  }
}

std::string ModeName(v1::AccessMode m) {
  switch (m) {
    case v1::WRITE:
      return "w";
    case v1::READ_WRITE:
      return "rw";
    default:
      return "r";
  }
}

// TypeChar returns the type as the first column of ls -l shows it.
std::string TypeChar(v1::FileType t) {
  switch (t) {
    case v1::CHAR_DEVICE:
      return "c";
    case v1::BLOCK_DEVICE:
      return "b";
    case v1::REGULAR:
      return "-";
    case v1::DIRECTORY:
      return "d";
    case v1::FIFO:
      return "p";
    case v1::SOCKET:
      return "s";
    case v1::SYMLINK:
      return "l";
    default:
      return "?";
  }
}

// Rdev returns "major:minor" for a device, "-" for anything else.
std::string Rdev(const v1::DeviceInfo& d) {
  return d.type() == v1::CHAR_DEVICE || d.type() == v1::BLOCK_DEVICE
             ? absl::StrCat(d.rdev_major(), ":", d.rdev_minor())
             : "-";
}

// ParseMode reads --mode; nullopt if it is none of r, w and rw.
std::optional<v1::AccessMode> ParseMode(absl::string_view mode) {
  if (mode == "r") return v1::READ;
  if (mode == "w") return v1::WRITE;
  if (mode == "rw") return v1::READ_WRITE;
  return std::nullopt;
}

// PrintTable prints rows (the first is the header) in aligned columns.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i + 1 == row.size()) {
        absl::StrAppend(&line, row[i]);
      } else {
        absl::StrAppend(
            &line,
            absl::StrFormat("%-*s  ", static_cast<int>(width[i]), row[i]));
      }
    }
    printf("%s\n", line.c_str());
  }
}

// PrintColumns prints names in columns down then across, as ls does,
// within kLineWidth characters, each line indented by two spaces.
void PrintColumns(const std::vector<std::string>& names) {
  constexpr size_t kLineWidth = 80;
  size_t width = 0;
  for (const std::string& n : names) width = std::max(width, n.size());
  width += 2;
  size_t cols = std::max<size_t>(1, (kLineWidth - 2) / width);
  size_t rows = (names.size() + cols - 1) / cols;
  for (size_t r = 0; r < rows; ++r) {
    std::string line = "  ";
    for (size_t c = 0; c < cols; ++c) {
      size_t i = c * rows + r;
      if (i >= names.size()) break;
      bool last = c + 1 == cols || (c + 1) * rows + r >= names.size();
      absl::StrAppend(
          &line,
          last ? names[i]
               : absl::StrFormat("%-*s", static_cast<int>(width), names[i]));
    }
    printf("%s\n", line.c_str());
  }
}

// AbsoluteSocketPath resolves a relative gofer socket path against devctl's
// working directory: the shim refuses relative paths, which it could only
// resolve against its own. Absolute paths and '@' abstract names are kept.
// The error, if getcwd fails, says to pass an absolute path.
absl::StatusOr<std::string> AbsoluteSocketPath(const std::string& path) {
  if (path.empty() || path[0] == '/' || path[0] == '@') return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GOFER_SOCKET \"", path, "\" is relative and the working directory is ",
        errno == ENOENT ? "gone" : "unknown", ": pass an absolute path"));
  }
  absl::string_view rel = path;
  while (absl::ConsumePrefix(&rel, "./")) {
  }
  std::string out = cwd;
  if (out.back() != '/') out.push_back('/');
  absl::StrAppend(&out, rel);
  return out;
}

std::string GoferStateName(v1::ManagedGofer::State s) {
  switch (s) {
    case v1::ManagedGofer::RUNNING:
      return "running";
    case v1::ManagedGofer::RESTARTING:
      return "restarting";
    case v1::ManagedGofer::EXITED:
      return "exited";
    default:
      return "unknown";
  }
}

// GoferColumn is the GOFER column: the socket, or for a managed gofer
// "managed pid N".
std::string GoferColumn(const v1::Container& c) {
  if (!c.has_gofer()) return c.gofer_socket();
  return absl::StrCat("managed pid ", c.gofer().pid());
}

// GoferState says where a managed gofer stands: "gofer running", or
// "gofer restarting (killed by SIGKILL) (3 restarts)"; "" otherwise.
std::string GoferState(const v1::Container& c) {
  if (!c.has_gofer()) return "";
  const v1::ManagedGofer& g = c.gofer();
  std::string out = absl::StrCat("gofer ", GoferStateName(g.state()));
  if (g.state() != v1::ManagedGofer::RUNNING && !g.last_exit().empty()) {
    absl::StrAppend(&out, " (", g.last_exit());
    if (!g.last_error().empty()) absl::StrAppend(&out, ": ", g.last_error());
    absl::StrAppend(&out, ")");
  }
  if (g.restarts() > 0) {
    absl::StrAppend(&out, " (", g.restarts(),
                    g.restarts() == 1 ? " restart)" : " restarts)");
  }
  return out;
}

std::vector<std::string> ContainerRow(const v1::Container& c) {
  std::string state = StateName(c.state());
  if (!c.disconnect_reason().empty()) {
    absl::StrAppend(&state, " (", c.disconnect_reason(), ")");
  }
  if (c.has_gofer()) absl::StrAppend(&state, "; ", GoferState(c));
  return {c.name(), TimeOf(c.attach_time()),
          c.mount_fd_donated() ? "donated" : "no", GoferColumn(c), state};
}

const std::vector<std::string> kContainerHeader = {
    "NAME", "ATTACHED (UTC)", "MOUNT FD", "GOFER", "STATE"};

class Devctl {
 public:
  Devctl(std::shared_ptr<grpc::Channel> channel, std::string server,
         absl::Duration timeout)
      : shim_(v1::DevGoferShim::NewStub(channel)),
        health_(health::Health::NewStub(channel)),
        server_(std::move(server)),
        timeout_(timeout) {}

  // Run runs command cmd with args, whose number Main has checked.
  int Run(const std::string& cmd, const std::vector<std::string>& args) {
    if (cmd == "attach") {
      return absl::GetFlag(FLAGS_managed) ? AttachManaged(args[0])
                                          : Attach(args[0], args[1]);
    }
    if (cmd == "reattach") return Reattach(args[0], args[1]);
    if (cmd == "detach") return Detach(args[0]);
    if (cmd == "ls") return List();
    if (cmd == "get") return Get(args[0]);
    if (cmd == "devices") return Devices(args[0]);
    if (cmd == "probe") return Probe(args[0], args[1]);
    if (cmd == "health") return Health();
    if (cmd == "watch") return Watch(absl::GetFlag(FLAGS_count));
    fprintf(stderr, "devctl: no code for command %s\n", cmd.c_str());
    return kExitFailure;
  }

 private:
  void Prepare(grpc::ClientContext* ctx) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  }

  int Fail(absl::string_view what, const grpc::Status& st) {
    std::string code = absl::StatusCodeToString(
        static_cast<absl::StatusCode>(st.error_code()));
    std::string hint;
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE &&
        st.error_message().find("failed to connect") != std::string::npos) {
      hint = absl::StrCat(" (is the shim serving on ", server_, "?)");
    } else if (st.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      hint = absl::StrCat(" (", server_,
                          " is a gRPC server but not a runsc_shim, or an "
                          "older one)");
    }
    fprintf(stderr, "devctl: %s: %s: %s%s\n", std::string(what).c_str(),
            code.c_str(), st.error_message().c_str(), hint.c_str());
    return kExitFailure;
  }

  int Attach(const std::string& name, const std::string& sock) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::AttachContainerRequest req;
    req.set_name(name);
    req.set_gofer_socket(sock);
    v1::Container c;
    grpc::Status st = shim_->AttachContainer(&ctx, req, &c);
    if (!st.ok()) return Fail(absl::StrCat("attach ", name), st);
    if (absl::GetFlag(FLAGS_json)) {
      printf("%s\n", ToJson(c).c_str());
    } else {
      printf("attached %s to the gofer at %s (mount FD %s)\n", c.name().c_str(),
             c.gofer_socket().c_str(),
             c.mount_fd_donated() ? "donated" : "not donated");
    }
    return 0;
  }

  int AttachManaged(const std::string& name) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::AttachContainerRequest req;
    req.set_name(name);
    v1::GoferSpec* spec = req.mutable_managed();
    spec->set_root(absl::GetFlag(FLAGS_root));
    for (const std::string& r : AllowRules()) spec->add_allow(r);
    for (const std::string& f : CdiSpecs()) spec->add_cdi_spec(f);
    for (const std::string& d : CdiDevices()) spec->add_cdi_device(d);
    spec->set_readonly(absl::GetFlag(FLAGS_readonly));
    spec->set_restart(absl::GetFlag(FLAGS_restart));
    v1::Container c;
    grpc::Status st = shim_->AttachContainer(&ctx, req, &c);
    if (!st.ok()) return Fail(absl::StrCat("attach ", name), st);
    if (absl::GetFlag(FLAGS_json)) {
      printf("%s\n", ToJson(c).c_str());
    } else {
      printf(
          "attached %s to a managed gofer, pid %d, serving %s%s (mount "
          "FD %s)\n",
          c.name().c_str(), c.gofer().pid(), c.gofer().spec().root().c_str(),
          c.gofer().spec().allow().empty() &&
                  c.gofer().spec().cdi_device().empty()
              ? ""
              : " scoped",
          c.mount_fd_donated() ? "donated" : "not donated");
    }
    return 0;
  }

  int Reattach(const std::string& name, const std::string& sock) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::ReattachContainerRequest req;
    req.set_name(name);
    req.set_gofer_socket(sock);
    v1::Container c;
    grpc::Status st = shim_->ReattachContainer(&ctx, req, &c);
    if (!st.ok()) return Fail(absl::StrCat("reattach ", name), st);
    if (absl::GetFlag(FLAGS_json)) {
      printf("%s\n", ToJson(c).c_str());
    } else {
      printf("reattached %s to the gofer at %s (mount FD %s, attached %s)\n",
             c.name().c_str(), c.gofer_socket().c_str(),
             c.mount_fd_donated() ? "donated" : "not donated",
             TimeOf(c.attach_time()).c_str());
    }
    return 0;
  }

  int Detach(const std::string& name) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::DetachContainerRequest req;
    req.set_name(name);
    v1::DetachContainerResponse resp;
    grpc::Status st = shim_->DetachContainer(&ctx, req, &resp);
    if (!st.ok()) return Fail(absl::StrCat("detach ", name), st);
    if (absl::GetFlag(FLAGS_json)) {
      printf("%s\n", ToJson(resp).c_str());
    } else {
      printf("detached %s\n", name.c_str());
    }
    return 0;
  }

  int List() {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::ListContainersResponse resp;
    grpc::Status st =
        shim_->ListContainers(&ctx, v1::ListContainersRequest(), &resp);
    if (!st.ok()) return Fail("ls", st);
    if (absl::GetFlag(FLAGS_json)) {
      printf("%s\n", ToJson(resp).c_str());
      return 0;
    }
    if (resp.containers().empty()) {
      printf("no containers attached\n");
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {kContainerHeader};
    for (const v1::Container& c : resp.containers()) {
      rows.push_back(ContainerRow(c));
    }
    PrintTable(rows);
    return 0;
  }

  int Get(const std::string& name) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::GetContainerRequest req;
    req.set_name(name);
    v1::Container c;
    grpc::Status st = shim_->GetContainer(&ctx, req, &c);
    if (!st.ok()) return Fail(absl::StrCat("get ", name), st);
    if (absl::GetFlag(FLAGS_json)) {
      printf("%s\n", ToJson(c).c_str());
    } else {
      PrintTable({kContainerHeader, ContainerRow(c)});
    }
    return 0;
  }

  int Devices(const std::string& name) {
    const bool details = absl::GetFlag(FLAGS_long);
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::ListDevicesRequest req;
    req.set_name(name);
    req.set_details(details);
    v1::ListDevicesResponse resp;
    grpc::Status st = shim_->ListDevices(&ctx, req, &resp);
    if (!st.ok()) return Fail(absl::StrCat("devices ", name), st);
    std::sort(resp.mutable_names()->begin(), resp.mutable_names()->end());
    std::sort(resp.mutable_devices()->begin(), resp.mutable_devices()->end(),
              [](const v1::DeviceInfo& a, const v1::DeviceInfo& b) {
                return a.path() < b.path();
              });
    if (details && resp.devices_size() != resp.names_size()) {
      fprintf(stderr,
              "devctl: devices %s -l: the shim at %s described %d of %d "
              "entries (a shim without ListDevicesRequest.details?)\n",
              name.c_str(), server_.c_str(), resp.devices_size(),
              resp.names_size());
      return kExitFailure;
    }
    if (absl::GetFlag(FLAGS_json)) {
      printf("%s\n", OctalModes(ToJson(resp)).c_str());
      return 0;
    }
    printf("%d entries in /dev of %s:\n", resp.names_size(), name.c_str());
    if (!details) {
      PrintColumns({resp.names().begin(), resp.names().end()});
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {
        {"TYPE", "MODE", "RDEV", "NAME"}};
    for (const v1::DeviceInfo& d : resp.devices()) {
      rows.push_back({TypeChar(d.type()), absl::StrFormat("%04o", d.mode()),
                      Rdev(d), d.path()});
    }
    PrintTable(rows);
    return 0;
  }

  int Probe(const std::string& name, const std::string& path) {
    v1::ProbeDeviceRequest req;
    req.set_mode(*ParseMode(absl::GetFlag(FLAGS_mode)));
    req.set_name(name);
    req.set_path(path);
    req.set_open(absl::GetFlag(FLAGS_open));
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::DeviceInfo info;
    grpc::Status st = shim_->ProbeDevice(&ctx, req, &info);
    if (!st.ok()) {
      return Fail(absl::StrCat("probe ", name, " ", path), st);
    }
    if (absl::GetFlag(FLAGS_json)) {
      printf("%s\n", OctalModes(ToJson(info)).c_str());
      return 0;
    }
    PrintTable({{"PATH", "TYPE", "MODE", "RDEV", "OPENED"},
                {info.path(), TypeName(info.type()),
                 absl::StrFormat("%04o", info.mode()), Rdev(info),
                 info.opened() ? ModeName(info.access_mode()) : "no"}});
    return 0;
  }

  int Health() {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    health::HealthCheckRequest req;
    health::HealthCheckResponse resp;
    grpc::Status st = health_->Check(&ctx, req, &resp);
    if (!st.ok()) return Fail("health", st);
    if (absl::GetFlag(FLAGS_json)) {
      printf("%s\n", ToJson(resp).c_str());
    } else {
      printf("%s\n",
             health::HealthCheckResponse::ServingStatus_Name(resp.status())
                 .c_str());
    }
    return resp.status() == health::HealthCheckResponse::SERVING ? 0
                                                                 : kExitFailure;
  }

  int Watch(int64_t count) {
    grpc::ClientContext ctx;  // no deadline: a watch runs until it is done
    std::unique_ptr<grpc::ClientReader<v1::ContainerEvent>> stream =
        shim_->WatchContainers(&ctx, v1::WatchContainersRequest());
    v1::ContainerEvent ev;
    int64_t n = 0;
    while ((count == 0 || n < count) && stream->Read(&ev)) {
      ++n;
      printf("%s\n", absl::GetFlag(FLAGS_json) ? ToJson(ev).c_str()
                                               : EventLine(ev).c_str());
      fflush(stdout);  // each event as it comes, also into a pipe
    }
    if (count != 0 && n == count) {
      ctx.TryCancel();
      stream->Finish().IgnoreError();
      return 0;
    }
    // Without --count, the stream only ends when the server ends it.
    return Fail("watch", stream->Finish());
  }

  static std::string EventLine(const v1::ContainerEvent& ev) {
    const v1::Container& c = ev.container();
    switch (ev.kind()) {
      case v1::ContainerEvent::SYNCED:
        return "synced (changes follow)";
      case v1::ContainerEvent::DISCONNECTED:
        return absl::StrCat("disconnected ", c.name(), ": ",
                            c.disconnect_reason());
      case v1::ContainerEvent::DETACHED:
        return absl::StrCat("detached ", c.name());
      case v1::ContainerEvent::GOFER_CHANGED:
        return absl::StrCat("gofer_changed ", c.name(), ": ", GoferState(c),
                            ", pid ", c.gofer().pid());
      case v1::ContainerEvent::REATTACHED:
        return absl::StrCat("reattached ", c.name(), ": ", StateName(c.state()),
                            ", gofer ", GoferColumn(c), ", mount FD ",
                            c.mount_fd_donated() ? "donated" : "not donated");
      default:
        return absl::StrCat(
            ev.kind() == v1::ContainerEvent::EXISTING ? "existing "
                                                      : "attached ",
            c.name(), ": ", StateName(c.state()), ", gofer ", GoferColumn(c),
            ", mount FD ", c.mount_fd_donated() ? "donated" : "not donated");
    }
  }

  std::unique_ptr<v1::DevGoferShim::Stub> shim_;
  std::unique_ptr<health::Health::Stub> health_;
  std::string server_;
  absl::Duration timeout_;
};

// NotAShim reports that the server at address is not a runsc_shim.
int NotAShim(const Address& address, const absl::Status& why) {
  fprintf(stderr,
          "devctl: %s is not a runsc_shim gRPC server: %s; is --server (or "
          "$%s) right?\n",
          address.ToString().c_str(), std::string(why.message()).c_str(),
          devctl::kServerEnv);
  return kExitFailure;
}

int Main(int argc, char** argv) {
  const std::vector<cli::FlagSpec> flags = Flags();
  absl::StatusOr<cli::Parsed> parsed = cli::Parse(flags, argc, argv);
  if (!parsed.ok()) {
    return cli::UsageError(kProgram, parsed.status().message(), kHint);
  }
  if (parsed->version) {
    fputs(gvisor_devutil::VersionText(kProgram).c_str(), stdout);
    return 0;
  }
  std::vector<std::string> args = parsed->args;
  constexpr char kCommandsHint[] = "Run 'devctl help' for the commands.";
  std::vector<std::string> names;
  for (const devctl::Command& c : devctl::Commands()) names.push_back(c.name);
  auto unknown = [&](const std::string& name) {
    std::string message = absl::StrCat("unknown command \"", name, "\"");
    if (std::optional<std::string> near = cli::Closest(name, names)) {
      absl::StrAppend(&message, " (did you mean \"", *near, "\"?)");
    }
    return cli::UsageError(kProgram, message, kCommandsHint);
  };
  const devctl::Command* cmd = nullptr;
  if (!args.empty()) {
    cmd = devctl::FindCommand(args[0]);
    if (cmd == nullptr) return unknown(args[0]);
    args.erase(args.begin());
  }
  if (parsed->help) {
    fputs(cmd == nullptr ? devctl::Help(flags).c_str()
                         : devctl::CommandHelp(*cmd, flags).c_str(),
          stdout);
    return 0;
  }
  if (cmd == nullptr) {
    return cli::UsageError(kProgram, "no command", kCommandsHint);
  }
  if (args.size() < cmd->min_args || args.size() > cmd->max_args) {
    return CommandUsage(
        *cmd, cmd->max_args == 0 ? absl::StrCat(cmd->name, " takes no argument")
                                 : absl::StrCat(cmd->name, " takes ", cmd->args,
                                                " (", args.size(), " given)"));
  }
  for (const std::string& f : parsed->given) {
    if (absl::c_linear_search(devctl::kGlobalFlags, f) ||
        absl::c_linear_search(cmd->flags, f)) {
      continue;
    }
    std::string owner;
    for (const devctl::Command& c : devctl::Commands()) {
      if (absl::c_linear_search(c.flags, f)) owner = c.name;
    }
    return CommandUsage(*cmd, absl::StrCat("--", f, " is a flag of ", owner,
                                           ", not of ", cmd->name));
  }
  if (cmd->name == "help") {
    if (args.empty()) {
      fputs(devctl::Help(flags).c_str(), stdout);
      return 0;
    }
    const devctl::Command* about = devctl::FindCommand(args[0]);
    if (about == nullptr) return unknown(args[0]);
    fputs(devctl::CommandHelp(*about, flags).c_str(), stdout);
    return 0;
  }
  if (cmd->name == "completion") {
    if (args[0] != "bash") {
      return CommandUsage(
          *cmd, absl::StrCat("no completion for \"", args[0], "\": only bash"));
    }
    fputs(devctl::BashCompletion(flags).c_str(), stdout);
    return 0;
  }
  if (!ParseMode(absl::GetFlag(FLAGS_mode)).has_value()) {
    return CommandUsage(*cmd, absl::StrCat("--mode=", absl::GetFlag(FLAGS_mode),
                                           ": use r, w or rw"));
  }
  if (absl::GetFlag(FLAGS_count) < 0) {
    return CommandUsage(*cmd, "--count must be 0 or more");
  }
  absl::StatusOr<absl::Duration> timeout = cli::ParseDuration(
      "timeout", absl::GetFlag(FLAGS_timeout), /*allow_zero=*/false);
  if (!timeout.ok()) {
    return cli::UsageError(kProgram, timeout.status().message(), kHint);
  }
  std::string server = absl::GetFlag(FLAGS_server);
  std::string server_from = "--server";
  if (!parsed->given.contains("server")) {
    const char* env = getenv(devctl::kServerEnv);
    if (env != nullptr && env[0] != '\0') {
      server = env;
      server_from = absl::StrCat("$", devctl::kServerEnv);
    } else {
      server = DefaultAddress();
    }
  }
  absl::StatusOr<Address> address = ParseAddress(server);
  if (!address.ok()) {
    return cli::UsageError(
        kProgram, absl::StrCat(server_from, ": ", address.status().message()),
        kHint);
  }
  const bool managed = absl::GetFlag(FLAGS_managed);
  for (const char* f :
       {"root", "allow", "cdi_spec", "cdi_device", "readonly", "restart"}) {
    if (!managed && parsed->given.contains(f)) {
      return CommandUsage(*cmd, absl::StrCat("--", f, " needs --managed"));
    }
  }
  if (cmd->name == "attach" && managed) {
    if (args.size() != 1) {
      return CommandUsage(*cmd,
                          "attach --managed takes NAME only: the shim runs "
                          "the gofer, there is no GOFER_SOCKET");
    }
    // The shim reads the spec files itself, from its own directory.
    for (std::string& f : CdiSpecs()) {
      absl::StatusOr<std::string> abs = AbsoluteSocketPath(f);
      if (!abs.ok()) return CommandUsage(*cmd, abs.status().message());
      f = *std::move(abs);
    }
  } else if (cmd->name == "attach" || cmd->name == "reattach") {
    if (args.size() != 2) {
      return CommandUsage(*cmd,
                          absl::StrCat(cmd->name,
                                       " takes NAME GOFER_SOCKET (or attach "
                                       "--managed NAME)"));
    }
    absl::StatusOr<std::string> sock = AbsoluteSocketPath(args[1]);
    if (!sock.ok()) return CommandUsage(*cmd, sock.status().message());
    args[1] = *std::move(sock);
  }
  // A peer that is no HTTP/2 server at all is named as such; one that
  // cannot be reached is left to gRPC, whose error says so.
  if (absl::Status probe = ProbeServer(*address, *timeout);
      absl::IsFailedPrecondition(probe)) {
    return NotAShim(*address, probe);
  }
  auto channel = grpc::CreateChannel(address->GrpcTarget(),
                                     grpc::InsecureChannelCredentials());
  return Devctl(channel, address->ToString(), *timeout).Run(cmd->name, args);
}

}  // namespace
}  // namespace gvisor::shim

int main(int argc, char** argv) { return gvisor::shim::Main(argc, argv); }
