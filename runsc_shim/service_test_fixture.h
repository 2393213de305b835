// The fixture of the shim's end-to-end tests (service_*_test.cc): the real
// Server (service, health, reflection) on a unix socket, called through the
// generated stubs, with real devgofer processes serving the hermetic gofer
// fixture's device directory.

#ifndef GVISOR_RUNSC_SHIM_SERVICE_TEST_FIXTURE_H_
#define GVISOR_RUNSC_SHIM_SERVICE_TEST_FIXTURE_H_

#include <stdint.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pkg/fd/limit.h"
#include "runsc_shim/address.h"
#include "runsc_shim/registry.h"
#include "runsc_shim/server.h"
#include "runsc_shim/testutil.h"
#include "testing/gofer_fixture.h"

namespace gvisor::shim {

// ShimTest starts a ContainerRegistry and a Server on a fresh unix socket
// for each test, and connects the ShimClient to it.
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
  std::unique_ptr<testutil::DevGofer> Devices(
      std::vector<std::string> flags = {}) {
    flags.push_back("--char_devices=passthrough");
    absl::StatusOr<std::unique_ptr<testutil::DevGofer>> g =
        testutil::DevGofer::Start(fixture_->devices_dir(), flags);
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? std::move(*g) : nullptr;
  }

  // Tree starts a devgofer over the fixture's tree (files, directories,
  // symlinks, a FIFO).
  std::unique_ptr<testutil::DevGofer> Tree(
      std::vector<std::string> flags = {}) {
    absl::StatusOr<std::unique_ptr<testutil::DevGofer>> g =
        testutil::DevGofer::Start(fixture_->root(), flags);
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
// (host fast path or LISAFS RPCs). Each test file with TEST_Ps on it
// instantiates the suite (INSTANTIATE_TEST_SUITE_P) itself.
class ShimModeTest : public ShimTest,
                     public ::testing::WithParamInterface<bool> {
 protected:
  std::unique_ptr<testutil::DevGofer> Gofer() {
    return ShimTest::Devices(GetParam()
                                 ? std::vector<std::string>{"--donate_mount_fd"}
                                 : std::vector<std::string>{});
  }
};

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_SERVICE_TEST_FIXTURE_H_
