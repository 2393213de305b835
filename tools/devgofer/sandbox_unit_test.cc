// The sandbox's flags, and its refusal to confine a process that already
// runs threads (their capabilities would stay). The sandbox itself is
// tested on the real binary: sandbox_test.cc.

#include <latch>
#include <thread>

#include "gtest/gtest.h"
#include "tools/devgofer/options.h"
#include "tools/devgofer/sandbox.h"

namespace gvisor::devgofer {
namespace {

TEST(SandboxFlagsTest, OnByDefaultWithErrno) {
  absl::StatusOr<Options> o = ParseOptions({"--fd=3"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->sandbox);
  EXPECT_EQ(o->seccomp_action, SeccompAction::kErrno);
  EXPECT_FALSE(o->selftest.has_value());
}

TEST(SandboxFlagsTest, EverySandboxFlag) {
  absl::StatusOr<Options> o =
      ParseOptions({"--fd=3", "--nosandbox", "--seccomp_action=kill",
                    "--sandbox_selftest=socket_inet"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->sandbox);
  EXPECT_EQ(o->seccomp_action, SeccompAction::kKill);
  EXPECT_EQ(o->selftest, SelftestProbe::kSocketInet);
  o = ParseOptions(
      {"--fd=3", "--sandbox=false", "--sandbox", "--seccomp_action", "log"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->sandbox);
  EXPECT_EQ(o->seccomp_action, SeccompAction::kLog);
  for (SeccompAction a :
       {SeccompAction::kErrno, SeccompAction::kKill, SeccompAction::kLog}) {
    EXPECT_EQ(*ParseSeccompAction(SeccompActionName(a)), a);
  }
}

TEST(SandboxFlagsTest, BadValuesNameTheFlag) {
  absl::StatusOr<Options> o = ParseOptions({"--fd=3", "--seccomp_action=trap"});
  EXPECT_FALSE(o.ok());
  EXPECT_EQ(o.status().message(),
            "--seccomp_action: \"trap\" is not errno, kill or log");
  o = ParseOptions({"--fd=3", "--sandbox_selftest=reboot"});
  EXPECT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("--sandbox_selftest"),
            absl::string_view::npos);
}

TEST(SandboxTest, RefusesAProcessThatRunsThreads) {
  std::latch started(1), done(1);
  std::thread t([&] {
    started.count_down();
    done.wait();
  });
  started.wait();
  absl::StatusOr<SandboxReport> r = InstallSandbox({});
  done.count_down();
  t.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition)
      << r.status();
}

}  // namespace
}  // namespace gvisor::devgofer
