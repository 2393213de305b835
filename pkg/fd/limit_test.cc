#include "pkg/fd/limit.h"

#include <sys/resource.h>

#include "gtest/gtest.h"

namespace gvisor::fd {
namespace {

TEST(RaiseFdLimitTest, SoftLimitBecomesTheHardOne) {
  rlimit before;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  // Start below the hard limit, so that there is something to raise.
  if (before.rlim_max > 64) {
    rlimit lower = {64, before.rlim_max};
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lower), 0);
  }
  absl::StatusOr<uint64_t> got = RaiseFdLimit();
  ASSERT_TRUE(got.ok()) << got.status();
  rlimit after;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_max);
  EXPECT_EQ(after.rlim_max, before.rlim_max);
  EXPECT_EQ(*got, static_cast<uint64_t>(after.rlim_cur));
}

}  // namespace
}  // namespace gvisor::fd
