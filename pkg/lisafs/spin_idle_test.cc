// The spin before blocking (pkg/spin/spin.h) costs nothing once a
// connection is idle: after a burst of RPCs over the socket and over a
// channel, the process (client and server, with their worker, channel and
// watcher threads) uses next to no CPU while the connection sits idle. The
// bound is on CPU time, not on latency; the idle period is the measurement
// itself.

#include <sys/resource.h>

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/lisafs/client.h"
#include "pkg/spin/spin.h"
#include "pkg/unet/hangup_watcher.h"
#include "pkg/unet/unet.h"
#include "testing/gofer_fixture.h"

namespace gvisor::lisafs {
namespace {

const context::Context& Ctx() { return context::Background(); }

// ProcessCpu is the CPU time (user + system) of every thread of the
// process so far.
absl::Duration ProcessCpu() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return absl::DurationFromTimeval(ru.ru_utime) +
         absl::DurationFromTimeval(ru.ru_stime);
}

// kIdle is how long the connection sits idle; kMaxIdleCpu what the whole
// process may use meanwhile. A spin that did not end would use all of kIdle
// on at least one thread.
constexpr absl::Duration kIdle = absl::Milliseconds(300);
constexpr absl::Duration kMaxIdleCpu = absl::Milliseconds(5);

class SpinIdleTest : public ::testing::TestWithParam<absl::Duration> {};

TEST_P(SpinIdleTest, AnIdleConnectionUsesNoCpuAfterItsSpinWindow) {
  unet::HangupWatcher::Default();
  absl::StatusOr<std::unique_ptr<testing::GoferFixture>> f =
      testing::GoferFixture::Create();
  ASSERT_TRUE(f.ok()) << f.status();
  absl::StatusOr<fd::OwnedFd> sock = (*f)->Connect();
  ASSERT_TRUE(sock.ok()) << sock.status();
  absl::StatusOr<unet::Socket> s = unet::Socket::FromFd(*std::move(sock));
  ASSERT_TRUE(s.ok()) << s.status();
  ClientOptions opts;
  opts.spin = GetParam();
  absl::StatusOr<Mounted> m = NewClient(Ctx(), *std::move(s), opts);
  ASSERT_TRUE(m.ok()) << m.status();
  ClientFD root = m->client->NewFD(m->root.control_fd);

  // A burst over the socket, then over the channels: every waiter (the
  // client on the socket and on its channel, the server's workers and its
  // channel threads) has just spun.
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(root.FStat(Ctx()).ok());
  ASSERT_TRUE(m->client->StartChannels(Ctx()).ok());
  ASSERT_GT(m->client->channels(), 0u);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(root.FStat(Ctx()).ok());
  EXPECT_GT(m->client->stats().channel_rpcs, 0u);

  // Idle: the mounted connection and the client's channels wait for their
  // next request, the server's channel threads and workers for theirs.
  const absl::Duration before = ProcessCpu();
  absl::SleepFor(kIdle);
  const absl::Duration used = ProcessCpu() - before;
  EXPECT_LT(used, kMaxIdleCpu)
      << "the process used " << used << " of CPU over " << kIdle << " idle";

  // Still working after the idle period.
  EXPECT_TRUE(root.FStat(Ctx()).ok());
  root.Close(Ctx(), /*flush=*/true);
  m->client->Close();
}

INSTANTIATE_TEST_SUITE_P(Spin, SpinIdleTest,
                         ::testing::Values(spin::kDefaultMax,
                                           absl::ZeroDuration(),
                                           absl::Milliseconds(2)),
                         [](const auto& info) {
                           return absl::StrCat(
                               absl::ToInt64Microseconds(info.param), "us");
                         });

}  // namespace
}  // namespace gvisor::lisafs
