// Package lisafs, wire types: message IDs, the socket frame header, and every
// fixed-size LISAFS struct, laid out exactly as on the wire
// (pkg/lisafs/README.md §0, §3, §4).
//
// Each fixed-size struct is packed, has explicit zeroed padding fields, and is
// checked below with static_asserts against the sizes and offsets in
// pkg/lisafs/README.md. On the supported hosts (x86-64, arm64) host byte order
// is little-endian, so a struct's bytes are its wire encoding; codec.h copies
// them with memcpy. Variable-size messages live in messages.h.

#ifndef GVISOR_PKG_LISAFS_WIRE_H_
#define GVISOR_PKG_LISAFS_WIRE_H_

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace gvisor::lisafs {

static_assert(std::endian::native == std::endian::little,
              "LISAFS structs are copied as raw memory; only little-endian "
              "hosts are supported (pkg/lisafs/README.md §0)");

// MID is a LISAFS message ID (pkg/lisafs/README.md §4.1). 0..255 are reserved
// for standard LISAFS; a MID received from a peer may hold any u16 value, so
// code must not assume it names one of the enumerators.
enum class MID : uint16_t {
  kError = 0,
  kMount = 1,
  kChannel = 2,
  kFStat = 3,
  kSetStat = 4,
  kWalk = 5,
  kWalkStat = 6,
  kOpenAt = 7,
  kOpenCreateAt = 8,
  kClose = 9,
  kFSync = 10,
  kPWrite = 11,
  kPRead = 12,
  kMkdirAt = 13,
  kMknodAt = 14,
  kSymlinkAt = 15,
  kLinkAt = 16,
  kFStatFS = 17,
  kFAllocate = 18,
  kReadLinkAt = 19,
  kFlush = 20,
  kConnect = 21,
  kUnlinkAt = 22,
  kRenameAt = 23,
  kGetdents64 = 24,
  kFGetXattr = 25,
  kFSetXattr = 26,
  kFListXattr = 27,
  kFRemoveXattr = 28,
  kBindAt = 29,
  kListen = 30,
  kAccept = 31,
  kConnectWithCreds = 32,
  kRenameAt2 = 33,
};

// kNumMIDs is the number of standard MIDs (0..33). A request whose MID is
// >= kNumMIDs is answered with EOPNOTSUPP (pkg/lisafs/README.md §4.1).
constexpr int kNumMIDs = 34;

// MIDName returns the message's name as pkg/lisafs/README.md spells it ("Walk",
// "RenameAt2"), or "Unknown" for a MID >= kNumMIDs. The string is static.
const char* MIDName(MID mid);

// FDID is the protocol's handle on a server-side object (pkg/lisafs/README.md
// §3.1). It is never a host FD number.
using FDID = uint64_t;

// kInvalidFDID is never handed out; FDIDs start at 1.
constexpr FDID kInvalidFDID = 0;

// kNoUID and kNoGID mean "no ID / leave unchanged" in UID and GID fields.
constexpr uint32_t kNoUID = 0xFFFFFFFF;
constexpr uint32_t kNoGID = 0xFFFFFFFF;

// WalkStatus says how a Walk ended (pkg/lisafs/README.md §4.2, MID 5). Decoding
// does not validate it: a peer may send any u8.
enum class WalkStatus : uint8_t {
  kSuccess = 0,
  kComponentDoesNotExist = 1,
  kComponentSymlink = 2,
};

// FixedWireStruct is satisfied by the packed structs below: their bytes are
// their wire encoding, kSize is that size, and kName names them in errors.
template <typename T>
concept FixedWireStruct = std::is_trivially_copyable_v<T> &&
    std::is_standard_layout_v<T> && requires {
  { T::kSize } -> std::convertible_to<size_t>;
  { T::kName } -> std::convertible_to<const char*>;
} && sizeof(T) == T::kSize;

// ---------------------------------------------------------------------------
// Frame header (pkg/lisafs/README.md §2.2).

// MessageHeader precedes every payload on the socket communicator. size
// counts the payload only, not the header. mid is kept raw because a peer
// may send any value.
struct __attribute__((packed)) MessageHeader {
  static constexpr size_t kSize = 8;
  static constexpr const char* kName = "MessageHeader";
  uint32_t size = 0;
  uint16_t mid = 0;
  uint16_t pad = 0;

  bool operator==(const MessageHeader&) const = default;
};
static_assert(sizeof(MessageHeader) == 8);
static_assert(offsetof(MessageHeader, size) == 0);
static_assert(offsetof(MessageHeader, mid) == 4);
static_assert(offsetof(MessageHeader, pad) == 6);

// kMessageHeaderSize is the size of the frame header in bytes.
constexpr size_t kMessageHeaderSize = sizeof(MessageHeader);

// EncodeMessageHeader returns the 8 wire bytes of a header with the given
// payload size and MID (padding zero).
std::array<uint8_t, kMessageHeaderSize> EncodeMessageHeader(uint32_t size,
                                                            MID mid);

// DecodeMessageHeader reads a header from the first 8 bytes of buf. Returns
// EIO if buf is shorter than 8 bytes. Bytes after the header are ignored.
absl::StatusOr<MessageHeader> DecodeMessageHeader(
    absl::Span<const uint8_t> buf);

// ---------------------------------------------------------------------------
// Common building blocks (pkg/lisafs/README.md §3).

// StatxTimestamp is struct statx_timestamp (pkg/lisafs/README.md §3.3).
struct __attribute__((packed)) StatxTimestamp {
  static constexpr size_t kSize = 16;
  static constexpr const char* kName = "StatxTimestamp";
  int64_t sec = 0;
  uint32_t nsec = 0;
  int32_t pad = 0;

  bool operator==(const StatxTimestamp&) const = default;
};
static_assert(sizeof(StatxTimestamp) == 16);
static_assert(offsetof(StatxTimestamp, sec) == 0);
static_assert(offsetof(StatxTimestamp, nsec) == 8);
static_assert(offsetof(StatxTimestamp, pad) == 12);

// Statx is the first 144 bytes of Linux struct statx (pkg/lisafs/README.md
// §3.4). Note rdev and dev are major before minor here, unlike Dirent64 and
// MknodAtReq.
struct __attribute__((packed)) Statx {
  static constexpr size_t kSize = 144;
  static constexpr const char* kName = "Statx";
  uint32_t mask = 0;
  uint32_t blksize = 0;
  uint64_t attributes = 0;
  uint32_t nlink = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint16_t mode = 0;
  uint16_t pad = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;
  uint64_t attributes_mask = 0;
  StatxTimestamp atime;
  StatxTimestamp btime;
  StatxTimestamp ctime;
  StatxTimestamp mtime;
  uint32_t rdev_major = 0;
  uint32_t rdev_minor = 0;
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;

  bool operator==(const Statx&) const = default;
};
static_assert(sizeof(Statx) == 144);
static_assert(offsetof(Statx, mask) == 0);
static_assert(offsetof(Statx, blksize) == 4);
static_assert(offsetof(Statx, attributes) == 8);
static_assert(offsetof(Statx, nlink) == 16);
static_assert(offsetof(Statx, uid) == 20);
static_assert(offsetof(Statx, gid) == 24);
static_assert(offsetof(Statx, mode) == 28);
static_assert(offsetof(Statx, pad) == 30);
static_assert(offsetof(Statx, ino) == 32);
static_assert(offsetof(Statx, size) == 40);
static_assert(offsetof(Statx, blocks) == 48);
static_assert(offsetof(Statx, attributes_mask) == 56);
static_assert(offsetof(Statx, atime) == 64);
static_assert(offsetof(Statx, btime) == 80);
static_assert(offsetof(Statx, ctime) == 96);
static_assert(offsetof(Statx, mtime) == 112);
static_assert(offsetof(Statx, rdev_major) == 128);
static_assert(offsetof(Statx, rdev_minor) == 132);
static_assert(offsetof(Statx, dev_major) == 136);
static_assert(offsetof(Statx, dev_minor) == 140);

// Inode is a control FDID with its Statx (pkg/lisafs/README.md §3.5).
struct __attribute__((packed)) Inode {
  static constexpr size_t kSize = 152;
  static constexpr const char* kName = "Inode";
  FDID control_fd = kInvalidFDID;
  Statx stat;

  bool operator==(const Inode&) const = default;
};
static_assert(sizeof(Inode) == 152);
static_assert(offsetof(Inode, control_fd) == 0);
static_assert(offsetof(Inode, stat) == 8);

// CreateCommon is the prefix of OpenCreateAt, MkdirAt, MknodAt and BindAt
// requests (pkg/lisafs/README.md §3.6).
struct __attribute__((packed)) CreateCommon {
  static constexpr size_t kSize = 24;
  static constexpr const char* kName = "CreateCommon";
  FDID dir_fd = kInvalidFDID;
  uint32_t uid = kNoUID;
  uint32_t gid = kNoGID;
  uint16_t mode = 0;
  uint16_t pad0 = 0;
  uint32_t pad1 = 0;

  bool operator==(const CreateCommon&) const = default;
};
static_assert(sizeof(CreateCommon) == 24);
static_assert(offsetof(CreateCommon, dir_fd) == 0);
static_assert(offsetof(CreateCommon, uid) == 8);
static_assert(offsetof(CreateCommon, gid) == 12);
static_assert(offsetof(CreateCommon, mode) == 16);
static_assert(offsetof(CreateCommon, pad0) == 18);
static_assert(offsetof(CreateCommon, pad1) == 20);

// Timespec is struct timespec with a 64-bit nsec (pkg/lisafs/README.md §3.7).
// UTIME_NOW and UTIME_OMIT pass through unchanged.
struct __attribute__((packed)) Timespec {
  static constexpr size_t kSize = 16;
  static constexpr const char* kName = "Timespec";
  int64_t sec = 0;
  int64_t nsec = 0;

  bool operator==(const Timespec&) const = default;
};
static_assert(sizeof(Timespec) == 16);
static_assert(offsetof(Timespec, sec) == 0);
static_assert(offsetof(Timespec, nsec) == 8);

// StatFS is the FStatFS response (pkg/lisafs/README.md §3.9).
struct __attribute__((packed)) StatFS {
  static constexpr size_t kSize = 64;
  static constexpr const char* kName = "StatFS";
  uint64_t type = 0;
  int64_t block_size = 0;
  uint64_t blocks = 0;
  uint64_t blocks_free = 0;
  uint64_t blocks_available = 0;
  uint64_t files = 0;
  uint64_t files_free = 0;
  uint64_t name_length = 0;

  bool operator==(const StatFS&) const = default;
};
static_assert(sizeof(StatFS) == 64);
static_assert(offsetof(StatFS, type) == 0);
static_assert(offsetof(StatFS, block_size) == 8);
static_assert(offsetof(StatFS, blocks) == 16);
static_assert(offsetof(StatFS, blocks_free) == 24);
static_assert(offsetof(StatFS, blocks_available) == 32);
static_assert(offsetof(StatFS, files) == 40);
static_assert(offsetof(StatFS, files_free) == 48);
static_assert(offsetof(StatFS, name_length) == 56);

// ---------------------------------------------------------------------------
// Fixed-size messages (pkg/lisafs/README.md §4.2), in MID order.

// ErrorResp is the payload of an Error (MID 0) response. err is the Linux
// errno; a well-behaved server never sends 0.
struct __attribute__((packed)) ErrorResp {
  static constexpr size_t kSize = 4;
  static constexpr const char* kName = "ErrorResp";
  uint32_t err = 0;

  bool operator==(const ErrorResp&) const = default;
};
static_assert(sizeof(ErrorResp) == 4);
static_assert(offsetof(ErrorResp, err) == 0);

// ChannelResp locates a new channel's packet window in the shared-memory
// file donated with it (MID 2).
struct __attribute__((packed)) ChannelResp {
  static constexpr size_t kSize = 16;
  static constexpr const char* kName = "ChannelResp";
  int64_t data_offset = 0;
  uint64_t data_length = 0;

  bool operator==(const ChannelResp&) const = default;
};
static_assert(sizeof(ChannelResp) == 16);
static_assert(offsetof(ChannelResp, data_offset) == 0);
static_assert(offsetof(ChannelResp, data_length) == 8);

// StatReq asks for the Statx of a control or open FD (MID 3).
struct __attribute__((packed)) StatReq {
  static constexpr size_t kSize = 8;
  static constexpr const char* kName = "StatReq";
  FDID fd = kInvalidFDID;

  bool operator==(const StatReq&) const = default;
};
static_assert(sizeof(StatReq) == 8);
static_assert(offsetof(StatReq, fd) == 0);

// SetStatReq changes the attributes selected by mask (MID 4).
struct __attribute__((packed)) SetStatReq {
  static constexpr size_t kSize = 64;
  static constexpr const char* kName = "SetStatReq";
  FDID fd = kInvalidFDID;
  uint32_t mask = 0;
  uint32_t mode = 0;
  uint32_t uid = kNoUID;
  uint32_t gid = kNoGID;
  uint64_t size = 0;
  Timespec atime;
  Timespec mtime;

  bool operator==(const SetStatReq&) const = default;
};
static_assert(sizeof(SetStatReq) == 64);
static_assert(offsetof(SetStatReq, fd) == 0);
static_assert(offsetof(SetStatReq, mask) == 8);
static_assert(offsetof(SetStatReq, mode) == 12);
static_assert(offsetof(SetStatReq, uid) == 16);
static_assert(offsetof(SetStatReq, gid) == 20);
static_assert(offsetof(SetStatReq, size) == 24);
static_assert(offsetof(SetStatReq, atime) == 32);
static_assert(offsetof(SetStatReq, mtime) == 48);

// SetStatResp reports the parts of a SetStat that failed (MID 4).
struct __attribute__((packed)) SetStatResp {
  static constexpr size_t kSize = 8;
  static constexpr const char* kName = "SetStatResp";
  uint32_t failure_mask = 0;
  uint32_t failure_errno = 0;

  bool operator==(const SetStatResp&) const = default;
};
static_assert(sizeof(SetStatResp) == 8);
static_assert(offsetof(SetStatResp, failure_mask) == 0);
static_assert(offsetof(SetStatResp, failure_errno) == 4);

// OpenAtReq opens a control FD (MID 7).
struct __attribute__((packed)) OpenAtReq {
  static constexpr size_t kSize = 16;
  static constexpr const char* kName = "OpenAtReq";
  FDID fd = kInvalidFDID;
  uint32_t flags = 0;
  uint32_t pad = 0;

  bool operator==(const OpenAtReq&) const = default;
};
static_assert(sizeof(OpenAtReq) == 16);
static_assert(offsetof(OpenAtReq, fd) == 0);
static_assert(offsetof(OpenAtReq, flags) == 8);
static_assert(offsetof(OpenAtReq, pad) == 12);

// OpenAtResp carries the new open FD (MID 7).
struct __attribute__((packed)) OpenAtResp {
  static constexpr size_t kSize = 8;
  static constexpr const char* kName = "OpenAtResp";
  FDID open_fd = kInvalidFDID;

  bool operator==(const OpenAtResp&) const = default;
};
static_assert(sizeof(OpenAtResp) == 8);
static_assert(offsetof(OpenAtResp, open_fd) == 0);

// OpenCreateAtResp carries the created file's Inode and its new open FD
// (MID 8).
struct __attribute__((packed)) OpenCreateAtResp {
  static constexpr size_t kSize = 160;
  static constexpr const char* kName = "OpenCreateAtResp";
  Inode child;
  FDID new_fd = kInvalidFDID;

  bool operator==(const OpenCreateAtResp&) const = default;
};
static_assert(sizeof(OpenCreateAtResp) == 160);
static_assert(offsetof(OpenCreateAtResp, child) == 0);
static_assert(offsetof(OpenCreateAtResp, new_fd) == 152);

// PWriteResp is the number of bytes written (MID 11).
struct __attribute__((packed)) PWriteResp {
  static constexpr size_t kSize = 8;
  static constexpr const char* kName = "PWriteResp";
  uint64_t count = 0;

  bool operator==(const PWriteResp&) const = default;
};
static_assert(sizeof(PWriteResp) == 8);
static_assert(offsetof(PWriteResp, count) == 0);

// PReadReq asks for up to count bytes at offset (MID 12).
struct __attribute__((packed)) PReadReq {
  static constexpr size_t kSize = 24;
  static constexpr const char* kName = "PReadReq";
  uint64_t offset = 0;
  FDID fd = kInvalidFDID;
  uint32_t count = 0;
  uint32_t pad = 0;

  bool operator==(const PReadReq&) const = default;
};
static_assert(sizeof(PReadReq) == 24);
static_assert(offsetof(PReadReq, offset) == 0);
static_assert(offsetof(PReadReq, fd) == 8);
static_assert(offsetof(PReadReq, count) == 16);
static_assert(offsetof(PReadReq, pad) == 20);

// FStatFSReq asks for the StatFS of a control FD's filesystem (MID 17).
struct __attribute__((packed)) FStatFSReq {
  static constexpr size_t kSize = 8;
  static constexpr const char* kName = "FStatFSReq";
  FDID fd = kInvalidFDID;

  bool operator==(const FStatFSReq&) const = default;
};
static_assert(sizeof(FStatFSReq) == 8);
static_assert(offsetof(FStatFSReq, fd) == 0);

// FAllocateReq is fallocate(2) on an open FD (MID 18).
struct __attribute__((packed)) FAllocateReq {
  static constexpr size_t kSize = 32;
  static constexpr const char* kName = "FAllocateReq";
  FDID fd = kInvalidFDID;
  uint64_t mode = 0;
  uint64_t offset = 0;
  uint64_t length = 0;

  bool operator==(const FAllocateReq&) const = default;
};
static_assert(sizeof(FAllocateReq) == 32);
static_assert(offsetof(FAllocateReq, fd) == 0);
static_assert(offsetof(FAllocateReq, mode) == 8);
static_assert(offsetof(FAllocateReq, offset) == 16);
static_assert(offsetof(FAllocateReq, length) == 24);

// ReadLinkAtReq reads the target of a symlink's control FD (MID 19).
struct __attribute__((packed)) ReadLinkAtReq {
  static constexpr size_t kSize = 8;
  static constexpr const char* kName = "ReadLinkAtReq";
  FDID fd = kInvalidFDID;

  bool operator==(const ReadLinkAtReq&) const = default;
};
static_assert(sizeof(ReadLinkAtReq) == 8);
static_assert(offsetof(ReadLinkAtReq, fd) == 0);

// FlushReq flushes an open FD (MID 20).
struct __attribute__((packed)) FlushReq {
  static constexpr size_t kSize = 8;
  static constexpr const char* kName = "FlushReq";
  FDID fd = kInvalidFDID;

  bool operator==(const FlushReq&) const = default;
};
static_assert(sizeof(FlushReq) == 8);
static_assert(offsetof(FlushReq, fd) == 0);

// ConnectReq connects to the socket file of a control FD (MID 21).
struct __attribute__((packed)) ConnectReq {
  static constexpr size_t kSize = 16;
  static constexpr const char* kName = "ConnectReq";
  FDID fd = kInvalidFDID;
  uint32_t sock_type = 0;
  uint32_t pad = 0;

  bool operator==(const ConnectReq&) const = default;
};
static_assert(sizeof(ConnectReq) == 16);
static_assert(offsetof(ConnectReq, fd) == 0);
static_assert(offsetof(ConnectReq, sock_type) == 8);
static_assert(offsetof(ConnectReq, pad) == 12);

// ConnectWithCredsReq is a ConnectReq that also carries the caller's
// credentials (MID 32).
struct __attribute__((packed)) ConnectWithCredsReq {
  static constexpr size_t kSize = 24;
  static constexpr const char* kName = "ConnectWithCredsReq";
  FDID fd = kInvalidFDID;
  uint32_t sock_type = 0;
  uint32_t pad = 0;
  uint32_t uid = kNoUID;
  uint32_t gid = kNoGID;

  bool operator==(const ConnectWithCredsReq&) const = default;
};
static_assert(sizeof(ConnectWithCredsReq) == 24);
static_assert(offsetof(ConnectWithCredsReq, fd) == 0);
static_assert(offsetof(ConnectWithCredsReq, sock_type) == 8);
static_assert(offsetof(ConnectWithCredsReq, pad) == 12);
static_assert(offsetof(ConnectWithCredsReq, uid) == 16);
static_assert(offsetof(ConnectWithCredsReq, gid) == 20);

// Getdents64Req reads directory entries from an open directory FD (MID 24).
// |count| is the byte budget; a negative count seeks to 0 first.
struct __attribute__((packed)) Getdents64Req {
  static constexpr size_t kSize = 16;
  static constexpr const char* kName = "Getdents64Req";
  FDID dir_fd = kInvalidFDID;
  int32_t count = 0;
  uint32_t pad = 0;

  bool operator==(const Getdents64Req&) const = default;
};
static_assert(sizeof(Getdents64Req) == 16);
static_assert(offsetof(Getdents64Req, dir_fd) == 0);
static_assert(offsetof(Getdents64Req, count) == 8);
static_assert(offsetof(Getdents64Req, pad) == 12);

// FListXattrReq lists extended attribute names of a control FD (MID 27).
struct __attribute__((packed)) FListXattrReq {
  static constexpr size_t kSize = 16;
  static constexpr const char* kName = "FListXattrReq";
  FDID fd = kInvalidFDID;
  uint64_t size = 0;

  bool operator==(const FListXattrReq&) const = default;
};
static_assert(sizeof(FListXattrReq) == 16);
static_assert(offsetof(FListXattrReq, fd) == 0);
static_assert(offsetof(FListXattrReq, size) == 8);

// BindAtResp carries the new socket file's Inode and its bound-socket FD
// (MID 29).
struct __attribute__((packed)) BindAtResp {
  static constexpr size_t kSize = 160;
  static constexpr const char* kName = "BindAtResp";
  Inode child;
  FDID bound_socket_fd = kInvalidFDID;

  bool operator==(const BindAtResp&) const = default;
};
static_assert(sizeof(BindAtResp) == 160);
static_assert(offsetof(BindAtResp, child) == 0);
static_assert(offsetof(BindAtResp, bound_socket_fd) == 152);

// ListenReq is listen(2) on a bound-socket FD (MID 30).
struct __attribute__((packed)) ListenReq {
  static constexpr size_t kSize = 16;
  static constexpr const char* kName = "ListenReq";
  FDID fd = kInvalidFDID;
  int32_t backlog = 0;
  uint32_t pad = 0;

  bool operator==(const ListenReq&) const = default;
};
static_assert(sizeof(ListenReq) == 16);
static_assert(offsetof(ListenReq, fd) == 0);
static_assert(offsetof(ListenReq, backlog) == 8);
static_assert(offsetof(ListenReq, pad) == 12);

// AcceptReq accepts one pending connection on a bound-socket FD (MID 31).
struct __attribute__((packed)) AcceptReq {
  static constexpr size_t kSize = 8;
  static constexpr const char* kName = "AcceptReq";
  FDID fd = kInvalidFDID;

  bool operator==(const AcceptReq&) const = default;
};
static_assert(sizeof(AcceptReq) == 8);
static_assert(offsetof(AcceptReq, fd) == 0);

// Every struct above is a FixedWireStruct.
static_assert(FixedWireStruct<MessageHeader>);
static_assert(FixedWireStruct<StatxTimestamp>);
static_assert(FixedWireStruct<Statx>);
static_assert(FixedWireStruct<Inode>);
static_assert(FixedWireStruct<CreateCommon>);
static_assert(FixedWireStruct<Timespec>);
static_assert(FixedWireStruct<StatFS>);
static_assert(FixedWireStruct<ErrorResp>);
static_assert(FixedWireStruct<ChannelResp>);
static_assert(FixedWireStruct<StatReq>);
static_assert(FixedWireStruct<SetStatReq>);
static_assert(FixedWireStruct<SetStatResp>);
static_assert(FixedWireStruct<OpenAtReq>);
static_assert(FixedWireStruct<OpenAtResp>);
static_assert(FixedWireStruct<OpenCreateAtResp>);
static_assert(FixedWireStruct<PWriteResp>);
static_assert(FixedWireStruct<PReadReq>);
static_assert(FixedWireStruct<FStatFSReq>);
static_assert(FixedWireStruct<FAllocateReq>);
static_assert(FixedWireStruct<ReadLinkAtReq>);
static_assert(FixedWireStruct<FlushReq>);
static_assert(FixedWireStruct<ConnectReq>);
static_assert(FixedWireStruct<ConnectWithCredsReq>);
static_assert(FixedWireStruct<Getdents64Req>);
static_assert(FixedWireStruct<FListXattrReq>);
static_assert(FixedWireStruct<BindAtResp>);
static_assert(FixedWireStruct<ListenReq>);
static_assert(FixedWireStruct<AcceptReq>);

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_WIRE_H_
