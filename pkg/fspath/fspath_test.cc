#include "pkg/fspath/fspath.h"

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gvisor::fspath {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

struct Case {
  std::string input;
  std::vector<std::string> components;
  bool absolute;
  bool dir;
};

// The examples of pkg/lisafs/README.md §9.8 first, then further edge cases.
std::vector<Case> Cases() {
  using namespace std::string_literals;
  return {
      // pkg/lisafs/README.md §9.8.
      {"nvidia0", {"nvidia0"}, false, false},
      {"nvidia-caps/nvidia-cap1", {"nvidia-caps", "nvidia-cap1"}, false, false},
      {"/nvidia0", {"nvidia0"}, true, false},
      {"a//b/", {"a", "b"}, false, true},
      {"./a/../b", {".", "a", "..", "b"}, false, false},
      {"", {}, false, false},
      {"/", {}, true, true},
      {"//", {}, true, true},
      {"///", {}, true, true},
      // Dots are never resolved.
      {".", {"."}, false, false},
      {"..", {".."}, false, false},
      {"/..", {".."}, true, false},
      {"../", {".."}, false, true},
      {"a/./b", {"a", ".", "b"}, false, false},
      {"a/../../b", {"a", "..", "..", "b"}, false, false},
      {"...", {"..."}, false, false},
      {".hidden/..x", {".hidden", "..x"}, false, false},
      // Slashes at the ends and in runs.
      {"a", {"a"}, false, false},
      {"a/", {"a"}, false, true},
      {"a//", {"a"}, false, true},
      {"//a", {"a"}, true, false},
      {"///a///b///", {"a", "b"}, true, true},
      {"a/b/c/d", {"a", "b", "c", "d"}, false, false},
      // Only '/' separates: other bytes, NUL and backslash included, stay.
      {"a\\b", {"a\\b"}, false, false},
      {" a / b ", {" a ", " b "}, false, false},
      {"a\0b"s, {"a\0b"s}, false, false},
      {"\0/\0\0/"s, {"\0"s, "\0\0"s}, false, true},
      {"/\0"s, {"\0"s}, true, false},
      {"\xff\xfe/\xc3\xa9", {"\xff\xfe", "\xc3\xa9"}, false, false},
  };
}

TEST(ComponentsTest, Table) {
  for (const Case& c : Cases()) {
    EXPECT_EQ(Components(c.input), c.components)
        << "input \"" << absl::CHexEscape(c.input) << "\"";
  }
}

TEST(ParseTest, Table) {
  for (const Case& c : Cases()) {
    Path p = Parse(c.input);
    SCOPED_TRACE(absl::StrCat("input \"", absl::CHexEscape(c.input), "\""));
    EXPECT_EQ(p.components, c.components);
    EXPECT_EQ(p.absolute, c.absolute);
    EXPECT_EQ(p.dir, c.dir);
  }
}

TEST(ParseTest, EmptyPathIsDefaultPath) { EXPECT_EQ(Parse(""), Path{}); }

TEST(ParseTest, ComponentsAgreesWithParse) {
  for (const Case& c : Cases()) {
    EXPECT_EQ(Components(c.input), Parse(c.input).components);
  }
}

TEST(ComponentsTest, ViewOfLargerBufferStopsAtItsEnd) {
  // The view covers only "a/b"; the bytes after it must not be read.
  std::string buffer = "a/bc/d";
  EXPECT_THAT(Components(absl::string_view(buffer.data(), 3)),
              ElementsAre("a", "b"));
}

TEST(ComponentsTest, VeryLongComponent) {
  std::string name(1 << 20, 'x');
  EXPECT_THAT(Components(name), ElementsAre(name));
  EXPECT_THAT(Components(absl::StrCat("/", name, "/")), ElementsAre(name));
}

TEST(ComponentsTest, ManyComponents) {
  constexpr size_t kCount = 200000;
  std::string path;
  for (size_t i = 0; i < kCount; ++i) absl::StrAppend(&path, "/ab");
  std::vector<std::string> components = Components(path);
  EXPECT_THAT(components, SizeIs(kCount));
  EXPECT_THAT(components, Each("ab"));
}

TEST(ComponentsTest, LongRunOfSlashes) {
  std::string slashes(1 << 20, '/');
  EXPECT_THAT(Components(slashes), IsEmpty());
  EXPECT_THAT(Components(absl::StrCat(slashes, "a", slashes, "b", slashes)),
              ElementsAre("a", "b"));
  Path p = Parse(slashes);
  EXPECT_TRUE(p.absolute);
  EXPECT_TRUE(p.dir);
}

}  // namespace
}  // namespace gvisor::fspath
