// ContainerRegistry without gRPC: the provider interface, and the
// concurrency contracts (calls racing Detach, many callers at once).

#include "runsc_shim/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/testutil.h"
#include "testing/gofer_fixture.h"
#include "testing/hostile_gofer.h"
#include "testing/leased_file.h"
#include "testing/rescue.h"

namespace gvisor::shim {
namespace {

using ::testing::Contains;
using testutil::DevGofer;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fx = gvisor::testing::GoferFixture::Create();
    ASSERT_TRUE(fx.ok()) << fx.status();
    fixture_ = std::move(*fx);
    auto reg = ContainerRegistry::Create();
    ASSERT_TRUE(reg.ok()) << reg.status();
    registry_ = std::move(*reg);
  }

  std::unique_ptr<DevGofer> Gofer(std::vector<std::string> flags = {}) {
    flags.push_back("--char_devices=passthrough");
    auto g = DevGofer::Start(fixture_->devices_dir(), flags);
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? std::move(*g) : nullptr;
  }

  static absl::Time Soon() { return absl::Now() + absl::Seconds(20); }

  std::unique_ptr<gvisor::testing::GoferFixture> fixture_;
  std::unique_ptr<ContainerRegistry> registry_;
};

// The first bytes an HTTP/2 server sends on a new connection: a SETTINGS
// frame header (4 settings) and its payload.
const std::string kHttp2Settings(
    "\x00\x00\x18\x04\x00\x00\x00\x00\x00"
    "\x00\x03\x00\x00\x00\x00\x00\x04\x00"
    "\x40\x00\x00\x00\x05\x00\x40\x00\x00"
    "\x00\x06\x00\x00\x40\x00",
    33);

// A connected socket whose peer has already spoken is no LISAFS gofer: it
// is refused before any Mount, saying what the peer speaks.
TEST_F(RegistryTest, ConnectedPeerThatSpokeFirstIsNotALisafsGofer) {
  struct Case {
    std::string first;
    const char* says;
  };
  for (const Case& k :
       {Case{kHttp2Settings, "it is not a LISAFS gofer: it speaks HTTP/2"},
        Case{"SSH-2.0-OpenSSH\r\n",
             "it is not a LISAFS gofer: it sent \"SSH-2.0-"},
        Case{std::string("\x08\x00\x00\x00\x01\x00\x00\x00", 8),
             "it is not a LISAFS gofer: it sent 08 00 00 00 01 00 00 00 "
             "before any request (a LISAFS gofer waits for Mount)"}}) {
    SCOPED_TRACE(k.says);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fd::OwnedFd peer(sv[1]);
    ASSERT_EQ(write(peer.get(), k.first.data(), k.first.size()),
              static_cast<ssize_t>(k.first.size()));
    absl::StatusOr<unet::Socket> sock =
        unet::Socket::FromFd(fd::OwnedFd(sv[0]));
    ASSERT_TRUE(sock.ok()) << sock.status();
    absl::StatusOr<ContainerInfo> info =
        registry_->Attach("c", *std::move(sock), Soon());
    EXPECT_EQ(info.status().code(), absl::StatusCode::kUnavailable)
        << info.status();
    EXPECT_EQ(syserr::ToErrno(info.status()), EPROTO);
    EXPECT_THAT(info.status().message(), ::testing::HasSubstr(k.says));
    // Nothing was sent to it: no Mount, and the connection is closed (with
    // its bytes unread: ECONNRESET, or the end of the stream).
    char b;
    EXPECT_LE(read(peer.get(), &b, 1), 0);
  }
  EXPECT_EQ(registry_->size(), 0u);
}

// A connected socket whose peer closed before any request is refused too.
TEST_F(RegistryTest, ConnectedPeerThatClosedFirstIsRefusedSayingSo) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  close(sv[1]);
  absl::StatusOr<unet::Socket> sock = unet::Socket::FromFd(fd::OwnedFd(sv[0]));
  ASSERT_TRUE(sock.ok()) << sock.status();
  absl::StatusOr<ContainerInfo> info =
      registry_->Attach("c", *std::move(sock), Soon());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(info.status().message(),
              ::testing::HasSubstr("closed the connection before any request: "
                                   "it is not a LISAFS gofer"));
}

TEST_F(RegistryTest, ProviderHandsOutTheContainersClient) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_TRUE(registry_->Attach("demo", g->socket(), Soon()).ok());
  devutil::GoferClientProvider* provider = registry_.get();
  // As the sentry finds it: through the context.
  context::ValueContext ctx = context::WithValue(
      context::Background(), devutil::CtxDevGoferClientProvider, provider);
  devutil::GoferClientProvider* found =
      devutil::GoferClientProviderFromContext(ctx);
  ASSERT_EQ(found, provider);
  std::shared_ptr<devutil::GoferClient> client =
      found->GetDevGoferClient("demo");
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->ContainerName(), "demo");
  absl::StatusOr<fd::OwnedFd> fd = client->OpenAt(ctx, "null", O_RDWR);
  ASSERT_TRUE(fd.ok()) << fd.status();
  struct stat st;
  ASSERT_EQ(fstat(fd->get(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 1u);
  EXPECT_EQ(minor(st.st_rdev), 3u);
  EXPECT_EQ(found->GetDevGoferClient("other"), nullptr);
}

TEST_F(RegistryTest, OpenAtReturnsAHostFd) {
  auto g = Gofer({"--donate_mount_fd"});
  ASSERT_NE(g, nullptr);
  auto info = registry_->Attach("demo", g->socket(), Soon());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->mount_fd_donated);
  absl::StatusOr<fd::OwnedFd> fd =
      registry_->OpenAt("demo", "zero", O_RDONLY, Soon());
  ASSERT_TRUE(fd.ok()) << fd.status();
  char buf[4] = {1, 1, 1, 1};
  ASSERT_EQ(read(fd->get(), buf, sizeof(buf)), 4);
  EXPECT_EQ(buf[0] | buf[1] | buf[2] | buf[3], 0);
  auto names = registry_->DirentNames("demo", Soon());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, Contains("zero"));
}

TEST_F(RegistryTest, DetachEndsCallsInFlight) {
  auto g = Gofer();  // RPC path: a stopped gofer blocks the call
  ASSERT_NE(g, nullptr);
  ASSERT_TRUE(registry_->Attach("demo", g->socket(), Soon()).ok());
  ASSERT_TRUE(g->child().Stop());
  absl::Status call;
  std::thread caller([&] {
    call = registry_->DirentNames("demo", absl::InfiniteFuture()).status();
  });
  ASSERT_TRUE(registry_->Detach("demo").ok());
  caller.join();
  // Detach ended the call (NOT_FOUND), not the stall guard.
  EXPECT_EQ(call.code(), absl::StatusCode::kNotFound) << call;
  EXPECT_EQ(registry_->GetDevGoferClient("demo"), nullptr);
  g->child().Continue();
}

// SleepLatch is a context that tells a test when a call has begun its
// first blocking step (an RPC), so that the test can act while it is in
// flight without sleeping.
class SleepLatch : public context::Context {
 public:
  void UninterruptibleSleepStart() const override {
    std::lock_guard<std::mutex> l(mu_);
    started_ = true;
    cv_.notify_all();
  }
  void WaitStarted() const {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return started_; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable bool started_ = false;
};

// A handle used after Detach. Before the provider shared ownership,
// GetDevGoferClient returned the raw pointer of the container's
// std::unique_ptr<GoferClient>, which Detach freed: every call below was a
// heap-use-after-free (ASan: bazel test --config=asan). Now the handle keeps
// the client alive and its calls fail at once with a clear EBADF.
TEST_F(RegistryTest, HandleUsedAfterDetachFailsClearly) {
  for (bool donate : {false, true}) {
    SCOPED_TRACE(donate ? "fast path" : "RPC path");
    auto g = donate ? Gofer({"--donate_mount_fd"}) : Gofer();
    ASSERT_NE(g, nullptr);
    ASSERT_TRUE(registry_->Attach("demo", g->socket(), Soon()).ok());
    std::shared_ptr<devutil::GoferClient> client =
        registry_->GetDevGoferClient("demo");
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(client->OpenAt(context::Background(), "null", O_RDONLY).ok());
    ASSERT_TRUE(registry_->Detach("demo").ok());
    EXPECT_EQ(registry_->GetDevGoferClient("demo"), nullptr);

    EXPECT_EQ(client->ContainerName(), "demo");
    absl::StatusOr<fd::OwnedFd> fd =
        client->OpenAt(context::Background(), "null", O_RDONLY);
    EXPECT_EQ(syserr::ToErrno(fd.status()), EBADF) << fd.status();
    EXPECT_THAT(fd.status().message(),
                ::testing::HasSubstr("container \"demo\" is closed"));
    auto names = client->DirentNames(context::Background());
    EXPECT_EQ(syserr::ToErrno(names.status()), EBADF) << names.status();
    EXPECT_TRUE(client->HungUp());
    client->Shutdown();  // a no-op on a closed client, not a stale FD
  }
}

// A handle held across Detach while its call is in flight: the call ends
// at once (Detach shuts the connection down), later calls fail with EBADF,
// and the client is freed only when the handle goes.
TEST_F(RegistryTest, HandleHeldAcrossDetachWithCallInFlight) {
  auto g = Gofer();  // RPC path: a stopped gofer blocks the call
  ASSERT_NE(g, nullptr);
  ASSERT_TRUE(registry_->Attach("demo", g->socket(), Soon()).ok());
  std::shared_ptr<devutil::GoferClient> client =
      registry_->GetDevGoferClient("demo");
  ASSERT_NE(client, nullptr);
  std::weak_ptr<devutil::GoferClient> weak = client;
  ASSERT_TRUE(g->child().Stop());
  absl::Cleanup resume = [&g] { g->child().Continue(); };
  SleepLatch ctx;
  absl::Status call;
  std::thread caller([&] { call = client->DirentNames(ctx).status(); });
  ctx.WaitStarted();
  ASSERT_TRUE(registry_->Detach("demo").ok());
  caller.join();
  // The connection was shut down under the RPC: a transport error, not the
  // EBADF of a call that began after the close.
  EXPECT_FALSE(call.ok());
  EXPECT_NE(syserr::ToErrno(call), EBADF) << call;
  auto fd = client->OpenAt(context::Background(), "null", O_RDONLY);
  EXPECT_EQ(syserr::ToErrno(fd.status()), EBADF) << fd.status();
  EXPECT_FALSE(weak.expired());
  client.reset();
  EXPECT_TRUE(weak.expired());
}

TEST_F(RegistryTest, CloseAllDetachesEveryContainer) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        registry_->Attach(absl::StrCat("c", i), g->socket(), Soon()).ok());
  }
  EXPECT_TRUE(testutil::WaitFor(
      [&] { return testutil::AcceptedConnections(g->socket()) == 5; }));
  registry_->CloseAll();
  EXPECT_EQ(registry_->size(), 0u);
  EXPECT_TRUE(registry_->List().empty());
  // Every connection ended in the gofer.
  EXPECT_TRUE(testutil::WaitFor(
      [&] { return testutil::AcceptedConnections(g->socket()) == 0; }));
}

TEST_F(RegistryTest, DestructorClosesEveryClient) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_TRUE(registry_->Attach("a", g->socket(), Soon()).ok());
  ASSERT_TRUE(registry_->Attach("b", g->socket(), Soon()).ok());
  EXPECT_TRUE(testutil::WaitFor(
      [&] { return testutil::AcceptedConnections(g->socket()) == 2; }));
  registry_.reset();
  EXPECT_TRUE(testutil::WaitFor(
      [&] { return testutil::AcceptedConnections(g->socket()) == 0; }));
}

TEST_F(RegistryTest, PastDeadlineStartsNothing) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  absl::Time past = absl::Now() - absl::Seconds(1);
  EXPECT_EQ(registry_->Attach("demo", g->socket(), past).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(registry_->Attach("demo", g->socket(), Soon()).ok());
  EXPECT_EQ(registry_->OpenAt("demo", "null", O_RDONLY, past).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(registry_->DirentNames("demo", past).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(RegistryTest, EveryChangeAddsToTheGeneration) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  uint64_t gen = registry_->generation();
  ASSERT_TRUE(registry_->Attach("a", g->socket(), Soon()).ok());
  EXPECT_EQ(registry_->generation(), gen + 1);
  // Failures change nothing.
  EXPECT_FALSE(registry_->Attach("a", g->socket(), Soon()).ok());
  EXPECT_FALSE(registry_->Detach("nope").ok());
  EXPECT_EQ(registry_->generation(), gen + 1);
  // Nothing changes: AwaitChange returns at its deadline with the same one.
  EXPECT_EQ(registry_->AwaitChange(gen + 1, absl::Now()), gen + 1);
  ASSERT_TRUE(registry_->Detach("a").ok());
  EXPECT_EQ(registry_->generation(), gen + 2);
  // A change seen before the wait starts returns at once.
  EXPECT_EQ(registry_->AwaitChange(gen, absl::InfiniteFuture()), gen + 2);
}

TEST_F(RegistryTest, WakeWaitersEndsAWaitWithoutAChange) {
  const uint64_t gen = registry_->generation();
  std::atomic<bool> returned{false};
  // A wake before the wait starts is not seen, so keep waking until it
  // returns. Without a working WakeWaiters the wait never ends.
  std::thread waker([&] {
    while (!returned.load()) {
      registry_->WakeWaiters();
      std::this_thread::yield();
    }
  });
  EXPECT_EQ(registry_->AwaitChange(gen, absl::InfiniteFuture()), gen);
  returned = true;
  waker.join();
}

TEST_F(RegistryTest, AwaitChangeWakesOnADisconnect) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_TRUE(registry_->Attach("demo", g->socket(), Soon()).ok());
  const uint64_t gen = registry_->generation();
  std::thread killer([&] { g->child().Signal(SIGKILL); });
  // Only the gofer's death, noticed by the watcher, ends this before its
  // deadline.
  EXPECT_EQ(registry_->AwaitChange(gen, Soon()), gen + 1);
  killer.join();
  absl::StatusOr<ContainerInfo> info = registry_->Get("demo");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->state, ContainerState::kDisconnected);
  EXPECT_THAT(info->disconnect_reason, ::testing::HasSubstr("closed"));
}

// A call the stall guard cuts off is counted (stall_cutoffs), and leaves
// its container disconnected (CountStates); a call that fails otherwise is
// not counted.
TEST_F(RegistryTest, StallGuardCutOffsAreCounted) {
  auto healthy = Gofer();
  ASSERT_NE(healthy, nullptr);
  ASSERT_TRUE(registry_->Attach("healthy", healthy->socket(), Soon()).ok());
  testing::GoferScript listing = testing::EndlessListing(
      1, 1, [](size_t i) { return absl::StrCat("entry-", i); });
  auto stalling =
      testing::HostileGofer::Start([listing](const testing::GoferRequest& r) {
        if (r.mid == lisafs::MID::kGetdents64) {
          return testing::GoferAnswer::Silence();
        }
        return listing(r);
      });
  ASSERT_TRUE(stalling.ok()) << stalling.status();
  ASSERT_TRUE(
      registry_->Attach("stalling", (*stalling)->socket(), Soon()).ok());
  EXPECT_EQ(registry_->stall_cutoffs(), 0u);
  ContainerRegistry::StateCounts before = registry_->CountStates();
  EXPECT_EQ(before.attached, 2u);
  EXPECT_EQ(before.disconnected, 0u);

  // A failure that is no stall: not counted.
  EXPECT_EQ(registry_->OpenAt("healthy", "no-such-device", O_RDONLY, Soon())
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->stall_cutoffs(), 0u);

  // The guard gives the gofer kMinStallTimeout, then cuts it off.
  absl::StatusOr<std::vector<std::string>> names =
      registry_->DirentNames("stalling", absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(names.status().code(), absl::StatusCode::kDeadlineExceeded)
      << names.status();
  EXPECT_EQ(registry_->stall_cutoffs(), 1u);
  ContainerRegistry::StateCounts after = registry_->CountStates();
  EXPECT_EQ(after.attached, 1u);
  EXPECT_EQ(after.disconnected, 1u);
  // A disconnected container refuses calls at once: nothing more to cut.
  EXPECT_EQ(registry_->DirentNames("stalling", Soon()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(registry_->stall_cutoffs(), 1u);
}

TEST_F(RegistryTest, DetachDoesNotWaitForAFastPathOpenStuckInTheKernel) {
  // A devgofer over the fixture's tree, donating the mount FD: the open
  // runs in this process, and blocks on a lease held by this test.
  auto g = DevGofer::Start(fixture_->root(), {"--donate_mount_fd"});
  ASSERT_TRUE(g.ok()) << g.status();
  auto lease =
      gvisor::testing::LeasedFile::Create(fixture_->root() + "/leased");
  ASSERT_TRUE(lease.ok()) << lease.status();
  auto info = registry_->Attach("stuck", (*g)->socket(), Soon());
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_TRUE(info->mount_fd_donated);
  const uint64_t gen = registry_->generation();
  absl::Status call;
  std::thread opener([&] {
    call =
        registry_->OpenAt("stuck", "leased", O_WRONLY, absl::InfiniteFuture())
            .status();
  });
  absl::Cleanup finish = [&] {
    (*lease)->Release();
    opener.join();
  };
  ASSERT_TRUE((*lease)->AwaitBreak());
  {
    gvisor::testing::Rescue rescue([&] { (*lease)->Release(); });
    EXPECT_TRUE(registry_->Detach("stuck").ok());
    EXPECT_FALSE(rescue.Disarm()) << "Detach waited for the stuck open";
  }
  EXPECT_EQ(registry_->generation(), gen + 1);
  EXPECT_EQ(registry_->GetDevGoferClient("stuck"), nullptr);
  // The name is free at once.
  ASSERT_TRUE(registry_->Attach("stuck", (*g)->socket(), Soon()).ok());
  ASSERT_TRUE(registry_->OpenAt("stuck", "file", O_RDONLY, Soon()).ok());
  std::move(finish).Invoke();
  EXPECT_EQ(call.code(), absl::StatusCode::kNotFound) << call;
  EXPECT_THAT(call.message(), ::testing::HasSubstr("detached during the call"));
}

TEST_F(RegistryTest, CallsInFlightPerContainerAreBounded) {
  RegistryOptions o;
  o.max_calls_per_container = 1;
  auto reg = ContainerRegistry::Create(context::Background(), o);
  ASSERT_TRUE(reg.ok()) << reg.status();
  auto g = DevGofer::Start(fixture_->root(), {"--donate_mount_fd"});
  ASSERT_TRUE(g.ok()) << g.status();
  auto lease =
      gvisor::testing::LeasedFile::Create(fixture_->root() + "/leased");
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE((*reg)->Attach("a", (*g)->socket(), Soon()).ok());
  ASSERT_TRUE((*reg)->Attach("b", (*g)->socket(), Soon()).ok());
  std::thread opener([&] {
    (void)(*reg)->OpenAt("a", "leased", O_WRONLY, absl::InfiniteFuture());
  });
  absl::Cleanup finish = [&] {
    (*lease)->Release();
    opener.join();
  };
  ASSERT_TRUE((*lease)->AwaitBreak());
  absl::Status more = (*reg)->OpenAt("a", "file", O_RDONLY, Soon()).status();
  EXPECT_EQ(more.code(), absl::StatusCode::kResourceExhausted) << more;
  EXPECT_THAT(more.message(), ::testing::HasSubstr("max_calls_per_container"));
  // Another container is not affected.
  EXPECT_TRUE((*reg)->OpenAt("b", "file", O_RDONLY, Soon()).ok());
  std::move(finish).Invoke();
  EXPECT_TRUE((*reg)->OpenAt("a", "file", O_RDONLY, Soon()).ok());
}

// Many callers at once on a few names: attach, reattach, detach, list,
// open. Run under --config=tsan this checks the locking; plainly, that
// every outcome is one of the documented ones.
TEST_F(RegistryTest, ConcurrentCallersAreSafe) {
  auto g = Gofer();
  auto fast = Gofer({"--donate_mount_fd"});
  ASSERT_NE(g, nullptr);
  ASSERT_NE(fast, nullptr);
  constexpr int kThreads = 8;
  constexpr int kRounds = 60;
  constexpr int kNames = 4;
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        std::string name = absl::StrCat("n", (t + r) % kNames);
        const std::string& sock = (r % 2) ? g->socket() : fast->socket();
        absl::Status s;
        switch ((t * 7 + r) % 6) {
          case 0:
            s = registry_->Attach(name, sock, Soon()).status();
            if (s.code() == absl::StatusCode::kAlreadyExists) s = {};
            break;
          case 1:
            s = registry_->Detach(name);
            if (s.code() == absl::StatusCode::kNotFound) s = {};
            break;
          case 2:
            registry_->List();
            registry_->GetDevGoferClient(name);
            break;
          case 3:
            s = registry_->OpenAt(name, "null", O_RDONLY, Soon()).status();
            if (s.code() == absl::StatusCode::kNotFound) s = {};
            break;
          case 4:
            s = registry_->DirentNames(name, Soon()).status();
            if (s.code() == absl::StatusCode::kNotFound) s = {};
            break;
          case 5:
            s = registry_->Replace(name, sock, Soon()).status();
            if (s.code() == absl::StatusCode::kNotFound) s = {};
            break;
        }
        if (!s.ok()) {
          ADD_FAILURE() << name << ": " << s;
          ++unexpected;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  for (const ContainerInfo& c : registry_->List()) {
    EXPECT_EQ(c.state, ContainerState::kAttached) << c.name;
  }
}

}  // namespace
}  // namespace gvisor::shim
