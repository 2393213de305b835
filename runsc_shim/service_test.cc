// End-to-end tests of the shim's gRPC API: the real Server (service, health,
// reflection) on a unix socket, called through the generated stubs, with real
// devgofer processes serving the hermetic gofer fixture's device directory.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pkg/fd/limit.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/address.h"
#include "runsc_shim/health.grpc.pb.h"
#include "runsc_shim/registry.h"
#include "runsc_shim/server.h"
#include "runsc_shim/shim.grpc.pb.h"
#include "runsc_shim/testutil.h"
#include "runsc_shim/validate.h"
#include "testing/gofer_fixture.h"
#include "testing/leased_file.h"
#include "testing/rescue.h"

namespace gvisor::shim {
namespace {

namespace v1 = ::gvisor::devutil::shim::v1;
using ::testing::Contains;
using ::testing::HasSubstr;
using testutil::DevGofer;
using testutil::WaitFor;

class ShimTest : public ::testing::Test, public testutil::ShimClient {
 protected:
  using ShimClient::Devices;

  static void SetUpTestSuite() { fd::RaiseFdLimit().IgnoreError(); }

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<gvisor::testing::GoferFixture>> fx =
        gvisor::testing::GoferFixture::Create();
    ASSERT_TRUE(fx.ok()) << fx.status();
    fixture_ = std::move(*fx);
    absl::StatusOr<std::unique_ptr<ContainerRegistry>> reg =
        ContainerRegistry::Create();
    ASSERT_TRUE(reg.ok()) << reg.status();
    registry_ = std::move(*reg);
    address_.kind = Address::Kind::kUnix;
    address_.target = testutil::TempSocketPath("shim");
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(address_, registry_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    Connect(address_.GrpcTarget());
  }

  void TearDown() override {
    server_.reset();
    registry_.reset();
  }

  // Devices starts a devgofer over the fixture's device directory ("null",
  // "zero"), passing character devices through, plus flags.
  std::unique_ptr<DevGofer> Devices(std::vector<std::string> flags = {}) {
    flags.push_back("--char_devices=passthrough");
    absl::StatusOr<std::unique_ptr<DevGofer>> g =
        DevGofer::Start(fixture_->devices_dir(), flags);
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? std::move(*g) : nullptr;
  }

  // Tree starts a devgofer over the fixture's tree (files, directories,
  // symlinks, a FIFO).
  std::unique_ptr<DevGofer> Tree(std::vector<std::string> flags = {}) {
    absl::StatusOr<std::unique_ptr<DevGofer>> g =
        DevGofer::Start(fixture_->root(), flags);
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? std::move(*g) : nullptr;
  }

  // AwaitRegistry waits until cond() holds, woken by the registry's
  // change notifications rather than by polling (false after timeout).
  bool AwaitRegistry(const std::function<bool()>& cond,
                     absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + timeout;
    uint64_t seen = registry_->generation();
    while (!cond()) {
      if (absl::Now() >= deadline) return false;
      seen = registry_->AwaitChange(seen, deadline);
    }
    return true;
  }

  std::unique_ptr<gvisor::testing::GoferFixture> fixture_;
  std::unique_ptr<ContainerRegistry> registry_;
  Address address_;
  std::unique_ptr<Server> server_;
};

#define EXPECT_CODE(status, code)                          \
  EXPECT_EQ((status).error_code(), grpc::StatusCode::code) \
      << (status).error_message()
#define ASSERT_GRPC_OK(status) \
  ASSERT_TRUE((status).ok()) << (status).error_message()

// Both ways a gofer can serve: with and without the mount point's host FD
// (host fast path or LISAFS RPCs).
class ShimModeTest : public ShimTest,
                     public ::testing::WithParamInterface<bool> {
 protected:
  std::unique_ptr<DevGofer> Gofer() {
    return ShimTest::Devices(GetParam()
                                 ? std::vector<std::string>{"--donate_mount_fd"}
                                 : std::vector<std::string>{});
  }
};

INSTANTIATE_TEST_SUITE_P(MountFd, ShimModeTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Donated" : "NotDonated";
                         });

TEST_P(ShimModeTest, AttachReturnsTheAttachedContainer) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  absl::Time before = absl::Now() - absl::Seconds(1);
  v1::Container c;
  ASSERT_GRPC_OK(Attach("demo", g->socket(), &c));
  EXPECT_EQ(c.name(), "demo");
  EXPECT_EQ(c.state(), v1::Container::ATTACHED);
  EXPECT_EQ(c.gofer_socket(), g->socket());
  EXPECT_EQ(c.mount_fd_donated(), GetParam());
  EXPECT_TRUE(c.disconnect_reason().empty());
  EXPECT_GE(c.attach_time().seconds(), absl::ToUnixSeconds(before));
  EXPECT_LE(c.attach_time().seconds(), absl::ToUnixSeconds(absl::Now()));
  EXPECT_NE(registry_->GetDevGoferClient("demo"), nullptr);
}

TEST_P(ShimModeTest, GetAndListShowTheContainer) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("b-second", g->socket()));
  ASSERT_GRPC_OK(Attach("a-first", g->socket()));
  v1::Container c;
  ASSERT_GRPC_OK(Get("a-first", &c));
  EXPECT_EQ(c.state(), v1::Container::ATTACHED);
  EXPECT_EQ(c.mount_fd_donated(), GetParam());
  v1::ListContainersResponse list;
  ASSERT_GRPC_OK(List(&list));
  ASSERT_EQ(list.containers_size(), 2);
  EXPECT_EQ(list.containers(0).name(), "a-first");
  EXPECT_EQ(list.containers(1).name(), "b-second");
}

TEST_P(ShimModeTest, ListDevicesNamesTheServedDirectory) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  std::vector<std::string> names;
  ASSERT_GRPC_OK(Devices("demo", &names));
  EXPECT_THAT(names, Contains("null"));
  EXPECT_THAT(names, Contains("zero"));
  EXPECT_THAT(names, ::testing::Not(Contains(".")));
  EXPECT_THAT(names, ::testing::Not(Contains("..")));
}

TEST_P(ShimModeTest, ProbeDescribesTheOpenedDevice) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  struct Case {
    const char* path;
    uint32_t major, minor;
  };
  for (Case k : {Case{"null", 1, 3}, Case{"zero", 1, 5}}) {
    for (v1::AccessMode mode : {v1::READ, v1::WRITE, v1::READ_WRITE}) {
      SCOPED_TRACE(absl::StrCat(k.path, " mode ", mode));
      v1::DeviceInfo info;
      ASSERT_GRPC_OK(Probe("demo", k.path, mode, &info));
      EXPECT_EQ(info.path(), k.path);
      EXPECT_EQ(info.type(), v1::CHAR_DEVICE);
      EXPECT_EQ(info.rdev_major(), k.major);
      EXPECT_EQ(info.rdev_minor(), k.minor);
      EXPECT_EQ(info.access_mode(), mode);
      // The fixture's nodes and the host's are both 0666.
      EXPECT_EQ(info.mode(), 0666u);
    }
  }
}

TEST_P(ShimModeTest, ProbeLeavesNoFdOpen) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  ASSERT_GRPC_OK(Probe("demo", "null"));
  int before = testutil::OpenFdCount();
  for (int i = 0; i < 50; ++i) ASSERT_GRPC_OK(Probe("demo", "null"));
  EXPECT_LE(testutil::OpenFdCount(), before);
}

TEST_F(ShimTest, UnspecifiedAccessModeMeansRead) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  v1::DeviceInfo info;
  ASSERT_GRPC_OK(Probe("demo", "null", v1::ACCESS_MODE_UNSPECIFIED, &info));
  EXPECT_EQ(info.access_mode(), v1::READ);
}

TEST_F(ShimTest, ProbeOfARegularFileAndADirectory) {
  auto g = Tree();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  v1::DeviceInfo info;
  ASSERT_GRPC_OK(Probe("tree", "dir/file2", v1::READ, &info));
  EXPECT_EQ(info.type(), v1::REGULAR);
  EXPECT_EQ(info.rdev_major(), 0u);
}

TEST_F(ShimTest, DirectoryThroughRpcIsAnErrorThatKeepsTheContainer) {
  // Without the mount FD, the gofer donates no FD for a directory
  // (devutil reports EIO); that is the call's failure, not the gofer's.
  auto g = Tree();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  grpc::Status st = Probe("tree", "dir");
  EXPECT_CODE(st, INTERNAL);
  EXPECT_THAT(st.error_message(), HasSubstr("EIO"));
  EXPECT_EQ(StateOf("tree"), v1::Container::ATTACHED);
  ASSERT_GRPC_OK(Probe("tree", "file"));
}

TEST_F(ShimTest, DirectoryOnTheHostFastPathIsADirectory) {
  auto g = Tree({"--donate_mount_fd"});
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  v1::DeviceInfo info;
  ASSERT_GRPC_OK(Probe("tree", "dir", v1::READ, &info));
  EXPECT_EQ(info.type(), v1::DIRECTORY);
}

TEST_F(ShimTest, AttachOfANameTwiceIsAlreadyExists) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  grpc::Status st = Attach("demo", g->socket());
  EXPECT_CODE(st, ALREADY_EXISTS);
  EXPECT_THAT(st.error_message(), HasSubstr("demo"));
  EXPECT_EQ(registry_->size(), 1u);
}

TEST_F(ShimTest, ConcurrentAttachesOfOneNameHaveOneWinner) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  constexpr int kThreads = 8;
  std::atomic<int> ok{0}, exists{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      grpc::Status st = Attach("same", g->socket());
      if (st.ok()) ++ok;
      if (st.error_code() == grpc::StatusCode::ALREADY_EXISTS) ++exists;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(exists.load(), kThreads - 1);
  EXPECT_EQ(registry_->size(), 1u);
}

TEST_F(ShimTest, DetachForgetsTheContainer) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  ASSERT_GRPC_OK(Detach("demo"));
  v1::Container c;
  EXPECT_CODE(Get("demo", &c), NOT_FOUND);
  EXPECT_CODE(Detach("demo"), NOT_FOUND);
  EXPECT_EQ(registry_->GetDevGoferClient("demo"), nullptr);
  v1::ListContainersResponse list;
  ASSERT_GRPC_OK(List(&list));
  EXPECT_EQ(list.containers_size(), 0);
  // The name is free again.
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
}

TEST_F(ShimTest, DetachClosesTheGoferConnection) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  EXPECT_TRUE(
      WaitFor([&] { return testutil::AcceptedConnections(g->socket()) == 1; }));
  ASSERT_GRPC_OK(Detach("demo"));
  // The gofer saw the end of the connection and closed its side.
  EXPECT_TRUE(
      WaitFor([&] { return testutil::AcceptedConnections(g->socket()) == 0; }));
}

TEST_F(ShimTest, UnknownContainerIsNotFound) {
  v1::Container c;
  grpc::Status st = Get("nope", &c);
  EXPECT_CODE(st, NOT_FOUND);
  EXPECT_THAT(st.error_message(), HasSubstr("\"nope\" is not attached"));
  EXPECT_CODE(Detach("nope"), NOT_FOUND);
  EXPECT_CODE(Devices("nope", nullptr), NOT_FOUND);
  EXPECT_CODE(Probe("nope", "null"), NOT_FOUND);
}

TEST_F(ShimTest, MissingDeviceIsNotFoundWithItsErrno) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  grpc::Status st = Probe("demo", "no-such-device");
  EXPECT_CODE(st, NOT_FOUND);
  EXPECT_THAT(st.error_message(), HasSubstr("ENOENT"));
  EXPECT_THAT(st.error_message(), HasSubstr("no-such-device"));
  // The container is still fine.
  EXPECT_EQ(StateOf("demo"), v1::Container::ATTACHED);
}

TEST_F(ShimTest, BadContainerNamesAreInvalidArgument) {
  const std::string too_long(kMaxContainerName + 1, 'a');
  for (const std::string& name :
       {std::string(""), std::string("has space"), std::string("-lead"),
        std::string("trail-"), std::string("slash/name"),
        std::string("caf\xc3\xa9"), std::string("nul\0x", 5), too_long}) {
    SCOPED_TRACE(name);
    EXPECT_CODE(Attach(name, "/tmp/x.sock"), INVALID_ARGUMENT);
    v1::Container c;
    EXPECT_CODE(Get(name, &c), INVALID_ARGUMENT);
    EXPECT_CODE(Detach(name), INVALID_ARGUMENT);
    EXPECT_CODE(Devices(name, nullptr), INVALID_ARGUMENT);
    EXPECT_CODE(Probe(name, "null"), INVALID_ARGUMENT);
  }
  // The longest name is fine (it fails later, for the missing socket).
  EXPECT_CODE(Attach(std::string(kMaxContainerName, 'a'), "/tmp/none.sock"),
              UNAVAILABLE);
  EXPECT_CODE(Attach("Mixed.Case_name-1", "/tmp/none.sock"), UNAVAILABLE);
}

TEST_F(ShimTest, BadGoferSocketsAreInvalidArgument) {
  for (const std::string& sock :
       {std::string(""), std::string("@"), std::string("/tmp/a\0b", 8),
        "/tmp/" + std::string(kMaxSocketPath, 's')}) {
    SCOPED_TRACE(sock);
    EXPECT_CODE(Attach("demo", sock), INVALID_ARGUMENT);
  }
}

TEST_F(ShimTest, RelativeGoferSocketIsRefusedNamingTheFix) {
  // Even one that exists relative to the shim's own working directory:
  // that directory means nothing to the caller.
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(chdir("/tmp"), 0);
  const std::string rel = g->socket().substr(strlen("/tmp/"));
  grpc::Status st = Attach("demo", rel);
  ASSERT_EQ(chdir(cwd), 0);
  EXPECT_CODE(st, INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("pass an absolute path"));
  EXPECT_EQ(registry_->size(), 0u);
}

TEST_F(ShimTest, BadDevicePathsAreInvalidArgument) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  for (const std::string& path :
       {std::string(""), std::string("/dev/null"), std::string("../etc/passwd"),
        std::string("a/../null"), std::string("./null"), std::string("."),
        std::string("a//b"), std::string("nu\0ll", 5),
        std::string(kMaxDevicePath + 1, 'p')}) {
    SCOPED_TRACE(path);
    grpc::Status st = Probe("demo", path);
    EXPECT_CODE(st, INVALID_ARGUMENT);
  }
  EXPECT_EQ(StateOf("demo"), v1::Container::ATTACHED);
}

TEST_F(ShimTest, UnknownAccessModeIsInvalidArgument) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  grpc::Status st = Probe("demo", "null", static_cast<v1::AccessMode>(42));
  EXPECT_CODE(st, INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("42"));
}

TEST_F(ShimTest, SymlinkIsRefused) {
  auto g = Tree();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  for (const char* path : {"symlink", "escape", "escape_dir/x"}) {
    SCOPED_TRACE(path);
    grpc::Status st = Probe("tree", path);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  }
}

TEST_F(ShimTest, DeniedDeviceIsPermissionDenied) {
  // Without the mount FD, every open goes through the gofer's policy.
  absl::StatusOr<std::unique_ptr<DevGofer>> g =
      DevGofer::Start(fixture_->devices_dir(), {"--char_devices=deny"});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_GRPC_OK(Attach("demo", (*g)->socket()));
  grpc::Status st = Probe("demo", "null");
  EXPECT_CODE(st, PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("EPERM"));
}

TEST_F(ShimTest, WriteOnAReadOnlyGoferIsPermissionDenied) {
  auto g = Tree({"--readonly"});
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  ASSERT_GRPC_OK(Probe("tree", "file", v1::READ));
  grpc::Status st = Probe("tree", "file", v1::WRITE);
  EXPECT_CODE(st, PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("EROFS"));
}

TEST_F(ShimTest, MissingGoferSocketIsUnavailableWithErrno) {
  grpc::Status st = Attach("demo", "/tmp/no-such-gofer.sock");
  EXPECT_CODE(st, UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr("ENOENT"));
  EXPECT_EQ(registry_->size(), 0u);
}

TEST_F(ShimTest, RefusingGoferSocketIsUnavailableWithErrno) {
  // Bound but not listening: connect(2) says ECONNREFUSED.
  std::string path = testutil::TempSocketPath("refuse");
  absl::StatusOr<unet::ServerSocket> s =
      unet::ServerSocket::Bind(path, SOCK_STREAM);
  ASSERT_TRUE(s.ok()) << s.status();
  grpc::Status st = Attach("demo", path);
  EXPECT_CODE(st, UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr("ECONNREFUSED"));
  s->Unlink().IgnoreError();
}

TEST_F(ShimTest, GoferThatHangsUpAtOnceIsUnavailable) {
  std::string path = testutil::TempSocketPath("hangup");
  absl::StatusOr<unet::ServerSocket> s =
      unet::ServerSocket::Bind(path, SOCK_STREAM);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->Listen().ok());
  std::thread closer([&] {
    absl::StatusOr<unet::Socket> c = s->Accept();
    // Dropping the connection unanswered.
  });
  grpc::Status st = Attach("demo", path);
  closer.join();
  EXPECT_CODE(st, UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr("mount"));
  EXPECT_EQ(registry_->size(), 0u);
  s->Unlink().IgnoreError();
}

TEST_F(ShimTest, AttachToASilentGoferHonoursTheDeadline) {
  // A listener that never accepts: connect succeeds (the backlog takes
  // it) but Mount is never answered.
  std::string path = testutil::TempSocketPath("silent");
  absl::StatusOr<unet::ServerSocket> s =
      unet::ServerSocket::Bind(path, SOCK_STREAM);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->Listen().ok());
  grpc::Status st = Attach("demo", path, nullptr, absl::Milliseconds(300));
  EXPECT_CODE(st, DEADLINE_EXCEEDED);
  // The shim gave up too: the connection it left in the backlog is closed
  // from its end.
  absl::StatusOr<unet::Socket> pending = s->Accept();
  ASSERT_TRUE(pending.ok()) << pending.status();
  pollfd p{pending->fd(), POLLRDHUP, 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1) << "the shim kept the connection open";
  EXPECT_EQ(registry_->size(), 0u);
  s->Unlink().IgnoreError();
}

TEST_F(ShimTest, AttachToAStoppedGoferHonoursTheDeadline) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  v1::ListContainersResponse list;
  ASSERT_GRPC_OK(List(&list));  // the channel is connected
  const int fds = testutil::OpenFdCount();
  ASSERT_TRUE(g->child().Stop());
  grpc::Status st =
      Attach("demo", g->socket(), nullptr, absl::Milliseconds(300));
  EXPECT_CODE(st, DEADLINE_EXCEEDED);
  // The shim's own attempt ends at the deadline too, closing its socket,
  // while the gofer is still stopped.
  EXPECT_TRUE(WaitFor([&] { return testutil::OpenFdCount() <= fds; }));
  g->child().Continue();
  EXPECT_EQ(registry_->size(), 0u);
  // Nothing of the failed attempt is left: the name can be attached.
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
}

TEST_F(ShimTest, ExpiredDeadlineIsDeadlineExceeded) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() - absl::Seconds(1)));
  v1::ProbeDeviceRequest req;
  req.set_name("demo");
  req.set_path("null");
  v1::DeviceInfo info;
  EXPECT_CODE(stub()->ProbeDevice(&ctx, req, &info), DEADLINE_EXCEEDED);
  EXPECT_EQ(StateOf("demo"), v1::Container::ATTACHED);
}

TEST_F(ShimTest, GoferThatStopsAnsweringIsCutOff) {
  auto g = Devices();  // no mount FD: ListDevices is an RPC
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  ASSERT_TRUE(g->child().Stop());
  EXPECT_CODE(Devices("demo", nullptr, absl::Milliseconds(200)),
              DEADLINE_EXCEEDED);
  // The shim cuts the connection off kMinStallTimeout after the call.
  ASSERT_TRUE(AwaitRegistry(
      [&] { return StateOf("demo") == v1::Container::DISCONNECTED; }));
  v1::Container c;
  ASSERT_GRPC_OK(Get("demo", &c));
  EXPECT_THAT(c.disconnect_reason(), HasSubstr("did not answer"));
  EXPECT_CODE(Devices("demo", nullptr), UNAVAILABLE);
  EXPECT_CODE(Probe("demo", "null"), UNAVAILABLE);
  g->child().Continue();
  ASSERT_GRPC_OK(Detach("demo"));
}

TEST_P(ShimModeTest, KilledGoferShowsAsDisconnected) {
  auto doomed = Gofer();
  auto other = Gofer();
  ASSERT_NE(doomed, nullptr);
  ASSERT_NE(other, nullptr);
  ASSERT_GRPC_OK(Attach("doomed-1", doomed->socket()));
  ASSERT_GRPC_OK(Attach("doomed-2", doomed->socket()));
  ASSERT_GRPC_OK(Attach("survivor", other->socket()));
  ASSERT_GRPC_OK(Probe("doomed-1", "null"));

  doomed->child().Signal(SIGKILL);
  ASSERT_TRUE(doomed->child().Wait().ok());
  // The watcher notices without any call on the containers.
  ASSERT_TRUE(AwaitRegistry([&] {
    return StateOf("doomed-1") == v1::Container::DISCONNECTED &&
           StateOf("doomed-2") == v1::Container::DISCONNECTED;
  }));
  v1::Container c;
  ASSERT_GRPC_OK(Get("doomed-1", &c));
  EXPECT_FALSE(c.disconnect_reason().empty());

  grpc::Status st = Devices("doomed-1", nullptr);
  EXPECT_CODE(st, UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr("disconnected"));
  EXPECT_CODE(Probe("doomed-2", "null"), UNAVAILABLE);

  // The other gofer's container is untouched.
  EXPECT_EQ(StateOf("survivor"), v1::Container::ATTACHED);
  ASSERT_GRPC_OK(Probe("survivor", "zero"));

  // Detach still cleans up.
  ASSERT_GRPC_OK(Detach("doomed-1"));
  ASSERT_GRPC_OK(Detach("doomed-2"));
  v1::ListContainersResponse list;
  ASSERT_GRPC_OK(List(&list));
  ASSERT_EQ(list.containers_size(), 1);
  EXPECT_EQ(list.containers(0).name(), "survivor");
}

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
  // No reflection .proto ships with Debian; a generic bidi call with a
  // hand-encoded ServerReflectionRequest{list_services: ""} (field 7).
  grpc::GenericStub generic(channel());
  grpc::ClientContext ctx;
  Deadline(&ctx);
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      generic.PrepareCall(&ctx,
                          "/grpc.reflection.v1alpha.ServerReflection/"
                          "ServerReflectionInfo",
                          &cq);
  void* tag;
  bool ok;
  auto next = [&](intptr_t want) {
    ASSERT_TRUE(cq.Next(&tag, &ok));
    ASSERT_EQ(reinterpret_cast<intptr_t>(tag), want);
    ASSERT_TRUE(ok);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  next(1);
  grpc::Slice slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer req(&slice, 1);
  call->Write(req, reinterpret_cast<void*>(2));
  next(2);
  grpc::ByteBuffer resp;
  call->Read(&resp, reinterpret_cast<void*>(3));
  next(3);
  call->WritesDone(reinterpret_cast<void*>(4));
  next(4);
  grpc::Status st;
  call->Finish(&st, reinterpret_cast<void*>(5));
  next(5);
  ASSERT_GRPC_OK(st);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(resp.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(s.begin(), s.end());
  EXPECT_THAT(bytes, HasSubstr("gvisor.devutil.shim.v1.DevGoferShim"));
  EXPECT_THAT(bytes, HasSubstr("grpc.health.v1.Health"));
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

// One devgofer serves 1,000 containers at once; the shim's thread count
// does not grow per container, and each container costs one FD.
TEST_F(ShimTest, ThousandContainersNeedNoThreadEach) {
#ifdef __SANITIZE_THREAD__
  // Under ThreadSanitizer every gRPC call pays for suppressed reports from
  // the uninstrumented gRPC library (about 0.2 s each on 2 cores): fewer
  // containers keep the test within its timeout.
  constexpr int kContainers = 100;
#else
  constexpr int kContainers = 1000;
#endif
  constexpr int kClients = 8;
  absl::StatusOr<uint64_t> nofile = fd::RaiseFdLimit();
  ASSERT_TRUE(nofile.ok()) << nofile.status();
  if (*nofile < 2 * kContainers + 200) {
    GTEST_SKIP() << "RLIMIT_NOFILE too low for " << kContainers
                 << " containers";
  }
  auto g = Devices();
  ASSERT_NE(g, nullptr);

  auto run_clients = [&](int first, int count, bool attach) {
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kClients; ++t) {
      threads.emplace_back([&, t] {
        for (int i = first + t; i < first + count; i += kClients) {
          std::string name = absl::StrCat("c", i);
          grpc::Status st = attach ? Attach(name, g->socket()) : Detach(name);
          if (!st.ok()) {
            ADD_FAILURE() << name << ": " << st.error_message();
            ++failures;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    return failures.load();
  };
  // Warm up gRPC's thread pools with the same concurrency.
  ASSERT_EQ(run_clients(0, 4 * kClients, true), 0);
  ASSERT_EQ(run_clients(0, 4 * kClients, false), 0);
  const int threads_before = testutil::ThreadCount();
  const int fds_before = testutil::OpenFdCount();

  ASSERT_EQ(run_clients(0, kContainers, true), 0);
  const int threads_after = testutil::ThreadCount();
  const int fds_after = testutil::OpenFdCount();
  EXPECT_EQ(registry_->size(), static_cast<size_t>(kContainers));
  RecordProperty("threads_before", threads_before);
  RecordProperty("threads_after", threads_after);
  EXPECT_LE(threads_after - threads_before, 8)
      << "threads: " << threads_before << " -> " << threads_after;
  EXPECT_LE(fds_after - fds_before, kContainers + 8)
      << "FDs: " << fds_before << " -> " << fds_after;

  v1::ListContainersResponse list;
  ASSERT_GRPC_OK(List(&list));
  EXPECT_EQ(list.containers_size(), kContainers);
  for (int i = 0; i < kContainers; i += 97) {
    std::string name = absl::StrCat("c", i);
    v1::DeviceInfo info;
    ASSERT_GRPC_OK(Probe(name, "null", v1::READ, &info));
    EXPECT_EQ(info.rdev_minor(), 3u);
  }
  EXPECT_LE(testutil::ThreadCount(), threads_before + 8);

  ASSERT_EQ(run_clients(0, kContainers, false), 0);
  EXPECT_EQ(registry_->size(), 0u);
  EXPECT_LE(testutil::OpenFdCount(), fds_before + 8);
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
  std::thread caller([&] { call = Probe("stuck", "leased", v1::WRITE); });
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
