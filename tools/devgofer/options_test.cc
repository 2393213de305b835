#include "tools/devgofer/options.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
  EXPECT_FALSE(o->backend.donate_mount_fd);
  EXPECT_EQ(o->backend.char_devices, fsgofer::CharDevicePolicy::kPassthrough);
  EXPECT_FALSE(o->backend.host_fifo_open);
  EXPECT_FALSE(o->backend.host_uds_open);
  EXPECT_FALSE(o->backend.host_uds_create);
}

TEST(OptionsTest, EveryFlag) {
  absl::StatusOr<Options> o = ParseOptions(
      {"--root", "/srv", "--fd=3", "--donate_mount_fd", "--readonly=true",
       "--char_devices=deny", "--host_fifo=open", "--host_uds=all",
       "--ready_fd", "4", "--v=2"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->root, "/srv");
  EXPECT_EQ(o->fd, 3);
  EXPECT_TRUE(o->readonly);
  EXPECT_TRUE(o->backend.donate_mount_fd);
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

TEST(OptionsTest, MaxTreeDepthDefaultsToTheServersAndIsSet) {
  absl::StatusOr<Options> o = ParseOptions({"--listen=/a"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->max_tree_depth, 4096u);
  o = ParseOptions({"--listen=/a", "--max_tree_depth=100000"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->max_tree_depth, 100000u);
}

TEST(OptionsTest, AllowIsRepeatableAndNeverSplit) {
  absl::StatusOr<Options> o = ParseOptions({"--listen=/a"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->allow.empty());
  EXPECT_EQ(o->backend.allowlist, nullptr);
  EXPECT_FALSE(o->donate_mount_fd_given);
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
  EXPECT_TRUE(o->donate_mount_fd_given);
  EXPECT_TRUE(ParseOptions({"--fd=3", "--donate_mount_fd=false"})
                  ->donate_mount_fd_given);
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

}  // namespace
}  // namespace gvisor::devgofer
