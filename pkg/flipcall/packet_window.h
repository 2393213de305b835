// Packet windows: the shared memory that flipcall endpoints exchange data
// through (pkg/lisafs/README.md §8.1, §8.2). One PacketWindowAllocator hands
// out windows from one sealed memfd; each window is later mapped by both sides
// of a channel (flipcall::Endpoint, flipcall.h).

#ifndef GVISOR_PKG_FLIPCALL_PACKET_WINDOW_H_
#define GVISOR_PKG_FLIPCALL_PACKET_WINDOW_H_

#include <stddef.h>
#include <stdint.h>

#include <utility>

#include "absl/status/statusor.h"
#include "pkg/fd/fd.h"

namespace gvisor::flipcall {

// kPacketHeaderBytes is the window's header: the connection-state futex word
// (offset 0), the datagram length (offset 4) and 8 reserved bytes. Data
// starts right after it (pkg/lisafs/README.md §8.2).
inline constexpr size_t kPacketHeaderBytes = 16;

// PageSize returns the system page size.
size_t PageSize();

// PacketWindowLengthForDataCap returns the window length that holds a
// header and data_cap bytes of data: their sum rounded up to a page.
size_t PacketWindowLengthForDataCap(uint32_t data_cap);

// PacketWindowDescriptor locates one window in a file. fd is borrowed: the
// descriptor does not own it.
struct PacketWindowDescriptor {
  int fd = -1;
  int64_t offset = 0;
  size_t length = 0;
};

// PacketWindowAllocator hands out page-aligned windows of one memfd, one
// after another; a window is never reused. The file only grows (by
// doubling, from one page) and is sealed against shrinking, so a peer that
// maps a window can never be made to fault by this side truncating it. New
// pages are zero, so every window starts zeroed, as flipcall requires.
//
// Move-only; not synchronized (its owner serializes Allocate).
class PacketWindowAllocator {
 public:
  // Create makes the memfd ("flipcall_packet_windows", close-on-exec,
  // sealable) and seals it with F_SEAL_SHRINK | F_SEAL_SEAL.
  static absl::StatusOr<PacketWindowAllocator> Create();

  PacketWindowAllocator(PacketWindowAllocator&&) = default;
  PacketWindowAllocator& operator=(PacketWindowAllocator&&) = default;
  PacketWindowAllocator(const PacketWindowAllocator&) = delete;
  PacketWindowAllocator& operator=(const PacketWindowAllocator&) = delete;

  // Allocate returns the next window of size bytes rounded up to a page,
  // growing the file if needed. The descriptor's fd is this allocator's
  // memfd, valid while the allocator lives. EINVAL for size 0, EOVERFLOW if
  // the file would exceed INT64_MAX, and ftruncate's errno if it cannot grow.
  absl::StatusOr<PacketWindowDescriptor> Allocate(size_t size);

  // fd returns the memfd without giving up ownership.
  int fd() const { return fd_.get(); }
  // file_size is the memfd's current length.
  int64_t file_size() const { return file_size_; }

 private:
  explicit PacketWindowAllocator(fd::OwnedFd fd) : fd_(std::move(fd)) {}

  fd::OwnedFd fd_;
  int64_t next_ = 0;
  int64_t file_size_ = 0;
};

}  // namespace gvisor::flipcall

#endif  // GVISOR_PKG_FLIPCALL_PACKET_WINDOW_H_
