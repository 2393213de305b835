#include "pkg/lisafs/wire_testutil.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace gvisor::lisafs::testutil {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

[[noreturn]] void Malformed(absl::string_view hex) {
  std::fprintf(stderr, "HexToBytes: malformed hex: %.*s\n",
               static_cast<int>(hex.size()), hex.data());
  std::abort();
}

}  // namespace

std::vector<uint8_t> HexToBytes(absl::string_view hex) {
  std::vector<uint8_t> out;
  for (absl::string_view line : absl::StrSplit(hex, '\n')) {
    if (size_t colon = line.find(':'); colon != absl::string_view::npos) {
      line.remove_prefix(colon + 1);
    }
    for (absl::string_view tok :
         absl::StrSplit(line, ' ', absl::SkipWhitespace())) {
      tok = absl::StripAsciiWhitespace(tok);
      if (tok.size() != 2) Malformed(hex);
      const int hi = HexDigit(tok[0]);
      const int lo = HexDigit(tok[1]);
      if (hi < 0 || lo < 0) Malformed(hex);
      out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
  }
  return out;
}

std::string BytesToHex(absl::Span<const uint8_t> bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i % 16 == 0) absl::StrAppendFormat(&out, "\n%04x:", i);
    absl::StrAppendFormat(&out, " %02x", bytes[i]);
  }
  return out;
}

Statx StatDev() {
  Statx s;
  s.mask = 0xfff;
  s.blksize = 4096;
  s.nlink = 5;
  s.mode = 040755;
  s.ino = 1;
  s.size = 3840;
  s.atime = {.sec = 1700000000, .nsec = 1};
  s.btime = {.sec = 1700000000, .nsec = 2};
  s.ctime = {.sec = 1700000000, .nsec = 3};
  s.mtime = {.sec = 1700000000, .nsec = 4};
  s.dev_minor = 5;
  return s;
}

Statx StatCaps() {
  Statx s = StatDev();
  s.nlink = 2;
  s.ino = 0x1c;
  s.size = 60;
  return s;
}

Statx StatCap1() {
  Statx s = StatDev();
  s.nlink = 1;
  s.mode = 020444;
  s.ino = 0x1d;
  s.size = 0;
  s.rdev_major = 236;
  s.rdev_minor = 1;
  return s;
}

}  // namespace gvisor::lisafs::testutil
