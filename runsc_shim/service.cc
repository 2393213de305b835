#include "runsc_shim/service.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "runsc_shim/container_events.h"
#include "runsc_shim/validate.h"

namespace gvisor::shim {
namespace {

// Deadline returns the call's deadline as an absl::Time.
absl::Time Deadline(const grpc::ServerContext* ctx) {
  std::chrono::system_clock::time_point d = ctx->deadline();
  if (d == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(d);
}

// AttachBy is the deadline an attach passes to the registry: the call's,
// less Service::kAttachAnswerMargin (or a tenth of the time left).
absl::Time AttachBy(const grpc::ServerContext* ctx) {
  const absl::Time d = Deadline(ctx);
  if (d == absl::InfiniteFuture()) return d;
  const absl::Duration left = d - absl::Now();
  if (left <= absl::ZeroDuration()) return d;
  return d - std::min(left / 10, Service::kAttachAnswerMargin);
}

// Gone returns a non-OK status if the caller has gone away or its deadline
// has passed, so that no work starts for nobody.
absl::Status Gone(const grpc::ServerContext* ctx, absl::string_view op) {
  if (absl::Now() >= Deadline(ctx)) {
    return absl::DeadlineExceededError(
        absl::StrCat(op, ": deadline passed before the call started"));
  }
  if (ctx->IsCancelled()) {
    return absl::CancelledError(absl::StrCat(op, ": cancelled by the caller"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> OpenFlags(v1::AccessMode mode) {
  switch (mode) {
    case v1::ACCESS_MODE_UNSPECIFIED:
    case v1::READ:
      return O_RDONLY;
    case v1::WRITE:
      return O_WRONLY;
    case v1::READ_WRITE:
      return O_RDWR;
    default:
      return syserr::FromErrno(
          EINVAL, absl::StrCat("access mode ", static_cast<int>(mode),
                               ": not one of READ, WRITE, READ_WRITE"));
  }
}

v1::FileType FileTypeOf(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFCHR:
      return v1::CHAR_DEVICE;
    case S_IFBLK:
      return v1::BLOCK_DEVICE;
    case S_IFREG:
      return v1::REGULAR;
    case S_IFDIR:
      return v1::DIRECTORY;
    case S_IFIFO:
      return v1::FIFO;
    case S_IFSOCK:
      return v1::SOCKET;
    case S_IFLNK:
      return v1::SYMLINK;
    default:
      return v1::FILE_TYPE_UNSPECIFIED;
  }
}

// Describe fills *out's path, type, mode and device numbers from st.
void Describe(absl::string_view path, const struct stat& st,
              v1::DeviceInfo* out) {
  out->set_path(std::string(path));
  out->set_type(FileTypeOf(st.st_mode));
  out->set_mode(st.st_mode & 07777);
  const bool device = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
  out->set_rdev_major(device ? major(st.st_rdev) : 0);
  out->set_rdev_minor(device ? minor(st.st_rdev) : 0);
}

// Probe fills *out as ProbeDevice does for req (flags: its access mode).
absl::Status Probe(ContainerRegistry& registry,
                   const v1::ProbeDeviceRequest& req, int flags,
                   absl::Time deadline, v1::DeviceInfo* out) {
  struct stat st;
  if (req.open()) {
    // Non-blocking, as a probe must not wait for a driver (nor hold a
    // thread on one); the FD closes at once: it cannot travel over gRPC.
    ASSIGN_OR_RETURN(
        fd::OwnedFd fd,
        registry.OpenAt(req.name(), req.path(),
                        static_cast<uint32_t>(flags | O_NONBLOCK), deadline));
    if (fstat(fd.get(), &st) != 0) {
      return syserr::FromLastErrno(absl::StrCat(
          "container \"", req.name(), "\": fstat of \"", req.path(), "\""));
    }
    out->set_opened(true);
    out->set_access_mode(
        req.mode() == v1::ACCESS_MODE_UNSPECIFIED ? v1::READ : req.mode());
  } else {
    ASSIGN_OR_RETURN(st, registry.Stat(req.name(), req.path(), deadline));
  }
  Describe(req.path(), st, out);
  return absl::OkStatus();
}

v1::ContainerEvent::Kind EventKind(ContainerChange::Kind k) {
  switch (k) {
    case ContainerChange::Kind::kAttached:
      return v1::ContainerEvent::ATTACHED;
    case ContainerChange::Kind::kDisconnected:
      return v1::ContainerEvent::DISCONNECTED;
    case ContainerChange::Kind::kDetached:
      return v1::ContainerEvent::DETACHED;
    case ContainerChange::Kind::kReattached:
      return v1::ContainerEvent::REATTACHED;
    case ContainerChange::Kind::kGoferChanged:
      return v1::ContainerEvent::GOFER_CHANGED;
  }
  return v1::ContainerEvent::KIND_UNSPECIFIED;
}

// SetTimestamp sets *out to t.
void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  int64_t secs = absl::ToUnixSeconds(t);
  absl::Duration frac = t - absl::FromUnixSeconds(secs);
  out->set_seconds(secs);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(frac)));
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

void ToProto(const ContainerInfo& info, v1::Container* out) {
  out->set_name(info.name);
  out->set_gofer_socket(info.gofer_socket);
  out->set_state(info.state == ContainerState::kAttached
                     ? v1::Container::ATTACHED
                     : v1::Container::DISCONNECTED);
  SetTimestamp(info.attach_time, out->mutable_attach_time());
  out->set_mount_fd_donated(info.mount_fd_donated);
  out->set_disconnect_reason(info.disconnect_reason);
  if (info.reattach_time != absl::InfinitePast()) {
    SetTimestamp(info.reattach_time, out->mutable_reattach_time());
  }
  out->set_reattach_count(info.reattaches);
  if (info.gofer.has_value()) {
    const ManagedGoferInfo& g = *info.gofer;
    v1::ManagedGofer* m = out->mutable_gofer();
    v1::GoferSpec* spec = m->mutable_spec();
    spec->set_root(g.spec.root);
    for (const std::string& r : g.spec.allow) spec->add_allow(r);
    for (const std::string& f : g.spec.cdi_specs) spec->add_cdi_spec(f);
    for (const std::string& d : g.spec.cdi_devices) spec->add_cdi_device(d);
    spec->set_readonly(g.spec.readonly);
    spec->set_restart(g.spec.restart);
    switch (g.state) {
      case ManagedGoferInfo::State::kRunning:
        m->set_state(v1::ManagedGofer::RUNNING);
        break;
      case ManagedGoferInfo::State::kRestarting:
        m->set_state(v1::ManagedGofer::RESTARTING);
        break;
      case ManagedGoferInfo::State::kExited:
        m->set_state(v1::ManagedGofer::EXITED);
        break;
    }
    m->set_pid(g.pid);
    if (g.started != absl::InfinitePast()) {
      SetTimestamp(g.started, m->mutable_start_time());
    }
    if (g.last_exit.has_value()) {
      m->set_last_exit(g.last_exit->ToString());
      m->set_last_exit_code(g.last_exit->exit_code);
      m->set_last_exit_signal(g.last_exit->signal);
    }
    m->set_last_error(g.last_error);
    m->set_restarts(g.restarts);
    if (g.state == ManagedGoferInfo::State::kRestarting) {
      SetTimestamp(g.next_restart, m->mutable_next_restart_time());
    }
  }
}

GoferSpec FromProto(const v1::GoferSpec& spec) {
  GoferSpec out;
  if (!spec.root().empty()) out.root = spec.root();
  out.allow.assign(spec.allow().begin(), spec.allow().end());
  out.cdi_specs.assign(spec.cdi_spec().begin(), spec.cdi_spec().end());
  out.cdi_devices.assign(spec.cdi_device().begin(), spec.cdi_device().end());
  out.readonly = spec.readonly();
  out.restart = spec.restart();
  return out;
}

Service::Admission::Admission(Service* s)
    : s_(s), admitted_(!s->refusing_.load()) {
  if (admitted_) s_->running_.fetch_add(1);
}

Service::Admission::~Admission() {
  if (admitted_) s_->running_.fetch_sub(1);
}

void Service::Refuse() {
  refusing_.store(true);
  registry_->WakeWaiters();  // WatchContainers streams look again now
}

grpc::Status Service::Admission::status() const {
  if (admitted_) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "the shim is shutting down");
}

grpc::Status Service::AttachContainer(grpc::ServerContext* ctx,
                                      const v1::AttachContainerRequest* req,
                                      v1::Container* resp) {
  Admission admission(this);
  if (!admission.status().ok()) return admission.status();
  // The registry validates the name and the socket path.
  if (absl::Status s = Gone(ctx, "AttachContainer"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<ContainerInfo> info;
  if (req->has_managed()) {
    if (!req->gofer_socket().empty()) {
      return ToGrpcStatus(syserr::FromErrno(
          EINVAL, absl::StrCat("attach of container \"", req->name(),
                               "\": both gofer_socket and managed are set; "
                               "give one")));
    }
    if (managed_ == nullptr) {
      return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
          "attach of container \"", req->name(),
          "\": this shim runs no managed gofers (it has no gofer binary: "
          "see shim --gofer_binary)")));
    }
    info =
        managed_->Attach(req->name(), FromProto(req->managed()), AttachBy(ctx));
  } else {
    info = registry_->Attach(req->name(), req->gofer_socket(), AttachBy(ctx));
  }
  if (!info.ok()) return ToGrpcStatus(info.status());
  ToProto(*info, resp);
  return grpc::Status::OK;
}

grpc::Status Service::ReattachContainer(grpc::ServerContext* ctx,
                                        const v1::ReattachContainerRequest* req,
                                        v1::Container* resp) {
  Admission admission(this);
  if (!admission.status().ok()) return admission.status();
  // The registry validates the name and the socket path.
  if (absl::Status s = Gone(ctx, "ReattachContainer"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<ContainerInfo> info =
      registry_->Replace(req->name(), req->gofer_socket(), AttachBy(ctx));
  if (!info.ok()) return ToGrpcStatus(info.status());
  ToProto(*info, resp);
  return grpc::Status::OK;
}

grpc::Status Service::DetachContainer(grpc::ServerContext* ctx,
                                      const v1::DetachContainerRequest* req,
                                      v1::DetachContainerResponse* resp) {
  Admission admission(this);
  if (!admission.status().ok()) return admission.status();
  if (absl::Status s = ValidateContainerName(req->name()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (absl::Status s = Gone(ctx, "DetachContainer"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (managed_ != nullptr && managed_->Manages(req->name())) {
    return ToGrpcStatus(managed_->Detach(req->name()));
  }
  return ToGrpcStatus(registry_->Detach(req->name()));
}

grpc::Status Service::ListContainers(grpc::ServerContext* ctx,
                                     const v1::ListContainersRequest* req,
                                     v1::ListContainersResponse* resp) {
  Admission admission(this);
  if (!admission.status().ok()) return admission.status();
  if (absl::Status s = Gone(ctx, "ListContainers"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  std::vector<ContainerInfo> all = registry_->List();
  resp->mutable_containers()->Reserve(static_cast<int>(all.size()));
  for (const ContainerInfo& info : all) ToProto(info, resp->add_containers());
  return grpc::Status::OK;
}

grpc::Status Service::GetContainer(grpc::ServerContext* ctx,
                                   const v1::GetContainerRequest* req,
                                   v1::Container* resp) {
  Admission admission(this);
  if (!admission.status().ok()) return admission.status();
  if (absl::Status s = ValidateContainerName(req->name()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (absl::Status s = Gone(ctx, "GetContainer"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<ContainerInfo> info = registry_->Get(req->name());
  if (!info.ok()) return ToGrpcStatus(info.status());
  ToProto(*info, resp);
  return grpc::Status::OK;
}

grpc::Status Service::ListDevices(grpc::ServerContext* ctx,
                                  const v1::ListDevicesRequest* req,
                                  v1::ListDevicesResponse* resp) {
  Admission admission(this);
  if (!admission.status().ok()) return admission.status();
  if (absl::Status s = ValidateContainerName(req->name()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (absl::Status s = Gone(ctx, "ListDevices"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (req->details()) {
    absl::StatusOr<std::vector<DeviceEntry>> entries =
        registry_->DirentStats(req->name(), Deadline(ctx));
    if (!entries.ok()) return ToGrpcStatus(entries.status());
    resp->mutable_names()->Reserve(static_cast<int>(entries->size()));
    resp->mutable_devices()->Reserve(static_cast<int>(entries->size()));
    for (DeviceEntry& e : *entries) {
      v1::DeviceInfo* d = resp->add_devices();
      if (e.st.has_value()) {
        Describe(e.name, *e.st, d);
      } else {
        d->set_path(e.name);  // the gofer would not say what it is
      }
      resp->add_names(std::move(e.name));
    }
    return grpc::Status::OK;
  }
  absl::StatusOr<std::vector<std::string>> names =
      registry_->DirentNames(req->name(), Deadline(ctx));
  if (!names.ok()) return ToGrpcStatus(names.status());
  for (std::string& n : *names) resp->add_names(std::move(n));
  return grpc::Status::OK;
}

grpc::Status Service::ProbeDevice(grpc::ServerContext* ctx,
                                  const v1::ProbeDeviceRequest* req,
                                  v1::DeviceInfo* resp) {
  Admission admission(this);
  if (!admission.status().ok()) return admission.status();
  if (absl::Status s = ValidateContainerName(req->name()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  // The registry validates the device path.
  absl::StatusOr<uint32_t> flags = OpenFlags(req->mode());
  if (!flags.ok()) return ToGrpcStatus(flags.status());
  if (absl::Status s = Gone(ctx, "ProbeDevice"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ToGrpcStatus(
      Probe(*registry_, *req, static_cast<int>(*flags), Deadline(ctx), resp));
}

grpc::Status Service::WatchContainers(
    grpc::ServerContext* ctx, const v1::WatchContainersRequest* /*req*/,
    grpc::ServerWriter<v1::ContainerEvent>* writer) {
  Admission admission(this);
  if (!admission.status().ok()) return admission.status();
  const grpc::Status client_gone(grpc::StatusCode::CANCELLED,
                                 "WatchContainers: the client went away");
  auto send = [&](v1::ContainerEvent::Kind kind, const ContainerInfo* c) {
    v1::ContainerEvent ev;
    ev.set_kind(kind);
    if (c != nullptr) ToProto(*c, ev.mutable_container());
    return writer->Write(ev);
  };
  // The generation is read before each snapshot: a change in between shows
  // in the snapshot and makes the next AwaitChange return at once, so no
  // change is missed.
  uint64_t gen = registry_->generation();
  std::vector<ContainerInfo> seen = registry_->List();
  for (const ContainerInfo& c : seen) {
    if (!send(v1::ContainerEvent::EXISTING, &c)) return client_gone;
  }
  if (!send(v1::ContainerEvent::SYNCED, nullptr)) return client_gone;
  for (;;) {
    if (refusing_.load()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the shim is shutting down");
    }
    if (ctx->IsCancelled()) return client_gone;
    const uint64_t now = registry_->AwaitChange(gen, absl::Now() + kWatchTick);
    if (now == gen) continue;
    gen = now;
    std::vector<ContainerInfo> current = registry_->List();
    for (const ContainerChange& ch : Diff(seen, current)) {
      if (!send(EventKind(ch.kind), &ch.container)) return client_gone;
    }
    seen = std::move(current);
  }
}

}  // namespace gvisor::shim
