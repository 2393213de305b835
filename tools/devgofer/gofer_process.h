// Devgofer child processes for tests and benchmarks that run the real
// binary. Two ways to start one:
//  - GoferChild (SpawnGofer, SpawnFdGofer): any flags, its stderr on a pipe
//    that ReadUntil reads, Wait for the exit code. SpawnFdGofer serves one
//    end of a new socket pair (--fd=3); SpawnGofer can hand it any FD as
//    FD 3 (a --ready_fd pipe, say).
//  - GoferProcess: serves a directory on a fresh --listen socket, can be
//    started with a lowered RLIMIT_NOFILE or as another user (so that
//    RLIMIT_NPROC applies to it), returns once --ready_fd says it serves,
//    and reads its threads, FDs and memory from /proc.
// Exit codes are 128 + signal for a gofer that was killed.

#ifndef GVISOR_TOOLS_DEVGOFER_GOFER_PROCESS_H_
#define GVISOR_TOOLS_DEVGOFER_GOFER_PROCESS_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/fd/fd.h"

namespace gvisor::devgofer {

// ExitCode turns a waitpid status into an exit code (128 + signal if the
// process was killed).
int ExitCode(int wait_status);

// ProcStatus returns one field of /proc/<pid>/status (pid 0: this
// process) without its leading blanks, "" if absent.
std::string ProcStatus(pid_t pid, absl::string_view field);

// GoferChild is a devgofer started by SpawnGofer or SpawnFdGofer, with its
// stderr readable through err.
struct GoferChild {
  pid_t pid = -1;
  fd::OwnedFd sock;  // our end of the socket pair (SpawnFdGofer only)
  fd::OwnedFd err;   // the read end of its stderr
  fd::OwnedFd out;   // the read end of its stdout
  std::string log;   // what has been read from err so far

  GoferChild() = default;
  GoferChild(const GoferChild&) = delete;
  GoferChild& operator=(const GoferChild&) = delete;
  // The destructor kills (SIGKILL) and reaps a gofer not yet waited for.
  ~GoferChild();

  // ReadUntil reads the log until it holds needle (true) or ends (false).
  bool ReadUntil(absl::string_view needle);
  // Wait closes sock, reads the rest of the log, reaps the gofer and
  // returns its exit code.
  int Wait();
  // ReadOut reads its stdout to the end (call it after Wait; a gofer
  // prints little there: --help, --version).
  std::string ReadOut();
};

// SpawnGofer runs binary with args into *child (which must be fresh); if
// child_fd >= 0 it becomes the gofer's FD 3.
absl::Status SpawnGofer(const std::string& binary,
                        const std::vector<std::string>& args, int child_fd,
                        GoferChild* child);

// SpawnActivatedGofer runs binary with args into *child (which must be
// fresh) as systemd's socket activation starts a service: listen_fd
// becomes its FD 3, with LISTEN_FDS=1 and LISTEN_PID=<its pid>; env holds
// more NAME=value entries for its environment (LISTEN_FDNAMES,
// NOTIFY_SOCKET). listen_fd < 0 passes no FD and sets only env.
absl::Status SpawnActivatedGofer(const std::string& binary,
                                 const std::vector<std::string>& args,
                                 int listen_fd,
                                 const std::vector<std::string>& env,
                                 GoferChild* child);

// SpawnFdGofer runs `binary --fd=3 args...` serving one end of a new socket
// pair; the other end goes to child->sock.
absl::Status SpawnFdGofer(const std::string& binary,
                          const std::vector<std::string>& args,
                          GoferChild* child);

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
