// Package lisafs, server side: the objects an FDID names (pkg/lisafs/README.md
// §7.3).
//
// A connection's FD table maps FDIDs to FD objects of three kinds. A
// ControlFD is a position in the file tree (it holds a Node); an OpenFD is an
// open file made from a ControlFD (and holds it); a BoundSocketFD is a bound
// unix socket made by BindAt (and holds its socket file's ControlFD). Each
// wraps the backend's implementation object (server_impl.h), which is
// destroyed with it. FD objects are shared_ptr-held: the table holds one
// reference, and a handler may hold more while it works.

#ifndef GVISOR_PKG_LISAFS_SERVER_FD_H_
#define GVISOR_PKG_LISAFS_SERVER_FD_H_

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pkg/lisafs/node.h"
#include "pkg/lisafs/server_impl.h"
#include "pkg/lisafs/wire.h"

namespace gvisor::lisafs {

class Connection;

// FD is the common base of the three kinds.
class FD {
 public:
  // Kind is what an FDID names.
  enum class Kind { kControl, kOpen, kBoundSocket };

  virtual ~FD() = default;
  FD(const FD&) = delete;
  FD& operator=(const FD&) = delete;

  Kind kind() const { return kind_; }

 protected:
  explicit FD(Kind kind) : kind_(kind) {}

 private:
  const Kind kind_;
};

// ControlFD is a handle on one Node, backed by a ControlFDImpl.
class ControlFD final : public FD {
 public:
  // Takes ownership of impl. file_type holds the S_IFMT bits of the file.
  ControlFD(Connection* conn, std::shared_ptr<Node> node, uint32_t file_type,
            std::unique_ptr<ControlFDImpl> impl);
  ~ControlFD() override;

  Connection& connection() const { return *conn_; }
  const std::shared_ptr<Node>& node() const { return node_; }
  ControlFDImpl& impl() const { return *impl_; }

  // file_type returns the S_IFMT bits of the file as it was when the FD was
  // made (a file's type cannot change under a name we hold).
  uint32_t file_type() const { return file_type_; }
  bool IsDir() const { return file_type_ == S_IFDIR; }
  bool IsSymlink() const { return file_type_ == S_IFLNK; }
  bool IsSocket() const { return file_type_ == S_IFSOCK; }
  bool IsRegular() const { return file_type_ == S_IFREG; }

  // IsMountPoint reports whether the FD is on the connection's mount point.
  bool IsMountPoint() const;

  // PathFromMount returns the names from the connection's mount point down
  // to this file (empty for the mount point). Requires the rename lock.
  // Returns EXDEV if the file is no longer below the mount point.
  absl::StatusOr<std::vector<std::string>> PathFromMount() const;

  // FilePath returns the file's absolute host path as the tree knows it
  // (Node::FilePath). Requires the rename lock.
  absl::StatusOr<std::string> FilePath() const { return node_->FilePath(); }

 private:
  Connection* const conn_;
  const std::shared_ptr<Node> node_;
  const uint32_t file_type_;
  const std::unique_ptr<ControlFDImpl> impl_;
};

// OpenFD is an open file made by OpenAt or OpenCreateAt. It keeps its
// ControlFD alive.
class OpenFD final : public FD {
 public:
  // flags are the open flags the client asked for (O_ACCMODE|O_TRUNC).
  OpenFD(std::shared_ptr<ControlFD> control, uint32_t flags,
         std::unique_ptr<OpenFDImpl> impl)
      : FD(Kind::kOpen),
        control_(std::move(control)),
        flags_(flags),
        impl_(std::move(impl)) {}
  ~OpenFD() override;

  const std::shared_ptr<ControlFD>& control() const { return control_; }
  OpenFDImpl& impl() const { return *impl_; }
  uint32_t flags() const { return flags_; }
  bool readable() const;
  bool writable() const;

 private:
  // impl_ is declared after control_ so that it is destroyed first.
  const std::shared_ptr<ControlFD> control_;
  const uint32_t flags_;
  std::unique_ptr<OpenFDImpl> impl_;
};

// BoundSocketFD is a bound unix socket made by BindAt. It keeps the socket
// file's ControlFD alive.
class BoundSocketFD final : public FD {
 public:
  BoundSocketFD(std::shared_ptr<ControlFD> control,
                std::unique_ptr<BoundSocketFDImpl> impl)
      : FD(Kind::kBoundSocket),
        control_(std::move(control)),
        impl_(std::move(impl)) {}
  ~BoundSocketFD() override;

  const std::shared_ptr<ControlFD>& control() const { return control_; }
  BoundSocketFDImpl& impl() const { return *impl_; }

 private:
  const std::shared_ptr<ControlFD> control_;
  std::unique_ptr<BoundSocketFDImpl> impl_;
};

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_SERVER_FD_H_
