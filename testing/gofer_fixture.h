// Hermetic gofer fixture: a LISAFS server (lisafs::Server with the fsgofer
// backend) over a temporary tree it builds, reached through real AF_UNIX
// socket pairs. Any cc_test can get a connected client socket with one call:
//
//   absl::StatusOr<testing::Gofer> g = testing::StartGofer();
//   // g->client is the client end; g->fixture owns the server and the tree.
//
// The tree, under the fixture's root():
//
//   file           regular, "hello\n", 0644
//   empty          regular, empty, 0600
//   dir/           0755
//   dir/file2      regular, "in dir\n"
//   dir/nested/deep  regular, "deep\n"
//   dir/up  ->  ../file           (symlink inside the tree)
//   symlink  ->  file             (symlink inside the tree)
//   escape  ->  <outside>         (absolute symlink to a file outside)
//   escape_dir  ->  <outside dir> (absolute symlink to a directory outside)
//   fifo           FIFO, 0644
//   socket         unix socket (SOCK_STREAM) listened on by the fixture
//   dev/           0755; with DeviceSource::kMknod it holds null and zero
//                  (below), otherwise it is empty
//
// ConnectDevices() serves a directory whose entries "null" and "zero" are
// the character devices 1:3 and 1:5, opening read-write, and that holds
// nothing else (but for kHostDev below). The fixture provides them the
// first way that works (device_source()):
//
//   kMknod      mknod of dev/null and dev/zero in the tree (root with
//               CAP_MKNOD, e.g. `bazel test` of a no-sandbox target as root).
//   kBindMount  mknod is refused but a mount namespace of the fixture's own
//               can be made, as inside Bazel's default sandbox
//               (linux-sandbox: "root" in a user namespace, CAP_SYS_ADMIN
//               over its mount namespace, no CAP_MKNOD): a directory outside
//               the tree holds two empty files on which the host's
//               /dev/null and /dev/zero are bind-mounted read-only (the
//               devices still open for writing: a read-only mount refuses
//               changes to the nodes, chmod and utimes, not I/O on them).
//               The mounts are made in a mount namespace private to the
//               fixture, every mount in it made private first: with
//               CAP_SYS_ADMIN, unshare(CLONE_NEWNS) on a thread of its own;
//               without (a user who is not root), a forked child's new user
//               and mount namespaces, where unprivileged user namespaces are
//               allowed. An FD on the namespace keeps it alive, and the
//               server reaches the mounts through an FD on the directory
//               opened in it: devices_dir() is "/proc/<pid>/fd/<N>/dev".
//               The test's own mount namespace, and the host's, see no
//               mount at all; the namespace and its mounts go away with the
//               fixture.
//   kHostDev    neither works (no CAP_SYS_ADMIN and no user namespaces):
//               ConnectDevices serves the host's /dev itself, read-only
//               (EROFS on opens for writing and on every change; a donated
//               mount FD gives no more than the process's own permissions
//               on /dev).
//
// No way lets a client create, remove or change anything in the host's
// /dev. devices_note() says which way it is, for test logs.
//
// The backend is configured as runsc's /dev gofer with everything allowed:
// character devices passed through, FIFOs and host sockets openable,
// BindAt allowed. Destroying the fixture shuts the server down, waits for
// every connection, and removes the tree.

#ifndef GVISOR_TESTING_GOFER_FIXTURE_H_
#define GVISOR_TESTING_GOFER_FIXTURE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "pkg/fd/fd.h"
#include "pkg/fsgofer/fsgofer.h"
#include "pkg/lisafs/server.h"

namespace gvisor::testing {

// RemoveTree removes path and everything under it (best effort), making
// its directories writable first; symbolic links are not followed.
void RemoveTree(const std::string& path);

// GoferOptions choose how the fixture's connections are served.
struct GoferOptions {
  // donate_mount_fd donates a host FD on the mount point with Mount.
  bool donate_mount_fd = false;
  // readonly makes every connection read-only (EROFS on mutations).
  bool readonly = false;
};

// DeviceSource is how ConnectDevices provides "null" and "zero" (above).
enum class DeviceSource { kMknod, kBindMount, kHostDev };

// GoferFixture owns the server, its connection threads and the tree.
class GoferFixture {
 public:
  // Create builds the tree and starts a server with no connection yet.
  static absl::StatusOr<std::unique_ptr<GoferFixture>> Create(
      GoferOptions options = {});
  ~GoferFixture();

  GoferFixture(const GoferFixture&) = delete;
  GoferFixture& operator=(const GoferFixture&) = delete;

  // Connect starts a new connection on root() and returns the client end
  // of its socket pair (SOCK_STREAM, close-on-exec).
  absl::StatusOr<fd::OwnedFd> Connect();

  // ConnectDevices starts a connection on devices_dir() (whose entries
  // "null" and "zero" are the character devices 1:3 and 1:5; read-write
  // unless writable_devices() is false or options().readonly) and returns
  // its client end.
  absl::StatusOr<fd::OwnedFd> ConnectDevices();

  // root is the host path of the tree (the mount path of Connect).
  const std::string& root() const { return root_; }
  // outside is the host path of the file "escape" points to; outside_dir
  // the directory holding it. Both are outside root().
  const std::string& outside() const { return outside_; }
  const std::string& outside_dir() const { return outside_dir_; }
  // devices_dir is the mount path of ConnectDevices: root()/dev, the
  // "/proc/<pid>/fd/<N>/dev" path of a directory in the fixture's own mount
  // namespace (valid in this process and, while it lives, in its children;
  // resolving it with realpath(3), as devgofer does with --root, loses the
  // mounts), or "/dev".
  const std::string& devices_dir() const { return devices_dir_; }
  // device_source says how ConnectDevices provides the devices.
  DeviceSource device_source() const { return device_source_; }
  // real_device_nodes reports whether root()/dev holds device nodes the
  // fixture made (DeviceSource::kMknod), so that Connect() reaches them.
  bool real_device_nodes() const {
    return device_source_ == DeviceSource::kMknod;
  }
  // writable_devices reports whether ConnectDevices serves the devices
  // read-write (everything but DeviceSource::kHostDev).
  bool writable_devices() const {
    return device_source_ != DeviceSource::kHostDev;
  }
  // devices_note says how the devices are provided, for test logs.
  const std::string& devices_note() const { return devices_note_; }
  // socket_listener is the listening socket bound at root()/socket.
  int socket_listener() const { return listener_.get(); }

  const GoferOptions& options() const { return options_; }
  lisafs::Server& server() { return *server_; }

 private:
  GoferFixture() = default;
  absl::Status Build();
  absl::Status BindHostDevices();
  absl::StatusOr<fd::OwnedFd> Start(const std::string& mount_path,
                                    bool readonly);

  GoferOptions options_;
  std::string base_;
  std::string root_;
  std::string outside_dir_;
  std::string outside_;
  std::string devices_dir_;
  DeviceSource device_source_ = DeviceSource::kHostDev;
  std::string devices_note_;
  // With kBindMount: the private mount namespace and the parent of the
  // devices directory, opened in it.
  fd::OwnedFd devices_ns_;
  fd::OwnedFd devices_dir_fd_;
  fd::OwnedFd listener_;
  std::unique_ptr<lisafs::Server> server_;
};

// Gofer is a fixture with one connection's client end.
struct Gofer {
  std::unique_ptr<GoferFixture> fixture;
  fd::OwnedFd client;
};

// StartGofer creates a fixture and connects once to its tree.
absl::StatusOr<Gofer> StartGofer(GoferOptions options = {});

// FsgoferOptions returns the backend options the fixture serves with.
fsgofer::Options FsgoferOptions(const GoferOptions& options);

}  // namespace gvisor::testing

#endif  // GVISOR_TESTING_GOFER_FIXTURE_H_
