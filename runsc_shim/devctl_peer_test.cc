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
#include <atomic>
#include <memory>
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

// FakeShim serves DevGoferShim's ListDevices and ProbeDevice with fixed
// answers, in the order a directory might yield them (unsorted), and
// remembers whether ListDevices was asked for details.
class FakeShim final : public v1::DevGoferShim::Service {
 public:
  // describe: whether ListDevices fills devices when asked (a shim from
  // before ListDevicesRequest.details does not).
  explicit FakeShim(bool describe) : describe_(describe) {
    path_ = testutil::TempSocketPath("fakeshim");
    grpc::ServerBuilder b;
    b.AddListeningPort("unix:" + path_, grpc::InsecureServerCredentials());
    b.RegisterService(this);
    server_ = b.BuildAndStart();
    EXPECT_NE(server_, nullptr);
  }
  ~FakeShim() override {
    server_->Shutdown();
    unlink(path_.c_str());
  }

  const std::string& path() const { return path_; }
  bool asked_details() const { return asked_details_.load(); }

  grpc::Status ListDevices(grpc::ServerContext*,
                           const v1::ListDevicesRequest* req,
                           v1::ListDevicesResponse* resp) override {
    asked_details_.store(req->details());
    for (const Entry& e : kEntries) {
      resp->add_names(e.name);
      if (!req->details() || !describe_) continue;
      v1::DeviceInfo* d = resp->add_devices();
      d->set_path(e.name);
      d->set_type(e.type);
      d->set_mode(e.mode);
      d->set_rdev_major(e.major);
      d->set_rdev_minor(e.minor);
    }
    return grpc::Status::OK;
  }

  grpc::Status ProbeDevice(grpc::ServerContext*,
                           const v1::ProbeDeviceRequest* req,
                           v1::DeviceInfo* info) override {
    info->set_path(req->path());
    info->set_type(v1::CHAR_DEVICE);
    info->set_mode(0620);
    info->set_rdev_major(136);
    info->set_rdev_minor(0);
    return grpc::Status::OK;
  }

 private:
  struct Entry {
    const char* name;
    v1::FileType type;
    uint32_t mode;
    uint32_t major, minor;
  };
  static constexpr Entry kEntries[] = {
      {"zero", v1::CHAR_DEVICE, 0666, 1, 5},
      {"pts", v1::DIRECTORY, 0755, 0, 0},
      {"\"mode\":1", v1::REGULAR, 0600, 0, 0},  // a name that looks like JSON
      {"null", v1::CHAR_DEVICE, 0666, 1, 3},
      {"ptmx", v1::SYMLINK, 0777, 0, 0},
      {"nvme0n1", v1::BLOCK_DEVICE, 0660, 259, 0},
      {"initctl", v1::FIFO, 0600, 0, 0},
      {"log", v1::SOCKET, 0666, 0, 0},
  };
  const bool describe_;
  std::string path_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<bool> asked_details_{false};
};

TEST(DevctlListingTest, LongListingIsSortedLikeLsL) {
  FakeShim shim(/*describe=*/true);
  Result r =
      RunDevctl({"--server=unix:" + shim.path(), "devices", "demo", "-l"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(shim.asked_details());
  EXPECT_EQ(r.out,
            "8 entries in /dev of demo:\n"
            "TYPE  MODE  RDEV   NAME\n"
            "-     0600  -      \"mode\":1\n"
            "p     0600  -      initctl\n"
            "s     0666  -      log\n"
            "c     0666  1:3    null\n"
            "b     0660  259:0  nvme0n1\n"
            "l     0777  -      ptmx\n"
            "d     0755  -      pts\n"
            "c     0666  1:5    zero\n");
  EXPECT_EQ(r.err, "");
  // --long is the same; without it, names only and no details asked.
  EXPECT_EQ(
      RunDevctl({"--server=unix:" + shim.path(), "devices", "demo", "--long"})
          .out,
      r.out);
  r = RunDevctl({"--server=unix:" + shim.path(), "devices", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(shim.asked_details());
  EXPECT_THAT(r.out, AllOf(HasSubstr("8 entries in /dev of demo:\n"),
                           HasSubstr("null"), Not(HasSubstr("0666"))));
}

TEST(DevctlListingTest, JsonIsSortedWithOctalModes) {
  FakeShim shim(/*describe=*/true);
  Result r = RunDevctl(
      {"--server=unix:" + shim.path(), "--json", "devices", "demo", "-l"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(
      r.out,
      AllOf(HasSubstr("{\"names\":[\"\\\"mode\\\":1\",\"initctl\",\"log\","
                      "\"null\",\"nvme0n1\",\"ptmx\",\"pts\",\"zero\"],"),
            HasSubstr("{\"path\":\"\\\"mode\\\":1\",\"type\":\"REGULAR\","
                      "\"mode\":\"0600\","),
            HasSubstr("{\"path\":\"null\",\"type\":\"CHAR_DEVICE\","
                      "\"mode\":\"0666\",\"rdev_major\":1,\"rdev_minor\":3,"),
            HasSubstr("\"type\":\"BLOCK_DEVICE\",\"mode\":\"0660\""),
            Not(HasSubstr("\"mode\":438"))));  // 0666 in decimal
  EXPECT_LT(r.out.find("\"path\":\"initctl\""),
            r.out.find("\"path\":\"zero\""));
  r = RunDevctl({"--server=unix:" + shim.path(), "--json", "devices", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("{\"names\":[\"\\\"mode\\\":1\",\"initctl\","));
  r = RunDevctl(
      {"--server=unix:" + shim.path(), "--json", "probe", "demo", "pts/0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"mode\":\"0620\""),
                           HasSubstr("\"rdev_major\":136")));
}

TEST(DevctlListingTest, AShimThatDoesNotDescribeEntriesIsNamed) {
  FakeShim shim(/*describe=*/false);
  Result r =
      RunDevctl({"--server=unix:" + shim.path(), "devices", "demo", "-l"});
  EXPECT_EQ(r.exit_code, kExitError);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, absl::StrCat("devctl: devices demo -l: the shim at unix:",
                                shim.path(),
                                " described 0 of 8 entries (a shim without "
                                "ListDevicesRequest.details?)\n"));
}

}  // namespace
}  // namespace gvisor::shim
