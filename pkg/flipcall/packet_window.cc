#include "pkg/flipcall/packet_window.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::flipcall {

size_t PageSize() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

namespace {

// RoundUpToPage rounds x up to a page; 0 if that overflows.
size_t RoundUpToPage(size_t x) {
  const size_t mask = PageSize() - 1;
  if (x > SIZE_MAX - mask) return 0;
  return (x + mask) & ~mask;
}

}  // namespace

size_t PacketWindowLengthForDataCap(uint32_t data_cap) {
  return RoundUpToPage(static_cast<size_t>(data_cap) + kPacketHeaderBytes);
}

absl::StatusOr<PacketWindowAllocator> PacketWindowAllocator::Create() {
  fd::OwnedFd fd(
      memfd_create("flipcall_packet_windows", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) {
    return syserr::FromErrno(errno, "memfd_create(flipcall_packet_windows)");
  }
  if (fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    return syserr::FromErrno(errno, "sealing the packet window memfd");
  }
  return PacketWindowAllocator(std::move(fd));
}

absl::StatusOr<PacketWindowDescriptor> PacketWindowAllocator::Allocate(
    size_t size) {
  if (size == 0) {
    return syserr::FromErrno(EINVAL, "packet window of 0 bytes");
  }
  size = RoundUpToPage(size);
  if (size == 0 || size > static_cast<uint64_t>(INT64_MAX - next_)) {
    return syserr::FromErrno(EOVERFLOW, "packet window file would overflow");
  }
  const int64_t end = next_ + static_cast<int64_t>(size);
  if (file_size_ < end) {
    int64_t new_size =
        file_size_ == 0 ? static_cast<int64_t>(PageSize()) : 2 * file_size_;
    while (new_size < end) {
      if (new_size > INT64_MAX / 2) {
        return syserr::FromErrno(EOVERFLOW,
                                 "packet window file would overflow");
      }
      new_size *= 2;
    }
    if (ftruncate(fd_.get(), new_size) != 0) {
      return syserr::FromErrno(
          errno, absl::StrCat("growing the packet window memfd to ", new_size,
                              " bytes"));
    }
    file_size_ = new_size;
  }
  PacketWindowDescriptor d;
  d.fd = fd_.get();
  d.offset = next_;
  d.length = size;
  next_ = end;
  return d;
}

}  // namespace gvisor::flipcall
