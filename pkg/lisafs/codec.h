// Package lisafs, codec: the building blocks that every LISAFS message is
// encoded from and decoded into (pkg/lisafs/README.md §0, §3.2).
//
// Encoder appends little-endian scalars, raw bytes, the variable-length
// blocks (SizedString, StringArray, FdArray) and fixed-size structs to a byte
// buffer, with no padding anywhere. Decoder is a cursor over a received
// payload: every read checks that the bytes are there first, so a hostile or
// truncated payload gives an EIO status naming the field and its offset,
// never an over-read. messages.h builds each message from these.

#ifndef GVISOR_PKG_LISAFS_CODEC_H_
#define GVISOR_PKG_LISAFS_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "pkg/lisafs/wire.h"

namespace gvisor::lisafs {

// kMaxSizedString is the longest string a SizedString can hold: its length
// is a u16.
constexpr size_t kMaxSizedString = 0xFFFF;

// kMaxArrayCount is the largest element count of a StringArray, FdArray or
// MID list: the count is a u16.
constexpr size_t kMaxArrayCount = 0xFFFF;

// Encoder appends wire encodings to a growing byte buffer. Infallible puts
// return void; puts of variable-length blocks return EINVAL (and append
// nothing) when a length or count does not fit its u16 prefix, instead of
// silently wrapping it as gVisor's Go code would.
class Encoder {
 public:
  Encoder() = default;
  // Appends to buf, keeping what it already holds (e.g. room reserved for a
  // frame header).
  explicit Encoder(std::vector<uint8_t> buf) : buf_(std::move(buf)) {}

  void PutU8(uint8_t v) { buf_.push_back(v); }
  void PutU16(uint16_t v) { PutRaw(&v, sizeof(v)); }
  void PutU32(uint32_t v) { PutRaw(&v, sizeof(v)); }
  void PutU64(uint64_t v) { PutRaw(&v, sizeof(v)); }
  void PutI32(int32_t v) { PutRaw(&v, sizeof(v)); }
  void PutI64(int64_t v) { PutRaw(&v, sizeof(v)); }

  // PutBytes appends b as is, with no length prefix.
  void PutBytes(absl::Span<const uint8_t> b) { PutRaw(b.data(), b.size()); }
  void PutBytes(absl::string_view b) { PutRaw(b.data(), b.size()); }

  // PutStruct appends the wire bytes of a fixed-size struct.
  template <FixedWireStruct T>
  void PutStruct(const T& v) {
    PutRaw(&v, sizeof(T));
  }

  // PutCount appends n as the u16 element count of an array. Returns
  // EINVAL, naming what and appending nothing, if n > kMaxArrayCount.
  absl::Status PutCount(size_t n, absl::string_view what);

  // PutSizedString appends a u16 length and the bytes of s. Returns EINVAL,
  // naming what, if s is longer than kMaxSizedString.
  absl::Status PutSizedString(absl::string_view s,
                              absl::string_view what = "SizedString");

  // PutStringArray appends a u16 count and each string as a SizedString.
  // Returns EINVAL if there are more than kMaxArrayCount strings or one is
  // too long; nothing is appended then.
  absl::Status PutStringArray(absl::Span<const std::string> strs,
                              absl::string_view what = "StringArray");

  // PutFdArray appends a u16 count and each FDID as a u64. Returns EINVAL if
  // there are more than kMaxArrayCount FDIDs.
  absl::Status PutFdArray(absl::Span<const FDID> fds,
                          absl::string_view what = "FdArray");

  // size returns the number of bytes held, including any the Encoder was
  // constructed with.
  size_t size() const { return buf_.size(); }
  // bytes returns a view of the bytes held; it is invalidated by any put.
  absl::Span<const uint8_t> bytes() const { return buf_; }
  // Take moves the bytes out, leaving the Encoder empty.
  std::vector<uint8_t> Take() && { return std::move(buf_); }

 private:
  void PutRaw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }

  std::vector<uint8_t> buf_;
};

// Decoder reads wire encodings from the front of a byte span that it does
// not own (the span must outlive it). Every read checks its bounds first; on
// failure it returns EIO with a message "decoding <what> at offset <n>: ..."
// and leaves the cursor where it was. Bytes after the last read are never
// looked at, so trailing bytes are ignored (pkg/lisafs/README.md §2.6).
class Decoder {
 public:
  explicit Decoder(absl::Span<const uint8_t> buf) : buf_(buf) {}

  // offset returns how many bytes have been consumed.
  size_t offset() const { return off_; }
  // remaining returns how many bytes are left.
  size_t remaining() const { return buf_.size() - off_; }

  absl::StatusOr<uint8_t> ReadU8(absl::string_view what) {
    return ReadScalar<uint8_t>(what);
  }
  absl::StatusOr<uint16_t> ReadU16(absl::string_view what) {
    return ReadScalar<uint16_t>(what);
  }
  absl::StatusOr<uint32_t> ReadU32(absl::string_view what) {
    return ReadScalar<uint32_t>(what);
  }
  absl::StatusOr<uint64_t> ReadU64(absl::string_view what) {
    return ReadScalar<uint64_t>(what);
  }
  absl::StatusOr<int32_t> ReadI32(absl::string_view what) {
    return ReadScalar<int32_t>(what);
  }
  absl::StatusOr<int64_t> ReadI64(absl::string_view what) {
    return ReadScalar<int64_t>(what);
  }

  // ReadBytes returns a view of the next n bytes (into the decoded span).
  absl::StatusOr<absl::Span<const uint8_t>> ReadBytes(uint64_t n,
                                                      absl::string_view what);
  // ReadString copies the next n bytes into a string.
  absl::StatusOr<std::string> ReadString(uint64_t n, absl::string_view what);

  // ReadStruct copies the next T::kSize bytes into a fixed-size struct.
  template <FixedWireStruct T>
  absl::StatusOr<T> ReadStruct(absl::string_view what) {
    if (remaining() < sizeof(T)) return ShortRead(what, sizeof(T));
    T v;
    std::memcpy(&v, buf_.data() + off_, sizeof(T));
    off_ += sizeof(T);
    return v;
  }

  // ReadStructs reads count fixed-size structs back to back. It fails before
  // allocating anything if the bytes left cannot hold them all.
  template <FixedWireStruct T>
  absl::StatusOr<std::vector<T>> ReadStructs(uint64_t count,
                                             absl::string_view what) {
    if (count > remaining() / sizeof(T)) {
      return CountTooLarge(what, count, sizeof(T));
    }
    std::vector<T> v(count);
    if (!v.empty()) {
      std::memcpy(v.data(), buf_.data() + off_, v.size() * sizeof(T));
      off_ += v.size() * sizeof(T);
    }
    return v;
  }

  // ReadCount reads the u16 element count of an array whose elements take
  // at least min_elem_size bytes each, and fails (without consuming the
  // count) if the bytes left cannot hold that many. This bounds any
  // allocation made from the count by the payload's size.
  absl::StatusOr<uint16_t> ReadCount(size_t min_elem_size,
                                     absl::string_view what);

  // ReadSizedString reads a u16 length and that many bytes.
  absl::StatusOr<std::string> ReadSizedString(absl::string_view what);

  // ReadStringArray reads a u16 count and that many SizedStrings. A count
  // that the remaining bytes cannot possibly hold (2 bytes per string at
  // least) fails before anything is allocated.
  absl::StatusOr<std::vector<std::string>> ReadStringArray(
      absl::string_view what);

  // ReadFdArray reads a u16 count and that many u64 FDIDs.
  absl::StatusOr<std::vector<FDID>> ReadFdArray(absl::string_view what);

  // CountTooLarge returns the EIO status for an element count that cannot
  // fit in the bytes left, when each element takes at least min_elem_size
  // bytes. For decoders of arrays that codec.h does not cover.
  absl::Status CountTooLarge(absl::string_view what, uint64_t count,
                             size_t min_elem_size) const;

 private:
  template <typename T>
  absl::StatusOr<T> ReadScalar(absl::string_view what) {
    if (remaining() < sizeof(T)) return ShortRead(what, sizeof(T));
    T v;
    std::memcpy(&v, buf_.data() + off_, sizeof(T));
    off_ += sizeof(T);
    return v;
  }

  // ShortRead returns the EIO status for a read of need bytes that does not
  // fit in the bytes left.
  absl::Status ShortRead(absl::string_view what, uint64_t need) const;

  absl::Span<const uint8_t> buf_;
  size_t off_ = 0;
};

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_CODEC_H_
