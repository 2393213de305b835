#include "pkg/lisafs/wire.h"

#include <errno.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {
namespace {

// Names indexed by MID, as pkg/lisafs/README.md §4.1 spells them.
constexpr const char* kMIDNames[kNumMIDs] = {
    "Error",             // 0
    "Mount",             // 1
    "Channel",           // 2
    "FStat",             // 3
    "SetStat",           // 4
    "Walk",              // 5
    "WalkStat",          // 6
    "OpenAt",            // 7
    "OpenCreateAt",      // 8
    "Close",             // 9
    "FSync",             // 10
    "PWrite",            // 11
    "PRead",             // 12
    "MkdirAt",           // 13
    "MknodAt",           // 14
    "SymlinkAt",         // 15
    "LinkAt",            // 16
    "FStatFS",           // 17
    "FAllocate",         // 18
    "ReadLinkAt",        // 19
    "Flush",             // 20
    "Connect",           // 21
    "UnlinkAt",          // 22
    "RenameAt",          // 23
    "Getdents64",        // 24
    "FGetXattr",         // 25
    "FSetXattr",         // 26
    "FListXattr",        // 27
    "FRemoveXattr",      // 28
    "BindAt",            // 29
    "Listen",            // 30
    "Accept",            // 31
    "ConnectWithCreds",  // 32
    "RenameAt2",         // 33
};

}  // namespace

const char* MIDName(MID mid) {
  const auto i = static_cast<uint16_t>(mid);
  return i < kNumMIDs ? kMIDNames[i] : "Unknown";
}

std::array<uint8_t, kMessageHeaderSize> EncodeMessageHeader(uint32_t size,
                                                            MID mid) {
  const MessageHeader h{.size = size, .mid = static_cast<uint16_t>(mid)};
  std::array<uint8_t, kMessageHeaderSize> out;
  std::memcpy(out.data(), &h, sizeof(h));
  return out;
}

absl::StatusOr<MessageHeader> DecodeMessageHeader(
    absl::Span<const uint8_t> buf) {
  if (buf.size() < kMessageHeaderSize) {
    return syserr::FromErrno(
        EIO, absl::StrCat("decoding MessageHeader at offset 0: need ",
                          kMessageHeaderSize, " bytes, ", buf.size(), " left"));
  }
  MessageHeader h;
  std::memcpy(&h, buf.data(), sizeof(h));
  return h;
}

}  // namespace gvisor::lisafs
