#include "pkg/lisafs/server_fd.h"

#include <fcntl.h>

#include "pkg/lisafs/server.h"

namespace gvisor::lisafs {

ControlFD::ControlFD(Connection* conn, std::shared_ptr<Node> node,
                     uint32_t file_type, std::unique_ptr<ControlFDImpl> impl)
    : FD(Kind::kControl),
      conn_(conn),
      node_(std::move(node)),
      file_type_(file_type & S_IFMT),
      impl_(std::move(impl)) {
  impl_->fd_ = this;
}

// impl_ (and its host FDs) goes first, then the Node reference.
ControlFD::~ControlFD() = default;

bool ControlFD::IsMountPoint() const { return node_ == conn_->mount_node(); }

absl::StatusOr<std::vector<std::string>> ControlFD::PathFromMount() const {
  std::shared_ptr<Node> mount = conn_->mount_node();
  return node_->PathFrom(mount.get());
}

OpenFD::~OpenFD() { impl_.reset(); }

bool OpenFD::readable() const {
  uint32_t acc = flags_ & O_ACCMODE;
  return acc == O_RDONLY || acc == O_RDWR;
}

bool OpenFD::writable() const {
  uint32_t acc = flags_ & O_ACCMODE;
  return acc == O_WRONLY || acc == O_RDWR;
}

BoundSocketFD::~BoundSocketFD() { impl_.reset(); }

}  // namespace gvisor::lisafs
