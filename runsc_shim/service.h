// Service: the gRPC face of a ContainerRegistry (shim.proto's DevGoferShim).
// It checks every request, maps it onto the registry with the call's
// deadline, and turns absl::Status values into gRPC statuses (same code,
// same message).

#ifndef GVISOR_RUNSC_SHIM_SERVICE_H_
#define GVISOR_RUNSC_SHIM_SERVICE_H_

#include <atomic>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "runsc_shim/gofer_spec.h"
#include "runsc_shim/managed.h"
#include "runsc_shim/registry.h"
#include "runsc_shim/shim.grpc.pb.h"

namespace gvisor::shim {

namespace v1 = ::gvisor::devutil::shim::v1;

// Service implements DevGoferShim over a registry, which must outlive it.
// Its methods are called concurrently by gRPC's threads.
class Service final : public v1::DevGoferShim::Service {
 public:
  // managed, if not null, runs the gofers of managed containers
  // (AttachContainerRequest.managed); without it such attaches are
  // FAILED_PRECONDITION.
  explicit Service(ContainerRegistry* registry,
                   ManagedContainers* managed = nullptr)
      : registry_(registry), managed_(managed) {}

  grpc::Status AttachContainer(grpc::ServerContext* ctx,
                               const v1::AttachContainerRequest* req,
                               v1::Container* resp) override;
  grpc::Status ReattachContainer(grpc::ServerContext* ctx,
                                 const v1::ReattachContainerRequest* req,
                                 v1::Container* resp) override;
  grpc::Status DetachContainer(grpc::ServerContext* ctx,
                               const v1::DetachContainerRequest* req,
                               v1::DetachContainerResponse* resp) override;
  grpc::Status ListContainers(grpc::ServerContext* ctx,
                              const v1::ListContainersRequest* req,
                              v1::ListContainersResponse* resp) override;
  grpc::Status GetContainer(grpc::ServerContext* ctx,
                            const v1::GetContainerRequest* req,
                            v1::Container* resp) override;
  grpc::Status ListDevices(grpc::ServerContext* ctx,
                           const v1::ListDevicesRequest* req,
                           v1::ListDevicesResponse* resp) override;
  grpc::Status ProbeDevice(grpc::ServerContext* ctx,
                           const v1::ProbeDeviceRequest* req,
                           v1::DeviceInfo* resp) override;
  grpc::Status WatchContainers(
      grpc::ServerContext* ctx, const v1::WatchContainersRequest* req,
      grpc::ServerWriter<v1::ContainerEvent>* writer) override;

  // kAttachAnswerMargin: AttachContainer and ReattachContainer give up
  // this much before the call's deadline (a tenth of the time left, if
  // less), so that their own DEADLINE_EXCEEDED, which says what did not
  // answer and what it may be, reaches the caller before the caller's
  // deadline ends the call with a bare one.
  static constexpr absl::Duration kAttachAnswerMargin = absl::Milliseconds(500);

  // kWatchTick is how often a quiet WatchContainers stream checks whether
  // its client has gone (gRPC's synchronous API has no notification).
  static constexpr absl::Duration kWatchTick = absl::Seconds(1);

  // Refuse makes every call that starts from now on fail with
  // UNAVAILABLE ("the shim is shutting down"); calls already running go on,
  // except WatchContainers streams, which end with that status at once.
  void Refuse();

  // running returns the number of calls admitted and not yet returned
  // from their method (their responses may still be on the way: see
  // CallCounter for calls up to the end of their response).
  int running() const { return running_.load(); }

 private:
  // Admission counts one call in running_ unless Refuse has been called.
  class Admission {
   public:
    explicit Admission(Service* s);
    ~Admission();
    Admission(const Admission&) = delete;
    Admission& operator=(const Admission&) = delete;
    // status is OK for an admitted call, UNAVAILABLE for a refused one.
    grpc::Status status() const;

   private:
    Service* const s_;
    const bool admitted_;
  };

  ContainerRegistry* const registry_;
  ManagedContainers* const managed_;
  std::atomic<bool> refusing_{false};
  std::atomic<int> running_{0};
};

// ToGrpcStatus converts s to a grpc::Status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& s);

// ToProto fills *out from info.
void ToProto(const ContainerInfo& info, v1::Container* out);

// FromProto turns a request's gofer spec into a GoferSpec (an empty root
// is /dev); it checks nothing (ValidateGoferSpec does).
GoferSpec FromProto(const v1::GoferSpec& spec);

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_SERVICE_H_
