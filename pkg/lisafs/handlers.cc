// The request handlers. Each one follows its row of pkg/lisafs/README.md §7.6;
// comments only note where the order or the errno is easy to get wrong.
//
// Two checks go beyond §7.6, against hostile clients (node.h):
//  * the depth bound, ConnectionOptions::max_tree_depth: Mount, every Walk
//    step, WalkStat, every create and RenameAt refuse to put a Node deeper
//    with ENAMETOOLONG, checked under the locks and before the host call;
//  * RenameAt refuses to move a directory's Node below itself with EINVAL
//    (as rename(2) does), even when the host, renamed behind our back,
//    would allow it: the tree must stay a tree.
//
// Blocking. Every host call a handler makes runs under the read, write or
// global guarantee, i.e. with the server-wide rename lock held: a call that
// never returns would stall every RenameAt of every connection, and the
// connection's own teardown waits for its handler. So backends must not
// block indefinitely (pkg/lisafs/README.md §7.4): fsgofer opens FIFOs, devices
// and everything it walks with O_NONBLOCK, connects sockets and accepts without
// blocking (EAGAIN). Close (and dropping FDs when a connection ends) takes
// only the connection's FD table lock and the child-map locks, which no
// handler holds across a host call.

#include "pkg/lisafs/handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <stdio.h>
#include <sys/stat.h>

#include <array>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pkg/lisafs/frame_io.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/node.h"
#include "pkg/lisafs/recycler.h"
#include "pkg/lisafs/server.h"
#include "pkg/lisafs/server_fd.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs::internal {

// ---------------------------------------------------------------------------
// Request: the handlers' way to the connection's private parts.

absl::Status Request::Fail(int err, absl::string_view what) const {
  return syserr::FromErrno(err, absl::StrCat(MIDName(mid), ": ", what));
}

FDID Request::Insert(std::shared_ptr<FD> fd) const {
  return conn.Insert(std::move(fd));
}

std::shared_ptr<FD> Request::Lookup(FDID id) const { return conn.Lookup(id); }

std::shared_ptr<FD> Request::Remove(FDID id) const { return conn.Remove(id); }

absl::Status Request::ChargeFdids(size_t n) const {
  return conn.ChargeFdids(n, mid);
}

void Request::SetMountNode(std::shared_ptr<Node> node) const {
  conn.set_mount_node(std::move(node));
}

absl::Status Request::NewChannel() const { return conn.NewChannel(resp); }

namespace {

// kSetStatMask is the union of the STATX bits SetStat may change.
constexpr uint32_t kSetStatMask =
    STATX_MODE | STATX_UID | STATX_GID | STATX_ATIME | STATX_MTIME | STATX_SIZE;
static_assert(kSetStatMask == 0x27A);
// kKeptDirents bounds the Getdents64 entry vector a thread keeps.
constexpr size_t kKeptDirents = 1024;
// kOpenFlagsMask is what the server keeps of OpenAt/OpenCreateAt flags.
constexpr uint32_t kOpenFlagsMask = O_ACCMODE | O_TRUNC;

// ValidName implements pkg/lisafs/README.md §7.5 (with NUL refused too).
bool ValidName(absl::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == absl::string_view::npos &&
         name.find('\0') == absl::string_view::npos;
}

absl::Status CheckName(const Request& r, absl::string_view name) {
  if (ValidName(name)) return absl::OkStatus();
  return r.Fail(EINVAL,
                absl::StrCat("invalid name \"", absl::CHexEscape(name), "\""));
}

absl::Status ReadOnly(const Request& r) {
  if (!r.conn.options().readonly) return absl::OkStatus();
  return syserr::FromErrno(
      EROFS, absl::StrCat(MIDName(r.mid), " on a read-only connection"));
}

absl::StatusOr<std::shared_ptr<ControlFD>> LookupControl(const Request& r,
                                                         FDID id) {
  std::shared_ptr<FD> fd = r.Lookup(id);
  if (fd == nullptr) return r.Fail(EBADF, absl::StrCat("no FDID ", id));
  if (fd->kind() != FD::Kind::kControl) {
    return r.Fail(EINVAL, absl::StrCat("FDID ", id, " is not a control FD"));
  }
  return std::static_pointer_cast<ControlFD>(std::move(fd));
}

absl::StatusOr<std::shared_ptr<OpenFD>> LookupOpen(const Request& r, FDID id) {
  std::shared_ptr<FD> fd = r.Lookup(id);
  if (fd == nullptr) return r.Fail(EBADF, absl::StrCat("no FDID ", id));
  if (fd->kind() != FD::Kind::kOpen) {
    return r.Fail(EINVAL, absl::StrCat("FDID ", id, " is not an open FD"));
  }
  return std::static_pointer_cast<OpenFD>(std::move(fd));
}

absl::StatusOr<std::shared_ptr<BoundSocketFD>> LookupBound(const Request& r,
                                                           FDID id) {
  std::shared_ptr<FD> fd = r.Lookup(id);
  if (fd == nullptr) return r.Fail(EBADF, absl::StrCat("no FDID ", id));
  if (fd->kind() != FD::Kind::kBoundSocket) {
    return r.Fail(EINVAL,
                  absl::StrCat("FDID ", id, " is not a bound-socket FD"));
  }
  return std::static_pointer_cast<BoundSocketFD>(std::move(fd));
}

// The lock levels of pkg/lisafs/README.md §7.4. Each guard keeps the locked
// Node alive.

// ReadGuard is the read guarantee: rename lock shared, op lock shared.
class ReadGuard {
 public:
  ReadGuard(const Request& r, std::shared_ptr<Node> node)
      : rename_(&r.conn.server().rename_mu()), node_(std::move(node)) {
    rename_->lock_shared();
    node_->op_mu().lock_shared();
  }
  ~ReadGuard() {
    node_->op_mu().unlock_shared();
    rename_->unlock_shared();
  }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

 private:
  std::shared_mutex* rename_;
  std::shared_ptr<Node> node_;
};

// WriteGuard is the write guarantee: rename lock shared, op lock exclusive.
class WriteGuard {
 public:
  WriteGuard(const Request& r, std::shared_ptr<Node> node)
      : rename_(&r.conn.server().rename_mu()), node_(std::move(node)) {
    rename_->lock_shared();
    node_->op_mu().lock();
  }
  ~WriteGuard() {
    node_->op_mu().unlock();
    rename_->unlock_shared();
  }
  WriteGuard(const WriteGuard&) = delete;
  WriteGuard& operator=(const WriteGuard&) = delete;

 private:
  std::shared_mutex* rename_;
  std::shared_ptr<Node> node_;
};

// NodeLock holds one more op lock, under a guard that already holds the
// rename lock. Null nodes are allowed (nothing is locked).
class NodeLock {
 public:
  NodeLock(std::shared_ptr<Node> node, bool exclusive)
      : node_(std::move(node)), exclusive_(exclusive) {
    if (node_ == nullptr) return;
    if (exclusive_) {
      node_->op_mu().lock();
    } else {
      node_->op_mu().lock_shared();
    }
  }
  ~NodeLock() {
    if (node_ == nullptr) return;
    if (exclusive_) {
      node_->op_mu().unlock();
    } else {
      node_->op_mu().unlock_shared();
    }
  }
  NodeLock(const NodeLock&) = delete;
  NodeLock& operator=(const NodeLock&) = delete;

 private:
  std::shared_ptr<Node> node_;
  bool exclusive_;
};

absl::Status CheckNotDeleted(const Request& r, const ControlFD& fd) {
  if (!fd.node()->deleted()) return absl::OkStatus();
  return r.Fail(EINVAL, "file was deleted");
}

// TooDeep is the error for a Node that would lie deeper than the
// connection's max_tree_depth.
absl::Status TooDeep(const Request& r) {
  return r.Fail(ENAMETOOLONG, absl::StrCat("the tree may not grow deeper than ",
                                           r.conn.options().max_tree_depth,
                                           " names (max_tree_depth)"));
}

// CheckChildDepth fails with ENAMETOOLONG if a child of node would lie
// deeper than the connection's max_tree_depth. Requires the rename lock.
absl::Status CheckChildDepth(const Request& r, const Node& node) {
  if (node.depth() < r.conn.options().max_tree_depth) {
    return absl::OkStatus();
  }
  return TooDeep(r);
}

absl::Status CheckDir(const Request& r, const ControlFD& fd) {
  if (fd.IsDir()) return absl::OkStatus();
  return r.Fail(ENOTDIR, "not a directory");
}

template <WireMessage T>
absl::StatusOr<T> Decode(const Request& r) {
  return Unmarshal<T>(r.payload);
}

template <WireMessage T>
absl::Status Reply(const Request& r, const T& msg) {
  // Encoded into a reused buffer (FrameWriter gives it back once sent).
  Encoder e(TakeBuffer());
  RETURN_IF_ERROR(EncodeMessage(e, msg));
  r.resp->payload = std::move(e).Take();
  return absl::OkStatus();
}

// DecodeWalkInPlace decodes a WalkReq with its names as views into payload
// (no copies); false where WalkReq::Decode would fail.
bool DecodeWalkInPlace(absl::Span<const uint8_t> payload, FDID* dir_fd,
                       absl::InlinedVector<absl::string_view, 8>* path) {
  Decoder d(payload);
  absl::StatusOr<uint64_t> fd = d.ReadU64("WalkReq.dir_fd");
  if (!fd.ok()) return false;
  *dir_fd = *fd;
  absl::StatusOr<uint16_t> count = d.ReadCount(2, "WalkReq.path");
  if (!count.ok()) return false;
  for (uint16_t i = 0; i < *count; ++i) {
    absl::StatusOr<uint16_t> len = d.ReadU16("WalkReq.path");
    if (!len.ok()) return false;
    absl::StatusOr<absl::Span<const uint8_t>> b =
        d.ReadBytes(*len, "WalkReq.path");
    if (!b.ok()) return false;
    path->emplace_back(reinterpret_cast<const char*>(b->data()), b->size());
  }
  return true;
}

void Donate(const Request& r, fd::OwnedFd fd) {
  if (fd.valid()) r.resp->fds.push_back(std::move(fd));
}

// DonateOpen donates what a backend's NewOpenFD offers: its own FD, or the
// FD it lent, sent while the answer holds open (and its impl) alive.
void DonateOpen(const Request& r, NewOpenFD& n,
                const std::shared_ptr<OpenFD>& open) {
  Donate(r, std::move(n.donated));
  if (n.lent >= 0) {
    r.resp->lent_fd = n.lent;
    r.resp->lender = open;
  }
}

// AddControl wraps a backend's new control FD for node and puts it in the
// table. The caller holds the write (or read, for Walk) guarantee on the
// parent, so the Node and the file agree.
std::pair<Inode, std::shared_ptr<ControlFD>> AddControl(
    const Request& r, std::shared_ptr<Node> node, NewControlFD n) {
  const uint32_t mode = n.stat.mode;
  auto fd =
      std::allocate_shared<ControlFD>(Allocator<ControlFD>(), &r.conn,
                                      std::move(node), mode, std::move(n.impl));
  Inode inode;
  inode.control_fd = r.Insert(fd);
  inode.stat = n.stat;
  return {inode, std::move(fd)};
}

// ---------------------------------------------------------------------------
// The handlers. Handler<M> answers requests of MID M; every MID but Error
// has an explicit specialisation below, and the table at the end is built
// from them by MID (see kHandlers).

template <MID M>
inline constexpr bool kHandlerMissing = true;

// The primary template is instantiated only for a MID that has no
// specialisation, which is then a compile error.
template <MID M>
absl::Status Handler(const Request&) {
  static_assert(!kHandlerMissing<M>,
                "every MID except Error needs a Handler<MID> specialisation");
  return absl::OkStatus();
}

template <>
absl::Status Handler<MID::kMount>(const Request& r) {
  Connection& c = r.conn;
  std::vector<std::string> names =
      absl::StrSplit(c.mount_path(), '/', absl::SkipEmpty());
  if (names.size() > c.options().max_tree_depth) return TooDeep(r);
  std::shared_lock<std::shared_mutex> rl(c.server().rename_mu());
  std::shared_ptr<Node> node = c.server().root();
  for (const std::string& name : names) {
    if (!ValidName(name)) {
      return r.Fail(EINVAL, absl::StrCat("bad component \"",
                                         absl::CHexEscape(name), "\""));
    }
    node = node->LookupOrCreateChild(name);
    if (node->deleted()) return r.Fail(ENOENT, "mount point deleted");
  }
  std::shared_lock<std::shared_mutex> ol(node->op_mu());
  ASSIGN_OR_RETURN(MountResult m, c.impl().Mount(c.mount_path()));
  r.SetMountNode(node);
  MountResp out;
  out.root = AddControl(r, node, std::move(m.root)).first;
  out.max_message_size = c.max_message_size();
  out.supported_mids = c.supported();
  Donate(r, std::move(m.donated));
  return Reply(r, out);
}

// The payload (empty) is ignored; the connection makes the channel.
template <>
absl::Status Handler<MID::kChannel>(const Request& r) {
  return r.NewChannel();
}

template <>
absl::Status Handler<MID::kFStat>(const Request& r) {
  ASSIGN_OR_RETURN(StatReq req, Decode<StatReq>(r));
  std::shared_ptr<FD> fd = r.Lookup(req.fd);
  if (fd == nullptr) return r.Fail(EBADF, absl::StrCat("no FDID ", req.fd));
  absl::StatusOr<Statx> st;
  switch (fd->kind()) {
    case FD::Kind::kControl: {
      auto* cfd = static_cast<ControlFD*>(fd.get());
      ReadGuard g(r, cfd->node());
      st = cfd->impl().Stat();
      break;
    }
    case FD::Kind::kOpen: {
      auto* ofd = static_cast<OpenFD*>(fd.get());
      ReadGuard g(r, ofd->control()->node());
      st = ofd->impl().Stat();
      break;
    }
    case FD::Kind::kBoundSocket:
      // Go's server fails an internal type assertion here (pkg/lisafs/README.md
      // §11 Q5).
      return syserr::FromErrno(EREMOTEIO, "FStat on a bound-socket FD");
  }
  RETURN_IF_ERROR(st.status());
  return Reply(r, *st);
}

template <>
absl::Status Handler<MID::kSetStat>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(SetStatReq req, Decode<SetStatReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> fd, LookupControl(r, req.fd));
  if ((req.mask & ~kSetStatMask) != 0) {
    return r.Fail(EPERM, absl::StrCat("mask 0x", absl::Hex(req.mask),
                                      " has unsupported bits"));
  }
  WriteGuard g(r, fd->node());
  // Deleted files may still have their attributes changed (pkg/lisafs/README.md
  // §7.4).
  return Reply(r, fd->impl().SetStat(req));
}

template <>
absl::Status Handler<MID::kWalk>(const Request& r) {
  Connection& c = r.conn;
  FDID dir_fd;
  absl::InlinedVector<absl::string_view, 8> path;
  if (!DecodeWalkInPlace(r.payload, &dir_fd, &path)) {
    // The full decoder says exactly what is wrong.
    return Decode<WalkReq>(r).status();
  }
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> dir, LookupControl(r, dir_fd));
  RETURN_IF_ERROR(CheckDir(r, *dir));
  if (3 + uint64_t{Inode::kSize} * path.size() > c.max_message_size()) {
    return r.Fail(EIO, "response would exceed the message size limit");
  }
  // FDs made by a failed walk are dropped after the locks are released.
  std::vector<std::shared_ptr<FD>> undo;
  // The answer (WalkResp) is encoded from these.
  WalkStatus status = WalkStatus::kSuccess;
  absl::InlinedVector<Inode, 4> inodes;
  absl::Status err;
  {
    std::shared_lock<std::shared_mutex> rl(c.server().rename_mu());
    std::shared_ptr<ControlFD> cur = dir;
    for (absl::string_view name : path) {
      if (!ValidName(name)) {
        err = CheckName(r, name);
        break;
      }
      if (cur->IsSymlink()) {
        status = WalkStatus::kComponentSymlink;
        break;
      }
      // Each component's FDID counts against the server's FD bounds.
      if (err = r.ChargeFdids(1); !err.ok()) break;
      std::shared_ptr<Node> node = cur->node();
      std::shared_lock<std::shared_mutex> ol(node->op_mu());
      if (node->deleted()) {
        status = WalkStatus::kComponentDoesNotExist;
        break;
      }
      if (err = CheckChildDepth(r, *node); !err.ok()) break;
      absl::StatusOr<NewControlFD> child = cur->impl().Walk(name);
      if (!child.ok()) {
        if (syserr::ToErrno(child.status()) == ENOENT) {
          status = WalkStatus::kComponentDoesNotExist;
        } else {
          err = child.status();
        }
        break;
      }
      auto [inode, fd] =
          AddControl(r, node->LookupOrCreateChild(name), *std::move(child));
      inodes.push_back(inode);
      cur = std::move(fd);
    }
    if (!err.ok()) {
      for (const Inode& i : inodes) undo.push_back(r.Remove(i.control_fd));
    }
  }
  RETURN_IF_ERROR(err);
  // As WalkResp::Encode, into a reused buffer.
  Encoder e(TakeBuffer());
  e.PutU8(static_cast<uint8_t>(status));
  RETURN_IF_ERROR(e.PutCount(inodes.size(), "WalkResp.inodes"));
  for (const Inode& i : inodes) e.PutStruct(i);
  r.resp->payload = std::move(e).Take();
  return absl::OkStatus();
}

template <>
absl::Status Handler<MID::kWalkStat>(const Request& r) {
  Connection& c = r.conn;
  ASSIGN_OR_RETURN(WalkReq req, Decode<WalkReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> fd, LookupControl(r, req.dir_fd));
  const std::vector<std::string>& path = req.path;
  bool self_only = path.empty() || (path.size() == 1 && path[0].empty());
  if (!fd->IsDir() && !self_only) return r.Fail(ENOTDIR, "not a directory");
  for (size_t i = 0; i < path.size(); ++i) {
    if (i == 0 && path[i].empty()) continue;
    RETURN_IF_ERROR(CheckName(r, path[i]));
  }
  if (2 + uint64_t{Statx::kSize} * path.size() > c.max_message_size()) {
    return r.Fail(EIO, "response would exceed the message size limit");
  }
  ReadGuard g(r, fd->node());
  // WalkStat makes no Nodes, but stays within the same bound.
  const uint64_t steps = path.size() - (!path.empty() && path[0].empty());
  if (fd->node()->depth() + steps > c.options().max_tree_depth) {
    return TooDeep(r);
  }
  WalkStatResp out;
  RETURN_IF_ERROR(fd->impl().WalkStat(path, &out.stats));
  return Reply(r, out);
}

template <>
absl::Status Handler<MID::kOpenAt>(const Request& r) {
  ASSIGN_OR_RETURN(OpenAtReq req, Decode<OpenAtReq>(r));
  uint32_t flags = req.flags & kOpenFlagsMask;
  bool mutating = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0;
  if (mutating) RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> fd, LookupControl(r, req.fd));
  if (fd->IsDir() && mutating) {
    return r.Fail(EISDIR, "directory opened for writing");
  }
  ReadGuard g(r, fd->node());
  // Deleted files may still be opened (pkg/lisafs/README.md §7.4).
  if (fd->IsSymlink()) return r.Fail(EINVAL, "file is a symlink");
  ASSIGN_OR_RETURN(NewOpenFD open, fd->impl().Open(flags));
  OpenAtResp out;
  auto ofd = std::allocate_shared<OpenFD>(Allocator<OpenFD>(), fd, flags,
                                          std::move(open.impl));
  out.open_fd = r.Insert(ofd);
  DonateOpen(r, open, ofd);
  return Reply(r, out);
}

template <>
absl::Status Handler<MID::kOpenCreateAt>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(OpenCreateAtReq req, Decode<OpenCreateAtReq>(r));
  uint32_t flags = req.flags & kOpenFlagsMask;
  RETURN_IF_ERROR(CheckName(r, req.name));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> dir,
                   LookupControl(r, req.common.dir_fd));
  RETURN_IF_ERROR(CheckDir(r, *dir));
  WriteGuard g(r, dir->node());
  RETURN_IF_ERROR(CheckNotDeleted(r, *dir));
  RETURN_IF_ERROR(CheckChildDepth(r, *dir->node()));
  CreateArgs args{req.name, req.common.mode, req.common.uid, req.common.gid};
  ASSIGN_OR_RETURN(NewFile file, dir->impl().OpenCreate(args, flags));
  OpenCreateAtResp out;
  auto [inode, cfd] = AddControl(r, dir->node()->LookupOrCreateChild(req.name),
                                 std::move(file.control));
  out.child = inode;
  auto ofd = std::allocate_shared<OpenFD>(Allocator<OpenFD>(), cfd, flags,
                                          std::move(file.open.impl));
  out.new_fd = r.Insert(ofd);
  DonateOpen(r, file.open, ofd);
  return Reply(r, out);
}

// Close decodes its FdArray (CloseReq) in place: the count is checked
// against the payload before any FDID is closed, as CloseReq::Decode does,
// and each FD is dropped as it is taken out (no tree lock is held).
template <>
absl::Status Handler<MID::kClose>(const Request& r) {
  Decoder d(r.payload);
  ASSIGN_OR_RETURN(const uint16_t count,
                   d.ReadCount(sizeof(FDID), "CloseReq.fds"));
  for (uint16_t i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(const FDID id, d.ReadU64("CloseReq.fds"));
    r.Remove(id).reset();
  }
  return Reply(r, EmptyMessage{});
}

template <>
absl::Status Handler<MID::kFSync>(const Request& r) {
  ASSIGN_OR_RETURN(FsyncReq req, Decode<FsyncReq>(r));
  absl::Status first;
  for (FDID id : req.fds) {
    absl::StatusOr<std::shared_ptr<OpenFD>> fd = LookupOpen(r, id);
    absl::Status s = fd.status();
    if (s.ok()) {
      ReadGuard g(r, (*fd)->control()->node());
      s = (*fd)->impl().Sync();
    }
    if (!s.ok() && first.ok()) first = s;
  }
  RETURN_IF_ERROR(first);
  return Reply(r, EmptyMessage{});
}

template <>
absl::Status Handler<MID::kPWrite>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(PWriteReq req, Decode<PWriteReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<OpenFD> fd, LookupOpen(r, req.fd));
  if (!fd->writable()) return r.Fail(EBADF, "FD not open for writing");
  WriteGuard g(r, fd->control()->node());
  ASSIGN_OR_RETURN(
      const size_t n,
      fd->impl().Write(
          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(req.data.data()),
                              req.data.size()),
          req.offset));
  PWriteResp out;
  out.count = n;
  return Reply(r, out);
}

template <>
absl::Status Handler<MID::kPRead>(const Request& r) {
  ASSIGN_OR_RETURN(PReadReq req, Decode<PReadReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<OpenFD> fd, LookupOpen(r, req.fd));
  if (!fd->readable()) return r.Fail(EBADF, "FD not open for reading");
  if (8 + uint64_t{req.count} > r.conn.max_message_size()) {
    return r.Fail(ENOBUFS, "count exceeds the message size limit");
  }
  ReadGuard g(r, fd->control()->node());
  // The payload is a u64 length and the bytes: read straight into it.
  std::vector<uint8_t> buf(8 + req.count);
  ASSIGN_OR_RETURN(
      const uint64_t len,
      fd->impl().Read(absl::MakeSpan(buf.data() + 8, req.count), req.offset));
  memcpy(buf.data(), &len, 8);
  buf.resize(8 + len);
  r.resp->payload = std::move(buf);
  return absl::OkStatus();
}

// CreateInDir runs the shared steps of MkdirAt, MknodAt and SymlinkAt:
// read-only check (done by the caller before decoding), name, lookup,
// directory, write guarantee, deleted, then create.
template <typename CreateFn>
absl::Status CreateInDir(const Request& r, FDID dir_id, const std::string& name,
                         CreateFn create) {
  RETURN_IF_ERROR(CheckName(r, name));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> dir, LookupControl(r, dir_id));
  RETURN_IF_ERROR(CheckDir(r, *dir));
  WriteGuard g(r, dir->node());
  RETURN_IF_ERROR(CheckNotDeleted(r, *dir));
  RETURN_IF_ERROR(CheckChildDepth(r, *dir->node()));
  ASSIGN_OR_RETURN(NewControlFD child, create(dir->impl()));
  Inode inode =
      AddControl(r, dir->node()->LookupOrCreateChild(name), std::move(child))
          .first;
  return Reply(r, inode);
}

template <>
absl::Status Handler<MID::kMkdirAt>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(MkdirAtReq req, Decode<MkdirAtReq>(r));
  return CreateInDir(r, req.common.dir_fd, req.name, [&](ControlFDImpl& dir) {
    return dir.Mkdir(
        CreateArgs{req.name, req.common.mode, req.common.uid, req.common.gid});
  });
}

template <>
absl::Status Handler<MID::kMknodAt>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(MknodAtReq req, Decode<MknodAtReq>(r));
  return CreateInDir(r, req.common.dir_fd, req.name, [&](ControlFDImpl& dir) {
    return dir.Mknod(
        CreateArgs{req.name, req.common.mode, req.common.uid, req.common.gid},
        req.minor, req.major);
  });
}

template <>
absl::Status Handler<MID::kSymlinkAt>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(SymlinkAtReq req, Decode<SymlinkAtReq>(r));
  return CreateInDir(r, req.dir_fd, req.name, [&](ControlFDImpl& dir) {
    return dir.Symlink(req.name, req.target, req.uid, req.gid);
  });
}

template <>
absl::Status Handler<MID::kLinkAt>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(LinkAtReq req, Decode<LinkAtReq>(r));
  RETURN_IF_ERROR(CheckName(r, req.name));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> dir,
                   LookupControl(r, req.dir_fd));
  RETURN_IF_ERROR(CheckDir(r, *dir));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> target,
                   LookupControl(r, req.target));
  if (target->IsDir()) return r.Fail(EPERM, "target is a directory");
  WriteGuard g(r, dir->node());
  NodeLock tl(target->node(), /*exclusive=*/false);
  RETURN_IF_ERROR(CheckNotDeleted(r, *dir));
  RETURN_IF_ERROR(CheckNotDeleted(r, *target));
  RETURN_IF_ERROR(CheckChildDepth(r, *dir->node()));
  ASSIGN_OR_RETURN(NewControlFD child, dir->impl().Link(*target, req.name));
  Inode inode = AddControl(r, dir->node()->LookupOrCreateChild(req.name),
                           std::move(child))
                    .first;
  return Reply(r, inode);
}

template <>
absl::Status Handler<MID::kFStatFS>(const Request& r) {
  ASSIGN_OR_RETURN(FStatFSReq req, Decode<FStatFSReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> fd, LookupControl(r, req.fd));
  ReadGuard g(r, fd->node());
  ASSIGN_OR_RETURN(StatFS st, fd->impl().StatFs());
  return Reply(r, st);
}

template <>
absl::Status Handler<MID::kFAllocate>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(FAllocateReq req, Decode<FAllocateReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<OpenFD> fd, LookupOpen(r, req.fd));
  if (!fd->writable()) return r.Fail(EBADF, "FD not open for writing");
  WriteGuard g(r, fd->control()->node());
  RETURN_IF_ERROR(fd->impl().Allocate(req.mode, req.offset, req.length));
  return Reply(r, EmptyMessage{});
}

template <>
absl::Status Handler<MID::kReadLinkAt>(const Request& r) {
  ASSIGN_OR_RETURN(ReadLinkAtReq req, Decode<ReadLinkAtReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> fd, LookupControl(r, req.fd));
  if (!fd->IsSymlink()) return r.Fail(EINVAL, "not a symlink");
  ReadGuard g(r, fd->node());
  RETURN_IF_ERROR(CheckNotDeleted(r, *fd));
  ReadLinkAtResp out;
  ASSIGN_OR_RETURN(out.target, fd->impl().ReadLink());
  return Reply(r, out);
}

template <>
absl::Status Handler<MID::kFlush>(const Request& r) {
  ASSIGN_OR_RETURN(FlushReq req, Decode<FlushReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<OpenFD> fd, LookupOpen(r, req.fd));
  ReadGuard g(r, fd->control()->node());
  RETURN_IF_ERROR(fd->impl().Flush());
  return Reply(r, EmptyMessage{});
}

absl::Status ConnectCommon(const Request& r, FDID id, uint32_t sock_type,
                           const uint32_t* creds) {
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> fd, LookupControl(r, id));
  if (!fd->IsSocket()) return r.Fail(ENOTSOCK, "not a socket");
  ReadGuard g(r, fd->node());
  RETURN_IF_ERROR(CheckNotDeleted(r, *fd));
  ASSIGN_OR_RETURN(fd::OwnedFd sock, creds == nullptr
                                         ? fd->impl().Connect(sock_type)
                                         : fd->impl().ConnectWithCreds(
                                               sock_type, creds[0], creds[1]));
  Donate(r, std::move(sock));
  return Reply(r, EmptyMessage{});
}

template <>
absl::Status Handler<MID::kConnect>(const Request& r) {
  ASSIGN_OR_RETURN(ConnectReq req, Decode<ConnectReq>(r));
  return ConnectCommon(r, req.fd, req.sock_type, nullptr);
}

template <>
absl::Status Handler<MID::kConnectWithCreds>(const Request& r) {
  ASSIGN_OR_RETURN(ConnectWithCredsReq req, Decode<ConnectWithCredsReq>(r));
  const uint32_t creds[2] = {req.uid, req.gid};
  return ConnectCommon(r, req.fd, req.sock_type, creds);
}

template <>
absl::Status Handler<MID::kUnlinkAt>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(UnlinkAtReq req, Decode<UnlinkAtReq>(r));
  RETURN_IF_ERROR(CheckName(r, req.name));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> dir,
                   LookupControl(r, req.dir_fd));
  RETURN_IF_ERROR(CheckDir(r, *dir));
  WriteGuard g(r, dir->node());
  NodeLock cl(dir->node()->LookupChild(req.name), /*exclusive=*/true);
  RETURN_IF_ERROR(CheckNotDeleted(r, *dir));
  RETURN_IF_ERROR(dir->impl().Unlink(req.name, req.flags));
  if (std::shared_ptr<Node> child = dir->node()->LookupChild(req.name)) {
    child->MarkDeleted();
  }
  return Reply(r, EmptyMessage{});
}

// CheckMove checks that node (null: nothing to move) may become a child of
// new_parent: EINVAL if new_parent is node or lies below it (a directory
// into its own subdirectory, as rename(2) says; the host may disagree after
// renames behind our back, but the tree must stay a tree), ENAMETOOLONG if
// a Node of its subtree would lie deeper than max_tree_depth. Requires the
// rename lock held exclusive.
absl::Status CheckMove(const Request& r, Node* node, const Node& new_parent) {
  if (node == nullptr) return absl::OkStatus();
  if (node->IsSelfOrAncestorOf(new_parent)) {
    return r.Fail(EINVAL, "directory moved below itself");
  }
  const uint64_t deepest =
      uint64_t{new_parent.depth()} + 1 + node->SubtreeHeight();
  if (deepest > r.conn.options().max_tree_depth) return TooDeep(r);
  return absl::OkStatus();
}

absl::Status RenameCommon(const Request& r, const std::string& old_name,
                          const std::string& new_name, FDID old_id, FDID new_id,
                          uint32_t flags) {
  RETURN_IF_ERROR(CheckName(r, old_name));
  RETURN_IF_ERROR(CheckName(r, new_name));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> old_dir,
                   LookupControl(r, old_id));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> new_dir,
                   LookupControl(r, new_id));
  RETURN_IF_ERROR(CheckDir(r, *old_dir));
  RETURN_IF_ERROR(CheckDir(r, *new_dir));
  // The global guarantee: no other RPC of any connection runs meanwhile.
  // Nodes that a rename replaces are dropped after the lock.
  std::shared_ptr<Node> renamed, replaced;
  std::unique_lock<std::shared_mutex> g(r.conn.server().rename_mu());
  const std::shared_ptr<Node>& old_node = old_dir->node();
  const std::shared_ptr<Node>& new_node = new_dir->node();
  RETURN_IF_ERROR(CheckNotDeleted(r, *old_dir));
  RETURN_IF_ERROR(CheckNotDeleted(r, *new_dir));
  if (old_node == new_node && old_name == new_name) {
    return Reply(r, EmptyMessage{});
  }
  // The Nodes the rename moves. Nothing adds a child while the lock is held
  // exclusive, so these are the ones to move after the host rename too.
  const bool exchange = (flags & RENAME_EXCHANGE) != 0;
  renamed = old_node->LookupChild(old_name);
  replaced = new_node->LookupChild(new_name);
  RETURN_IF_ERROR(CheckMove(r, renamed.get(), *new_node));
  if (exchange) RETURN_IF_ERROR(CheckMove(r, replaced.get(), *old_node));
  RETURN_IF_ERROR(
      old_dir->impl().RenameAt(old_name, *new_dir, new_name, flags));
  if (exchange) {
    if (renamed != nullptr) renamed->Move(new_node, new_name);
    if (replaced != nullptr) replaced->Move(old_node, old_name);
  } else {
    if (replaced != nullptr) replaced->MarkDeleted();
    if (renamed != nullptr) renamed->Move(new_node, new_name);
  }
  return Reply(r, EmptyMessage{});
}

template <>
absl::Status Handler<MID::kRenameAt>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(RenameAtReq req, Decode<RenameAtReq>(r));
  return RenameCommon(r, req.old_name, req.new_name, req.old_dir, req.new_dir,
                      0);
}

template <>
absl::Status Handler<MID::kRenameAt2>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(RenameAt2Req req, Decode<RenameAt2Req>(r));
  return RenameCommon(r, req.old_name, req.new_name, req.old_dir, req.new_dir,
                      req.flags);
}

template <>
absl::Status Handler<MID::kGetdents64>(const Request& r) {
  ASSIGN_OR_RETURN(Getdents64Req req, Decode<Getdents64Req>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<OpenFD> fd, LookupOpen(r, req.dir_fd));
  const ControlFD& control = *fd->control();
  RETURN_IF_ERROR(CheckDir(r, control));
  bool seek0 = req.count < 0;
  // -INT32_MIN does not fit an int32; as in Go it becomes 2^31
  // (pkg/lisafs/README.md §11 Q10), and the oversized answer is then refused
  // with EIO.
  uint32_t count = seek0 ? static_cast<uint32_t>(-int64_t{req.count})
                         : static_cast<uint32_t>(req.count);
  ReadGuard g(r, control.node());
  RETURN_IF_ERROR(CheckNotDeleted(r, control));
  // The entries go in a vector this thread reuses (kept up to
  // kKeptDirents entries), and the answer (Getdents64Resp) is encoded into
  // a buffer reserved at its exact size: nothing grows by doubling.
  static thread_local std::vector<Dirent64> t_dirents;
  std::vector<Dirent64>& dirents = t_dirents;
  dirents.clear();
  absl::Cleanup reuse = [&dirents] {
    if (dirents.capacity() > kKeptDirents) {
      std::vector<Dirent64>().swap(dirents);
    } else {
      dirents.clear();
    }
  };
  RETURN_IF_ERROR(fd->impl().Getdents(count, seek0, &dirents));
  size_t size = sizeof(uint16_t);
  for (const Dirent64& de : dirents) size += de.WireSize();
  std::vector<uint8_t> buf = TakeBuffer();
  buf.reserve(size);
  Encoder e(std::move(buf));
  RETURN_IF_ERROR(e.PutCount(dirents.size(), "Getdents64Resp.dirents"));
  for (const Dirent64& de : dirents) RETURN_IF_ERROR(de.Encode(e));
  r.resp->payload = std::move(e).Take();
  return absl::OkStatus();
}

template <>
absl::Status Handler<MID::kFGetXattr>(const Request& r) {
  ASSIGN_OR_RETURN(FGetXattrReq req, Decode<FGetXattrReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> fd, LookupControl(r, req.fd));
  ReadGuard g(r, fd->node());
  RETURN_IF_ERROR(CheckNotDeleted(r, *fd));
  FGetXattrResp out;
  ASSIGN_OR_RETURN(out.value, fd->impl().GetXattr(req.name, req.buf_size));
  return Reply(r, out);
}

template <>
absl::Status Handler<MID::kFSetXattr>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(FSetXattrReq req, Decode<FSetXattrReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> fd, LookupControl(r, req.fd));
  WriteGuard g(r, fd->node());
  RETURN_IF_ERROR(CheckNotDeleted(r, *fd));
  RETURN_IF_ERROR(fd->impl().SetXattr(req.name, req.value, req.flags));
  return Reply(r, EmptyMessage{});
}

template <>
absl::Status Handler<MID::kFListXattr>(const Request& r) {
  ASSIGN_OR_RETURN(FListXattrReq req, Decode<FListXattrReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> fd, LookupControl(r, req.fd));
  ReadGuard g(r, fd->node());
  RETURN_IF_ERROR(CheckNotDeleted(r, *fd));
  FListXattrResp out;
  ASSIGN_OR_RETURN(out.names, fd->impl().ListXattr(req.size));
  return Reply(r, out);
}

template <>
absl::Status Handler<MID::kFRemoveXattr>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(FRemoveXattrReq req, Decode<FRemoveXattrReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> fd, LookupControl(r, req.fd));
  WriteGuard g(r, fd->node());
  RETURN_IF_ERROR(CheckNotDeleted(r, *fd));
  RETURN_IF_ERROR(fd->impl().RemoveXattr(req.name));
  return Reply(r, EmptyMessage{});
}

template <>
absl::Status Handler<MID::kBindAt>(const Request& r) {
  RETURN_IF_ERROR(ReadOnly(r));
  ASSIGN_OR_RETURN(BindAtReq req, Decode<BindAtReq>(r));
  RETURN_IF_ERROR(CheckName(r, req.name));
  ASSIGN_OR_RETURN(std::shared_ptr<ControlFD> dir,
                   LookupControl(r, req.common.dir_fd));
  RETURN_IF_ERROR(CheckDir(r, *dir));
  WriteGuard g(r, dir->node());
  RETURN_IF_ERROR(CheckNotDeleted(r, *dir));
  RETURN_IF_ERROR(CheckChildDepth(r, *dir->node()));
  CreateArgs args{req.name, req.common.mode, req.common.uid, req.common.gid};
  ASSIGN_OR_RETURN(NewBoundSocket b, dir->impl().BindAt(args, req.sock_type));
  BindAtResp out;
  auto [inode, cfd] = AddControl(r, dir->node()->LookupOrCreateChild(req.name),
                                 std::move(b.control));
  out.child = inode;
  out.bound_socket_fd =
      r.Insert(std::make_shared<BoundSocketFD>(cfd, std::move(b.impl)));
  Donate(r, std::move(b.donated));
  return Reply(r, out);
}

template <>
absl::Status Handler<MID::kListen>(const Request& r) {
  ASSIGN_OR_RETURN(ListenReq req, Decode<ListenReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<BoundSocketFD> fd, LookupBound(r, req.fd));
  ReadGuard g(r, fd->control()->node());
  RETURN_IF_ERROR(CheckNotDeleted(r, *fd->control()));
  RETURN_IF_ERROR(fd->impl().Listen(req.backlog));
  return Reply(r, EmptyMessage{});
}

template <>
absl::Status Handler<MID::kAccept>(const Request& r) {
  ASSIGN_OR_RETURN(AcceptReq req, Decode<AcceptReq>(r));
  ASSIGN_OR_RETURN(std::shared_ptr<BoundSocketFD> fd, LookupBound(r, req.fd));
  ReadGuard g(r, fd->control()->node());
  RETURN_IF_ERROR(CheckNotDeleted(r, *fd->control()));
  ASSIGN_OR_RETURN(AcceptedSocket a, fd->impl().Accept());
  Donate(r, std::move(a.fd));
  AcceptResp out;
  out.peer_addr = std::move(a.peer_addr);
  return Reply(r, out);
}

// ---------------------------------------------------------------------------
// The table.

using HandlerFn = absl::Status (*)(const Request&);

// HandlerFor is the table's entry for MID I: Handler<I>, or none for
// Error.
template <uint16_t I>
constexpr HandlerFn HandlerFor() {
  if constexpr (I == static_cast<uint16_t>(MID::kError)) {
    return nullptr;
  } else {
    return &Handler<static_cast<MID>(I)>;
  }
}

template <uint16_t... I>
constexpr std::array<HandlerFn, kNumMIDs> MakeHandlers(
    std::integer_sequence<uint16_t, I...>) {
  return {HandlerFor<I>()...};
}

// kHandlers is indexed by MID, and built from it: entry i is
// Handler<MID(i)>. No list of handlers is written by hand, so none can be
// out of place; a MID without a Handler specialisation fails the primary
// template's static_assert, and two for one MID are a redefinition.
constexpr std::array<HandlerFn, kNumMIDs> kHandlers =
    MakeHandlers(std::make_integer_sequence<uint16_t, kNumMIDs>());

constexpr bool EveryMIDButErrorHasAHandler() {
  for (size_t i = 0; i < kHandlers.size(); ++i) {
    if ((kHandlers[i] == nullptr) != (i == 0)) return false;
  }
  return true;
}
static_assert(EveryMIDButErrorHasAHandler());

}  // namespace

bool HasHandler(uint16_t mid) {
  return mid < kHandlers.size() && kHandlers[mid] != nullptr;
}

absl::Status Handle(const Request& req) {
  return kHandlers[static_cast<uint16_t>(req.mid)](req);
}

}  // namespace gvisor::lisafs::internal
