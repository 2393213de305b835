#include "runsc_shim/gofer_supervisor.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
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
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pkg/devscope/allowlist.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/gofer_child.h"
#include "runsc_shim/gofer_output.h"

namespace gvisor::shim {
namespace {

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

// MonotonicNow is CLOCK_MONOTONIC as an absl::Time: the loop's deadlines
// (SIGKILL after the grace) and the output's rate windows, which a change
// of the wall clock must not move.
absl::Time MonotonicNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::TimeFromTimespec(ts);
}

bool HasNul(absl::string_view s) {
  return s.find('\0') != absl::string_view::npos;
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

struct GoferSupervisor::Impl {
  // Gofer is one started gofer, from its start until it is reported.
  struct Gofer {
    uint64_t id = 0;
    pid_t pid = -1;
    std::string label;
    // Loop thread only.
    fd::OwnedFd pidfd;
    fd::OwnedFd out;  // the read end of its stdout and stderr
    std::unique_ptr<GoferOutput> output;
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
          "the gofer (pid ", e.pid, ") ", e.exit.signal > 0 ? "was " : "",
          e.exit.ToString(), " before serving",
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

bool GoferSupervisor::Exited(uint64_t id, absl::Time deadline) {
  std::unique_lock<std::mutex> l(impl_->mu);
  for (;;) {
    auto it = impl_->gofers.find(id);
    if (it == impl_->gofers.end() || it->second->reaped) return true;
    if (absl::Now() >= deadline) return false;
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
      absl::Duration left = deadline - MonotonicNow();
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
      g->kill_at = MonotonicNow() + options.stop_grace;
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
  absl::StatusOr<ForkedGofer> child = ForkGofer(args);
  if (!child.ok()) return syserr::WithContext(child.status(), what);
  const pid_t pid = child->pid;
  auto g = std::make_unique<Gofer>();
  {
    std::unique_lock<std::mutex> l(mu);
    g->id = next_id++;
  }
  g->pid = pid;
  g->label = std::string(label);
  g->pidfd = std::move(child->pidfd);
  g->out = std::move(child->output);
  g->output = std::make_unique<GoferOutput>(
      ctx, absl::StrCat("gofer for ", label, " (pid ", pid, ")"),
      options.log_bytes_per_second, kTailBytes);
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = g->id << 1;
  const bool added_pidfd =
      epoll_ctl(epoll.get(), EPOLL_CTL_ADD, g->pidfd.get(), &ev) == 0;
  ev.data.u64 = g->id << 1 | 1;
  if (!added_pidfd ||
      epoll_ctl(epoll.get(), EPOLL_CTL_ADD, g->out.get(), &ev) != 0) {
    const int err = errno;
    if (added_pidfd) {
      epoll_ctl(epoll.get(), EPOLL_CTL_DEL, g->pidfd.get(), nullptr);
    }
    kill(-pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return ResourceError(err, what + ": epoll_ctl");
  }
  absl::StatusOr<unet::Socket> sock =
      unet::Socket::FromFd(std::move(child->sock));
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
      g.output->Append(absl::string_view(buf, n), MonotonicNow());
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

void GoferSupervisor::Impl::CloseOutput(Gofer& g) {
  if (!g.out.valid()) return;
  g.output->End(MonotonicNow());
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
  const std::string tail = g.output->tail();
  const std::string how =
      absl::StrCat("gofer for ", g.label, " (pid ", g.pid, ") ",
                   g.term_sent ? "stopped: " : "", exit.ToString());
  ctx.Log(g.term_sent ? context::LogLevel::kInfo : context::LogLevel::kWarning,
          how);
  {
    std::unique_lock<std::mutex> l(mu);
    g.reaped = true;
    --running;
    ended.push_back(Ended{g.id, g.pid, exit, ErrorLine(tail)});
    while (ended.size() > kExitHistory) ended.pop_front();
    changed.notify_all();
  }
  if (on_exit) on_exit(g.id, exit, tail);
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
  const absl::Time now = MonotonicNow();
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
