// CDI specs as nvidia-ctk writes them (testdata/nvidia.yaml, its JSON twin
// testdata/nvidia.json, testdata/imex.yaml with hostPath), the rules they
// give, and the errors at start; and spec_file.h's bounds.

#include "pkg/devscope/cdi.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/devscope/allowlist.h"
#include "pkg/devscope/spec_file.h"

namespace gvisor::devscope {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// testdata is the fixture directory, from the first argument (a fixture's
// runfiles path).
std::string testdata;

std::string Fixture(const std::string& name) {
  return absl::StrCat(testdata, "/", name);
}

std::string TempFile(const std::string& name, const std::string& text) {
  std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/", name);
  std::ofstream(path) << text;
  return path;
}

TEST(CdiTest, YamlAsNvidiaCtkWritesIt) {
  absl::StatusOr<CdiSpec> s = LoadCdiSpec(Fixture("nvidia.yaml"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->version, "0.5.0");
  EXPECT_EQ(s->kind, "nvidia.com/gpu");
  ASSERT_EQ(s->devices.size(), 5u);
  EXPECT_EQ(s->devices[0].name, "0");
  EXPECT_EQ(s->devices[3].name, "1:0");
  EXPECT_EQ(s->devices[4].name, "all");
  ASSERT_EQ(s->common.size(), 4u);
  EXPECT_EQ(s->common[3].path, "/dev/nvidiactl");
  ASSERT_EQ(s->devices[0].nodes.size(), 3u);
  EXPECT_EQ(s->devices[0].nodes[0].path, "/dev/nvidia0");
  EXPECT_EQ(s->devices[0].nodes[0].HostPath(), "/dev/nvidia0");
}

TEST(CdiTest, JsonTwinParsesTheSame) {
  absl::StatusOr<CdiSpec> y = LoadCdiSpec(Fixture("nvidia.yaml"));
  absl::StatusOr<CdiSpec> j = LoadCdiSpec(Fixture("nvidia.json"));
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(j->kind, y->kind);
  EXPECT_EQ(j->version, y->version);
  ASSERT_EQ(j->devices.size(), y->devices.size());
  for (size_t i = 0; i < y->devices.size(); ++i) {
    EXPECT_EQ(j->devices[i].name, y->devices[i].name);
    ASSERT_EQ(j->devices[i].nodes.size(), y->devices[i].nodes.size());
    for (size_t k = 0; k < y->devices[i].nodes.size(); ++k) {
      EXPECT_EQ(j->devices[i].nodes[k].path, y->devices[i].nodes[k].path);
    }
  }
  ASSERT_EQ(j->common.size(), y->common.size());
  for (const std::string device : {"nvidia.com/gpu=0", "nvidia.com/gpu=all"}) {
    absl::StatusOr<std::vector<std::string>> a =
        CdiRules({*y}, {device}, "/dev");
    absl::StatusOr<std::vector<std::string>> b =
        CdiRules({*j}, {device}, "/dev");
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b);
  }
}

TEST(CdiTest, JsonEscapesAsGoWritesThem) {
  // Go's encoding/json escapes '&', '<' and '>' as \u00XX; JSON also
  // allows "\/".
  absl::StatusOr<CdiSpec> s = ParseCdiSpec(
      R"({"cdiVersion":"0.5.0","kind":"example.com/dev","devices":[{"name":)"
      R"("a","containerEdits":{"env":["X=a\u0026b\u003cc"],"deviceNodes":)"
      R"([{"path":"\/dev\/odd\u0026name","type":"c","major":1,"minor":3}]}}]})",
      "escaped.json");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->devices[0].nodes.size(), 1u);
  EXPECT_EQ(s->devices[0].nodes[0].path, "/dev/odd&name");
  EXPECT_EQ(s->devices[0].nodes[0].minor, 3);
}

TEST(CdiTest, RulesForOneGpuIncludeTheTopLevelNodes) {
  absl::StatusOr<CdiSpec> s = LoadCdiSpec(Fixture("nvidia.yaml"));
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<std::vector<std::string>> r =
      CdiRules({*s}, {"nvidia.com/gpu=0"}, "/dev");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, ElementsAre("nvidia0", "dri/card1", "dri/renderD128",
                              "nvidia-modeset", "nvidia-uvm",
                              "nvidia-uvm-tools", "nvidiactl"));
  // The rules are an allowlist that shows GPU 0 and hides GPU 1.
  absl::StatusOr<Allowlist> a = Allowlist::Parse(*r);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->Check("nvidia0", S_IFCHR, 0), Visibility::kAllowed);
  EXPECT_EQ(a->Check("nvidiactl", S_IFCHR, 0), Visibility::kAllowed);
  EXPECT_EQ(a->Check("nvidia1", S_IFCHR, 0), Visibility::kHidden);
  EXPECT_EQ(a->Check("dri", S_IFDIR, 0), Visibility::kTraverse);
  EXPECT_EQ(a->Check("dri/card2", S_IFCHR, 0), Visibility::kHidden);
}

TEST(CdiTest, SeveralDevicesAndMigCaps) {
  absl::StatusOr<CdiSpec> s = LoadCdiSpec(Fixture("nvidia.yaml"));
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<std::vector<std::string>> r =
      CdiRules({*s},
               {"nvidia.com/gpu=1:0",
                "nvidia.com/gpu=GPU-4b8f2e3a-9c1d-5e7f-a2b4-"
                "c6d8e0f1a3b5"},
               "/dev/");
  ASSERT_TRUE(r.ok()) << r.status();
  // Top-level nodes once, after the first device's; no duplicates.
  EXPECT_THAT(*r, ElementsAre("nvidia1", "nvidia-caps/nvidia-cap12",
                              "nvidia-caps/nvidia-cap13", "nvidia-modeset",
                              "nvidia-uvm", "nvidia-uvm-tools", "nvidiactl",
                              "nvidia0", "dri/card1", "dri/renderD128"));
}

TEST(CdiTest, HostPathUnderADriverRoot) {
  absl::StatusOr<CdiSpec> s = LoadCdiSpec(Fixture("imex.yaml"));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->devices.size(), 2u);
  const CdiDeviceNode& n = s->devices[1].nodes[0];
  EXPECT_EQ(n.type, "c");
  EXPECT_EQ(n.major, 234);
  EXPECT_EQ(n.minor, 1);
  absl::StatusOr<std::vector<std::string>> r = CdiRules(
      {*s}, {"nvidia.com/imex-channel=channel1"}, "/run/nvidia/driver/dev");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, ElementsAre("nvidia-caps-imex-channels/channel1"));
  // Served as /dev, the host path is outside the root: an error naming it.
  r = CdiRules({*s}, {"nvidia.com/imex-channel=channel1"}, "/dev");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              HasSubstr("/run/nvidia/driver/dev/nvidia-caps-imex-channels/"
                        "channel1\" is not under \"/dev\""));
  EXPECT_THAT(r.status().message(), HasSubstr("imex.yaml: line 18"))
      << r.status();
}

TEST(CdiTest, TwoSpecsOfTwoKinds) {
  absl::StatusOr<CdiSpec> gpu = LoadCdiSpec(Fixture("nvidia.yaml"));
  absl::StatusOr<CdiSpec> imex = LoadCdiSpec(Fixture("imex.yaml"));
  ASSERT_TRUE(gpu.ok() && imex.ok());
  absl::StatusOr<std::vector<std::string>> r =
      CdiRules({*gpu, *imex},
               {"nvidia.com/gpu=0", "nvidia.com/imex-channel=channel0"}, "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->front(), "dev/nvidia0");
  EXPECT_EQ(r->back(),
            "run/nvidia/driver/dev/nvidia-caps-imex-channels/channel0");
}

TEST(CdiTest, UnknownDeviceListsWhatIsAvailable) {
  absl::StatusOr<CdiSpec> s = LoadCdiSpec(Fixture("nvidia.yaml"));
  ASSERT_TRUE(s.ok());
  absl::StatusOr<std::vector<std::string>> r =
      CdiRules({*s}, {"nvidia.com/gpu=7"}, "/dev");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              HasSubstr("unknown CDI device nvidia.com/gpu=7; available: "
                        "nvidia.com/gpu=0, nvidia.com/gpu=1"));
  // A kind no spec has.
  r = CdiRules({*s}, {"amd.com/gpu=0"}, "/dev");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              HasSubstr("no spec of kind amd.com/gpu; kinds: nvidia.com/gpu"));
  // An unqualified name: CDI runtimes require vendor/class=name.
  r = CdiRules({*s}, {"0"}, "/dev");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("not a fully qualified name"));
  EXPECT_THAT(r.status().message(), HasSubstr("nvidia.com/gpu=0"));
  // Nothing requested.
  r = CdiRules({*s}, {}, "/dev");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("no CDI device requested"));
}

TEST(CdiTest, QualifiedNames) {
  std::string kind, name;
  ASSERT_TRUE(ParseQualifiedName("nvidia.com/gpu=1:0", &kind, &name).ok());
  EXPECT_EQ(kind, "nvidia.com/gpu");
  EXPECT_EQ(name, "1:0");
  for (const char* bad :
       {"", "nvidia.com/gpu", "gpu=0", "nvidia.com/gpu=", "/dev/x=y",
        "nvidia.com/gpu/x=0", "nvidia.com/gpu=-0", "nvidia.com/gpu=a b",
        "1vendor/gpu=0", "vendor/gpu-=0"}) {
    EXPECT_EQ(ParseQualifiedName(bad, &kind, &name).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(CdiTest, DuplicateDeviceAcrossSpecs) {
  absl::StatusOr<CdiSpec> a = LoadCdiSpec(Fixture("nvidia.yaml"));
  absl::StatusOr<CdiSpec> b = LoadCdiSpec(Fixture("nvidia.json"));
  ASSERT_TRUE(a.ok() && b.ok());
  absl::StatusOr<std::vector<std::string>> r =
      CdiRules({*a, *b}, {"nvidia.com/gpu=0"}, "/dev");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("is defined by both"));
}

TEST(CdiTest, GlobCharactersInPathsAreEscaped) {
  absl::StatusOr<CdiSpec> s = ParseCdiSpec(
      "cdiVersion: 0.6.0\nkind: example.com/dev\ndevices:\n- name: x\n"
      "  containerEdits:\n    deviceNodes:\n    - path: /dev/odd*[1]\n",
      "odd.yaml");
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<std::vector<std::string>> r =
      CdiRules({*s}, {"example.com/dev=x"}, "/dev");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, ElementsAre("odd\\*\\[1]"));
  absl::StatusOr<Allowlist> a = Allowlist::Parse(*r);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->Visible("odd*[1]", S_IFCHR, 0));
  EXPECT_FALSE(a->Visible("oddX1", S_IFCHR, 0));
}

TEST(CdiTest, MalformedSpecs) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"{\"cdiVersion\": \"0.5.0\", \"kind\": \"nvidia.com/gpu\"",
       "bad.yaml: line"},
      {"- 1\n- 2\n", "a CDI spec is a map"},
      {"kind: nvidia.com/gpu\ndevices: [{name: a}]\n", "no \"cdiVersion\""},
      {"cdiVersion: 0.5\nkind: nvidia.com/gpu\ndevices: [{name: a}]\n",
       "is not MAJOR.MINOR.PATCH"},
      {"cdiVersion: 0.5.0\nkind: gpu\ndevices: [{name: a}]\n",
       "is not \"vendor.com/class\""},
      {"cdiVersion: 0.5.0\nkind: nvidia.com/gpu\n", "no \"devices\""},
      {"cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: []\n",
       "no \"devices\""},
      {"cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: [{name: a}, "
       "{name: a}]\n",
       "device \"a\" is defined twice"},
      {"cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: [{}]\n",
       "a device has no \"name\""},
      {"cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: a\n"
       "  containerEdits:\n    deviceNodes:\n    - hostPath: /dev/x\n",
       "line 7: a device node has no \"path\""},
      {"cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: a\n"
       "  containerEdits:\n    deviceNodes:\n    - path: /dev/x\n"
       "      major: \"195\"\n",
       "\"major\" is not an integer"},
      {"cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: a\n"
       "  containerEdits:\n    deviceNodes: /dev/x\n",
       "\"deviceNodes\" is not a list"},
      {"cdiVersion: 0.5.0\nkind: nvidia.com/gpu\nkind: x.com/y\n"
       "devices: [{name: a}]\n",
       "duplicate key \"kind\""},
      {"cdiVersion: &v 0.5.0\nkind: *v\ndevices: [{name: a}]\n",
       "aliases are not supported"},
      {"cdiVersion: 0.5.0\n---\nkind: x\n", "more than one document"},
      {"", "empty document"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CdiSpec> s = ParseCdiSpec(c.text, "bad.yaml");
    ASSERT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(s.status().message(), HasSubstr(c.error)) << c.text;
  }
}

TEST(CdiTest, DeviceWithoutNodes) {
  absl::StatusOr<CdiSpec> s = ParseCdiSpec(
      "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: [{name: a}]\n",
      "empty.yaml");
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<std::vector<std::string>> r =
      CdiRules({*s}, {"nvidia.com/gpu=a"}, "/dev");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("has no device nodes"));
}

TEST(SpecFileTest, FileErrors) {
  absl::StatusOr<CdiSpec> s = LoadCdiSpec(Fixture("no-such.yaml"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.status().message(), HasSubstr("no-such.yaml"));
  s = LoadCdiSpec(testdata);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("not a regular file"));
  // Too big: refused from its size, before it is read.
  std::string big = TempFile("big.yaml", "");
  ASSERT_EQ(truncate(big.c_str(), kMaxSpecFileBytes + 1), 0);
  s = LoadCdiSpec(big);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("larger than"));
  std::string malformed = TempFile("malformed.json", "{\"cdiVersion\": [");
  s = LoadCdiSpec(malformed);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("malformed.json: line 1"));
}

TEST(SpecFileTest, Bounds) {
  // Nesting, and node count, are bounded while parsing.
  std::string deep(kMaxSpecDepth + 1, '[');
  deep += std::string(kMaxSpecDepth + 1, ']');
  absl::StatusOr<SpecNode> n = ParseSpecText(deep, "deep");
  ASSERT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(n.status().message(), HasSubstr("nested deeper than"));
  std::string wide = "[";
  for (size_t i = 0; i < kMaxSpecNodes; ++i) wide += "1,";
  wide += "1]";
  n = ParseSpecText(wide, "wide");
  ASSERT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(n.status().message(), HasSubstr("nodes"));
  // Scalars: plain, quoted, null.
  n = ParseSpecText("{a: 1, b: \"1\", c: ~, d: null, e: }", "s");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*GetInt(*n, "a", "s"), 1);
  EXPECT_FALSE(GetInt(*n, "b", "s").ok());
  EXPECT_EQ(*GetString(*n, "b", "s"), "1");
  EXPECT_TRUE(absl::IsNotFound(GetString(*n, "c", "s").status()));
  EXPECT_TRUE(absl::IsNotFound(GetString(*n, "d", "s").status()));
  EXPECT_TRUE(absl::IsNotFound(GetString(*n, "e", "s").status()));
}

TEST(SpecFileTest, RuleForPath) {
  EXPECT_EQ(*RuleForPath("/dev/nvidia0", "/dev"), "nvidia0");
  EXPECT_EQ(*RuleForPath("//dev/./dri//card1", "/dev/"), "dri/card1");
  EXPECT_EQ(*RuleForPath("/dev/null", "/"), "dev/null");
  for (const auto& [path, base] :
       std::vector<std::pair<const char*, const char*>>{
           {"/dev", "/dev"},
           {"/devices/x", "/dev"},
           {"/dev/../etc/passwd", "/dev"},
           {"dev/null", "/dev"},
           {"/etc/passwd", "/dev"}}) {
    EXPECT_EQ(RuleForPath(path, base).status().code(),
              absl::StatusCode::kInvalidArgument)
        << path;
  }
}

}  // namespace
}  // namespace gvisor::devscope

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 2) {
    fprintf(stderr, "usage: cdi_test TESTDATA_FILE\n");
    return 2;
  }
  std::string f = argv[1];
  gvisor::devscope::testdata = f.substr(0, f.rfind('/'));
  return RUN_ALL_TESTS();
}
