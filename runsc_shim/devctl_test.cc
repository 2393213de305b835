// The shim and devctl binaries together, as an operator runs them: a real
// shim process on a unix socket, a real devgofer, and devctl's output, JSON
// and exit codes. Also the shim's own process behaviour: default socket
// path and mode, TCP only on request, SIGTERM.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "runsc_shim/shim_process_test_base.h"
#include "runsc_shim/testutil.h"
#include "testing/gofer_fixture.h"
#include "tools/version/version.h"

extern char** environ;

namespace gvisor::shim {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testutil::Child;
using testutil::DevGofer;
using testutil::Result;
using testutil::WaitFor;

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

std::string Bin(const std::string& name) {
  absl::StatusOr<std::string> p = testutil::Runfile("runsc_shim/" + name);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.value_or("/nonexistent");
}

// StartShim starts the shim binary with args and returns once it serves
// (it says so through --ready_fd).
std::unique_ptr<Child> StartShim(std::vector<std::string> args,
                                 std::vector<std::string> env = {}) {
  args.insert(args.begin(), Bin("shim"));
  auto c = Child::StartServer(args, env);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return nullptr;
  return std::move(*c);
}

class DevctlTest : public testutil::ShimProcessTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(ShimProcessTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(ShimProcessTest::StartShim({}, "shim"));
  }

  // Devctl runs devctl --server=<our shim> args.
  Result Devctl(std::vector<std::string> args) {
    args.insert(args.begin(), "--server=unix:" + socket_);
    args.insert(args.begin(), Bin("devctl"));
    auto r = testutil::Run(args);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(Result{});
  }
};

TEST_F(DevctlTest, WholeSessionReadsWell) {
  Result r = Devctl({"attach", "demo", gofer_->socket()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("attached demo to the gofer at " + gofer_->socket()));

  r = Devctl({"ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out,
              AllOf(HasSubstr("NAME"), HasSubstr("STATE"), HasSubstr("demo"),
                    HasSubstr("attached"), HasSubstr(gofer_->socket())));

  r = Devctl({"get", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("demo"));

  r = Devctl({"devices", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("entries in /dev of demo:\n"),
                           HasSubstr("null"), HasSubstr("zero")));

  r = Devctl({"probe", "demo", "null"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("char device"), HasSubstr("1:3"),
                           HasSubstr("0666")));

  r = Devctl({"probe", "demo", "zero", "--open", "--mode=rw"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("1:5"), HasSubstr("rw")));

  r = Devctl({"detach", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("detached demo"));

  r = Devctl({"ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("no containers attached"));
}

TEST_F(DevctlTest, RelativeGoferSocketIsTakenFromDevctlsDirectory) {
  // The shim refuses relative paths (its own working directory, where it
  // would look, means nothing to devctl's user); devctl sends the path it
  // means.
  const std::string& abs = gofer_->socket();
  const std::string dir = abs.substr(0, abs.rfind('/'));
  const std::string base = abs.substr(abs.rfind('/') + 1);
  auto devctl = [&](const std::vector<std::string>& args,
                    const std::string& cwd) {
    std::vector<std::string> argv = {Bin("devctl"), "--server=unix:" + socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = testutil::Run(argv, {}, absl::Seconds(60), cwd);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(Result{});
  };
  Result r = devctl({"attach", "rel", base}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("attached rel to the gofer at " + abs + " "));
  r = devctl({"attach", "dot", "./" + base}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("to the gofer at " + abs + " "));
  // From a directory without that socket, the error names the path devctl
  // looked for.
  r = devctl({"attach", "elsewhere", base}, "/");
  EXPECT_EQ(r.exit_code, kExitError);
  EXPECT_THAT(r.err, AllOf(HasSubstr("UNAVAILABLE"), HasSubstr("ENOENT"),
                           HasSubstr("\"/" + base + "\"")));
}

TEST_F(DevctlTest, JsonOutput) {
  Result r = Devctl({"--json", "attach", "demo", gofer_->socket()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"name\":\"demo\""),
                           HasSubstr("\"state\":\"ATTACHED\""),
                           HasSubstr("\"mount_fd_donated\":false")));
  r = Devctl({"--json", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"containers\":["),
                           HasSubstr("\"attach_time\":\"")));
  r = Devctl({"--json", "devices", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"names\":["), HasSubstr("\"null\"")));
  // Sorted, as in the table.
  EXPECT_LT(r.out.find("\"null\""), r.out.find("\"zero\""));
  r = Devctl({"--json", "probe", "demo", "null", "--open", "--mode=w"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(
      r.out, AllOf(HasSubstr("\"type\":\"CHAR_DEVICE\""),
                   HasSubstr("\"mode\":\"0666\""),  // octal, as the table
                   HasSubstr("\"rdev_major\":1"), HasSubstr("\"rdev_minor\":3"),
                   HasSubstr("\"access_mode\":\"WRITE\"")));
  r = Devctl({"--json", "health"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"status\":\"SERVING\""));
  r = Devctl({"--json", "detach", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{}\n");
}

// Against the real shim: enable once the service fills
// ListDevicesResponse.devices (devctl_peer_test covers devctl's side with a
// minimal DevGoferShim).
TEST_F(DevctlTest, LongListingFromTheRealShim) {
  ASSERT_EQ(Devctl({"attach", "demo", gofer_->socket()}).exit_code, 0);
  Result r = Devctl({"devices", "demo", "-l"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("TYPE  MODE  RDEV  NAME\n"),
                           HasSubstr("c     0666  1:3   null\n"),
                           HasSubstr("c     0666  1:5   zero\n")));
  r = Devctl({"--json", "devices", "demo", "-l"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("{\"path\":\"null\",\"type\":\"CHAR_DEVICE\","
                               "\"mode\":\"0666\",\"rdev_major\":1,"));
}

// IN_OPEN events queued on inotify fd (non-blocking).
int OpenEvents(int fd) {
  int n = 0;
  alignas(struct inotify_event) char buf[4096];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r <= 0) return n;
    for (ssize_t off = 0; off < r;) {
      auto* ev = reinterpret_cast<struct inotify_event*>(buf + off);
      if (ev->mask & IN_OPEN) ++n;
      off += static_cast<ssize_t>(sizeof(*ev) + ev->len);
    }
  }
}

TEST_F(DevctlTest, ProbeStatsAndOpensOnlyWithOpen) {
  auto tree = DevGofer::Start(fixture_->root(), {"--host_fifo=open"});
  ASSERT_TRUE(tree.ok()) << tree.status();
  ASSERT_EQ(Devctl({"attach", "tree", (*tree)->socket()}).exit_code, 0);
  const std::string fifo = fixture_->root() + "/fifo";
  fd::OwnedFd in(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  ASSERT_TRUE(in.valid());
  ASSERT_GE(inotify_add_watch(in.get(), fifo.c_str(), IN_OPEN), 0);

  Result r = Devctl({"probe", "tree", "fifo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("OPENED"), HasSubstr("fifo"),
                           HasSubstr("0644"), HasSubstr("  no")));
  r = Devctl({"--json", "probe", "tree", "fifo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"type\":\"FIFO\""),
                           HasSubstr("\"opened\":false")));
  EXPECT_EQ(OpenEvents(in.get()), 0) << "probe without --open opened it";

  r = Devctl({"--json", "probe", "tree", "fifo", "--open"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"opened\":true"),
                           HasSubstr("\"access_mode\":\"READ\"")));
  EXPECT_GE(OpenEvents(in.get()), 1) << "probe --open did not open it";

  // A symlink is named, never followed.
  r = Devctl({"probe", "tree", "symlink"});
  EXPECT_EQ(r.exit_code, kExitError);
  EXPECT_THAT(r.err, AllOf(HasSubstr("FAILED_PRECONDITION"),
                           HasSubstr("\"symlink\" is a symlink")));
}

TEST_F(DevctlTest, HealthIsServing) {
  Result r = Devctl({"health"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "SERVING\n");
}

TEST_F(DevctlTest, ShimReflectionDescribesTheHealthService) {
  // gRPC's built-in health service has no descriptor of its own; a shim
  // binary without health.proto answers this with NOT_FOUND, and grpcurl
  // lists grpc.health.v1.Health but cannot call it.
  // ServerReflectionRequest{file_containing_symbol: ...} (field 4).
  const std::string symbol = "grpc.health.v1.Health";
  testutil::ShimClient client;
  client.Connect("unix:" + socket_);
  absl::StatusOr<std::string> bytes = testutil::Reflect(
      client.channel(),
      absl::StrCat("\x22", std::string(1, static_cast<char>(symbol.size())),
                   symbol));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  // A file_descriptor_response (field 4) with health.proto, not an
  // error_response (field 7).
  EXPECT_THAT(*bytes, HasSubstr("HealthCheckResponse"));
  EXPECT_THAT(*bytes, HasSubstr("NOT_SERVING"));
}

TEST_F(DevctlTest, ErrorsNameTheCodeAndExitNonZero) {
  struct Case {
    std::vector<std::string> args;
    const char* code;
    const char* detail;
  };
  ASSERT_EQ(Devctl({"attach", "demo", gofer_->socket()}).exit_code, 0);
  for (const Case& k : std::vector<Case>{
           {{"attach", "demo", gofer_->socket()}, "ALREADY_EXISTS", "demo"},
           {{"attach", "x", "/tmp/no-such.sock"}, "UNAVAILABLE", "ENOENT"},
           {{"attach", "Bad!", gofer_->socket()}, "INVALID_ARGUMENT", "Bad!"},
           {{"detach", "nope"}, "NOT_FOUND", "nope"},
           {{"get", "nope"}, "NOT_FOUND", "nope"},
           {{"devices", "nope"}, "NOT_FOUND", "nope"},
           {{"probe", "nope", "null"}, "NOT_FOUND", "nope"},
           {{"probe", "demo", "no-such"}, "NOT_FOUND", "ENOENT"},
           {{"probe", "demo", "/dev/null"}, "INVALID_ARGUMENT", "relative"},
           {{"probe", "demo", "../x"}, "INVALID_ARGUMENT", ".."},
       }) {
    SCOPED_TRACE(absl::StrJoin(k.args, " "));
    Result r = Devctl(k.args);
    EXPECT_EQ(r.exit_code, kExitError);
    EXPECT_THAT(r.err, AllOf(HasSubstr("devctl: "), HasSubstr(k.code),
                             HasSubstr(k.detail)));
    EXPECT_EQ(r.out, "");
  }
}

// ExpectUsageError checks a usage error as the user sees it: exit 2,
// nothing on stdout, and on stderr one line "devctl: <message>" and one hint
// line.
void ExpectUsageError(const Result& r, const std::string& message,
                      const std::string& hint) {
  EXPECT_EQ(r.exit_code, kExitUsage) << r.err;
  EXPECT_EQ(r.out, "");
  std::vector<std::string> lines = absl::StrSplit(r.err, '\n');
  ASSERT_EQ(lines.size(), 3u) << r.err;  // two lines, each with its newline
  EXPECT_THAT(lines[0], HasSubstr(message));
  EXPECT_THAT(lines[1], HasSubstr(hint));
}

TEST_F(DevctlTest, UsageErrorsExitTwoWithOneLineAndAHint) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
    std::string hint;
  };
  for (const Case& k : std::vector<Case>{
           {{}, "devctl: no command", "devctl help"},
           {{"frobnicate"},
            "devctl: unknown command \"frobnicate\"",
            "devctl help"},
           {{"atach", "x", "y"},
            "unknown command \"atach\" (did you mean \"attach\"?)",
            "devctl help"},
           {{"attach", "demo"},
            "attach takes NAME GOFER_SOCKET (or attach --managed NAME)",
            "usage: devctl [FLAGS] attach NAME [GOFER_SOCKET] [--managed "},
           {{"attach", "demo", "/tmp/g.sock", "--managed"},
            "attach --managed takes NAME only",
            "(see 'devctl help attach')"},
           {{"attach", "demo", "/tmp/g.sock", "--allow=null"},
            "--allow needs --managed",
            "(see 'devctl help attach')"},
           {{"probe", "demo", "null", "--restart"},
            "--restart is a flag of attach, not of probe",
            "(see 'devctl help probe')"},
           {{"ls", "extra"}, "ls takes no argument", "devctl help ls"},
           {{"probe", "demo"}, "probe takes NAME RELPATH", "devctl help probe"},
           {{"probe", "demo", "null", "--mode=x"},
            "--mode=x: use r, w or rw",
            "devctl help probe"},
           {{"--tiemout=1s", "ls"},
            "unknown flag --tiemout (did you mean --timeout?)",
            "Run 'devctl --help' for usage."},
           {{"-x", "ls"}, "unknown flag -x", "devctl --help"},
           {{"--json=maybe", "ls"},
            "--json=maybe: not a boolean",
            "devctl --help"},
           {{"watch", "--count=many"},
            "--count=many: not a whole number",
            "devctl --help"},
           {{"ls", "--count=3"},
            "--count is a flag of watch, not of ls",
            "devctl help ls"},
           {{"help", "nope"}, "unknown command \"nope\"", "devctl help"},
           {{"completion", "zsh"},
            "no completion for \"zsh\": only bash",
            "devctl help completion"},
           {{"--server=localhost:1", "ls"},
            "--server: address \"localhost:1\": use unix:PATH",
            "devctl --help"},
       }) {
    SCOPED_TRACE(absl::StrJoin(k.args, " "));
    ExpectUsageError(Devctl(k.args), k.message, k.hint);
  }
}

TEST_F(DevctlTest, DurationWithoutAUnitIsRefusedWithTheAcceptedForm) {
  ExpectUsageError(Devctl({"--timeout=10", "ls"}),
                   "devctl: --timeout=10: a duration needs a unit, e.g. 10s "
                   "or 10ms (units: ns, us, ms, s, m, h)",
                   "devctl --help");
  ExpectUsageError(Devctl({"--timeout=soon", "ls"}),
                   "--timeout=soon: not a duration; use a number and a unit",
                   "devctl --help");
  ExpectUsageError(Devctl({"--timeout=0s", "ls"}),
                   "--timeout=0s: must be positive", "devctl --help");
  Result r = Devctl({"--timeout=1m30s", "ls"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(DevctlTest, UnreachableServerSaysWhere) {
  auto r = testutil::Run(
      {Bin("devctl"), "--server=unix:/tmp/no-shim-here.sock", "ls"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, kExitError);
  EXPECT_THAT(r->err, AllOf(HasSubstr("UNAVAILABLE"),
                            HasSubstr("is the shim serving on "
                                      "unix:/tmp/no-shim-here.sock")));
}

TEST_F(DevctlTest, DisconnectedContainerShowsInLs) {
  auto g =
      DevGofer::Start(fixture_->devices_dir(), {"--char_devices=passthrough"});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(Devctl({"attach", "doomed", (*g)->socket()}).exit_code, 0);
  (*g)->child().Signal(SIGKILL);
  EXPECT_TRUE(WaitFor([&] {
    return Devctl({"ls"}).out.find("disconnected") != std::string::npos;
  }));
  Result r = Devctl({"probe", "doomed", "null"});
  EXPECT_EQ(r.exit_code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("UNAVAILABLE"));
  EXPECT_EQ(Devctl({"detach", "doomed"}).exit_code, 0);
}

// LineReader runs a command with its stdout on a pipe and hands out its
// lines as they come: blocking reads, no polling.
class LineReader {
 public:
  explicit LineReader(const std::vector<std::string>& argv) {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    fd::OwnedFd r(p[0]), w(p[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, w.get(), 1);
    std::vector<std::string> args = argv;
    std::vector<char*> cargv;
    for (std::string& a : args) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), environ),
              0);
    posix_spawn_file_actions_destroy(&fa);
    out_ = std::move(r);
  }
  ~LineReader() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Next returns the next line without its newline; "" at end of output.
  std::string Next() {
    for (;;) {
      if (size_t nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      char chunk[256];
      ssize_t n = read(out_.get(), chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::exchange(buf_, "");
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  // Wait returns the exit code (128 + signal if killed).
  int Wait() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  fd::OwnedFd out_;
  std::string buf_;
};

TEST_F(DevctlTest, WatchPrintsEventsAsTheyHappen) {
  ASSERT_EQ(Devctl({"attach", "before", gofer_->socket()}).exit_code, 0);
  LineReader watch(
      {Bin("devctl"), "--server=unix:" + socket_, "watch", "--count=5"});
  EXPECT_EQ(watch.Next(), "existing before: attached, gofer " +
                              gofer_->socket() + ", mount FD not donated");
  EXPECT_EQ(watch.Next(), "synced (changes follow)");
  // Each change is made once the one before has been printed.
  ASSERT_EQ(Devctl({"attach", "demo", gofer_->socket()}).exit_code, 0);
  EXPECT_EQ(watch.Next(), "attached demo: attached, gofer " + gofer_->socket() +
                              ", mount FD not donated");
  gofer_->child().Signal(SIGKILL);
  // Both containers lose the gofer, in either order.
  std::vector<std::string> lost = {watch.Next(), watch.Next()};
  std::sort(lost.begin(), lost.end());
  EXPECT_THAT(lost[0], HasSubstr("disconnected before: "));
  EXPECT_THAT(lost[1], HasSubstr("disconnected demo: "));
  EXPECT_EQ(watch.Next(), "");  // --count=5 reached: devctl exits
  EXPECT_EQ(watch.Wait(), 0);
}

TEST_F(DevctlTest, WatchAsJsonLines) {
  ASSERT_EQ(Devctl({"attach", "demo", gofer_->socket()}).exit_code, 0);
  Result r = Devctl({"watch", "--json", "--count=2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"kind\":\"EXISTING\""));
  EXPECT_THAT(r.out, HasSubstr("\"name\":\"demo\""));
  EXPECT_THAT(r.out, HasSubstr("\"kind\":\"SYNCED\""));
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2);
}

TEST_F(DevctlTest, ReattachGivesTheContainerANewGofer) {
  ASSERT_EQ(Devctl({"attach", "demo", gofer_->socket()}).exit_code, 0);
  auto other =
      DevGofer::Start(fixture_->devices_dir(), {"--char_devices=passthrough"});
  ASSERT_TRUE(other.ok()) << other.status();
  LineReader watch(
      {Bin("devctl"), "--server=unix:" + socket_, "watch", "--count=3"});
  EXPECT_THAT(watch.Next(), HasSubstr("existing demo: "));
  EXPECT_EQ(watch.Next(), "synced (changes follow)");
  Result r = Devctl({"reattach", "demo", (*other)->socket()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("reattached demo to the gofer at " +
                               (*other)->socket()));
  EXPECT_EQ(watch.Next(), "reattached demo: attached, gofer " +
                              (*other)->socket() + ", mount FD not donated");
  EXPECT_EQ(watch.Wait(), 0);
  r = Devctl({"get", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr((*other)->socket()),
                           Not(HasSubstr(gofer_->socket()))));
  r = Devctl({"--json", "get", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"reattach_count\":\"1\""),
                           HasSubstr("\"reattach_time\":\"")));
  r = Devctl({"probe", "demo", "null"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Devctl({"reattach", "nope", (*other)->socket()});
  EXPECT_EQ(r.exit_code, kExitError);
  EXPECT_THAT(r.err, AllOf(HasSubstr("NOT_FOUND"), HasSubstr("nope")));
  r = Devctl({"reattach", "demo"});
  EXPECT_EQ(r.exit_code, kExitUsage);
}

TEST_F(DevctlTest, SocketIsPrivate) {
  struct stat st;
  ASSERT_EQ(stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(DevctlTest, SigtermClosesEveryClientAndExitsCleanly) {
  ASSERT_EQ(Devctl({"attach", "a", gofer_->socket()}).exit_code, 0);
  ASSERT_EQ(Devctl({"attach", "b", gofer_->socket()}).exit_code, 0);
  const std::string& gofer = gofer_->socket();
  EXPECT_TRUE(
      WaitFor([&] { return testutil::AcceptedConnections(gofer) == 2; }));
  shim_->Signal(SIGTERM);
  absl::StatusOr<int> status = shim_->Wait();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_THAT(shim_->Stderr(), HasSubstr("closed the clients of 2"));
  struct stat st;
  EXPECT_NE(stat(socket_.c_str(), &st), 0) << "socket file left behind";
  // The gofer saw both connections end.
  EXPECT_TRUE(
      WaitFor([&] { return testutil::AcceptedConnections(gofer) == 0; }));
  shim_.reset();
}

TEST_F(DevctlTest, SecondShimOnALiveSocketIsRefused) {
  auto r = testutil::Run({Bin("shim"), "--listen=unix:" + socket_});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, kExitError);
  EXPECT_THAT(r->err, HasSubstr("another server is listening"));
  EXPECT_EQ(Devctl({"health"}).exit_code, 0);
}

TEST(ShimBinaryTest, DefaultSocketIsUnderXdgRuntimeDir) {
  std::string dir = absl::StrCat("/tmp/xdg.", getpid());
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  std::string env = "XDG_RUNTIME_DIR=" + dir;
  std::string socket = dir + "/runsc-shim.sock";
  auto shim = StartShim({}, {env});
  ASSERT_NE(shim, nullptr);
  struct stat st;
  ASSERT_EQ(stat(socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // devctl finds it the same way.
  auto r = testutil::Run({Bin("devctl"), "health"}, {env});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  shim->Signal(SIGTERM);
  ASSERT_TRUE(shim->Wait().ok());
  rmdir(dir.c_str());
}

TEST(ShimBinaryTest, ABadReadyFdIsAUsageError) {
  auto r = testutil::Run({Bin("shim"),
                          "--listen=unix:" + testutil::TempSocketPath("rfd"),
                          "--ready_fd=97"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("--ready_fd=97: EBADF"));
}

TEST(ShimBinaryTest, AShimThatCannotServeClosesItsReadyFd) {
  // A regular file where the socket should be: the shim exits, and the
  // starter learns it from the ready pipe's end, with the reason.
  std::string path = testutil::TempSocketPath("notasocket");
  fd::OwnedFd f(open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(f.valid());
  auto c = Child::StartServer({Bin("shim"), "--listen=unix:" + path});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(c.status().message(), HasSubstr("is not a socket"));
  unlink(path.c_str());
}

TEST(ShimBinaryTest, TcpOnlyWhenSpelledOut) {
  auto r = testutil::Run({Bin("shim"), "--listen=127.0.0.1:7070"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, kExitUsage);
  EXPECT_THAT(r->err, HasSubstr("tcp:HOST:PORT"));
  r = testutil::Run({Bin("shim"), "stray-argument"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, kExitUsage);
}

// RunBin runs one of our binaries with args (and extra environment).
Result RunBin(const std::string& bin, std::vector<std::string> args,
              std::vector<std::string> env = {}) {
  args.insert(args.begin(), Bin(bin));
  auto r = testutil::Run(args, env);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.value_or(Result{});
}

TEST(DevctlCliTest, HelpListsEveryCommandAndFlagWithItsDefaultAndExitsZero) {
  for (const char* spelling : {"--help", "-h"}) {
    SCOPED_TRACE(spelling);
    Result r = RunBin("devctl", {spelling});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_THAT(r.out, HasSubstr("Usage: devctl [FLAGS] COMMAND"));
    for (const char* cmd :
         {"attach NAME [GOFER_SOCKET]", "reattach NAME GOFER_SOCKET",
          "detach NAME", "ls", "get NAME", "devices NAME", "probe NAME RELPATH",
          "health", "watch", "help [COMMAND]", "completion bash"}) {
      EXPECT_THAT(r.out, HasSubstr(absl::StrCat("\n  ", cmd, " ")));
    }
    for (const char* flag :
         {"--server=ADDRESS\n", "--json\n", "--timeout=DURATION\n", "--open\n",
          "--mode=r|w|rw\n", "-l, --long\n", "--count=N\n", "-h, --help\n",
          "--version\n"}) {
      EXPECT_THAT(r.out, HasSubstr(absl::StrCat("  ", flag)));
    }
    EXPECT_THAT(r.out,
                AllOf(HasSubstr("(default: 10s)"),
                      HasSubstr("(default: $DEVCTL_SERVER, else"),
                      HasSubstr("(default: r)"), HasSubstr("DEVCTL_SERVER:"),
                      HasSubstr("Exit status:")));
    // Every line fits a terminal.
    for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
      EXPECT_LE(line.size(), 80u) << line;
    }
  }
  // --help after a command is that command's help.
  Result r = RunBin("devctl", {"probe", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("Usage: devctl [FLAGS] probe NAME RELPATH"));
}

TEST(DevctlCliTest, HelpCommandSaysWhatACommandDoes) {
  Result r = RunBin("devctl", {"help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, RunBin("devctl", {"--help"}).out);
  r = RunBin("devctl", {"help", "probe"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("Usage: devctl [FLAGS] probe NAME RELPATH "
                                     "[--open [--mode=r|w|rw]]\n"),
                           HasSubstr("the gofer only stats it"),
                           HasSubstr("Flags of probe:\n  --open\n"),
                           HasSubstr("Global flags:\n  --server=ADDRESS\n"),
                           Not(HasSubstr("--count"))));
  r = RunBin("devctl", {"help", "devices"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("-l, --long"), HasSubstr("ls -l")));
}

TEST(DevctlCliTest, VersionPrintsTheProjectAndGvisorVersions) {
  Result r = RunBin("devctl", {"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, gvisor_devutil::VersionText("devctl"));
  r = RunBin("shim", {"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, gvisor_devutil::VersionText("runsc_shim"));
}

TEST_F(DevctlTest, DevctlServerIsTheDefaultOfServer) {
  const std::string env = "DEVCTL_SERVER=unix:" + socket_;
  Result r = RunBin("devctl", {"health"}, {env});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "SERVING\n");
  // --server wins over it.
  r = RunBin("devctl", {"--server=unix:/tmp/no-shim-here.sock", "health"},
             {env});
  EXPECT_EQ(r.exit_code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("unix:/tmp/no-shim-here.sock"));
  // A bad one is named as such.
  r = RunBin("devctl", {"health"}, {"DEVCTL_SERVER=/tmp/x.sock"});
  ExpectUsageError(r, "devctl: $DEVCTL_SERVER: address \"/tmp/x.sock\"",
                   "devctl --help");
}

// Complete runs devctl's bash completion, loaded as its help says
// (source <(devctl completion bash)), on the words of a command line being
// typed, the last one partial, and returns COMPREPLY joined by spaces.
std::string Complete(const std::vector<std::string>& words) {
  std::string quoted;
  for (const std::string& w : words) absl::StrAppend(&quoted, " '", w, "'");
  const std::string script = absl::StrCat(
      "source <(\"$DEVCTL\" completion bash) || exit 3\n"
      "COMP_WORDS=(\"$DEVCTL\"",
      quoted,
      ")\n"
      "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
      "_devctl\n"
      "echo \"${COMPREPLY[*]}\"\n");
  auto r = testutil::Run({"/bin/bash", "--norc", "-c", script},
                         {"DEVCTL=" + Bin("devctl")});
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return "";
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->err, "");
  return std::string(absl::StripSuffix(r->out, "\n"));
}

TEST(DevctlCliTest, BashCompletionCompletesCommandsFlagsAndValues) {
  Result r = RunBin("devctl", {"completion", "bash"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("complete -F _devctl devctl"));
  EXPECT_EQ(Complete({"at"}), "attach");
  EXPECT_EQ(Complete({"de"}), "detach devices");
  EXPECT_EQ(Complete({"--json", "--timeout", "5s", "pro"}), "probe");
  EXPECT_EQ(Complete({"--ti"}), "--timeout=");
  EXPECT_EQ(Complete({"devices", "x", "-"}),
            Complete({"-"}));  // the same flags anywhere
  EXPECT_EQ(Complete({"probe", "x", "null", "--mode=r"}), "r rw");
  EXPECT_EQ(Complete({"help", "re"}), "reattach");
  EXPECT_EQ(Complete({"completion", ""}), "bash");
  EXPECT_EQ(Complete({"ls", ""}), "");
}

TEST_F(DevctlTest, BashCompletionCompletesContainerNames) {
  ASSERT_EQ(Devctl({"attach", "demo", gofer_->socket()}).exit_code, 0);
  ASSERT_EQ(Devctl({"attach", "dev2", gofer_->socket()}).exit_code, 0);
  ASSERT_EQ(Devctl({"attach", "other", gofer_->socket()}).exit_code, 0);
  EXPECT_EQ(Complete({"--server=unix:" + socket_, "get", "de"}), "demo dev2");
  EXPECT_EQ(Complete({"--server", "unix:" + socket_, "probe", "o"}), "other");
}

TEST(ShimBinaryTest, HelpListsEveryFlagWithItsDefaultAndExitsZero) {
  for (const char* spelling : {"--help", "-h"}) {
    SCOPED_TRACE(spelling);
    Result r = RunBin("shim", {spelling});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    for (const char* flag :
         {"--listen=ADDRESS\n", "--shutdown_grace=DURATION\n",
          "--max_dirents=N\n", "--max_dirent_bytes=N\n",
          "--max_calls_per_container=N\n", "--ready_fd=FD\n", "-h, --help\n",
          "--version\n"}) {
      EXPECT_THAT(r.out, HasSubstr(absl::StrCat("\n  ", flag)));
    }
    EXPECT_THAT(
        r.out,
        AllOf(HasSubstr("Usage: shim [FLAGS]"), HasSubstr("(default: 5s)"),
              HasSubstr("(default: 65536)"), HasSubstr("Exit status:")));
    for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
      EXPECT_LE(line.size(), 80u) << line;
    }
  }
}

TEST(ShimBinaryTest, UsageErrorsExitTwoWithOneLineAndAHint) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& k : std::vector<Case>{
           {{"--lsten=unix:/tmp/x"},
            "shim: unknown flag --lsten (did you mean --listen?)"},
           {{"--shutdown_grace=5"},
            "shim: --shutdown_grace=5: a duration needs a unit, e.g. 5s"},
           {{"--max_dirents=lots"},
            "shim: --max_dirents=lots: not a whole number"},
           {{"stray-argument"}, "shim: unexpected argument \"stray-argument\""},
       }) {
    SCOPED_TRACE(absl::StrJoin(k.args, " "));
    Result r = RunBin("shim", k.args);
    EXPECT_EQ(r.exit_code, kExitUsage);
    EXPECT_TRUE(absl::StartsWith(r.err, k.message)) << r.err;
    EXPECT_TRUE(absl::EndsWith(r.err, "\nRun 'shim --help' for usage.\n"))
        << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 2) << r.err;
  }
}

// GlogLine reports whether line is in glog's format: "I20261201 18:07:28.183678
// 15843 file.cc:98] message" (gRPC's own starts "I1201 18:07:28.183678552").
bool GlogLine(absl::string_view line) {
  if (line.size() < 10 ||
      std::string("IWEF").find(line[0]) == std::string::npos) {
    return false;
  }
  for (size_t i = 1; i <= 8; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(line[i]))) return false;
  }
  return line[9] == ' ';
}

TEST(ShimBinaryTest, GlogFlagsAreDocumentedAndChecked) {
  Result r = RunBin("shim", {"--help"});
  EXPECT_THAT(r.out,
              AllOf(HasSubstr("\n  --v=N\n"), HasSubstr("\n  --logtostderr\n"),
                    HasSubstr("\n  --log_dir=DIR\n")));
  r = RunBin("shim", {"--v=loud"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("shim: --v=loud: not a level"));
  r = RunBin("shim", {"--log_dir=/nonexistent-log-dir"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("shim: --log_dir=/nonexistent-log-dir: ENOENT"));
  r = RunBin("shim", {"--log_dir=/tmp", "--logtostderr"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("log files or stderr, not both"));
}

TEST(ShimBinaryTest, LogDirGetsTheLogAndVTheDetail) {
  const char* tmp = getenv("TEST_TMPDIR");
  const std::string dir =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/logs.", getpid());
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  const std::string socket = testutil::TempSocketPath("logdir");
  auto shim =
      StartShim({"--listen=unix:" + socket, "--log_dir=" + dir, "--v=1"});
  ASSERT_NE(shim, nullptr);
  shim->Signal(SIGTERM);
  ASSERT_TRUE(shim->Wait().ok());
  // glog names the file after the program and links shim.INFO to it.
  fd::OwnedFd f(open((dir + "/shim.INFO").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(f.valid()) << "no shim.INFO in " << dir;
  std::string log;
  char buf[4096];
  for (ssize_t n; (n = read(f.get(), buf, sizeof(buf))) > 0;) {
    log.append(buf, static_cast<size_t>(n));
  }
  EXPECT_THAT(log, AllOf(HasSubstr("] serving on unix:" + socket),
                         HasSubstr("] listen unix:" + socket +
                                   ", shutdown_grace 5s"),  // VLOG(1)
                         HasSubstr("; bye")));
  EXPECT_THAT(shim->Stderr(), Not(HasSubstr("serving on")));
}

TEST(ShimBinaryTest, GrpcLogIsInGlogFormat) {
  // gRPC logs plenty at GRPC_VERBOSITY=debug; all of it comes through glog.
  const std::string socket = testutil::TempSocketPath("grpclog");
  auto shim = StartShim({"--listen=unix:" + socket}, {"GRPC_VERBOSITY=debug"});
  ASSERT_NE(shim, nullptr);
  shim->Signal(SIGTERM);
  ASSERT_TRUE(shim->Wait().ok());
  int from_grpc = 0;
  for (absl::string_view line : absl::StrSplit(shim->Stderr(), '\n')) {
    if (line.empty()) continue;
    EXPECT_TRUE(GlogLine(line)) << line;
    if (!absl::StrContains(line, "shim_main.cc:") &&
        !absl::StrContains(line, "server.cc:")) {
      ++from_grpc;
    }
  }
  EXPECT_GT(from_grpc, 0) << shim->Stderr();
}

TEST(ShimBinaryTest, ABindFailureIsOneLineWithThePathAndTheReason) {
  Result r = RunBin("shim", {"--listen=unix:/nonexistent-dir/shim.sock"});
  EXPECT_EQ(r.exit_code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("shim: cannot serve on "
                               "unix:/nonexistent-dir/shim.sock: bind of "
                               "\"/nonexistent-dir/shim.sock\": ENOENT (No "
                               "such file or directory)\n"));
  for (absl::string_view line : absl::StrSplit(r.err, '\n')) {
    if (line.empty() || absl::StartsWith(line, "shim: cannot serve")) continue;
    EXPECT_THAT(line, Not(HasSubstr("shim.sock"))) << r.err;  // no gRPC log
    EXPECT_TRUE(GlogLine(line)) << line;
  }
  // An abstract name another shim holds.
  const std::string name = absl::StrCat("devctl-test-", getpid());
  auto first = StartShim({"--listen=unix-abstract:" + name});
  ASSERT_NE(first, nullptr);
  r = RunBin("shim", {"--listen=unix-abstract:" + name});
  EXPECT_EQ(r.exit_code, kExitError);
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("shim: cannot serve on "
                                            "unix-abstract:",
                                            name, ": bind of \"@", name,
                                            "\": EADDRINUSE")));
  EXPECT_THAT(r.err, Not(HasSubstr("No address added")));
  first->Signal(SIGTERM);
  ASSERT_TRUE(first->Wait().ok());
}

}  // namespace
}  // namespace gvisor::shim
