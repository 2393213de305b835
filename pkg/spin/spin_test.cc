#include "pkg/spin/spin.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace gvisor::spin {
namespace {

TEST(SpinnerTest, ReturnsOnceReady) {
  Spinner s(absl::Milliseconds(10));
  EXPECT_EQ(s.window(), absl::Milliseconds(10));
  int calls = 0;
  EXPECT_TRUE(s.Spin([&] { return ++calls == 3; }));
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(s.window(), absl::Milliseconds(10));
}

TEST(SpinnerTest, OffChecksOnce) {
  Spinner s(absl::ZeroDuration());
  EXPECT_FALSE(s.enabled());
  int calls = 0;
  EXPECT_FALSE(s.Spin([&] {
    ++calls;
    return false;
  }));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(s.Spin([] { return true; }));
}

TEST(SpinnerTest, NeverReadyEndsAfterTheWindow) {
  Spinner s(absl::Microseconds(50));
  int calls = 0;
  const int64_t start = NowNs();
  EXPECT_FALSE(s.Spin([&] {
    ++calls;
    return false;
  }));
  // It spun, and it stopped: at least the window passed.
  EXPECT_GE(NowNs() - start, 50000);
  EXPECT_GT(calls, 1);
}

TEST(SpinnerTest, MaxIsClamped) {
  Spinner s(absl::Hours(1));
  EXPECT_EQ(s.max(), kMaxMax);
  s.set_max(-absl::Seconds(1));
  EXPECT_FALSE(s.enabled());
}

TEST(SpinnerTest, ShrinksToNothingForALatePeerAndProbesBack) {
  const absl::Duration max = absl::Microseconds(20);
  Spinner s(max);
  auto never = [] { return false; };
  // Every spin that runs out halves the window, down to none.
  absl::Duration last = s.window();
  int rounds = 0;
  while (s.window() > absl::ZeroDuration()) {
    ASSERT_FALSE(s.Spin(never));
    ASSERT_LT(s.window(), last);
    last = s.window();
    ASSERT_LT(++rounds, 20);
  }
  // With none, a spin is one check; the next wait probes with a whole
  // window, and every probe that runs out doubles the waits until the next.
  int calls = 0;
  auto count = [&] {
    ++calls;
    return false;
  };
  for (int interval = 2; interval <= 8; interval *= 2) {
    calls = 0;
    ASSERT_FALSE(s.Spin(count));  // the probe
    EXPECT_GT(calls, 1);
    for (int i = 1; i < interval; ++i) {
      calls = 0;
      ASSERT_FALSE(s.Spin(count));
      EXPECT_EQ(calls, 1) << "interval " << interval << " wait " << i;
    }
  }
  // A probe that the answer ends brings a window back: twice what the
  // answer took, at least a microsecond, at most max.
  int until = 0;
  EXPECT_TRUE(s.Spin([&] { return ++until == 3; }));
  EXPECT_GE(s.window(), absl::Microseconds(1));
  EXPECT_LE(s.window(), max);
}

TEST(SpinnerTest, ProbesAtMostEveryMaxProbeIntervalWaits) {
  Spinner s(absl::Microseconds(2));
  int probes = 0;
  int calls = 0;
  auto count = [&] {
    ++calls;
    return false;
  };
  for (int i = 0; i < 20 * kMaxProbeInterval; ++i) {
    calls = 0;
    ASSERT_FALSE(s.Spin(count));
    if (calls > 1 && s.window() == absl::ZeroDuration()) ++probes;
  }
  // 1, 2, 4, ..., kMaxProbeInterval, then one per kMaxProbeInterval waits.
  EXPECT_LE(probes, 11 + 20);
  EXPECT_GE(probes, 11 + 10);
}

// A clock that moves 10 µs each time it is read, so that what the spinner
// sees does not depend on how this thread is scheduled.
int64_t fake_now_ns = 0;
int64_t FakeNow() { return fake_now_ns += 10000; }

TEST(SpinnerTest, AnAnswerLateInTheWindowWidensIt) {
  Spinner s(absl::Milliseconds(10), FakeNow);
  ASSERT_FALSE(s.Spin([] { return false; }));
  ASSERT_FALSE(s.Spin([] { return false; }));
  ASSERT_EQ(s.window(), absl::Microseconds(2500));
  const int64_t end = fake_now_ns + 1500000;
  EXPECT_TRUE(s.Spin([&] { return fake_now_ns >= end; }));
  EXPECT_GT(s.window(), absl::Microseconds(2500));
  EXPECT_LE(s.window(), absl::Milliseconds(10));
}

TEST(SpinnerTest, ASuccessfulSpinKeepsTheWindow) {
  Spinner s(absl::Microseconds(100));
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(s.Spin([] { return true; }));
  EXPECT_EQ(s.window(), absl::Microseconds(100));
}

}  // namespace
}  // namespace gvisor::spin
