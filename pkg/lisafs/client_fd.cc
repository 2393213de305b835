// ClientFD and ClientBoundSocketFD: one method per RPC on an FDID, each
// built on Client::Rpc (client.cc).

#include "pkg/lisafs/client_fd.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pkg/lisafs/client.h"
#include "pkg/lisafs/codec.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {
namespace {

// kPReadRespOverhead and kPWriteReqOverhead are the fixed parts of PReadResp
// and PWriteReq: what a chunk of data leaves of the message size limit.
constexpr uint32_t kPReadRespOverhead = 8;
constexpr uint32_t kPWriteReqOverhead = 20;

}  // namespace

void ClientFD::Close(const context::Context& ctx, bool flush) {
  if (!ok()) return;
  client_->CloseFD(ctx, fd_, flush);
  fd_ = kInvalidFDID;
  client_.reset();
}

absl::StatusOr<Statx> ClientFD::FStat(const context::Context& ctx) const {
  return client_->Rpc<Statx>(ctx, MID::kFStat, StatReq{.fd = fd_});
}

absl::StatusOr<SetStatResult> ClientFD::SetStat(const context::Context& ctx,
                                                SetStatReq req) const {
  req.fd = fd_;
  ASSIGN_OR_RETURN(SetStatResp r,
                   client_->Rpc<SetStatResp>(ctx, MID::kSetStat, req));
  SetStatResult out;
  out.failure_mask = r.failure_mask;
  if (out.failure_mask != 0) {
    out.failure_errno = r.failure_errno != 0 ? r.failure_errno : EIO;
  }
  return out;
}

absl::StatusOr<WalkResult> ClientFD::WalkMultiple(
    const context::Context& ctx, absl::Span<const std::string> names) const {
  WalkReq req{.dir_fd = fd_, .path = {names.begin(), names.end()}};
  ASSIGN_OR_RETURN(WalkResp r, client_->Rpc<WalkResp>(ctx, MID::kWalk, req));
  return CheckWalk(ctx, std::move(r), names.size());
}

absl::StatusOr<WalkResult> ClientFD::CheckWalk(const context::Context& ctx,
                                               WalkResp r,
                                               size_t components) const {
  if (r.inodes.size() > components) {
    for (const Inode& i : r.inodes) {
      client_->CloseFD(ctx, i.control_fd, false);
    }
    return syserr::FromErrno(
        EIO, absl::StrCat("Walk RPC: server returned ", r.inodes.size(),
                          " inodes for ", components, " components"));
  }
  return WalkResult{r.status, std::move(r.inodes)};
}

absl::StatusOr<Inode> ClientFD::Walk(const context::Context& ctx,
                                     absl::string_view name) const {
  // The request is encoded, and the usual answer (one Inode found) read, in
  // place: a one-component Walk builds no WalkReq or WalkResp
  // (pkg/lisafs/README.md §4.2, §6.4).
  std::optional<Inode> found;
  std::optional<WalkResp> other;
  RETURN_IF_ERROR(client_->RpcWith(
      ctx, MID::kWalk, 0,
      [&](Encoder& e) -> absl::Status {
        if (name.size() > kMaxSizedString) {
          return syserr::FromErrno(
              EINVAL, absl::StrCat("encoding WalkReq.path[0]: string length ",
                                   name.size(), " exceeds ", kMaxSizedString));
        }
        e.PutU64(fd_);
        e.PutU16(1);
        return e.PutSizedString(name, "WalkReq.path[0]");
      },
      [&](absl::Span<const uint8_t> payload,
          std::vector<fd::OwnedFd>&) -> absl::Status {
        Decoder d(payload);
        ASSIGN_OR_RETURN(const uint8_t status, d.ReadU8("WalkResp.status"));
        ASSIGN_OR_RETURN(const uint16_t count,
                         d.ReadU16("WalkResp.inodes count"));
        if (static_cast<WalkStatus>(status) == WalkStatus::kSuccess &&
            count == 1) {
          ASSIGN_OR_RETURN(found, d.ReadStruct<Inode>("WalkResp.inodes"));
          return absl::OkStatus();
        }
        ASSIGN_OR_RETURN(other, WalkResp::Decode(payload));
        return absl::OkStatus();
      }));
  if (found.has_value()) return *found;
  ASSIGN_OR_RETURN(WalkResult r, CheckWalk(ctx, *std::move(other), 1));
  auto fail = [&](int err, absl::string_view why) {
    for (const Inode& i : r.inodes) {
      client_->CloseFD(ctx, i.control_fd, false);
    }
    return syserr::FromErrno(
        err, absl::StrCat("Walk of \"", name, "\" from FDID ", fd_, why));
  };
  switch (r.status) {
    case WalkStatus::kSuccess:
      break;
    case WalkStatus::kComponentDoesNotExist:
      return fail(ENOENT, "");
    case WalkStatus::kComponentSymlink:
      return fail(ENOTDIR, ": symlink in the way");
    default:
      return fail(EIO, ": unknown walk status");
  }
  if (r.inodes.size() != 1) {
    return fail(r.inodes.empty() ? ENOENT : EIO,
                absl::StrCat(": ", r.inodes.size(), " inodes returned"));
  }
  return r.inodes[0];
}

absl::StatusOr<std::vector<Statx>> ClientFD::WalkStat(
    const context::Context& ctx, absl::Span<const std::string> names) const {
  WalkReq req{.dir_fd = fd_, .path = {names.begin(), names.end()}};
  ASSIGN_OR_RETURN(WalkStatResp r,
                   client_->Rpc<WalkStatResp>(ctx, MID::kWalkStat, req));
  if (r.stats.size() > names.size()) {
    return syserr::FromErrno(
        EIO, absl::StrCat("WalkStat RPC: server returned ", r.stats.size(),
                          " records for ", names.size(), " components"));
  }
  return std::move(r.stats);
}

absl::StatusOr<OpenResult> ClientFD::OpenAt(const context::Context& ctx,
                                            uint32_t flags) const {
  // The donated FD is taken straight from the reused response frame.
  OpenResult out;
  RETURN_IF_ERROR(client_->RpcWith(
      ctx, MID::kOpenAt, 1,
      [&](Encoder& e) {
        return EncodeMessage(e, OpenAtReq{.fd = fd_, .flags = flags});
      },
      [&](absl::Span<const uint8_t> payload,
          std::vector<fd::OwnedFd>& fds) -> absl::Status {
        ASSIGN_OR_RETURN(OpenAtResp r, Unmarshal<OpenAtResp>(payload));
        out.open_fd = r.open_fd;
        if (!fds.empty()) out.host_fd = std::move(fds[0]);
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<CreateResult> ClientFD::OpenCreateAt(const context::Context& ctx,
                                                    absl::string_view name,
                                                    uint32_t flags,
                                                    uint16_t mode, uint32_t uid,
                                                    uint32_t gid) const {
  OpenCreateAtReq req;
  req.common =
      CreateCommon{.dir_fd = fd_, .uid = uid, .gid = gid, .mode = mode};
  req.flags = flags;
  req.name = std::string(name);
  std::vector<fd::OwnedFd> fds;
  ASSIGN_OR_RETURN(
      OpenCreateAtResp r,
      client_->Rpc<OpenCreateAtResp>(ctx, MID::kOpenCreateAt, req, 1, &fds));
  CreateResult out;
  out.child = r.child;
  out.open_fd = r.new_fd;
  if (!fds.empty()) out.host_fd = std::move(fds[0]);
  return out;
}

absl::Status ClientFD::Sync(const context::Context& ctx) const {
  return client_->SyncFDs(ctx, absl::MakeConstSpan(&fd_, 1));
}

absl::StatusOr<size_t> ClientFD::Read(const context::Context& ctx,
                                      absl::Span<uint8_t> dst,
                                      uint64_t offset) const {
  const size_t chunk = client_->max_message_size() - kPReadRespOverhead;
  size_t done = 0;
  while (done < dst.size()) {
    uint32_t want = static_cast<uint32_t>(std::min(chunk, dst.size() - done));
    ASSIGN_OR_RETURN(
        PReadResp r,
        client_->Rpc<PReadResp>(
            ctx, MID::kPRead,
            PReadReq{.offset = offset + done, .fd = fd_, .count = want}));
    if (r.data.size() > want) {
      return syserr::FromErrno(
          EIO, absl::StrCat("PRead RPC: server returned ", r.data.size(),
                            " bytes for a ", want, "-byte request"));
    }
    memcpy(dst.data() + done, r.data.data(), r.data.size());
    done += r.data.size();
    if (r.data.size() < want) break;
  }
  return done;
}

absl::StatusOr<size_t> ClientFD::Write(const context::Context& ctx,
                                       absl::Span<const uint8_t> src,
                                       uint64_t offset) const {
  const size_t chunk = client_->max_message_size() - kPWriteReqOverhead;
  size_t done = 0;
  while (done < src.size()) {
    size_t n = std::min(chunk, src.size() - done);
    PWriteReq req;
    req.offset = offset + done;
    req.fd = fd_;
    req.data.assign(reinterpret_cast<const char*>(src.data()) + done, n);
    ASSIGN_OR_RETURN(PWriteResp r,
                     client_->Rpc<PWriteResp>(ctx, MID::kPWrite, req));
    if (r.count > n) {
      return syserr::FromErrno(EIO, absl::StrCat("PWrite RPC: server wrote ",
                                                 r.count, " bytes of ", n));
    }
    done += r.count;
    if (r.count < n) break;
  }
  return done;
}

absl::StatusOr<Inode> ClientFD::MkdirAt(const context::Context& ctx,
                                        absl::string_view name, uint16_t mode,
                                        uint32_t uid, uint32_t gid) const {
  MkdirAtReq req;
  req.common =
      CreateCommon{.dir_fd = fd_, .uid = uid, .gid = gid, .mode = mode};
  req.name = std::string(name);
  return client_->Rpc<Inode>(ctx, MID::kMkdirAt, req);
}

absl::StatusOr<Inode> ClientFD::MknodAt(const context::Context& ctx,
                                        absl::string_view name, uint16_t mode,
                                        uint32_t uid, uint32_t gid,
                                        uint32_t minor, uint32_t major) const {
  MknodAtReq req;
  req.common =
      CreateCommon{.dir_fd = fd_, .uid = uid, .gid = gid, .mode = mode};
  req.minor = minor;
  req.major = major;
  req.name = std::string(name);
  return client_->Rpc<Inode>(ctx, MID::kMknodAt, req);
}

absl::StatusOr<Inode> ClientFD::SymlinkAt(const context::Context& ctx,
                                          absl::string_view name,
                                          absl::string_view target,
                                          uint32_t uid, uint32_t gid) const {
  SymlinkAtReq req{.dir_fd = fd_,
                   .uid = uid,
                   .gid = gid,
                   .name = std::string(name),
                   .target = std::string(target)};
  return client_->Rpc<Inode>(ctx, MID::kSymlinkAt, req);
}

absl::StatusOr<Inode> ClientFD::LinkAt(const context::Context& ctx, FDID target,
                                       absl::string_view name) const {
  LinkAtReq req{.dir_fd = fd_, .target = target, .name = std::string(name)};
  return client_->Rpc<Inode>(ctx, MID::kLinkAt, req);
}

absl::StatusOr<StatFS> ClientFD::StatFSTo(const context::Context& ctx) const {
  return client_->Rpc<StatFS>(ctx, MID::kFStatFS, FStatFSReq{.fd = fd_});
}

absl::Status ClientFD::Allocate(const context::Context& ctx, uint64_t mode,
                                uint64_t offset, uint64_t length) const {
  return client_
      ->Rpc<EmptyMessage>(
          ctx, MID::kFAllocate,
          FAllocateReq{
              .fd = fd_, .mode = mode, .offset = offset, .length = length})
      .status();
}

absl::StatusOr<std::string> ClientFD::ReadLinkAt(
    const context::Context& ctx) const {
  ASSIGN_OR_RETURN(ReadLinkAtResp r,
                   client_->Rpc<ReadLinkAtResp>(ctx, MID::kReadLinkAt,
                                                ReadLinkAtReq{.fd = fd_}));
  return std::move(r.target);
}

absl::Status ClientFD::Flush(const context::Context& ctx) const {
  if (!client_->IsSupported(MID::kFlush)) return absl::OkStatus();
  return client_->Rpc<EmptyMessage>(ctx, MID::kFlush, FlushReq{.fd = fd_})
      .status();
}

absl::StatusOr<fd::OwnedFd> ClientFD::Connect(const context::Context& ctx,
                                              int sock_type, uint32_t euid,
                                              uint32_t egid) const {
  std::vector<fd::OwnedFd> fds;
  absl::Status s;
  if (euid != kNoUID && egid != kNoGID &&
      client_->IsSupported(MID::kConnectWithCreds)) {
    ConnectWithCredsReq req{.fd = fd_,
                            .sock_type = static_cast<uint32_t>(sock_type),
                            .uid = euid,
                            .gid = egid};
    s = client_->Rpc<EmptyMessage>(ctx, MID::kConnectWithCreds, req, 1, &fds)
            .status();
  } else {
    ConnectReq req{.fd = fd_, .sock_type = static_cast<uint32_t>(sock_type)};
    s = client_->Rpc<EmptyMessage>(ctx, MID::kConnect, req, 1, &fds).status();
  }
  RETURN_IF_ERROR(s);
  if (fds.empty()) {
    return syserr::FromErrno(EBADF, "Connect RPC: server donated no socket");
  }
  return std::move(fds[0]);
}

absl::Status ClientFD::UnlinkAt(const context::Context& ctx,
                                absl::string_view name, uint32_t flags) const {
  UnlinkAtReq req{.dir_fd = fd_, .flags = flags, .name = std::string(name)};
  return client_->Rpc<EmptyMessage>(ctx, MID::kUnlinkAt, req).status();
}

absl::Status ClientFD::RenameAt(const context::Context& ctx,
                                absl::string_view old_name, FDID new_dir,
                                absl::string_view new_name,
                                uint32_t flags) const {
  if (flags == 0) {
    RenameAtReq req{.old_dir = fd_,
                    .new_dir = new_dir,
                    .old_name = std::string(old_name),
                    .new_name = std::string(new_name)};
    return client_->Rpc<EmptyMessage>(ctx, MID::kRenameAt, req).status();
  }
  if (!client_->IsSupported(MID::kRenameAt2)) {
    return syserr::FromErrno(
        EINVAL, "RenameAt with flags: server does not support RenameAt2");
  }
  RenameAt2Req req{.old_dir = fd_,
                   .new_dir = new_dir,
                   .old_name = std::string(old_name),
                   .new_name = std::string(new_name),
                   .flags = flags};
  return client_->Rpc<EmptyMessage>(ctx, MID::kRenameAt2, req).status();
}

absl::StatusOr<std::vector<Dirent64>> ClientFD::Getdents64(
    const context::Context& ctx, int32_t count) const {
  // A byte budget the client could not accept is pointless; INT32_MIN
  // cannot be negated (pkg/lisafs/README.md §11 Q10), and is clamped too.
  const int64_t limit = client_->max_message_size();
  count = static_cast<int32_t>(
      std::clamp<int64_t>(count, -std::min<int64_t>(limit, INT32_MAX),
                          std::min<int64_t>(limit, INT32_MAX)));
  ASSIGN_OR_RETURN(
      Getdents64Resp r,
      client_->Rpc<Getdents64Resp>(
          ctx, MID::kGetdents64, Getdents64Req{.dir_fd = fd_, .count = count}));
  return std::move(r.dirents);
}

absl::StatusOr<std::string> ClientFD::GetXattr(const context::Context& ctx,
                                               absl::string_view name,
                                               uint32_t size) const {
  FGetXattrReq req{.fd = fd_, .buf_size = size, .name = std::string(name)};
  ASSIGN_OR_RETURN(FGetXattrResp r,
                   client_->Rpc<FGetXattrResp>(ctx, MID::kFGetXattr, req));
  return std::move(r.value);
}

absl::Status ClientFD::SetXattr(const context::Context& ctx,
                                absl::string_view name, absl::string_view value,
                                uint32_t flags) const {
  FSetXattrReq req{.fd = fd_,
                   .flags = flags,
                   .name = std::string(name),
                   .value = std::string(value)};
  return client_->Rpc<EmptyMessage>(ctx, MID::kFSetXattr, req).status();
}

absl::StatusOr<std::vector<std::string>> ClientFD::ListXattr(
    const context::Context& ctx, uint64_t size) const {
  ASSIGN_OR_RETURN(
      FListXattrResp r,
      client_->Rpc<FListXattrResp>(ctx, MID::kFListXattr,
                                   FListXattrReq{.fd = fd_, .size = size}));
  return std::move(r.names);
}

absl::Status ClientFD::RemoveXattr(const context::Context& ctx,
                                   absl::string_view name) const {
  FRemoveXattrReq req{.fd = fd_, .name = std::string(name)};
  return client_->Rpc<EmptyMessage>(ctx, MID::kFRemoveXattr, req).status();
}

absl::StatusOr<std::pair<Inode, ClientBoundSocketFD>> ClientFD::BindAt(
    const context::Context& ctx, int sock_type, absl::string_view name,
    uint16_t mode, uint32_t uid, uint32_t gid) const {
  BindAtReq req;
  req.common =
      CreateCommon{.dir_fd = fd_, .uid = uid, .gid = gid, .mode = mode};
  req.sock_type = static_cast<uint32_t>(sock_type);
  req.name = std::string(name);
  std::vector<fd::OwnedFd> fds;
  ASSIGN_OR_RETURN(BindAtResp r,
                   client_->Rpc<BindAtResp>(ctx, MID::kBindAt, req, 1, &fds));
  if (fds.empty()) {
    client_->CloseFD(ctx, r.child.control_fd, false);
    client_->CloseFD(ctx, r.bound_socket_fd, false);
    return syserr::FromErrno(EBADF, "BindAt RPC: server donated no socket");
  }
  return std::make_pair(r.child, ClientBoundSocketFD(client_, r.bound_socket_fd,
                                                     std::move(fds[0])));
}

// ---------------------------------------------------------------------------
// ClientBoundSocketFD

absl::Status ClientBoundSocketFD::Listen(const context::Context& ctx,
                                         int32_t backlog) const {
  return client_
      ->Rpc<EmptyMessage>(ctx, MID::kListen,
                          ListenReq{.fd = fd_, .backlog = backlog})
      .status();
}

absl::StatusOr<AcceptResult> ClientBoundSocketFD::Accept(
    const context::Context& ctx) const {
  std::vector<fd::OwnedFd> fds;
  ASSIGN_OR_RETURN(AcceptResp r,
                   client_->Rpc<AcceptResp>(ctx, MID::kAccept,
                                            AcceptReq{.fd = fd_}, 1, &fds));
  if (fds.empty()) {
    return syserr::FromErrno(EBADF, "Accept RPC: server donated no socket");
  }
  return AcceptResult{std::move(fds[0]), std::move(r.peer_addr)};
}

void ClientBoundSocketFD::Close(const context::Context& ctx) {
  if (client_ == nullptr || fd_ == kInvalidFDID) return;
  client_->CloseFD(ctx, fd_, true);
  fd_ = kInvalidFDID;
  notification_fd_.reset();
  client_.reset();
}

}  // namespace gvisor::lisafs
