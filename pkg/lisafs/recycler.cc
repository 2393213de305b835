#include "pkg/lisafs/recycler.h"

#include <stdlib.h>

#include <array>
#include <mutex>

// Under AddressSanitizer and ThreadSanitizer every block goes back to the
// heap at once: a use after free is still caught, and ThreadSanitizer sees
// each object's life end (a recycled block would carry its mutex's
// lock-order history into the next object that lives there, and report a
// lock-order inversion between two unrelated nodes).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GVISOR_RECYCLER_PASS_THROUGH 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GVISOR_RECYCLER_PASS_THROUGH 1
#endif
#endif

namespace gvisor::lisafs::recycler {

namespace {

#ifdef GVISOR_RECYCLER_PASS_THROUGH
constexpr bool kPassThrough = true;
#else
constexpr bool kPassThrough = false;
#endif

constexpr size_t kGranule = 16;
constexpr size_t kClasses = kMaxSize / kGranule;

// FreeBlock is a kept block: its first bytes link it to the next one.
struct FreeBlock {
  FreeBlock* next;
};

struct SizeClass {
  std::mutex mu;
  FreeBlock* head = nullptr;  // guarded by mu
  size_t kept = 0;            // guarded by mu
};

// Never destroyed: blocks may be freed by threads that outlive static
// destruction (a server left to a stuck request).
std::array<SizeClass, kClasses>& Classes() {
  static auto* classes = new std::array<SizeClass, kClasses>;
  return *classes;
}

size_t ClassOf(size_t n) { return n == 0 ? 0 : (n - 1) / kGranule; }

}  // namespace

void* Allocate(size_t n) {
  if (kPassThrough || n > kMaxSize) return ::operator new(n);
  SizeClass& c = Classes()[ClassOf(n)];
  {
    std::lock_guard<std::mutex> l(c.mu);
    if (FreeBlock* b = c.head; b != nullptr) {
      c.head = b->next;
      --c.kept;
      return b;
    }
  }
  // The block is as big as its class, so any request of the class may
  // reuse it.
  return ::operator new((ClassOf(n) + 1) * kGranule);
}

void Free(void* p, size_t n) noexcept {
  if (p == nullptr) return;
  if (kPassThrough || n > kMaxSize) {
    ::operator delete(p);
    return;
  }
  SizeClass& c = Classes()[ClassOf(n)];
  {
    std::lock_guard<std::mutex> l(c.mu);
    if (c.kept < kMaxKept) {
      auto* b = static_cast<FreeBlock*>(p);
      b->next = c.head;
      c.head = b;
      ++c.kept;
      return;
    }
  }
  ::operator delete(p);
}

}  // namespace gvisor::lisafs::recycler
