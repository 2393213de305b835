#include "pkg/lisafs/codec.h"

#include <errno.h>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {
namespace {

// ElementName returns "what[i]", for errors inside arrays.
std::string ElementName(absl::string_view what, size_t i) {
  return absl::StrCat(what, "[", i, "]");
}

absl::Status TooLongToEncode(absl::string_view what, absl::string_view kind,
                             size_t n) {
  return syserr::FromErrno(EINVAL,
                           absl::StrCat("encoding ", what, ": ", kind, " ", n,
                                        " does not fit in a u16 (max 65535)"));
}

}  // namespace

absl::Status Encoder::PutCount(size_t n, absl::string_view what) {
  if (n > kMaxArrayCount) return TooLongToEncode(what, "count", n);
  PutU16(static_cast<uint16_t>(n));
  return absl::OkStatus();
}

absl::Status Encoder::PutSizedString(absl::string_view s,
                                     absl::string_view what) {
  if (s.size() > kMaxSizedString) {
    return TooLongToEncode(what, "string length", s.size());
  }
  PutU16(static_cast<uint16_t>(s.size()));
  PutBytes(s);
  return absl::OkStatus();
}

absl::Status Encoder::PutStringArray(absl::Span<const std::string> strs,
                                     absl::string_view what) {
  if (strs.size() > kMaxArrayCount) {
    return TooLongToEncode(what, "count", strs.size());
  }
  // Check every string before appending anything, so a failure leaves the
  // buffer untouched.
  for (size_t i = 0; i < strs.size(); ++i) {
    if (strs[i].size() > kMaxSizedString) {
      return TooLongToEncode(ElementName(what, i), "string length",
                             strs[i].size());
    }
  }
  PutU16(static_cast<uint16_t>(strs.size()));
  for (const std::string& s : strs) {
    PutU16(static_cast<uint16_t>(s.size()));
    PutBytes(s);
  }
  return absl::OkStatus();
}

absl::Status Encoder::PutFdArray(absl::Span<const FDID> fds,
                                 absl::string_view what) {
  if (fds.size() > kMaxArrayCount) {
    return TooLongToEncode(what, "count", fds.size());
  }
  PutU16(static_cast<uint16_t>(fds.size()));
  for (FDID fd : fds) PutU64(fd);
  return absl::OkStatus();
}

absl::Status Decoder::ShortRead(absl::string_view what, uint64_t need) const {
  return syserr::FromErrno(
      EIO, absl::StrCat("decoding ", what, " at offset ", off_, ": need ", need,
                        " bytes, ", remaining(), " left"));
}

absl::Status Decoder::CountTooLarge(absl::string_view what, uint64_t count,
                                    size_t min_elem_size) const {
  return syserr::FromErrno(
      EIO, absl::StrCat("decoding ", what, " at offset ", off_, ": ", count,
                        " elements of at least ", min_elem_size,
                        " bytes cannot fit in ", remaining(), " bytes left"));
}

absl::StatusOr<absl::Span<const uint8_t>> Decoder::ReadBytes(
    uint64_t n, absl::string_view what) {
  if (n > remaining()) return ShortRead(what, n);
  absl::Span<const uint8_t> out = buf_.subspan(off_, n);
  off_ += n;
  return out;
}

absl::StatusOr<std::string> Decoder::ReadString(uint64_t n,
                                                absl::string_view what) {
  if (n > remaining()) return ShortRead(what, n);
  std::string out(reinterpret_cast<const char*>(buf_.data() + off_), n);
  off_ += n;
  return out;
}

absl::StatusOr<uint16_t> Decoder::ReadCount(size_t min_elem_size,
                                            absl::string_view what) {
  absl::StatusOr<uint16_t> count = ReadU16(what);
  if (!count.ok()) return count.status();
  if (min_elem_size > 0 && *count > remaining() / min_elem_size) {
    off_ -= sizeof(uint16_t);
    return CountTooLarge(what, *count, min_elem_size);
  }
  return count;
}

absl::StatusOr<std::string> Decoder::ReadSizedString(absl::string_view what) {
  absl::StatusOr<uint16_t> len = ReadU16(what);
  if (!len.ok()) return len.status();
  if (*len > remaining()) {
    // Report from the start of the string: its length plus its bytes.
    off_ -= sizeof(uint16_t);
    return ShortRead(what, sizeof(uint16_t) + *len);
  }
  return ReadString(*len, what);
}

absl::StatusOr<std::vector<std::string>> Decoder::ReadStringArray(
    absl::string_view what) {
  const size_t start = off_;
  // Each string takes at least its 2-byte length.
  absl::StatusOr<uint16_t> count = ReadCount(2, what);
  if (!count.ok()) return count.status();
  std::vector<std::string> out;
  out.reserve(*count);
  for (size_t i = 0; i < *count; ++i) {
    // Check before building the element name, so success allocates nothing
    // for it.
    if (remaining() >= 2) {
      uint16_t len;
      std::memcpy(&len, buf_.data() + off_, sizeof(len));
      if (len <= remaining() - 2) {
        off_ += 2;
        out.emplace_back(reinterpret_cast<const char*>(buf_.data() + off_),
                         len);
        off_ += len;
        continue;
      }
    }
    absl::Status err = ReadSizedString(ElementName(what, i)).status();
    off_ = start;
    return err;
  }
  return out;
}

absl::StatusOr<std::vector<FDID>> Decoder::ReadFdArray(absl::string_view what) {
  absl::StatusOr<uint16_t> count = ReadCount(sizeof(FDID), what);
  if (!count.ok()) return count.status();
  std::vector<FDID> out(*count);
  if (!out.empty()) {
    std::memcpy(out.data(), buf_.data() + off_, out.size() * sizeof(FDID));
    off_ += out.size() * sizeof(FDID);
  }
  return out;
}

}  // namespace gvisor::lisafs
