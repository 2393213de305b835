// End-to-end tests of the shim's gRPC API, attach and detach: a container's
// life from Attach to Detach, the checks on names and gofer sockets, gofers
// that refuse, hang up, stall or die, and a thousand containers at once.
// The fixture is in service_test_fixture.h.

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pkg/fd/limit.h"
#include "pkg/unet/unet.h"
#include "runsc_shim/service_test_fixture.h"
#include "runsc_shim/shim.grpc.pb.h"
#include "runsc_shim/testutil.h"
#include "runsc_shim/validate.h"

namespace gvisor::shim {
namespace {

namespace v1 = ::gvisor::devutil::shim::v1;
using ::testing::HasSubstr;
using testutil::WaitFor;

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

TEST_F(ShimTest, ReattachChecksItsRequestAndKeepsTheOldGoferOnFailure) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  EXPECT_CODE(Reattach("nope", g->socket()), NOT_FOUND);
  EXPECT_CODE(Reattach("Bad!", g->socket()), INVALID_ARGUMENT);
  EXPECT_CODE(Reattach("demo", "relative.sock"), INVALID_ARGUMENT);
  EXPECT_CODE(Reattach("demo", ""), INVALID_ARGUMENT);
  grpc::Status st = Reattach("demo", "/tmp/no-such-gofer.sock");
  EXPECT_CODE(st, UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr("ENOENT"));
  v1::Container c;
  ASSERT_GRPC_OK(Get("demo", &c));
  EXPECT_EQ(c.gofer_socket(), g->socket());
  EXPECT_EQ(c.reattach_count(), 0u);
  EXPECT_EQ(c.state(), v1::Container::ATTACHED);
  ASSERT_GRPC_OK(Probe("demo", "null"));
  // The same gofer again is a reattach too: a new connection.
  ASSERT_GRPC_OK(Reattach("demo", g->socket(), &c));
  EXPECT_EQ(c.reattach_count(), 1u);
  ASSERT_GRPC_OK(ProbeOpen("demo", "null"));
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
  // It drops every connection unanswered.
  absl::StatusOr<std::unique_ptr<testutil::FakePeer>> p =
      testutil::FakePeer::Start("", /*hang_up=*/true);
  ASSERT_TRUE(p.ok()) << p.status();
  grpc::Status st = Attach("demo", (*p)->socket());
  EXPECT_CODE(st, UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr("mount"));
  // Before or after the shim's Mount went out, as the race goes.
  EXPECT_THAT(st.error_message(), HasSubstr("it closed the connection "));
  EXPECT_THAT(st.error_message(),
              HasSubstr(": it is not a LISAFS gofer, or one refusing "
                        "connections (see its log)"));
  EXPECT_EQ(registry_->size(), 0u);
}

// The shim's own socket is an HTTP/2 server's, which speaks first: an
// attach (or reattach) to it says what it is, keeping the code.
TEST_F(ShimTest, AttachOfTheShimsOwnSocketSaysItIsNotALisafsGofer) {
  grpc::Status st = Attach("demo", address_.target);
  EXPECT_CODE(st, UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr("EPROTO"));
  EXPECT_THAT(st.error_message(),
              HasSubstr("it is not a LISAFS gofer: it speaks HTTP/2 (a gRPC "
                        "server, such as a runsc_shim"));
  EXPECT_EQ(registry_->size(), 0u);

  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  st = Reattach("demo", address_.target);
  EXPECT_CODE(st, UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr("it speaks HTTP/2"));
  EXPECT_EQ(StateOf("demo"), v1::Container::ATTACHED);
  ASSERT_GRPC_OK(Probe("demo", "null"));
}

TEST_F(ShimTest, PeerThatWritesGarbageFirstIsNotALisafsGofer) {
  absl::StatusOr<std::unique_ptr<testutil::FakePeer>> p =
      testutil::FakePeer::Start("HELLO WORLD\n", /*hang_up=*/false);
  ASSERT_TRUE(p.ok()) << p.status();
  grpc::Status st = Attach("demo", (*p)->socket());
  EXPECT_CODE(st, UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr("EPROTO"));
  // Seen before the shim's Mount went out ("it sent ...") or in answer to
  // it ("its first bytes, ..."), as the race goes.
  EXPECT_THAT(st.error_message(), HasSubstr("it is not a LISAFS gofer: it"));
  EXPECT_THAT(st.error_message(), HasSubstr("\"HELLO WOR"));
  EXPECT_EQ(registry_->size(), 0u);
}

TEST_F(ShimTest, SilentPeerIsCutOffAtTheDeadlineSayingItMayBeNoGofer) {
  absl::StatusOr<std::unique_ptr<testutil::FakePeer>> p =
      testutil::FakePeer::Start("", /*hang_up=*/false);
  ASSERT_TRUE(p.ok()) << p.status();
  // Through the registry: over gRPC the caller's own deadline may end the
  // call first (Service::kAttachAnswerMargin makes that unlikely, not
  // impossible).
  absl::StatusOr<ContainerInfo> info = registry_->Attach(
      "demo", (*p)->socket(), absl::Now() + absl::Milliseconds(300));
  EXPECT_EQ(info.status().code(), absl::StatusCode::kDeadlineExceeded)
      << info.status();
  EXPECT_THAT(info.status().message(),
              HasSubstr("did not answer Mount before the deadline: it is not "
                        "a LISAFS gofer, or it is stuck or stopped"));
  EXPECT_EQ(registry_->size(), 0u);
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
  // while the gofer is still stopped: the call has left the server (one
  // that starts only now finds its deadline passed and does nothing).
  EXPECT_TRUE(WaitFor([&] {
    return server_->calls_in_flight() == 0 && testutil::OpenFdCount() <= fds;
  }));
  g->child().Continue();
  EXPECT_EQ(registry_->size(), 0u);
  // Nothing of the failed attempt is left: the name can be attached.
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
}

TEST_F(ShimTest, GoferThatStopsAnsweringIsCutOff) {
  auto g = Devices();  // no mount FD: ListDevices is an RPC
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  ASSERT_TRUE(g->child().Stop());
  // A deadline long enough for the call to reach the gofer however slowly
  // this machine runs the shim (a call that starts past its deadline makes
  // no RPC, and so nothing stalls).
  EXPECT_CODE(Devices("demo", nullptr, absl::Seconds(2)), DEADLINE_EXCEEDED);
  // The shim cuts the connection off at the call's deadline (at least
  // kMinStallTimeout after the call).
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

}  // namespace
}  // namespace gvisor::shim
