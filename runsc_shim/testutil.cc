#include "runsc_shim/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"
#include "tools/cpp/runfiles/runfiles.h"

extern char** environ;

namespace gvisor::shim::testutil {
namespace {

using ::bazel::tools::cpp::runfiles::Runfiles;

std::atomic<int> counter{0};

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string ProcPath(pid_t pid, const char* what) {
  return pid == 0 ? absl::StrCat("/proc/self/", what)
                  : absl::StrCat("/proc/", pid, "/", what);
}

// StatusField returns the number after "<name>:" in /proc/<pid>/status.
int64_t StatusField(pid_t pid, absl::string_view name) {
  std::string status = ReadFile(ProcPath(pid, "status"));
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (absl::ConsumePrefix(&line, name) && absl::ConsumePrefix(&line, ":")) {
      line = absl::StripAsciiWhitespace(line);
      line = absl::StripSuffix(line, " kB");
      int64_t v = -1;
      if (absl::SimpleAtoi(line, &v)) return v;
    }
  }
  return -1;
}

std::string TempDir() {
  const char* d = getenv("TEST_TMPDIR");
  return d != nullptr ? d : "/tmp";
}

}  // namespace

absl::StatusOr<std::string> Runfile(const std::string& path) {
  std::string error;
  std::unique_ptr<Runfiles> rf(Runfiles::CreateForTest(&error));
  if (rf == nullptr) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
      exe[n] = '\0';
      rf.reset(Runfiles::Create(exe, &error));
    }
  }
  if (rf == nullptr) {
    return absl::NotFoundError(absl::StrCat("runfiles: ", error));
  }
  std::string p = rf->Rlocation(absl::StrCat("gvisor_devutil/", path));
  if (p.empty() || access(p.c_str(), F_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("runfile ", path, " not found"));
  }
  return p;
}

std::string TempSocketPath(const std::string& tag) {
  std::string p =
      absl::StrCat("/tmp/", tag, ".", getpid(), ".", counter++, ".sock");
  unlink(p.c_str());
  return p;
}

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(1);
  for (;;) {
    if (cond()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(50));
  }
}

bool CanConnect(const std::string& path) {
  fd::OwnedFd s(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return false;
  memcpy(addr.sun_path, path.data(), path.size());
  return connect(s.get(), reinterpret_cast<const sockaddr*>(&addr),
                 sizeof(addr)) == 0;
}

absl::StatusOr<std::unique_ptr<Child>> Child::Start(
    const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::unique_ptr<Child> c(new Child());
  int n = counter++;
  c->out_path_ = absl::StrCat(TempDir(), "/child.", getpid(), ".", n, ".out");
  c->err_path_ = absl::StrCat(TempDir(), "/child.", getpid(), ".", n, ".err");
  constexpr int kFlags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
  fd::OwnedFd out(open(c->out_path_.c_str(), kFlags, 0600));
  fd::OwnedFd err(open(c->err_path_.c_str(), kFlags, 0600));
  if (!out.valid() || !err.valid()) {
    return syserr::FromErrno(errno, "creating the child's output files");
  }
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) envs.emplace_back(*e);
  for (const std::string& e : env) {
    std::string name = e.substr(0, e.find('='));
    envs.erase(std::remove_if(envs.begin(), envs.end(),
                              [&](const std::string& x) {
                                return x.substr(0, x.find('=')) == name;
                              }),
               envs.end());
    envs.push_back(e);
  }
  std::vector<char*> cargv, cenv;
  for (const std::string& a : argv) {
    cargv.push_back(const_cast<char*>(a.c_str()));
  }
  cargv.push_back(nullptr);
  for (const std::string& e : envs) {
    cenv.push_back(const_cast<char*>(e.c_str()));
  }
  cenv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return syserr::FromErrno(errno, "fork");
  if (pid == 0) {
    dup2(out.get(), 1);
    dup2(err.get(), 2);
    // Unblock what a multithreaded parent may have blocked.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  c->pid_ = pid;
  return c;
}

Child::~Child() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
  unlink(out_path_.c_str());
  unlink(err_path_.c_str());
}

void Child::Signal(int sig) {
  if (!reaped_) kill(pid_, sig);
}

bool Child::Stop() {
  if (reaped_) return false;
  if (kill(pid_, SIGSTOP) != 0) return false;
  for (;;) {
    int status;
    pid_t r = waitpid(pid_, &status, WUNTRACED);
    if (r < 0 && errno == EINTR) continue;
    if (r != pid_) return false;
    if (WIFSTOPPED(status)) return true;
    status_ = status;  // it exited (or was killed) instead
    reaped_ = true;
    return false;
  }
}

bool Child::Running() {
  if (reaped_) return false;
  pid_t r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

absl::StatusOr<int> Child::Wait(absl::Duration timeout) {
  if (!WaitFor([this] { return !Running(); }, timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("child ", pid_, " still running"));
  }
  return status_;
}

std::string Child::Stdout() const { return ReadFile(out_path_); }
std::string Child::Stderr() const { return ReadFile(err_path_); }

absl::StatusOr<Result> Run(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env,
                           absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<Child>> c = Child::Start(argv, env);
  if (!c.ok()) return c.status();
  absl::StatusOr<int> status = (*c)->Wait(timeout);
  if (!status.ok()) return status.status();
  Result r;
  r.exit_code = WIFEXITED(*status) ? WEXITSTATUS(*status)
                                   : 128 + WTERMSIG(*status);
  r.out = (*c)->Stdout();
  r.err = (*c)->Stderr();
  return r;
}

absl::StatusOr<std::unique_ptr<DevGofer>> DevGofer::Start(
    const std::string& root, const std::vector<std::string>& flags) {
  absl::StatusOr<std::string> bin = Runfile("tools/devgofer/devgofer");
  if (!bin.ok()) return bin.status();
  std::unique_ptr<DevGofer> g(new DevGofer());
  g->socket_ = TempSocketPath("dg");
  std::vector<std::string> argv = {*bin, "--root=" + root,
                                   "--listen=" + g->socket_};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<std::unique_ptr<Child>> c = Child::Start(argv);
  if (!c.ok()) return c.status();
  g->child_ = std::move(*c);
  Child* child = g->child_.get();
  const std::string& path = g->socket_;
  if (!WaitFor([&] { return !child->Running() || CanConnect(path); }) ||
      !child->Running()) {
    return absl::UnavailableError(absl::StrCat(
        "devgofer did not start listening: ", child->Stderr()));
  }
  return g;
}

DevGofer::~DevGofer() {
  child_.reset();
  unlink(socket_.c_str());
}

int64_t RssKiB(pid_t pid) { return StatusField(pid, "VmRSS"); }

int AcceptedConnections(const std::string& path) {
  // Columns: Num RefCount Protocol Flags Type St Inode Path. Accepted
  // sockets carry the listener's path and state 03 (connected); the
  // listener itself is state 01.
  std::string table = ReadFile("/proc/net/unix");
  int n = 0;
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    std::vector<absl::string_view> f =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() == 8 && f[5] == "03" && f[7] == path) ++n;
  }
  return n;
}

uint64_t RaiseFdLimit() {
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

}  // namespace gvisor::shim::testutil
