// GoferSupervisor with the real devgofer (its path is argv[1]): a scoped
// gofer serves only its allowed nodes and runs confined in a process group
// of its own; a gofer that dies is reaped and reported; Stop and StopAll
// leave no child and no FD; and each error path says what went wrong.

#include "runsc_shim/gofer_supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"
#include "tools/devgofer/gofer_process.h"

namespace gvisor::shim {
namespace {

using ::testing::HasSubstr;

const char* g_binary = nullptr;
// g_probe prints what the child set up (gofer_supervisor_probe.cc).
const char* g_probe = nullptr;

// kGuard bounds every wait: a failure guard, never a timed assertion.
constexpr absl::Duration kGuard = absl::Seconds(60);

// LogContext records what is logged through it.
class LogContext : public context::Context {
 public:
  void Log(context::LogLevel level, absl::string_view msg) const override {
    std::lock_guard<std::mutex> l(mu_);
    lines_.emplace_back(msg);
    cv_.notify_all();
  }
  bool IsLogging(context::LogLevel) const override { return true; }

  // WaitFor waits until a line holds needle; false by the guard.
  bool WaitFor(absl::string_view needle) const {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_until(l, absl::ToChronoTime(absl::Now() + kGuard), [&] {
      for (const std::string& s : lines_) {
        if (absl::StrContains(s, needle)) return true;
      }
      return false;
    });
  }

  std::vector<std::string> Lines() const {
    std::lock_guard<std::mutex> l(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable std::vector<std::string> lines_;
};

// Exits records on_exit's reports.
class Exits {
 public:
  GoferSupervisor::OnExit Callback() {
    return [this](uint64_t id, const GoferExit& e, const std::string& tail) {
      std::lock_guard<std::mutex> l(mu_);
      exits_[id] = e;
      tails_[id] = tail;
      ++reports_[id];
      cv_.notify_all();
    };
  }

  // Wait waits for gofer id's report; false by the guard.
  bool Wait(uint64_t id, GoferExit* e, std::string* tail = nullptr) {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_until(l, absl::ToChronoTime(absl::Now() + kGuard),
                        [&] { return exits_.count(id) != 0; })) {
      return false;
    }
    *e = exits_[id];
    if (tail != nullptr) *tail = tails_[id];
    return true;
  }

  int Reports(uint64_t id) {
    std::lock_guard<std::mutex> l(mu_);
    return reports_[id];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, GoferExit> exits_;
  std::map<uint64_t, std::string> tails_;
  std::map<uint64_t, int> reports_;
};

SupervisorOptions Options(const std::string& binary = g_binary) {
  SupervisorOptions o;
  o.binary = binary;
  return o;
}

GoferSpec NullAndZero() {
  GoferSpec spec;
  spec.allow = {"null", "zero"};
  return spec;
}

// WriteScript writes an executable file with text under $TEST_TMPDIR.
std::string WriteScript(const std::string& name, const std::string& text) {
  std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/", name);
  std::ofstream(path) << text;
  chmod(path.c_str(), 0755);
  return path;
}

std::string Link(const std::string& path) {
  char buf[256] = {};
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf) - 1);
  return n < 0 ? "" : std::string(buf, n);
}

// NoChildLeft reports whether this process has no child at all (zombies
// included).
bool NoChildLeft() {
  siginfo_t si = {};
  return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
         errno == ECHILD;
}

// Mount mounts over a started gofer's socket; on failure the status
// carries StartFailure's explanation.
absl::StatusOr<std::unique_ptr<devutil::GoferClient>> Mount(
    const context::Context& ctx, GoferSupervisor& sup,
    GoferSupervisor::Started& g) {
  absl::StatusOr<std::unique_ptr<devutil::GoferClient>> c =
      devutil::NewGoferClient(ctx, "c", std::move(g.sock));
  if (c.ok()) return c;
  return sup.StartFailure(g.id, absl::Now() + kGuard);
}

// NeedsNamespaces skips the test where this process cannot make a mount
// namespace (the gofer then cannot be scoped).
#define SKIP_IF_NO_MOUNT_NAMESPACE(status)                    \
  if (absl::StrContains((status).message(), "CAP_SYS_ADMIN")) \
  GTEST_SKIP() << (status)

TEST(GoferSupervisorTest, ServesOnlyTheAllowedNodesConfinedInItsOwnGroup) {
  LogContext ctx;
  Exits exits;
  auto sup = GoferSupervisor::Create(ctx, Options(), exits.Callback());
  ASSERT_TRUE(sup.ok()) << sup.status();
  absl::StatusOr<GoferSupervisor::Started> g =
      (*sup)->Start("confined", NullAndZero());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ((*sup)->Running(), 1u);
  const pid_t pid = g->pid;
  auto c = Mount(ctx, **sup, *g);
  if (!c.ok()) SKIP_IF_NO_MOUNT_NAMESPACE(c.status());
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<std::vector<std::string>> names = (*c)->DirentNames(ctx);
  ASSERT_TRUE(names.ok()) << names.status();
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, std::vector<std::string>({"null", "zero"}));

  EXPECT_EQ(devgofer::ProcStatus(pid, "Seccomp"), "2");
  EXPECT_EQ(devgofer::ProcStatus(pid, "NoNewPrivs"), "1");
  uint64_t cap_eff = 0;
  ASSERT_TRUE(
      absl::SimpleHexAtoi(devgofer::ProcStatus(pid, "CapEff"), &cap_eff));
  EXPECT_EQ(cap_eff & (uint64_t{1} << CAP_SYS_ADMIN), 0u) << cap_eff;
  EXPECT_EQ(devgofer::ProcStatus(pid, "PPid"), std::to_string(getpid()));
  EXPECT_NE(Link(absl::StrCat("/proc/", pid, "/ns/mnt")),
            Link("/proc/self/ns/mnt"));
  EXPECT_EQ(getpgid(pid), pid);
  EXPECT_NE(getpgid(pid), getpgid(0));
  // Its output is logged under its container's name.
  EXPECT_TRUE(
      ctx.WaitFor(absl::StrCat("gofer for confined (pid ", pid, "): ")));

  (*c)->Close();
  ASSERT_TRUE((*sup)->Stop(g->id).ok());
  GoferExit e;
  ASSERT_TRUE(exits.Wait(g->id, &e));
  EXPECT_EQ(e.ToString(), "exited with status 0");
  EXPECT_EQ((*sup)->Running(), 0u);
}

TEST(GoferSupervisorTest, LogBytesPerSecondBoundsWhatAGoferLogs) {
  LogContext ctx;
  Exits exits;
  SupervisorOptions o = Options();
  o.log_bytes_per_second = 16;  // less than devgofer's first line
  auto sup = GoferSupervisor::Create(ctx, o, exits.Callback());
  ASSERT_TRUE(sup.ok()) << sup.status();
  absl::StatusOr<GoferSupervisor::Started> g =
      (*sup)->Start("chatty", GoferSpec());
  ASSERT_TRUE(g.ok()) << g.status();
  // Once it serves, it has written its start-up lines.
  auto c = Mount(ctx, **sup, *g);
  ASSERT_TRUE(c.ok()) << c.status();
  (*c)->Close();
  ASSERT_TRUE((*sup)->Stop(g->id).ok());
  // Its output ended: what was dropped is said then.
  EXPECT_TRUE(
      ctx.WaitFor("of its output not logged (more than 16 bytes a second)"));
}

TEST(GoferSupervisorTest, KilledGoferIsReapedAndReportedOnce) {
  LogContext ctx;
  Exits exits;
  auto sup = GoferSupervisor::Create(ctx, Options(), exits.Callback());
  ASSERT_TRUE(sup.ok()) << sup.status();
  absl::StatusOr<GoferSupervisor::Started> g =
      (*sup)->Start("victim", GoferSpec());
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(kill(g->pid, SIGKILL), 0);
  GoferExit e;
  std::string tail;
  ASSERT_TRUE(exits.Wait(g->id, &e, &tail));
  EXPECT_EQ(e.ToString(), "killed by SIGKILL");
  EXPECT_EQ(e.signal, SIGKILL);
  EXPECT_EQ(e.exit_code, -1);
  EXPECT_EQ((*sup)->Running(), 0u);
  // Reaped: not even a zombie is left.
  EXPECT_EQ(waitpid(g->pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  struct stat st;
  EXPECT_NE(stat(absl::StrCat("/proc/", g->pid).c_str(), &st), 0);
  // Gone already: Stop has nothing to do (and no other id is known).
  EXPECT_TRUE((*sup)->Stop(g->id).ok());
  EXPECT_TRUE(absl::IsNotFound((*sup)->Stop(g->id + 1)));
  EXPECT_TRUE(absl::IsNotFound((*sup)->Stop(0)));
  EXPECT_TRUE(ctx.WaitFor(
      absl::StrCat("gofer for victim (pid ", g->pid, ") killed by SIGKILL")));
  sup->reset();
  EXPECT_EQ(exits.Reports(g->id), 1);
}

TEST(GoferSupervisorTest, StopTerminatesAndReaps) {
  LogContext ctx;
  Exits exits;
  auto sup = GoferSupervisor::Create(ctx, Options(), exits.Callback());
  ASSERT_TRUE(sup.ok()) << sup.status();
  absl::StatusOr<GoferSupervisor::Started> g =
      (*sup)->Start("stopped", GoferSpec());
  ASSERT_TRUE(g.ok()) << g.status();
  // Serving: a mount answers.
  auto c = devutil::NewGoferClient(ctx, "c", std::move(g->sock));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*sup)->Stop(g->id).ok());
  // Stop returned after on_exit ran.
  EXPECT_EQ(exits.Reports(g->id), 1);
  GoferExit e;
  ASSERT_TRUE(exits.Wait(g->id, &e));
  EXPECT_EQ(e.ToString(), "exited with status 0");
  EXPECT_EQ(waitpid(g->pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ((*sup)->Running(), 0u);
  EXPECT_TRUE((*sup)->Stop(g->id).ok());
  (*c)->Close();
}

TEST(GoferSupervisorTest, StopKillsAGoferThatIgnoresSigterm) {
  // Ignores SIGTERM, and so does what it execs: only SIGKILL ends it.
  const std::string stubborn = WriteScript(
      "stubborn",
      "#!/bin/sh\ntrap '' TERM\necho ignoring TERM\nexec sleep 1000\n");
  LogContext ctx;
  Exits exits;
  SupervisorOptions o = Options(stubborn);
  o.stop_grace = absl::Milliseconds(100);
  auto sup = GoferSupervisor::Create(ctx, o, exits.Callback());
  ASSERT_TRUE(sup.ok()) << sup.status();
  absl::StatusOr<GoferSupervisor::Started> g =
      (*sup)->Start("stubborn", GoferSpec());
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(ctx.WaitFor("ignoring TERM"));
  ASSERT_TRUE((*sup)->Stop(g->id).ok());
  GoferExit e;
  ASSERT_TRUE(exits.Wait(g->id, &e));
  EXPECT_EQ(e.ToString(), "killed by SIGKILL");
  EXPECT_TRUE(ctx.WaitFor("after SIGTERM, sending SIGKILL"));
  EXPECT_TRUE(NoChildLeft());
}

TEST(GoferSupervisorTest, StopAllLeavesNoChildAndNoFd) {
  const int fds_before = testing::OpenFdCount();
  {
    LogContext ctx;
    Exits exits;
    auto sup = GoferSupervisor::Create(ctx, Options(), exits.Callback());
    ASSERT_TRUE(sup.ok()) << sup.status();
    std::vector<GoferSupervisor::Started> gofers;
    for (int i = 0; i < 4; ++i) {
      absl::StatusOr<GoferSupervisor::Started> g = (*sup)->Start(
          absl::StrCat("c", i), i % 2 ? NullAndZero() : GoferSpec());
      ASSERT_TRUE(g.ok()) << g.status();
      gofers.push_back(*std::move(g));
    }
    EXPECT_EQ((*sup)->Running(), 4u);
    // Three FDs each: its socket (ours to hold), its pidfd, its pipe.
    const int fds_running = testing::OpenFdCount();
    (*sup)->StopAll();
    EXPECT_EQ((*sup)->Running(), 0u);
    for (const GoferSupervisor::Started& g : gofers) {
      GoferExit e;
      EXPECT_TRUE(exits.Wait(g.id, &e));
    }
    EXPECT_TRUE(NoChildLeft());
    EXPECT_EQ(testing::OpenFdCount(), fds_running - 2 * 4);
    // Refused once StopAll has begun.
    EXPECT_TRUE(
        absl::IsUnavailable((*sup)->Start("late", GoferSpec()).status()));
  }
  EXPECT_EQ(testing::OpenFdCount(), fds_before);
}

TEST(GoferSupervisorTest, DestructorStopsEveryGofer) {
  const int fds_before = testing::OpenFdCount();
  LogContext ctx;
  Exits exits;
  std::vector<uint64_t> ids;
  {
    auto sup = GoferSupervisor::Create(ctx, Options(), exits.Callback());
    ASSERT_TRUE(sup.ok()) << sup.status();
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<GoferSupervisor::Started> g =
          (*sup)->Start(absl::StrCat("d", i), GoferSpec());
      ASSERT_TRUE(g.ok()) << g.status();
      ids.push_back(g->id);
    }
  }
  for (uint64_t id : ids) EXPECT_EQ(exits.Reports(id), 1);
  EXPECT_TRUE(NoChildLeft());
  EXPECT_EQ(testing::OpenFdCount(), fds_before);
}

TEST(GoferSupervisorTest, CreateRefusesABinaryThatIsNotThere) {
  LogContext ctx;
  EXPECT_TRUE(absl::IsInvalidArgument(
      GoferSupervisor::Create(ctx, Options("/no/such/devgofer"), nullptr)
          .status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      GoferSupervisor::Create(ctx, Options("devgofer"), nullptr).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      GoferSupervisor::Create(ctx, Options("/dev"), nullptr).status()));
}

TEST(GoferSupervisorTest, StartSaysWhyTheBinaryCannotRun) {
  // Executable bits, but no format the kernel runs.
  const std::string junk = WriteScript("junk", "not a program\n");
  const int fds_before = testing::OpenFdCount();
  LogContext ctx;
  auto sup = GoferSupervisor::Create(ctx, Options(junk), nullptr);
  ASSERT_TRUE(sup.ok()) << sup.status();
  absl::StatusOr<GoferSupervisor::Started> g =
      (*sup)->Start("junk", GoferSpec());
  ASSERT_FALSE(g.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(g.status())) << g.status();
  EXPECT_THAT(g.status().message(), HasSubstr("cannot run " + junk));
  EXPECT_THAT(g.status().message(), HasSubstr("ENOEXEC"));
  EXPECT_EQ(syserr::ToErrno(g.status()), ENOEXEC);
  EXPECT_EQ((*sup)->Running(), 0u);
  EXPECT_TRUE(NoChildLeft());
  sup->reset();
  EXPECT_EQ(testing::OpenFdCount(), fds_before);
}

TEST(GoferSupervisorTest, StartRefusesABadSpec) {
  LogContext ctx;
  auto sup = GoferSupervisor::Create(ctx, Options(), nullptr);
  ASSERT_TRUE(sup.ok()) << sup.status();
  GoferSpec relative;
  relative.root = "dev";
  GoferSpec bad_rule;
  bad_rule.allow = {"../etc"};
  GoferSpec device_alone;
  device_alone.cdi_devices = {"example.com/dev=x"};
  for (const GoferSpec* spec : {&relative, &bad_rule, &device_alone}) {
    absl::Status s = (*sup)->Start("bad", *spec).status();
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  }
  EXPECT_EQ((*sup)->Running(), 0u);
}

TEST(GoferSupervisorTest, AllowlistThatMatchesNothingIsAStartFailure) {
  LogContext ctx;
  Exits exits;
  auto sup = GoferSupervisor::Create(ctx, Options(), exits.Callback());
  ASSERT_TRUE(sup.ok()) << sup.status();
  GoferSpec spec;
  spec.allow = {"no-such-node*"};
  absl::StatusOr<GoferSupervisor::Started> g = (*sup)->Start("empty", spec);
  ASSERT_TRUE(g.ok()) << g.status();
  auto c = Mount(ctx, **sup, *g);
  ASSERT_FALSE(c.ok());
  SKIP_IF_NO_MOUNT_NAMESPACE(c.status());
  EXPECT_TRUE(absl::IsFailedPrecondition(c.status())) << c.status();
  EXPECT_THAT(c.status().message(),
              HasSubstr("exited with status 1 before serving"));
  EXPECT_THAT(c.status().message(), HasSubstr("matches no file"));
  EXPECT_THAT(c.status().message(), HasSubstr("no-such-node*"));
}

TEST(GoferSupervisorTest, WithoutCapSysAdminTheStartFailureSaysSo) {
  // In a child that lost CAP_SYS_ADMIN for good (the bounding set too, so
  // that the gofer it runs, root or not, does not regain it).
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(p[0]);
    std::string msg;
    [&] {
      struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
      struct __user_cap_data_struct d[2] = {};
      if (syscall(SYS_capget, &h, d) != 0) {
        msg = "capget failed";
        return;
      }
      __user_cap_data_struct& x = d[CAP_TO_INDEX(CAP_SYS_ADMIN)];
      const uint32_t bit = CAP_TO_MASK(CAP_SYS_ADMIN);
      // Without CAP_SETPCAP (not root) the bounding set stays, and so
      // does the gofer's lack of CAP_SYS_ADMIN.
      if (prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) != 0 &&
          (x.permitted & bit) != 0) {
        msg = "PR_CAPBSET_DROP failed";
        return;
      }
      x.effective &= ~bit;
      x.permitted &= ~bit;
      x.inheritable &= ~bit;
      if (syscall(SYS_capset, &h, d) != 0) {
        msg = "capset failed";
        return;
      }
      LogContext ctx;
      auto sup = GoferSupervisor::Create(ctx, Options(), nullptr);
      if (!sup.ok()) {
        msg = sup.status().ToString();
        return;
      }
      absl::StatusOr<GoferSupervisor::Started> g =
          (*sup)->Start("nocap", NullAndZero());
      if (!g.ok()) {
        msg = g.status().ToString();
        return;
      }
      auto c = Mount(ctx, **sup, *g);
      msg = c.status().ToString();
    }();
    (void)!write(p[1], msg.data(), msg.size());
    _exit(0);
  }
  close(p[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof(buf))) > 0) msg.append(buf, n);
  close(p[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_THAT(msg, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(msg, HasSubstr("before serving"));
  EXPECT_THAT(msg, HasSubstr("mount namespace"));
  EXPECT_THAT(msg, HasSubstr("CAP_SYS_ADMIN"));
  EXPECT_THAT(msg, HasSubstr("EPERM"));
}

TEST(GoferSupervisorTest, MaxGofersBoundsTheGofersAlive) {
  LogContext ctx;
  SupervisorOptions o = Options();
  o.max_gofers = 2;
  auto sup = GoferSupervisor::Create(ctx, o, nullptr);
  ASSERT_TRUE(sup.ok()) << sup.status();
  auto a = (*sup)->Start("a", GoferSpec());
  auto b = (*sup)->Start("b", GoferSpec());
  ASSERT_TRUE(a.ok() && b.ok());
  absl::Status third = (*sup)->Start("c", GoferSpec()).status();
  EXPECT_TRUE(absl::IsResourceExhausted(third)) << third;
  EXPECT_THAT(third.message(), HasSubstr("2"));
  ASSERT_TRUE((*sup)->Stop(a->id).ok());
  EXPECT_TRUE((*sup)->Start("c", GoferSpec()).ok());
}

TEST(GoferSupervisorTest, StartFailureOfAKilledGoferNamesTheSignal) {
  LogContext ctx;
  auto sup = GoferSupervisor::Create(ctx, Options(), nullptr);
  ASSERT_TRUE(sup.ok()) << sup.status();
  auto g = (*sup)->Start("killed", GoferSpec());
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(kill(g->pid, SIGKILL), 0);
  absl::Status s = (*sup)->StartFailure(g->id, absl::Now() + kGuard);
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat(
                               "the gofer (pid ", g->pid,
                               ") was killed by SIGKILL before serving")));
}

TEST(GoferSupervisorTest, StartFailureOfARunningGoferIsUnavailable) {
  LogContext ctx;
  auto sup = GoferSupervisor::Create(ctx, Options(), nullptr);
  ASSERT_TRUE(sup.ok()) << sup.status();
  auto g = (*sup)->Start("alive", GoferSpec());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(absl::IsUnavailable((*sup)->StartFailure(g->id, absl::Now())));
  EXPECT_TRUE(absl::IsNotFound((*sup)->StartFailure(g->id + 100, absl::Now())));
}

TEST(GoferSupervisorTest, OutputIsRateLimitedAndItsTailKept) {
  // A megabyte of lines in a burst, then a last one.
  const std::string chatty = WriteScript(
      "chatty",
      "#!/bin/sh\n"
      "i=0; line=$(printf '%0100d' 0)\n"
      "while [ $i -lt 10000 ]; do echo \"$line\"; i=$((i+1)); done\n"
      "echo last line >&2\n");
  LogContext ctx;
  Exits exits;
  auto sup = GoferSupervisor::Create(ctx, Options(chatty), exits.Callback());
  ASSERT_TRUE(sup.ok()) << sup.status();
  auto g = (*sup)->Start("chatty", GoferSpec());
  ASSERT_TRUE(g.ok()) << g.status();
  GoferExit e;
  std::string tail;
  ASSERT_TRUE(exits.Wait(g->id, &e, &tail));
  EXPECT_EQ(e.ToString(), "exited with status 0");
  EXPECT_LE(tail.size(), GoferSupervisor::kTailBytes);
  EXPECT_TRUE(absl::EndsWith(tail, "last line\n")) << tail;
  size_t logged = 0;
  bool noted = false;
  for (const std::string& l : ctx.Lines()) {
    if (absl::StrContains(l, "00000000")) logged += 101;
    if (absl::StrContains(l, "of its output not logged")) noted = true;
  }
  // 1 MB went by, at most a few seconds' worth was logged.
  EXPECT_LT(logged, 10000u * 101);
  EXPECT_TRUE(noted);
  EXPECT_THAT((*sup)->StartFailure(g->id, absl::Now()).message(),
              HasSubstr("last line"));
}

TEST(GoferSupervisorTest, ChildHasFourFdsDefaultSignalsItsGroupAndPdeathsig) {
  // What the child must not inherit: an FD without close-on-exec, an
  // ignored signal, systemd's variables meant for the shim.
  fd::OwnedFd leaked(open("/dev/null", O_RDONLY));
  ASSERT_TRUE(leaked.valid());
  struct sigaction ign = {}, old_usr2 = {};
  ign.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGUSR2, &ign, &old_usr2), 0);
  setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  setenv("LISTEN_FDS", "1", 1);
  setenv("PROBE_KEPT", "kept", 1);
  std::string tail;
  GoferExit e;
  {
    LogContext ctx;
    Exits exits;
    SupervisorOptions o = Options(g_probe);
    o.extra_flags = {"--extra"};
    auto sup = GoferSupervisor::Create(ctx, o, exits.Callback());
    ASSERT_TRUE(sup.ok()) << sup.status();
    GoferSpec spec;
    spec.allow = {"null"};
    spec.cdi_specs = {"/etc/cdi/x.yaml"};
    spec.cdi_devices = {"example.com/dev=x"};
    spec.readonly = true;
    auto g = (*sup)->Start("probe", spec);
    ASSERT_TRUE(g.ok()) << g.status();
    ASSERT_TRUE(exits.Wait(g->id, &e, &tail));
  }
  sigaction(SIGUSR2, &old_usr2, nullptr);
  unsetenv("NOTIFY_SOCKET");
  unsetenv("LISTEN_FDS");
  unsetenv("PROBE_KEPT");
  EXPECT_EQ(e.ToString(), "exited with status 0") << tail;
  EXPECT_THAT(tail, HasSubstr("args: --fd=3 --root=/dev --allow=null "
                              "--cdi_spec=/etc/cdi/x.yaml "
                              "--cdi_device=example.com/dev=x --private_dir "
                              "--readonly --extra\n"));
  EXPECT_THAT(tail, HasSubstr("fds: 0 1 2 3\n"));
  EXPECT_THAT(tail, HasSubstr("fd0: /dev/null\n"));
  EXPECT_THAT(tail, HasSubstr("fd1 and fd2: one pipe\n"));
  EXPECT_THAT(tail, HasSubstr("fd3: socket\n"));
  EXPECT_THAT(tail, HasSubstr("SigBlk: 0000000000000000\n"));
  EXPECT_THAT(tail, HasSubstr("SigIgn: 0000000000000000\n"));
  EXPECT_THAT(tail, HasSubstr("own process group: yes\n"));
  EXPECT_THAT(tail, HasSubstr(absl::StrCat("pdeathsig: ", SIGKILL, "\n")));
  EXPECT_THAT(tail, HasSubstr("env NOTIFY_SOCKET: (unset)\n"));
  EXPECT_THAT(tail, HasSubstr("env LISTEN_FDS: (unset)\n"));
  EXPECT_THAT(tail, HasSubstr("env PROBE_KEPT: kept\n"));
}

TEST(GoferSupervisorTest, GoferDiesWithTheSupervisorsProcess) {
  // Only SIGKILL ends it; nobody sends one but the kernel's PDEATHSIG.
  const std::string stubborn = WriteScript(
      "stubborn_orphan", "#!/bin/sh\ntrap '' TERM\nexec sleep 1000\n");
  // A child that is a subreaper (so that the orphaned gofer becomes its
  // own), whose child runs the supervisor and dies by SIGKILL.
  pid_t mid = fork();
  ASSERT_GE(mid, 0);
  if (mid == 0) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) _exit(10);
    int p[2];
    if (pipe(p) != 0) _exit(11);
    pid_t shim = fork();
    if (shim < 0) _exit(12);
    if (shim == 0) {
      LogContext ctx;
      auto sup = GoferSupervisor::Create(ctx, Options(stubborn), nullptr);
      if (!sup.ok()) _exit(13);
      auto g = (*sup)->Start("orphan", GoferSpec());
      if (!g.ok()) _exit(14);
      pid_t pid = g->pid;
      (void)!write(p[1], &pid, sizeof(pid));
      kill(getpid(), SIGKILL);
      _exit(15);
    }
    close(p[1]);
    pid_t gofer = -1;
    if (read(p[0], &gofer, sizeof(gofer)) != sizeof(gofer)) _exit(16);
    int st = 0;
    if (waitpid(shim, &st, 0) != shim || !WIFSIGNALED(st)) _exit(17);
    // The gofer is ours now; it must die without anyone's help.
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, gofer, 0));
    if (pidfd < 0) _exit(18);
    pollfd pf = {pidfd, POLLIN, 0};
    if (poll(&pf, 1, absl::ToInt64Milliseconds(kGuard)) != 1) {
      kill(gofer, SIGKILL);
      waitpid(gofer, nullptr, 0);
      _exit(19);
    }
    if (waitpid(gofer, &st, 0) != gofer) _exit(20);
    _exit(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : 21);
  }
  int st = 0;
  ASSERT_EQ(waitpid(mid, &st, 0), mid);
  ASSERT_TRUE(WIFEXITED(st)) << st;
  EXPECT_EQ(WEXITSTATUS(st), 0);
}

TEST(GoferSupervisorTest, OnExitMayStartAgain) {
  LogContext ctx;
  Exits exits;
  std::mutex mu;
  std::condition_variable cv;
  GoferSupervisor* sup_ptr = nullptr;  // set before any gofer runs
  std::optional<absl::StatusOr<GoferSupervisor::Started>> again;
  uint64_t first = 0;
  GoferSupervisor::OnExit record = exits.Callback();
  auto sup = GoferSupervisor::Create(
      ctx, Options(),
      [&](uint64_t id, const GoferExit& e, const std::string& tail) {
        record(id, e, tail);
        std::lock_guard<std::mutex> l(mu);
        if (id != first) return;
        again = sup_ptr->Start("again", GoferSpec());
        cv.notify_all();
      });
  ASSERT_TRUE(sup.ok()) << sup.status();
  {
    std::lock_guard<std::mutex> l(mu);
    sup_ptr = sup->get();
  }
  auto g = (*sup)->Start("first", GoferSpec());
  ASSERT_TRUE(g.ok()) << g.status();
  {
    std::lock_guard<std::mutex> l(mu);
    first = g->id;
  }
  ASSERT_EQ(kill(g->pid, SIGKILL), 0);
  std::unique_lock<std::mutex> l(mu);
  ASSERT_TRUE(cv.wait_until(l, absl::ToChronoTime(absl::Now() + kGuard),
                            [&] { return again.has_value(); }));
  ASSERT_TRUE(again->ok()) << again->status();
  const uint64_t second = (*again)->id;
  l.unlock();
  EXPECT_EQ((*sup)->Running(), 1u);
  ASSERT_TRUE((*sup)->Stop(second).ok());
  // Stopped (exited 0, or killed by the SIGTERM if it came before devgofer
  // took SIGTERM over) and reported once.
  EXPECT_EQ(exits.Reports(second), 1);
  EXPECT_EQ((*sup)->Running(), 0u);
}

TEST(GoferSupervisorTest, StartsAndStopsFromManyThreads) {
  LogContext ctx;
  Exits exits;
  auto sup = GoferSupervisor::Create(ctx, Options(), exits.Callback());
  ASSERT_TRUE(sup.ok()) << sup.status();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        auto g = (*sup)->Start(absl::StrCat("t", t, "-", i), GoferSpec());
        if (!g.ok()) {
          ++failures;
          continue;
        }
        // Every other one dies first.
        if (i % 2) kill(g->pid, SIGKILL);
        if (!(*sup)->Stop(g->id).ok()) ++failures;
        if (exits.Reports(g->id) != 1) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ((*sup)->Running(), 0u);
  EXPECT_TRUE(NoChildLeft());
}

TEST(GoferSupervisorTest, StartWithoutFdsLeftIsResourceExhausted) {
  LogContext ctx;
  auto sup = GoferSupervisor::Create(ctx, Options(), nullptr);
  ASSERT_TRUE(sup.ok()) << sup.status();
  rlimit old;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  fd::OwnedFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(null.valid());
  std::vector<fd::OwnedFd> fill;
  absl::Status s;
  {
    rlimit low = {static_cast<rlim_t>(testing::OpenFdCount() + 64),
                  old.rlim_max};
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (;;) {
      fd::OwnedFd f(fcntl(null.get(), F_DUPFD_CLOEXEC, 0));
      if (!f.valid()) break;
      fill.push_back(std::move(f));
    }
    s = (*sup)->Start("no-fds", GoferSpec()).status();
    fill.clear();
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  }
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(syserr::ToErrno(s), EMFILE) << s;
  EXPECT_EQ((*sup)->Running(), 0u);
  auto g = (*sup)->Start("fds-again", GoferSpec());
  EXPECT_TRUE(g.ok()) << g.status();
}

TEST(GoferSupervisorTest, EachGoferCostsThreeFdsAndNoThread) {
  LogContext ctx;
  auto sup = GoferSupervisor::Create(ctx, Options(), nullptr);
  ASSERT_TRUE(sup.ok()) << sup.status();
  const int fds = testing::OpenFdCount();
  const int threads = testing::ThreadCount();
  constexpr int kGofers = 16;
  std::vector<GoferSupervisor::Started> gofers;
  for (int i = 0; i < kGofers; ++i) {
    auto g = (*sup)->Start(absl::StrCat("g", i), GoferSpec());
    ASSERT_TRUE(g.ok()) << g.status();
    gofers.push_back(*std::move(g));
  }
  // Its socket (the caller's), its pidfd and its output pipe.
  EXPECT_EQ(testing::OpenFdCount() - fds, 3 * kGofers);
  EXPECT_EQ(testing::ThreadCount(), threads);
  gofers.clear();  // their sockets: each gofer ends with its connection
  (*sup)->StopAll();
  EXPECT_EQ(testing::OpenFdCount(), fds);
}

TEST(GoferSupervisorTest, WhatAGoferLeavesInItsGroupDiesWithIt) {
  // A process of its group that outlives it (devgofer itself cannot
  // fork: its sandbox refuses).
  const std::string parent = WriteScript(
      "leaves_a_child", "#!/bin/sh\nsleep 1000 &\necho \"left $!\"\nexit 3\n");
  LogContext ctx;
  Exits exits;
  auto sup = GoferSupervisor::Create(ctx, Options(parent), exits.Callback());
  ASSERT_TRUE(sup.ok()) << sup.status();
  auto g = (*sup)->Start("parent", GoferSpec());
  ASSERT_TRUE(g.ok()) << g.status();
  GoferExit e;
  std::string tail;
  ASSERT_TRUE(exits.Wait(g->id, &e, &tail));
  EXPECT_EQ(e.ToString(), "exited with status 3");
  pid_t left = 0;
  size_t at = tail.find("left ");
  ASSERT_NE(at, std::string::npos) << tail;
  ASSERT_TRUE(
      absl::SimpleAtoi(absl::StripAsciiWhitespace(tail.substr(at + 5)), &left))
      << tail;
  // Not our child (its parent was the script): watched through a pidfd.
  fd::OwnedFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, left, 0)));
  if (!pidfd.valid()) {
    ASSERT_EQ(errno, ESRCH);  // gone already
    return;
  }
  pollfd pf = {pidfd.get(), POLLIN, 0};
  EXPECT_EQ(poll(&pf, 1, absl::ToInt64Milliseconds(kGuard)), 1)
      << "pid " << left << " outlived its gofer";
}

}  // namespace
}  // namespace gvisor::shim

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 3) {
    fprintf(stderr, "usage: gofer_supervisor_test DEVGOFER PROBE\n");
    return 2;
  }
  for (int i : {1, 2}) {
    char* real = realpath(argv[i], nullptr);
    if (real == nullptr) {
      perror(argv[i]);
      return 2;
    }
    (i == 1 ? gvisor::shim::g_binary : gvisor::shim::g_probe) = real;
  }
  return RUN_ALL_TESTS();
}
