// GoferProcess: a devgofer child process for tests and benchmarks that
// need the real binary under real limits. It serves a directory on a fresh
// socket, can be started with a lowered RLIMIT_NOFILE or as another user
// (so that RLIMIT_NPROC applies to it), reports when it serves through
// --ready_fd, and reads its threads, FDs and memory from /proc.

#ifndef GVISOR_TOOLS_DEVGOFER_GOFER_PROCESS_H_
#define GVISOR_TOOLS_DEVGOFER_GOFER_PROCESS_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pkg/fd/fd.h"

namespace gvisor::devgofer {

// GoferSpawn says how to start the gofer.
struct GoferSpawn {
  // binary is the devgofer to run; root the directory it serves.
  std::string binary;
  std::string root;
  // flags are added after --root, --listen and --ready_fd.
  std::vector<std::string> flags;
  // nofile, if non-zero, is the RLIMIT_NOFILE (soft and hard) it starts
  // with (devgofer raises its soft limit to the hard one).
  rlim_t nofile = 0;
  // uid, if >= 0, is the uid and gid it runs as, with no supplementary
  // groups (the caller must be root). A copy of the binary is run from a
  // directory that uid can reach, and the socket lives in one it owns.
  int uid = -1;
};

class GoferProcess {
 public:
  // Start runs the gofer and returns once it wrote "ready" to its
  // --ready_fd. UNAVAILABLE, with its log, if it exited first.
  static absl::StatusOr<std::unique_ptr<GoferProcess>> Start(GoferSpawn spawn);

  // The destructor kills the gofer (SIGKILL), reaps it and removes what
  // Start made.
  ~GoferProcess();

  GoferProcess(const GoferProcess&) = delete;
  GoferProcess& operator=(const GoferProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& socket_path() const { return socket_path_; }

  // Connect returns a new connection to the gofer (SOCK_STREAM,
  // close-on-exec).
  absl::StatusOr<fd::OwnedFd> Connect() const;

  // Running reports whether the gofer has not exited (no wait).
  bool Running();

  // Terminate sends SIGTERM and returns the exit code (128 + signal if it
  // was killed).
  int Terminate();

  // Log returns what the gofer has written to stderr so far.
  std::string Log() const;

  // Threads, OpenFds and RssKiB read /proc/<pid> (-1 if unreadable).
  int Threads() const;
  int OpenFds() const;
  long RssKiB() const;

 private:
  GoferProcess() = default;

  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string dir_;
  std::string socket_path_;
  std::string log_path_;
};

}  // namespace gvisor::devgofer

#endif  // GVISOR_TOOLS_DEVGOFER_GOFER_PROCESS_H_
