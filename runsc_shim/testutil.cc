#include "runsc_shim/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/generic/generic_stub.h"
#include "pkg/fd/fd.h"
#include "pkg/readyfd/readyfd.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
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

// PollTimeoutMs is poll(2)'s timeout for waiting until deadline.
int PollTimeoutMs(absl::Time deadline) {
  return static_cast<int>(std::clamp<int64_t>(
      absl::ToInt64Milliseconds(deadline - absl::Now()), 0, INT32_MAX));
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
  return unet::Socket::Connect(path, SOCK_STREAM).ok();
}

absl::StatusOr<std::unique_ptr<Child>> Child::Start(
    const std::vector<std::string>& argv, const std::vector<std::string>& env,
    const std::string& cwd) {
  return Spawn(argv, env, -1, cwd);
}

absl::StatusOr<std::unique_ptr<Child>> Child::StartServer(
    std::vector<std::string> argv, const std::vector<std::string>& env,
    absl::Duration timeout) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return syserr::FromLastErrno("pipe2");
  fd::OwnedFd r(p[0]), w(p[1]);
  argv.push_back(absl::StrCat("--ready_fd=", kReadyFd));
  ASSIGN_OR_RETURN(std::unique_ptr<Child> c, Spawn(argv, env, w.get()));
  w.reset();  // the child holds the only write end now
  std::string got;
  const absl::Time deadline = absl::Now() + timeout;
  while (got.find('\n') == std::string::npos) {
    pollfd pfd = {r.get(), POLLIN, 0};
    int n = poll(&pfd, 1, PollTimeoutMs(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat(argv[0], " did not say it was ready within ",
                       absl::FormatDuration(timeout), ": ", c->Stderr()));
    }
    char buf[64];
    ssize_t k = read(r.get(), buf, sizeof(buf));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;  // end of file: it failed before serving
    got.append(buf, static_cast<size_t>(k));
  }
  if (got != readyfd::kMessage) {
    return absl::UnavailableError(
        absl::StrCat(argv[0], " ended before it served (wrote \"",
                     absl::CEscape(got), "\"): ", c->Stderr()));
  }
  return c;
}

absl::StatusOr<std::unique_ptr<Child>> Child::Spawn(
    const std::vector<std::string>& argv, const std::vector<std::string>& env,
    int ready_w, const std::string& cwd) {
  std::unique_ptr<Child> c(new Child());
  int n = counter++;
  c->out_path_ = absl::StrCat(TempDir(), "/child.", getpid(), ".", n, ".out");
  c->err_path_ = absl::StrCat(TempDir(), "/child.", getpid(), ".", n, ".err");
  constexpr int kFlags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
  fd::OwnedFd out(open(c->out_path_.c_str(), kFlags, 0600));
  fd::OwnedFd err(open(c->err_path_.c_str(), kFlags, 0600));
  if (!out.valid() || !err.valid()) {
    return syserr::FromLastErrno("creating the child's output files");
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
  std::vector<std::string> args = argv;
  if (!cwd.empty() && !args.empty() && args[0][0] != '/') {
    // The path is relative to our working directory, not the child's.
    char here[4096];
    if (getcwd(here, sizeof(here)) != nullptr) {
      args[0] = absl::StrCat(here, "/", args[0]);
    }
  }
  std::vector<char*> cargv, cenv;
  for (const std::string& a : args) {
    cargv.push_back(const_cast<char*>(a.c_str()));
  }
  cargv.push_back(nullptr);
  for (const std::string& e : envs) {
    cenv.push_back(const_cast<char*>(e.c_str()));
  }
  cenv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return syserr::FromLastErrno("fork");
  if (pid == 0) {
    dup2(out.get(), 1);
    dup2(err.get(), 2);
    if (ready_w >= 0) {
      // dup2 onto itself would keep FD_CLOEXEC: clear it by hand then.
      if (ready_w == kReadyFd) {
        fcntl(kReadyFd, F_SETFD, 0);
      } else {
        dup2(ready_w, kReadyFd);
      }
    }
    // Unblock what a multithreaded parent may have blocked.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
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
  if (reaped_) return status_;
  // A pidfd turns readable when the child exits (not when it stops).
  fd::OwnedFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
  if (!pidfd.valid()) {
    // Kernels before 5.3: poll for the exit instead.
    if (!WaitFor([this] { return !Running(); }, timeout)) {
      return absl::DeadlineExceededError(
          absl::StrCat("child ", pid_, " still running"));
    }
    return status_;
  }
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    pollfd p = {pidfd.get(), POLLIN, 0};
    const int n = poll(&p, 1, PollTimeoutMs(deadline));
    if (n > 0) break;
    if (n == 0 || errno != EINTR) {
      return absl::DeadlineExceededError(
          absl::StrCat("child ", pid_, " still running"));
    }
  }
  while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  return status_;
}

std::string Child::Stdout() const { return ReadFile(out_path_); }
std::string Child::Stderr() const { return ReadFile(err_path_); }

absl::StatusOr<Result> Run(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env,
                           absl::Duration timeout, const std::string& cwd) {
  ASSIGN_OR_RETURN(std::unique_ptr<Child> c, Child::Start(argv, env, cwd));
  ASSIGN_OR_RETURN(const int status, c->Wait(timeout));
  Result r;
  r.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = c->Stdout();
  r.err = c->Stderr();
  return r;
}

absl::StatusOr<std::unique_ptr<DevGofer>> DevGofer::Start(
    const std::string& root, const std::vector<std::string>& flags) {
  ASSIGN_OR_RETURN(const std::string bin, Runfile("tools/devgofer/devgofer"));
  std::unique_ptr<DevGofer> g(new DevGofer());
  g->socket_ = TempSocketPath("dg");
  // The RPC path unless flags say --donate_mount_fd (the last one counts).
  std::vector<std::string> argv = {
      bin, "--root=" + root, "--listen=" + g->socket_, "--nodonate_mount_fd"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  ASSIGN_OR_RETURN(g->child_, Child::StartServer(argv));
  return g;
}

DevGofer::~DevGofer() {
  child_.reset();
  unlink(socket_.c_str());
}

int64_t RssKiB(pid_t pid) { return StatusField(pid, "VmRSS"); }

int64_t PeakRssKiB(pid_t pid) { return StatusField(pid, "VmHWM"); }

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

namespace v1 = ::gvisor::devutil::shim::v1;

void ShimClient::Connect(const std::string& target) {
  channel_ = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  stub_ = v1::DevGoferShim::NewStub(channel_);
}

void ShimClient::Deadline(grpc::ClientContext* ctx, absl::Duration d) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + d));
}

grpc::Status ShimClient::Attach(const std::string& name,
                                const std::string& sock, Container* out,
                                absl::Duration timeout) {
  grpc::ClientContext ctx;
  Deadline(&ctx, timeout);
  v1::AttachContainerRequest req;
  req.set_name(name);
  req.set_gofer_socket(sock);
  v1::Container c;
  grpc::Status st = stub_->AttachContainer(&ctx, req, &c);
  if (out != nullptr) *out = c;
  return st;
}

grpc::Status ShimClient::Reattach(const std::string& name,
                                  const std::string& sock, Container* out) {
  grpc::ClientContext ctx;
  Deadline(&ctx);
  v1::ReattachContainerRequest req;
  req.set_name(name);
  req.set_gofer_socket(sock);
  v1::Container c;
  grpc::Status st = stub_->ReattachContainer(&ctx, req, &c);
  if (out != nullptr) *out = c;
  return st;
}

grpc::Status ShimClient::Detach(const std::string& name) {
  grpc::ClientContext ctx;
  Deadline(&ctx);
  v1::DetachContainerRequest req;
  req.set_name(name);
  v1::DetachContainerResponse resp;
  return stub_->DetachContainer(&ctx, req, &resp);
}

grpc::Status ShimClient::Get(const std::string& name, Container* out) {
  grpc::ClientContext ctx;
  Deadline(&ctx);
  v1::GetContainerRequest req;
  req.set_name(name);
  return stub_->GetContainer(&ctx, req, out);
}

grpc::Status ShimClient::List(v1::ListContainersResponse* out) {
  grpc::ClientContext ctx;
  Deadline(&ctx);
  return stub_->ListContainers(&ctx, v1::ListContainersRequest(), out);
}

grpc::Status ShimClient::Devices(const std::string& name,
                                 std::vector<std::string>* out,
                                 absl::Duration timeout) {
  grpc::ClientContext ctx;
  Deadline(&ctx, timeout);
  v1::ListDevicesRequest req;
  req.set_name(name);
  v1::ListDevicesResponse resp;
  grpc::Status st = stub_->ListDevices(&ctx, req, &resp);
  if (out != nullptr) out->assign(resp.names().begin(), resp.names().end());
  return st;
}

absl::StatusOr<std::unique_ptr<FakePeer>> FakePeer::Start(std::string first,
                                                          bool hang_up) {
  std::string path = TempSocketPath("fakepeer");
  ASSIGN_OR_RETURN(unet::ServerSocket listener,
                   unet::ServerSocket::Bind(path, SOCK_STREAM));
  RETURN_IF_ERROR(listener.Listen());
  std::unique_ptr<FakePeer> p(
      new FakePeer(std::move(first), hang_up, path, std::move(listener)));
  p->thread_ = std::thread([raw = p.get()] { raw->AcceptLoop(); });
  return p;
}

FakePeer::FakePeer(std::string first, bool hang_up, std::string path,
                   unet::ServerSocket listener)
    : first_(std::move(first)),
      hang_up_(hang_up),
      path_(std::move(path)),
      listener_(std::move(listener)) {}

FakePeer::~FakePeer() {
  listener_.Shutdown().IgnoreError();
  if (thread_.joinable()) thread_.join();
  listener_.Unlink().IgnoreError();
}

void FakePeer::AcceptLoop() {
  for (;;) {
    absl::StatusOr<unet::Socket> c = listener_.Accept();
    if (!c.ok()) return;  // shut down
    ++accepted_;
    if (!first_.empty()) {
      iovec iov = {const_cast<char*>(first_.data()), first_.size()};
      c->SendAll(absl::MakeConstSpan(&iov, 1), {}).IgnoreError();
    }
    if (!hang_up_) kept_.push_back(*std::move(c));
  }
}

grpc::Status ShimClient::DevicesLong(
    const std::string& name,
    ::gvisor::devutil::shim::v1::ListDevicesResponse* out,
    absl::Duration timeout) {
  grpc::ClientContext ctx;
  Deadline(&ctx, timeout);
  v1::ListDevicesRequest req;
  req.set_name(name);
  req.set_details(true);
  v1::ListDevicesResponse resp;
  grpc::Status st = stub_->ListDevices(&ctx, req, &resp);
  if (out != nullptr) *out = std::move(resp);
  return st;
}

namespace {

grpc::Status DoProbe(ShimClient::Stub* stub, const std::string& name,
                     const std::string& path, ShimClient::AccessMode mode,
                     bool open, ShimClient::DeviceInfo* out,
                     absl::Duration timeout) {
  grpc::ClientContext ctx;
  ShimClient::Deadline(&ctx, timeout);
  v1::ProbeDeviceRequest req;
  req.set_name(name);
  req.set_path(path);
  req.set_mode(mode);
  req.set_open(open);
  v1::DeviceInfo info;
  grpc::Status st = stub->ProbeDevice(&ctx, req, &info);
  if (out != nullptr) *out = info;
  return st;
}

}  // namespace

grpc::Status ShimClient::Probe(const std::string& name, const std::string& path,
                               AccessMode mode, DeviceInfo* out,
                               absl::Duration timeout) {
  return DoProbe(stub_.get(), name, path, mode, false, out, timeout);
}

grpc::Status ShimClient::ProbeOpen(const std::string& name,
                                   const std::string& path, AccessMode mode,
                                   DeviceInfo* out, absl::Duration timeout) {
  return DoProbe(stub_.get(), name, path, mode, true, out, timeout);
}

ShimClient::Container::State ShimClient::StateOf(const std::string& name) {
  v1::Container c;
  grpc::Status st = Get(name, &c);
  return st.ok() ? c.state() : v1::Container::STATE_UNSPECIFIED;
}

absl::StatusOr<std::string> Reflect(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& request) {
  grpc::GenericStub generic(channel);
  grpc::ClientContext ctx;
  ShimClient::Deadline(&ctx);
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      generic.PrepareCall(&ctx,
                          "/grpc.reflection.v1alpha.ServerReflection/"
                          "ServerReflectionInfo",
                          &cq);
  // step waits for the operation tagged want; every one must succeed.
  auto step = [&](intptr_t want) -> absl::Status {
    void* tag;
    bool ok;
    if (!cq.Next(&tag, &ok) || reinterpret_cast<intptr_t>(tag) != want || !ok) {
      return absl::UnknownError(
          absl::StrCat("reflection call: step ", want, " failed"));
    }
    return absl::OkStatus();
  };
  call->StartCall(reinterpret_cast<void*>(1));
  RETURN_IF_ERROR(step(1));
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1);
  call->Write(req, reinterpret_cast<void*>(2));
  RETURN_IF_ERROR(step(2));
  grpc::ByteBuffer resp;
  call->Read(&resp, reinterpret_cast<void*>(3));
  RETURN_IF_ERROR(step(3));
  call->WritesDone(reinterpret_cast<void*>(4));
  RETURN_IF_ERROR(step(4));
  grpc::Status st;
  call->Finish(&st, reinterpret_cast<void*>(5));
  RETURN_IF_ERROR(step(5));
  if (!st.ok()) {
    return absl::UnknownError(
        absl::StrCat("reflection call: ", st.error_message()));
  }
  std::vector<grpc::Slice> slices;
  if (!resp.Dump(&slices).ok()) {
    return absl::UnknownError("reflection call: unreadable response");
  }
  std::string bytes;
  for (const auto& s : slices) bytes.append(s.begin(), s.end());
  return bytes;
}

}  // namespace gvisor::shim::testutil
