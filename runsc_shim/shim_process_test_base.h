// ShimProcessTest: the fixture of the tests that run the real shim binary
// next to a real devgofer over the gofer fixture's devices (null, zero, a
// tty, ...). SetUp starts the devgofer; StartShim starts the shim on a
// fresh socket and connects the ShimClient to it; TearDown stops the shim
// with SIGTERM and removes its socket.

#ifndef GVISOR_RUNSC_SHIM_SHIM_PROCESS_TEST_BASE_H_
#define GVISOR_RUNSC_SHIM_SHIM_PROCESS_TEST_BASE_H_

#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runsc_shim/testutil.h"
#include "testing/gofer_fixture.h"

namespace gvisor::shim::testutil {

class ShimProcessTest : public ::testing::Test, public ShimClient {
 protected:
  void SetUp() override {
    auto fx = gvisor::testing::GoferFixture::Create();
    ASSERT_TRUE(fx.ok()) << fx.status();
    fixture_ = std::move(*fx);
    auto g = DevGofer::Start(fixture_->devices_dir(),
                             {"--char_devices=passthrough"});
    ASSERT_TRUE(g.ok()) << g.status();
    gofer_ = std::move(*g);
  }

  void TearDown() override {
    if (shim_ != nullptr) {
      shim_->Signal(SIGTERM);
      (void)shim_->Wait();
    }
    if (!socket_.empty()) unlink(socket_.c_str());
  }

  // StartShim starts the shim binary with flags on a fresh socket (named
  // after tag) and connects to it.
  void StartShim(std::vector<std::string> flags, const std::string& tag) {
    socket_ = TempSocketPath(tag);
    absl::StatusOr<std::string> bin = Runfile("runsc_shim/shim");
    ASSERT_TRUE(bin.ok()) << bin.status();
    flags.insert(flags.begin(), {*bin, "--listen=unix:" + socket_});
    auto c = Child::StartServer(flags);
    ASSERT_TRUE(c.ok()) << c.status();
    shim_ = std::move(*c);
    Connect("unix:" + socket_);
  }

  std::unique_ptr<gvisor::testing::GoferFixture> fixture_;
  // gofer_ is a devgofer serving the fixture's devices.
  std::unique_ptr<DevGofer> gofer_;
  std::string socket_;
  std::unique_ptr<Child> shim_;
};

}  // namespace gvisor::shim::testutil

#endif  // GVISOR_RUNSC_SHIM_SHIM_PROCESS_TEST_BASE_H_
