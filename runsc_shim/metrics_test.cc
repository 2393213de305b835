// The text exposition format of the shim's metrics: values, escaping,
// counters, histograms, and the shim's families read at render time.

#include "runsc_shim/metrics.h"

#include <unistd.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runsc_shim/registry.h"

namespace gvisor::shim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(FormatValueTest, WritesTheShortestTextThatReadsBack) {
  EXPECT_EQ(FormatValue(0.0001), "0.0001");
  EXPECT_EQ(FormatValue(0.00025), "0.00025");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(10), "10");
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(EscapeTest, LabelValuesEscapeBackslashQuoteAndNewline) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
}

TEST(EscapeTest, HelpEscapesBackslashAndNewlineButNotQuotes) {
  EXPECT_EQ(EscapeHelp("say \"hi\"\\\nbye"), "say \"hi\"\\\\\\nbye");
}

TEST(CounterVecTest, RendersHelpTypeAndOneSamplePerLabelSet) {
  CounterVec c("things_total", "Things.\nDone.", {"kind", "code"});
  c.Add({"b", "OK"});
  c.Add({"a", "OK"}, 2);
  c.Add({"b", "OK"});
  c.Init({"c\"q", "NOT_FOUND"});
  EXPECT_EQ(c.Value({"b", "OK"}), 2u);
  EXPECT_EQ(c.Value({"x", "OK"}), 0u);
  TextWriter w;
  c.Render(w);
  EXPECT_EQ(w.text(),
            "# HELP things_total Things.\\nDone.\n"
            "# TYPE things_total counter\n"
            "things_total{kind=\"a\",code=\"OK\"} 2\n"
            "things_total{kind=\"b\",code=\"OK\"} 2\n"
            "things_total{kind=\"c\\\"q\",code=\"NOT_FOUND\"} 0\n");
}

TEST(CounterVecTest, WithoutLabelsASampleHasNoBraces) {
  CounterVec c("plain_total", "Plain.", {});
  c.Add({}, 7);
  TextWriter w;
  c.Render(w);
  EXPECT_THAT(w.text(), HasSubstr("\nplain_total 7\n"));
}

TEST(HistogramVecTest, BucketsAreCumulativeWithInfSumAndCount) {
  HistogramVec h("lat_seconds", "Latency.", {"m"}, {0.1, 1});
  h.Observe({"x"}, 0.05);
  h.Observe({"x"}, 0.1);  // a bound is in its own bucket (le)
  h.Observe({"x"}, 0.5);
  h.Observe({"x"}, 7);
  h.Init({"y"});
  EXPECT_EQ(h.Count({"x"}), 4u);
  TextWriter w;
  h.Render(w);
  EXPECT_EQ(w.text(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{m=\"x\",le=\"0.1\"} 2\n"
            "lat_seconds_bucket{m=\"x\",le=\"1\"} 3\n"
            "lat_seconds_bucket{m=\"x\",le=\"+Inf\"} 4\n"
            "lat_seconds_sum{m=\"x\"} 7.65\n"
            "lat_seconds_count{m=\"x\"} 4\n"
            "lat_seconds_bucket{m=\"y\",le=\"0.1\"} 0\n"
            "lat_seconds_bucket{m=\"y\",le=\"1\"} 0\n"
            "lat_seconds_bucket{m=\"y\",le=\"+Inf\"} 0\n"
            "lat_seconds_sum{m=\"y\"} 0\n"
            "lat_seconds_count{m=\"y\"} 0\n");
}

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == ':' || (!first && c >= '0' && c <= '9');
}

// ParseName consumes a metric or label name from the front of s.
std::string ParseName(absl::string_view& s) {
  size_t n = 0;
  while (n < s.size() && IsNameChar(s[n], n == 0)) ++n;
  std::string name(s.substr(0, n));
  s.remove_prefix(n);
  return name;
}

// ParseSample parses `name{label="value",...} value` and returns the name,
// or "" if line is no sample.
std::string ParseSample(absl::string_view line) {
  std::string name = ParseName(line);
  if (name.empty()) return "";
  if (absl::ConsumePrefix(&line, "{")) {
    while (!absl::ConsumePrefix(&line, "}")) {
      if (ParseName(line).empty() || !absl::ConsumePrefix(&line, "=\"")) {
        return "";
      }
      for (;;) {  // the value, up to its unescaped closing quote
        if (line.empty()) return "";
        const char c = line[0];
        line.remove_prefix(1);
        if (c == '"') break;
        if (c == '\n') return "";
        if (c == '\\') {
          if (line.empty() ||
              (line[0] != '\\' && line[0] != '"' && line[0] != 'n')) {
            return "";
          }
          line.remove_prefix(1);
        }
      }
      absl::ConsumePrefix(&line, ",");
    }
  }
  if (!absl::ConsumePrefix(&line, " ") || line.empty() ||
      line.find(' ') != absl::string_view::npos) {
    return "";
  }
  return name;
}

// CheckExposition checks every line of text against the format: comment
// lines name a family once each (HELP, then TYPE), and every sample
// belongs to the family declared last.
void CheckExposition(const std::string& text) {
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');
  std::string family, type;
  std::vector<std::string> seen;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&line, "# HELP ")) {
      family = ParseName(line);
      EXPECT_THAT(seen, Not(::testing::Contains(family))) << line;
      seen.push_back(family);
      type.clear();
    } else if (absl::ConsumePrefix(&line, "# TYPE ")) {
      EXPECT_EQ(ParseName(line), family) << line;
      type = std::string(absl::StripPrefix(line, " "));
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram")
          << type;
    } else {
      const std::string name = ParseSample(line);
      ASSERT_FALSE(name.empty()) << "not an exposition line: " << line;
      ASSERT_FALSE(type.empty()) << "sample before its TYPE: " << line;
      if (type == "histogram") {
        EXPECT_TRUE(name == family + "_bucket" || name == family + "_sum" ||
                    name == family + "_count")
            << line;
      } else {
        EXPECT_EQ(name, family) << line;
      }
    }
  }
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto reg = ContainerRegistry::Create();
    ASSERT_TRUE(reg.ok()) << reg.status();
    registry_ = std::move(*reg);
  }
  std::unique_ptr<ContainerRegistry> registry_;
};

TEST_F(MetricsTest, RendersEveryFamilyInTheTextFormat) {
  Metrics m(registry_.get());
  m.InitMethod("ListContainers");
  m.InitMethod("AttachContainer");
  m.RecordRpc("ListContainers", absl::StatusCode::kOk, absl::Microseconds(300));
  m.RecordRpc("GetContainer", absl::StatusCode::kNotFound, absl::Seconds(20));
  const std::string text = m.Render();
  CheckExposition(text);
  EXPECT_THAT(text, HasSubstr("\nrunsc_shim_containers{state=\"attached\"} 0\n"
                              "runsc_shim_containers{state=\"disconnected\"} "
                              "0\n"));
  EXPECT_THAT(text, HasSubstr("\nrunsc_shim_rpcs_total{method=\"ListContainers"
                              "\",code=\"OK\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nrunsc_shim_rpcs_total{method=\"GetContainer\""
                              ",code=\"NOT_FOUND\"} 1\n"));
  EXPECT_EQ(m.rpcs("GetContainer", absl::StatusCode::kNotFound), 1u);
  // 300 us: above 0.00025, within 0.0005.
  EXPECT_THAT(text, HasSubstr("runsc_shim_rpc_duration_seconds_bucket{method="
                              "\"ListContainers\",le=\"0.00025\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("runsc_shim_rpc_duration_seconds_bucket{method="
                              "\"ListContainers\",le=\"0.0005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("runsc_shim_rpc_duration_seconds_bucket{method="
                              "\"ListContainers\",le=\"10\"} 1\n"));
  // 20 s: only in +Inf.
  EXPECT_THAT(text, HasSubstr("runsc_shim_rpc_duration_seconds_bucket{method="
                              "\"GetContainer\",le=\"10\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("runsc_shim_rpc_duration_seconds_bucket{method="
                              "\"GetContainer\",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("runsc_shim_rpc_duration_seconds_sum{method="
                              "\"GetContainer\"} 20\n"));
  // A known method appears before its first call.
  EXPECT_THAT(text, HasSubstr("runsc_shim_rpc_duration_seconds_count{method="
                              "\"AttachContainer\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("\nrunsc_shim_gofer_stalls_total 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE process_start_time_seconds gauge\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE process_open_fds gauge\n"));
  // No source of managed gofers: no such families.
  EXPECT_THAT(text, Not(HasSubstr("managed_gofer")));
}

TEST_F(MetricsTest, ManagedGofersComeFromTheSource) {
  Metrics m(registry_.get());
  int calls = 0;
  m.SetManagedGoferSource([&calls] {
    ++calls;
    ManagedGoferStats s;
    s.running = 3;
    s.starting = 1;
    s.restarting = 2;
    s.restarts_total = 5;
    s.start_failures_total = 4;
    return s;
  });
  const std::string text = m.Render();
  CheckExposition(text);
  EXPECT_EQ(calls, 1);
  EXPECT_THAT(text,
              HasSubstr("# TYPE runsc_shim_managed_gofers gauge\n"
                        "runsc_shim_managed_gofers{state=\"running\"} 3\n"
                        "runsc_shim_managed_gofers{state=\"starting\"} 1\n"
                        "runsc_shim_managed_gofers{state=\"restarting\"} 2\n"));
  EXPECT_THAT(
      text, HasSubstr("# TYPE runsc_shim_managed_gofer_restarts_total "
                      "counter\nrunsc_shim_managed_gofer_restarts_total 5\n"));
  EXPECT_THAT(
      text,
      HasSubstr("# TYPE runsc_shim_managed_gofer_start_failures_total "
                "counter\nrunsc_shim_managed_gofer_start_failures_total 4\n"));
  m.SetManagedGoferSource(nullptr);
  EXPECT_THAT(m.Render(), Not(HasSubstr("managed_gofer")));
  EXPECT_EQ(calls, 1);
}

TEST_F(MetricsTest, ProcessFiguresAreThisProcesss) {
  Metrics m(registry_.get());
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  const double start = ProcessStartTime();
  EXPECT_GT(start, 0);
  EXPECT_LE(start, now);
  EXPECT_THAT(m.Render(), HasSubstr("\nprocess_start_time_seconds " +
                                    FormatValue(start) + "\n"));
  const int fds = OpenFdCount();
  ASSERT_GT(fds, 2);
  int extra[2];
  ASSERT_EQ(pipe(extra), 0);
  EXPECT_EQ(OpenFdCount(), fds + 2);
  close(extra[0]);
  close(extra[1]);
}

}  // namespace
}  // namespace gvisor::shim
