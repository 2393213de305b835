// End-to-end tests of the shim's gRPC server around the service: health and
// reflection, the socket file, WatchContainers' stream, and shutdown with
// calls idle, in flight and stuck. The fixture is in service_test_fixture.h.

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/address.h"
#include "runsc_shim/health.grpc.pb.h"
#include "runsc_shim/server.h"
#include "runsc_shim/service_test_fixture.h"
#include "runsc_shim/shim.grpc.pb.h"
#include "runsc_shim/testutil.h"
#include "testing/leased_file.h"
#include "testing/rescue.h"

namespace gvisor::shim {
namespace {

namespace v1 = ::gvisor::devutil::shim::v1;
using ::testing::HasSubstr;
using testutil::WaitFor;

TEST_F(ShimTest, HealthServiceIsServing) {
  auto health = grpc::health::v1::Health::NewStub(channel());
  grpc::ClientContext ctx;
  Deadline(&ctx);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_GRPC_OK(health->Check(&ctx, req, &resp));
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(ShimTest, ReflectionListsTheServices) {
  // A hand-encoded ServerReflectionRequest{list_services: ""} (field 7).
  absl::StatusOr<std::string> bytes =
      testutil::Reflect(channel(), std::string("\x3a\x00", 2));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_THAT(*bytes, HasSubstr("gvisor.devutil.shim.v1.DevGoferShim"));
  EXPECT_THAT(*bytes, HasSubstr("grpc.health.v1.Health"));
}

TEST_F(ShimTest, SocketFileIsPrivate) {
  struct stat st;
  ASSERT_EQ(stat(address_.target.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ShimTest, SecondServerOnALiveSocketIsRefused) {
  absl::StatusOr<std::unique_ptr<Server>> second =
      Server::Start(address_, registry_.get());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(ShimTest, StaleSocketFileIsReplaced) {
  Address a{Address::Kind::kUnix, testutil::TempSocketPath("stale")};
  {
    // A socket file left behind by a server that is gone.
    absl::StatusOr<unet::ServerSocket> s =
        unet::ServerSocket::Bind(a.target, SOCK_STREAM);
    ASSERT_TRUE(s.ok()) << s.status();
  }
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(a, registry_.get());
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(testutil::CanConnect(a.target));
  (*server)->Shutdown(absl::ZeroDuration());
  struct stat st;
  EXPECT_NE(stat(a.target.c_str(), &st), 0) << "socket file left behind";
}

TEST_F(ShimTest, NonSocketAtTheAddressIsRefused) {
  Address a{Address::Kind::kUnix, testutil::TempSocketPath("file")};
  int fd = open(a.target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  close(fd);
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(a, registry_.get());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  unlink(a.target.c_str());
}

TEST_F(ShimTest, WatchReportsWhatExistsThenEveryChange) {
  auto g = Devices();
  auto h = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_NE(h, nullptr);
  ASSERT_GRPC_OK(Attach("b-before", g->socket()));
  grpc::ClientContext ctx;
  Deadline(&ctx);  // a missing event fails the test rather than hangs it
  auto stream = stub()->WatchContainers(&ctx, v1::WatchContainersRequest());
  v1::ContainerEvent ev;
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::EXISTING);
  EXPECT_EQ(ev.container().name(), "b-before");
  EXPECT_EQ(ev.container().state(), v1::Container::ATTACHED);
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::SYNCED);
  EXPECT_FALSE(ev.has_container());

  // Each change is awaited before the next, so none is folded.
  ASSERT_GRPC_OK(Attach("a-new", h->socket()));
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::ATTACHED);
  EXPECT_EQ(ev.container().name(), "a-new");
  EXPECT_EQ(ev.container().gofer_socket(), h->socket());
  h->child().Signal(SIGKILL);
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::DISCONNECTED);
  EXPECT_EQ(ev.container().name(), "a-new");
  EXPECT_EQ(ev.container().state(), v1::Container::DISCONNECTED);
  EXPECT_FALSE(ev.container().disconnect_reason().empty());
  ASSERT_GRPC_OK(Detach("a-new"));
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::DETACHED);
  EXPECT_EQ(ev.container().name(), "a-new");
  ASSERT_GRPC_OK(Detach("b-before"));
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::DETACHED);
  EXPECT_EQ(ev.container().name(), "b-before");

  ctx.TryCancel();
  while (stream->Read(&ev)) {
  }
  EXPECT_CODE(stream->Finish(), CANCELLED);
}

TEST_F(ShimTest, WatchReportsAReattach) {
  auto g = Devices();
  auto h = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_NE(h, nullptr);
  v1::Container first;
  ASSERT_GRPC_OK(Attach("c", g->socket(), &first));
  EXPECT_FALSE(first.has_reattach_time());
  grpc::ClientContext ctx;
  Deadline(&ctx);
  auto stream = stub()->WatchContainers(&ctx, v1::WatchContainersRequest());
  v1::ContainerEvent ev;
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::EXISTING);
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::SYNCED);

  // The old gofer dies; the container is reattached to a new one.
  g->child().Signal(SIGKILL);
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::DISCONNECTED);
  v1::Container c;
  ASSERT_GRPC_OK(Reattach("c", h->socket(), &c));
  EXPECT_EQ(c.state(), v1::Container::ATTACHED);
  EXPECT_EQ(c.gofer_socket(), h->socket());
  EXPECT_EQ(c.reattach_count(), 1u);
  EXPECT_TRUE(c.has_reattach_time());
  EXPECT_EQ(c.attach_time().seconds(), first.attach_time().seconds());
  EXPECT_EQ(c.attach_time().nanos(), first.attach_time().nanos());
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::REATTACHED);
  EXPECT_EQ(ev.container().name(), "c");
  EXPECT_EQ(ev.container().state(), v1::Container::ATTACHED);
  EXPECT_EQ(ev.container().gofer_socket(), h->socket());
  EXPECT_EQ(ev.container().reattach_count(), 1u);
  ASSERT_GRPC_OK(Probe("c", "null"));

  // The watch follows the new gofer.
  h->child().Signal(SIGKILL);
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::DISCONNECTED);
  EXPECT_EQ(ev.container().name(), "c");

  ctx.TryCancel();
  while (stream->Read(&ev)) {
  }
  EXPECT_CODE(stream->Finish(), CANCELLED);
}

TEST_F(ShimTest, ShutdownEndsAWatchWithUnavailable) {
  grpc::ClientContext ctx;
  Deadline(&ctx);
  auto stream = stub()->WatchContainers(&ctx, v1::WatchContainersRequest());
  v1::ContainerEvent ev;
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::SYNCED);
  // The stream is a call in flight; shutdown ends it rather than spend the
  // grace on it.
  server_->Shutdown(absl::Hours(1));
  while (stream->Read(&ev)) {
  }
  grpc::Status st = stream->Finish();
  EXPECT_CODE(st, UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr("shutting down"));
}

TEST_F(ShimTest, ShutdownWithAnIdleClientIsPrompt) {
  v1::ListContainersResponse list;
  ASSERT_GRPC_OK(List(&list));
  // With an hour of grace, this test only finishes (within its timeout)
  // if shutdown does not spend the grace waiting on the idle client.
  server_->Shutdown(absl::Hours(1));
}

TEST_F(ShimTest, ShutdownLetsACallInFlightFinish) {
  auto g = Devices();  // no mount FD: ListDevices is an RPC
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  ASSERT_TRUE(g->child().Stop());
  grpc::Status call;
  std::vector<std::string> names;
  std::thread caller([&] { call = Devices("demo", &names); });
  // Admitted, so blocked on the stopped gofer (Attach's call may still be
  // finishing, so calls_in_flight() would not tell).
  const bool started = WaitFor([&] { return server_->calls_running() == 1; });
  std::thread stopper([&] { server_->Shutdown(absl::Seconds(20)); });
  // Health says NOT_SERVING while the call is still allowed to run...
  auto health = grpc::health::v1::Health::NewStub(channel());
  const bool not_serving = WaitFor([&] {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    grpc::health::v1::HealthCheckResponse resp;
    return health->Check(&ctx, {}, &resp).ok() &&
           resp.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
  });
  // ...new calls are refused...
  v1::ListContainersResponse list;
  grpc::Status late = List(&list);
  // ...and the call finishes, response and all, once the gofer answers.
  g->child().Continue();
  caller.join();
  stopper.join();
  EXPECT_TRUE(started);
  EXPECT_TRUE(not_serving);
  EXPECT_CODE(late, UNAVAILABLE);
  EXPECT_THAT(late.error_message(), HasSubstr("shutting down"));
  EXPECT_TRUE(call.ok()) << call.error_code() << ": " << call.error_message();
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("null", "zero"));
  EXPECT_EQ(registry_->size(), 0u);
}

TEST_F(ShimTest, ShutdownEndsACallStuckPastTheGrace) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  ASSERT_TRUE(g->child().Stop());
  grpc::Status call;
  std::thread caller([&] { call = Devices("demo", nullptr); });
  const bool started = WaitFor([&] { return server_->calls_running() == 1; });
  server_->Shutdown(absl::Milliseconds(200));
  caller.join();
  EXPECT_TRUE(started);
  // Closing the client woke the call (not the stall guard), and its error
  // reached the caller before the server stopped (not CANCELLED).
  EXPECT_CODE(call, NOT_FOUND);
  EXPECT_THAT(call.error_message(), HasSubstr("detached during the call"));
  EXPECT_EQ(registry_->size(), 0u);
  g->child().Continue();
}

TEST_F(ShimTest, ShutdownReturnsWhileACallIsStuckInTheKernel) {
  auto g = Tree({"--donate_mount_fd"});
  ASSERT_NE(g, nullptr);
  auto lease =
      gvisor::testing::LeasedFile::Create(fixture_->root() + "/leased");
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_GRPC_OK(Attach("stuck", g->socket()));
  grpc::Status call;
  std::thread caller([&] { call = ProbeOpen("stuck", "leased", v1::WRITE); });
  absl::Cleanup finish = [&] {
    (*lease)->Release();
    caller.join();
  };
  ASSERT_TRUE((*lease)->AwaitBreak());
  bool stopped = true;
  {
    gvisor::testing::Rescue rescue([&] { (*lease)->Release(); });
    // Within grace + kDrainAfterClose + kStopTimeout, stuck call or not.
    stopped = server_->Shutdown(absl::ZeroDuration());
    EXPECT_FALSE(rescue.Disarm()) << "Shutdown waited for the stuck call";
  }
  EXPECT_FALSE(stopped) << "gRPC cannot have stopped with a handler stuck";
  EXPECT_EQ(registry_->size(), 0u);
  struct stat st;
  EXPECT_NE(stat(address_.target.c_str(), &st), 0) << "socket file left";
  // Once the kernel lets go, the server finishes stopping (the destructor
  // waits for that).
  std::move(finish).Invoke();
  EXPECT_FALSE(call.ok());
  server_.reset();
}

}  // namespace
}  // namespace gvisor::shim
