// GoferOutput on a clock of the test's: lines and their pieces, the rate
// limit and its note, the tail; ErrorLine on devgofer's kinds of output.

#include "runsc_shim/gofer_output.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"

namespace gvisor::shim {
namespace {

using ::testing::ElementsAre;

// Recorder keeps what is logged, with a 'W' before warnings.
class Recorder : public context::Context {
 public:
  void Log(context::LogLevel level, absl::string_view msg) const override {
    lines.push_back(
        absl::StrCat(level == context::LogLevel::kWarning ? "W " : "", msg));
  }
  bool IsLogging(context::LogLevel) const override { return true; }
  mutable std::vector<std::string> lines;
};

const absl::Time kT0 = absl::FromUnixSeconds(1000);

TEST(GoferOutputTest, LogsWholeLinesWithThePrefix) {
  Recorder r;
  GoferOutput out(r, "gofer for c (pid 7)", 1 << 20, 4096);
  out.Append("one\ntw", kT0);
  out.Append("o\n\nthree", kT0);
  EXPECT_THAT(r.lines,
              ElementsAre("gofer for c (pid 7): one",
                          "gofer for c (pid 7): two", "gofer for c (pid 7): "));
  out.End(kT0);
  EXPECT_EQ(r.lines.back(), "gofer for c (pid 7): three");
  EXPECT_EQ(out.tail(), "one\ntwo\n\nthree");
}

TEST(GoferOutputTest, ALongLineIsLoggedInPieces) {
  Recorder r;
  GoferOutput out(r, "g", 1 << 20, 4096);
  const size_t max = GoferOutput::kMaxLineBytes;
  out.Append(std::string(2 * max + 10, 'x') + "\n", kT0);
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.lines[0], "g: " + std::string(max, 'x'));
  EXPECT_EQ(r.lines[1], "g: " + std::string(max, 'x'));
  EXPECT_EQ(r.lines[2], "g: " + std::string(10, 'x'));
  // Exactly a line's worth, then its newline: one line.
  r.lines.clear();
  out.Append(std::string(max, 'y'), kT0);
  out.Append("\n", kT0);
  EXPECT_THAT(r.lines, ElementsAre("g: " + std::string(max, 'y')));
}

TEST(GoferOutputTest, RateLimitDropsAndSaysSoTheNextSecond) {
  Recorder r;
  GoferOutput out(r, "g", 1000, 4096);
  const std::string line(99, 'z');  // 99 bytes a line: 10 fit in 1000
  for (int i = 0; i < 25; ++i)
    out.Append(line + "\n", kT0 + absl::Milliseconds(i));
  EXPECT_EQ(r.lines.size(), 10u);
  EXPECT_EQ(out.dropped_lines(), 15u);
  // The next second: the note, then the line.
  out.Append("later\n", kT0 + absl::Seconds(1));
  ASSERT_EQ(r.lines.size(), 12u);
  EXPECT_EQ(r.lines[10],
            "W g: 15 line(s), 1485 bytes, of its output not logged (more "
            "than 1000 bytes a second)");
  EXPECT_EQ(r.lines[11], "g: later");
  // Dropped at the end: said at End ("later" and 9 more fit this second).
  for (int i = 0; i < 11; ++i) out.Append(line + "\n", kT0 + absl::Seconds(1));
  out.End(kT0 + absl::Seconds(1));
  EXPECT_EQ(r.lines.back(),
            "W g: 1 line(s), 99 bytes, of its output not logged (more than "
            "1000 bytes a second)");
  EXPECT_EQ(out.dropped_lines(), 16u);
}

TEST(GoferOutputTest, AClockThatGoesBackStartsANewSecond) {
  Recorder r;
  GoferOutput out(r, "g", 10, 4096);
  out.Append("0123456789\n", kT0);
  out.Append("dropped\n", kT0);
  out.Append("earlier\n", kT0 - absl::Hours(1));
  EXPECT_THAT(r.lines,
              ElementsAre("g: 0123456789",
                          "W g: 1 line(s), 7 bytes, of its output not logged "
                          "(more than 10 bytes a second)",
                          "g: earlier"));
}

TEST(GoferOutputTest, TailKeepsTheLastBytesOfEverything) {
  Recorder r;
  GoferOutput out(r, "g", 10, 16);
  for (int i = 0; i < 100; ++i) out.Append(absl::StrCat(i, "\n"), kT0);
  EXPECT_EQ(out.tail(), "\n95\n96\n97\n98\n99\n");
  EXPECT_EQ(out.tail().size(), 16u);
}

TEST(GoferOutputTest, ErrorLinePicksWhatSaysWhy) {
  // devgofer's error, among its INFO lines.
  EXPECT_EQ(ErrorLine("I1201 10:00:00.000000 42 devgofer.cc:1] starting\n"
                      "E1201 10:00:00.000001 42 devgofer.cc:2] devgofer: "
                      "--private_dir: no CAP_SYS_ADMIN\n"
                      "I1201 10:00:00.000002 42 devgofer.cc:3] exiting\n"),
            "devgofer: --private_dir: no CAP_SYS_ADMIN");
  // A usage error is printed alone.
  EXPECT_EQ(ErrorLine("devgofer: unknown flag --x; see devgofer --help\n"),
            "devgofer: unknown flag --x; see devgofer --help");
  EXPECT_EQ(ErrorLine("I1201 10:00:00.000000 42 x.cc:1] only info\n"),
            "only info");
  EXPECT_EQ(ErrorLine("\n\n"), "");
  EXPECT_EQ(ErrorLine(""), "");
}

TEST(GoferOutputTest, ErrorLineWithoutFallbackSaysNothingForInfoOnly) {
  const std::string info =
      "I1201 10:00:00.000000 42 devgofer.cc:1] serving /dev on FD 3\n";
  EXPECT_EQ(ErrorLine(info, /*or_last=*/false), "");
  EXPECT_EQ(ErrorLine(info), "serving /dev on FD 3");
  EXPECT_EQ(ErrorLine(info + "E1201 10:00:01.000000 42 devgofer.cc:2] bad\n",
                      /*or_last=*/false),
            "bad");
}

}  // namespace
}  // namespace gvisor::shim
