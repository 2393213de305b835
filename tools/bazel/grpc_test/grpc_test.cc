// Proves that cc_grpc_library produces working stubs: a real server on a unix
// socket, a real client channel, one unary call, an error status, the health
// service, and a generated mock.

#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "tools/bazel/grpc_test/echo.grpc.pb.h"
#include "tools/bazel/grpc_test/echo_mock.grpc.pb.h"

namespace gvisor_devutil::test::v1 {
namespace {

class EchoService final : public Echo::Service {
 public:
  grpc::Status Echo(grpc::ServerContext*, const EchoRequest* req,
                    EchoResponse* resp) override {
    resp->set_text(req->text());
    resp->set_calls(++calls_);
    return grpc::Status::OK;
  }
  grpc::Status Fail(grpc::ServerContext*, const google::protobuf::Empty*,
                    google::protobuf::Empty*) override {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "always fails");
  }

 private:
  std::atomic<int64_t> calls_{0};
};

class GrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat("/tmp/gvisor_devutil_grpc_test.", getpid(), ".sock");
    unlink(path_.c_str());
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + path_,
                             grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel("unix:" + path_,
                                   grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    unlink(path_.c_str());
  }

  std::string path_;
  EchoService service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(GrpcTest, UnaryCallOverUnixSocket) {
  auto stub = Echo::NewStub(channel_);
  for (int i = 1; i <= 3; ++i) {
    grpc::ClientContext ctx;
    EchoRequest req;
    req.set_text(absl::StrCat("hello ", i));
    EchoResponse resp;
    grpc::Status st = stub->Echo(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(resp.text(), req.text());
    EXPECT_EQ(resp.calls(), i);
  }
}

TEST_F(GrpcTest, ErrorStatusPropagates) {
  auto stub = Echo::NewStub(channel_);
  grpc::ClientContext ctx;
  google::protobuf::Empty req, resp;
  grpc::Status st = stub->Fail(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(st.error_message(), "always fails");
}

TEST_F(GrpcTest, HealthServiceIsServing) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  ASSERT_NE(health, nullptr);
  // The health service has no generated stub here; prove it answers with a
  // generic call on its method path. An empty HealthCheckRequest is "".
  grpc::GenericStub generic(channel_);
  grpc::ClientContext ctx;
  grpc::Slice slice("", 0);
  grpc::ByteBuffer req(&slice, 1);
  grpc::ByteBuffer resp;
  std::atomic<bool> done{false};
  grpc::Status result;
  absl::Mutex mu;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                    &req, &resp, [&](grpc::Status st) {
                      absl::MutexLock l(&mu);
                      result = st;
                      done = true;
                    });
  absl::MutexLock l(&mu);
  mu.Await(absl::Condition(
      +[](std::atomic<bool>* d) { return d->load(); }, &done));
  ASSERT_TRUE(result.ok()) << result.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(resp.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(s.begin(), s.end());
  // HealthCheckResponse{status: SERVING (1)} encodes as field 1 varint 1.
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST(GrpcMockTest, GeneratedMockStubIsUsable) {
  MockEchoStub stub;
  EchoResponse canned;
  canned.set_text("mocked");
  EXPECT_CALL(stub, Echo(testing::_, testing::_, testing::_))
      .WillOnce(testing::DoAll(testing::SetArgPointee<2>(canned),
                               testing::Return(grpc::Status::OK)));
  grpc::ClientContext ctx;
  EchoRequest req;
  EchoResponse resp;
  EXPECT_TRUE(stub.Echo(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.text(), "mocked");
}

}  // namespace
}  // namespace gvisor_devutil::test::v1
