#include "pkg/spin/spin.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace gvisor::spin {
namespace {

// Outlast busy-waits (the elapsed time is what is tested, not a
// synchronization) until d has passed.
void Outlast(absl::Duration d) {
  const int64_t end = NowNs() + absl::ToInt64Nanoseconds(d);
  while (NowNs() < end) Relax();
}

TEST(SpinnerTest, ReturnsOnceReady) {
  Spinner s(absl::Milliseconds(10));
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

TEST(SpinnerTest, ShrinksToNothingForALatePeerAndGrowsBack) {
  const absl::Duration max = absl::Milliseconds(2);
  Spinner s(max);
  absl::Duration last = s.window();
  int rounds = 0;
  while (s.window() > absl::ZeroDuration()) {
    ASSERT_FALSE(s.Spin([] { return false; }));
    Outlast(max);  // the peer answers late
    s.Blocked();
    ASSERT_LT(s.window(), last);
    last = s.window();
    ASSERT_LT(++rounds, 20);
  }
  // With no window, a spin is one check.
  int calls = 0;
  EXPECT_FALSE(s.Spin([&] {
    ++calls;
    return false;
  }));
  EXPECT_EQ(calls, 1);
  // A peer that answers within max brings the window back (retried: this
  // thread may be preempted for longer than max).
  for (int i = 0; i < 100 && s.window() != max; ++i) {
    s.Blocked();
    if (s.window() != max) s.Spin([] { return false; });
  }
  EXPECT_EQ(s.window(), max);
  // A wait that the spin caught keeps it there.
  EXPECT_TRUE(s.Spin([] { return true; }));
  EXPECT_EQ(s.window(), max);
}

TEST(SpinnerTest, BlockedWithoutAFailedSpinChangesNothing) {
  Spinner s(absl::Microseconds(100));
  s.Blocked();
  EXPECT_EQ(s.window(), absl::Microseconds(100));
  EXPECT_TRUE(s.Spin([] { return true; }));
  Outlast(absl::Microseconds(200));
  s.Blocked();
  EXPECT_EQ(s.window(), absl::Microseconds(100));
}

}  // namespace
}  // namespace gvisor::spin
