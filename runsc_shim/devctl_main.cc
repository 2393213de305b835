// devctl: command-line client of the runsc_shim server.
//
//   devctl [--server=unix:PATH] [--json] [--timeout=10s] COMMAND
//     attach NAME GOFER_SOCKET   attach container NAME to the gofer there
//                                (a relative path is taken from devctl's
//                                working directory)
//     reattach NAME GOFER_SOCKET give NAME a new gofer connection (after
//                                a restore), keeping its identity
//     detach NAME                close and forget NAME's client
//     ls                         list attached containers
//     get NAME                   show one container
//     devices NAME               list NAME's /dev
//     probe NAME RELPATH [--open [--mode=r|w|rw]]
//                                stat a device through the gofer without
//                                opening it; with --open, open it
//                                (non-blocking), fstat it, close it
//     health                     ask the server's health service
//     watch [--count=N]          print container events as they happen
//
// Output is a readable table, or one JSON object with --json (watch: one
// line per event, a JSON object each with --json). Exit status: 0 on
// success, 1 when the server answers with an error (or cannot be reached,
// or ends a watch), 2 for a usage error; errors go to stderr.

#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "runsc_shim/address.h"
#include "runsc_shim/health.grpc.pb.h"
#include "runsc_shim/shim.grpc.pb.h"

ABSL_FLAG(std::string, server, "",
          "the shim's address: unix:PATH (default: unix:$XDG_RUNTIME_DIR/"
          "runsc-shim.sock, or unix:/run/runsc-shim.sock), "
          "unix-abstract:NAME or tcp:HOST:PORT");
ABSL_FLAG(bool, json, false, "print the response as JSON");
// Durations are taken as strings: an absl::Duration flag does not build
// under ThreadSanitizer with -Werror (its seqlock uses a fence).
ABSL_FLAG(std::string, timeout, "10s",
          "deadline of the call, e.g. 500ms or 10s");
ABSL_FLAG(bool, open, false,
          "probe: open the device (non-blocking, closed at once) rather "
          "than only stat it");
ABSL_FLAG(std::string, mode, "r", "probe --open: open the device r, w or rw");
ABSL_FLAG(int64_t, count, 0,
          "watch: exit after this many events (0: until interrupted or the "
          "server ends the stream); watch has no deadline");

namespace gvisor::shim {
namespace {

namespace v1 = ::gvisor::devutil::shim::v1;
namespace health = ::grpc::health::v1;

constexpr char kUsage[] =
    "devctl [--server=unix:PATH] [--json] [--timeout=10s] COMMAND\n"
    "  attach NAME GOFER_SOCKET\n"
    "  reattach NAME GOFER_SOCKET\n"
    "  detach NAME\n"
    "  ls\n"
    "  get NAME\n"
    "  devices NAME\n"
    "  probe NAME RELPATH [--open [--mode=r|w|rw]]\n"
    "  health\n"
    "  watch [--count=N]";

// kExitError is the exit status for an error answer; kExitUsage for a bad
// command line.
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int Usage(const std::string& why) {
  fprintf(stderr, "devctl: %s\nusage: %s\n", why.c_str(), kUsage);
  return kExitUsage;
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
std::string AbsoluteSocketPath(const std::string& path) {
  if (path.empty() || path[0] == '/' || path[0] == '@') return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) return path;  // the shim says no
  absl::string_view rel = path;
  while (absl::ConsumePrefix(&rel, "./")) {
  }
  std::string out = cwd;
  if (out.back() != '/') out.push_back('/');
  absl::StrAppend(&out, rel);
  return out;
}

std::vector<std::string> ContainerRow(const v1::Container& c) {
  std::string state = StateName(c.state());
  if (!c.disconnect_reason().empty()) {
    absl::StrAppend(&state, " (", c.disconnect_reason(), ")");
  }
  return {c.name(), TimeOf(c.attach_time()),
          c.mount_fd_donated() ? "donated" : "no", c.gofer_socket(), state};
}

const std::vector<std::string> kContainerHeader = {
    "NAME", "ATTACHED (UTC)", "MOUNT FD", "GOFER SOCKET", "STATE"};

class Devctl {
 public:
  Devctl(std::shared_ptr<grpc::Channel> channel, std::string server,
         absl::Duration timeout)
      : shim_(v1::DevGoferShim::NewStub(channel)),
        health_(health::Health::NewStub(channel)),
        server_(std::move(server)),
        timeout_(timeout) {}

  int Run(const std::vector<std::string>& args) {
    const std::string& cmd = args[0];
    size_t nargs = args.size() - 1;
    auto want = [&](size_t n, const char* form) -> bool {
      if (nargs == n) return true;
      Usage(absl::StrCat(cmd, " takes ", form));
      return false;
    };
    if (cmd == "attach") {
      if (!want(2, "NAME GOFER_SOCKET")) return kExitUsage;
      return Attach(args[1], args[2]);
    }
    if (cmd == "reattach") {
      if (!want(2, "NAME GOFER_SOCKET")) return kExitUsage;
      return Reattach(args[1], args[2]);
    }
    if (cmd == "detach") {
      if (!want(1, "NAME")) return kExitUsage;
      return Detach(args[1]);
    }
    if (cmd == "ls") {
      if (!want(0, "no argument")) return kExitUsage;
      return List();
    }
    if (cmd == "get") {
      if (!want(1, "NAME")) return kExitUsage;
      return Get(args[1]);
    }
    if (cmd == "devices") {
      if (!want(1, "NAME")) return kExitUsage;
      return Devices(args[1]);
    }
    if (cmd == "probe") {
      if (!want(2, "NAME RELPATH")) return kExitUsage;
      return Probe(args[1], args[2], absl::GetFlag(FLAGS_mode));
    }
    if (cmd == "health") {
      if (!want(0, "no argument")) return kExitUsage;
      return Health();
    }
    if (cmd == "watch") {
      if (!want(0, "no argument")) return kExitUsage;
      const int64_t count = absl::GetFlag(FLAGS_count);
      if (count < 0) return Usage("--count must be 0 or more");
      return Watch(count);
    }
    return Usage(absl::StrCat("unknown command \"", cmd, "\""));
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
    }
    fprintf(stderr, "devctl: %s: %s: %s%s\n", std::string(what).c_str(),
            code.c_str(), st.error_message().c_str(), hint.c_str());
    return kExitError;
  }

  int Attach(const std::string& name, const std::string& sock) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::AttachContainerRequest req;
    req.set_name(name);
    req.set_gofer_socket(AbsoluteSocketPath(sock));
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

  int Reattach(const std::string& name, const std::string& sock) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::ReattachContainerRequest req;
    req.set_name(name);
    req.set_gofer_socket(AbsoluteSocketPath(sock));
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
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::ListDevicesRequest req;
    req.set_name(name);
    v1::ListDevicesResponse resp;
    grpc::Status st = shim_->ListDevices(&ctx, req, &resp);
    if (!st.ok()) return Fail(absl::StrCat("devices ", name), st);
    if (absl::GetFlag(FLAGS_json)) {
      printf("%s\n", ToJson(resp).c_str());
      return 0;
    }
    std::vector<std::string> names(resp.names().begin(), resp.names().end());
    std::sort(names.begin(), names.end());
    printf("%zu entries in /dev of %s:\n", names.size(), name.c_str());
    PrintColumns(names);
    return 0;
  }

  int Probe(const std::string& name, const std::string& path,
            const std::string& mode) {
    v1::ProbeDeviceRequest req;
    if (mode == "r") {
      req.set_mode(v1::READ);
    } else if (mode == "w") {
      req.set_mode(v1::WRITE);
    } else if (mode == "rw") {
      req.set_mode(v1::READ_WRITE);
    } else {
      return Usage(absl::StrCat("--mode=", mode, ": use r, w or rw"));
    }
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
      printf("%s\n", ToJson(info).c_str());
      return 0;
    }
    std::string rdev =
        info.type() == v1::CHAR_DEVICE || info.type() == v1::BLOCK_DEVICE
            ? absl::StrCat(info.rdev_major(), ":", info.rdev_minor())
            : "-";
    PrintTable({{"PATH", "TYPE", "MODE", "RDEV", "OPENED"},
                {info.path(), TypeName(info.type()),
                 absl::StrFormat("%04o", info.mode()), rdev,
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
                                                                 : kExitError;
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
      case v1::ContainerEvent::REATTACHED:
        return absl::StrCat("reattached ", c.name(), ": ", StateName(c.state()),
                            ", gofer ", c.gofer_socket(), ", mount FD ",
                            c.mount_fd_donated() ? "donated" : "not donated");
      default:
        return absl::StrCat(
            ev.kind() == v1::ContainerEvent::EXISTING ? "existing "
                                                      : "attached ",
            c.name(), ": ", StateName(c.state()), ", gofer ", c.gofer_socket(),
            ", mount FD ", c.mount_fd_donated() ? "donated" : "not donated");
    }
  }

  std::unique_ptr<v1::DevGoferShim::Stub> shim_;
  std::unique_ptr<health::Health::Stub> health_;
  std::string server_;
  absl::Duration timeout_;
};

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> parsed = absl::ParseCommandLine(argc, argv);
  std::vector<std::string> args(parsed.begin() + 1, parsed.end());
  if (args.empty()) return Usage("no command");
  std::string server = absl::GetFlag(FLAGS_server);
  if (server.empty()) server = DefaultAddress();
  absl::StatusOr<Address> address = ParseAddress(server);
  if (!address.ok()) {
    return Usage(absl::StrCat("--server: ", address.status().message()));
  }
  absl::Duration timeout;
  if (!absl::ParseDuration(absl::GetFlag(FLAGS_timeout), &timeout) ||
      timeout <= absl::ZeroDuration()) {
    return Usage(absl::StrCat("--timeout=", absl::GetFlag(FLAGS_timeout),
                              ": not a positive duration (e.g. 10s)"));
  }
  auto channel = grpc::CreateChannel(address->GrpcTarget(),
                                     grpc::InsecureChannelCredentials());
  return Devctl(channel, address->ToString(), timeout).Run(args);
}

}  // namespace
}  // namespace gvisor::shim

int main(int argc, char** argv) { return gvisor::shim::Main(argc, argv); }
