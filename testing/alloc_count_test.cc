// AllocCount counts every form of operator new, on the calling thread and
// for the process, in every build (plain, ASan, TSan): the allocation tests
// that expect zero rest on it.

#include "testing/alloc_count.h"

#include <new>
#include <thread>

#include "gtest/gtest.h"

namespace gvisor::testing {
namespace {

struct alignas(64) Wide {
  char bytes[64];
};

// Kept hides p from the optimizer, which may otherwise drop a new and
// delete pair altogether (C++14 lets it).
template <typename T>
T* Kept(T* p) {
  asm volatile("" : : "g"(p) : "memory");
  return p;
}

TEST(AllocCountTest, CountsEveryFormOfOperatorNew) {
  const uint64_t t0 = ThreadAllocs();
  const uint64_t p0 = ProcessAllocs();
  delete Kept(new int(1));
  delete[] Kept(new int[4]);
  delete Kept(new (std::nothrow) int(2));
  delete[] Kept(new (std::nothrow) int[3]);
  delete Kept(new Wide);
  delete[] Kept(new Wide[2]);
  delete Kept(new (std::nothrow) Wide);
  EXPECT_EQ(ThreadAllocs() - t0, 7u);
  EXPECT_GE(ProcessAllocs() - p0, 7u);
}

TEST(AllocCountTest, AnotherThreadsCountForItAndTheProcessOnly) {
  uint64_t theirs = 0;
  const uint64_t p0 = ProcessAllocs();
  std::thread t([&] {
    const uint64_t w0 = ThreadAllocs();
    for (int i = 0; i < 10; ++i) delete Kept(new int(i));
    theirs = ThreadAllocs() - w0;
  });
  const uint64_t t0 = ThreadAllocs();
  t.join();
  EXPECT_EQ(theirs, 10u);
  EXPECT_EQ(ThreadAllocs() - t0, 0u);  // none of the ten on this thread
  EXPECT_GE(ProcessAllocs() - p0, 10u);
}

}  // namespace
}  // namespace gvisor::testing
