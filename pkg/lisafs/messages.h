// Package lisafs, messages: one C++ type per variable-size LISAFS message,
// and the uniform Marshal/Unmarshal entry points for every message
// (pkg/lisafs/README.md §4).
//
// A variable-size message is a plain struct whose fields follow
// pkg/lisafs/README.md's order, with
//   absl::Status Encode(Encoder& e) const;
//   static absl::StatusOr<T> Decode(absl::Span<const uint8_t> payload);
// Fixed-size messages are the packed structs of wire.h. Marshal, Unmarshal,
// EncodeMessage and MarshalFrame accept both kinds alike.
//
// Payload of each MID (request → response); "empty" is EmptyMessage:
//    0 Error          —                    → ErrorResp
//    1 Mount          empty                → MountResp
//    2 Channel        empty                → ChannelResp
//    3 FStat          StatReq              → Statx
//    4 SetStat        SetStatReq           → SetStatResp
//    5 Walk           WalkReq              → WalkResp
//    6 WalkStat       WalkReq              → WalkStatResp
//    7 OpenAt         OpenAtReq            → OpenAtResp
//    8 OpenCreateAt   OpenCreateAtReq      → OpenCreateAtResp
//    9 Close          CloseReq             → empty
//   10 FSync          FsyncReq             → empty
//   11 PWrite         PWriteReq            → PWriteResp
//   12 PRead          PReadReq             → PReadResp
//   13 MkdirAt        MkdirAtReq           → Inode
//   14 MknodAt        MknodAtReq           → Inode
//   15 SymlinkAt      SymlinkAtReq         → Inode
//   16 LinkAt         LinkAtReq            → Inode
//   17 FStatFS        FStatFSReq           → StatFS
//   18 FAllocate      FAllocateReq         → empty
//   19 ReadLinkAt     ReadLinkAtReq        → ReadLinkAtResp
//   20 Flush          FlushReq             → empty
//   21 Connect        ConnectReq           → empty
//   22 UnlinkAt       UnlinkAtReq          → empty
//   23 RenameAt       RenameAtReq          → empty
//   24 Getdents64     Getdents64Req        → Getdents64Resp
//   25 FGetXattr      FGetXattrReq         → FGetXattrResp
//   26 FSetXattr      FSetXattrReq         → empty
//   27 FListXattr     FListXattrReq        → FListXattrResp
//   28 FRemoveXattr   FRemoveXattrReq      → empty
//   29 BindAt         BindAtReq            → BindAtResp
//   30 Listen         ListenReq            → empty
//   31 Accept         AcceptReq            → AcceptResp
//   32 ConnectWithCreds ConnectWithCredsReq → empty
//   33 RenameAt2      RenameAt2Req         → empty
//
// Encoding fails with EINVAL only where a string, count or data length does
// not fit its wire field. Decoding fails with EIO when the payload is too
// short for what its own lengths and counts announce; trailing bytes after a
// well-formed payload are ignored (pkg/lisafs/README.md §2.6). Decoders do not
// validate values (names, enum values, flags): that is the caller's job.

#ifndef GVISOR_PKG_LISAFS_MESSAGES_H_
#define GVISOR_PKG_LISAFS_MESSAGES_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pkg/lisafs/codec.h"
#include "pkg/lisafs/wire.h"

namespace gvisor::lisafs {

// EmptyMessage is an empty payload (Mount and Channel requests, and the
// responses listed as "empty" above). Decoding accepts and ignores any bytes.
struct EmptyMessage {
  absl::Status Encode(Encoder& e) const { return absl::OkStatus(); }
  static absl::StatusOr<EmptyMessage> Decode(
      absl::Span<const uint8_t> payload) {
    return EmptyMessage{};
  }
  bool operator==(const EmptyMessage&) const = default;
};

// MountResp (MID 1): the root control FD with its Statx, the payload size
// limit, and the MIDs the server supports (in the server's order).
struct MountResp {
  Inode root;
  uint32_t max_message_size = 0;
  std::vector<MID> supported_mids;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<MountResp> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const MountResp&) const = default;
};

// WalkReq (MIDs 5 and 6): walk path, one component per element, from the
// control FD dir_fd.
struct WalkReq {
  FDID dir_fd = kInvalidFDID;
  std::vector<std::string> path;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<WalkReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const WalkReq&) const = default;
};

// WalkResp (MID 5): how the walk ended and one Inode (with a new control FD)
// per component walked. The u16 count sits unaligned at offset 1.
struct WalkResp {
  WalkStatus status = WalkStatus::kSuccess;
  std::vector<Inode> inodes;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<WalkResp> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const WalkResp&) const = default;
};

// WalkStatResp (MID 6): one Statx per component walked.
struct WalkStatResp {
  std::vector<Statx> stats;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<WalkStatResp> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const WalkStatResp&) const = default;
};

// OpenCreateAtReq (MID 8): create and open name in common.dir_fd.
struct OpenCreateAtReq {
  CreateCommon common;
  uint32_t flags = 0;
  std::string name;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<OpenCreateAtReq> Decode(
      absl::Span<const uint8_t> payload);
  bool operator==(const OpenCreateAtReq&) const = default;
};

// CloseReq (MID 9): FDIDs to close, as an FdArray.
struct CloseReq {
  std::vector<FDID> fds;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<CloseReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const CloseReq&) const = default;
};

// FsyncReq (MID 10): open FDIDs to fsync, as an FdArray.
struct FsyncReq {
  std::vector<FDID> fds;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<FsyncReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const FsyncReq&) const = default;
};

// PWriteReq (MID 11): write data at offset to the open FD fd. The wire
// count is data.size(); encoding refuses data longer than 2^32-1 bytes.
struct PWriteReq {
  uint64_t offset = 0;
  FDID fd = kInvalidFDID;
  std::string data;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<PWriteReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const PWriteReq&) const = default;
};

// PReadResp (MID 12): the bytes read; empty means EOF. The wire n is a u64
// and is checked in full against the payload.
struct PReadResp {
  std::string data;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<PReadResp> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const PReadResp&) const = default;
};

// MkdirAtReq (MID 13).
struct MkdirAtReq {
  CreateCommon common;
  std::string name;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<MkdirAtReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const MkdirAtReq&) const = default;
};

// MknodAtReq (MID 14). On the wire minor comes before major.
struct MknodAtReq {
  CreateCommon common;
  uint32_t minor = 0;
  uint32_t major = 0;
  std::string name;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<MknodAtReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const MknodAtReq&) const = default;
};

// SymlinkAtReq (MID 15): create symlink name -> target in dir_fd.
struct SymlinkAtReq {
  FDID dir_fd = kInvalidFDID;
  uint32_t uid = kNoUID;
  uint32_t gid = kNoGID;
  std::string name;
  std::string target;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<SymlinkAtReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const SymlinkAtReq&) const = default;
};

// LinkAtReq (MID 16): hard-link the file of control FD target as name in
// dir_fd.
struct LinkAtReq {
  FDID dir_fd = kInvalidFDID;
  FDID target = kInvalidFDID;
  std::string name;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<LinkAtReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const LinkAtReq&) const = default;
};

// UnlinkAtReq (MID 22): flags are unlinkat(2) flags (AT_REMOVEDIR).
struct UnlinkAtReq {
  FDID dir_fd = kInvalidFDID;
  uint32_t flags = 0;
  std::string name;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<UnlinkAtReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const UnlinkAtReq&) const = default;
};

// RenameAtReq (MID 23).
struct RenameAtReq {
  FDID old_dir = kInvalidFDID;
  FDID new_dir = kInvalidFDID;
  std::string old_name;
  std::string new_name;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<RenameAtReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const RenameAtReq&) const = default;
};

// RenameAt2Req (MID 33): a RenameAtReq followed by renameat2(2) flags, which
// sit unaligned right after new_name.
struct RenameAt2Req {
  FDID old_dir = kInvalidFDID;
  FDID new_dir = kInvalidFDID;
  std::string old_name;
  std::string new_name;
  uint32_t flags = 0;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<RenameAt2Req> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const RenameAt2Req&) const = default;
};

// Dirent64 is one directory entry of a Getdents64Resp (pkg/lisafs/README.md
// §3.8). On the wire dev_minor comes before dev_major, and the name length is a
// u16 at the unaligned offset 25. It is not a message on its own.
struct Dirent64 {
  // kFixedSize is the size of an entry with an empty name.
  static constexpr size_t kFixedSize = 27;

  uint64_t ino = 0;
  uint32_t dev_minor = 0;
  uint32_t dev_major = 0;
  uint64_t off = 0;
  uint8_t type = 0;
  std::string name;

  // WireSize returns the bytes this entry takes on the wire.
  size_t WireSize() const { return kFixedSize + name.size(); }
  // Encode appends the entry. Returns EINVAL if name is too long.
  absl::Status Encode(Encoder& e) const;
  // Decode reads one entry at d's cursor.
  static absl::StatusOr<Dirent64> Decode(Decoder& d);
  bool operator==(const Dirent64&) const = default;
};

// Getdents64Resp (MID 24): directory entries; none means end of directory.
struct Getdents64Resp {
  std::vector<Dirent64> dirents;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<Getdents64Resp> Decode(
      absl::Span<const uint8_t> payload);
  bool operator==(const Getdents64Resp&) const = default;
};

// FGetXattrReq (MID 25): read xattr name, with a value buffer of buf_size.
struct FGetXattrReq {
  FDID fd = kInvalidFDID;
  uint32_t buf_size = 0;
  std::string name;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<FGetXattrReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const FGetXattrReq&) const = default;
};

// FGetXattrResp (MID 25): the value, as a SizedString.
struct FGetXattrResp {
  std::string value;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<FGetXattrResp> Decode(
      absl::Span<const uint8_t> payload);
  bool operator==(const FGetXattrResp&) const = default;
};

// FSetXattrReq (MID 26): flags are XATTR_CREATE / XATTR_REPLACE.
struct FSetXattrReq {
  FDID fd = kInvalidFDID;
  uint32_t flags = 0;
  std::string name;
  std::string value;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<FSetXattrReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const FSetXattrReq&) const = default;
};

// FListXattrResp (MID 27): xattr names (without NULs), as a StringArray.
struct FListXattrResp {
  std::vector<std::string> names;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<FListXattrResp> Decode(
      absl::Span<const uint8_t> payload);
  bool operator==(const FListXattrResp&) const = default;
};

// FRemoveXattrReq (MID 28).
struct FRemoveXattrReq {
  FDID fd = kInvalidFDID;
  std::string name;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<FRemoveXattrReq> Decode(
      absl::Span<const uint8_t> payload);
  bool operator==(const FRemoveXattrReq&) const = default;
};

// BindAtReq (MID 29): create a socket file name of sock_type and bind it.
struct BindAtReq {
  CreateCommon common;
  uint32_t sock_type = 0;
  std::string name;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<BindAtReq> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const BindAtReq&) const = default;
};

// ReadLinkAtResp (MID 19): the symlink target, as a SizedString.
struct ReadLinkAtResp {
  std::string target;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<ReadLinkAtResp> Decode(
      absl::Span<const uint8_t> payload);
  bool operator==(const ReadLinkAtResp&) const = default;
};

// AcceptResp (MID 31): the peer address, as a SizedString (fsgofer always
// sends an empty one).
struct AcceptResp {
  std::string peer_addr;

  absl::Status Encode(Encoder& e) const;
  static absl::StatusOr<AcceptResp> Decode(absl::Span<const uint8_t> payload);
  bool operator==(const AcceptResp&) const = default;
};

// VariableWireMessage is satisfied by the message types of this file.
template <typename T>
concept VariableWireMessage = requires(const T& m, Encoder& e,
                                       absl::Span<const uint8_t> payload) {
  { m.Encode(e) } -> std::same_as<absl::Status>;
  { T::Decode(payload) } -> std::same_as<absl::StatusOr<T>>;
};

// WireMessage is any LISAFS payload type: fixed-size or variable-size.
template <typename T>
concept WireMessage = FixedWireStruct<T> || VariableWireMessage<T>;

// EncodeMessage appends msg's payload encoding to e. On error nothing
// useful was appended and e should be discarded.
template <WireMessage T>
absl::Status EncodeMessage(Encoder& e, const T& msg) {
  if constexpr (FixedWireStruct<T>) {
    e.PutStruct(msg);
    return absl::OkStatus();
  } else {
    return msg.Encode(e);
  }
}

// Marshal returns msg's payload encoding (no frame header).
template <WireMessage T>
absl::StatusOr<std::vector<uint8_t>> Marshal(const T& msg) {
  Encoder e;
  if (absl::Status s = EncodeMessage(e, msg); !s.ok()) return s;
  return std::move(e).Take();
}

// Unmarshal decodes a payload (no frame header) as a T. Trailing bytes are
// ignored; a short payload gives EIO.
template <WireMessage T>
absl::StatusOr<T> Unmarshal(absl::Span<const uint8_t> payload) {
  if constexpr (FixedWireStruct<T>) {
    Decoder d(payload);
    return d.ReadStruct<T>(T::kName);
  } else {
    return T::Decode(payload);
  }
}

namespace internal {
// FinishFrame writes the header into the first kMessageHeaderSize bytes of
// frame, which were reserved for it. Returns EINVAL if the rest is too long.
absl::StatusOr<std::vector<uint8_t>> FinishFrame(MID mid,
                                                 std::vector<uint8_t> frame);
}  // namespace internal

// MarshalFrame returns a whole socket frame: the 8-byte header for mid and
// the payload length, then msg's payload (pkg/lisafs/README.md §2.2). Returns
// EINVAL if the payload does not fit the u32 length.
template <WireMessage T>
absl::StatusOr<std::vector<uint8_t>> MarshalFrame(MID mid, const T& msg) {
  Encoder e{std::vector<uint8_t>(kMessageHeaderSize)};
  if (absl::Status s = EncodeMessage(e, msg); !s.ok()) return s;
  return internal::FinishFrame(mid, std::move(e).Take());
}

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_MESSAGES_H_
