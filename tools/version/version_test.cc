// The gVisor version --version names is the one the interop harness builds.

#include "tools/version/version.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gvisor_devutil {
namespace {

TEST(VersionTest, GvisorVersionIsTheOneInteropRequires) {
  std::ifstream in("testing/interop/go.mod");
  ASSERT_TRUE(in.good()) << "testing/interop/go.mod not in the runfiles";
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(absl::StrContains(
      text.str(), absl::StrCat("gvisor.dev/gvisor ", kGvisorTested, "\n")))
      << "testing/interop/go.mod requires another gvisor.dev/gvisor than "
      << kGvisorTested << "; update tools/version/version.h";
}

TEST(VersionTest, TextNamesBinaryVersionAndGvisor) {
  std::string text = VersionText("devctl");
  EXPECT_TRUE(absl::StartsWith(text, absl::StrCat("devctl ", kVersion, "\n")));
  EXPECT_TRUE(absl::StrContains(text, kGvisorTested));
  EXPECT_TRUE(absl::EndsWith(text, "\n"));
}

}  // namespace
}  // namespace gvisor_devutil
