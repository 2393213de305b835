// Package lisafs, server side: Recycler, reuse of the small objects every
// FDID costs (the framework's ControlFD and OpenFD, a backend's
// implementation objects, the tree's Nodes), so that Walk, OpenAt and Close
// allocate nothing from the heap in steady state.
//
// Freed blocks are kept, per 16-byte size class up to kMaxSize bytes, on
// one process-wide list each (a mutex apiece, held for a pointer swap), so
// a block freed on one thread serves an allocation on any other; each list
// keeps at most kMaxKept blocks and frees the rest, so what is kept is
// bounded by what was once in use, and by kMaxKept per class. Larger
// requests go to the heap as usual.

#ifndef GVISOR_PKG_LISAFS_RECYCLER_H_
#define GVISOR_PKG_LISAFS_RECYCLER_H_

#include <cstddef>
#include <new>

namespace gvisor::lisafs {

namespace recycler {

// kMaxSize is the largest block kept; kMaxKept the blocks kept per class.
inline constexpr size_t kMaxSize = 512;
inline constexpr size_t kMaxKept = 1024;

// Allocate returns n bytes (aligned to 16), a kept block if there is one.
// Throws std::bad_alloc as operator new does.
void* Allocate(size_t n);
// Free gives back p, which Allocate(n) returned.
void Free(void* p, size_t n) noexcept;

}  // namespace recycler

// Allocator is a standard allocator over the recycler, for std::allocate_shared
// and node-based containers.
template <typename T>
struct Allocator {
  using value_type = T;
  static_assert(alignof(T) <= 16);

  Allocator() = default;
  template <typename U>
  Allocator(const Allocator<U>&) {}  // NOLINT: rebinding is implicit

  T* allocate(size_t n) {
    return static_cast<T*>(recycler::Allocate(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { recycler::Free(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const Allocator<U>&) const {
    return true;
  }
};

// Recycled gives a class operator new and delete over the recycler; a
// class that derives from it (publicly) is allocated from it, and so is
// each class derived from that (with its own size).
struct Recycled {
  static void* operator new(size_t n) { return recycler::Allocate(n); }
  static void operator delete(void* p, size_t n) noexcept {
    recycler::Free(p, n);
  }
};

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_RECYCLER_H_
