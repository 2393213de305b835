#include "runsc_shim/managed.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "runsc_shim/gofer_output.h"
#include "runsc_shim/validate.h"

namespace gvisor::shim {
namespace {

// kDyingGoferWait is how long a gofer whose connection ended gets to be
// reaped before it is taken to be alive and cut off.
constexpr absl::Duration kDyingGoferWait = absl::Milliseconds(200);

// kCutOffTick bounds CutOffLoop's wait for a change of the registry.
constexpr absl::Duration kCutOffTick = absl::Seconds(1);

// kStartFailureWait bounds the wait for a gofer whose socket ended to exit,
// so that its own reason can be told.
constexpr absl::Duration kStartFailureWait = absl::Seconds(2);

// Explain turns a failed mount over a new gofer's socket into the gofer's
// own reason when it exited before serving (FAILED_PRECONDITION from
// GoferSupervisor::StartFailure), else keeps s.
absl::Status Explain(GoferSupervisor& sup, uint64_t id, absl::Status s,
                     absl::Time deadline) {
  if (s.code() != absl::StatusCode::kUnavailable) return s;
  absl::Status why =
      sup.StartFailure(id, std::min(deadline, absl::Now() + kStartFailureWait));
  return why.code() == absl::StatusCode::kFailedPrecondition ? why : s;
}

}  // namespace

struct ManagedContainers::Entry {
  GoferSpec spec;
  // info is the record as published (its version aside).
  ManagedGoferInfo info;
  // gofer_id is the supervisor's id of the gofer now running, 0 if none.
  uint64_t gofer_id = 0;
  // attached: the registry holds the container (Attach has finished).
  bool attached = false;
  // detaching: Detach or StopAll has begun; nothing restarts any more.
  bool detaching = false;
  // restarting: Restart is running for this entry.
  bool restarting = false;
  // backoff is the wait before the next restart.
  absl::Duration backoff;
  // pending_error, if set, is why a restart's gofer is being stopped; it
  // becomes last_error when that gofer is reaped.
  std::string pending_error;
};

absl::StatusOr<std::unique_ptr<ManagedContainers>> ManagedContainers::Create(
    const context::Context& ctx, ContainerRegistry* registry,
    ManagedOptions options) {
  std::unique_ptr<ManagedContainers> m(
      new ManagedContainers(ctx, registry, std::move(options)));
  ManagedContainers* self = m.get();
  ASSIGN_OR_RETURN(
      m->supervisor_,
      GoferSupervisor::Create(
          ctx, m->options_.supervisor,
          [self](uint64_t id, const GoferExit& exit, const std::string& tail) {
            self->OnExit(id, exit, tail);
          }));
  m->restarter_ = std::thread([self] { self->RestartLoop(); });
  m->cutter_ = std::thread([self] { self->CutOffLoop(); });
  return m;
}

ManagedContainers::~ManagedContainers() { StopAll(); }

absl::StatusOr<ContainerInfo> ManagedContainers::Attach(absl::string_view name,
                                                        const GoferSpec& spec,
                                                        absl::Time deadline) {
  RETURN_IF_ERROR(ValidateContainerName(name));
  RETURN_IF_ERROR(ValidateGoferSpec(spec));
  const std::string what = absl::StrCat("attach of container \"", name, "\"");
  auto e = std::make_shared<Entry>();
  e->spec = spec;
  e->backoff = options_.restart_backoff;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) {
      return absl::UnavailableError(
          absl::StrCat(what, ": the shim is shutting down"));
    }
    if (by_name_.contains(name) || registry_->Get(name).ok()) {
      return absl::AlreadyExistsError(absl::StrCat(what, ": already attached"));
    }
    by_name_.emplace(std::string(name), e);
  }
  // Forget e on every failure below.
  auto fail = [&](absl::Status s) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = by_name_.find(name);
    if (it != by_name_.end() && it->second == e) by_name_.erase(it);
    if (e->gofer_id != 0) by_gofer_.erase(e->gofer_id);
    ++start_failures_total_;
    cv_.notify_all();
    return s;
  };
  absl::StatusOr<GoferSupervisor::Started> started =
      supervisor_->Start(name, spec);
  if (!started.ok()) {
    return fail(syserr::WithContext(started.status(), what));
  }
  ManagedGoferInfo info;
  info.spec = spec;
  info.state = ManagedGoferInfo::State::kRunning;
  info.pid = started->pid;
  info.started = absl::Now();
  const uint64_t id = started->id;
  {
    std::lock_guard<std::mutex> l(mu_);
    e->info = info;
    if (e->detaching) {
      // Detached (or shut down) while the gofer started.
    } else {
      e->gofer_id = id;
      by_gofer_.emplace(id, std::string(name));
    }
  }
  absl::StatusOr<ContainerInfo> attached =
      registry_->Attach(name, std::move(started->sock), deadline, info);
  if (!attached.ok()) {
    absl::Status s = Explain(*supervisor_, id, attached.status(), deadline);
    {
      std::lock_guard<std::mutex> l(mu_);
      e->detaching = true;  // its exit must not restart it
    }
    (void)supervisor_->Stop(id);
    return fail(s);
  }
  bool detach_now = false;
  std::optional<ManagedGoferInfo> republish;
  {
    std::lock_guard<std::mutex> l(mu_);
    e->attached = true;
    detach_now = e->detaching;
    if (!detach_now && e->gofer_id == 0) {
      // The gofer was reaped while the mount finished: treat its exit now.
      republish = Exited(e.get());
    }
    if (republish.has_value()) {
      (void)registry_->SetGofer(name, *republish);
      cv_.notify_all();
    }
  }
  if (detach_now) {
    (void)registry_->Detach(name);
    (void)supervisor_->Stop(id);
    return absl::UnavailableError(
        absl::StrCat(what, ": detached while it was being attached"));
  }
  ctx_.Infof("container %s: managed gofer pid %d serves %s", name, started->pid,
             spec.root);
  if (republish.has_value()) return registry_->Get(name);
  return attached;
}

ManagedGoferInfo ManagedContainers::Exited(Entry* e) {
  const absl::Time now = absl::Now();
  if (!e->spec.restart || stopping_ || e->detaching) {
    e->info.state = ManagedGoferInfo::State::kExited;
    e->info.next_restart = absl::InfinitePast();
    return e->info;
  }
  if (now - e->info.started >= options_.stable_after) {
    e->backoff = options_.restart_backoff;
  }
  e->info.state = ManagedGoferInfo::State::kRestarting;
  e->info.next_restart = now + e->backoff;
  e->backoff = std::min(e->backoff * 2, options_.restart_backoff_max);
  return e->info;
}

void ManagedContainers::OnExit(uint64_t id, const GoferExit& exit,
                               const std::string& tail) {
  std::lock_guard<std::mutex> l(mu_);
  auto g = by_gofer_.find(id);
  if (g == by_gofer_.end()) return;  // an attach that failed, or a detach
  const std::string name = g->second;
  by_gofer_.erase(g);
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return;
  Entry* e = it->second.get();
  if (e->gofer_id != id) return;
  e->gofer_id = 0;
  e->info.last_exit = exit;
  e->info.last_error = e->pending_error.empty()
                           ? ErrorLine(tail, /*or_last=*/false)
                           : std::move(e->pending_error);
  e->pending_error.clear();
  ctx_.Warningf("container %s: managed gofer pid %d %s%s%s", name, e->info.pid,
                exit.ToString(), e->info.last_error.empty() ? "" : ": ",
                e->info.last_error);
  if (!e->attached || e->detaching) {
    cv_.notify_all();
    return;  // Attach (or Detach) is still in charge
  }
  (void)registry_->SetGofer(name, Exited(e));
  cv_.notify_all();
}

void ManagedContainers::RestartLoop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    if (stopping_) return;
    // The earliest restart due, if any.
    absl::Time next = absl::InfiniteFuture();
    std::string due;
    std::shared_ptr<Entry> due_entry;
    const absl::Time now = absl::Now();
    for (const auto& [name, e] : by_name_) {
      if (e->info.state != ManagedGoferInfo::State::kRestarting ||
          e->restarting || e->detaching || !e->attached || e->gofer_id != 0) {
        continue;
      }
      if (e->info.next_restart <= now) {
        due = name;
        due_entry = e;
        break;
      }
      next = std::min(next, e->info.next_restart);
    }
    if (due_entry != nullptr) {
      due_entry->restarting = true;
      l.unlock();
      Restart(due, due_entry);
      l.lock();
      due_entry->restarting = false;
      cv_.notify_all();
      continue;
    }
    if (next == absl::InfiniteFuture()) {
      cv_.wait(l);
    } else {
      cv_.wait_for(l, absl::ToChronoNanoseconds(next - now));
    }
  }
}

void ManagedContainers::Restart(const std::string& name,
                                std::shared_ptr<Entry> e) {
  GoferSpec spec;
  {
    std::lock_guard<std::mutex> l(mu_);
    spec = e->spec;
  }
  absl::StatusOr<GoferSupervisor::Started> started =
      supervisor_->Start(name, spec);
  if (!started.ok()) {
    std::lock_guard<std::mutex> l(mu_);
    ++start_failures_total_;
    e->info.last_error = std::string(started.status().message());
    const absl::Time now = absl::Now();
    e->info.next_restart = now + e->backoff;
    e->backoff = std::min(e->backoff * 2, options_.restart_backoff_max);
    ctx_.Warningf("container %s: restart of its gofer failed: %s", name,
                  e->info.last_error);
    if (!e->detaching) (void)registry_->SetGofer(name, e->info);
    return;
  }
  const uint64_t id = started->id;
  ManagedGoferInfo info;
  bool detaching;
  {
    std::lock_guard<std::mutex> l(mu_);
    detaching = e->detaching;
    if (!detaching) {
      e->gofer_id = id;
      by_gofer_.emplace(id, name);
      info = e->info;
      info.state = ManagedGoferInfo::State::kRunning;
      info.pid = started->pid;
      info.started = absl::Now();
      info.next_restart = absl::InfinitePast();
      ++info.restarts;
    }
  }
  if (detaching) {
    (void)supervisor_->Stop(id);
    return;
  }
  const absl::Time deadline = absl::Now() + options_.restart_timeout;
  absl::StatusOr<ContainerInfo> replaced =
      registry_->Replace(name, std::move(started->sock), deadline, info);
  if (!replaced.ok()) {
    absl::Status s = Explain(*supervisor_, id, replaced.status(), deadline);
    {
      std::lock_guard<std::mutex> l(mu_);
      ++start_failures_total_;
      if (e->gofer_id == id) {
        e->pending_error = absl::StrCat("restart: ", s.message());
      }
    }
    ctx_.Warningf("container %s: restart of its gofer failed: %s", name,
                  s.message());
    // Its reaping schedules the next restart (OnExit), unless detached.
    (void)supervisor_->Stop(id);
    return;
  }
  std::lock_guard<std::mutex> l(mu_);
  ++restarts_total_;
  if (e->detaching) {
    // Detach (which waits for this restart, then stops e->gofer_id) or
    // StopAll (which stops every gofer) began while the mount finished.
    if (e->gofer_id == id) e->info = info;
    return;
  }
  if (e->gofer_id == id) {
    e->info = info;
  } else if (!e->detaching) {
    // Reaped while the mount finished: OnExit recorded it (and scheduled
    // the next restart) before Replace installed the running record.
    e->info.restarts = info.restarts;
    e->info.pid = info.pid;
    (void)registry_->SetGofer(name, e->info);
  }
  ctx_.Infof("container %s: managed gofer restarted, pid %d (restart %d)", name,
             info.pid, info.restarts);
}

void ManagedContainers::CutOffLoop() {
  for (;;) {
    // The generation is read before the look, so that a change after it
    // makes AwaitChange return at once.
    const uint64_t gen = registry_->generation();
    std::vector<std::pair<std::string, uint64_t>> running;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return;
      for (const auto& [name, e] : by_name_) {
        if (e->attached && !e->detaching && !e->restarting &&
            e->gofer_id != 0 &&
            e->info.state == ManagedGoferInfo::State::kRunning) {
          running.emplace_back(name, e->gofer_id);
        }
      }
    }
    for (const auto& [name, id] : running) {
      absl::StatusOr<ContainerInfo> c = registry_->Get(name);
      if (!c.ok() || c->state != ContainerState::kDisconnected) continue;
      // A gofer that died ended its connection on its way out: it is being
      // reaped, and needs no stopping.
      if (supervisor_->Exited(id, absl::Now() + kDyingGoferWait)) continue;
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = by_name_.find(name);
        if (it == by_name_.end() || it->second->gofer_id != id ||
            it->second->detaching) {
          continue;
        }
        it->second->pending_error =
            absl::StrCat("its connection ended (", c->disconnect_reason,
                         ") and it was stopped");
      }
      ctx_.Warningf(
          "container %s: its managed gofer's connection ended (%s); "
          "stopping the gofer",
          name, c->disconnect_reason);
      (void)supervisor_->Stop(id);
    }
    // Bounded: StopAll's WakeWaiters may come just before this wait, and
    // a wake-up that finds no waiter is not kept.
    registry_->AwaitChange(gen, absl::Now() + kCutOffTick);
  }
}

bool ManagedContainers::Manages(absl::string_view name) const {
  std::lock_guard<std::mutex> l(mu_);
  return by_name_.contains(name);
}

absl::Status ManagedContainers::Detach(absl::string_view name) {
  std::shared_ptr<Entry> e;
  uint64_t id = 0;
  bool attached = false;
  {
    std::unique_lock<std::mutex> l(mu_);
    auto it = by_name_.find(name);
    if (it == by_name_.end() || it->second->detaching) {
      return absl::NotFoundError(
          absl::StrCat("container \"", name, "\" is not attached"));
    }
    e = it->second;
    e->detaching = true;
    cv_.wait(l, [&] { return !e->restarting; });
    id = e->gofer_id;
    attached = e->attached;
  }
  absl::Status s = attached ? registry_->Detach(name) : absl::OkStatus();
  if (id != 0) (void)supervisor_->Stop(id);
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = by_name_.find(name);
    if (it != by_name_.end() && it->second == e) by_name_.erase(it);
    by_gofer_.erase(id);
  }
  if (!attached) {
    // Its Attach was still running; it fails and cleans up after itself.
    return absl::OkStatus();
  }
  return s;
}

void ManagedContainers::StopAll() {
  std::vector<std::pair<std::string, bool>> names;
  {
    std::unique_lock<std::mutex> l(mu_);
    stopping_ = true;
    for (auto& [name, e] : by_name_) {
      e->detaching = true;
      names.emplace_back(name, e->attached);
    }
    cv_.notify_all();
  }
  // A restart under way is not waited for: stopping every gofer ends its
  // mount, and it detaches what it attached meanwhile.
  for (const auto& [name, attached] : names) {
    if (attached) (void)registry_->Detach(name);
  }
  if (supervisor_ != nullptr) supervisor_->StopAll();
  if (restarter_.joinable()) restarter_.join();
  registry_->WakeWaiters();  // CutOffLoop sees stopping_
  if (cutter_.joinable()) cutter_.join();
  std::lock_guard<std::mutex> l(mu_);
  by_name_.clear();
  by_gofer_.clear();
}

ManagedStats ManagedContainers::Stats() const {
  ManagedStats st;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [name, e] : by_name_) {
    if (!e->attached) {
      ++st.starting;
      continue;
    }
    switch (e->info.state) {
      case ManagedGoferInfo::State::kRunning:
        ++st.running;
        break;
      case ManagedGoferInfo::State::kRestarting:
        ++st.restarting;
        break;
      case ManagedGoferInfo::State::kExited:
        ++st.exited;
        break;
    }
  }
  st.restarts_total = restarts_total_;
  st.start_failures_total = start_failures_total_;
  return st;
}

}  // namespace gvisor::shim
