#include "tools/devgofer/options.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gvisor::devgofer {
namespace {

TEST(OptionsTest, DefaultsServeDevWithPassthrough) {
  absl::StatusOr<Options> o = ParseOptions({"--listen=/tmp/s"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->root, "/dev");
  EXPECT_EQ(o->listen, "/tmp/s");
  EXPECT_EQ(o->fd, -1);
  EXPECT_EQ(o->ready_fd, -1);
  EXPECT_FALSE(o->readonly);
  // The mount FD is donated by default, as runsc donates it.
  EXPECT_TRUE(o->backend.donate_mount_fd);
  EXPECT_EQ(o->donation_note, "");
  EXPECT_EQ(o->backend.char_devices, fsgofer::CharDevicePolicy::kPassthrough);
  EXPECT_FALSE(o->backend.host_fifo_open);
  EXPECT_FALSE(o->backend.host_uds_open);
  EXPECT_FALSE(o->backend.host_uds_create);
}

TEST(OptionsTest, EveryFlag) {
  absl::StatusOr<Options> o = ParseOptions(
      {"--root", "/srv", "--fd=3", "--nodonate_mount_fd", "--readonly=true",
       "--char_devices=deny", "--host_fifo=open", "--host_uds=all",
       "--ready_fd", "4", "--v=2"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->root, "/srv");
  EXPECT_EQ(o->fd, 3);
  EXPECT_TRUE(o->readonly);
  EXPECT_FALSE(o->backend.donate_mount_fd);
  EXPECT_EQ(o->donation_note, "") << "turned off by the flag itself";
  EXPECT_EQ(o->backend.char_devices, fsgofer::CharDevicePolicy::kDeny);
  EXPECT_TRUE(o->backend.host_fifo_open);
  EXPECT_TRUE(o->backend.host_uds_open);
  EXPECT_TRUE(o->backend.host_uds_create);
  EXPECT_EQ(o->ready_fd, 4);
  EXPECT_EQ(o->verbosity, 2);
  o = ParseOptions({"--fd=0", "--readonly", "--noreadonly", "--host_uds=open"});
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->readonly);
  EXPECT_TRUE(o->backend.host_uds_open);
  EXPECT_FALSE(o->backend.host_uds_create);
}

TEST(OptionsTest, DonationIsOnByDefaultAndOffWithNodonate) {
  for (const auto& [args, donate] :
       std::vector<std::pair<std::vector<std::string>, bool>>{
           {{"--fd=3"}, true},
           {{"--fd=3", "--donate_mount_fd"}, true},
           {{"--fd=3", "--donate_mount_fd=true"}, true},
           {{"--fd=3", "--nodonate_mount_fd"}, false},
           {{"--fd=3", "--donate_mount_fd=false"}, false},
           {{"--fd=3", "--char_devices=passthrough", "--noreadonly"}, true},
       }) {
    absl::StatusOr<Options> o = ParseOptions(args);
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->backend.donate_mount_fd, donate)
        << testing::PrintToString(args);
    EXPECT_EQ(o->donation_note, "");
  }
}

TEST(OptionsTest, ReadonlyAndDenyTurnTheDefaultDonationOffAndSayWhy) {
  for (const auto& [flag, why] :
       std::vector<std::pair<std::string, std::string>>{
           {"--readonly", "--readonly"},
           {"--char_devices=deny", "--char_devices=deny"},
       }) {
    absl::StatusOr<Options> o = ParseOptions({"--fd=3", flag});
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_FALSE(o->backend.donate_mount_fd) << flag;
    EXPECT_NE(o->donation_note.find("not donated"), std::string::npos)
        << o->donation_note;
    EXPECT_NE(o->donation_note.find(why), std::string::npos)
        << o->donation_note;
    // --nodonate_mount_fd says the same, without a note.
    o = ParseOptions({"--fd=3", flag, "--nodonate_mount_fd"});
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_FALSE(o->backend.donate_mount_fd);
  }
}

TEST(OptionsTest, ExplicitDonationThatWouldWidenIsRefused) {
  for (const auto& [args, why] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--fd=3", "--readonly", "--donate_mount_fd"}, "--readonly"},
           {{"--fd=3", "--donate_mount_fd", "--char_devices=deny"},
            "--char_devices=deny"},
           {{"--fd=3", "--donate_mount_fd=1", "--readonly",
             "--char_devices=deny"},
            "--readonly"},
       }) {
    absl::StatusOr<Options> o = ParseOptions(args);
    ASSERT_FALSE(o.ok()) << testing::PrintToString(args);
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(o.status().message().find("--donate_mount_fd"), std::string::npos)
        << o.status();
    EXPECT_NE(o.status().message().find("bypass " + why), std::string::npos)
        << o.status();
  }
}

TEST(OptionsTest, MaxTreeDepthDefaultsToTheServersAndIsSet) {
  absl::StatusOr<Options> o = ParseOptions({"--listen=/a"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->max_tree_depth, 4096u);
  o = ParseOptions({"--listen=/a", "--max_tree_depth=100000"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->max_tree_depth, 100000u);
}

TEST(OptionsTest, SpinDefaultsToTheServersAndIsSet) {
  absl::StatusOr<Options> o = ParseOptions({"--listen=/tmp/s"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->server.spin, lisafs::ServerOptions().spin);
  o = ParseOptions({"--listen=/tmp/s", "--spin=0"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->server.spin, absl::ZeroDuration());
  o = ParseOptions({"--listen=/tmp/s", "--spin=25us"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->server.spin, absl::Microseconds(25));
  for (const char* bad : {"--spin=5", "--spin=-1us", "--spin=1s"}) {
    EXPECT_FALSE(ParseOptions({"--listen=/tmp/s", bad}).ok()) << bad;
  }
}

TEST(OptionsTest, AllowIsRepeatableAndNeverSplit) {
  absl::StatusOr<Options> o = ParseOptions({"--listen=/a"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->allow.empty());
  EXPECT_EQ(o->backend.allowlist, nullptr);
  EXPECT_FALSE(o->donate_mount_fd.has_value());
  o = ParseOptions({"--listen=/a", "--allow=null", "--allow", "nvidia[0-9]*",
                    "--allow=c 195:*", "--allow=dri/card{0,1}",
                    "--nodonate_mount_fd"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->allow, (std::vector<std::string>{"null", "nvidia[0-9]*",
                                                "c 195:*", "dri/card{0,1}"}));
  ASSERT_NE(o->backend.allowlist, nullptr);
  EXPECT_EQ(o->backend.allowlist->rules(),
            (std::vector<std::string>{"null", "nvidia[0-9]*", "dri/card{0,1}",
                                      "c 195:*"}));
  EXPECT_EQ(o->donate_mount_fd, false);
  EXPECT_EQ(
      ParseOptions({"--fd=3", "--donate_mount_fd=false"})->donate_mount_fd,
      false);
}

TEST(OptionsTest, BadAllowRulesNameTheRule) {
  for (const char* rule : {"/dev/null", "", "a//b", "c 195", "c 1:x", ".."}) {
    absl::StatusOr<Options> o =
        ParseOptions({"--listen=/a", absl::StrCat("--allow=", rule)});
    ASSERT_FALSE(o.ok()) << rule;
    EXPECT_TRUE(absl::StrContains(o.status().message(), "--allow"))
        << o.status();
    EXPECT_TRUE(
        absl::StrContains(o.status().message(), absl::StrCat("\"", rule, "\"")))
        << o.status();
  }
}

TEST(OptionsTest, BadCommandLines) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {},
           {"--listen=/a", "--fd=3"},
           {"--fd=-1"},
           {"--fd=x"},
           {"--listen"},
           {"--listen="},
           {"--listen=/a", "--bogus"},
           {"--listen=/a", "--char_devices=emulated"},
           {"--listen=/a", "--readonly=maybe"},
           {"--listen=/a", "--host_uds=some"},
           {"--listen=/a", "--host_fifo=yes"},
           {"--listen=/a", "stray"},
           {"--listen=/a", "--root="},
           {"--listen=/a", "--ready_fd=-2"},
           {"--listen=/a", "--ready_fd=x"},
           {"--fd=3", "--ready_fd=3"},
           {"--listen=/a", "--max_tree_depth=0"},
           {"--listen=/a", "--max_tree_depth=deep"},
       }) {
    absl::StatusOr<Options> o = ParseOptions(args);
    EXPECT_FALSE(o.ok()) << testing::PrintToString(args);
  }
  EXPECT_EQ(ParseOptions({"--listen=/a", "--bogus"}).status().message(),
            "unknown flag --bogus");
}

TEST(OptionsTest, HelpAndVersionEndTheParse) {
  for (const auto& [args, help, version] :
       std::vector<std::tuple<std::vector<std::string>, bool, bool>>{
           {{"--help"}, true, false},
           {{"-h"}, true, false},
           {{"--listen=/a", "--help", "--bogus"}, true, false},
           {{"--version"}, false, true},
           {{"--fd=3", "--version", "stray"}, false, true},
       }) {
    absl::StatusOr<Options> o = ParseOptions(args);
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->help, help);
    EXPECT_EQ(o->version, version);
  }
  // A bad flag before it is still an error.
  EXPECT_FALSE(ParseOptions({"--bogus", "--help"}).ok());
}

TEST(OptionsTest, MistypedFlagsNameTheClosestOne) {
  for (const auto& [flag, message] :
       std::vector<std::pair<std::string, std::string>>{
           {"--lisen=/a", "unknown flag --lisen (did you mean --listen?)"},
           {"--readonyl", "unknown flag --readonyl (did you mean --readonly?)"},
           {"--nosandbx",
            "unknown flag --nosandbx (did you mean --nosandbox?)"},
           {"--shutdown-grace=5s",
            "unknown flag --shutdown-grace (did you mean --shutdown_grace?)"},
           {"--frobnicate", "unknown flag --frobnicate"},
       }) {
    EXPECT_EQ(ParseOptions({"--fd=3", flag}).status().message(), message);
  }
}

TEST(OptionsTest, DurationsNeedAUnit) {
  for (const auto& [value, message] :
       std::vector<std::pair<std::string, std::string>>{
           {"10",
            "--shutdown_grace=10: a duration needs a unit, e.g. 10s, "
            "500ms"},
           {"2.5",
            "--shutdown_grace=2.5: a duration needs a unit, e.g. "
            "2.5s, 500ms"},
           {"soon",
            "--shutdown_grace=soon: not a duration; give a number "
            "with a unit, e.g. 5s, 500ms, 1m"},
           {"-1s",
            "--shutdown_grace=-1s: not a duration; give a number "
            "with a unit, e.g. 5s, 500ms, 1m"},
       }) {
    EXPECT_EQ(ParseOptions({"--fd=3", "--shutdown_grace=" + value})
                  .status()
                  .message(),
              message);
  }
  for (const auto& [value, want] :
       std::vector<std::pair<std::string, absl::Duration>>{
           {"0", absl::ZeroDuration()},
           {"500ms", absl::Milliseconds(500)},
           {"1m", absl::Minutes(1)}}) {
    absl::StatusOr<Options> o =
        ParseOptions({"--fd=3", "--shutdown_grace=" + value});
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->server.shutdown_grace, want);
  }
}

TEST(OptionsTest, GlogFlags) {
  absl::StatusOr<Options> o = ParseOptions({"--fd=3"});
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->logtostderr.has_value());
  EXPECT_EQ(o->log_dir, "");
  o = ParseOptions(
      {"--fd=3", "--log_dir=/var/log/x", "--nologtostderr", "--v=1"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->log_dir, "/var/log/x");
  EXPECT_EQ(o->logtostderr, false);
  EXPECT_EQ(o->verbosity, 1);
}

// Every flag ParseOptions takes is in the usage, and every flag the usage
// lists parses; every line fits in 80 columns.
TEST(OptionsTest, UsageListsEveryFlag) {
  const std::string usage = Usage();
  std::vector<std::string> listed;
  for (absl::string_view line : absl::StrSplit(usage, '\n')) {
    EXPECT_LE(line.size(), 80u) << line;
    if (!absl::ConsumePrefix(&line, "  --") &&
        !absl::ConsumePrefix(&line, "  -h, --")) {
      continue;
    }
    absl::ConsumePrefix(&line, "[no]");
    listed.emplace_back(line.substr(0, line.find_first_of("= ")));
  }
  const std::vector<std::string> parsed = {"root",
                                           "listen",
                                           "fd",
                                           "ready_fd",
                                           "readonly",
                                           "donate_mount_fd",
                                           "char_devices",
                                           "host_fifo",
                                           "host_uds",
                                           "allow",
                                           "cdi_spec",
                                           "cdi_device",
                                           "oci_spec",
                                           "private_dir",
                                           "sandbox",
                                           "seccomp_action",
                                           "workers",
                                           "max_fdids_per_connection",
                                           "fd_reserve",
                                           "fd_reserve_per_connection",
                                           "max_channel_threads",
                                           "shutdown_grace",
                                           "max_tree_depth",
                                           "v",
                                           "logtostderr",
                                           "log_dir",
                                           "help",
                                           "version"};
  EXPECT_THAT(listed, ::testing::UnorderedElementsAreArray(parsed));
  for (const std::string& f : listed) {
    absl::StatusOr<Options> o = ParseOptions({"--fd=3", "--" + f + "=x"});
    EXPECT_FALSE(absl::StartsWith(o.status().message(), "unknown flag"))
        << f << ": " << o.status();
  }
}

TEST(OptionsTest, SocketActivationNeedsNoListenAndRefusesFd) {
  absl::StatusOr<Options> o = ParseOptions({}, /*socket_activated=*/true);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->listen, "");
  EXPECT_TRUE(ParseOptions({"--listen=/run/g.sock"}, true).ok());
  EXPECT_TRUE(absl::StartsWith(
      ParseOptions({"--fd=3"}, true).status().message(),
      "--fd: the gofer was given a listening socket by socket activation"));
  EXPECT_FALSE(ParseOptions({}, false).ok());
}

// WriteFile writes text to a new file in the test's temp dir.
std::string WriteFile(const std::string& name, const std::string& text) {
  std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/", name);
  std::ofstream(path) << text;
  return path;
}

constexpr char kGpuSpec[] = R"(---
cdiVersion: 0.5.0
containerEdits:
  deviceNodes:
  - path: /dev/nvidia-uvm
  - path: /dev/nvidiactl
devices:
- containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
  name: "0"
- containerEdits:
    deviceNodes:
    - path: /dev/nvidia1
  name: "1"
kind: nvidia.com/gpu
)";

constexpr char kImexSpec[] =
    R"({"cdiVersion":"0.5.0","kind":"nvidia.com/imex-channel","devices":)"
    R"([{"name":"channel0","containerEdits":{"deviceNodes":[{"path":)"
    R"("/dev/nvidia-caps-imex-channels/channel0"}]}}]})";

constexpr char kConfig[] = R"({
	"ociVersion": "1.0.2",
	"linux": {
		"devices": [
			{"path": "/dev/nvidia1", "type": "c", "major": 195, "minor": 1},
			{"path": "/dev/nvidiactl", "type": "c", "major": 195, "minor": 255}
		]
	}
})";

TEST(OptionsTest, NoScopingByDefault) {
  absl::StatusOr<Options> o = ParseOptions({"--listen=/a"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->scope_rules.empty());
  EXPECT_TRUE(o->cdi_specs.empty());
  EXPECT_TRUE(o->oci_spec.empty());
}

TEST(OptionsTest, CdiSpecsAndDevicesGiveRules) {
  std::string gpu = WriteFile("gpu.yaml", kGpuSpec);
  std::string imex = WriteFile("imex.json", kImexSpec);
  absl::StatusOr<Options> o =
      ParseOptions({"--listen=/a", "--cdi_spec", gpu,
                    "--cdi_device=nvidia.com/gpu=1", "--cdi_spec=" + imex,
                    "--cdi_device", "nvidia.com/imex-channel=channel0"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(o->cdi_specs, testing::ElementsAre(gpu, imex));
  EXPECT_THAT(o->cdi_devices,
              testing::ElementsAre("nvidia.com/gpu=1",
                                   "nvidia.com/imex-channel=channel0"));
  EXPECT_THAT(o->scope_rules,
              testing::ElementsAre("nvidia1", "nvidia-uvm", "nvidiactl",
                                   "nvidia-caps-imex-channels/channel0"));
  // Relative to --root, whichever comes first on the command line.
  o = ParseOptions({"--cdi_device=nvidia.com/gpu=0", "--cdi_spec=" + gpu,
                    "--listen=/a", "--root=/"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(
      o->scope_rules,
      testing::ElementsAre("dev/nvidia0", "dev/nvidia-uvm", "dev/nvidiactl"));
}

TEST(OptionsTest, OciSpecGivesRulesAfterCdiOnes) {
  std::string gpu = WriteFile("gpu2.yaml", kGpuSpec);
  std::string config = WriteFile("config.json", kConfig);
  absl::StatusOr<Options> o =
      ParseOptions({"--listen=/a", "--oci_spec=" + config});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->oci_spec, config);
  EXPECT_THAT(o->scope_rules, testing::ElementsAre("nvidia1", "nvidiactl"));
  EXPECT_FALSE(o->private_dir);
  o = ParseOptions({"--listen=/a", "--oci_spec=" + config, "--private_dir"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->private_dir);
  o = ParseOptions({"--listen=/a", "--oci_spec=" + config, "--cdi_spec=" + gpu,
                    "--cdi_device=nvidia.com/gpu=0"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(o->scope_rules, testing::ElementsAre("nvidia0", "nvidia-uvm",
                                                   "nvidiactl", "nvidia1"));
}

TEST(OptionsTest, BadScopeFlags) {
  std::string gpu = WriteFile("gpu3.yaml", kGpuSpec);
  std::string bad = WriteFile("bad.yaml", "cdiVersion: [");
  std::string empty_config = WriteFile("empty.json", "{\"linux\": {}}");
  struct Case {
    std::vector<std::string> args;
    const char* error;
  };
  const std::vector<Case> cases = {
      {{"--cdi_spec=" + gpu}, "--cdi_spec needs --cdi_device"},
      {{"--cdi_device=nvidia.com/gpu=0"}, "--cdi_device needs --cdi_spec"},
      {{"--cdi_spec=" + gpu, "--cdi_device=0"}, "not a fully qualified name"},
      {{"--cdi_spec=" + gpu, "--cdi_device=nvidia.com/gpu=7"},
       "unknown CDI device nvidia.com/gpu=7; available: nvidia.com/gpu=0, "
       "nvidia.com/gpu=1"},
      {{"--cdi_spec=" + gpu, "--cdi_device=nvidia.com/gpu=0", "--root=/srv"},
       "\"/dev/nvidia0\" is not under \"/srv\""},
      {{"--cdi_spec=" + bad, "--cdi_device=nvidia.com/gpu=0"}, "bad.yaml"},
      {{"--cdi_spec=/nonexistent.yaml", "--cdi_device=nvidia.com/gpu=0"},
       "/nonexistent.yaml"},
      {{"--cdi_spec="}, "--cdi_spec: empty path"},
      {{"--oci_spec=" + empty_config}, "lists no device"},
      {{"--oci_spec=/nonexistent.json"}, "--oci_spec: open /nonexistent.json"},
      {{"--private_dir"}, "--private_dir needs rules"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    args.push_back("--listen=/a");
    absl::StatusOr<Options> o = ParseOptions(args);
    ASSERT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument)
        << testing::PrintToString(args);
    EXPECT_THAT(o.status().message(), testing::HasSubstr(c.error))
        << testing::PrintToString(args);
  }
}

}  // namespace
}  // namespace gvisor::devgofer
