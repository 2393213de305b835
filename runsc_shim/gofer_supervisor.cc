#include "runsc_shim/gofer_supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pkg/devscope/allowlist.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

extern char** environ;

namespace gvisor::shim {
namespace {

// kGoferFd is the FD the gofer serves (--fd=3).
constexpr int kGoferFd = 3;
// kMaxLineBytes bounds a line of output kept for the log: a longer one is
// logged in pieces of this size.
constexpr size_t kMaxLineBytes = 4096;
// kReadBytes is one read of a gofer's output; kMaxReadsPerWake bound what
// one wake-up reads of one gofer, so that a chatty gofer cannot hold the
// loop from the others (epoll is level-triggered: the rest comes next).
constexpr size_t kReadBytes = 16384;
constexpr int kMaxReadsPerWake = 4;
// kMaxReadsAtExit bounds the reads of an exited gofer's pipe: what a pipe
// can hold at most (fs.pipe-max-size, 1 MiB by default).
constexpr int kMaxReadsAtExit = (1 << 20) / kReadBytes;
// kMaxEvents is what one epoll_wait returns at most.
constexpr int kMaxEvents = 64;
// kWakeTag marks the request eventfd in the epoll set; a gofer's pidfd and
// pipe are tagged id << 1 and id << 1 | 1 (ids start at 1).
constexpr uint64_t kWakeTag = 0;

// Environment variables meant for the shim alone (systemd's), never passed
// to a gofer: it would otherwise take the shim's notify socket or sockets.
constexpr absl::string_view kPrivateEnv[] = {
    "LISTEN_FDS=",    "LISTEN_PID=",    "LISTEN_FDNAMES=",
    "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="};

// ChildStep names what failed in the child before (or at) exec.
enum ChildStep : int {
  kStepExec = 0,
  kStepPdeathsig,
  kStepSetpgid,
  kStepMoveFd,
  kStepDup2,
  kStepCloseRange,
};

const char* ChildStepName(int step) {
  switch (step) {
    case kStepExec:
      return "execve";
    case kStepPdeathsig:
      return "prctl(PR_SET_PDEATHSIG)";
    case kStepSetpgid:
      return "setpgid";
    case kStepMoveFd:
      return "fcntl(F_DUPFD)";
    case kStepDup2:
      return "dup2";
    case kStepCloseRange:
      return "close_range";
  }
  return "start-up";
}

// ChildError is what a child that could not exec writes on its error pipe.
struct ChildError {
  int step;
  int err;
};

// ChildFds are the FDs the child arranges as 0..3, and its error pipe.
struct ChildFds {
  int devnull;
  int out;
  int sock;
  int err;
};

// KernelSigaction is the kernel's struct sigaction (x86-64 and arm64
// layout): the child calls rt_sigaction itself, past libc's (and a
// sanitizer's) wrappers.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

// ChildMain runs in the forked child, up to exec: async-signal-safe calls
// only, on memory prepared before the fork. It never returns.
[[noreturn]] void ChildMain(ChildFds f, pid_t parent, char* const* argv,
                            char* const* envp) {
  auto fail = [&f](int step) {
    ChildError e = {step, errno};
    (void)!write(f.err, &e, sizeof(e));
    _exit(127);
  };
  // The error pipe first, so that a failure can always be reported.
  if (f.err <= kGoferFd) {
    int moved = fcntl(f.err, F_DUPFD_CLOEXEC, kGoferFd + 1);
    if (moved < 0) _exit(127);
    f.err = moved;
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(kStepPdeathsig);
  // The supervisor died before PDEATHSIG was set: nobody would reap or
  // stop this gofer.
  if (getppid() != parent) _exit(127);
  if (setpgid(0, 0) != 0) fail(kStepSetpgid);
  // Every source above the targets, so that no dup2 overwrites one still
  // to be copied (and dup2 never meets a source equal to its target,
  // which would keep close-on-exec set).
  for (int* fd : {&f.devnull, &f.out, &f.sock}) {
    if (*fd <= kGoferFd) {
      int moved = fcntl(*fd, F_DUPFD_CLOEXEC, kGoferFd + 1);
      if (moved < 0) fail(kStepMoveFd);
      *fd = moved;
    }
  }
  if (dup2(f.devnull, 0) < 0 || dup2(f.out, 1) < 0 || dup2(f.out, 2) < 0 ||
      dup2(f.sock, kGoferFd) < 0) {
    fail(kStepDup2);
  }
  // Every other FD closes at exec (the error pipe stays open until then).
  if (syscall(SYS_close_range, kGoferFd + 1, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    fail(kStepCloseRange);
  }
  // Default dispositions (an ignored signal stays ignored across exec),
  // then nothing blocked (the supervisor's thread blocks everything).
  KernelSigaction dfl = {};
  dfl.handler = SIG_DFL;
  for (int sig = 1; sig < _NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(uint64_t));
  }
  uint64_t none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof(none));
  execve(argv[0], argv, envp);
  fail(kStepExec);
  _exit(127);
}

// Exhausted is the status of a resource that ran out (EMFILE, EAGAIN, ...):
// RESOURCE_EXHAUSTED with the errno; other errnos keep their own code.
absl::Status ResourceError(int err, absl::string_view what) {
  absl::Status s = syserr::FromErrno(err, what);
  switch (err) {
    case EMFILE:
    case ENFILE:
    case EAGAIN:
    case ENOMEM:
    case ENOSPC:
      return syserr::WithCode(absl::StatusCode::kResourceExhausted, s);
    default:
      return s;
  }
}

bool HasNul(absl::string_view s) {
  return s.find('\0') != absl::string_view::npos;
}

// StripGlogPrefix returns line without glog's "E1201 21:30:00.123456 42
// file.cc:12] " prefix, and its severity letter ('\0' if none).
absl::string_view StripGlogPrefix(absl::string_view line, char* severity) {
  *severity = '\0';
  if (line.size() > 2 &&
      absl::string_view("IWEF").find(line[0]) != absl::string_view::npos &&
      absl::ascii_isdigit(static_cast<unsigned char>(line[1]))) {
    size_t end = line.find("] ");
    if (end != absl::string_view::npos) {
      *severity = line[0];
      return line.substr(end + 2);
    }
  }
  return line;
}

// ErrorLine picks, from the end of a gofer's output, the line that says
// why it stopped: the last error (glog E or F), else the last line that is
// not an INFO or WARNING (a usage error), else the last line.
std::string ErrorLine(absl::string_view tail) {
  std::vector<absl::string_view> lines;
  for (absl::string_view rest = tail; !rest.empty();) {
    size_t nl = rest.find('\n');
    absl::string_view line = rest.substr(0, nl);
    rest = nl == absl::string_view::npos ? "" : rest.substr(nl + 1);
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.push_back(line);
  }
  absl::string_view plain, last;
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    char sev;
    absl::string_view text = StripGlogPrefix(*it, &sev);
    if (sev == 'E' || sev == 'F') return std::string(text);
    if (sev == '\0' && plain.empty()) plain = text;
    if (last.empty()) last = text;
  }
  return std::string(plain.empty() ? last : plain);
}

}  // namespace

absl::Status ValidateGoferSpec(const GoferSpec& spec) {
  if (spec.root.empty() || spec.root[0] != '/' || HasNul(spec.root)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "root \"", absl::CHexEscape(spec.root), "\" is not an absolute path"));
  }
  struct Field {
    const char* name;
    const std::vector<std::string>& values;
  };
  for (const Field& f :
       {Field{"allow", spec.allow}, Field{"cdi_specs", spec.cdi_specs},
        Field{"cdi_devices", spec.cdi_devices}}) {
    if (f.values.size() > GoferSupervisor::kMaxRules) {
      return absl::InvalidArgumentError(
          absl::StrCat(f.name, ": ", f.values.size(), " entries, more than ",
                       GoferSupervisor::kMaxRules));
    }
    for (const std::string& v : f.values) {
      if (v.empty() || HasNul(v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            f.name, ": \"", absl::CHexEscape(v), "\" is empty or holds a NUL"));
      }
    }
  }
  if (!spec.allow.empty()) {
    absl::StatusOr<devscope::Allowlist> a =
        devscope::Allowlist::Parse(spec.allow);
    if (!a.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("allow: ", a.status().message()));
    }
  }
  if (spec.cdi_devices.empty() != spec.cdi_specs.empty()) {
    return absl::InvalidArgumentError(
        spec.cdi_devices.empty()
            ? "cdi_specs without cdi_devices: name the devices to serve"
            : "cdi_devices without cdi_specs: name the spec files that "
              "describe them");
  }
  for (const std::string& path : spec.cdi_specs) {
    if (path[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          "cdi_specs: \"", absl::CHexEscape(path), "\" is not absolute"));
    }
  }
  return absl::OkStatus();
}

std::string GoferExit::ToString() const {
  if (signal > 0) {
    const char* abbrev = sigabbrev_np(signal);
    return abbrev == nullptr ? absl::StrCat("killed by signal ", signal)
                             : absl::StrCat("killed by SIG", abbrev);
  }
  if (exit_code >= 0) return absl::StrCat("exited with status ", exit_code);
  return "ended with a status taken by another waiter";
}

struct GoferSupervisor::Impl {
  // Gofer is one started gofer, from its start until it is reported.
  struct Gofer {
    uint64_t id = 0;
    pid_t pid = -1;
    std::string label;
    // Loop thread only.
    fd::OwnedFd pidfd;
    fd::OwnedFd out;   // the read end of its stdout and stderr
    std::string line;  // a line of output not yet complete
    std::string tail;  // its last output, kTailBytes at most once trimmed
    absl::Time window_start = absl::InfinitePast();
    size_t window_bytes = 0;   // logged in the current second
    size_t dropped_bytes = 0;  // not logged, over the rate
    size_t dropped_lines = 0;
    bool term_sent = false;
    bool kill_sent = false;
    absl::Time kill_at = absl::InfiniteFuture();
    // Guarded by mu.
    bool reaped = false;
  };

  // Ended is a reaped gofer, kept for StartFailure.
  struct Ended {
    uint64_t id;
    pid_t pid;
    GoferExit exit;
    std::string error_line;
  };

  // StartRequest is a Start waiting for the loop's answer.
  struct StartRequest {
    std::string label;
    const GoferSpec* spec;
    bool done = false;
    absl::StatusOr<Started> result = absl::UnknownError("not started");
  };

  Impl(const context::Context& c, SupervisorOptions o, OnExit cb)
      : ctx(c), options(std::move(o)), on_exit(std::move(cb)) {}

  const context::Context& ctx;
  const SupervisorOptions options;
  const OnExit on_exit;
  fd::OwnedFd epoll;
  fd::OwnedFd wake;
  std::thread thread;

  mutable std::mutex mu;
  std::condition_variable
      changed;  // a request answered, a gofer reaped or reported
  std::map<uint64_t, std::unique_ptr<Gofer>> gofers;  // guarded by mu
  std::deque<Ended> ended;                            // guarded by mu
  std::deque<StartRequest*> starts;                   // guarded by mu
  std::vector<uint64_t> stops;                        // guarded by mu
  bool stop_all = false;    // guarded by mu: StopAll has begun
  bool signal_all = false;  // guarded by mu: the loop is to SIGTERM all
  bool quit = false;        // guarded by mu
  size_t running = 0;       // guarded by mu
  uint64_t next_id = 1;     // guarded by mu; written by the loop thread

  // OnLoopThread reports whether the caller is this supervisor's thread
  // (on_exit calling Start).
  bool OnLoopThread() const;

  void Wake() {
    uint64_t one = 1;
    (void)!write(wake.get(), &one, sizeof(one));
  }

  void Loop();
  void ServeRequests();
  absl::StatusOr<Started> DoStart(absl::string_view label,
                                  const GoferSpec& spec);
  void SignalGofer(Gofer& g, int sig);
  void ReadOutput(Gofer& g, int max_reads);
  void AppendOutput(Gofer& g, absl::string_view data);
  void EmitLine(Gofer& g, absl::string_view line);
  void NoteDropped(Gofer& g);
  void CloseOutput(Gofer& g);
  void Reap(Gofer& g);
  absl::Time NextDeadline();
  void KillOverdue();
};

namespace {
// t_loop is the supervisor whose thread this is, if any.
thread_local const void* t_loop = nullptr;
}  // namespace

bool GoferSupervisor::Impl::OnLoopThread() const { return t_loop == this; }

absl::StatusOr<std::unique_ptr<GoferSupervisor>> GoferSupervisor::Create(
    const context::Context& ctx, SupervisorOptions options, OnExit on_exit) {
  const std::string& bin = options.binary;
  if (bin.empty() || bin[0] != '/' || HasNul(bin)) {
    return absl::InvalidArgumentError(
        absl::StrCat("gofer binary \"", absl::CHexEscape(bin),
                     "\" is not an absolute path"));
  }
  struct stat st;
  if (stat(bin.c_str(), &st) != 0) {
    return syserr::WithCode(
        absl::StatusCode::kInvalidArgument,
        syserr::FromLastErrno(absl::StrCat("gofer binary ", bin)));
  }
  if (!S_ISREG(st.st_mode) || access(bin.c_str(), X_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gofer binary ", bin, " is not an executable file"));
  }
  if (options.max_gofers == 0) {
    return absl::InvalidArgumentError("max_gofers must be at least 1");
  }
  if (options.stop_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("stop_grace must not be negative");
  }
  auto impl =
      std::make_unique<Impl>(ctx, std::move(options), std::move(on_exit));
  impl->epoll.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!impl->epoll.valid()) return ResourceError(errno, "epoll_create1");
  impl->wake.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!impl->wake.valid()) return ResourceError(errno, "eventfd");
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (epoll_ctl(impl->epoll.get(), EPOLL_CTL_ADD, impl->wake.get(), &ev) != 0) {
    return ResourceError(errno, "epoll_ctl");
  }
  // The thread starts with every signal blocked (and keeps it so): no
  // handler of the shim's can run in a child between fork and exec.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  Impl* raw = impl.get();
  absl::Status started;
  try {
    impl->thread = std::thread([raw] { raw->Loop(); });
  } catch (const std::system_error& e) {
    started = absl::ResourceExhaustedError(
        absl::StrCat("cannot start the gofer supervisor's thread: ", e.what()));
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!started.ok()) return started;
  return std::unique_ptr<GoferSupervisor>(new GoferSupervisor(std::move(impl)));
}

GoferSupervisor::GoferSupervisor(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

GoferSupervisor::~GoferSupervisor() {
  StopAll();
  {
    std::unique_lock<std::mutex> l(impl_->mu);
    impl_->quit = true;
  }
  impl_->Wake();
  impl_->thread.join();
}

absl::StatusOr<GoferSupervisor::Started> GoferSupervisor::Start(
    absl::string_view label, const GoferSpec& spec) {
  if (absl::Status s = ValidateGoferSpec(spec); !s.ok()) return s;
  if (impl_->OnLoopThread()) return impl_->DoStart(label, spec);
  Impl::StartRequest req;
  req.label = std::string(label);
  req.spec = &spec;
  std::unique_lock<std::mutex> l(impl_->mu);
  if (impl_->stop_all) {
    return absl::UnavailableError("the gofer supervisor is stopping");
  }
  impl_->starts.push_back(&req);
  impl_->Wake();
  while (!req.done) impl_->changed.wait(l);
  return std::move(req.result);
}

absl::Status GoferSupervisor::StartFailure(uint64_t id, absl::Time deadline) {
  std::unique_lock<std::mutex> l(impl_->mu);
  for (;;) {
    for (const Impl::Ended& e : impl_->ended) {
      if (e.id != id) continue;
      return absl::FailedPreconditionError(absl::StrCat(
          "the gofer (pid ", e.pid, ") ", e.exit.ToString(), " before serving",
          e.error_line.empty() ? "" : ": ", e.error_line));
    }
    auto it = impl_->gofers.find(id);
    if (it == impl_->gofers.end()) {
      return absl::NotFoundError(absl::StrCat("no gofer ", id));
    }
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(
          absl::StrCat("the gofer (pid ", it->second->pid,
                       ") still runs but does not serve"));
    }
    impl_->changed.wait_until(l, absl::ToChronoTime(deadline));
  }
}

absl::Status GoferSupervisor::Stop(uint64_t id) {
  if (impl_->OnLoopThread()) {
    return absl::FailedPreconditionError(
        "GoferSupervisor::Stop called from on_exit");
  }
  std::unique_lock<std::mutex> l(impl_->mu);
  if (id == 0 || id >= impl_->next_id) {
    return absl::NotFoundError(absl::StrCat("no gofer ", id));
  }
  // Erased once on_exit has run: gone already.
  if (impl_->gofers.find(id) == impl_->gofers.end()) return absl::OkStatus();
  impl_->stops.push_back(id);
  impl_->Wake();
  while (impl_->gofers.find(id) != impl_->gofers.end()) {
    impl_->changed.wait(l);
  }
  return absl::OkStatus();
}

void GoferSupervisor::StopAll() {
  std::unique_lock<std::mutex> l(impl_->mu);
  impl_->stop_all = true;
  impl_->signal_all = true;
  impl_->Wake();
  if (impl_->OnLoopThread()) return;  // on_exit: the loop goes on
  while (!impl_->gofers.empty()) impl_->changed.wait(l);
}

size_t GoferSupervisor::Running() const {
  std::unique_lock<std::mutex> l(impl_->mu);
  return impl_->running;
}

void GoferSupervisor::Impl::Loop() {
  t_loop = this;
  epoll_event events[kMaxEvents];
  for (;;) {
    absl::Time deadline = NextDeadline();
    int timeout = -1;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - absl::Now();
      timeout = left <= absl::ZeroDuration()
                    ? 0
                    : static_cast<int>(std::min<int64_t>(
                          absl::ToInt64Milliseconds(
                              absl::Ceil(left, absl::Milliseconds(1))),
                          1 << 30));
    }
    int n = epoll_wait(epoll.get(), events, kMaxEvents, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Nothing to recover: epoll_wait fails only on a bad set.
      ctx.Warningf("gofer supervisor: epoll_wait: %s", strerror(errno));
      n = 0;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        uint64_t v;
        (void)!read(wake.get(), &v, sizeof(v));
        continue;
      }
      Gofer* g = nullptr;
      {
        std::unique_lock<std::mutex> l(mu);
        auto it = gofers.find(tag >> 1);
        if (it != gofers.end()) g = it->second.get();
      }
      // Only this thread erases gofers: g stays valid until Reap.
      if (g == nullptr || !g->pidfd.valid()) continue;
      if (tag & 1) {
        if (g->out.valid()) ReadOutput(*g, kMaxReadsPerWake);
      } else {
        Reap(*g);
      }
    }
    ServeRequests();
    KillOverdue();
    std::unique_lock<std::mutex> l(mu);
    if (quit && gofers.empty()) break;
  }
  // Starts still queued are refused (StopAll refuses new ones already).
  std::unique_lock<std::mutex> l(mu);
  for (StartRequest* r : starts) {
    r->result = absl::UnavailableError("the gofer supervisor is stopping");
    r->done = true;
  }
  starts.clear();
  changed.notify_all();
}

void GoferSupervisor::Impl::ServeRequests() {
  for (;;) {
    StartRequest* req = nullptr;
    std::vector<uint64_t> to_stop;
    bool all = false;
    {
      std::unique_lock<std::mutex> l(mu);
      to_stop.swap(stops);
      all = signal_all;
      signal_all = false;
      if (!starts.empty()) {
        req = starts.front();
        starts.pop_front();
      }
    }
    // Gofers are erased by this thread only: the pointers stay valid.
    std::vector<Gofer*> targets;
    {
      std::unique_lock<std::mutex> l(mu);
      if (all) {
        for (auto& [id, g] : gofers) targets.push_back(g.get());
      } else {
        for (uint64_t id : to_stop) {
          auto it = gofers.find(id);
          if (it != gofers.end()) targets.push_back(it->second.get());
        }
      }
    }
    for (Gofer* g : targets) {
      if (g->term_sent || !g->pidfd.valid()) continue;
      SignalGofer(*g, SIGTERM);
      g->term_sent = true;
      g->kill_at = absl::Now() + options.stop_grace;
    }
    if (req == nullptr) return;
    absl::StatusOr<Started> r = DoStart(req->label, *req->spec);
    std::unique_lock<std::mutex> l(mu);
    req->result = std::move(r);
    req->done = true;
    changed.notify_all();
  }
}

absl::StatusOr<GoferSupervisor::Started> GoferSupervisor::Impl::DoStart(
    absl::string_view label, const GoferSpec& spec) {
  {
    std::unique_lock<std::mutex> l(mu);
    if (stop_all) {
      return absl::UnavailableError("the gofer supervisor is stopping");
    }
    if (running >= options.max_gofers) {
      return absl::ResourceExhaustedError(
          absl::StrCat("gofer for ", label, ": ", running,
                       " gofers run already, the most this shim runs (",
                       options.max_gofers, ")"));
    }
  }
  const std::string what = absl::StrCat("gofer for ", label);
  // Everything exec needs, built before the fork.
  std::vector<std::string> args = {options.binary,
                                   absl::StrCat("--fd=", kGoferFd),
                                   absl::StrCat("--root=", spec.root)};
  for (const std::string& r : spec.allow) args.push_back("--allow=" + r);
  for (const std::string& f : spec.cdi_specs) args.push_back("--cdi_spec=" + f);
  for (const std::string& d : spec.cdi_devices) {
    args.push_back("--cdi_device=" + d);
  }
  if (spec.scoped()) args.push_back("--private_dir");
  if (spec.readonly) args.push_back("--readonly");
  args.insert(args.end(), options.extra_flags.begin(),
              options.extra_flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view v(*e);
    bool keep = true;
    for (absl::string_view p : kPrivateEnv) {
      if (absl::StartsWith(v, p)) keep = false;
    }
    if (keep) envp.push_back(*e);
  }
  envp.push_back(nullptr);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return ResourceError(errno, what + ": socketpair");
  }
  fd::OwnedFd mine(sv[0]), theirs(sv[1]);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ResourceError(errno, what + ": pipe2");
  fd::OwnedFd out_r(p[0]), out_w(p[1]);
  if (fcntl(out_r.get(), F_SETFL, O_NONBLOCK) != 0) {
    return syserr::FromLastErrno(what + ": fcntl(O_NONBLOCK)");
  }
  if (pipe2(p, O_CLOEXEC) != 0) return ResourceError(errno, what + ": pipe2");
  fd::OwnedFd err_r(p[0]), err_w(p[1]);
  fd::OwnedFd devnull(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull.valid()) {
    return ResourceError(errno, what + ": open /dev/null");
  }
  const ChildFds child_fds = {devnull.get(), out_w.get(), theirs.get(),
                              err_w.get()};
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) ChildMain(child_fds, parent, argv.data(), envp.data());
  if (pid < 0) return ResourceError(errno, what + ": fork");
  theirs.reset();
  out_w.reset();
  err_w.reset();
  devnull.reset();
  // The child cannot be reaped by anyone but us until we wait for it, so
  // its pid names it here.
  fd::OwnedFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  const int pidfd_err = errno;
  // The child closes its end at exec, or reports why it could not.
  ChildError ce = {};
  ssize_t got;
  do {
    got = read(err_r.get(), &ce, sizeof(ce));
  } while (got < 0 && errno == EINTR);
  if (got != 0 || !pidfd.valid()) {
    if (got != static_cast<ssize_t>(sizeof(ce))) kill(pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    if (got == static_cast<ssize_t>(sizeof(ce))) {
      absl::Status s = syserr::FromErrno(
          ce.err, ce.step == kStepExec
                      ? absl::StrCat("cannot run ", options.binary)
                      : absl::StrCat("cannot start ", options.binary, ": ",
                                     ChildStepName(ce.step)));
      return syserr::WithCode(absl::StatusCode::kFailedPrecondition, s);
    }
    if (got != 0) {
      return absl::InternalError(
          absl::StrCat(what, ": the child ended before exec"));
    }
    return ResourceError(pidfd_err, what + ": pidfd_open");
  }
  auto g = std::make_unique<Gofer>();
  {
    std::unique_lock<std::mutex> l(mu);
    g->id = next_id++;
  }
  g->pid = pid;
  g->label = std::string(label);
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = g->id << 1;
  bool added_pidfd =
      epoll_ctl(epoll.get(), EPOLL_CTL_ADD, pidfd.get(), &ev) == 0;
  ev.data.u64 = g->id << 1 | 1;
  if (!added_pidfd ||
      epoll_ctl(epoll.get(), EPOLL_CTL_ADD, out_r.get(), &ev) != 0) {
    const int err = errno;
    if (added_pidfd)
      epoll_ctl(epoll.get(), EPOLL_CTL_DEL, pidfd.get(), nullptr);
    kill(-pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return ResourceError(err, what + ": epoll_ctl");
  }
  g->pidfd = std::move(pidfd);
  g->out = std::move(out_r);
  absl::StatusOr<unet::Socket> sock = unet::Socket::FromFd(std::move(mine));
  if (!sock.ok()) {
    // A socket pair is a socket: this does not happen; the gofer is
    // stopped and reaped as any other.
    SignalGofer(*g, SIGKILL);
    g->kill_sent = true;
  }
  Started s;
  s.id = g->id;
  s.pid = pid;
  ctx.Infof("gofer for %s: started, pid %d", label, pid);
  {
    std::unique_lock<std::mutex> l(mu);
    ++running;
    gofers.emplace(g->id, std::move(g));
  }
  if (!sock.ok()) return syserr::WithContext(sock.status(), what);
  s.sock = *std::move(sock);
  return s;
}

void GoferSupervisor::Impl::SignalGofer(Gofer& g, int sig) {
  // Its process group, while its leader is not reaped: the id is not
  // reused before.
  if (kill(-g.pid, sig) != 0 && errno == ESRCH) {
    // Not yet (or no longer) a group leader: the process itself.
    syscall(SYS_pidfd_send_signal, g.pidfd.get(), sig, nullptr, 0);
  }
}

void GoferSupervisor::Impl::ReadOutput(Gofer& g, int max_reads) {
  char buf[kReadBytes];
  for (int i = 0; i < max_reads; ++i) {
    ssize_t n = read(g.out.get(), buf, sizeof(buf));
    if (n > 0) {
      AppendOutput(g, absl::string_view(buf, n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {
      ctx.Warningf("gofer for %s: reading its output: %s", g.label,
                   strerror(errno));
    }
    CloseOutput(g);
    return;
  }
}

void GoferSupervisor::Impl::AppendOutput(Gofer& g, absl::string_view data) {
  g.tail.append(data.data(), data.size());
  if (g.tail.size() > 2 * kTailBytes)
    g.tail.erase(0, g.tail.size() - kTailBytes);
  while (!data.empty()) {
    size_t nl = data.find('\n');
    absl::string_view piece = data.substr(0, nl);
    size_t room = kMaxLineBytes - g.line.size();
    if (piece.size() > room) {
      g.line.append(piece.data(), room);
      EmitLine(g, g.line);
      g.line.clear();
      data.remove_prefix(room);
      continue;
    }
    g.line.append(piece.data(), piece.size());
    if (nl == absl::string_view::npos) return;
    EmitLine(g, g.line);
    g.line.clear();
    data.remove_prefix(nl + 1);
  }
}

void GoferSupervisor::Impl::EmitLine(Gofer& g, absl::string_view line) {
  const absl::Time now = absl::Now();
  if (now - g.window_start >= absl::Seconds(1)) {
    NoteDropped(g);
    g.window_start = now;
    g.window_bytes = 0;
  }
  if (g.window_bytes + line.size() > kMaxLogBytesPerSecond) {
    g.dropped_bytes += line.size();
    ++g.dropped_lines;
    return;
  }
  g.window_bytes += line.size();
  ctx.Infof("gofer for %s (pid %d): %s", g.label, g.pid, line);
}

void GoferSupervisor::Impl::NoteDropped(Gofer& g) {
  if (g.dropped_lines == 0) return;
  ctx.Warningf(
      "gofer for %s (pid %d): %d line(s), %d bytes, of its output not logged "
      "(more than %d bytes a second)",
      g.label, g.pid, g.dropped_lines, g.dropped_bytes, kMaxLogBytesPerSecond);
  g.dropped_lines = 0;
  g.dropped_bytes = 0;
}

void GoferSupervisor::Impl::CloseOutput(Gofer& g) {
  if (!g.out.valid()) return;
  if (!g.line.empty()) {
    EmitLine(g, g.line);
    g.line.clear();
  }
  NoteDropped(g);
  epoll_ctl(epoll.get(), EPOLL_CTL_DEL, g.out.get(), nullptr);
  g.out.reset();
}

void GoferSupervisor::Impl::Reap(Gofer& g) {
  // It has exited: whatever is left of its process group goes with it
  // (its id is not reused before the reap), and everything it wrote is in
  // the pipe (read to the end, unless something it left behind still
  // writes: the rest is then not waited for).
  kill(-g.pid, SIGKILL);
  if (g.out.valid()) ReadOutput(g, kMaxReadsAtExit);
  CloseOutput(g);
  GoferExit exit;
  siginfo_t si = {};
  int rc;
  do {
    rc = waitid(static_cast<idtype_t>(P_PIDFD), g.pidfd.get(), &si, WEXITED);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) {
    if (si.si_code == CLD_EXITED) {
      exit.exit_code = si.si_status;
    } else {
      exit.signal = si.si_status;
    }
  } else {
    ctx.Warningf("gofer for %s (pid %d): waitid: %s", g.label, g.pid,
                 strerror(errno));
  }
  epoll_ctl(epoll.get(), EPOLL_CTL_DEL, g.pidfd.get(), nullptr);
  g.pidfd.reset();
  if (g.tail.size() > kTailBytes) g.tail.erase(0, g.tail.size() - kTailBytes);
  const std::string how =
      absl::StrCat("gofer for ", g.label, " (pid ", g.pid, ") ",
                   g.term_sent ? "stopped: " : "", exit.ToString());
  ctx.Log(g.term_sent ? context::LogLevel::kInfo : context::LogLevel::kWarning,
          how);
  {
    std::unique_lock<std::mutex> l(mu);
    g.reaped = true;
    --running;
    ended.push_back(Ended{g.id, g.pid, exit, ErrorLine(g.tail)});
    while (ended.size() > kExitHistory) ended.pop_front();
    changed.notify_all();
  }
  if (on_exit) on_exit(g.id, exit, g.tail);
  std::unique_lock<std::mutex> l(mu);
  gofers.erase(g.id);
  changed.notify_all();
}

absl::Time GoferSupervisor::Impl::NextDeadline() {
  absl::Time next = absl::InfiniteFuture();
  std::unique_lock<std::mutex> l(mu);
  for (auto& [id, g] : gofers) {
    if (g->term_sent && !g->kill_sent) next = std::min(next, g->kill_at);
  }
  return next;
}

void GoferSupervisor::Impl::KillOverdue() {
  const absl::Time now = absl::Now();
  std::vector<Gofer*> overdue;
  {
    std::unique_lock<std::mutex> l(mu);
    for (auto& [id, g] : gofers) {
      if (g->term_sent && !g->kill_sent && g->kill_at <= now &&
          g->pidfd.valid()) {
        overdue.push_back(g.get());
      }
    }
  }
  for (Gofer* g : overdue) {
    ctx.Warningf(
        "gofer for %s (pid %d): still running %s after SIGTERM, "
        "sending SIGKILL",
        g->label, g->pid, absl::FormatDuration(options.stop_grace));
    SignalGofer(*g, SIGKILL);
    g->kill_sent = true;
  }
}

}  // namespace gvisor::shim
