#include "pkg/devscope/allowlist.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace gvisor::devscope {
namespace {

constexpr mode_t kChr = S_IFCHR | 0666;
constexpr mode_t kBlk = S_IFBLK | 0660;
constexpr mode_t kDir = S_IFDIR | 0755;
constexpr mode_t kReg = S_IFREG | 0644;
constexpr mode_t kLnk = S_IFLNK | 0777;

Allowlist MustParse(const std::vector<std::string>& rules) {
  absl::StatusOr<Allowlist> a = Allowlist::Parse(rules);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *std::move(a) : Allowlist();
}

TEST(AllowlistTest, EmptyAllowsEverything) {
  Allowlist a = MustParse({});
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.Check("", kDir, 0), Visibility::kAllowed);
  EXPECT_EQ(a.Check("kvm", kChr, makedev(10, 232)), Visibility::kAllowed);
  EXPECT_EQ(a.Check("a/b/c", kReg, 0), Visibility::kAllowed);
}

TEST(AllowlistTest, ExactAndGlobbedPaths) {
  Allowlist a = MustParse({"nvidiactl", "nvidia[0-9]*", "nvidia-caps/*"});
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a.Check("", kDir, 0), Visibility::kTraverse);
  EXPECT_EQ(a.Check("nvidiactl", kChr, makedev(195, 255)),
            Visibility::kAllowed);
  EXPECT_EQ(a.Check("nvidia0", kChr, makedev(195, 0)), Visibility::kAllowed);
  EXPECT_EQ(a.Check("nvidia17", kChr, makedev(195, 17)), Visibility::kAllowed);
  EXPECT_EQ(a.Check("nvidia-uvm", kChr, makedev(510, 0)), Visibility::kHidden);
  EXPECT_EQ(a.Check("nvidia", kChr, makedev(195, 254)), Visibility::kHidden);
  EXPECT_EQ(a.Check("null", kChr, makedev(1, 3)), Visibility::kHidden);
  // The directory on the way is traversable, its entries allowed.
  EXPECT_EQ(a.Check("nvidia-caps", kDir, 0), Visibility::kTraverse);
  EXPECT_EQ(a.Check("nvidia-caps/nvidia-cap1", kChr, makedev(235, 1)),
            Visibility::kAllowed);
  // What a glob matches may be a directory: all of it is allowed.
  EXPECT_EQ(a.Check("nvidia-caps/x/y", kChr, 0), Visibility::kAllowed);
  // Only a directory is traversed: a file named like one is hidden.
  EXPECT_EQ(a.Check("nvidia-caps", kReg, 0), Visibility::kHidden);
}

TEST(AllowlistTest, GlobsDoNotCrossSlashes) {
  Allowlist a = MustParse({"nvidia*cap", "x?y"});
  EXPECT_EQ(a.Check("nvidia-cap", kChr, 0), Visibility::kAllowed);
  EXPECT_EQ(a.Check("nvidia/cap", kChr, 0), Visibility::kHidden);
  EXPECT_EQ(a.Check("nvidia", kDir, 0), Visibility::kHidden);
  EXPECT_EQ(a.Check("x/y", kChr, 0), Visibility::kHidden);
  EXPECT_EQ(a.Check("x-y", kChr, 0), Visibility::kAllowed);
}

TEST(AllowlistTest, DirectoryRuleAllowsItsSubtree) {
  Allowlist a = MustParse({"dri"});
  EXPECT_EQ(a.Check("dri", kDir, 0), Visibility::kAllowed);
  EXPECT_EQ(a.Check("dri/card0", kChr, makedev(226, 0)), Visibility::kAllowed);
  EXPECT_EQ(a.Check("dri/by-path/x", kLnk, 0), Visibility::kAllowed);
  EXPECT_EQ(a.Check("drip", kChr, 0), Visibility::kHidden);
}

TEST(AllowlistTest, DeviceNumbers) {
  Allowlist a = MustParse({"c 195:*", "b 7:0", "a 10:200"});
  EXPECT_EQ(a.Check("nvidia3", kChr, makedev(195, 3)), Visibility::kAllowed);
  EXPECT_EQ(a.Check("nvidia3", kBlk, makedev(195, 3)), Visibility::kHidden);
  EXPECT_EQ(a.Check("loop0", kBlk, makedev(7, 0)), Visibility::kAllowed);
  EXPECT_EQ(a.Check("loop1", kBlk, makedev(7, 1)), Visibility::kHidden);
  EXPECT_EQ(a.Check("net/tun", kChr, makedev(10, 200)), Visibility::kAllowed);
  EXPECT_EQ(a.Check("tunblk", kBlk, makedev(10, 200)), Visibility::kAllowed);
  EXPECT_EQ(a.Check("null", kChr, makedev(1, 3)), Visibility::kHidden);
  // A regular file is never a device, whatever its st_rdev.
  EXPECT_EQ(a.Check("fake", kReg, makedev(195, 0)), Visibility::kHidden);
  // Number rules alone do not make directories visible.
  EXPECT_EQ(a.Check("net", kDir, 0), Visibility::kHidden);
  EXPECT_EQ(a.Check("", kDir, 0), Visibility::kTraverse);
}

TEST(AllowlistTest, PathOrNumber) {
  Allowlist a = MustParse({"null", "c 195:*"});
  EXPECT_EQ(a.Check("null", kChr, makedev(1, 3)), Visibility::kAllowed);
  EXPECT_EQ(a.Check("nvidia0", kChr, makedev(195, 0)), Visibility::kAllowed);
  EXPECT_EQ(a.Check("zero", kChr, makedev(1, 5)), Visibility::kHidden);
}

TEST(AllowlistTest, CanonicalRules) {
  Allowlist a = MustParse({"c 195:*", "nvidia-caps/*", "a *:*", "b 8:0"});
  EXPECT_EQ(a.rules(), (std::vector<std::string>{"nvidia-caps/*", "c 195:*",
                                                 "a *:*", "b 8:0"}));
  EXPECT_EQ(a.ToString(), "nvidia-caps/*, c 195:*, a *:*, b 8:0");
}

TEST(AllowlistTest, MalformedRulesAreRefused) {
  for (const std::string& bad :
       {std::string(""), std::string("/dev/null"), std::string("a//b"),
        std::string("./null"), std::string("../etc"), std::string("dri/"),
        std::string("c 195"), std::string("c 195:"), std::string("c :1"),
        std::string("c x:1"), std::string("c 4096:0"),
        std::string("c 1:1048576"), std::string("c 1:2:3"),
        std::string("c -1:0"), std::string("nul\0l", 5),
        std::string(kMaxRuleLength + 1, 'x')}) {
    absl::StatusOr<Allowlist> a = Allowlist::Parse({bad});
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument)
        << "rule \"" << bad << "\"";
  }
  std::vector<std::string> many(kMaxRules + 1, "null");
  EXPECT_EQ(Allowlist::Parse(many).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      Allowlist::Parse(std::vector<std::string>(kMaxRules, "null")).ok());
}

TEST(AllowlistTest, AMessageNamesTheRule) {
  absl::StatusOr<Allowlist> a = Allowlist::Parse({"null", "c 195:x"});
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("\"c 195:x\""), std::string::npos)
      << a.status();
}

}  // namespace
}  // namespace gvisor::devscope
