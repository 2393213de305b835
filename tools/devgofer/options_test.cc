#include "tools/devgofer/options.h"

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
