// Test helpers for the LISAFS wire code: hex dumps in pkg/lisafs/README.md
// §10's format to bytes and back, and the Statx records the vectors use.

#ifndef GVISOR_PKG_LISAFS_WIRE_TESTUTIL_H_
#define GVISOR_PKG_LISAFS_WIRE_TESTUTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "pkg/lisafs/wire.h"

namespace gvisor::lisafs::testutil {

// HexToBytes parses a hex dump. Each line may start with an offset label
// ("00a0:"), which is skipped; the rest is pairs of hex digits separated by
// whitespace. Aborts the test binary on malformed input.
std::vector<uint8_t> HexToBytes(absl::string_view hex);

// BytesToHex formats bytes as "00a0: de 00 ..." lines of 16, for readable
// failure messages.
std::string BytesToHex(absl::Span<const uint8_t> bytes);

// StatDev, StatCaps and StatCap1 are the Statx records S_DEV, S_CAPS and
// S_CAP1 of pkg/lisafs/README.md §10 V0.
Statx StatDev();
Statx StatCaps();
Statx StatCap1();

}  // namespace gvisor::lisafs::testutil

#endif  // GVISOR_PKG_LISAFS_WIRE_TESTUTIL_H_
