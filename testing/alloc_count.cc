#include "testing/alloc_count.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <new>

// The replacements pair malloc with free on purpose; GCC cannot see that
// every operator new here is malloc.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace gvisor::testing {
namespace {

std::atomic<uint64_t> g_allocs{0};
thread_local uint64_t t_allocs = 0;

void Count() {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  ++t_allocs;
}

// Alloc counts one allocation and returns n bytes aligned to align (0: the
// default), or null.
void* Alloc(size_t n, size_t align) {
  Count();
  if (align <= alignof(std::max_align_t)) return malloc(n == 0 ? 1 : n);
  void* p = nullptr;
  align = std::max(align, sizeof(void*));
  if (posix_memalign(&p, align, n == 0 ? align : n) != 0) return nullptr;
  return p;
}

void* AllocOrThrow(size_t n, size_t align) {
  void* p = Alloc(n, align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

uint64_t ThreadAllocs() { return t_allocs; }

uint64_t ProcessAllocs() { return g_allocs.load(std::memory_order_relaxed); }

}  // namespace gvisor::testing

using gvisor::testing::Alloc;
using gvisor::testing::AllocOrThrow;

void* operator new(size_t n) { return AllocOrThrow(n, 0); }
void* operator new[](size_t n) { return AllocOrThrow(n, 0); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  return Alloc(n, 0);
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  return Alloc(n, 0);
}
void* operator new(size_t n, std::align_val_t a) {
  return AllocOrThrow(n, static_cast<size_t>(a));
}
void* operator new[](size_t n, std::align_val_t a) {
  return AllocOrThrow(n, static_cast<size_t>(a));
}
void* operator new(size_t n, std::align_val_t a,
                   const std::nothrow_t&) noexcept {
  return Alloc(n, static_cast<size_t>(a));
}
void* operator new[](size_t n, std::align_val_t a,
                     const std::nothrow_t&) noexcept {
  return Alloc(n, static_cast<size_t>(a));
}
void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, size_t) noexcept { free(p); }
void operator delete[](void* p, size_t) noexcept { free(p); }
void operator delete(void* p, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { free(p); }
