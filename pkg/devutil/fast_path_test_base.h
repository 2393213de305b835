// FastPathTest: the fixture of the tests of GoferClient's host fast path: a
// client mounted over the gofer fixture with the mount FD donated, so that
// OpenAt and DirentNames make no RPC.

#ifndef GVISOR_PKG_DEVUTIL_FAST_PATH_TEST_BASE_H_
#define GVISOR_PKG_DEVUTIL_FAST_PATH_TEST_BASE_H_

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/fd/fd.h"
#include "testing/as_socket.h"
#include "testing/gofer_fixture.h"

namespace gvisor::devutil {

class FastPathTest : public ::testing::Test {
 protected:
  static const context::Context& Ctx() { return context::Background(); }

  void SetUp() override {
    testing::GoferOptions opts;
    opts.donate_mount_fd = true;
    auto f = testing::GoferFixture::Create(opts);
    ASSERT_TRUE(f.ok()) << f.status();
    fixture_ = std::move(*f);
    absl::StatusOr<fd::OwnedFd> sock = fixture_->Connect();
    ASSERT_TRUE(sock.ok()) << sock.status();
    auto c = NewGoferClient(Ctx(), "cont", testing::AsSocket(std::move(sock)));
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
    ASSERT_TRUE(client_->HasHostFD());
  }

  std::unique_ptr<testing::GoferFixture> fixture_;
  std::unique_ptr<GoferClient> client_;
};

}  // namespace gvisor::devutil

#endif  // GVISOR_PKG_DEVUTIL_FAST_PATH_TEST_BASE_H_
