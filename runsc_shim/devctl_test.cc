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

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "runsc_shim/testutil.h"
#include "testing/gofer_fixture.h"

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

class DevctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fx = gvisor::testing::GoferFixture::Create();
    ASSERT_TRUE(fx.ok()) << fx.status();
    fixture_ = std::move(*fx);
    auto g = DevGofer::Start(fixture_->devices_dir(),
                             {"--char_devices=passthrough"});
    ASSERT_TRUE(g.ok()) << g.status();
    gofer_ = std::move(*g);
    socket_ = testutil::TempSocketPath("shim");
    shim_ = StartShim({"--listen=unix:" + socket_});
    ASSERT_NE(shim_, nullptr);
  }

  void TearDown() override {
    if (shim_ != nullptr) {
      shim_->Signal(SIGTERM);
      (void)shim_->Wait();
    }
    unlink(socket_.c_str());
  }

  // Devctl runs devctl --server=<our shim> args.
  Result Devctl(std::vector<std::string> args) {
    args.insert(args.begin(), "--server=unix:" + socket_);
    args.insert(args.begin(), Bin("devctl"));
    auto r = testutil::Run(args);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(Result{});
  }

  std::unique_ptr<gvisor::testing::GoferFixture> fixture_;
  std::unique_ptr<DevGofer> gofer_;
  std::string socket_;
  std::unique_ptr<Child> shim_;
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
  r = Devctl({"--json", "probe", "demo", "null", "--open", "--mode=w"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(
      r.out, AllOf(HasSubstr("\"type\":\"CHAR_DEVICE\""),
                   HasSubstr("\"rdev_major\":1"), HasSubstr("\"rdev_minor\":3"),
                   HasSubstr("\"access_mode\":\"WRITE\"")));
  r = Devctl({"--json", "health"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"status\":\"SERVING\""));
  r = Devctl({"--json", "detach", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{}\n");
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

TEST_F(DevctlTest, UsageErrorsExitTwo) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"attach", "demo"},
           {"ls", "extra"},
           {"probe", "demo"},
           {"probe", "demo", "null", "--mode=x"},
       }) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    Result r = Devctl(args);
    EXPECT_EQ(r.exit_code, kExitUsage);
    EXPECT_THAT(r.err, HasSubstr("usage:"));
  }
}

TEST_F(DevctlTest, UnreachableServerSaysWhere) {
  auto r = testutil::Run(
      {Bin("devctl"), "--server=unix:/tmp/no-shim-here.sock", "ls"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, kExitError);
  EXPECT_THAT(r->err, AllOf(HasSubstr("UNAVAILABLE"),
                            HasSubstr("is the shim serving on "
                                      "unix:/tmp/no-shim-here.sock")));
  r = testutil::Run({Bin("devctl"), "--server=localhost:1", "ls"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, kExitUsage);
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

}  // namespace
}  // namespace gvisor::shim
