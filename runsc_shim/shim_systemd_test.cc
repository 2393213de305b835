// The shim binary (its path is argv[1]) under systemd's conventions,
// without a running systemd: READY=1 and STOPPING=1 on a $NOTIFY_SOCKET
// the test binds, and a listening socket passed as FD 3 with LISTEN_FDS.

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/sdnotify/notify_listener.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/health.grpc.pb.h"
#include "tools/devgofer/gofer_process.h"

namespace gvisor::shim {
namespace {

using devgofer::GoferChild;
using devgofer::SpawnActivatedGofer;

const char* g_binary = nullptr;

// Serving reports whether the shim on the unix socket path answers the
// health check with SERVING.
bool Serving(const std::string& path) {
  auto channel = grpc::CreateChannel(absl::StrCat("unix:", path),
                                     grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  // A guard against a hung test, not a timing assertion.
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = health->Check(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return s.ok() &&
         resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

class ShimSystemdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sock_ = absl::StrCat("/tmp/shim_systemd_test.", getpid(), ".sock");
    unlink(sock_.c_str());
  }
  void TearDown() override { unlink(sock_.c_str()); }
  std::string sock_;
};

TEST_F(ShimSystemdTest, NotifySocketGetsReadyAndStopping) {
  absl::StatusOr<std::unique_ptr<sdnotify::NotifyListener>> n =
      sdnotify::NotifyListener::Bind("/tmp");
  ASSERT_TRUE(n.ok()) << n.status();
  GoferChild p;
  ASSERT_TRUE(SpawnActivatedGofer(g_binary, {"--listen=unix:" + sock_}, -1,
                                  {"NOTIFY_SOCKET=" + (*n)->path()}, &p)
                  .ok());
  absl::StatusOr<std::string> m = (*n)->Read();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, absl::StrCat("READY=1\nSTATUS=serving on unix:", sock_));
  // Serving once READY=1 came: no wait, no retry.
  EXPECT_TRUE(Serving(sock_));
  ASSERT_EQ(kill(p.pid, SIGTERM), 0);
  m = (*n)->Read();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, "STOPPING=1\nSTATUS=shutting down");
  EXPECT_EQ(p.Wait(), 0) << p.log;
}

// Socket activation: the shim serves gRPC on the listening socket it
// inherited, and leaves it to its owner, so that the next shim serves on it
// too.
TEST_F(ShimSystemdTest, SocketActivationServesTheInheritedSocket) {
  absl::StatusOr<unet::ServerSocket> l =
      unet::ServerSocket::Bind(sock_, SOCK_STREAM, 0600);
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_TRUE(l->Listen().ok());
  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE(run);
    absl::StatusOr<std::unique_ptr<sdnotify::NotifyListener>> n =
        sdnotify::NotifyListener::Bind("/tmp");
    ASSERT_TRUE(n.ok()) << n.status();
    GoferChild p;
    // --listen names another path: the inherited socket wins.
    ASSERT_TRUE(
        SpawnActivatedGofer(
            g_binary, {"--listen=unix:/tmp/shim_systemd_test.unused"}, l->fd(),
            {"LISTEN_FDNAMES=runsc-shim", "NOTIFY_SOCKET=" + (*n)->path()}, &p)
            .ok());
    absl::StatusOr<std::string> m = (*n)->Read();
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(*m, absl::StrCat("READY=1\nSTATUS=serving on unix:", sock_));
    EXPECT_TRUE(Serving(sock_));
    EXPECT_TRUE(Serving(sock_));
    ASSERT_EQ(kill(p.pid, SIGTERM), 0);
    EXPECT_EQ(p.Wait(), 0) << p.log;
    EXPECT_TRUE(absl::StrContains(p.log, "(inherited by socket activation)"))
        << p.log;
    struct stat st;
    EXPECT_EQ(lstat(sock_.c_str(), &st), 0) << "the owner's socket was removed";
  }
}

TEST_F(ShimSystemdTest, SocketActivationRefusesASocketThatDoesNotListen) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fd::OwnedFd a(sv[0]), b(sv[1]);
  GoferChild p;
  ASSERT_TRUE(
      SpawnActivatedGofer(g_binary, {"--listen=unix:" + sock_}, a.get(), {}, &p)
          .ok());
  EXPECT_EQ(p.Wait(), 1) << p.log;
  EXPECT_TRUE(absl::StrContains(p.log, "not a listening AF_UNIX socket"))
      << p.log;
}

}  // namespace
}  // namespace gvisor::shim

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    fprintf(stderr, "usage: shim_systemd_test PATH_TO_SHIM\n");
    return 2;
  }
  gvisor::shim::g_binary = argv[1];
  return RUN_ALL_TESTS();
}
