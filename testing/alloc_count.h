// AllocCount: exact heap allocation counts for tests and benchmarks. A
// binary that links this library has every form of the global operator new
// replaced by one that counts the call (on the calling thread and for the
// whole process) and takes the memory from malloc; operator delete frees
// it. Counting costs a relaxed atomic add and a thread-local increment.
//
// The replacements must be linked into the executable itself (the library
// is linkstatic and alwayslink): under AddressSanitizer and
// ThreadSanitizer the runtime's own operator new would win over one in a
// shared library, and nothing would be counted.

#ifndef GVISOR_TESTING_ALLOC_COUNT_H_
#define GVISOR_TESTING_ALLOC_COUNT_H_

#include <stdint.h>

namespace gvisor::testing {

// ThreadAllocs returns how many allocations the calling thread has made.
uint64_t ThreadAllocs();

// ProcessAllocs returns how many allocations every thread of the process
// has made.
uint64_t ProcessAllocs();

}  // namespace gvisor::testing

#endif  // GVISOR_TESTING_ALLOC_COUNT_H_
