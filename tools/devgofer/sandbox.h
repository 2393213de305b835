// Sandbox: devgofer confines itself once it is set up, as runsc's gofer
// does, so that a client that takes over the gofer gets as little of the
// host as possible. In this order, on the one thread the process has:
//
//   1. capabilities: every one the gofer does not need leaves the effective,
//      permitted, inheritable and ambient sets, and the bounding set when
//      the process holds CAP_SETPCAP (as root it does). Kept, if held:
//      CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
//      CAP_FSETID (runsc's gofer set, less CAP_SYS_CHROOT, which devgofer
//      never uses), plus CAP_SETUID and CAP_SETGID when host sockets may be
//      connected to (ConnectWithCreds switches the thread's uid and gid).
//      Not kept: CAP_MKNOD (MknodAt makes only regular files and 0:0
//      whiteouts, which Linux >= 5.8 lets anyone make).
//   2. PR_SET_NO_NEW_PRIVS.
//   3. seccomp-bpf (libseccomp), synchronized to every thread: an allowlist
//      of the syscalls devgofer makes while it serves (sandbox.cc lists them,
//      each with its reason), a few with their arguments restricted: socket
//      and socketpair only AF_UNIX (socket only with host sockets enabled),
//      clone only with CLONE_THREAD (threads, never processes), clone3
//      ENOSYS (its flags live in memory seccomp cannot read; glibc then
//      uses clone), mmap and mprotect never PROT_EXEC, tgkill only this
//      process, ioctl only FIONBIO/FIOCLEX/FIONCLEX (which the VFS answers
//      before any device driver), setsockopt only SOL_SOCKET, prctl only
//      PR_SET_NAME/PR_GET_NAME. No execve, ptrace, mount, bpf,
//      perf_event_open, network sockets and the like.
//
// Every other syscall gets the default action (SeccompAction). A syscall
// made for another architecture (x32, i386 through int 0x80) always kills
// the process.
//
// A non-root gofer keeps working: it has no capabilities to drop and still
// gets NO_NEW_PRIVS and seccomp.

#ifndef GVISOR_TOOLS_DEVGOFER_SANDBOX_H_
#define GVISOR_TOOLS_DEVGOFER_SANDBOX_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gvisor::devgofer {

// SeccompAction is what a syscall outside the allowlist does.
enum class SeccompAction {
  // kErrno (the default) fails it with EPERM: a rare syscall the list
  // missed fails that one request cleanly, instead of killing a gofer that
  // serves every container of the host.
  kErrno,
  // kKill kills the whole gofer with SIGSYS (as runsc's gofer does).
  kKill,
  // kLog lets it run and has the kernel log it (audit, type=1326): for
  // finding what a new feature needs, not for production.
  kLog,
};

// ParseSeccompAction parses "errno", "kill" or "log"; INVALID_ARGUMENT
// otherwise.
absl::StatusOr<SeccompAction> ParseSeccompAction(absl::string_view s);

// SeccompActionName is the inverse of ParseSeccompAction.
absl::string_view SeccompActionName(SeccompAction a);

// SandboxOptions says what the gofer will be allowed to do.
struct SandboxOptions {
  SeccompAction action = SeccompAction::kErrno;
  // host_uds_open allows socket(AF_UNIX) + connect, setresuid/setresgid,
  // and keeps CAP_SETUID/CAP_SETGID (fsgofer Connect, ConnectWithCreds).
  bool host_uds_open = false;
  // host_uds_create allows socket(AF_UNIX) + bind + listen (BindAt).
  bool host_uds_create = false;
};

// SandboxReport says what InstallSandbox did.
struct SandboxReport {
  // syscalls is the number of syscalls the filter allows (some only with
  // restricted arguments).
  int syscalls = 0;
  // caps_kept names the capabilities left ("cap_chown", ...).
  std::vector<std::string> caps_kept;
  // bounding_dropped is true when the bounding set was reduced to
  // caps_kept; false when the process may not change it (no CAP_SETPCAP).
  bool bounding_dropped = false;
  SeccompAction action = SeccompAction::kErrno;

  // ToString is the log line: "seccomp 97 syscalls (otherwise errno EPERM),
  // caps kept: cap_chown ... (bounding set too), no_new_privs".
  std::string ToString() const;
};

// InstallSandbox confines the calling process as the file comment says.
// It must run while the process has a single thread, since capabilities
// belong to threads: FAILED_PRECONDITION otherwise. A failure of any step
// is an error naming it (with the errno); the process may then be partly
// confined and should exit. Irreversible.
absl::StatusOr<SandboxReport> InstallSandbox(const SandboxOptions& options);

// SelftestProbe is a syscall that --sandbox_selftest makes after the
// sandbox is installed, to show what the filter does with it.
enum class SelftestProbe {
  kExecve,      // execve of a path that does not exist (ENOENT if allowed)
  kSocketInet,  // socket(AF_INET, SOCK_STREAM)
  kSocketUnix,  // socket(AF_UNIX, SOCK_STREAM): allowed with host sockets
  kFork,        // fork(): clone without CLONE_THREAD
  kMmapExec,    // an anonymous PROT_READ|PROT_EXEC mapping
  kIoctl,       // ioctl(TCGETS) on /dev/null: a driver's ioctl (ENOTTY)
};

// ParseSelftestProbe parses "execve", "socket_inet", "socket_unix", "fork",
// "mmap_exec" or "ioctl"; INVALID_ARGUMENT otherwise.
absl::StatusOr<SelftestProbe> ParseSelftestProbe(absl::string_view s);

// RunSelftestProbe makes the probe's syscall and returns "ok" if it
// succeeded (undoing what it made), else the errno's name ("EPERM").
std::string RunSelftestProbe(SelftestProbe p);

}  // namespace gvisor::devgofer

#endif  // GVISOR_TOOLS_DEVGOFER_SANDBOX_H_
