// The shim binary's --metrics_listen: a real shim process, real gRPC calls
// through the generated stub, and scrapes of /metrics with a real HTTP
// client (httplib::Client) over a unix socket and over TCP.

#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/messages.h"
#include "runsc_shim/health.grpc.pb.h"
#include "runsc_shim/shim.grpc.pb.h"
#include "runsc_shim/shim_process_test_base.h"
#include "runsc_shim/testutil.h"
#include "testing/gofer_fixture.h"
#include "testing/hostile_gofer.h"

namespace gvisor::shim {
namespace {

namespace v1 = ::gvisor::devutil::shim::v1;
using ::testing::HasSubstr;
using ::testing::Not;
using testutil::Child;
using testutil::DevGofer;

std::string Bin(const std::string& name) {
  absl::StatusOr<std::string> p = testutil::Runfile("runsc_shim/" + name);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.value_or("/nonexistent");
}

// Scrape gets /metrics from client and returns the body ("" on failure).
std::string Scrape(httplib::Client& client) {
  httplib::Result res = client.Get("/metrics");
  EXPECT_TRUE(res) << httplib::to_string(res.error());
  if (!res) return "";
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  return res->body;
}

class ShimMetricsTest : public testutil::ShimProcessTest {
 protected:
  // StartShim starts the shim binary with flags and connects to it.
  void StartShim(std::vector<std::string> flags) {
    ShimProcessTest::StartShim(std::move(flags), "mshim");
  }
};

TEST_F(ShimMetricsTest, UnixEndpointCountsCallsByMethodAndCodeAndContainers) {
  const std::string metrics = testutil::TempSocketPath("metrics");
  ASSERT_NO_FATAL_FAILURE(StartShim({"--metrics_listen=unix:" + metrics}));
  struct stat st;
  ASSERT_EQ(stat(metrics.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  httplib::Client client(metrics, 80);
  client.set_address_family(AF_UNIX);

  v1::ListContainersResponse list;
  ASSERT_TRUE(List(&list).ok());
  ASSERT_TRUE(List(&list).ok());
  v1::Container c;
  EXPECT_EQ(Get("nope", &c).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Attach("demo", gofer_->socket()).ok());

  std::string text = Scrape(client);
  EXPECT_THAT(text, HasSubstr("\nrunsc_shim_rpcs_total{method="
                              "\"ListContainers\",code=\"OK\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("\nrunsc_shim_rpcs_total{method="
                              "\"GetContainer\",code=\"NOT_FOUND\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nrunsc_shim_rpcs_total{method="
                              "\"AttachContainer\",code=\"OK\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nrunsc_shim_rpc_duration_seconds_count{method="
                              "\"ListContainers\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("\nrunsc_shim_rpc_duration_seconds_bucket{"
                              "method=\"ListContainers\",le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("\nrunsc_shim_containers{state=\"attached\"} "
                              "1\nrunsc_shim_containers{state="
                              "\"disconnected\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("\nrunsc_shim_gofer_stalls_total 0\n"));
  EXPECT_THAT(text, HasSubstr("\nprocess_open_fds "));
  // The health service (its calls are not DevGoferShim's) is not counted.
  EXPECT_THAT(text, Not(HasSubstr("Check")));

  gofer_->child().Signal(SIGKILL);
  ASSERT_TRUE(testutil::WaitFor(
      [&] { return StateOf("demo") == v1::Container::DISCONNECTED; }));
  text = Scrape(client);
  EXPECT_THAT(text, HasSubstr("\nrunsc_shim_containers{state=\"attached\"} "
                              "0\nrunsc_shim_containers{state="
                              "\"disconnected\"} 1\n"));

  // SIGTERM: a clean exit, and the metrics socket file is gone.
  shim_->Signal(SIGTERM);
  absl::StatusOr<int> status = shim_->Wait();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  shim_.reset();
  EXPECT_NE(stat(metrics.c_str(), &st), 0);
}

// Only DevGoferShim's own methods are recorded: a made-up method name
// (UNIMPLEMENTED) adds no series, and health checks are not counted.
TEST_F(ShimMetricsTest, OnlyTheServicesOwnMethodsAreRecorded) {
  const std::string metrics = testutil::TempSocketPath("metrics");
  ASSERT_NO_FATAL_FAILURE(StartShim({"--metrics_listen=unix:" + metrics}));
  httplib::Client client(metrics, 80);
  client.set_address_family(AF_UNIX);

  grpc::GenericStub generic(channel());
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  Deadline(&ctx);
  grpc::ByteBuffer request, response;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
      generic.PrepareUnaryCall(
          &ctx, "/gvisor.devutil.shim.v1.DevGoferShim/MadeUpMethod", request,
          &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }

  grpc::health::v1::HealthCheckRequest check;
  grpc::health::v1::HealthCheckResponse serving;
  grpc::ClientContext health_ctx;
  Deadline(&health_ctx);
  ASSERT_TRUE(grpc::health::v1::Health::NewStub(channel())
                  ->Check(&health_ctx, check, &serving)
                  .ok());

  const std::string text = Scrape(client);
  EXPECT_THAT(text, Not(HasSubstr("MadeUpMethod")));
  EXPECT_THAT(text, Not(HasSubstr("Check")));
  EXPECT_THAT(text, Not(HasSubstr("runsc_shim_rpcs_total{")));
}

TEST_F(ShimMetricsTest, GoferStallsCutOffAreCounted) {
  const std::string metrics = testutil::TempSocketPath("metrics");
  ASSERT_NO_FATAL_FAILURE(StartShim({"--metrics_listen=unix:" + metrics}));
  httplib::Client client(metrics, 80);
  client.set_address_family(AF_UNIX);
  testing::GoferScript listing = testing::EndlessListing(
      1, 1, [](size_t i) { return absl::StrCat("entry-", i); });
  auto g =
      testing::HostileGofer::Start([listing](const testing::GoferRequest& r) {
        if (r.mid == lisafs::MID::kGetdents64) {
          return testing::GoferAnswer::Silence();
        }
        return listing(r);
      });
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(Attach("stalling", (*g)->socket()).ok());
  EXPECT_EQ(Devices("stalling", nullptr, absl::Milliseconds(200)).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // The shim cuts the gofer off after its least stall timeout (1 s); no
  // event says when, so the scrape is repeated until it shows. (A scrape
  // reads its figures one after the other, not as one snapshot: the
  // container may still count as attached in the scrape that first shows
  // the cut-off.)
  std::string text;
  EXPECT_TRUE(testutil::WaitFor([&] {
    text = Scrape(client);
    return absl::StrContains(text, "\nrunsc_shim_gofer_stalls_total 1\n") &&
           absl::StrContains(
               text, "\nrunsc_shim_containers{state=\"disconnected\"} 1\n");
  })) << text;
}

// A metrics socket file left by a shim that was killed (nobody accepts on
// it) is replaced, as the gRPC socket's is.
TEST_F(ShimMetricsTest, AStaleMetricsSocketFileIsReplaced) {
  const std::string metrics = testutil::TempSocketPath("metrics");
  {
    fd::OwnedFd stale(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(stale.valid());
    sockaddr_un sun = {};
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, metrics.data(), metrics.size());
    ASSERT_EQ(bind(stale.get(), reinterpret_cast<sockaddr*>(&sun), sizeof(sun)),
              0);
  }  // closed, the file left behind
  ASSERT_NO_FATAL_FAILURE(StartShim({"--metrics_listen=unix:" + metrics}));
  httplib::Client client(metrics, 80);
  client.set_address_family(AF_UNIX);
  EXPECT_THAT(Scrape(client), HasSubstr("runsc_shim_containers"));
}

TEST_F(ShimMetricsTest, TcpPortZeroIsNamedInTheLog) {
  ASSERT_NO_FATAL_FAILURE(
      StartShim({"--metrics_listen=127.0.0.1:0", "--logtostderr"}));
  const std::string log = shim_->Stderr();
  const std::string kLine = "serving metrics on 127.0.0.1:";
  const size_t at = log.find(kLine);
  ASSERT_NE(at, std::string::npos) << log;
  const size_t digits = at + kLine.size();
  const size_t end = log.find(' ', digits);
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(log.substr(digits, end - digits), &port)) << log;
  ASSERT_GT(port, 0);
  v1::ListContainersResponse list;
  ASSERT_TRUE(List(&list).ok());
  httplib::Client client("127.0.0.1", port);
  EXPECT_THAT(Scrape(client),
              HasSubstr("\nrunsc_shim_rpcs_total{method=\"ListContainers\","
                        "code=\"OK\"} 1\n"));
  httplib::Result other = client.Get("/");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

TEST_F(ShimMetricsTest, AMetricsAddressThatIsNoneIsAUsageError) {
  absl::StatusOr<testutil::Result> r = testutil::Run(
      {Bin("shim"), "--listen=unix:" + testutil::TempSocketPath("mshim"),
       "--metrics_listen=9464"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 2) << r->err;
  EXPECT_THAT(r->err, HasSubstr("--metrics_listen: metrics address \"9464\""));
}

TEST_F(ShimMetricsTest, MetricsBoundsOutOfRangeAreUsageErrors) {
  for (const auto& [flag, message] :
       std::vector<std::pair<std::string, std::string>>{
           {"--metrics_threads=0", "--metrics_threads must be at least 1"},
           {"--metrics_io_timeout=10", "--metrics_io_timeout=10: a duration"},
           {"--metrics_connection_timeout=0s",
            "--metrics_connection_timeout=0s: must be positive"},
       }) {
    absl::StatusOr<testutil::Result> r = testutil::Run(
        {Bin("shim"), "--listen=unix:" + testutil::TempSocketPath("mshim"),
         flag});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->exit_code, 2) << flag << ": " << r->err;
    EXPECT_THAT(r->err, HasSubstr(message)) << flag;
  }
}

TEST_F(ShimMetricsTest, AMetricsPortInUseIsOneLineAndExitStatusOne) {
  fd::OwnedFd taken(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(taken.valid());
  sockaddr_in sin = {};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sin);
  ASSERT_EQ(bind(taken.get(), reinterpret_cast<sockaddr*>(&sin), len), 0);
  ASSERT_EQ(listen(taken.get(), 1), 0);
  ASSERT_EQ(getsockname(taken.get(), reinterpret_cast<sockaddr*>(&sin), &len),
            0);
  const std::string address = absl::StrCat("127.0.0.1:", ntohs(sin.sin_port));
  const std::string grpc_socket = testutil::TempSocketPath("mshim");
  absl::StatusOr<testutil::Result> r =
      testutil::Run({Bin("shim"), "--listen=unix:" + grpc_socket,
                     "--metrics_listen=" + address, "--logtostderr"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 1) << r->err;
  EXPECT_THAT(r->err, HasSubstr(absl::StrCat(
                          "shim: cannot serve metrics endpoint on ", address)));
  EXPECT_THAT(r->err, HasSubstr("EADDRINUSE"));
  // It never served gRPC: no socket file is left.
  EXPECT_FALSE(testutil::CanConnect(grpc_socket));
  unlink(grpc_socket.c_str());
}

}  // namespace
}  // namespace gvisor::shim
