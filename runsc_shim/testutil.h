// Test helpers for runsc_shim: child processes (the real devgofer, shim and
// devctl binaries, found through runfiles), readiness polling, process
// statistics read from /proc, and a client of the shim's gRPC API.

#ifndef GVISOR_RUNSC_SHIM_TESTUTIL_H_
#define GVISOR_RUNSC_SHIM_TESTUTIL_H_

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/shim.grpc.pb.h"
#include "testing/fd_count.h"

namespace gvisor::shim::testutil {

// Runfile returns the path of a file in this workspace's runfiles, e.g.
// Runfile("tools/devgofer/devgofer").
absl::StatusOr<std::string> Runfile(const std::string& path);

// TempSocketPath returns a fresh path under /tmp short enough for
// sun_path: /tmp/<tag>.<pid>.<n>.sock. Nothing is created.
std::string TempSocketPath(const std::string& tag);

// WaitFor polls cond until it is true or timeout passes, and reports
// whether it became true. It is for readiness and state changes that have
// no event to wait on; the pause between polls grows from 1 ms to 50 ms.
bool WaitFor(const std::function<bool()>& cond,
             absl::Duration timeout = absl::Seconds(20));

// CanConnect reports whether a SOCK_STREAM connect to path succeeds now.
bool CanConnect(const std::string& path);

// Child is a child process. The destructor kills it (SIGKILL) and reaps it
// if it is still running.
class Child {
 public:
  // Start runs argv (argv[0] is the path) with extra environment entries
  // ("NAME=value") added. stdout and stderr go to files whose contents
  // Output() returns.
  static absl::StatusOr<std::unique_ptr<Child>> Start(
      const std::vector<std::string>& argv,
      const std::vector<std::string>& env = {}, const std::string& cwd = "");
  // StartServer runs a server that takes --ready_fd (devgofer, shim): it
  // adds "--ready_fd=3", gives the child the write end of a pipe as FD 3,
  // and returns once the child wrote "ready\n" there. UNAVAILABLE, with
  // the child's stderr, if it closed the pipe without; DEADLINE_EXCEEDED
  // after timeout.
  static absl::StatusOr<std::unique_ptr<Child>> StartServer(
      std::vector<std::string> argv, const std::vector<std::string>& env = {},
      absl::Duration timeout = absl::Seconds(20));
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Signal sends sig to the child.
  void Signal(int sig);
  // Stop sends SIGSTOP and returns once every thread of the child has
  // stopped (waitpid reports the stop), so that nothing the child had not
  // done yet happens before Continue. false if the child exited instead.
  // kill(2) alone returns before the stop takes effect: a thread of the
  // child can still answer a request in that window.
  bool Stop();
  // Continue sends SIGCONT.
  void Continue() { Signal(SIGCONT); }
  // Running reports whether the child has not exited yet (no wait).
  bool Running();
  // Wait waits up to timeout for the child to exit and returns its wait
  // status; DEADLINE_EXCEEDED if it is still running.
  absl::StatusOr<int> Wait(absl::Duration timeout = absl::Seconds(20));
  // Output returns what the child has written so far to stdout and stderr.
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  static constexpr int kReadyFd = 3;

  Child() = default;
  // Spawn forks and execs argv in cwd (unless empty); ready_w (unless -1)
  // becomes the child's kReadyFd.
  static absl::StatusOr<std::unique_ptr<Child>> Spawn(
      const std::vector<std::string>& argv, const std::vector<std::string>& env,
      int ready_w, const std::string& cwd = "");

  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string out_path_;
  std::string err_path_;
};

// Result is what Run returns: the exit code (or 128 + signal) and output.
struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Run runs argv to completion (at most timeout) and returns its result. cwd,
// unless empty, is its working directory.
absl::StatusOr<Result> Run(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env = {},
                           absl::Duration timeout = absl::Seconds(60),
                           const std::string& cwd = "");

// DevGofer is a devgofer child process listening on a fresh socket path.
class DevGofer {
 public:
  // Start runs devgofer --root=root --listen=<fresh path> plus flags and
  // waits until it accepts connections.
  static absl::StatusOr<std::unique_ptr<DevGofer>> Start(
      const std::string& root, const std::vector<std::string>& flags = {});
  // The destructor kills the gofer and removes its socket file.
  ~DevGofer();

  const std::string& socket() const { return socket_; }
  Child& child() { return *child_; }

 private:
  DevGofer() = default;
  std::string socket_;
  std::unique_ptr<Child> child_;
};

// FakePeer is a server on a fresh socket path that is not a LISAFS gofer,
// for tests of what an attach to the wrong socket says. For every
// connection it accepts it writes `first` at once (if not empty), then
// closes the connection (hang_up) or keeps it open and silent until the
// FakePeer is destroyed.
class FakePeer {
 public:
  static absl::StatusOr<std::unique_ptr<FakePeer>> Start(std::string first,
                                                         bool hang_up);
  // The destructor stops accepting, closes every connection, joins its
  // thread and removes the socket file.
  ~FakePeer();
  FakePeer(const FakePeer&) = delete;
  FakePeer& operator=(const FakePeer&) = delete;

  const std::string& socket() const { return path_; }
  // accepted returns how many connections it has accepted so far.
  size_t accepted() const { return accepted_.load(); }

 private:
  FakePeer(std::string first, bool hang_up, std::string path,
           unet::ServerSocket listener);
  void AcceptLoop();

  const std::string first_;
  const bool hang_up_;
  const std::string path_;
  unet::ServerSocket listener_;
  std::atomic<size_t> accepted_{0};
  std::vector<unet::Socket> kept_;  // the accept thread's only
  std::thread thread_;
};

// ThreadCount returns the number of threads of process pid (0: this one).
using ::gvisor::testing::ThreadCount;
// RssKiB returns the resident set size of process pid (0: this one) in KiB.
int64_t RssKiB(pid_t pid = 0);
// PeakRssKiB returns the most RSS process pid (0: this one) ever had, in
// KiB (VmHWM): what an allocation that came and went left behind.
int64_t PeakRssKiB(pid_t pid = 0);
// OpenFdCount returns the number of open FDs of process pid (0: this one).
using ::gvisor::testing::OpenFdCount;

// AcceptedConnections returns how many connected sockets accepted on the
// listening socket at path are open (in any process of this network
// namespace), from /proc/net/unix: a gofer's live connections.
int AcceptedConnections(const std::string& path);

// ShimClient calls the shim's DevGoferShim service through the generated
// stub, one wrapper per RPC; each call has a deadline (timeout, 20 s unless
// given). Test fixtures inherit it so that their tests call Attach(...)
// and the rest directly; Connect must come first.
class ShimClient {
 public:
  using Container = ::gvisor::devutil::shim::v1::Container;
  using DeviceInfo = ::gvisor::devutil::shim::v1::DeviceInfo;
  using AccessMode = ::gvisor::devutil::shim::v1::AccessMode;
  using Stub = ::gvisor::devutil::shim::v1::DevGoferShim::Stub;

  // Connect makes a channel to target ("unix:/path") and a stub on it.
  void Connect(const std::string& target);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  Stub* stub() const { return stub_.get(); }

  // Deadline sets ctx's deadline d from now.
  static void Deadline(grpc::ClientContext* ctx,
                       absl::Duration d = absl::Seconds(20));

  // Each call copies the reply to *out unless out is null.
  grpc::Status Attach(const std::string& name, const std::string& sock,
                      Container* out = nullptr,
                      absl::Duration timeout = absl::Seconds(20));
  grpc::Status Reattach(const std::string& name, const std::string& sock,
                        Container* out = nullptr);
  grpc::Status Detach(const std::string& name);
  grpc::Status Get(const std::string& name, Container* out);
  grpc::Status List(::gvisor::devutil::shim::v1::ListContainersResponse* out);
  // Devices lists the container's device names.
  grpc::Status Devices(const std::string& name,
                       std::vector<std::string>* out = nullptr,
                       absl::Duration timeout = absl::Seconds(20));
  // DevicesLong lists the container's devices with details (a long
  // listing: ListDevicesRequest.details).
  grpc::Status DevicesLong(
      const std::string& name,
      ::gvisor::devutil::shim::v1::ListDevicesResponse* out = nullptr,
      absl::Duration timeout = absl::Seconds(20));
  // Probe stats the device (ProbeDeviceRequest.open unset); ProbeOpen
  // opens it with mode.
  grpc::Status Probe(const std::string& name, const std::string& path,
                     AccessMode mode = ::gvisor::devutil::shim::v1::READ,
                     DeviceInfo* out = nullptr,
                     absl::Duration timeout = absl::Seconds(20));
  grpc::Status ProbeOpen(const std::string& name, const std::string& path,
                         AccessMode mode = ::gvisor::devutil::shim::v1::READ,
                         DeviceInfo* out = nullptr,
                         absl::Duration timeout = absl::Seconds(20));
  // StateOf returns the container's state (STATE_UNSPECIFIED if Get
  // fails).
  Container::State StateOf(const std::string& name);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
};

// Reflect makes one grpc.reflection.v1alpha ServerReflectionInfo call on
// channel with the encoded ServerReflectionRequest request and returns the
// encoded response (no reflection .proto ships with Debian, so callers
// hand-encode). Fails if the call does not complete within 20 s.
absl::StatusOr<std::string> Reflect(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& request);

}  // namespace gvisor::shim::testutil

#endif  // GVISOR_RUNSC_SHIM_TESTUTIL_H_
