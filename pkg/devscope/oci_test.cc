// An OCI runtime spec as runc and containerd write it (testdata/config.json,
// tab-indented JSON), the rules its linux.devices give, and the errors.

#include "pkg/devscope/oci.h"

#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/devscope/allowlist.h"

namespace gvisor::devscope {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string config_json;

TEST(OciTest, LinuxDevicesBecomeRulesUnderDev) {
  absl::StatusOr<std::vector<OciDevice>> d = LoadOciDevices(config_json);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 4u);
  EXPECT_EQ((*d)[0].path, "/dev/nvidia0");
  EXPECT_EQ((*d)[0].type, "c");
  EXPECT_EQ((*d)[0].major, 195);
  EXPECT_EQ((*d)[0].minor, 0);
  EXPECT_EQ((*d)[1].minor, 255);
  absl::StatusOr<std::vector<std::string>> r = OciRules(*d, config_json);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, ElementsAre("nvidia0", "nvidiactl", "nvidia-uvm",
                              "nvidia-caps/nvidia-cap1"));
  absl::StatusOr<Allowlist> a = Allowlist::Parse(*r);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->Visible("nvidia-caps", S_IFDIR, 0));
  EXPECT_TRUE(a->Visible("nvidia-caps/nvidia-cap1", S_IFCHR, 0));
  EXPECT_FALSE(a->Visible("nvidia-caps/nvidia-cap2", S_IFCHR, 0));
  EXPECT_FALSE(a->Visible("nvidia1", S_IFCHR, 0));
}

TEST(OciTest, NoDevicesScopesNothingSoItIsAnError) {
  absl::StatusOr<std::vector<OciDevice>> d =
      ParseOciDevices("{\"ociVersion\": \"1.0.2\", \"linux\": {}}", "c.json");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->empty());
  absl::StatusOr<std::vector<std::string>> r = OciRules(*d, "c.json");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("lists no device"));
}

TEST(OciTest, Errors) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"{\"linux\": {\"devices\": [", "c.json: line 1"},
      {"[]", "is a map"},
      {"{\"linux\": []}", "\"linux\" is not a map"},
      {"{\"linux\": {\"devices\": {}}}", "is not a list"},
      {"{\"linux\": {\"devices\": [{\"type\": \"c\"}]}}", "has no \"path\""},
      {"{\"linux\": {\"devices\": [{\"path\": \"dev/x\", \"type\": \"c\"}]}}",
       "is not absolute"},
      {"{\"linux\": {\"devices\": [{\"path\": \"/dev/x\"}]}}",
       "has no \"type\""},
      {"{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"s\"}]}}",
       "is not c, b, u or p"},
      {"{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\", "
       "\"major\": 1.5}]}}",
       "\"major\" is not an integer"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<OciDevice>> d =
        ParseOciDevices(c.text, "c.json");
    ASSERT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(d.status().message(), HasSubstr(c.error)) << c.text;
  }
  // A device outside the container's /dev.
  absl::StatusOr<std::vector<OciDevice>> d = ParseOciDevices(
      "{\"linux\": {\"devices\": [{\"path\": \"/run/x\", \"type\": \"c\"}]}}",
      "c.json");
  ASSERT_TRUE(d.ok()) << d.status();
  absl::StatusOr<std::vector<std::string>> r = OciRules(*d, "c.json");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("\"/run/x\" is not under"));
  EXPECT_EQ(LoadOciDevices("/nonexistent/config.json").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gvisor::devscope

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 2) {
    fprintf(stderr, "usage: oci_test CONFIG_JSON\n");
    return 2;
  }
  gvisor::devscope::config_json = argv[1];
  return RUN_ALL_TESTS();
}
