// End-to-end tests of the shim's gRPC API, the device calls: ListDevices and
// ProbeDevice on both ways a gofer serves, their checks on paths and access
// modes, and the gofer's refusals as the caller sees them. The fixture is in
// service_test_fixture.h.

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "runsc_shim/service_test_fixture.h"
#include "runsc_shim/shim.grpc.pb.h"
#include "runsc_shim/testutil.h"
#include "runsc_shim/validate.h"

namespace gvisor::shim {
namespace {

namespace v1 = ::gvisor::devutil::shim::v1;
using ::testing::Contains;
using ::testing::HasSubstr;
using testutil::DevGofer;

INSTANTIATE_TEST_SUITE_P(MountFd, ShimModeTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Donated" : "NotDonated";
                         });

TEST_P(ShimModeTest, ListDevicesNamesTheServedDirectory) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  std::vector<std::string> names;
  ASSERT_GRPC_OK(Devices("demo", &names));
  EXPECT_THAT(names, Contains("null"));
  EXPECT_THAT(names, Contains("zero"));
  EXPECT_THAT(names, ::testing::Not(Contains(".")));
  EXPECT_THAT(names, ::testing::Not(Contains("..")));
}

int OpenEvents(int fd);

// FindDevice returns the entry of resp named name, or null.
const v1::DeviceInfo* FindDevice(const v1::ListDevicesResponse& resp,
                                 const std::string& name) {
  for (const v1::DeviceInfo& d : resp.devices()) {
    if (d.path() == name) return &d;
  }
  return nullptr;
}

TEST_P(ShimModeTest, LongListingDescribesEachDeviceSortedByName) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  v1::ListDevicesResponse resp;
  ASSERT_GRPC_OK(DevicesLong("demo", &resp));
  ASSERT_EQ(resp.devices_size(), resp.names_size());
  std::vector<std::string> paths;
  for (const v1::DeviceInfo& d : resp.devices()) paths.push_back(d.path());
  EXPECT_TRUE(std::is_sorted(paths.begin(), paths.end()));
  EXPECT_EQ(std::vector<std::string>(resp.names().begin(), resp.names().end()),
            paths);
  struct Case {
    const char* name;
    uint32_t major, minor;
  };
  for (Case k : {Case{"null", 1, 3}, Case{"zero", 1, 5}}) {
    SCOPED_TRACE(k.name);
    const v1::DeviceInfo* d = FindDevice(resp, k.name);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->type(), v1::CHAR_DEVICE);
    EXPECT_EQ(d->mode(), 0666u);
    EXPECT_EQ(d->rdev_major(), k.major);
    EXPECT_EQ(d->rdev_minor(), k.minor);
    EXPECT_FALSE(d->opened());
    EXPECT_EQ(d->access_mode(), v1::ACCESS_MODE_UNSPECIFIED);
  }
  // Without details, names only, as before.
  v1::ListDevicesResponse names;
  grpc::ClientContext ctx;
  Deadline(&ctx);
  v1::ListDevicesRequest req;
  req.set_name("demo");
  ASSERT_GRPC_OK(stub()->ListDevices(&ctx, req, &names));
  EXPECT_EQ(names.devices_size(), 0);
  EXPECT_EQ(names.names_size(), resp.names_size());
}

// Directories, symlinks (described, never followed), FIFOs, files and
// sockets, as the gofer's stat sees them, on both paths; nothing is opened.
TEST_P(ShimModeTest, LongListingDescribesEveryFileTypeWithoutFollowing) {
  auto g = GetParam() ? Tree({"--donate_mount_fd", "--host_fifo=open"})
                      : Tree({"--host_fifo=open"});
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  const std::string fifo = fixture_->root() + "/fifo";
  fd::OwnedFd in(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  ASSERT_TRUE(in.valid()) << strerror(errno);
  ASSERT_GE(inotify_add_watch(in.get(), fifo.c_str(), IN_OPEN), 0);
  v1::ListDevicesResponse resp;
  ASSERT_GRPC_OK(DevicesLong("tree", &resp));
  EXPECT_EQ(OpenEvents(in.get()), 0) << "the long listing opened the FIFO";
  struct Case {
    const char* name;
    v1::FileType type;
    uint32_t mode;  // 0: not checked
  };
  for (Case k : {Case{"dir", v1::DIRECTORY, 0755}, Case{"fifo", v1::FIFO, 0644},
                 Case{"file", v1::REGULAR, 0644}, Case{"symlink", v1::SYMLINK},
                 Case{"escape", v1::SYMLINK}, Case{"escape_dir", v1::SYMLINK},
                 Case{"socket", v1::SOCKET}}) {
    SCOPED_TRACE(k.name);
    const v1::DeviceInfo* d = FindDevice(resp, k.name);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->type(), k.type);
    if (k.mode != 0) {
      EXPECT_EQ(d->mode(), k.mode);
    }
    EXPECT_EQ(d->rdev_major(), 0u);
    EXPECT_EQ(d->rdev_minor(), 0u);
  }
  EXPECT_EQ(StateOf("tree"), v1::Container::ATTACHED);
}

TEST_F(ShimTest, LongListingOfAnUnknownContainerIsNotFound) {
  EXPECT_CODE(DevicesLong("nobody"), NOT_FOUND);
  EXPECT_CODE(DevicesLong("bad/name"), INVALID_ARGUMENT);
}

TEST_P(ShimModeTest, ProbeDescribesTheOpenedDevice) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  struct Case {
    const char* path;
    uint32_t major, minor;
  };
  for (Case k : {Case{"null", 1, 3}, Case{"zero", 1, 5}}) {
    for (v1::AccessMode mode : {v1::READ, v1::WRITE, v1::READ_WRITE}) {
      SCOPED_TRACE(absl::StrCat(k.path, " mode ", mode));
      v1::DeviceInfo info;
      ASSERT_GRPC_OK(ProbeOpen("demo", k.path, mode, &info));
      EXPECT_EQ(info.path(), k.path);
      EXPECT_EQ(info.type(), v1::CHAR_DEVICE);
      EXPECT_EQ(info.rdev_major(), k.major);
      EXPECT_EQ(info.rdev_minor(), k.minor);
      EXPECT_EQ(info.access_mode(), mode);
      EXPECT_TRUE(info.opened());
      // The fixture's nodes and the host's are both 0666.
      EXPECT_EQ(info.mode(), 0666u);
    }
  }
}

TEST_P(ShimModeTest, DefaultProbeStatsTheDevice) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  struct Case {
    const char* path;
    uint32_t major, minor;
  };
  for (Case k : {Case{"null", 1, 3}, Case{"zero", 1, 5}}) {
    SCOPED_TRACE(k.path);
    v1::DeviceInfo info;
    ASSERT_GRPC_OK(Probe("demo", k.path, v1::READ_WRITE, &info));
    EXPECT_EQ(info.path(), k.path);
    EXPECT_EQ(info.type(), v1::CHAR_DEVICE);
    EXPECT_EQ(info.rdev_major(), k.major);
    EXPECT_EQ(info.rdev_minor(), k.minor);
    EXPECT_EQ(info.mode(), 0666u);
    // Nothing was opened, in any mode.
    EXPECT_FALSE(info.opened());
    EXPECT_EQ(info.access_mode(), v1::ACCESS_MODE_UNSPECIFIED);
  }
}

// OpenEvents returns how many IN_OPEN events inotify fd has queued (it is
// non-blocking: the events of an open are queued before the open returns).
int OpenEvents(int fd) {
  int n = 0;
  alignas(struct inotify_event) char buf[4096];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r <= 0) return n;
    for (ssize_t off = 0; off < r;) {
      auto* ev = reinterpret_cast<struct inotify_event*>(buf + off);
      if (ev->mask & IN_OPEN) ++n;
      off += static_cast<ssize_t>(sizeof(*ev) + ev->len);
    }
  }
}

// The default probe opens nothing: a FIFO served through the gofer sees no
// open (inotify IN_OPEN on the node, which an O_PATH open does not raise),
// on both paths; with open it does.
TEST_F(ShimTest, DefaultProbeDoesNotOpenTheDevice) {
  const std::string fifo = fixture_->root() + "/fifo";
  for (bool donate : {false, true}) {
    SCOPED_TRACE(donate ? "fast path" : "RPC path");
    auto g = donate ? Tree({"--donate_mount_fd", "--host_fifo=open"})
                    : Tree({"--host_fifo=open"});
    ASSERT_NE(g, nullptr);
    ASSERT_GRPC_OK(Attach("tree", g->socket()));
    fd::OwnedFd in(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    ASSERT_TRUE(in.valid()) << strerror(errno);
    ASSERT_GE(inotify_add_watch(in.get(), fifo.c_str(), IN_OPEN), 0)
        << strerror(errno);
    // The watch works: an open of the node is seen.
    {
      fd::OwnedFd probe(open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
      ASSERT_TRUE(probe.valid()) << strerror(errno);
    }
    ASSERT_EQ(OpenEvents(in.get()), 1);

    v1::DeviceInfo info;
    ASSERT_GRPC_OK(Probe("tree", "fifo", v1::READ, &info));
    EXPECT_EQ(info.type(), v1::FIFO);
    EXPECT_FALSE(info.opened());
    EXPECT_EQ(OpenEvents(in.get()), 0) << "the default probe opened the FIFO";
    // No reader holds it either: a writer cannot open it.
    EXPECT_LT(open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC), 0);
    EXPECT_EQ(errno, ENXIO);

    ASSERT_GRPC_OK(ProbeOpen("tree", "fifo", v1::READ, &info));
    EXPECT_EQ(info.type(), v1::FIFO);
    EXPECT_TRUE(info.opened());
    EXPECT_GE(OpenEvents(in.get()), 1) << "probe with open did not open it";
    ASSERT_GRPC_OK(Detach("tree"));
  }
}

TEST_P(ShimModeTest, ProbeLeavesNoFdOpen) {
  auto g = Gofer();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  ASSERT_GRPC_OK(Probe("demo", "null"));
  int before = testutil::OpenFdCount();
  for (int i = 0; i < 50; ++i) ASSERT_GRPC_OK(Probe("demo", "null"));
  EXPECT_LE(testutil::OpenFdCount(), before);
}

TEST_F(ShimTest, UnspecifiedAccessModeMeansRead) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  v1::DeviceInfo info;
  ASSERT_GRPC_OK(ProbeOpen("demo", "null", v1::ACCESS_MODE_UNSPECIFIED, &info));
  EXPECT_EQ(info.access_mode(), v1::READ);
}

TEST_F(ShimTest, ProbeOfARegularFileAndADirectory) {
  auto g = Tree();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  v1::DeviceInfo info;
  ASSERT_GRPC_OK(Probe("tree", "dir/file2", v1::READ, &info));
  EXPECT_EQ(info.type(), v1::REGULAR);
  EXPECT_EQ(info.rdev_major(), 0u);
  // A stat describes a directory on either path.
  ASSERT_GRPC_OK(Probe("tree", "dir", v1::READ, &info));
  EXPECT_EQ(info.type(), v1::DIRECTORY);
  ASSERT_GRPC_OK(ProbeOpen("tree", "dir/file2", v1::READ, &info));
  EXPECT_EQ(info.type(), v1::REGULAR);
}

TEST_F(ShimTest, DirectoryThroughRpcIsAnErrorThatKeepsTheContainer) {
  // devutil refuses to open a directory (EISDIR, on both paths); that is
  // the call's failure, not the gofer's.
  auto g = Tree();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  grpc::Status st = ProbeOpen("tree", "dir");
  EXPECT_CODE(st, FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("EISDIR"));
  EXPECT_EQ(StateOf("tree"), v1::Container::ATTACHED);
  ASSERT_GRPC_OK(ProbeOpen("tree", "file"));
}

TEST_F(ShimTest, DirectoryOnTheHostFastPathIsEisdirToo) {
  auto g = Tree({"--donate_mount_fd"});
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  grpc::Status st = ProbeOpen("tree", "dir", v1::READ);
  EXPECT_CODE(st, FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("EISDIR"));
  EXPECT_EQ(StateOf("tree"), v1::Container::ATTACHED);
}

// Opening a directory or a symlink says what the file is (and where a
// symlink points), on both paths; a stat names the symlink the same way.
TEST_P(ShimModeTest, ProbeSaysADirectoryOrASymlinkIsOne) {
  auto g = GetParam() ? Tree({"--donate_mount_fd"}) : Tree();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  for (const char* dir : {"dir", "dir/nested"}) {
    SCOPED_TRACE(dir);
    grpc::Status st = ProbeOpen("tree", dir);
    EXPECT_CODE(st, FAILED_PRECONDITION);
    EXPECT_THAT(st.error_message(), HasSubstr("EISDIR"));
    EXPECT_THAT(
        st.error_message(),
        HasSubstr(absl::StrCat("\"", dir, "\" is a directory, not a device")));
  }
  struct Case {
    const char* path;
    const char* link;
    const char* target;  // its beginning
  };
  for (const Case& k : {Case{"symlink", "symlink", "file\""},
                        Case{"dir/up", "dir/up", "../file\""},
                        Case{"escape_dir/x", "escape_dir", "/"},
                        Case{"escape", "escape", "/"}}) {
    for (bool open : {false, true}) {
      SCOPED_TRACE(absl::StrCat(k.path, open ? " open" : " stat"));
      grpc::Status st =
          open ? ProbeOpen("tree", k.path) : Probe("tree", k.path);
      EXPECT_CODE(st, FAILED_PRECONDITION);
      EXPECT_THAT(st.error_message(), HasSubstr("ELOOP"));
      // The target where it costs nothing more: the fast path's readlinkat
      // of the link it holds, or a ReadLinkAt of the FDID an open's walk
      // holds; a stat over RPC is one WalkStat and holds no FDID.
      const bool target = GetParam() || open;
      EXPECT_THAT(
          st.error_message(),
          HasSubstr(target ? absl::StrCat("\"", k.link, "\" is a symlink to \"",
                                          k.target)
                           : absl::StrCat("\"", k.link,
                                          "\" is a symlink (never "
                                          "followed)")));
      EXPECT_THAT(st.error_message(), HasSubstr("(never followed)"));
    }
  }
  EXPECT_EQ(StateOf("tree"), v1::Container::ATTACHED);
}

TEST_F(ShimTest, MissingDeviceIsNotFoundWithItsErrno) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  for (bool open : {false, true}) {
    SCOPED_TRACE(open ? "open" : "stat");
    grpc::Status st = open ? ProbeOpen("demo", "no-such-device")
                           : Probe("demo", "no-such-device");
    EXPECT_CODE(st, NOT_FOUND);
    EXPECT_THAT(st.error_message(), HasSubstr("ENOENT"));
    EXPECT_THAT(st.error_message(), HasSubstr("no-such-device"));
  }
  // A missing directory on the way names the component that is missing.
  grpc::Status st = Probe("demo", "nvidia-caps/nvidia-cap1");
  EXPECT_CODE(st, NOT_FOUND);
  EXPECT_THAT(st.error_message(), HasSubstr("\"nvidia-caps\" does not exist"));
  // The container is still fine.
  EXPECT_EQ(StateOf("demo"), v1::Container::ATTACHED);
}

TEST_P(ShimModeTest, StatThroughAFileIsNotFound) {
  auto g = GetParam() ? Tree({"--donate_mount_fd"}) : Tree();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  grpc::Status st = Probe("tree", "file/x");
  EXPECT_CODE(st, NOT_FOUND);
  EXPECT_THAT(st.error_message(), HasSubstr("ENOTDIR"));
}

TEST_F(ShimTest, BadDevicePathsAreInvalidArgument) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  for (const std::string& path :
       {std::string(""), std::string("/dev/null"), std::string("../etc/passwd"),
        std::string("a/../null"), std::string("./null"), std::string("."),
        std::string("a//b"), std::string("nu\0ll", 5),
        std::string(kMaxDevicePath + 1, 'p')}) {
    SCOPED_TRACE(path);
    grpc::Status st = Probe("demo", path);
    EXPECT_CODE(st, INVALID_ARGUMENT);
  }
  EXPECT_EQ(StateOf("demo"), v1::Container::ATTACHED);
}

TEST_F(ShimTest, UnknownAccessModeIsInvalidArgument) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  grpc::Status st = Probe("demo", "null", static_cast<v1::AccessMode>(42));
  EXPECT_CODE(st, INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("42"));
}

TEST_F(ShimTest, SymlinkIsRefused) {
  auto g = Tree();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  for (const char* path : {"symlink", "escape", "escape_dir/x"}) {
    SCOPED_TRACE(path);
    grpc::Status st = ProbeOpen("tree", path);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  }
}

// A stat follows no symlink, on either path, and names the one in the way.
TEST_P(ShimModeTest, StatOfASymlinkNamesIt) {
  auto g = GetParam() ? Tree({"--donate_mount_fd"}) : Tree();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  struct Case {
    const char* path;
    const char* link;
  };
  for (Case k :
       {Case{"symlink", "symlink"}, Case{"escape", "escape"},
        Case{"escape_dir/x", "escape_dir"}, Case{"dir/up", "dir/up"}}) {
    SCOPED_TRACE(k.path);
    grpc::Status st = Probe("tree", k.path);
    EXPECT_CODE(st, FAILED_PRECONDITION);
    EXPECT_THAT(st.error_message(), HasSubstr("ELOOP"));
    EXPECT_THAT(st.error_message(),
                HasSubstr(absl::StrCat("\"", k.link, "\" is a symlink")));
  }
  EXPECT_EQ(StateOf("tree"), v1::Container::ATTACHED);
}

TEST_F(ShimTest, DeniedDeviceIsPermissionDenied) {
  // Without the mount FD, every open goes through the gofer's policy.
  absl::StatusOr<std::unique_ptr<DevGofer>> g =
      DevGofer::Start(fixture_->devices_dir(), {"--char_devices=deny"});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_GRPC_OK(Attach("demo", (*g)->socket()));
  grpc::Status st = ProbeOpen("demo", "null");
  EXPECT_CODE(st, PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("EPERM"));
  // The policy is on opens: a stat still describes the device.
  v1::DeviceInfo info;
  ASSERT_GRPC_OK(Probe("demo", "null", v1::READ, &info));
  EXPECT_EQ(info.type(), v1::CHAR_DEVICE);
}

TEST_F(ShimTest, WriteOnAReadOnlyGoferIsPermissionDenied) {
  auto g = Tree({"--readonly"});
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("tree", g->socket()));
  ASSERT_GRPC_OK(ProbeOpen("tree", "file", v1::READ));
  grpc::Status st = ProbeOpen("tree", "file", v1::WRITE);
  EXPECT_CODE(st, PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("EROFS"));
}

TEST_F(ShimTest, ExpiredDeadlineIsDeadlineExceeded) {
  auto g = Devices();
  ASSERT_NE(g, nullptr);
  ASSERT_GRPC_OK(Attach("demo", g->socket()));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() - absl::Seconds(1)));
  v1::ProbeDeviceRequest req;
  req.set_name("demo");
  req.set_path("null");
  v1::DeviceInfo info;
  EXPECT_CODE(stub()->ProbeDevice(&ctx, req, &info), DEADLINE_EXCEEDED);
  EXPECT_EQ(StateOf("demo"), v1::Container::ATTACHED);
}

}  // namespace
}  // namespace gvisor::shim
