// The request handlers. Each one follows its row of WIRE.md §7.6; comments
// only note where the order or the errno is easy to get wrong.
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
// block indefinitely (WIRE.md §7.4): fsgofer opens FIFOs, devices and
// everything it walks with O_NONBLOCK, connects sockets and accepts without
// blocking (EAGAIN). Close (and dropping FDs when a connection ends) takes
// only the connection's FD table lock and the child-map locks, which no
// handler holds across a host call.

#include "pkg/lisafs/handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <array>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/node.h"
#include "pkg/lisafs/server.h"
#include "pkg/lisafs/server_fd.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs::internal {

namespace {

// kSetStatMask is the union of the STATX bits SetStat may change.
constexpr uint32_t kSetStatMask = 0x27A;
// kOpenFlagsMask is what the server keeps of OpenAt/OpenCreateAt flags.
constexpr uint32_t kOpenFlagsMask = O_ACCMODE | O_TRUNC;

absl::Status Errno(int err, absl::string_view what) {
  return syserr::FromErrno(err, what);
}

// ValidName implements WIRE.md §7.5 (with NUL refused too).
bool ValidName(absl::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == absl::string_view::npos &&
         name.find('\0') == absl::string_view::npos;
}

absl::Status CheckName(absl::string_view name, MID mid) {
  if (ValidName(name)) return absl::OkStatus();
  return Errno(EINVAL, absl::StrCat(MIDName(mid), ": invalid name \"",
                                    absl::CHexEscape(name), "\""));
}

absl::Status ReadOnly(const Connection& c, MID mid) {
  if (!c.options().readonly) return absl::OkStatus();
  return Errno(EROFS, absl::StrCat(MIDName(mid), " on a read-only connection"));
}

absl::StatusOr<std::shared_ptr<ControlFD>> LookupControl(Connection& c,
                                                         FDID id, MID mid) {
  std::shared_ptr<FD> fd = c.Lookup(id);
  if (fd == nullptr) {
    return Errno(EBADF, absl::StrCat(MIDName(mid), ": no FDID ", id));
  }
  if (fd->kind() != FD::Kind::kControl) {
    return Errno(EINVAL,
                 absl::StrCat(MIDName(mid), ": FDID ", id, " is not a control FD"));
  }
  return std::static_pointer_cast<ControlFD>(std::move(fd));
}

absl::StatusOr<std::shared_ptr<OpenFD>> LookupOpen(Connection& c, FDID id,
                                                   MID mid) {
  std::shared_ptr<FD> fd = c.Lookup(id);
  if (fd == nullptr) {
    return Errno(EBADF, absl::StrCat(MIDName(mid), ": no FDID ", id));
  }
  if (fd->kind() != FD::Kind::kOpen) {
    return Errno(EINVAL,
                 absl::StrCat(MIDName(mid), ": FDID ", id, " is not an open FD"));
  }
  return std::static_pointer_cast<OpenFD>(std::move(fd));
}

absl::StatusOr<std::shared_ptr<BoundSocketFD>> LookupBound(Connection& c,
                                                           FDID id, MID mid) {
  std::shared_ptr<FD> fd = c.Lookup(id);
  if (fd == nullptr) {
    return Errno(EBADF, absl::StrCat(MIDName(mid), ": no FDID ", id));
  }
  if (fd->kind() != FD::Kind::kBoundSocket) {
    return Errno(EINVAL, absl::StrCat(MIDName(mid), ": FDID ", id,
                                      " is not a bound-socket FD"));
  }
  return std::static_pointer_cast<BoundSocketFD>(std::move(fd));
}

// The lock levels of WIRE.md §7.4. Each guard keeps the locked Node alive.

// ReadGuard is the read guarantee: rename lock shared, op lock shared.
class ReadGuard {
 public:
  ReadGuard(Connection& c, std::shared_ptr<Node> node)
      : rename_(&c.server().rename_mu()), node_(std::move(node)) {
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
  WriteGuard(Connection& c, std::shared_ptr<Node> node)
      : rename_(&c.server().rename_mu()), node_(std::move(node)) {
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

absl::Status CheckNotDeleted(const ControlFD& fd, MID mid) {
  if (!fd.node()->deleted()) return absl::OkStatus();
  return Errno(EINVAL, absl::StrCat(MIDName(mid), ": file was deleted"));
}

// TooDeep is the error for a Node that would lie deeper than the
// connection's max_tree_depth.
absl::Status TooDeep(const Connection& c, MID mid) {
  return Errno(ENAMETOOLONG,
               absl::StrCat(MIDName(mid), ": the tree may not grow deeper than ",
                            c.options().max_tree_depth,
                            " names (max_tree_depth)"));
}

// CheckChildDepth fails with ENAMETOOLONG if a child of node would lie
// deeper than the connection's max_tree_depth. Requires the rename lock.
absl::Status CheckChildDepth(const Connection& c, const Node& node, MID mid) {
  if (node.depth() < c.options().max_tree_depth) return absl::OkStatus();
  return TooDeep(c, mid);
}

absl::Status CheckDir(const ControlFD& fd, MID mid) {
  if (fd.IsDir()) return absl::OkStatus();
  return Errno(ENOTDIR, absl::StrCat(MIDName(mid), ": not a directory"));
}

template <WireMessage T>
absl::StatusOr<T> Decode(absl::Span<const uint8_t> payload) {
  return Unmarshal<T>(payload);
}

template <WireMessage T>
absl::Status Reply(Response* resp, const T& msg) {
  absl::StatusOr<std::vector<uint8_t>> b = Marshal(msg);
  if (!b.ok()) return b.status();
  resp->payload = *std::move(b);
  return absl::OkStatus();
}

void Donate(Response* resp, fd::OwnedFd fd) {
  if (fd.valid()) resp->fds.push_back(std::move(fd));
}

// AddControl wraps a backend's new control FD for node and puts it in the
// table. The caller holds the write (or read, for Walk) guarantee on the
// parent, so the Node and the file agree.
std::pair<Inode, std::shared_ptr<ControlFD>> AddControl(
    Connection& c, std::shared_ptr<Node> node, NewControlFD n) {
  const uint32_t mode = n.stat.mode;
  auto fd = std::make_shared<ControlFD>(&c, std::move(node), mode,
                                        std::move(n.impl));
  Inode inode;
  inode.control_fd = c.Insert(fd);
  inode.stat = n.stat;
  return {inode, std::move(fd)};
}

// ---------------------------------------------------------------------------

absl::Status MountHandler(Connection& c, absl::Span<const uint8_t>,
                          Response* resp) {
  std::vector<std::string> names =
      absl::StrSplit(c.mount_path(), '/', absl::SkipEmpty());
  if (names.size() > c.options().max_tree_depth) {
    return TooDeep(c, MID::kMount);
  }
  std::shared_lock<std::shared_mutex> rl(c.server().rename_mu());
  std::shared_ptr<Node> node = c.server().root();
  for (const std::string& name : names) {
    if (!ValidName(name)) {
      return Errno(EINVAL, absl::StrCat("Mount: bad component \"",
                                        absl::CHexEscape(name), "\""));
    }
    node = node->LookupOrCreateChild(name);
    if (node->deleted()) return Errno(ENOENT, "Mount: mount point deleted");
  }
  std::shared_lock<std::shared_mutex> ol(node->op_mu());
  absl::StatusOr<MountResult> m = c.impl().Mount(c.mount_path());
  if (!m.ok()) return m.status();
  c.set_mount_node(node);
  MountResp out;
  out.root = AddControl(c, node, std::move(m->root)).first;
  out.max_message_size = c.max_message_size();
  out.supported_mids = c.supported();
  Donate(resp, std::move(m->donated));
  return Reply(resp, out);
}

// The payload (empty) is ignored; the connection makes the channel.
absl::Status ChannelHandler(Connection& c, absl::Span<const uint8_t>,
                            Response* resp) {
  return c.NewChannel(resp);
}

absl::Status FStatHandler(Connection& c, absl::Span<const uint8_t> payload,
                          Response* resp) {
  absl::StatusOr<StatReq> req = Decode<StatReq>(payload);
  if (!req.ok()) return req.status();
  std::shared_ptr<FD> fd = c.Lookup(req->fd);
  if (fd == nullptr) {
    return Errno(EBADF, absl::StrCat("FStat: no FDID ", req->fd));
  }
  absl::StatusOr<Statx> st;
  switch (fd->kind()) {
    case FD::Kind::kControl: {
      auto* cfd = static_cast<ControlFD*>(fd.get());
      ReadGuard g(c, cfd->node());
      st = cfd->impl().Stat();
      break;
    }
    case FD::Kind::kOpen: {
      auto* ofd = static_cast<OpenFD*>(fd.get());
      ReadGuard g(c, ofd->control()->node());
      st = ofd->impl().Stat();
      break;
    }
    case FD::Kind::kBoundSocket:
      // Go's server fails an internal type assertion here (WIRE.md §12 Q5).
      return Errno(EREMOTEIO, "FStat on a bound-socket FD");
  }
  if (!st.ok()) return st.status();
  return Reply(resp, *st);
}

absl::Status SetStatHandler(Connection& c, absl::Span<const uint8_t> payload,
                            Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kSetStat); !s.ok()) return s;
  absl::StatusOr<SetStatReq> req = Decode<SetStatReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<ControlFD>> fd =
      LookupControl(c, req->fd, MID::kSetStat);
  if (!fd.ok()) return fd.status();
  if ((req->mask & ~kSetStatMask) != 0) {
    return Errno(EPERM, absl::StrCat("SetStat: mask 0x", absl::Hex(req->mask),
                                     " has unsupported bits"));
  }
  WriteGuard g(c, (*fd)->node());
  // Deleted files may still have their attributes changed (WIRE.md §7.4).
  return Reply(resp, (*fd)->impl().SetStat(*req));
}

absl::Status WalkHandler(Connection& c, absl::Span<const uint8_t> payload,
                         Response* resp) {
  absl::StatusOr<WalkReq> req = Decode<WalkReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<ControlFD>> dir =
      LookupControl(c, req->dir_fd, MID::kWalk);
  if (!dir.ok()) return dir.status();
  if (absl::Status s = CheckDir(**dir, MID::kWalk); !s.ok()) return s;
  if (3 + uint64_t{Inode::kSize} * req->path.size() > c.max_message_size()) {
    return Errno(EIO, "Walk: response would exceed the message size limit");
  }
  // FDs made by a failed walk are dropped after the locks are released.
  std::vector<std::shared_ptr<FD>> undo;
  WalkResp out;
  absl::Status err;
  {
    std::shared_lock<std::shared_mutex> rl(c.server().rename_mu());
    std::shared_ptr<ControlFD> cur = *dir;
    for (const std::string& name : req->path) {
      if (!ValidName(name)) {
        err = CheckName(name, MID::kWalk);
        break;
      }
      if (cur->IsSymlink()) {
        out.status = WalkStatus::kComponentSymlink;
        break;
      }
      // Each component's FDID counts against the server's FD bounds.
      if (absl::Status s = c.ChargeFdids(1, MID::kWalk); !s.ok()) {
        err = s;
        break;
      }
      std::shared_ptr<Node> node = cur->node();
      std::shared_lock<std::shared_mutex> ol(node->op_mu());
      if (node->deleted()) {
        out.status = WalkStatus::kComponentDoesNotExist;
        break;
      }
      if (err = CheckChildDepth(c, *node, MID::kWalk); !err.ok()) break;
      absl::StatusOr<NewControlFD> child = cur->impl().Walk(name);
      if (!child.ok()) {
        if (syserr::ToErrno(child.status()) == ENOENT) {
          out.status = WalkStatus::kComponentDoesNotExist;
        } else {
          err = child.status();
        }
        break;
      }
      auto [inode, fd] =
          AddControl(c, node->LookupOrCreateChild(name), *std::move(child));
      out.inodes.push_back(inode);
      cur = std::move(fd);
    }
    if (!err.ok()) {
      for (const Inode& i : out.inodes) undo.push_back(c.Remove(i.control_fd));
    }
  }
  if (!err.ok()) return err;
  return Reply(resp, out);
}

absl::Status WalkStatHandler(Connection& c, absl::Span<const uint8_t> payload,
                             Response* resp) {
  absl::StatusOr<WalkReq> req = Decode<WalkReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<ControlFD>> fd =
      LookupControl(c, req->dir_fd, MID::kWalkStat);
  if (!fd.ok()) return fd.status();
  const std::vector<std::string>& path = req->path;
  bool self_only = path.empty() || (path.size() == 1 && path[0].empty());
  if (!(*fd)->IsDir() && !self_only) {
    return Errno(ENOTDIR, "WalkStat: not a directory");
  }
  for (size_t i = 0; i < path.size(); ++i) {
    if (i == 0 && path[i].empty()) continue;
    if (absl::Status s = CheckName(path[i], MID::kWalkStat); !s.ok()) return s;
  }
  if (2 + uint64_t{Statx::kSize} * path.size() > c.max_message_size()) {
    return Errno(EIO, "WalkStat: response would exceed the message size limit");
  }
  ReadGuard g(c, (*fd)->node());
  // WalkStat makes no Nodes, but stays within the same bound.
  const uint64_t steps = path.size() - (!path.empty() && path[0].empty());
  if ((*fd)->node()->depth() + steps > c.options().max_tree_depth) {
    return TooDeep(c, MID::kWalkStat);
  }
  WalkStatResp out;
  if (absl::Status s = (*fd)->impl().WalkStat(path, &out.stats); !s.ok()) {
    return s;
  }
  return Reply(resp, out);
}

absl::Status OpenAtHandler(Connection& c, absl::Span<const uint8_t> payload,
                           Response* resp) {
  absl::StatusOr<OpenAtReq> req = Decode<OpenAtReq>(payload);
  if (!req.ok()) return req.status();
  uint32_t flags = req->flags & kOpenFlagsMask;
  bool mutating = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0;
  if (mutating) {
    if (absl::Status s = ReadOnly(c, MID::kOpenAt); !s.ok()) return s;
  }
  absl::StatusOr<std::shared_ptr<ControlFD>> fd =
      LookupControl(c, req->fd, MID::kOpenAt);
  if (!fd.ok()) return fd.status();
  if ((*fd)->IsDir() && mutating) {
    return Errno(EISDIR, "OpenAt: directory opened for writing");
  }
  ReadGuard g(c, (*fd)->node());
  // Deleted files may still be opened (WIRE.md §7.4).
  if ((*fd)->IsSymlink()) return Errno(EINVAL, "OpenAt: file is a symlink");
  absl::StatusOr<NewOpenFD> open = (*fd)->impl().Open(flags);
  if (!open.ok()) return open.status();
  OpenAtResp out;
  out.open_fd = c.Insert(
      std::make_shared<OpenFD>(*fd, flags, std::move(open->impl)));
  Donate(resp, std::move(open->donated));
  return Reply(resp, out);
}

absl::Status OpenCreateAtHandler(Connection& c,
                                 absl::Span<const uint8_t> payload,
                                 Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kOpenCreateAt); !s.ok()) return s;
  absl::StatusOr<OpenCreateAtReq> req = Decode<OpenCreateAtReq>(payload);
  if (!req.ok()) return req.status();
  uint32_t flags = req->flags & kOpenFlagsMask;
  if (absl::Status s = CheckName(req->name, MID::kOpenCreateAt); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::shared_ptr<ControlFD>> dir =
      LookupControl(c, req->common.dir_fd, MID::kOpenCreateAt);
  if (!dir.ok()) return dir.status();
  if (absl::Status s = CheckDir(**dir, MID::kOpenCreateAt); !s.ok()) return s;
  WriteGuard g(c, (*dir)->node());
  if (absl::Status s = CheckNotDeleted(**dir, MID::kOpenCreateAt); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckChildDepth(c, *(*dir)->node(), MID::kOpenCreateAt);
      !s.ok()) {
    return s;
  }
  CreateArgs args{req->name, req->common.mode, req->common.uid,
                  req->common.gid};
  absl::StatusOr<NewFile> file = (*dir)->impl().OpenCreate(args, flags);
  if (!file.ok()) return file.status();
  OpenCreateAtResp out;
  auto [inode, cfd] = AddControl(c, (*dir)->node()->LookupOrCreateChild(req->name),
                                 std::move(file->control));
  out.child = inode;
  out.new_fd =
      c.Insert(std::make_shared<OpenFD>(cfd, flags, std::move(file->open.impl)));
  Donate(resp, std::move(file->open.donated));
  return Reply(resp, out);
}

absl::Status CloseHandler(Connection& c, absl::Span<const uint8_t> payload,
                          Response* resp) {
  absl::StatusOr<CloseReq> req = Decode<CloseReq>(payload);
  if (!req.ok()) return req.status();
  std::vector<std::shared_ptr<FD>> dropped;
  for (FDID id : req->fds) dropped.push_back(c.Remove(id));
  dropped.clear();
  return Reply(resp, EmptyMessage{});
}

absl::Status FSyncHandler(Connection& c, absl::Span<const uint8_t> payload,
                          Response* resp) {
  absl::StatusOr<FsyncReq> req = Decode<FsyncReq>(payload);
  if (!req.ok()) return req.status();
  absl::Status first;
  for (FDID id : req->fds) {
    absl::StatusOr<std::shared_ptr<OpenFD>> fd = LookupOpen(c, id, MID::kFSync);
    absl::Status s = fd.status();
    if (s.ok()) {
      ReadGuard g(c, (*fd)->control()->node());
      s = (*fd)->impl().Sync();
    }
    if (!s.ok() && first.ok()) first = s;
  }
  if (!first.ok()) return first;
  return Reply(resp, EmptyMessage{});
}

absl::Status PWriteHandler(Connection& c, absl::Span<const uint8_t> payload,
                           Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kPWrite); !s.ok()) return s;
  absl::StatusOr<PWriteReq> req = Decode<PWriteReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<OpenFD>> fd =
      LookupOpen(c, req->fd, MID::kPWrite);
  if (!fd.ok()) return fd.status();
  if (!(*fd)->writable()) return Errno(EBADF, "PWrite: FD not open for writing");
  WriteGuard g(c, (*fd)->control()->node());
  absl::StatusOr<size_t> n = (*fd)->impl().Write(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(req->data.data()),
                          req->data.size()),
      req->offset);
  if (!n.ok()) return n.status();
  PWriteResp out;
  out.count = *n;
  return Reply(resp, out);
}

absl::Status PReadHandler(Connection& c, absl::Span<const uint8_t> payload,
                          Response* resp) {
  absl::StatusOr<PReadReq> req = Decode<PReadReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<OpenFD>> fd =
      LookupOpen(c, req->fd, MID::kPRead);
  if (!fd.ok()) return fd.status();
  if (!(*fd)->readable()) return Errno(EBADF, "PRead: FD not open for reading");
  if (8 + uint64_t{req->count} > c.max_message_size()) {
    return Errno(ENOBUFS, "PRead: count exceeds the message size limit");
  }
  ReadGuard g(c, (*fd)->control()->node());
  // The payload is a u64 length and the bytes: read straight into it.
  std::vector<uint8_t> buf(8 + req->count);
  absl::StatusOr<size_t> n = (*fd)->impl().Read(
      absl::MakeSpan(buf.data() + 8, req->count), req->offset);
  if (!n.ok()) return n.status();
  uint64_t len = *n;
  memcpy(buf.data(), &len, 8);
  buf.resize(8 + len);
  resp->payload = std::move(buf);
  return absl::OkStatus();
}

// CreateInDir runs the shared steps of MkdirAt, MknodAt and SymlinkAt:
// read-only check (done by the caller before decoding), name, lookup,
// directory, write guarantee, deleted, then create.
template <typename CreateFn>
absl::Status CreateInDir(Connection& c, MID mid, FDID dir_id,
                         const std::string& name, Response* resp,
                         CreateFn create) {
  if (absl::Status s = CheckName(name, mid); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<ControlFD>> dir = LookupControl(c, dir_id, mid);
  if (!dir.ok()) return dir.status();
  if (absl::Status s = CheckDir(**dir, mid); !s.ok()) return s;
  WriteGuard g(c, (*dir)->node());
  if (absl::Status s = CheckNotDeleted(**dir, mid); !s.ok()) return s;
  if (absl::Status s = CheckChildDepth(c, *(*dir)->node(), mid); !s.ok()) {
    return s;
  }
  absl::StatusOr<NewControlFD> child = create((*dir)->impl());
  if (!child.ok()) return child.status();
  Inode inode = AddControl(c, (*dir)->node()->LookupOrCreateChild(name),
                           *std::move(child))
                    .first;
  return Reply(resp, inode);
}

absl::Status MkdirAtHandler(Connection& c, absl::Span<const uint8_t> payload,
                            Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kMkdirAt); !s.ok()) return s;
  absl::StatusOr<MkdirAtReq> req = Decode<MkdirAtReq>(payload);
  if (!req.ok()) return req.status();
  return CreateInDir(c, MID::kMkdirAt, req->common.dir_fd, req->name, resp,
                     [&](ControlFDImpl& dir) {
                       return dir.Mkdir(CreateArgs{req->name, req->common.mode,
                                                   req->common.uid,
                                                   req->common.gid});
                     });
}

absl::Status MknodAtHandler(Connection& c, absl::Span<const uint8_t> payload,
                            Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kMknodAt); !s.ok()) return s;
  absl::StatusOr<MknodAtReq> req = Decode<MknodAtReq>(payload);
  if (!req.ok()) return req.status();
  return CreateInDir(c, MID::kMknodAt, req->common.dir_fd, req->name, resp,
                     [&](ControlFDImpl& dir) {
                       return dir.Mknod(
                           CreateArgs{req->name, req->common.mode,
                                      req->common.uid, req->common.gid},
                           req->minor, req->major);
                     });
}

absl::Status SymlinkAtHandler(Connection& c, absl::Span<const uint8_t> payload,
                              Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kSymlinkAt); !s.ok()) return s;
  absl::StatusOr<SymlinkAtReq> req = Decode<SymlinkAtReq>(payload);
  if (!req.ok()) return req.status();
  return CreateInDir(c, MID::kSymlinkAt, req->dir_fd, req->name, resp,
                     [&](ControlFDImpl& dir) {
                       return dir.Symlink(req->name, req->target, req->uid,
                                          req->gid);
                     });
}

absl::Status LinkAtHandler(Connection& c, absl::Span<const uint8_t> payload,
                           Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kLinkAt); !s.ok()) return s;
  absl::StatusOr<LinkAtReq> req = Decode<LinkAtReq>(payload);
  if (!req.ok()) return req.status();
  if (absl::Status s = CheckName(req->name, MID::kLinkAt); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<ControlFD>> dir =
      LookupControl(c, req->dir_fd, MID::kLinkAt);
  if (!dir.ok()) return dir.status();
  if (absl::Status s = CheckDir(**dir, MID::kLinkAt); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<ControlFD>> target =
      LookupControl(c, req->target, MID::kLinkAt);
  if (!target.ok()) return target.status();
  if ((*target)->IsDir()) return Errno(EPERM, "LinkAt: target is a directory");
  WriteGuard g(c, (*dir)->node());
  NodeLock tl((*target)->node(), /*exclusive=*/false);
  if (absl::Status s = CheckNotDeleted(**dir, MID::kLinkAt); !s.ok()) return s;
  if (absl::Status s = CheckNotDeleted(**target, MID::kLinkAt); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckChildDepth(c, *(*dir)->node(), MID::kLinkAt);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<NewControlFD> child =
      (*dir)->impl().Link(**target, req->name);
  if (!child.ok()) return child.status();
  Inode inode = AddControl(c, (*dir)->node()->LookupOrCreateChild(req->name),
                           *std::move(child))
                    .first;
  return Reply(resp, inode);
}

absl::Status FStatFSHandler(Connection& c, absl::Span<const uint8_t> payload,
                            Response* resp) {
  absl::StatusOr<FStatFSReq> req = Decode<FStatFSReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<ControlFD>> fd =
      LookupControl(c, req->fd, MID::kFStatFS);
  if (!fd.ok()) return fd.status();
  ReadGuard g(c, (*fd)->node());
  absl::StatusOr<StatFS> st = (*fd)->impl().StatFs();
  if (!st.ok()) return st.status();
  return Reply(resp, *st);
}

absl::Status FAllocateHandler(Connection& c, absl::Span<const uint8_t> payload,
                              Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kFAllocate); !s.ok()) return s;
  absl::StatusOr<FAllocateReq> req = Decode<FAllocateReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<OpenFD>> fd =
      LookupOpen(c, req->fd, MID::kFAllocate);
  if (!fd.ok()) return fd.status();
  if (!(*fd)->writable()) {
    return Errno(EBADF, "FAllocate: FD not open for writing");
  }
  WriteGuard g(c, (*fd)->control()->node());
  if (absl::Status s =
          (*fd)->impl().Allocate(req->mode, req->offset, req->length);
      !s.ok()) {
    return s;
  }
  return Reply(resp, EmptyMessage{});
}

absl::Status ReadLinkAtHandler(Connection& c,
                               absl::Span<const uint8_t> payload,
                               Response* resp) {
  absl::StatusOr<ReadLinkAtReq> req = Decode<ReadLinkAtReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<ControlFD>> fd =
      LookupControl(c, req->fd, MID::kReadLinkAt);
  if (!fd.ok()) return fd.status();
  if (!(*fd)->IsSymlink()) return Errno(EINVAL, "ReadLinkAt: not a symlink");
  ReadGuard g(c, (*fd)->node());
  if (absl::Status s = CheckNotDeleted(**fd, MID::kReadLinkAt); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> target = (*fd)->impl().ReadLink();
  if (!target.ok()) return target.status();
  ReadLinkAtResp out;
  out.target = *std::move(target);
  return Reply(resp, out);
}

absl::Status FlushHandler(Connection& c, absl::Span<const uint8_t> payload,
                          Response* resp) {
  absl::StatusOr<FlushReq> req = Decode<FlushReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<OpenFD>> fd =
      LookupOpen(c, req->fd, MID::kFlush);
  if (!fd.ok()) return fd.status();
  ReadGuard g(c, (*fd)->control()->node());
  if (absl::Status s = (*fd)->impl().Flush(); !s.ok()) return s;
  return Reply(resp, EmptyMessage{});
}

absl::Status ConnectCommon(Connection& c, MID mid, FDID id, uint32_t sock_type,
                           const uint32_t* creds, Response* resp) {
  absl::StatusOr<std::shared_ptr<ControlFD>> fd = LookupControl(c, id, mid);
  if (!fd.ok()) return fd.status();
  if (!(*fd)->IsSocket()) {
    return Errno(ENOTSOCK, absl::StrCat(MIDName(mid), ": not a socket"));
  }
  ReadGuard g(c, (*fd)->node());
  if (absl::Status s = CheckNotDeleted(**fd, mid); !s.ok()) return s;
  absl::StatusOr<fd::OwnedFd> sock =
      creds == nullptr
          ? (*fd)->impl().Connect(sock_type)
          : (*fd)->impl().ConnectWithCreds(sock_type, creds[0], creds[1]);
  if (!sock.ok()) return sock.status();
  Donate(resp, *std::move(sock));
  return Reply(resp, EmptyMessage{});
}

absl::Status ConnectHandler(Connection& c, absl::Span<const uint8_t> payload,
                            Response* resp) {
  absl::StatusOr<ConnectReq> req = Decode<ConnectReq>(payload);
  if (!req.ok()) return req.status();
  return ConnectCommon(c, MID::kConnect, req->fd, req->sock_type, nullptr,
                       resp);
}

absl::Status ConnectWithCredsHandler(Connection& c,
                                     absl::Span<const uint8_t> payload,
                                     Response* resp) {
  absl::StatusOr<ConnectWithCredsReq> req = Decode<ConnectWithCredsReq>(payload);
  if (!req.ok()) return req.status();
  const uint32_t creds[2] = {req->uid, req->gid};
  return ConnectCommon(c, MID::kConnectWithCreds, req->fd, req->sock_type,
                       creds, resp);
}

absl::Status UnlinkAtHandler(Connection& c, absl::Span<const uint8_t> payload,
                             Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kUnlinkAt); !s.ok()) return s;
  absl::StatusOr<UnlinkAtReq> req = Decode<UnlinkAtReq>(payload);
  if (!req.ok()) return req.status();
  if (absl::Status s = CheckName(req->name, MID::kUnlinkAt); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<ControlFD>> dir =
      LookupControl(c, req->dir_fd, MID::kUnlinkAt);
  if (!dir.ok()) return dir.status();
  if (absl::Status s = CheckDir(**dir, MID::kUnlinkAt); !s.ok()) return s;
  WriteGuard g(c, (*dir)->node());
  NodeLock cl((*dir)->node()->LookupChild(req->name), /*exclusive=*/true);
  if (absl::Status s = CheckNotDeleted(**dir, MID::kUnlinkAt); !s.ok()) {
    return s;
  }
  if (absl::Status s = (*dir)->impl().Unlink(req->name, req->flags); !s.ok()) {
    return s;
  }
  if (std::shared_ptr<Node> child = (*dir)->node()->LookupChild(req->name)) {
    child->MarkDeleted();
  }
  return Reply(resp, EmptyMessage{});
}

// CheckMove checks that node (null: nothing to move) may become a child of
// new_parent: EINVAL if new_parent is node or lies below it (a directory
// into its own subdirectory, as rename(2) says; the host may disagree after
// renames behind our back, but the tree must stay a tree), ENAMETOOLONG if
// a Node of its subtree would lie deeper than max_tree_depth. Requires the
// rename lock held exclusive.
absl::Status CheckMove(const Connection& c, MID mid, Node* node,
                       const Node& new_parent) {
  if (node == nullptr) return absl::OkStatus();
  if (node->IsSelfOrAncestorOf(new_parent)) {
    return Errno(EINVAL, absl::StrCat(MIDName(mid),
                                      ": directory moved below itself"));
  }
  const uint64_t deepest =
      uint64_t{new_parent.depth()} + 1 + node->SubtreeHeight();
  if (deepest > c.options().max_tree_depth) return TooDeep(c, mid);
  return absl::OkStatus();
}

absl::Status RenameCommon(Connection& c, MID mid, const std::string& old_name,
                          const std::string& new_name, FDID old_id,
                          FDID new_id, uint32_t flags, Response* resp) {
  if (absl::Status s = CheckName(old_name, mid); !s.ok()) return s;
  if (absl::Status s = CheckName(new_name, mid); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<ControlFD>> old_dir =
      LookupControl(c, old_id, mid);
  if (!old_dir.ok()) return old_dir.status();
  absl::StatusOr<std::shared_ptr<ControlFD>> new_dir =
      LookupControl(c, new_id, mid);
  if (!new_dir.ok()) return new_dir.status();
  if (absl::Status s = CheckDir(**old_dir, mid); !s.ok()) return s;
  if (absl::Status s = CheckDir(**new_dir, mid); !s.ok()) return s;
  // The global guarantee: no other RPC of any connection runs meanwhile.
  // Nodes that a rename replaces are dropped after the lock.
  std::shared_ptr<Node> renamed, replaced;
  std::unique_lock<std::shared_mutex> g(c.server().rename_mu());
  const std::shared_ptr<Node>& old_node = (*old_dir)->node();
  const std::shared_ptr<Node>& new_node = (*new_dir)->node();
  if (absl::Status s = CheckNotDeleted(**old_dir, mid); !s.ok()) return s;
  if (absl::Status s = CheckNotDeleted(**new_dir, mid); !s.ok()) return s;
  if (old_node == new_node && old_name == new_name) {
    return Reply(resp, EmptyMessage{});
  }
  // The Nodes the rename moves. Nothing adds a child while the lock is held
  // exclusive, so these are the ones to move after the host rename too.
  const bool exchange = (flags & RENAME_EXCHANGE) != 0;
  renamed = old_node->LookupChild(old_name);
  replaced = new_node->LookupChild(new_name);
  if (absl::Status s = CheckMove(c, mid, renamed.get(), *new_node); !s.ok()) {
    return s;
  }
  if (exchange) {
    if (absl::Status s = CheckMove(c, mid, replaced.get(), *old_node);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s =
          (*old_dir)->impl().RenameAt(old_name, **new_dir, new_name, flags);
      !s.ok()) {
    return s;
  }
  if (exchange) {
    if (renamed != nullptr) renamed->Move(new_node, new_name);
    if (replaced != nullptr) replaced->Move(old_node, old_name);
  } else {
    if (replaced != nullptr) replaced->MarkDeleted();
    if (renamed != nullptr) renamed->Move(new_node, new_name);
  }
  return Reply(resp, EmptyMessage{});
}

absl::Status RenameAtHandler(Connection& c, absl::Span<const uint8_t> payload,
                             Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kRenameAt); !s.ok()) return s;
  absl::StatusOr<RenameAtReq> req = Decode<RenameAtReq>(payload);
  if (!req.ok()) return req.status();
  return RenameCommon(c, MID::kRenameAt, req->old_name, req->new_name,
                      req->old_dir, req->new_dir, 0, resp);
}

absl::Status RenameAt2Handler(Connection& c, absl::Span<const uint8_t> payload,
                              Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kRenameAt2); !s.ok()) return s;
  absl::StatusOr<RenameAt2Req> req = Decode<RenameAt2Req>(payload);
  if (!req.ok()) return req.status();
  return RenameCommon(c, MID::kRenameAt2, req->old_name, req->new_name,
                      req->old_dir, req->new_dir, req->flags, resp);
}

absl::Status Getdents64Handler(Connection& c,
                               absl::Span<const uint8_t> payload,
                               Response* resp) {
  absl::StatusOr<Getdents64Req> req = Decode<Getdents64Req>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<OpenFD>> fd =
      LookupOpen(c, req->dir_fd, MID::kGetdents64);
  if (!fd.ok()) return fd.status();
  const ControlFD& control = *(*fd)->control();
  if (absl::Status s = CheckDir(control, MID::kGetdents64); !s.ok()) return s;
  bool seek0 = req->count < 0;
  // -INT32_MIN does not fit an int32; as in Go it becomes 2^31 (WIRE.md §12
  // Q10), and the oversized answer is then refused with EIO.
  uint32_t count = seek0 ? static_cast<uint32_t>(-int64_t{req->count})
                         : static_cast<uint32_t>(req->count);
  ReadGuard g(c, control.node());
  if (absl::Status s = CheckNotDeleted(control, MID::kGetdents64); !s.ok()) {
    return s;
  }
  Getdents64Resp out;
  if (absl::Status s = (*fd)->impl().Getdents(count, seek0, &out.dirents);
      !s.ok()) {
    return s;
  }
  return Reply(resp, out);
}

absl::Status FGetXattrHandler(Connection& c, absl::Span<const uint8_t> payload,
                              Response* resp) {
  absl::StatusOr<FGetXattrReq> req = Decode<FGetXattrReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<ControlFD>> fd =
      LookupControl(c, req->fd, MID::kFGetXattr);
  if (!fd.ok()) return fd.status();
  ReadGuard g(c, (*fd)->node());
  if (absl::Status s = CheckNotDeleted(**fd, MID::kFGetXattr); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> v = (*fd)->impl().GetXattr(req->name, req->buf_size);
  if (!v.ok()) return v.status();
  FGetXattrResp out;
  out.value = *std::move(v);
  return Reply(resp, out);
}

absl::Status FSetXattrHandler(Connection& c, absl::Span<const uint8_t> payload,
                              Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kFSetXattr); !s.ok()) return s;
  absl::StatusOr<FSetXattrReq> req = Decode<FSetXattrReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<ControlFD>> fd =
      LookupControl(c, req->fd, MID::kFSetXattr);
  if (!fd.ok()) return fd.status();
  WriteGuard g(c, (*fd)->node());
  if (absl::Status s = CheckNotDeleted(**fd, MID::kFSetXattr); !s.ok()) {
    return s;
  }
  if (absl::Status s =
          (*fd)->impl().SetXattr(req->name, req->value, req->flags);
      !s.ok()) {
    return s;
  }
  return Reply(resp, EmptyMessage{});
}

absl::Status FListXattrHandler(Connection& c,
                               absl::Span<const uint8_t> payload,
                               Response* resp) {
  absl::StatusOr<FListXattrReq> req = Decode<FListXattrReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<ControlFD>> fd =
      LookupControl(c, req->fd, MID::kFListXattr);
  if (!fd.ok()) return fd.status();
  ReadGuard g(c, (*fd)->node());
  if (absl::Status s = CheckNotDeleted(**fd, MID::kFListXattr); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<std::string>> names =
      (*fd)->impl().ListXattr(req->size);
  if (!names.ok()) return names.status();
  FListXattrResp out;
  out.names = *std::move(names);
  return Reply(resp, out);
}

absl::Status FRemoveXattrHandler(Connection& c,
                                 absl::Span<const uint8_t> payload,
                                 Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kFRemoveXattr); !s.ok()) return s;
  absl::StatusOr<FRemoveXattrReq> req = Decode<FRemoveXattrReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<ControlFD>> fd =
      LookupControl(c, req->fd, MID::kFRemoveXattr);
  if (!fd.ok()) return fd.status();
  WriteGuard g(c, (*fd)->node());
  if (absl::Status s = CheckNotDeleted(**fd, MID::kFRemoveXattr); !s.ok()) {
    return s;
  }
  if (absl::Status s = (*fd)->impl().RemoveXattr(req->name); !s.ok()) return s;
  return Reply(resp, EmptyMessage{});
}

absl::Status BindAtHandler(Connection& c, absl::Span<const uint8_t> payload,
                           Response* resp) {
  if (absl::Status s = ReadOnly(c, MID::kBindAt); !s.ok()) return s;
  absl::StatusOr<BindAtReq> req = Decode<BindAtReq>(payload);
  if (!req.ok()) return req.status();
  if (absl::Status s = CheckName(req->name, MID::kBindAt); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<ControlFD>> dir =
      LookupControl(c, req->common.dir_fd, MID::kBindAt);
  if (!dir.ok()) return dir.status();
  if (absl::Status s = CheckDir(**dir, MID::kBindAt); !s.ok()) return s;
  WriteGuard g(c, (*dir)->node());
  if (absl::Status s = CheckNotDeleted(**dir, MID::kBindAt); !s.ok()) return s;
  if (absl::Status s = CheckChildDepth(c, *(*dir)->node(), MID::kBindAt);
      !s.ok()) {
    return s;
  }
  CreateArgs args{req->name, req->common.mode, req->common.uid,
                  req->common.gid};
  absl::StatusOr<NewBoundSocket> b = (*dir)->impl().BindAt(args, req->sock_type);
  if (!b.ok()) return b.status();
  BindAtResp out;
  auto [inode, cfd] = AddControl(c, (*dir)->node()->LookupOrCreateChild(req->name),
                                 std::move(b->control));
  out.child = inode;
  out.bound_socket_fd =
      c.Insert(std::make_shared<BoundSocketFD>(cfd, std::move(b->impl)));
  Donate(resp, std::move(b->donated));
  return Reply(resp, out);
}

absl::Status ListenHandler(Connection& c, absl::Span<const uint8_t> payload,
                           Response* resp) {
  absl::StatusOr<ListenReq> req = Decode<ListenReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<BoundSocketFD>> fd =
      LookupBound(c, req->fd, MID::kListen);
  if (!fd.ok()) return fd.status();
  ReadGuard g(c, (*fd)->control()->node());
  if (absl::Status s = CheckNotDeleted(*(*fd)->control(), MID::kListen);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = (*fd)->impl().Listen(req->backlog); !s.ok()) return s;
  return Reply(resp, EmptyMessage{});
}

absl::Status AcceptHandler(Connection& c, absl::Span<const uint8_t> payload,
                           Response* resp) {
  absl::StatusOr<AcceptReq> req = Decode<AcceptReq>(payload);
  if (!req.ok()) return req.status();
  absl::StatusOr<std::shared_ptr<BoundSocketFD>> fd =
      LookupBound(c, req->fd, MID::kAccept);
  if (!fd.ok()) return fd.status();
  ReadGuard g(c, (*fd)->control()->node());
  if (absl::Status s = CheckNotDeleted(*(*fd)->control(), MID::kAccept);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<AcceptedSocket> a = (*fd)->impl().Accept();
  if (!a.ok()) return a.status();
  Donate(resp, std::move(a->fd));
  AcceptResp out;
  out.peer_addr = std::move(a->peer_addr);
  return Reply(resp, out);
}

using Handler = absl::Status (*)(Connection&, absl::Span<const uint8_t>,
                                 Response*);

// kHandlers is indexed by MID. Error (0) has none.
constexpr std::array<Handler, kNumMIDs> kHandlers = {
    nullptr,                  // 0 Error
    MountHandler,             // 1
    ChannelHandler,           // 2
    FStatHandler,             // 3
    SetStatHandler,           // 4
    WalkHandler,              // 5
    WalkStatHandler,          // 6
    OpenAtHandler,            // 7
    OpenCreateAtHandler,      // 8
    CloseHandler,             // 9
    FSyncHandler,             // 10
    PWriteHandler,            // 11
    PReadHandler,             // 12
    MkdirAtHandler,           // 13
    MknodAtHandler,           // 14
    SymlinkAtHandler,         // 15
    LinkAtHandler,            // 16
    FStatFSHandler,           // 17
    FAllocateHandler,         // 18
    ReadLinkAtHandler,        // 19
    FlushHandler,             // 20
    ConnectHandler,           // 21
    UnlinkAtHandler,          // 22
    RenameAtHandler,          // 23
    Getdents64Handler,        // 24
    FGetXattrHandler,         // 25
    FSetXattrHandler,         // 26
    FListXattrHandler,        // 27
    FRemoveXattrHandler,      // 28
    BindAtHandler,            // 29
    ListenHandler,            // 30
    AcceptHandler,            // 31
    ConnectWithCredsHandler,  // 32
    RenameAt2Handler,         // 33
};

}  // namespace

bool HasHandler(uint16_t mid) {
  return mid < kHandlers.size() && kHandlers[mid] != nullptr;
}

absl::Status Handle(Connection& conn, MID mid,
                    absl::Span<const uint8_t> payload, Response* resp) {
  return kHandlers[static_cast<uint16_t>(mid)](conn, payload, resp);
}

}  // namespace gvisor::lisafs::internal
