#include "tools/devgofer/gofer_process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"

extern char** environ;

namespace gvisor::devgofer {

namespace {

constexpr int kReadyFd = 3;
// kReadyTimeoutMs bounds the wait for "ready" (a failure guard only).
constexpr int kReadyTimeoutMs = 30000;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

absl::Status CopyExecutable(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return syserr::FromErrno(ENOENT, absl::StrCat("open ", from));
  {
    std::ofstream out(to, std::ios::binary);
    out << in.rdbuf();
    if (!out) return syserr::FromErrno(EIO, absl::StrCat("write ", to));
  }
  if (chmod(to.c_str(), 0755) != 0) return syserr::FromLastErrno("chmod");
  return absl::OkStatus();
}

}  // namespace

int ExitCode(int wait_status) {
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return WEXITSTATUS(wait_status);
}

std::string ProcStatus(pid_t pid, absl::string_view field) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                            : absl::StrCat("/proc/", pid, "/status"));
  const std::string prefix = absl::StrCat(field, ":");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, prefix)) {
      std::string v = line.substr(prefix.size());
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

GoferChild::~GoferChild() {
  if (pid > 0) {
    kill(pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

bool GoferChild::ReadUntil(absl::string_view needle) {
  char buf[4096];
  while (!absl::StrContains(log, needle)) {
    ssize_t n = read(err.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    log.append(buf, n);
  }
  return true;
}

int GoferChild::Wait() {
  sock.reset();
  ReadUntil("\x01never\x01");
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  pid = -1;
  return ExitCode(status);
}

std::string GoferChild::ReadOut() {
  std::string s;
  char buf[4096];
  for (;;) {
    ssize_t n = read(out.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return s;
    s.append(buf, n);
  }
}

absl::Status SpawnGofer(const std::string& binary,
                        const std::vector<std::string>& args, int child_fd,
                        GoferChild* child) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return syserr::FromLastErrno("pipe2");
  fd::OwnedFd r(pipefd[0]), w(pipefd[1]);
  if (pipe2(pipefd, O_CLOEXEC) != 0) return syserr::FromLastErrno("pipe2");
  fd::OwnedFd out_r(pipefd[0]), out_w(pipefd[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, w.get(), 2);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  if (child_fd >= 0) posix_spawn_file_actions_adddup2(&fa, child_fd, 3);
  std::vector<std::string> argv_s = {binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = posix_spawn(&child->pid, binary.c_str(), &fa, nullptr, argv.data(),
                       environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    child->pid = -1;
    return syserr::FromErrno(rc, absl::StrCat("posix_spawn ", binary));
  }
  child->err = std::move(r);
  child->out = std::move(out_r);
  return absl::OkStatus();
}

absl::Status SpawnActivatedGofer(const std::string& binary,
                                 const std::vector<std::string>& args,
                                 int listen_fd,
                                 const std::vector<std::string>& env,
                                 GoferChild* child) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return syserr::FromLastErrno("pipe2");
  fd::OwnedFd r(pipefd[0]), w(pipefd[1]);
  if (pipe2(pipefd, O_CLOEXEC) != 0) return syserr::FromLastErrno("pipe2");
  fd::OwnedFd out_r(pipefd[0]), out_w(pipefd[1]);
  // Everything exec needs is built here; the child only fills in its pid.
  std::vector<std::string> argv_s = {binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    absl::string_view v(*e);
    if (!absl::StartsWith(v, "LISTEN_") && !absl::StartsWith(v, "NOTIFY_")) {
      env_s.emplace_back(v);
    }
  }
  env_s.insert(env_s.end(), env.begin(), env.end());
  if (listen_fd >= 0) env_s.push_back("LISTEN_FDS=1");
  std::vector<char*> envp;
  for (std::string& e : env_s) envp.push_back(e.data());
  char pid_var[32] = "LISTEN_PID=";
  if (listen_fd >= 0) envp.push_back(pid_var);
  envp.push_back(nullptr);
  // FD 3 gets listen_fd: move it out of the way of the dup2s first.
  fd::OwnedFd lfd;
  if (listen_fd >= 0) {
    lfd.reset(fcntl(listen_fd, F_DUPFD_CLOEXEC, 10));
    if (!lfd.valid()) return syserr::FromLastErrno("fcntl(F_DUPFD_CLOEXEC)");
  }
  const int lfd_n = lfd.get(), w_n = w.get(), out_n = out_w.get();

  pid_t pid = fork();
  if (pid < 0) return syserr::FromLastErrno("fork");
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    dup2(w_n, 2);
    dup2(out_n, 1);
    if (lfd_n >= 0) {
      dup2(lfd_n, 3);
      // LISTEN_PID=<pid>, formatted by hand.
      char digits[16];
      int n = 0;
      for (pid_t p = getpid(); p > 0; p /= 10) digits[n++] = '0' + p % 10;
      char* at = pid_var + strlen("LISTEN_PID=");
      while (n > 0) *at++ = digits[--n];
      *at = '\0';
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  child->pid = pid;
  child->err = std::move(r);
  child->out = std::move(out_r);
  return absl::OkStatus();
}

absl::Status SpawnFdGofer(const std::string& binary,
                          const std::vector<std::string>& args,
                          GoferChild* child) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return syserr::FromLastErrno("socketpair");
  }
  fd::OwnedFd mine(sv[0]), theirs(sv[1]);
  std::vector<std::string> with_fd = {"--fd=3"};
  with_fd.insert(with_fd.end(), args.begin(), args.end());
  if (absl::Status s = SpawnGofer(binary, with_fd, theirs.get(), child);
      !s.ok()) {
    return s;
  }
  child->sock = std::move(mine);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GoferProcess>> GoferProcess::Start(
    GoferSpawn spawn) {
  std::unique_ptr<GoferProcess> p(new GoferProcess);
  std::string tmpl = "/tmp/gofer_proc.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return syserr::FromLastErrno("mkdtemp");
  p->dir_ = tmpl;
  p->log_path_ = p->dir_ + "/log";
  std::string sock_dir = p->dir_ + "/s";
  if (mkdir(sock_dir.c_str(), 0700) != 0) return syserr::FromLastErrno("mkdir");
  p->socket_path_ = sock_dir + "/g.sock";
  std::string binary = spawn.binary;
  if (spawn.uid >= 0) {
    if (chmod(p->dir_.c_str(), 0755) != 0)
      return syserr::FromLastErrno("chmod");
    if (chown(sock_dir.c_str(), spawn.uid, spawn.uid) != 0) {
      return syserr::FromLastErrno("chown");
    }
    binary = p->dir_ + "/devgofer";
    if (absl::Status s = CopyExecutable(spawn.binary, binary); !s.ok()) {
      return s;
    }
  }

  std::vector<std::string> args = {binary, "--root=" + spawn.root,
                                   "--listen=" + p->socket_path_,
                                   absl::StrCat("--ready_fd=", kReadyFd)};
  args.insert(args.end(), spawn.flags.begin(), spawn.flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  fd::OwnedFd log(open(p->log_path_.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!log.valid()) return syserr::FromLastErrno("open log");
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return syserr::FromLastErrno("pipe2");
  fd::OwnedFd ready_r(pipefd[0]), ready_w(pipefd[1]);
  // The child end must not already be FD 3 or 2 for dup2 to clear
  // close-on-exec; move it out of the way.
  if (ready_w.get() <= kReadyFd) {
    ready_w.reset(fcntl(ready_w.get(), F_DUPFD_CLOEXEC, kReadyFd + 1));
  }
  if (log.get() <= kReadyFd) {
    log.reset(fcntl(log.get(), F_DUPFD_CLOEXEC, kReadyFd + 1));
  }
  const rlimit nofile = {spawn.nofile, spawn.nofile};
  const int uid = spawn.uid;
  const int log_fd = log.get();
  const int ready_fd = ready_w.get();

  pid_t pid = fork();
  if (pid < 0) return syserr::FromLastErrno("fork");
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    dup2(log_fd, 2);
    dup2(ready_fd, kReadyFd);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (spawn.nofile != 0 && setrlimit(RLIMIT_NOFILE, &nofile) != 0) {
      _exit(126);
    }
    if (uid >= 0 &&
        (setgroups(0, nullptr) != 0 || setresgid(uid, uid, uid) != 0 ||
         setresuid(uid, uid, uid) != 0)) {
      _exit(125);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  p->pid_ = pid;
  ready_w.reset();
  log.reset();

  std::string got;
  for (;;) {
    pollfd pfd = {ready_r.get(), POLLIN, 0};
    int n = poll(&pfd, 1, kReadyTimeoutMs);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      return syserr::FromErrno(ETIMEDOUT,
                               absl::StrCat("devgofer not ready: ", p->Log()));
    }
    char buf[64];
    ssize_t r = read(ready_r.get(), buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got.append(buf, r);
    if (absl::StrContains(got, "ready\n")) return p;
  }
  return absl::UnavailableError(
      absl::StrCat("devgofer exited before it served: ", p->Log()));
}

GoferProcess::~GoferProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  if (!dir_.empty()) {
    unlink(socket_path_.c_str());
    rmdir((dir_ + "/s").c_str());
    unlink(log_path_.c_str());
    unlink((dir_ + "/devgofer").c_str());
    rmdir(dir_.c_str());
  }
}

absl::StatusOr<fd::OwnedFd> GoferProcess::Connect() const {
  ASSIGN_OR_RETURN(unet::Socket s,
                   unet::Socket::Connect(socket_path_, SOCK_STREAM));
  return s.Release();
}

bool GoferProcess::Running() {
  if (reaped_) return false;
  int status;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) reaped_ = true;
  return r == 0;
}

int GoferProcess::Terminate() {
  if (reaped_) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  return ExitCode(status);
}

std::string GoferProcess::Log() const { return ReadFile(log_path_); }

int GoferProcess::Threads() const { return testing::ThreadCount(pid_); }

int GoferProcess::OpenFds() const { return testing::OpenFdCount(pid_); }

long GoferProcess::RssKiB() const {
  std::string rss = ProcStatus(pid_, "VmRSS");  // "<n> kB"
  if (rss.empty()) return -1;
  std::istringstream in(rss);
  long kib = -1;
  in >> kib;
  return kib;
}

}  // namespace gvisor::devgofer
