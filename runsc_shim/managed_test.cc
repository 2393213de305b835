// ManagedContainers with the real devgofer: a managed container's gofer is
// scoped, confined, reported, restarted, stopped and reaped, and leaves
// nothing behind.

#include "runsc_shim/managed.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "runsc_shim/registry.h"
#include "runsc_shim/testutil.h"
#include "testing/fd_count.h"

namespace gvisor::shim {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using State = ManagedGoferInfo::State;

std::string Devgofer() {
  absl::StatusOr<std::string> p = testutil::Runfile("tools/devgofer/devgofer");
  return p.ok() ? *p : "";
}

// StatusField returns a field of /proc/PID/status, "" if absent.
std::string StatusField(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, field + ":")) {
      std::string v = line.substr(field.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

std::string NsLink(pid_t pid, const char* ns) {
  char buf[128];
  const std::string path = pid == 0 ? absl::StrCat("/proc/self/ns/", ns)
                                    : absl::StrCat("/proc/", pid, "/ns/", ns);
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf) - 1);
  if (n < 0) return "";
  return std::string(buf, n);
}

// NoChildren reports whether this process has no child left, running or
// unreaped.
bool NoChildren() {
  siginfo_t info = {};
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == -1 &&
         errno == ECHILD;
}

class ManagedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(Devgofer().empty());
    fds_before_ = testing::OpenFdCount();
    absl::StatusOr<std::unique_ptr<ContainerRegistry>> r =
        ContainerRegistry::Create();
    ASSERT_TRUE(r.ok()) << r.status();
    registry_ = *std::move(r);
  }

  void Make(ManagedOptions o = {}) {
    if (o.supervisor.binary.empty()) o.supervisor.binary = Devgofer();
    o.restart_backoff = absl::Milliseconds(10);
    o.supervisor.stop_grace = absl::Seconds(2);
    absl::StatusOr<std::unique_ptr<ManagedContainers>> m =
        ManagedContainers::Create(context::Background(), registry_.get(), o);
    ASSERT_TRUE(m.ok()) << m.status();
    managed_ = *std::move(m);
  }

  // Until waits, without polling, until pred holds for name's snapshot.
  bool Until(const std::string& name,
             const std::function<bool(const ContainerInfo&)>& pred) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    for (;;) {
      const uint64_t gen = registry_->generation();
      absl::StatusOr<ContainerInfo> c = registry_->Get(name);
      if (c.ok() && pred(*c)) return true;
      if (absl::Now() >= deadline) return false;
      registry_->AwaitChange(gen, deadline);
    }
  }

  absl::Time Deadline() { return absl::Now() + absl::Seconds(20); }

  int fds_before_ = 0;
  std::unique_ptr<ContainerRegistry> registry_;
  std::unique_ptr<ManagedContainers> managed_;
};

TEST_F(ManagedTest, ScopedGoferServesExactlyItsDevicesConfined) {
  Make();
  GoferSpec spec;
  spec.allow = {"null", "zero"};
  absl::StatusOr<ContainerInfo> c = managed_->Attach("c1", spec, Deadline());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->gofer.has_value());
  EXPECT_EQ(c->gofer->state, State::kRunning);
  EXPECT_EQ(c->gofer_socket, "");
  const pid_t pid = c->gofer->pid;
  ASSERT_GT(pid, 0);

  absl::StatusOr<std::vector<std::string>> names =
      registry_->DirentNames("c1", Deadline());
  ASSERT_TRUE(names.ok()) << names.status();
  std::sort(names->begin(), names->end());
  EXPECT_THAT(*names, ElementsAre("null", "zero"));
  absl::StatusOr<fd::OwnedFd> f =
      registry_->OpenAt("c1", "null", O_RDWR, Deadline());
  EXPECT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(
      registry_->OpenAt("c1", "full", O_RDONLY, Deadline()).status().code(),
      absl::StatusCode::kNotFound);

  // Confined: its own mount namespace, seccomp filter, no_new_privs, no
  // CAP_SYS_ADMIN, its own process group, our child.
  EXPECT_NE(NsLink(pid, "mnt"), NsLink(0, "mnt"));
  EXPECT_EQ(StatusField(pid, "Seccomp"), "2");
  EXPECT_EQ(StatusField(pid, "NoNewPrivs"), "1");
  uint64_t cap_eff = 0;
  ASSERT_TRUE(absl::SimpleHexAtoi(StatusField(pid, "CapEff"), &cap_eff));
  EXPECT_EQ(cap_eff & (uint64_t{1} << 21), 0u) << "CAP_SYS_ADMIN kept";
  EXPECT_EQ(getpgid(pid), pid);
  EXPECT_EQ(StatusField(pid, "PPid"), absl::StrCat(getpid()));

  ASSERT_TRUE(managed_->Detach("c1").ok());
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_TRUE(NoChildren());
  EXPECT_FALSE(registry_->Get("c1").ok());
}

TEST_F(ManagedTest, KilledGoferIsReportedAndRestarted) {
  Make();
  GoferSpec spec;
  spec.allow = {"null", "zero"};
  spec.restart = true;
  absl::StatusOr<ContainerInfo> c = managed_->Attach("c1", spec, Deadline());
  ASSERT_TRUE(c.ok()) << c.status();
  const pid_t first = c->gofer->pid;
  ASSERT_EQ(kill(first, SIGKILL), 0);
  ASSERT_TRUE(Until("c1", [&](const ContainerInfo& i) {
    return i.gofer->restarts == 1 && i.gofer->state == State::kRunning &&
           i.state == ContainerState::kAttached;
  }));
  ContainerInfo now = *registry_->Get("c1");
  ASSERT_TRUE(now.gofer->last_exit.has_value());
  EXPECT_EQ(now.gofer->last_exit->signal, SIGKILL);
  EXPECT_EQ(now.gofer->last_exit->ToString(), "killed by SIGKILL");
  EXPECT_NE(now.gofer->pid, first);
  EXPECT_EQ(now.reattaches, 1u);
  absl::StatusOr<std::vector<std::string>> names =
      registry_->DirentNames("c1", Deadline());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(names->size(), 2u);
  ASSERT_TRUE(managed_->Detach("c1").ok());
  // Detach waited for the restart to finish its accounts.
  EXPECT_EQ(managed_->Stats().restarts_total, 1u);
  EXPECT_EQ(now.gofer->last_error, "");  // nothing in its log was an error
  EXPECT_TRUE(NoChildren());
}

TEST_F(ManagedTest, AHungGoferIsCutOffStoppedAndReplaced) {
  Make();
  GoferSpec spec;
  spec.allow = {"null", "zero"};
  spec.readonly = true;  // no donated mount FD: the listing is an RPC
  spec.restart = true;
  absl::StatusOr<ContainerInfo> c = managed_->Attach("c1", spec, Deadline());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_FALSE(c->mount_fd_donated);
  const pid_t hung = c->gofer->pid;
  // A gofer that stops answering: the registry's stall guard cuts it off.
  ASSERT_EQ(kill(hung, SIGSTOP), 0);
  // kill returns before the stop takes effect; the group stop is reported
  // once every thread of the gofer has stopped (WNOWAIT: nothing is
  // consumed that the supervisor would wait for).
  siginfo_t stopped = {};
  ASSERT_EQ(waitid(P_PID, hung, &stopped, WSTOPPED | WNOWAIT), 0);
  EXPECT_EQ(registry_->DirentNames("c1", absl::Now() + absl::Milliseconds(100))
                .status()
                .code(),
            absl::StatusCode::kDeadlineExceeded);
  // Its connection is gone for good; the shim stops it and starts another.
  ASSERT_TRUE(Until("c1", [&](const ContainerInfo& i) {
    return i.gofer->restarts == 1 && i.gofer->state == State::kRunning &&
           i.state == ContainerState::kAttached;
  }));
  ContainerInfo now = *registry_->Get("c1");
  EXPECT_NE(now.gofer->pid, hung);
  EXPECT_EQ(now.gofer->last_exit->signal, SIGKILL);  // SIGTERM waits on SIGCONT
  EXPECT_THAT(now.gofer->last_error, HasSubstr("its connection ended"));
  absl::StatusOr<std::vector<std::string>> names =
      registry_->DirentNames("c1", Deadline());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(names->size(), 2u);
  ASSERT_TRUE(managed_->Detach("c1").ok());
  EXPECT_TRUE(NoChildren());
}

TEST_F(ManagedTest, ARestartThatFailsIsReportedAndRetriedUntilItServes) {
  Make();
  const std::string spec_file = ::testing::TempDir() + "/restart-cdi.yaml";
  const std::string cdi =
      "cdiVersion: 0.6.0\n"
      "kind: example.com/dev\n"
      "devices:\n"
      "- name: basic\n"
      "  containerEdits:\n"
      "    deviceNodes:\n"
      "    - path: /dev/null\n";
  std::ofstream(spec_file) << cdi;
  GoferSpec spec;
  spec.cdi_specs = {spec_file};
  spec.cdi_devices = {"example.com/dev=basic"};
  spec.restart = true;
  absl::StatusOr<ContainerInfo> c = managed_->Attach("c1", spec, Deadline());
  ASSERT_TRUE(c.ok()) << c.status();
  // The spec file goes away: every restart's gofer now exits before it
  // serves, saying why.
  ASSERT_EQ(unlink(spec_file.c_str()), 0);
  ASSERT_EQ(kill(c->gofer->pid, SIGKILL), 0);
  ASSERT_TRUE(Until("c1", [&](const ContainerInfo& i) {
    return i.gofer->state == State::kRestarting &&
           absl::StrContains(i.gofer->last_error, spec_file);
  }));
  ContainerInfo failing = *registry_->Get("c1");
  EXPECT_EQ(failing.state, ContainerState::kDisconnected);
  EXPECT_EQ(failing.gofer->last_exit->exit_code, 2) << "a usage error";
  EXPECT_GT(failing.gofer->next_restart, absl::Now() - absl::Seconds(1));
  // Once the file is back, a restart serves again.
  std::ofstream(spec_file) << cdi;
  ASSERT_TRUE(Until("c1", [&](const ContainerInfo& i) {
    return i.gofer->state == State::kRunning &&
           i.state == ContainerState::kAttached;
  }));
  absl::StatusOr<std::vector<std::string>> names =
      registry_->DirentNames("c1", Deadline());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("null"));
  ASSERT_TRUE(managed_->Detach("c1").ok());
  // Counted by the restart that failed (finished, as Detach waited for it).
  EXPECT_GE(managed_->Stats().start_failures_total, 1u);
  EXPECT_TRUE(NoChildren());
}

TEST_F(ManagedTest, KilledGoferWithoutRestartIsReportedExited) {
  Make();
  GoferSpec spec;
  spec.allow = {"null"};
  absl::StatusOr<ContainerInfo> c = managed_->Attach("c1", spec, Deadline());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(kill(c->gofer->pid, SIGKILL), 0);
  ASSERT_TRUE(Until("c1", [&](const ContainerInfo& i) {
    return i.gofer->state == State::kExited &&
           i.state == ContainerState::kDisconnected;
  }));
  EXPECT_EQ(registry_->Get("c1")->gofer->last_exit->signal, SIGKILL);
  EXPECT_TRUE(NoChildren());  // reaped at once, not when detached
  EXPECT_EQ(managed_->Stats().exited, 1u);
  EXPECT_TRUE(managed_->Detach("c1").ok());
}

TEST_F(ManagedTest, DetachAndStopAllLeaveNoChildAndNoFd) {
  Make();
  for (const char* name : {"a", "b", "c"}) {
    GoferSpec spec;
    spec.allow = {"null"};
    spec.restart = true;
    ASSERT_TRUE(managed_->Attach(name, spec, Deadline()).ok());
  }
  EXPECT_EQ(managed_->Stats().running, 3u);
  ASSERT_TRUE(managed_->Detach("a").ok());
  EXPECT_EQ(managed_->Detach("a").code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(managed_->Manages("a"));
  managed_->StopAll();
  EXPECT_TRUE(NoChildren());
  EXPECT_EQ(registry_->size(), 0u);
  EXPECT_EQ(managed_->Attach("d", GoferSpec(), Deadline()).status().code(),
            absl::StatusCode::kUnavailable);
  managed_.reset();
  registry_.reset();
  EXPECT_EQ(testing::OpenFdCount(), fds_before_);
}

TEST_F(ManagedTest, UnscopedGoferServesAllOfItsRoot) {
  Make();
  const std::string root = ::testing::TempDir() + "/unscoped";
  mkdir(root.c_str(), 0755);
  std::ofstream(root + "/one") << "1";
  std::ofstream(root + "/two") << "2";
  GoferSpec spec;
  spec.root = root;
  absl::StatusOr<ContainerInfo> c = managed_->Attach("u", spec, Deadline());
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<std::vector<std::string>> names =
      registry_->DirentNames("u", Deadline());
  ASSERT_TRUE(names.ok()) << names.status();
  std::sort(names->begin(), names->end());
  EXPECT_THAT(*names, ElementsAre("one", "two"));
}

TEST_F(ManagedTest, ASecondAttachOfANameStartsNoGofer) {
  Make();
  GoferSpec spec;
  spec.allow = {"null"};
  ASSERT_TRUE(managed_->Attach("c1", spec, Deadline()).ok());
  EXPECT_EQ(managed_->Attach("c1", spec, Deadline()).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(managed_->Stats().running, 1u);
  EXPECT_EQ(managed_->Stats().start_failures_total, 0u);
}

TEST_F(ManagedTest, ReattachByPathRefusesAManagedContainer) {
  Make();
  ASSERT_TRUE(managed_->Attach("c1", GoferSpec(), Deadline()).ok());
  absl::StatusOr<ContainerInfo> r =
      registry_->Replace("c1", "/nonexistent.sock", Deadline());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition)
      << r.status();
}

TEST_F(ManagedTest, BadSpecsAreRefusedBeforeAnythingStarts) {
  Make();
  GoferSpec relative;
  relative.root = "dev";
  EXPECT_EQ(managed_->Attach("c1", relative, Deadline()).status().code(),
            absl::StatusCode::kInvalidArgument);
  GoferSpec bad_rule;
  bad_rule.allow = {"../etc"};
  EXPECT_EQ(managed_->Attach("c1", bad_rule, Deadline()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      managed_->Attach("bad name", GoferSpec(), Deadline()).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(NoChildren());
}

TEST_F(ManagedTest, AnAllowlistThatMatchesNothingIsAClearError) {
  Make();
  GoferSpec spec;
  spec.allow = {"no-such-device-anywhere"};
  absl::StatusOr<ContainerInfo> c = managed_->Attach("c1", spec, Deadline());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition)
      << c.status();
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("match"));
  EXPECT_FALSE(managed_->Manages("c1"));
  EXPECT_FALSE(registry_->Get("c1").ok());
  EXPECT_TRUE(NoChildren());
  EXPECT_EQ(managed_->Stats().start_failures_total, 1u);
}

TEST_F(ManagedTest, AGoferBinaryThatCannotRunIsAClearError) {
  // An executable file that exec refuses (no interpreter, no ELF).
  const std::string bad = ::testing::TempDir() + "/not-a-program";
  std::ofstream(bad) << "\x7f\x45\x4c\x46garbage";
  chmod(bad.c_str(), 0755);
  ManagedOptions o;
  o.supervisor.binary = bad;
  Make(o);
  absl::StatusOr<ContainerInfo> c =
      managed_->Attach("c1", GoferSpec(), Deadline());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition)
      << c.status();
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(bad));
  EXPECT_FALSE(registry_->Get("c1").ok());
  EXPECT_TRUE(NoChildren());

  ManagedOptions missing;
  missing.supervisor.binary = "/nonexistent/devgofer";
  EXPECT_EQ(
      ManagedContainers::Create(context::Background(), registry_.get(), missing)
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gvisor::shim
