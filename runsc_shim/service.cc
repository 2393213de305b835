#include "runsc_shim/service.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "pkg/syserr/syserr.h"
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
  int64_t secs = absl::ToUnixSeconds(info.attach_time);
  absl::Duration frac = info.attach_time - absl::FromUnixSeconds(secs);
  out->mutable_attach_time()->set_seconds(secs);
  out->mutable_attach_time()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(frac)));
  out->set_mount_fd_donated(info.mount_fd_donated);
  out->set_disconnect_reason(info.disconnect_reason);
}

Service::Admission::Admission(Service* s)
    : s_(s), admitted_(!s->refusing_.load()) {
  if (admitted_) s_->running_.fetch_add(1);
}

Service::Admission::~Admission() {
  if (admitted_) s_->running_.fetch_sub(1);
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
  if (absl::Status s = ValidateContainerName(req->name()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (absl::Status s = ValidateSocketPath(req->gofer_socket()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (absl::Status s = Gone(ctx, "AttachContainer"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<ContainerInfo> info =
      registry_->Attach(req->name(), req->gofer_socket(), Deadline(ctx));
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
  if (absl::Status s = ValidateDevicePath(req->path()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<uint32_t> flags = OpenFlags(req->mode());
  if (!flags.ok()) return ToGrpcStatus(flags.status());
  if (absl::Status s = Gone(ctx, "ProbeDevice"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<fd::OwnedFd> fd =
      registry_->OpenAt(req->name(), req->path(), *flags, Deadline(ctx));
  if (!fd.ok()) return ToGrpcStatus(fd.status());
  struct stat st;
  if (fstat(fd->get(), &st) != 0) {
    return ToGrpcStatus(syserr::FromErrno(
        errno, absl::StrCat("container \"", req->name(), "\": fstat of \"",
                            req->path(), "\"")));
  }
  // The FD closes here: it cannot travel over gRPC.
  resp->set_path(req->path());
  resp->set_type(FileTypeOf(st.st_mode));
  resp->set_mode(st.st_mode & 07777);
  resp->set_rdev_major(major(st.st_rdev));
  resp->set_rdev_minor(minor(st.st_rdev));
  resp->set_access_mode(req->mode() == v1::ACCESS_MODE_UNSPECIFIED
                            ? v1::READ
                            : req->mode());
  return grpc::Status::OK;
}

}  // namespace gvisor::shim
