// Heap allocations of the host fast path, counted exactly: this binary
// replaces operator new (testing/alloc_count.h) and counts the calls made
// on the test's thread
// (the fixture's server threads are not counted; the fast path sends no
// RPC).
//
// In steady state OpenAt allocates nothing and DirentNames allocates its
// result alone: one vector, reserved from the last listing (no growth by
// doubling), plus one string per name too long for std::string's inline
// buffer.

#include <fcntl.h>
#include <stdlib.h>

#include <atomic>
#include <cstddef>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/devutil/fast_path_test_base.h"
#include "pkg/fd/fd.h"
#include "testing/alloc_count.h"
#include "testing/as_socket.h"
#include "testing/gofer_fixture.h"

namespace gvisor::devutil {
namespace {

// Counted counts the allocations of the calling thread while it lives.
class Counted {
 public:
  Counted() : start_(testing::ThreadAllocs()) {}
  size_t allocs() const { return testing::ThreadAllocs() - start_; }

 private:
  const uint64_t start_;
};

class AllocTest : public FastPathTest {};

TEST_F(AllocTest, HostOpenAtAllocatesNothing) {
  // The first calls probe openat2 (once per process).
  ASSERT_TRUE(client_->OpenAt(Ctx(), "file", O_RDONLY).ok());
  ASSERT_TRUE(client_->OpenAt(Ctx(), "dir/nested/deep", O_RDONLY).ok());
  for (const char* path : {"file", "dir/nested/deep", "dir//nested/deep/"}) {
    size_t allocs;
    {
      Counted counted;
      absl::StatusOr<fd::OwnedFd> f = client_->OpenAt(Ctx(), path, O_RDONLY);
      ASSERT_TRUE(f.ok()) << f.status();
      allocs = counted.allocs();
    }
    EXPECT_EQ(allocs, 0u) << path;
  }
}

TEST_F(AllocTest, HostDirentNamesAllocatesItsResultOnly) {
  // 2,000 more entries: grown by doubling, the vector would be allocated
  // a dozen times.
  for (int i = 0; i < 2000; ++i) {
    std::ofstream(absl::StrCat(fixture_->root(), "/e", i));
  }
  // The first listing makes the thread's buffer and sets the hint.
  absl::StatusOr<std::vector<std::string>> first = client_->DirentNames(Ctx());
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_GE(first->size(), 2000u);
  for (int round = 0; round < 3; ++round) {
    size_t allocs;
    absl::StatusOr<std::vector<std::string>> names;
    {
      Counted counted;
      names = client_->DirentNames(Ctx());
      allocs = counted.allocs();
    }
    ASSERT_TRUE(names.ok()) << names.status();
    ASSERT_EQ(names->size(), first->size());
    // One vector, and a string of each name too long to be held inline.
    const size_t inline_chars = std::string().capacity();
    size_t long_names = 0;
    for (const std::string& n : *names) long_names += n.size() > inline_chars;
    EXPECT_EQ(allocs, 1 + long_names) << "round " << round;
  }
}

}  // namespace
}  // namespace gvisor::devutil
