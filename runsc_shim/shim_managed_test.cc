// The real shim binary with managed containers, driven through devctl and
// the gRPC API: attach --managed with null and zero allowed lists exactly
// those; the gofer's death is reported on the watch stream and, with
// restart, the container comes back; detach and the shim's SIGTERM leave
// no process behind (this test is the subreaper of whatever the shim
// leaves); a shim without a gofer binary refuses managed attaches.

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "runsc_shim/shim.grpc.pb.h"
#include "runsc_shim/testutil.h"

namespace gvisor::shim {
namespace {

namespace v1 = ::gvisor::devutil::shim::v1;
using ::testing::HasSubstr;
using testutil::Child;

std::string Bin(const std::string& path) {
  absl::StatusOr<std::string> p = testutil::Runfile(path);
  return p.ok() ? *p : "";
}

// NoChildren reports whether this process has no child left, running or
// unreaped.
bool NoChildren() {
  siginfo_t info = {};
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == -1 &&
         errno == ECHILD;
}

// FreshSocketPath returns a path in a new directory of its own under /tmp
// (short enough for sun_path): sandboxed runs of this test share /tmp and
// may share PIDs, so a name made of the PID alone could collide.
// The directories made, removed by the fixture's TearDown.
std::vector<std::string>& FreshDirs() {
  static std::vector<std::string>* const dirs = new std::vector<std::string>;
  return *dirs;
}

std::string FreshSocketPath(const std::string& name) {
  std::string dir = "/tmp/shim-managed.XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) return "";
  FreshDirs().push_back(dir);
  return dir + "/" + name;
}

class ShimManagedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Orphans the shim leaves come to us, so that NoChildren sees them.
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  }

  void TearDown() override {
    shim_.reset();  // kills a shim still running
    for (const std::string& d : FreshDirs()) std::filesystem::remove_all(d);
    FreshDirs().clear();
  }

  // StartShim runs the shim with extra flags, after the words of
  // `wrapper` (a program that runs the shim: setpriv ...) if any.
  void StartShim(std::vector<std::string> extra = {},
                 std::vector<std::string> wrapper = {}) {
    sock_ = FreshSocketPath("shim.sock");
    std::vector<std::string> argv = wrapper;
    for (const std::string& a :
         {Bin("runsc_shim/shim"), "--listen=unix:" + sock_,
          std::string("--gofer_restart_backoff=10ms")}) {
      argv.push_back(a);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    absl::StatusOr<std::unique_ptr<Child>> shim = Child::StartServer(argv);
    ASSERT_TRUE(shim.ok()) << shim.status();
    shim_ = *std::move(shim);
    client_.Connect("unix:" + sock_);
  }

  absl::StatusOr<testutil::Result> Devctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {Bin("runsc_shim/devctl"),
                                     "--server=unix:" + sock_};
    argv.insert(argv.end(), args.begin(), args.end());
    return testutil::Run(argv);
  }

  grpc::Status AttachManaged(const std::string& name,
                             std::vector<std::string> allow, bool restart,
                             v1::Container* out) {
    grpc::ClientContext ctx;
    testutil::ShimClient::Deadline(&ctx);
    v1::AttachContainerRequest req;
    req.set_name(name);
    for (const std::string& a : allow) req.mutable_managed()->add_allow(a);
    req.mutable_managed()->set_restart(restart);
    v1::Container c;
    grpc::Status st = client_.stub()->AttachContainer(&ctx, req, &c);
    if (out != nullptr) *out = c;
    return st;
  }

  int StopShim() {
    shim_->Signal(SIGTERM);
    absl::StatusOr<int> st = shim_->Wait(absl::Seconds(30));
    return st.ok() && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
  }

  std::string sock_;
  std::unique_ptr<Child> shim_;
  testutil::ShimClient client_;
};

TEST_F(ShimManagedTest, DevctlAttachManagedListsExactlyTheAllowedDevices) {
  StartShim();
  absl::StatusOr<testutil::Result> r =
      Devctl({"attach", "c1", "--managed", "--allow=null", "--allow=zero"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->exit_code, 0) << r->err;
  EXPECT_THAT(r->out, HasSubstr("managed gofer, pid"));
  r = Devctl({"devices", "c1"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_THAT(r->out, HasSubstr("entries in /dev of c1:\n  null  zero\n"));
  r = Devctl({"ls"});
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->out, HasSubstr("managed pid"));
  EXPECT_THAT(r->out, HasSubstr("gofer running"));
  v1::Container c;
  ASSERT_TRUE(client_.Get("c1", &c).ok());
  ASSERT_TRUE(c.has_gofer());
  EXPECT_EQ(c.gofer().state(), v1::ManagedGofer::RUNNING);
  EXPECT_GT(c.gofer().pid(), 0);
  EXPECT_EQ(c.gofer().spec().root(), "/dev");
  EXPECT_EQ(c.gofer().spec().allow_size(), 2);

  r = Devctl({"detach", "c1"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(kill(c.gofer().pid(), 0), -1);  // stopped and reaped
  EXPECT_EQ(StopShim(), 0);
  EXPECT_TRUE(NoChildren());
}

TEST_F(ShimManagedTest, DevctlUsageErrors) {
  StartShim();
  for (std::vector<std::string> args :
       {std::vector<std::string>{"attach", "c1", "/tmp/x.sock", "--managed"},
        {"attach", "c1", "--allow=null"},
        {"attach", "c1"}}) {
    absl::StatusOr<testutil::Result> r = Devctl(args);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 2) << args[2] << ": " << r->err;
  }
}

TEST_F(ShimManagedTest, DeathIsWatchedAndRestartBringsTheContainerBack) {
  StartShim();
  grpc::ClientContext wctx;
  std::unique_ptr<grpc::ClientReader<v1::ContainerEvent>> watch =
      client_.stub()->WatchContainers(&wctx, v1::WatchContainersRequest());
  v1::ContainerEvent ev;
  ASSERT_TRUE(watch->Read(&ev));
  ASSERT_EQ(ev.kind(), v1::ContainerEvent::SYNCED);

  v1::Container c;
  ASSERT_TRUE(AttachManaged("c1", {"null", "zero"}, true, &c).ok());
  ASSERT_TRUE(watch->Read(&ev));
  EXPECT_EQ(ev.kind(), v1::ContainerEvent::ATTACHED);
  const int first = c.gofer().pid();
  ASSERT_EQ(kill(first, SIGKILL), 0);
  // DISCONNECTED (and GOFER_CHANGED, which may be folded into it), then
  // REATTACHED on a new gofer, ATTACHED again.
  bool disconnected = false;
  for (;;) {
    ASSERT_TRUE(watch->Read(&ev));
    if (ev.kind() == v1::ContainerEvent::DISCONNECTED) disconnected = true;
    if (ev.kind() == v1::ContainerEvent::REATTACHED) break;
  }
  EXPECT_TRUE(disconnected);
  EXPECT_EQ(ev.container().state(), v1::Container::ATTACHED);
  EXPECT_NE(ev.container().gofer().pid(), first);
  EXPECT_EQ(ev.container().gofer().restarts(), 1u);
  EXPECT_EQ(ev.container().gofer().last_exit(), "killed by SIGKILL");
  EXPECT_EQ(ev.container().gofer().last_exit_signal(), SIGKILL);
  std::vector<std::string> names;
  ASSERT_TRUE(client_.Devices("c1", &names).ok());
  EXPECT_EQ(names.size(), 2u);
  wctx.TryCancel();
  (void)watch->Finish();
  EXPECT_EQ(StopShim(), 0);
  EXPECT_TRUE(NoChildren());
}

TEST_F(ShimManagedTest, DeathWithoutRestartIsReportedOnTheWatch) {
  StartShim();
  v1::Container c;
  ASSERT_TRUE(AttachManaged("c1", {"null"}, false, &c).ok());
  grpc::ClientContext wctx;
  auto watch =
      client_.stub()->WatchContainers(&wctx, v1::WatchContainersRequest());
  v1::ContainerEvent ev;
  ASSERT_TRUE(watch->Read(&ev));  // EXISTING
  ASSERT_TRUE(watch->Read(&ev));  // SYNCED
  ASSERT_EQ(kill(c.gofer().pid(), SIGKILL), 0);
  for (;;) {
    ASSERT_TRUE(watch->Read(&ev));
    if (ev.container().gofer().state() == v1::ManagedGofer::EXITED) break;
  }
  EXPECT_EQ(ev.container().gofer().last_exit(), "killed by SIGKILL");
  wctx.TryCancel();
  (void)watch->Finish();
  absl::StatusOr<testutil::Result> r = Devctl({"get", "c1"});
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->out, HasSubstr("gofer exited (killed by SIGKILL)"));
  EXPECT_EQ(StopShim(), 0);
  EXPECT_TRUE(NoChildren());
}

TEST_F(ShimManagedTest, MetricsCountManagedGofersAndRestarts) {
  const std::string metrics = FreshSocketPath("metrics.sock");
  StartShim({"--metrics_listen=unix:" + metrics});
  httplib::Client http(metrics, 80);
  http.set_address_family(AF_UNIX);
  auto scrape = [&] {
    httplib::Result r = http.Get("/metrics");
    return r && r->status == 200 ? r->body : std::string();
  };
  v1::Container a, b;
  ASSERT_TRUE(AttachManaged("a", {"null"}, true, &a).ok());
  ASSERT_TRUE(AttachManaged("b", {"null"}, true, &b).ok());
  std::string text = scrape();
  EXPECT_THAT(text,
              HasSubstr("runsc_shim_managed_gofers{state=\"running\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("runsc_shim_managed_gofer_restarts_total 0\n"));

  // Kill a's gofer and wait, on the watch stream, for its restart.
  grpc::ClientContext wctx;
  auto watch =
      client_.stub()->WatchContainers(&wctx, v1::WatchContainersRequest());
  v1::ContainerEvent ev;
  do {
    ASSERT_TRUE(watch->Read(&ev));
  } while (ev.kind() != v1::ContainerEvent::SYNCED);
  ASSERT_EQ(kill(a.gofer().pid(), SIGKILL), 0);
  do {
    ASSERT_TRUE(watch->Read(&ev));
  } while (ev.kind() != v1::ContainerEvent::REATTACHED);
  wctx.TryCancel();
  (void)watch->Finish();
  // The restart's accounts are done once its container is detached.
  ASSERT_TRUE(client_.Detach("a").ok());
  text = scrape();
  EXPECT_THAT(text,
              HasSubstr("runsc_shim_managed_gofers{state=\"running\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("runsc_shim_managed_gofer_restarts_total 1\n"));
  EXPECT_EQ(StopShim(), 0);
  EXPECT_TRUE(NoChildren());
}

TEST_F(ShimManagedTest, GoferLogBytesPerSecondBoundsAGofersLog) {
  StartShim({"--gofer_log_bytes_per_second=16"});
  ASSERT_TRUE(AttachManaged("c1", {"null"}, false, nullptr).ok());
  ASSERT_TRUE(client_.Detach("c1").ok());  // its output ends
  EXPECT_EQ(StopShim(), 0);
  EXPECT_THAT(shim_->Stderr(),
              HasSubstr("of its output not logged (more than 16 bytes a "
                        "second)"));
}

TEST_F(ShimManagedTest, SigtermStopsEveryManagedGofer) {
  StartShim();
  std::vector<int> pids;
  for (int i = 0; i < 5; ++i) {
    v1::Container c;
    ASSERT_TRUE(AttachManaged(absl::StrCat("c", i), {"null"}, true, &c).ok());
    pids.push_back(c.gofer().pid());
  }
  EXPECT_EQ(StopShim(), 0);
  for (int pid : pids) EXPECT_EQ(kill(pid, 0), -1) << pid;
  EXPECT_TRUE(NoChildren());
}

TEST_F(ShimManagedTest, WithoutCapSysAdminAScopedAttachSaysWhatIsMissing) {
  // The shim, and so its gofers, without CAP_SYS_ADMIN in their bounding
  // set: a root process gets no more at exec. A scoped gofer cannot make
  // its mount namespace.
  if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no setpriv";
  StartShim({}, {"/usr/bin/setpriv", "--bounding-set=-sys_admin",
                 "--inh-caps=-sys_admin"});
  v1::Container c;
  grpc::Status st = AttachManaged("c1", {"null"}, true, &c);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("before serving"));
  EXPECT_THAT(st.error_message(), HasSubstr("CAP_SYS_ADMIN"));
  EXPECT_THAT(st.error_message(), HasSubstr("mount namespace"));
  // Nothing is kept, and no gofer is left.
  v1::ListContainersResponse all;
  ASSERT_TRUE(client_.List(&all).ok());
  EXPECT_EQ(all.containers_size(), 0);
  EXPECT_EQ(StopShim(), 0);
  EXPECT_TRUE(NoChildren());
}

TEST_F(ShimManagedTest, AGoferBinaryThatDoesNotExistIsAUsageError) {
  absl::StatusOr<testutil::Result> r =
      testutil::Run({Bin("runsc_shim/shim"),
                     "--listen=unix:" + FreshSocketPath("nogofer.sock"),
                     "--gofer_binary=/nonexistent/devgofer"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("--gofer_binary"));
}

TEST_F(ShimManagedTest, ManagedAndSocketTogetherIsInvalid) {
  StartShim();
  grpc::ClientContext ctx;
  testutil::ShimClient::Deadline(&ctx);
  v1::AttachContainerRequest req;
  req.set_name("c1");
  req.set_gofer_socket("/tmp/x.sock");
  req.mutable_managed();
  v1::Container c;
  grpc::Status st = client_.stub()->AttachContainer(&ctx, req, &c);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << st.error_message();
  EXPECT_EQ(StopShim(), 0);
}

}  // namespace
}  // namespace gvisor::shim
