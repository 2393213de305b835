#include "tools/devgofer/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::devgofer {
namespace {

// A sanitizer runtime makes syscalls of its own (sandbox_sanitizers below).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kLeakSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kLeakSanitizer = true;
#else
constexpr bool kLeakSanitizer = false;
#endif
#else
constexpr bool kLeakSanitizer = false;
#endif

// kGoferCaps are the capabilities a gofer needs to serve files owned by
// anyone: runsc's gofer set (runsc/cmd/gofer.go) less CAP_SYS_CHROOT.
constexpr cap_value_t kGoferCaps[] = {
    CAP_CHOWN,  // SetStat and Create* with another uid/gid
    CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
    CAP_FOWNER,  // SetStat (mode, times) on others' files
    CAP_FSETID,  // keep set-id bits that the client asked for
};
// kHostUdsOpenCaps switch a thread's uid and gid for ConnectWithCreds.
constexpr cap_value_t kHostUdsOpenCaps[] = {CAP_SETUID, CAP_SETGID};

// Rule allows one syscall; with args, only when every comparison holds.
// Several rules for one syscall are alternatives.
struct Rule {
  const char* name;
  std::vector<scmp_arg_cmp> args = {};
};

scmp_arg_cmp ArgEq(unsigned arg, uint64_t v) {
  return scmp_arg_cmp{arg, SCMP_CMP_EQ, v, 0};
}
// ArgMasked holds when (argument & mask) == v.
scmp_arg_cmp ArgMasked(unsigned arg, uint64_t mask, uint64_t v) {
  return scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, mask, v};
}

// BaseRules is what every gofer does while it serves. Measured with
// strace -f over devgofer_test, sandbox_test and gVisor's own lisafs client
// (tools/interop_test.sh direction (a)), plus what the event loop, the
// worker pool and channels use.
std::vector<Rule> BaseRules() {
  const scmp_arg_cmp no_exec = ArgMasked(2, PROT_EXEC, 0);
  return {
      // Memory (malloc, thread stacks, packet windows; never executable).
      {"brk"},
      {"mmap", {no_exec}},
      {"mprotect", {no_exec}},
      {"munmap"},
      {"mremap"},
      {"madvise"},
      // Threads: std::thread through glibc. Only threads, never processes.
      {"clone", {ArgMasked(0, CLONE_THREAD, CLONE_THREAD)}},
      {"set_robust_list"},
      {"rseq"},
      {"futex"},  // mutexes, and flipcall's shared-memory hand-over
      {"sched_yield"},
      {"sched_getaffinity"},               // std::thread::hardware_concurrency
      {"prctl", {ArgEq(0, PR_SET_NAME)}},  // naming worker threads
      {"prctl", {ArgEq(0, PR_GET_NAME)}},
      {"exit"},
      {"exit_group"},
      // Signals: blocking masks, abort(), the signalfd.
      {"rt_sigaction"},
      {"rt_sigprocmask"},
      {"rt_sigreturn"},
      {"sigaltstack"},
      {"restart_syscall"},
      {"tgkill", {ArgEq(0, static_cast<uint64_t>(getpid()))}},
      {"getpid"},
      {"gettid"},
      {"getuid"},
      {"geteuid"},  // ConnectWithCreds saves the ids it restores
      {"getgid"},
      {"getegid"},
      // Time: logging, the accept backoff.
      {"clock_gettime"},
      {"clock_getres"},
      {"gettimeofday"},
      {"time"},
      {"nanosleep"},
      {"clock_nanosleep"},
      {"getrandom"},
      {"prlimit64"},  // getrlimit: the FD reserve
      {"getrlimit"},
      {"getrusage"},
      // I/O on FDs the gofer holds.
      {"read"},
      {"write"},
      {"readv"},
      {"writev"},
      {"pread64"},
      {"pwrite64"},
      {"preadv"},
      {"pwritev"},
      {"lseek"},
      {"close"},
      {"dup"},
      {"dup2"},
      {"dup3"},
      {"fcntl"},
      // Only the ioctls the VFS answers itself, before any driver sees them:
      // device FDs are what the gofer holds, and their drivers are not its
      // business.
      {"ioctl", {ArgEq(1, FIONBIO)}},
      {"ioctl", {ArgEq(1, FIOCLEX)}},
      {"ioctl", {ArgEq(1, FIONCLEX)}},
      // Waiting: poll, the event loop, its wake-ups.
      {"poll"},
      {"ppoll"},
      {"epoll_create1"},
      {"epoll_ctl"},
      {"epoll_wait"},
      {"epoll_pwait"},
      {"epoll_pwait2"},
      {"eventfd2"},
      {"pipe2"},
      {"timerfd_create"},
      {"timerfd_settime"},
      {"timerfd_gettime"},
      // Connections: accept on the listener, frames with FDs, channels'
      // FD sockets (socketpair), shutdown on Close.
      {"accept"},
      {"accept4"},
      {"recvmsg"},
      {"sendmsg"},
      {"recvfrom"},
      {"sendto"},
      {"shutdown"},
      {"getsockopt"},
      {"setsockopt", {ArgEq(1, SOL_SOCKET)}},  // buffer sizes, timeouts
      {"getsockname"},
      {"getpeername"},
      {"socketpair", {ArgEq(0, AF_UNIX)}},
      {"memfd_create"},  // packet windows
      {"ftruncate"},
      // The fsgofer backend (pkg/fsgofer).
      {"openat"},
      {"openat2"},
      {"newfstatat"},
      {"fstat"},
      {"statx"},
      {"fstatfs"},
      {"getdents64"},
      {"readlinkat"},
      {"readlink"},
      {"mkdirat"},
      {"mknodat"},
      {"symlinkat"},
      {"linkat"},
      {"unlinkat"},
      {"unlink"},  // --listen removes its socket on exit
      {"renameat"},
      {"renameat2"},
      {"fchmod"},
      {"fchmodat"},
      {"fchown"},
      {"fchownat"},
      {"utimensat"},
      {"fsync"},
      {"fdatasync"},
      {"fallocate"},
      {"getxattr"},
      {"lgetxattr"},
      {"fgetxattr"},
      {"setxattr"},
      {"lsetxattr"},
      {"fsetxattr"},
      {"listxattr"},
      {"llistxattr"},
      {"flistxattr"},
      {"removexattr"},
      {"lremovexattr"},
      {"fremovexattr"},
  };
}

// HostUdsRules is what host sockets need (fsgofer Connect,
// ConnectWithCreds, BindAt).
std::vector<Rule> HostUdsRules(const SandboxOptions& o) {
  std::vector<Rule> r;
  if (!o.host_uds_open && !o.host_uds_create) return r;
  r.push_back({"socket", {ArgEq(0, AF_UNIX)}});
  if (o.host_uds_open) {
    r.push_back({"connect"});
    r.push_back({"setresuid"});
    r.push_back({"setresgid"});
  }
  if (o.host_uds_create) {
    r.push_back({"bind"});
    r.push_back({"listen"});
  }
  return r;
}

// SanitizerRules is what LeakSanitizer's exit-time leak check does: it
// stops the world from a tracer task (clone without CLONE_THREAD, with
// exactly these flags) that lists /proc/PID/task with open and getdents
// and ptraces every thread. Only in ASan builds (measured with
// --seccomp_action=log).
std::vector<Rule> SanitizerRules() {
  if (!kLeakSanitizer) return {};
  return {
      {"clone", {ArgEq(0, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED)}},
      {"open"},
      {"getdents"},
      {"ptrace"},
      {"wait4"},
      {"prctl"},
      {"getppid"},
  };
}

uint32_t DefaultAction(SeccompAction a) {
  switch (a) {
    case SeccompAction::kErrno:
      return SCMP_ACT_ERRNO(EPERM);
    case SeccompAction::kKill:
      return SCMP_ACT_KILL_PROCESS;
    case SeccompAction::kLog:
      return SCMP_ACT_LOG;
  }
  return SCMP_ACT_KILL_PROCESS;
}

// SeccompErr turns a negative errno from libseccomp into a status.
absl::Status SeccompErr(int rc, absl::string_view what) {
  return syserr::FromErrno(-rc, absl::StrCat("seccomp: ", what));
}

absl::StatusOr<int> InstallSeccomp(const SandboxOptions& o) {
  scmp_filter_ctx ctx = seccomp_init(DefaultAction(o.action));
  if (ctx == nullptr) return syserr::FromErrno(ENOMEM, "seccomp_init");
  absl::Cleanup release = [ctx] { seccomp_release(ctx); };
  // A syscall of another ABI (i386 through int 0x80, x32) is never ours.
  if (int rc =
          seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
      rc != 0) {
    return SeccompErr(rc, "bad-arch action");
  }
  // Every thread gets the filter, or loading fails.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1); rc != 0) {
    return SeccompErr(rc, "TSYNC");
  }
  // A binary tree keeps each check to a few comparisons (libseccomp 2.5).
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

  std::vector<Rule> rules = BaseRules();
  for (const std::vector<Rule>& more : {HostUdsRules(o), SanitizerRules()}) {
    rules.insert(rules.end(), more.begin(), more.end());
  }
  std::vector<int> allowed;
  for (const Rule& r : rules) {
    int nr = seccomp_syscall_resolve_name(r.name);
    // Not a syscall of this architecture (dup2, poll... on arm64).
    if (nr == __NR_SCMP_ERROR) continue;
    if (int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, r.args.size(),
                                        r.args.data());
        rc != 0) {
      return SeccompErr(rc, absl::StrCat("rule for ", r.name));
    }
    if (std::find(allowed.begin(), allowed.end(), nr) == allowed.end()) {
      allowed.push_back(nr);
    }
  }
  // glibc tries clone3 first and falls back to clone on ENOSYS; clone3's
  // flags are in memory, where seccomp cannot check CLONE_THREAD.
  if (int nr = seccomp_syscall_resolve_name("clone3"); nr != __NR_SCMP_ERROR) {
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
        rc != 0) {
      return SeccompErr(rc, "rule for clone3");
    }
  }
  if (int rc = seccomp_load(ctx); rc != 0) return SeccompErr(rc, "load");
  return static_cast<int>(allowed.size());
}

// ThreadCount counts this process's threads; -1 if /proc is unreadable.
int ThreadCount() {
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

std::string CapName(cap_value_t c) {
  char* n = cap_to_name(c);
  if (n == nullptr) return absl::StrCat("cap_", c);
  std::string s(n);
  cap_free(n);
  return s;
}

absl::Status DropCapabilities(const SandboxOptions& o, SandboxReport* report) {
  std::vector<cap_value_t> wanted(std::begin(kGoferCaps), std::end(kGoferCaps));
  if (o.host_uds_open) {
    wanted.insert(wanted.end(), std::begin(kHostUdsOpenCaps),
                  std::end(kHostUdsOpenCaps));
  }
  cap_t cur = cap_get_proc();
  if (cur == nullptr) return syserr::FromErrno(errno, "cap_get_proc");
  absl::Cleanup free_cur = [cur] { cap_free(cur); };
  // Keep only what is held: a non-root gofer usually holds nothing.
  std::vector<cap_value_t> keep;
  for (cap_value_t c : wanted) {
    cap_flag_value_t v = CAP_CLEAR;
    if (cap_get_flag(cur, c, CAP_PERMITTED, &v) == 0 && v == CAP_SET) {
      keep.push_back(c);
    }
  }
  auto kept = [&](cap_value_t c) {
    return std::find(keep.begin(), keep.end(), c) != keep.end();
  };

  // The bounding set first, while CAP_SETPCAP is still effective.
  cap_flag_value_t setpcap = CAP_CLEAR;
  cap_get_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
  const cap_value_t max = static_cast<cap_value_t>(cap_max_bits());
  bool bounded = true;
  for (cap_value_t c = 0; c < max; ++c) {
    if (kept(c) || cap_get_bound(c) <= 0) continue;
    if (setpcap != CAP_SET) {
      bounded = false;
      break;
    }
    if (cap_drop_bound(c) != 0) {
      return syserr::FromErrno(errno,
                               absl::StrCat("PR_CAPBSET_DROP ", CapName(c)));
    }
  }
  report->bounding_dropped = bounded;

  // Ambient capabilities would survive an exec; there is none to make, but
  // nothing is left to chance. EINVAL: the kernel has no ambient set.
  if (cap_reset_ambient() != 0 && errno != EINVAL) {
    return syserr::FromErrno(errno, "PR_CAP_AMBIENT_CLEAR_ALL");
  }
  cap_t next = cap_init();
  if (next == nullptr) return syserr::FromErrno(errno, "cap_init");
  absl::Cleanup free_next = [next] { cap_free(next); };
  if (!keep.empty() && (cap_set_flag(next, CAP_EFFECTIVE, keep.size(),
                                     keep.data(), CAP_SET) != 0 ||
                        cap_set_flag(next, CAP_PERMITTED, keep.size(),
                                     keep.data(), CAP_SET) != 0)) {
    return syserr::FromErrno(errno, "cap_set_flag");
  }
  if (cap_set_proc(next) != 0) return syserr::FromErrno(errno, "capset");
  for (cap_value_t c : keep) report->caps_kept.push_back(CapName(c));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SeccompAction> ParseSeccompAction(absl::string_view s) {
  if (s == "errno") return SeccompAction::kErrno;
  if (s == "kill") return SeccompAction::kKill;
  if (s == "log") return SeccompAction::kLog;
  return absl::InvalidArgumentError(
      absl::StrCat("\"", s, "\" is not errno, kill or log"));
}

absl::string_view SeccompActionName(SeccompAction a) {
  switch (a) {
    case SeccompAction::kErrno:
      return "errno";
    case SeccompAction::kKill:
      return "kill";
    case SeccompAction::kLog:
      return "log";
  }
  return "?";
}

std::string SandboxReport::ToString() const {
  absl::string_view otherwise = action == SeccompAction::kErrno  ? "EPERM"
                                : action == SeccompAction::kKill ? "SIGSYS"
                                                                 : "logged";
  std::string caps = caps_kept.empty() ? "none" : absl::StrJoin(caps_kept, ",");
  return absl::StrCat("seccomp ", syscalls, " syscalls (others ", otherwise,
                      "), caps kept: ", caps,
                      bounding_dropped
                          ? " (bounding set too)"
                          : " (bounding set unchanged: no CAP_SETPCAP)",
                      ", no_new_privs");
}

absl::StatusOr<SandboxReport> InstallSandbox(const SandboxOptions& options) {
  if (int n = ThreadCount(); n > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox: must be installed before any thread starts (", n,
                     " threads)"));
  }
  SandboxReport report;
  report.action = options.action;
  if (absl::Status s = DropCapabilities(options, &report); !s.ok()) {
    return syserr::WithContext(s, "sandbox");
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return syserr::FromErrno(errno, "sandbox: PR_SET_NO_NEW_PRIVS");
  }
  absl::StatusOr<int> n = InstallSeccomp(options);
  if (!n.ok()) return syserr::WithContext(n.status(), "sandbox");
  report.syscalls = *n;
  return report;
}

absl::StatusOr<SelftestProbe> ParseSelftestProbe(absl::string_view s) {
  if (s == "execve") return SelftestProbe::kExecve;
  if (s == "socket_inet") return SelftestProbe::kSocketInet;
  if (s == "socket_unix") return SelftestProbe::kSocketUnix;
  if (s == "fork") return SelftestProbe::kFork;
  if (s == "mmap_exec") return SelftestProbe::kMmapExec;
  if (s == "ioctl") return SelftestProbe::kIoctl;
  return absl::InvalidArgumentError(
      absl::StrCat("\"", s,
                   "\" is not execve, socket_inet, socket_unix, fork, "
                   "mmap_exec or ioctl"));
}

std::string RunSelftestProbe(SelftestProbe p) {
  auto result = [](bool ok) {
    return ok ? std::string("ok") : std::string(syserr::ErrnoName(errno));
  };
  switch (p) {
    case SelftestProbe::kExecve: {
      char path[] = "/nonexistent/devgofer-sandbox-selftest";
      char* argv[] = {path, nullptr};
      char* envp[] = {nullptr};
      execve(path, argv, envp);
      return result(false);
    }
    case SelftestProbe::kSocketInet:
    case SelftestProbe::kSocketUnix: {
      int s = socket(p == SelftestProbe::kSocketInet ? AF_INET : AF_UNIX,
                     SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s >= 0) close(s);
      return result(s >= 0);
    }
    case SelftestProbe::kFork: {
      pid_t pid = fork();
      if (pid == 0) _exit(0);
      if (pid > 0) waitpid(pid, nullptr, 0);
      return result(pid > 0);
    }
    case SelftestProbe::kMmapExec: {
      void* m = mmap(nullptr, 4096, PROT_READ | PROT_EXEC,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m != MAP_FAILED) munmap(m, 4096);
      return result(m != MAP_FAILED);
    }
    case SelftestProbe::kIoctl: {
      int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (f < 0) return result(false);
      termios t;
      int rc = ioctl(f, TCGETS, &t);
      int err = errno;
      close(f);
      errno = err;
      return result(rc == 0);
    }
  }
  return "?";
}

}  // namespace gvisor::devgofer
