// ContainerRegistry::Replace and attach by a connected socket: a container
// keeps its identity across a new gofer connection, calls in flight finish
// on the old one, and the hang-up watch follows the new one.

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/messages.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/registry.h"
#include "runsc_shim/testutil.h"
#include "testing/gofer_fixture.h"
#include "testing/hostile_gofer.h"

namespace gvisor::shim {
namespace {

using lisafs::MID;
using ::testing::Contains;
using ::testing::ElementsAre;
using testing::GoferAnswer;
using testing::GoferRequest;
using ::testing::HasSubstr;
using testing::HostileGofer;
using ::testing::Not;
using testutil::DevGofer;

class ReattachTest : public ::testing::Test {
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

  // AwaitState waits, woken by the registry's changes, until name is in
  // state (false after 20 s).
  bool AwaitState(const std::string& name, ContainerState state) {
    const absl::Time deadline = Soon();
    uint64_t seen = registry_->generation();
    for (;;) {
      absl::StatusOr<ContainerInfo> info = registry_->Get(name);
      if (info.ok() && info->state == state) return true;
      if (absl::Now() >= deadline) return false;
      seen = registry_->AwaitChange(seen, deadline);
    }
  }

  std::unique_ptr<gvisor::testing::GoferFixture> fixture_;
  std::unique_ptr<ContainerRegistry> registry_;
};

// HeldListing is a gofer whose first Getdents64 is held until Release, then
// answered with one name, "old-device": a listing it answers tells which
// gofer served it.
class HeldListing {
 public:
  GoferAnswer Answer(const GoferRequest& r) {
    switch (r.mid) {
      case MID::kMount:
        return testing::MountAnswer({});
      case MID::kOpenAt:
        return testing::OpenAtAnswer(2, fd::OwnedFd());
      case MID::kGetdents64: {
        std::unique_lock<std::mutex> l(mu_);
        if (answered_++ > 0) return testing::DirentsAnswer({});
        released_cv_.wait(l, [this] { return released_; });
        return testing::DirentsAnswer({"old-device"});
      }
      case MID::kClose:
        return GoferAnswer::Message(MID::kClose, lisafs::EmptyMessage{});
      default:
        return GoferAnswer::Error(EOPNOTSUPP);
    }
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
    released_cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable released_cv_;
  bool released_ = false;
  int answered_ = 0;
};

TEST_F(ReattachTest, CallInFlightFinishesOnTheOldGoferNewCallsUseTheNew) {
  HeldListing held;
  auto old = HostileGofer::Start(
      [&held](const GoferRequest& r) { return held.Answer(r); });
  ASSERT_TRUE(old.ok()) << old.status();
  absl::Cleanup release = [&held] { held.Release(); };
  auto fresh = Gofer();
  ASSERT_NE(fresh, nullptr);
  auto first = registry_->Attach("c", (*old)->socket(), Soon());
  ASSERT_TRUE(first.ok()) << first.status();

  absl::StatusOr<std::vector<std::string>> in_flight;
  std::thread caller([&] { in_flight = registry_->DirentNames("c", Soon()); });
  absl::Cleanup join = [&] {
    held.Release();
    caller.join();
  };
  // The call is in the old gofer, which holds it.
  ASSERT_TRUE((*old)->AwaitRequests(MID::kGetdents64, 1));

  const uint64_t gen = registry_->generation();
  auto info = registry_->Replace("c", fresh->socket(), Soon());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(registry_->generation(), gen + 1);
  EXPECT_EQ(info->name, "c");
  EXPECT_EQ(info->gofer_socket, fresh->socket());
  EXPECT_EQ(info->attach_time, first->attach_time);
  EXPECT_EQ(info->reattaches, 1u);
  EXPECT_NE(info->reattach_time, absl::InfinitePast());
  EXPECT_EQ(info->state, ContainerState::kAttached);

  // A new call goes to the new gofer...
  auto names = registry_->DirentNames("c", Soon());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, Contains("null"));
  EXPECT_THAT(*names, Not(Contains("old-device")));
  // ...while the old connection stays open for the call it serves.
  EXPECT_EQ((*old)->closed(), 0u);

  std::move(join).Invoke();
  ASSERT_TRUE(in_flight.ok()) << in_flight.status();
  EXPECT_THAT(*in_flight, ElementsAre("old-device"));
  // With its last call done, the old connection is closed.
  EXPECT_TRUE((*old)->AwaitClosed(1));
  EXPECT_EQ(registry_->Get("c")->state, ContainerState::kAttached);
}

TEST_F(ReattachTest, DisconnectedContainerIsConnectedAgainAndWatchesTheNew) {
  auto g1 = Gofer();
  auto g2 = Gofer();
  ASSERT_NE(g1, nullptr);
  ASSERT_NE(g2, nullptr);
  auto first = registry_->Attach("c", g1->socket(), Soon());
  ASSERT_TRUE(first.ok()) << first.status();
  g1->child().Signal(SIGKILL);
  ASSERT_TRUE(AwaitState("c", ContainerState::kDisconnected));
  EXPECT_EQ(registry_->OpenAt("c", "null", O_RDONLY, Soon()).status().code(),
            absl::StatusCode::kUnavailable);

  auto info = registry_->Replace("c", g2->socket(), Soon());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->state, ContainerState::kAttached);
  EXPECT_EQ(info->disconnect_reason, "");
  EXPECT_EQ(info->attach_time, first->attach_time);
  auto fd = registry_->OpenAt("c", "null", O_RDONLY, Soon());
  EXPECT_TRUE(fd.ok()) << fd.status();
  std::shared_ptr<devutil::GoferClient> client =
      registry_->GetDevGoferClient("c");
  ASSERT_NE(client, nullptr);
  EXPECT_FALSE(client->HungUp());

  // The hang-up watch is on the new connection.
  g2->child().Signal(SIGKILL);
  ASSERT_TRUE(AwaitState("c", ContainerState::kDisconnected));
  EXPECT_THAT(registry_->Get("c")->disconnect_reason, HasSubstr("closed"));
}

TEST_F(ReattachTest, FailedReplaceKeepsTheOldClient) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_TRUE(registry_->Attach("c", g->socket(), Soon()).ok());
  const uint64_t gen = registry_->generation();

  auto missing = registry_->Replace("c", "/tmp/no-such-gofer.sock", Soon());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable)
      << missing.status();
  EXPECT_THAT(missing.status().message(), HasSubstr("ENOENT"));

  auto refuses = HostileGofer::Start(
      [](const GoferRequest&) { return GoferAnswer::Error(EIO); });
  ASSERT_TRUE(refuses.ok()) << refuses.status();
  auto bad_mount = registry_->Replace("c", (*refuses)->socket(), Soon());
  EXPECT_EQ(bad_mount.status().code(), absl::StatusCode::kUnavailable)
      << bad_mount.status();
  EXPECT_TRUE((*refuses)->AwaitClosed(1));

  EXPECT_EQ(registry_->Replace("c", "relative.sock", Soon()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->Replace("c", g->socket(), absl::Now() - absl::Seconds(1))
                .status()
                .code(),
            absl::StatusCode::kDeadlineExceeded);

  // Nothing changed.
  EXPECT_EQ(registry_->generation(), gen);
  auto info = registry_->Get("c");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->gofer_socket, g->socket());
  EXPECT_EQ(info->reattaches, 0u);
  EXPECT_EQ(info->reattach_time, absl::InfinitePast());
  EXPECT_TRUE(registry_->OpenAt("c", "null", O_RDONLY, Soon()).ok());
}

TEST_F(ReattachTest, ReplaceOfANameNotAttachedIsNotFound) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  auto r = registry_->Replace("nope", g->socket(), Soon());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  // Checked before connecting: the gofer saw nothing.
  EXPECT_EQ(testutil::AcceptedConnections(g->socket()), 0);
  absl::StatusOr<unet::Socket> sock =
      unet::Socket::Connect(g->socket(), SOCK_STREAM);
  ASSERT_TRUE(sock.ok()) << sock.status();
  r = registry_->Replace("nope", *std::move(sock), Soon());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  EXPECT_EQ(registry_->size(), 0u);
}

// The --dev-io-fd model: the embedder holds a connected socket (here a
// socketpair end to the in-process fixture gofer), not a path.
TEST_F(ReattachTest, AttachAndReplaceByConnectedSocket) {
  absl::StatusOr<fd::OwnedFd> devices = fixture_->ConnectDevices();
  ASSERT_TRUE(devices.ok()) << devices.status();
  absl::StatusOr<unet::Socket> sock = unet::Socket::FromFd(*std::move(devices));
  ASSERT_TRUE(sock.ok()) << sock.status();
  auto info = registry_->Attach("emb", *std::move(sock), Soon());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->gofer_socket, "");
  auto names = registry_->DirentNames("emb", Soon());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, Contains("null"));
  EXPECT_THAT(*names, Not(Contains("file")));

  // Replaced by a connection to the fixture's tree: the listing says so.
  absl::StatusOr<fd::OwnedFd> tree = fixture_->Connect();
  ASSERT_TRUE(tree.ok()) << tree.status();
  sock = unet::Socket::FromFd(*std::move(tree));
  ASSERT_TRUE(sock.ok()) << sock.status();
  auto replaced = registry_->Replace("emb", *std::move(sock), Soon());
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_EQ(replaced->reattaches, 1u);
  EXPECT_EQ(replaced->attach_time, info->attach_time);
  names = registry_->DirentNames("emb", Soon());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, Contains("file"));
  EXPECT_THAT(*names, Not(Contains("null")));
  ASSERT_TRUE(registry_->Detach("emb").ok());
}

TEST_F(ReattachTest, SocketThatCannotBeAGoferIsInvalidArgument) {
  absl::StatusOr<std::pair<unet::Socket, unet::Socket>> pair =
      unet::Socket::SocketPair(SOCK_SEQPACKET);
  ASSERT_TRUE(pair.ok()) << pair.status();
  auto r = registry_->Attach("c", std::move(pair->first), Soon());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("SOCK_STREAM"));
  r = registry_->Attach("c", unet::Socket(), Soon());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_EQ(registry_->size(), 0u);
}

}  // namespace
}  // namespace gvisor::shim
