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
//   dev/null, dev/zero   character devices 1:3 and 1:5, made with mknod when
//                  the process may (root with CAP_MKNOD on a filesystem that
//                  allows devices)
//
// When the device nodes cannot be made, dev/ holds no devices and
// ConnectDevices() serves the host's /dev instead, read-only;
// devices_note() says which it is. Either way ConnectDevices() gives a
// connection whose mount point holds "null" and "zero".
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
  // "null" and "zero" are character devices) and returns its client end.
  absl::StatusOr<fd::OwnedFd> ConnectDevices();

  // root is the host path of the tree (the mount path of Connect).
  const std::string& root() const { return root_; }
  // outside is the host path of the file "escape" points to; outside_dir
  // the directory holding it. Both are outside root().
  const std::string& outside() const { return outside_; }
  const std::string& outside_dir() const { return outside_dir_; }
  // devices_dir is the mount path of ConnectDevices.
  const std::string& devices_dir() const { return devices_dir_; }
  // real_device_nodes reports whether root()/dev holds device nodes the
  // fixture made (else devices_dir() is the host's /dev).
  bool real_device_nodes() const { return real_device_nodes_; }
  // devices_note says how the devices are provided, for test logs.
  const std::string& devices_note() const { return devices_note_; }
  // socket_listener is the listening socket bound at root()/socket.
  int socket_listener() const { return listener_.get(); }

  const GoferOptions& options() const { return options_; }
  lisafs::Server& server() { return *server_; }

 private:
  GoferFixture() = default;
  absl::Status Build();
  absl::StatusOr<fd::OwnedFd> Start(const std::string& mount_path,
                                    bool readonly);

  GoferOptions options_;
  std::string base_;
  std::string root_;
  std::string outside_dir_;
  std::string outside_;
  std::string devices_dir_;
  bool real_device_nodes_ = false;
  std::string devices_note_;
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
