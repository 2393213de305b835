// devctl against peers other than a real shim, as a user who points
// --server at the wrong socket sees it: a devgofer's LISAFS socket, a
// socket that never answers, one that hangs up, one that speaks another
// protocol. And devctl's long listing (devices -l) and JSON against a
// minimal DevGoferShim that answers ListDevices with fixed entries.

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "runsc_shim/shim.grpc.pb.h"
#include "runsc_shim/testutil.h"

namespace gvisor::shim {
namespace {

namespace v1 = ::gvisor::devutil::shim::v1;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testutil::DevGofer;
using testutil::Result;

constexpr int kExitError = 1;

std::string Devctl() {
  absl::StatusOr<std::string> p = testutil::Runfile("runsc_shim/devctl");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.value_or("/nonexistent");
}

Result RunDevctl(std::vector<std::string> args) {
  args.insert(args.begin(), Devctl());
  auto r = testutil::Run(args);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.value_or(Result{});
}

// ExpectNotAShim checks devctl's one-line answer for a peer that is not a
// shim at path, with what it did.
void ExpectNotAShim(const Result& r, const std::string& path,
                    const std::string& what) {
  EXPECT_EQ(r.exit_code, kExitError);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, AllOf(HasSubstr(absl::StrCat("devctl: unix:", path,
                                                  " is not a runsc_shim gRPC "
                                                  "server: ")),
                           HasSubstr(what), HasSubstr("is --server"),
                           Not(HasSubstr("DEADLINE_EXCEEDED")),
                           Not(HasSubstr("UNAVAILABLE"))));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// Listener is a listening unix socket on a fresh path; nobody accepts on it
// unless a test does.
class Listener {
 public:
  Listener() : path_(testutil::TempSocketPath("peer")) {
    fd_ = fd::OwnedFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(fd_.valid());
    sockaddr_un sa = {};
    sa.sun_family = AF_UNIX;
    path_.copy(sa.sun_path, sizeof(sa.sun_path) - 1);
    EXPECT_EQ(bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    EXPECT_EQ(listen(fd_.get(), 8), 0);
  }
  ~Listener() { unlink(path_.c_str()); }

  const std::string& path() const { return path_; }
  // Accept returns the next connection.
  fd::OwnedFd Accept() {
    return fd::OwnedFd(accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }

 private:
  std::string path_;
  fd::OwnedFd fd_;
};

TEST(DevctlPeerTest, ADevgoferSocketIsNamedAsLisafsNotAShim) {
  const char* tmp = getenv("TEST_TMPDIR");
  auto gofer = DevGofer::Start(tmp != nullptr ? tmp : "/tmp");
  ASSERT_TRUE(gofer.ok()) << gofer.status();
  for (const char* cmd : {"ls", "health", "watch"}) {
    SCOPED_TRACE(cmd);
    ExpectNotAShim(
        RunDevctl({"--server=unix:" + (*gofer)->socket(), cmd}),
        (*gofer)->socket(),
        "it speaks LISAFS (a gofer such as devgofer; attach a container to "
        "it with devctl attach)");
  }
}

TEST(DevctlPeerTest, ASilentSocketIsNotAShim) {
  Listener silent;  // connects (the backlog), never accepts, never answers
  ExpectNotAShim(
      RunDevctl({"--server=unix:" + silent.path(), "--timeout=300ms", "ls"}),
      silent.path(),
      "it sent nothing in 300ms (an HTTP/2 server sends its "
      "SETTINGS at once)");
}

TEST(DevctlPeerTest, ASocketThatHangsUpIsNotAShim) {
  Listener closer;
  std::thread t([&] { closer.Accept(); });  // accepts, closes at once
  Result r = RunDevctl({"--server=unix:" + closer.path(), "ls"});
  t.join();
  ExpectNotAShim(r, closer.path(),
                 "it closed the connection without an HTTP/2 greeting");
}

TEST(DevctlPeerTest, AnotherProtocolIsNotAShim) {
  Listener http1;
  std::thread t([&] {
    fd::OwnedFd c = http1.Accept();
    constexpr char kAnswer[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    (void)!write(c.get(), kAnswer, sizeof(kAnswer) - 1);
  });
  Result r = RunDevctl({"--server=unix:" + http1.path(), "health"});
  t.join();
  ExpectNotAShim(r, http1.path(),
                 "it answered with bytes that are not an HTTP/2 SETTINGS "
                 "frame: \"HTTP/1.1 ");
}

}  // namespace
}  // namespace gvisor::shim
