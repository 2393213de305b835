#include "pkg/lisafs/messages.h"

#include <errno.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {

namespace internal {

absl::StatusOr<std::vector<uint8_t>> FinishFrame(MID mid,
                                                 std::vector<uint8_t> frame) {
  const size_t payload = frame.size() - kMessageHeaderSize;
  if (payload > std::numeric_limits<uint32_t>::max()) {
    return syserr::FromErrno(
        EINVAL, absl::StrCat("encoding ", MIDName(mid), " frame: payload of ",
                             payload, " bytes does not fit in a u32"));
  }
  const auto header = EncodeMessageHeader(static_cast<uint32_t>(payload), mid);
  std::copy(header.begin(), header.end(), frame.begin());
  return frame;
}

}  // namespace internal

// MountResp: root @0, max_message_size @152, u16 k @156, k x u16 @158.
absl::Status MountResp::Encode(Encoder& e) const {
  e.PutStruct(root);
  e.PutU32(max_message_size);
  RETURN_IF_ERROR(
      e.PutCount(supported_mids.size(), "MountResp.supported_mids"));
  for (MID m : supported_mids) e.PutU16(static_cast<uint16_t>(m));
  return absl::OkStatus();
}

absl::StatusOr<MountResp> MountResp::Decode(absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  MountResp m;
  ASSIGN_OR_RETURN(m.root, d.ReadStruct<Inode>("MountResp.root"));
  ASSIGN_OR_RETURN(m.max_message_size, d.ReadU32("MountResp.max_message_size"));
  ASSIGN_OR_RETURN(const uint16_t count,
                   d.ReadCount(sizeof(uint16_t), "MountResp.supported_mids"));
  m.supported_mids.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    // ReadCount guaranteed the bytes.
    ASSIGN_OR_RETURN(const uint16_t mid, d.ReadU16("MountResp.supported_mids"));
    m.supported_mids.push_back(static_cast<MID>(mid));
  }
  return m;
}

// WalkReq: dir_fd @0, StringArray @8.
absl::Status WalkReq::Encode(Encoder& e) const {
  e.PutU64(dir_fd);
  return e.PutStringArray(path, "WalkReq.path");
}

absl::StatusOr<WalkReq> WalkReq::Decode(absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  WalkReq m;
  ASSIGN_OR_RETURN(m.dir_fd, d.ReadU64("WalkReq.dir_fd"));
  ASSIGN_OR_RETURN(m.path, d.ReadStringArray("WalkReq.path"));
  return m;
}

// WalkResp: status u8 @0, u16 count @1 (unaligned), Inodes @3.
absl::Status WalkResp::Encode(Encoder& e) const {
  e.PutU8(static_cast<uint8_t>(status));
  RETURN_IF_ERROR(e.PutCount(inodes.size(), "WalkResp.inodes"));
  for (const Inode& i : inodes) e.PutStruct(i);
  return absl::OkStatus();
}

absl::StatusOr<WalkResp> WalkResp::Decode(absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  WalkResp m;
  ASSIGN_OR_RETURN(const uint8_t status, d.ReadU8("WalkResp.status"));
  m.status = static_cast<WalkStatus>(status);
  ASSIGN_OR_RETURN(const uint16_t count, d.ReadU16("WalkResp.inodes count"));
  ASSIGN_OR_RETURN(m.inodes, d.ReadStructs<Inode>(count, "WalkResp.inodes"));
  return m;
}

// WalkStatResp: u16 count @0, Statx records @2.
absl::Status WalkStatResp::Encode(Encoder& e) const {
  RETURN_IF_ERROR(e.PutCount(stats.size(), "WalkStatResp.stats"));
  for (const Statx& s : stats) e.PutStruct(s);
  return absl::OkStatus();
}

absl::StatusOr<WalkStatResp> WalkStatResp::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  WalkStatResp m;
  ASSIGN_OR_RETURN(const uint16_t count, d.ReadU16("WalkStatResp.stats count"));
  ASSIGN_OR_RETURN(m.stats, d.ReadStructs<Statx>(count, "WalkStatResp.stats"));
  return m;
}

// OpenCreateAtReq: createCommon @0, flags @24, name @28.
absl::Status OpenCreateAtReq::Encode(Encoder& e) const {
  e.PutStruct(common);
  e.PutU32(flags);
  return e.PutSizedString(name, "OpenCreateAtReq.name");
}

absl::StatusOr<OpenCreateAtReq> OpenCreateAtReq::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  OpenCreateAtReq m;
  ASSIGN_OR_RETURN(m.common,
                   d.ReadStruct<CreateCommon>("OpenCreateAtReq.common"));
  ASSIGN_OR_RETURN(m.flags, d.ReadU32("OpenCreateAtReq.flags"));
  ASSIGN_OR_RETURN(m.name, d.ReadSizedString("OpenCreateAtReq.name"));
  return m;
}

// CloseReq and FsyncReq: FdArray @0.
absl::Status CloseReq::Encode(Encoder& e) const {
  return e.PutFdArray(fds, "CloseReq.fds");
}

absl::StatusOr<CloseReq> CloseReq::Decode(absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  CloseReq m;
  ASSIGN_OR_RETURN(m.fds, d.ReadFdArray("CloseReq.fds"));
  return m;
}

absl::Status FsyncReq::Encode(Encoder& e) const {
  return e.PutFdArray(fds, "FsyncReq.fds");
}

absl::StatusOr<FsyncReq> FsyncReq::Decode(absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  FsyncReq m;
  ASSIGN_OR_RETURN(m.fds, d.ReadFdArray("FsyncReq.fds"));
  return m;
}

// PWriteReq: offset @0, fd @8, u32 count @16, data @20.
absl::Status PWriteReq::Encode(Encoder& e) const {
  if (data.size() > std::numeric_limits<uint32_t>::max()) {
    return syserr::FromErrno(
        EINVAL, absl::StrCat("encoding PWriteReq.data: ", data.size(),
                             " bytes do not fit in a u32 count"));
  }
  e.PutU64(offset);
  e.PutU64(fd);
  e.PutU32(static_cast<uint32_t>(data.size()));
  e.PutBytes(data);
  return absl::OkStatus();
}

absl::StatusOr<PWriteReq> PWriteReq::Decode(absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  PWriteReq m;
  ASSIGN_OR_RETURN(m.offset, d.ReadU64("PWriteReq.offset"));
  ASSIGN_OR_RETURN(m.fd, d.ReadU64("PWriteReq.fd"));
  ASSIGN_OR_RETURN(const uint32_t count, d.ReadU32("PWriteReq.count"));
  ASSIGN_OR_RETURN(m.data, d.ReadString(count, "PWriteReq.data"));
  return m;
}

// PReadResp: u64 n @0, data @8.
absl::Status PReadResp::Encode(Encoder& e) const {
  e.PutU64(data.size());
  e.PutBytes(data);
  return absl::OkStatus();
}

absl::StatusOr<PReadResp> PReadResp::Decode(absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  PReadResp m;
  ASSIGN_OR_RETURN(const uint64_t n, d.ReadU64("PReadResp.n"));
  ASSIGN_OR_RETURN(m.data, d.ReadString(n, "PReadResp.data"));
  return m;
}

// MkdirAtReq: createCommon @0, name @24.
absl::Status MkdirAtReq::Encode(Encoder& e) const {
  e.PutStruct(common);
  return e.PutSizedString(name, "MkdirAtReq.name");
}

absl::StatusOr<MkdirAtReq> MkdirAtReq::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  MkdirAtReq m;
  ASSIGN_OR_RETURN(m.common, d.ReadStruct<CreateCommon>("MkdirAtReq.common"));
  ASSIGN_OR_RETURN(m.name, d.ReadSizedString("MkdirAtReq.name"));
  return m;
}

// MknodAtReq: createCommon @0, minor @24, major @28, name @32.
absl::Status MknodAtReq::Encode(Encoder& e) const {
  e.PutStruct(common);
  e.PutU32(minor);
  e.PutU32(major);
  return e.PutSizedString(name, "MknodAtReq.name");
}

absl::StatusOr<MknodAtReq> MknodAtReq::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  MknodAtReq m;
  ASSIGN_OR_RETURN(m.common, d.ReadStruct<CreateCommon>("MknodAtReq.common"));
  ASSIGN_OR_RETURN(m.minor, d.ReadU32("MknodAtReq.minor"));
  ASSIGN_OR_RETURN(m.major, d.ReadU32("MknodAtReq.major"));
  ASSIGN_OR_RETURN(m.name, d.ReadSizedString("MknodAtReq.name"));
  return m;
}

// SymlinkAtReq: dir_fd @0, uid @8, gid @12, name @16, then target.
absl::Status SymlinkAtReq::Encode(Encoder& e) const {
  e.PutU64(dir_fd);
  e.PutU32(uid);
  e.PutU32(gid);
  RETURN_IF_ERROR(e.PutSizedString(name, "SymlinkAtReq.name"));
  return e.PutSizedString(target, "SymlinkAtReq.target");
}

absl::StatusOr<SymlinkAtReq> SymlinkAtReq::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  SymlinkAtReq m;
  ASSIGN_OR_RETURN(m.dir_fd, d.ReadU64("SymlinkAtReq.dir_fd"));
  ASSIGN_OR_RETURN(m.uid, d.ReadU32("SymlinkAtReq.uid"));
  ASSIGN_OR_RETURN(m.gid, d.ReadU32("SymlinkAtReq.gid"));
  ASSIGN_OR_RETURN(m.name, d.ReadSizedString("SymlinkAtReq.name"));
  ASSIGN_OR_RETURN(m.target, d.ReadSizedString("SymlinkAtReq.target"));
  return m;
}

// LinkAtReq: dir_fd @0, target @8, name @16.
absl::Status LinkAtReq::Encode(Encoder& e) const {
  e.PutU64(dir_fd);
  e.PutU64(target);
  return e.PutSizedString(name, "LinkAtReq.name");
}

absl::StatusOr<LinkAtReq> LinkAtReq::Decode(absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  LinkAtReq m;
  ASSIGN_OR_RETURN(m.dir_fd, d.ReadU64("LinkAtReq.dir_fd"));
  ASSIGN_OR_RETURN(m.target, d.ReadU64("LinkAtReq.target"));
  ASSIGN_OR_RETURN(m.name, d.ReadSizedString("LinkAtReq.name"));
  return m;
}

// UnlinkAtReq: dir_fd @0, flags @8, name @12.
absl::Status UnlinkAtReq::Encode(Encoder& e) const {
  e.PutU64(dir_fd);
  e.PutU32(flags);
  return e.PutSizedString(name, "UnlinkAtReq.name");
}

absl::StatusOr<UnlinkAtReq> UnlinkAtReq::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  UnlinkAtReq m;
  ASSIGN_OR_RETURN(m.dir_fd, d.ReadU64("UnlinkAtReq.dir_fd"));
  ASSIGN_OR_RETURN(m.flags, d.ReadU32("UnlinkAtReq.flags"));
  ASSIGN_OR_RETURN(m.name, d.ReadSizedString("UnlinkAtReq.name"));
  return m;
}

// RenameAtReq: old_dir @0, new_dir @8, old_name @16, then new_name.
absl::Status RenameAtReq::Encode(Encoder& e) const {
  e.PutU64(old_dir);
  e.PutU64(new_dir);
  RETURN_IF_ERROR(e.PutSizedString(old_name, "RenameAtReq.old_name"));
  return e.PutSizedString(new_name, "RenameAtReq.new_name");
}

absl::StatusOr<RenameAtReq> RenameAtReq::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  RenameAtReq m;
  ASSIGN_OR_RETURN(m.old_dir, d.ReadU64("RenameAtReq.old_dir"));
  ASSIGN_OR_RETURN(m.new_dir, d.ReadU64("RenameAtReq.new_dir"));
  ASSIGN_OR_RETURN(m.old_name, d.ReadSizedString("RenameAtReq.old_name"));
  ASSIGN_OR_RETURN(m.new_name, d.ReadSizedString("RenameAtReq.new_name"));
  return m;
}

// RenameAt2Req: a RenameAtReq, then u32 flags right after new_name.
absl::Status RenameAt2Req::Encode(Encoder& e) const {
  e.PutU64(old_dir);
  e.PutU64(new_dir);
  RETURN_IF_ERROR(e.PutSizedString(old_name, "RenameAt2Req.old_name"));
  RETURN_IF_ERROR(e.PutSizedString(new_name, "RenameAt2Req.new_name"));
  e.PutU32(flags);
  return absl::OkStatus();
}

absl::StatusOr<RenameAt2Req> RenameAt2Req::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  RenameAt2Req m;
  ASSIGN_OR_RETURN(m.old_dir, d.ReadU64("RenameAt2Req.old_dir"));
  ASSIGN_OR_RETURN(m.new_dir, d.ReadU64("RenameAt2Req.new_dir"));
  ASSIGN_OR_RETURN(m.old_name, d.ReadSizedString("RenameAt2Req.old_name"));
  ASSIGN_OR_RETURN(m.new_name, d.ReadSizedString("RenameAt2Req.new_name"));
  ASSIGN_OR_RETURN(m.flags, d.ReadU32("RenameAt2Req.flags"));
  return m;
}

// Dirent64: ino @0, dev_minor @8, dev_major @12, off @16, type @24,
// u16 name length @25, name @27.
absl::Status Dirent64::Encode(Encoder& e) const {
  if (name.size() > kMaxSizedString) {
    // Checked first so that a failure appends nothing.
    return e.PutSizedString(name, "Dirent64.name");
  }
  e.PutU64(ino);
  e.PutU32(dev_minor);
  e.PutU32(dev_major);
  e.PutU64(off);
  e.PutU8(type);
  return e.PutSizedString(name, "Dirent64.name");
}

absl::StatusOr<Dirent64> Dirent64::Decode(Decoder& d) {
  Dirent64 m;
  ASSIGN_OR_RETURN(m.ino, d.ReadU64("Dirent64.ino"));
  ASSIGN_OR_RETURN(m.dev_minor, d.ReadU32("Dirent64.dev_minor"));
  ASSIGN_OR_RETURN(m.dev_major, d.ReadU32("Dirent64.dev_major"));
  ASSIGN_OR_RETURN(m.off, d.ReadU64("Dirent64.off"));
  ASSIGN_OR_RETURN(m.type, d.ReadU8("Dirent64.type"));
  ASSIGN_OR_RETURN(m.name, d.ReadSizedString("Dirent64.name"));
  return m;
}

// Getdents64Resp: u16 count @0, Dirent64 entries back to back @2.
absl::Status Getdents64Resp::Encode(Encoder& e) const {
  RETURN_IF_ERROR(e.PutCount(dirents.size(), "Getdents64Resp.dirents"));
  for (const Dirent64& de : dirents) RETURN_IF_ERROR(de.Encode(e));
  return absl::OkStatus();
}

absl::StatusOr<Getdents64Resp> Getdents64Resp::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  Getdents64Resp m;
  ASSIGN_OR_RETURN(const uint16_t count,
                   d.ReadCount(Dirent64::kFixedSize, "Getdents64Resp.dirents"));
  m.dirents.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    absl::StatusOr<Dirent64> de = Dirent64::Decode(d);
    if (!de.ok()) {
      return syserr::WithContext(
          de.status(), absl::StrCat("Getdents64Resp.dirents[", i, "]"));
    }
    m.dirents.push_back(*std::move(de));
  }
  return m;
}

// FGetXattrReq: fd @0, buf_size @8, name @12.
absl::Status FGetXattrReq::Encode(Encoder& e) const {
  e.PutU64(fd);
  e.PutU32(buf_size);
  return e.PutSizedString(name, "FGetXattrReq.name");
}

absl::StatusOr<FGetXattrReq> FGetXattrReq::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  FGetXattrReq m;
  ASSIGN_OR_RETURN(m.fd, d.ReadU64("FGetXattrReq.fd"));
  ASSIGN_OR_RETURN(m.buf_size, d.ReadU32("FGetXattrReq.buf_size"));
  ASSIGN_OR_RETURN(m.name, d.ReadSizedString("FGetXattrReq.name"));
  return m;
}

// FGetXattrResp: SizedString @0.
absl::Status FGetXattrResp::Encode(Encoder& e) const {
  return e.PutSizedString(value, "FGetXattrResp.value");
}

absl::StatusOr<FGetXattrResp> FGetXattrResp::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  FGetXattrResp m;
  ASSIGN_OR_RETURN(m.value, d.ReadSizedString("FGetXattrResp.value"));
  return m;
}

// FSetXattrReq: fd @0, flags @8, name @12, then value.
absl::Status FSetXattrReq::Encode(Encoder& e) const {
  e.PutU64(fd);
  e.PutU32(flags);
  RETURN_IF_ERROR(e.PutSizedString(name, "FSetXattrReq.name"));
  return e.PutSizedString(value, "FSetXattrReq.value");
}

absl::StatusOr<FSetXattrReq> FSetXattrReq::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  FSetXattrReq m;
  ASSIGN_OR_RETURN(m.fd, d.ReadU64("FSetXattrReq.fd"));
  ASSIGN_OR_RETURN(m.flags, d.ReadU32("FSetXattrReq.flags"));
  ASSIGN_OR_RETURN(m.name, d.ReadSizedString("FSetXattrReq.name"));
  ASSIGN_OR_RETURN(m.value, d.ReadSizedString("FSetXattrReq.value"));
  return m;
}

// FListXattrResp: StringArray @0.
absl::Status FListXattrResp::Encode(Encoder& e) const {
  return e.PutStringArray(names, "FListXattrResp.names");
}

absl::StatusOr<FListXattrResp> FListXattrResp::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  FListXattrResp m;
  ASSIGN_OR_RETURN(m.names, d.ReadStringArray("FListXattrResp.names"));
  return m;
}

// FRemoveXattrReq: fd @0, name @8.
absl::Status FRemoveXattrReq::Encode(Encoder& e) const {
  e.PutU64(fd);
  return e.PutSizedString(name, "FRemoveXattrReq.name");
}

absl::StatusOr<FRemoveXattrReq> FRemoveXattrReq::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  FRemoveXattrReq m;
  ASSIGN_OR_RETURN(m.fd, d.ReadU64("FRemoveXattrReq.fd"));
  ASSIGN_OR_RETURN(m.name, d.ReadSizedString("FRemoveXattrReq.name"));
  return m;
}

// BindAtReq: createCommon @0, sock_type @24, name @28.
absl::Status BindAtReq::Encode(Encoder& e) const {
  e.PutStruct(common);
  e.PutU32(sock_type);
  return e.PutSizedString(name, "BindAtReq.name");
}

absl::StatusOr<BindAtReq> BindAtReq::Decode(absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  BindAtReq m;
  ASSIGN_OR_RETURN(m.common, d.ReadStruct<CreateCommon>("BindAtReq.common"));
  ASSIGN_OR_RETURN(m.sock_type, d.ReadU32("BindAtReq.sock_type"));
  ASSIGN_OR_RETURN(m.name, d.ReadSizedString("BindAtReq.name"));
  return m;
}

// ReadLinkAtResp: SizedString @0.
absl::Status ReadLinkAtResp::Encode(Encoder& e) const {
  return e.PutSizedString(target, "ReadLinkAtResp.target");
}

absl::StatusOr<ReadLinkAtResp> ReadLinkAtResp::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  ReadLinkAtResp m;
  ASSIGN_OR_RETURN(m.target, d.ReadSizedString("ReadLinkAtResp.target"));
  return m;
}

// AcceptResp: SizedString @0.
absl::Status AcceptResp::Encode(Encoder& e) const {
  return e.PutSizedString(peer_addr, "AcceptResp.peer_addr");
}

absl::StatusOr<AcceptResp> AcceptResp::Decode(
    absl::Span<const uint8_t> payload) {
  Decoder d(payload);
  AcceptResp m;
  ASSIGN_OR_RETURN(m.peer_addr, d.ReadSizedString("AcceptResp.peer_addr"));
  return m;
}

}  // namespace gvisor::lisafs
