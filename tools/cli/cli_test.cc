#include "tools/cli/cli.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(std::string, cli_test_name, "x", "a name");
ABSL_FLAG(bool, cli_test_json, false, "print JSON");
ABSL_FLAG(int64_t, cli_test_count, 0, "how many");

namespace gvisor::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ParseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::SetFlag(&FLAGS_cli_test_name, "x");
    absl::SetFlag(&FLAGS_cli_test_json, false);
    absl::SetFlag(&FLAGS_cli_test_count, 0);
    glog_v_ = 0;
    flags_ = {AbslFlag("cli_test_name", "NAME"),
              AbslFlag("cli_test_json", "", 'j'),
              AbslFlag("cli_test_count", "N"),
              {.name = "v",
               .value_name = "N",
               .default_text = "0",
               .help = "verbosity",
               .set = [this](absl::string_view v) {
                 glog_v_ = std::stoi(std::string(v));
                 return absl::OkStatus();
               }}};
  }

  absl::StatusOr<Parsed> P(std::vector<std::string> args) {
    args.insert(args.begin(), "prog");
    argv_.clear();
    for (std::string& a : args) argv_.push_back(a.data());
    strings_ = std::move(args);
    return Parse(flags_, static_cast<int>(strings_.size()), argv_.data());
  }

  std::vector<FlagSpec> flags_;
  std::vector<std::string> strings_;
  std::vector<char*> argv_;
  int glog_v_ = 0;
};

TEST_F(ParseTest, FlagsAnywhereArgumentsInOrder) {
  auto p = P({"a", "--cli_test_name=n", "b", "--cli_test_count", "3", "-j",
              "--v=2", "--", "--cli_test_json=x"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->args, ElementsAre("a", "b", "--cli_test_json=x"));
  EXPECT_EQ(absl::GetFlag(FLAGS_cli_test_name), "n");
  EXPECT_EQ(absl::GetFlag(FLAGS_cli_test_count), 3);
  EXPECT_TRUE(absl::GetFlag(FLAGS_cli_test_json));
  EXPECT_EQ(glog_v_, 2);
  EXPECT_TRUE(p->given.contains("cli_test_name"));
  EXPECT_FALSE(p->help);
}

TEST_F(ParseTest, BooleanSpellings) {
  ASSERT_TRUE(P({"--cli_test_json"}).ok());
  EXPECT_TRUE(absl::GetFlag(FLAGS_cli_test_json));
  ASSERT_TRUE(P({"--nocli_test_json"}).ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_cli_test_json));
  ASSERT_TRUE(P({"-cli_test_json=true"}).ok());
  EXPECT_TRUE(absl::GetFlag(FLAGS_cli_test_json));
  EXPECT_THAT(P({"--cli_test_json=maybe"}).status().message(),
              HasSubstr("not a boolean"));
}

TEST_F(ParseTest, HelpAndVersion) {
  auto p = P({"-h"});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->help);
  p = P({"cmd", "--help"});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->help);
  p = P({"--version"});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->version);
}

TEST_F(ParseTest, UsageErrorsNameTheFlag) {
  EXPECT_EQ(P({"--cli_test_jsno"}).status().message(),
            "unknown flag --cli_test_jsno (did you mean --cli_test_json?)");
  EXPECT_EQ(P({"-x"}).status().message(), "unknown flag -x");
  EXPECT_EQ(P({"--cli_test_count=x"}).status().message(),
            "--cli_test_count=x: not a whole number in range");
  EXPECT_EQ(P({"--cli_test_name"}).status().message(),
            "--cli_test_name needs a value (--cli_test_name=NAME)");
}

TEST(DurationTest, NeedsAUnit) {
  EXPECT_EQ(ParseDuration("timeout", "10", false).status().message(),
            "--timeout=10: a duration needs a unit, e.g. 10s or 10ms (units: "
            "ns, us, ms, s, m, h)");
  EXPECT_THAT(ParseDuration("timeout", "soon", false).status().message(),
              HasSubstr("not a duration"));
  EXPECT_THAT(ParseDuration("timeout", "0s", false).status().message(),
              HasSubstr("must be positive"));
  EXPECT_EQ(*ParseDuration("grace", "0", true), absl::ZeroDuration());
  EXPECT_EQ(*ParseDuration("timeout", "1m30s", false), absl::Seconds(90));
  EXPECT_FALSE(ParseDuration("timeout", "inf", false).ok());
}

TEST(FormatTest, EveryFlagWithItsDefault) {
  std::string help = FormatFlags({AbslFlag("cli_test_count", "N")});
  EXPECT_THAT(help, HasSubstr("  --cli_test_count=N\n      How many. "
                              "(default: 0)\n"));
  EXPECT_THAT(help, HasSubstr("-h, --help"));
  EXPECT_THAT(help, HasSubstr("--version"));
}

TEST(ClosestTest, Suggestions) {
  EXPECT_EQ(Closest("atach", {"attach", "detach"}), "attach");
  EXPECT_EQ(Closest("dev", {"devices", "detach"}), "devices");
  EXPECT_EQ(Closest("zzzzzz", {"attach"}), std::nullopt);
}

}  // namespace
}  // namespace gvisor::cli
