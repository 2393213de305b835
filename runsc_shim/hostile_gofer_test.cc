// The shim as a real process against hostile or broken gofers (the
// scriptable fake of testing/hostile_gofer.h, on real sockets) and against
// device opens that block in the kernel. For each attack the shim stays up,
// other containers keep being served, its memory and FDs stay within their
// bounds, and the caller gets a clear error.

#include "testing/hostile_gofer.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/fd/limit.h"
#include "pkg/lisafs/messages.h"
#include "runsc_shim/shim.grpc.pb.h"
#include "runsc_shim/shim_process_test_base.h"
#include "runsc_shim/testutil.h"
#include "testing/gofer_fixture.h"
#include "testing/leased_file.h"

namespace gvisor::shim {
namespace {

namespace v1 = ::gvisor::devutil::shim::v1;
using lisafs::MID;
using ::testing::AnyOf;
using testing::GoferAnswer;
using testing::GoferRequest;
using ::testing::HasSubstr;
using testing::HostileGofer;
using testutil::Child;
using testutil::DevGofer;

#define EXPECT_CODE(status, code)                          \
  EXPECT_EQ((status).error_code(), grpc::StatusCode::code) \
      << (status).error_message()
#define ASSERT_GRPC_OK(status) \
  ASSERT_TRUE((status).ok()) << (status).error_message()

// kMaxGrowthKiB bounds how much the shim's peak RSS may grow over one
// attack: a bounded listing holds about 6 MiB (devutil.h), a bounded frame
// a few (lisafs ClientOptions); ASan's quarantine keeps what is freed.
#ifdef __SANITIZE_ADDRESS__
constexpr int64_t kMaxGrowthKiB = 192 << 10;
#else
constexpr int64_t kMaxGrowthKiB = 64 << 10;
#endif

class HostileShimTest : public testutil::ShimProcessTest {
 protected:
  static void SetUpTestSuite() { fd::RaiseFdLimit().IgnoreError(); }

  // StartShim starts the shim binary with flags, and attaches "good" to a
  // real devgofer over the fixture's devices.
  void StartShim(std::vector<std::string> flags = {}) {
    ASSERT_NO_FATAL_FAILURE(
        ShimProcessTest::StartShim(std::move(flags), "hshim"));
    ASSERT_GRPC_OK(Attach("good", gofer_->socket()));
  }

  size_t Attached() {
    v1::ListContainersResponse resp;
    grpc::Status st = List(&resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return static_cast<size_t>(resp.containers_size());
  }

  // ExpectGoodServed checks that the well-behaved container still works.
  void ExpectGoodServed() {
    std::vector<std::string> names;
    grpc::Status st = Devices("good", &names);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_THAT(names, ::testing::Contains("null"));
    v1::DeviceInfo info;
    st = Probe("good", "null", v1::READ, &info);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(info.type(), v1::CHAR_DEVICE);
    EXPECT_EQ(StateOf("good"), v1::Container::ATTACHED);
  }

  int64_t PeakRss() { return testutil::PeakRssKiB(shim_->pid()); }
  int Fds() { return testutil::OpenFdCount(shim_->pid()); }

  // Tree starts a devgofer over the fixture's tree, donating its mount FD.
  std::unique_ptr<DevGofer> FastTree() {
    auto g = DevGofer::Start(fixture_->root(), {"--donate_mount_fd"});
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? std::move(*g) : nullptr;
  }

  // StuckOpen is a Probe of "leased" for writing, by container "stuck" on
  // a devgofer over the fixture's tree (donating its mount FD), whose open
  // waits in the kernel on a lease. Finish lets it go and joins the
  // probing thread; the destructor does too, whatever failed before.
  struct StuckOpen {
    std::unique_ptr<DevGofer> tree;
    std::unique_ptr<testing::LeasedFile> lease;
    grpc::Status status;  // the Probe's, once Finish returned
    std::thread prober;

    void Finish() {
      if (!prober.joinable()) return;
      lease->Release();
      prober.join();
    }
    ~StuckOpen() { Finish(); }
  };

  // StartStuckOpen attaches "stuck" and returns once its open waits on the
  // lease. *fds, unless null, gets the shim's FD count from just before
  // the attach.
  void StartStuckOpen(StuckOpen* s, int* fds = nullptr) {
    s->tree = FastTree();
    ASSERT_NE(s->tree, nullptr);
    auto lease = testing::LeasedFile::Create(fixture_->root() + "/leased");
    ASSERT_TRUE(lease.ok()) << lease.status();
    s->lease = std::move(*lease);
    if (fds != nullptr) *fds = Fds();
    ASSERT_GRPC_OK(Attach("stuck", s->tree->socket()));
    s->prober = std::thread([this, s] {
      s->status =
          ProbeOpen("stuck", "leased", v1::WRITE, nullptr, absl::Seconds(60));
    });
    // The shim's open is in the kernel, waiting on the lease.
    ASSERT_TRUE(s->lease->AwaitBreak());
  }
};

// Attack 3: a gofer that answers Getdents64 forever.
TEST_F(HostileShimTest, EndlessListingFailsAtTheBoundAndTheShimStaysSmall) {
  ASSERT_NO_FATAL_FAILURE(StartShim());
  // The safety stop lets a shim without bounds take 2,000,000 names
  // (hundreds of MiB) rather than everything the machine has.
  auto g = HostileGofer::Start(testing::EndlessListing(
      1000, 2'000'000,
      [](size_t i) { return absl::StrCat("endless-entry-", i); }));
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_GRPC_OK(Attach("hostile", (*g)->socket()));
  ExpectGoodServed();
  const int64_t peak = PeakRss();
  const int fds = Fds();

  std::vector<std::string> names;
  grpc::Status st = Devices("hostile", &names);
  EXPECT_CODE(st, RESOURCE_EXHAUSTED);
  EXPECT_THAT(st.error_message(), HasSubstr("passed 65536 entries"));
  EXPECT_THAT(st.error_message(), HasSubstr("ENOBUFS"));
  EXPECT_TRUE(names.empty());
  // The shim stopped reading at its bound.
  EXPECT_LE((*g)->requests(MID::kGetdents64), 65536 / 1000 + 1);

  ExpectGoodServed();
  EXPECT_LT(PeakRss() - peak, kMaxGrowthKiB)
      << "peak RSS " << peak << " -> " << PeakRss() << " KiB";
  EXPECT_LE(Fds(), fds);
  // The connection is still in step: the container stays attached.
  EXPECT_EQ(StateOf("hostile"), v1::Container::ATTACHED);
  EXPECT_CODE(Devices("hostile"), RESOURCE_EXHAUSTED);
}

// A long listing of an endless directory fails at the listing's bound
// before any entry is stat()ed: the stats are bounded by the listing.
TEST_F(HostileShimTest, EndlessLongListingStopsAtTheBoundBeforeAnyStat) {
  ASSERT_NO_FATAL_FAILURE(StartShim());
  auto g = HostileGofer::Start(testing::EndlessListing(
      1000, 2'000'000,
      [](size_t i) { return absl::StrCat("endless-entry-", i); }));
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_GRPC_OK(Attach("hostile", (*g)->socket()));
  v1::ListDevicesResponse resp;
  grpc::Status st = DevicesLong("hostile", &resp);
  EXPECT_CODE(st, RESOURCE_EXHAUSTED);
  EXPECT_THAT(st.error_message(), HasSubstr("ENOBUFS"));
  EXPECT_EQ((*g)->requests(MID::kWalkStat), 0u);
  EXPECT_EQ(StateOf("hostile"), v1::Container::ATTACHED);
  ExpectGoodServed();
}

// A gofer that lists entries and then never answers their stats is cut
// off like one that stalls on any other call.
TEST_F(HostileShimTest, GoferThatStallsOnTheEntriesStatsIsCutOff) {
  ASSERT_NO_FATAL_FAILURE(StartShim());
  testing::GoferScript listing = testing::EndlessListing(
      2, 2, [](size_t i) { return absl::StrCat("entry-", i); });
  auto g = HostileGofer::Start([listing](const GoferRequest& r) {
    if (r.mid == MID::kWalkStat) return GoferAnswer::Silence();
    return listing(r);
  });
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_GRPC_OK(Attach("stalling", (*g)->socket()));
  grpc::Status st = DevicesLong("stalling", nullptr, absl::Milliseconds(200));
  EXPECT_CODE(st, DEADLINE_EXCEEDED);
  EXPECT_TRUE((*g)->AwaitRequests(MID::kWalkStat, 1));
  EXPECT_TRUE(testutil::WaitFor(
      [&] { return StateOf("stalling") == v1::Container::DISCONNECTED; }));
  v1::Container c;
  ASSERT_GRPC_OK(Get("stalling", &c));
  EXPECT_THAT(c.disconnect_reason(), HasSubstr("did not answer stat"));
  ExpectGoodServed();
}

// An entry the gofer refuses to stat (fsgofer's EPERM for a block device)
// is listed without a type; the listing goes on.
TEST_F(HostileShimTest, LongListingKeepsAnEntryTheGoferWillNotStat) {
  ASSERT_NO_FATAL_FAILURE(StartShim());
  testing::GoferScript listing = testing::EndlessListing(
      2, 2, [](size_t i) { return absl::StrCat("entry-", i); });
  auto g = HostileGofer::Start([listing](const GoferRequest& r) {
    if (r.mid == MID::kWalkStat) return GoferAnswer::Error(EPERM);
    return listing(r);
  });
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_GRPC_OK(Attach("refusing", (*g)->socket()));
  v1::ListDevicesResponse resp;
  ASSERT_GRPC_OK(DevicesLong("refusing", &resp));
  ASSERT_EQ(resp.devices_size(), 2);
  EXPECT_EQ(resp.devices(0).path(), "entry-0");
  EXPECT_EQ(resp.devices(1).path(), "entry-1");
  for (const v1::DeviceInfo& d : resp.devices()) {
    EXPECT_EQ(d.type(), v1::FILE_TYPE_UNSPECIFIED);
  }
  EXPECT_EQ((*g)->requests(MID::kWalkStat), 2u);
}

// A listed name that cannot be an entry is the gofer's fault.
TEST_F(HostileShimTest, LongListingOfANameWithASlashIsAGoferFault) {
  ASSERT_NO_FATAL_FAILURE(StartShim());
  auto g = HostileGofer::Start(
      testing::EndlessListing(1, 1, [](size_t) { return "a/b"; }));
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_GRPC_OK(Attach("slash", (*g)->socket()));
  grpc::Status st = DevicesLong("slash");
  EXPECT_CODE(st, INTERNAL);
  EXPECT_THAT(st.error_message(), HasSubstr("\"a/b\", which names no entry"));
  EXPECT_EQ((*g)->requests(MID::kWalkStat), 0u);
  EXPECT_EQ(StateOf("slash"), v1::Container::ATTACHED);
}

// Attack 2 through the shim: Mount announces 0xFFFFFFFF, then every answer
// is a header claiming 0xFFFFFFFF bytes that never come.
TEST_F(HostileShimTest, FrameClaimingFourGiBLeavesTheShimSmall) {
  ASSERT_NO_FATAL_FAILURE(StartShim());
  testing::MountOptions m;
  m.max_message_size = 0xFFFFFFFF;
  auto g = HostileGofer::Start([m](const GoferRequest& r) {
    if (r.mid == MID::kMount) return testing::MountAnswer(m);
    const uint16_t mid = static_cast<uint16_t>(r.mid);
    return GoferAnswer::Raw({0xFF, 0xFF, 0xFF, 0xFF,
                             static_cast<uint8_t>(mid & 0xFF),
                             static_cast<uint8_t>(mid >> 8), 0, 0});
  });
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_GRPC_OK(Attach("hostile-1", (*g)->socket()));
  ASSERT_GRPC_OK(Attach("hostile-2", (*g)->socket()));
  ExpectGoodServed();
  const int64_t peak = PeakRss();

  // Two calls, as in the report that took a shim to 8 GiB.
  grpc::Status probe = Probe("hostile-1", "null");
  grpc::Status list = Devices("hostile-2");
  for (const grpc::Status& st : {probe, list}) {
    EXPECT_FALSE(st.ok());
    // The gofer's fault, said as such: never the caller's.
    EXPECT_THAT(st.error_code(),
                AnyOf(grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::INTERNAL,
                      grpc::StatusCode::DEADLINE_EXCEEDED))
        << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr("EIO"));
  }
  EXPECT_TRUE(shim_->Running());
  ExpectGoodServed();
  EXPECT_LT(PeakRss() - peak, kMaxGrowthKiB)
      << "peak RSS " << peak << " -> " << PeakRss() << " KiB";
}

// FdsOn counts the FDs of process pid open on the file at path.
int FdsOn(pid_t pid, const std::string& path) {
  const std::string dir = absl::StrCat("/proc/", pid, "/fd");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (struct dirent* e = readdir(d)) {
    char target[4096];
    const std::string link = dir + "/" + e->d_name;
    ssize_t len = readlink(link.c_str(), target, sizeof(target));
    if (len > 0 && std::string(target, len) == path) ++n;
  }
  closedir(d);
  return n;
}

// Attack 8a, and Mount faults generally: refused at attach, as UNAVAILABLE.
TEST_F(HostileShimTest, MountThatCanServeNothingIsRefusedAtAttach) {
  ASSERT_NO_FATAL_FAILURE(StartShim());
  std::string file = fixture_->root() + "/file";
  fd::OwnedFd regular(open(file.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(regular.valid());
  struct Case {
    const char* what;
    std::function<GoferAnswer()> mount;
    const char* detail;
  };
  const std::vector<Case> cases = {
      {"donated mount FD is a regular file",
       [&] {
         testing::MountOptions m;
         m.donate = regular.get();
         return testing::MountAnswer(m);
       },
       "ENOTDIR"},
      {"mount point is a regular file",
       [] {
         testing::MountOptions m;
         m.root_mode = S_IFREG | 0644;
         return testing::MountAnswer(m);
       },
       "ENOTDIR"},
      {"no Walk, OpenAt, Getdents64",
       [] {
         testing::MountOptions m;
         m.mids = {1, 3, 9};
         return testing::MountAnswer(m);
       },
       "EOPNOTSUPP"},
      {"Error(EINVAL)", [] { return GoferAnswer::Error(EINVAL); }, "EINVAL"},
      {"Error(ENOENT)", [] { return GoferAnswer::Error(ENOENT); }, "ENOENT"},
      {"garbled MountResp",
       [] {
         return GoferAnswer::Frame(static_cast<uint16_t>(MID::kMount),
                                   {1, 2, 3});
       },
       "EIO"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    auto g = HostileGofer::Start([&k](const GoferRequest& r) {
      return r.mid == MID::kMount ? k.mount() : GoferAnswer::Error(EIO);
    });
    ASSERT_TRUE(g.ok()) << g.status();
    v1::Container c;
    grpc::Status st = Attach("refused", (*g)->socket(), &c);
    EXPECT_CODE(st, UNAVAILABLE);
    EXPECT_THAT(st.error_message(), HasSubstr(k.detail));
    EXPECT_THAT(st.error_message(), HasSubstr((*g)->socket()));
    // Nothing was kept: the gofer sees its connection end.
    EXPECT_TRUE((*g)->AwaitClosed(1));
  }
  EXPECT_EQ(Attached(), 1u);
  // Nor the donated regular file. (The shim's FD total is not compared:
  // gRPC may open a connection of its own meanwhile; the gofer sockets'
  // closing is checked above.)
  char* real = realpath(file.c_str(), nullptr);
  ASSERT_NE(real, nullptr);
  EXPECT_EQ(FdsOn(getpid(), real), 1);  // `regular`: the count sees FDs
  EXPECT_EQ(FdsOn(shim_->pid(), real), 0);
  free(real);
  ExpectGoodServed();
}

// Attack 8b: protocol faults are the gofer's, not the caller's.
TEST_F(HostileShimTest, GoferFaultsAreNeverBlamedOnTheCaller) {
  ASSERT_NO_FATAL_FAILURE(StartShim());
  struct Case {
    const char* path;  // the Walk this answer is for
    GoferAnswer (*answer)();
    grpc::StatusCode code;
    const char* detail;
  };
  static const Case kCases[] = {
      {"einval", [] { return GoferAnswer::Error(EINVAL); },
       grpc::StatusCode::INTERNAL, "EINVAL"},
      {"ebadf", [] { return GoferAnswer::Error(EBADF); },
       grpc::StatusCode::INTERNAL, "EBADF"},
      {"eio", [] { return GoferAnswer::Error(EIO); },
       grpc::StatusCode::INTERNAL, "EIO"},
      {"eproto", [] { return GoferAnswer::Error(EPROTO); },
       grpc::StatusCode::INTERNAL, "EPROTO"},
      {"ebadmsg", [] { return GoferAnswer::Error(EBADMSG); },
       grpc::StatusCode::INTERNAL, "EBADMSG"},
      {"etimedout", [] { return GoferAnswer::Error(ETIMEDOUT); },
       grpc::StatusCode::INTERNAL, "ETIMEDOUT"},
      {"eexist", [] { return GoferAnswer::Error(EEXIST); },
       grpc::StatusCode::INTERNAL, "EEXIST"},
      {"ecanceled", [] { return GoferAnswer::Error(ECANCELED); },
       grpc::StatusCode::INTERNAL, "ECANCELED"},
      {"eopnotsupp", [] { return GoferAnswer::Error(EOPNOTSUPP); },
       grpc::StatusCode::INTERNAL, "EOPNOTSUPP"},
      {"errno-zero", [] { return GoferAnswer::Error(0); },
       grpc::StatusCode::INTERNAL, "EIO"},
      {"garbled",
       [] {
         return GoferAnswer::Frame(static_cast<uint16_t>(MID::kWalk), {0, 5});
       },
       grpc::StatusCode::INTERNAL, "EIO"},
      {"wrong-mid",
       [] { return GoferAnswer::Message(MID::kOpenAt, lisafs::OpenAtResp{}); },
       grpc::StatusCode::INTERNAL, "EINVAL"},
      // What the gofer says of the device itself keeps its meaning.
      {"enoent", [] { return GoferAnswer::Error(ENOENT); },
       grpc::StatusCode::NOT_FOUND, "ENOENT"},
      {"missing",
       [] {
         lisafs::WalkResp w;
         w.status = lisafs::WalkStatus::kComponentDoesNotExist;
         return GoferAnswer::Message(MID::kWalk, w);
       },
       grpc::StatusCode::NOT_FOUND, "ENOENT"},
      {"eacces", [] { return GoferAnswer::Error(EACCES); },
       grpc::StatusCode::PERMISSION_DENIED, "EACCES"},
      {"ebusy", [] { return GoferAnswer::Error(EBUSY); },
       grpc::StatusCode::FAILED_PRECONDITION, "EBUSY"},
  };
  auto g = HostileGofer::Start([](const GoferRequest& r) {
    switch (r.mid) {
      case MID::kMount:
        return testing::MountAnswer({});
      case MID::kWalk: {
        absl::StatusOr<lisafs::WalkReq> w = r.As<lisafs::WalkReq>();
        for (const Case& k : kCases) {
          if (w.ok() && !w->path.empty() && w->path[0] == k.path) {
            return k.answer();
          }
        }
        return GoferAnswer::Error(ENOENT);
      }
      case MID::kOpenAt:  // only ListDevices opens the mount point
        return GoferAnswer::Error(EINVAL);
      case MID::kClose:
        return GoferAnswer::Message(MID::kClose, lisafs::EmptyMessage{});
      default:
        return GoferAnswer::Error(EOPNOTSUPP);
    }
  });
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_GRPC_OK(Attach("hostile", (*g)->socket()));
  for (const Case& k : kCases) {
    SCOPED_TRACE(k.path);
    grpc::Status st = ProbeOpen("hostile", k.path);
    EXPECT_EQ(st.error_code(), k.code) << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr(k.detail));
    if (k.code == grpc::StatusCode::INTERNAL) {
      EXPECT_THAT(st.error_message(), HasSubstr("gofer fault"));
    }
    // A fault on a live connection leaves the container attached.
    EXPECT_EQ(StateOf("hostile"), v1::Container::ATTACHED);
  }
  grpc::Status st = Devices("hostile");
  EXPECT_CODE(st, INTERNAL);
  EXPECT_THAT(st.error_message(), HasSubstr("EINVAL"));
  ExpectGoodServed();
}

// The default probe is one WalkStat: what the gofer answers maps as a
// stat's table says, NOT_FOUND only for a device that does not exist, and
// nothing else is sent (no Walk, no OpenAt: nothing is opened).
TEST_F(HostileShimTest, StatFaultsAreNeverNotFound) {
  ASSERT_NO_FATAL_FAILURE(StartShim());
  auto stat_of = [](uint16_t mode, uint32_t major = 0, uint32_t minor = 0) {
    lisafs::Statx x;
    x.mode = mode;
    x.rdev_major = major;
    x.rdev_minor = minor;
    return x;
  };
  struct Case {
    const char* path;  // the WalkStat this answer is for
    std::function<GoferAnswer()> answer;
    grpc::StatusCode code;
    const char* detail;
  };
  const std::vector<Case> cases = {
      {"eio", [] { return GoferAnswer::Error(EIO); },
       grpc::StatusCode::INTERNAL, "EIO"},
      {"eproto", [] { return GoferAnswer::Error(EPROTO); },
       grpc::StatusCode::INTERNAL, "EPROTO"},
      {"einval", [] { return GoferAnswer::Error(EINVAL); },
       grpc::StatusCode::INTERNAL, "EINVAL"},
      // No stat says these of a file that is there or not: the gofer's.
      {"enxio", [] { return GoferAnswer::Error(ENXIO); },
       grpc::StatusCode::INTERNAL, "ENXIO"},
      {"enodev", [] { return GoferAnswer::Error(ENODEV); },
       grpc::StatusCode::INTERNAL, "ENODEV"},
      {"garbled",
       [] {
         return GoferAnswer::Frame(static_cast<uint16_t>(MID::kWalkStat),
                                   {0, 5});
       },
       grpc::StatusCode::INTERNAL, "EIO"},
      {"too-many",
       [&] {
         lisafs::WalkStatResp w;
         w.stats = {stat_of(S_IFCHR | 0666), stat_of(S_IFCHR | 0666)};
         return GoferAnswer::Message(MID::kWalkStat, w);
       },
       grpc::StatusCode::INTERNAL, "EIO"},
      {"enoent", [] { return GoferAnswer::Error(ENOENT); },
       grpc::StatusCode::NOT_FOUND, "ENOENT"},
      {"missing",
       [] {
         return GoferAnswer::Message(MID::kWalkStat, lisafs::WalkStatResp{});
       },
       grpc::StatusCode::NOT_FOUND, "ENOENT"},
      {"link",
       [&] {
         lisafs::WalkStatResp w;
         w.stats = {stat_of(S_IFLNK | 0777)};
         return GoferAnswer::Message(MID::kWalkStat, w);
       },
       grpc::StatusCode::FAILED_PRECONDITION, "\"link\" is a symlink"},
      {"eacces", [] { return GoferAnswer::Error(EACCES); },
       grpc::StatusCode::PERMISSION_DENIED, "EACCES"},
      {"nvidia0",
       [&] {
         lisafs::WalkStatResp w;
         w.stats = {stat_of(S_IFCHR | 0666, 195, 0)};
         return GoferAnswer::Message(MID::kWalkStat, w);
       },
       grpc::StatusCode::OK, ""},
  };
  auto g = HostileGofer::Start([&cases](const GoferRequest& r) {
    switch (r.mid) {
      case MID::kMount:
        return testing::MountAnswer({});
      case MID::kWalkStat: {
        absl::StatusOr<lisafs::WalkReq> w = r.As<lisafs::WalkReq>();
        if (w.ok() && w->path.size() == 1 && w->path[0] == "hangup") {
          return GoferAnswer::HangUp();
        }
        for (const Case& k : cases) {
          if (w.ok() && w->path.size() == 1 && w->path[0] == k.path) {
            return k.answer();
          }
        }
        return GoferAnswer::Error(ENOENT);
      }
      default:
        return GoferAnswer::Error(EOPNOTSUPP);
    }
  });
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_GRPC_OK(Attach("hostile", (*g)->socket()));
  for (const Case& k : cases) {
    SCOPED_TRACE(k.path);
    v1::DeviceInfo info;
    grpc::Status st = Probe("hostile", k.path, v1::READ, &info);
    EXPECT_EQ(st.error_code(), k.code) << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr(k.detail));
    if (k.code == grpc::StatusCode::INTERNAL) {
      EXPECT_THAT(st.error_message(), HasSubstr("gofer fault"));
    }
    if (st.ok()) {
      EXPECT_EQ(info.type(), v1::CHAR_DEVICE);
      EXPECT_EQ(info.rdev_major(), 195u);
      EXPECT_EQ(info.rdev_minor(), 0u);
      EXPECT_FALSE(info.opened());
    }
    EXPECT_EQ(StateOf("hostile"), v1::Container::ATTACHED);
  }
  EXPECT_EQ((*g)->requests(MID::kWalk), 0u);
  EXPECT_EQ((*g)->requests(MID::kOpenAt), 0u);
  // A gofer that hangs up during the stat: UNAVAILABLE, disconnected.
  grpc::Status st = Probe("hostile", "hangup");
  EXPECT_CODE(st, UNAVAILABLE);
  EXPECT_EQ(StateOf("hostile"), v1::Container::DISCONNECTED);

  // A gofer without WalkStat is not asked to open instead.
  auto no_stat = HostileGofer::Start([](const GoferRequest& r) {
    if (r.mid != MID::kMount) return GoferAnswer::Error(EIO);
    testing::MountOptions m;
    std::erase(m.mids, static_cast<uint16_t>(MID::kWalkStat));
    return testing::MountAnswer(m);
  });
  ASSERT_TRUE(no_stat.ok()) << no_stat.status();
  ASSERT_GRPC_OK(Attach("no-stat", (*no_stat)->socket()));
  st = Probe("no-stat", "null");
  EXPECT_CODE(st, INTERNAL);
  EXPECT_THAT(st.error_message(), HasSubstr("EOPNOTSUPP"));
  EXPECT_THAT(st.error_message(), HasSubstr("WalkStat"));
  EXPECT_EQ((*no_stat)->requests(MID::kWalk), 0u);
  ExpectGoodServed();
}

// Attack 7: a FIFO on the fast path.
TEST_F(HostileShimTest, FifoOnTheFastPathAnswersAndDetachAndSigtermFinish) {
  ASSERT_NO_FATAL_FAILURE(StartShim());
  // FIFOs go to the gofer on the fast path too, so its --host_fifo holds.
  absl::StatusOr<std::unique_ptr<DevGofer>> tree = DevGofer::Start(
      fixture_->root(), {"--donate_mount_fd", "--host_fifo=open"});
  ASSERT_TRUE(tree.ok()) << tree.status();
  v1::Container c;
  ASSERT_GRPC_OK(Attach("tree", (*tree)->socket(), &c));
  ASSERT_TRUE(c.mount_fd_donated());
  v1::DeviceInfo info;
  grpc::Status st = ProbeOpen("tree", "fifo", v1::READ, &info);
  ASSERT_GRPC_OK(st);
  EXPECT_EQ(info.type(), v1::FIFO);
  // An open for writing does not wait either: FIFOs go to the gofer, whose
  // walk holds the FIFO open for reading (pkg/devutil/devutil.h).
  st = ProbeOpen("tree", "fifo", v1::WRITE, &info);
  ASSERT_GRPC_OK(st);
  EXPECT_EQ(info.type(), v1::FIFO);
  ASSERT_GRPC_OK(Detach("tree"));
  ExpectGoodServed();
  shim_->Signal(SIGTERM);
  absl::StatusOr<int> status = shim_->Wait();
  ASSERT_TRUE(status.ok()) << "SIGTERM did not stop the shim";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  shim_.reset();
}

// Attack 7, a call genuinely stuck in the kernel: an open that waits on a
// lease. Detach does not wait for it, and the stuck call holds only its own
// container's FDs, until it returns.
TEST_F(HostileShimTest, DetachDoesNotWaitForAnOpenStuckInTheKernel) {
  ASSERT_NO_FATAL_FAILURE(StartShim());
  StuckOpen stuck;
  int fds = 0;
  ASSERT_NO_FATAL_FAILURE(StartStuckOpen(&stuck, &fds));

  grpc::Status detach = Detach("stuck");
  EXPECT_TRUE(detach.ok()) << detach.error_message();
  EXPECT_EQ(Attached(), 1u);
  ExpectGoodServed();
  // The name is free again, on the same gofer.
  EXPECT_TRUE(Attach("stuck", stuck.tree->socket()).ok());
  EXPECT_TRUE(Probe("stuck", "file").ok());
  EXPECT_TRUE(Detach("stuck").ok());

  // Once the kernel lets the open go, its caller hears the container is
  // gone and the old client closes: no FD of it is left.
  stuck.Finish();
  EXPECT_CODE(stuck.status, NOT_FOUND);
  EXPECT_THAT(stuck.status.error_message(),
              HasSubstr("detached during the call"));
  EXPECT_LE(Fds(), fds);
}

TEST_F(HostileShimTest, StuckOpensCannotTakeThreadsWithoutBound) {
  ASSERT_NO_FATAL_FAILURE(StartShim({"--max_calls_per_container=1"}));
  StuckOpen stuck;
  ASSERT_NO_FATAL_FAILURE(StartStuckOpen(&stuck));
  // The container's one call is taken: more are refused rather than given
  // threads; other containers are not affected.
  grpc::Status more = Probe("stuck", "file");
  EXPECT_CODE(more, RESOURCE_EXHAUSTED);
  EXPECT_THAT(more.error_message(), HasSubstr("max_calls_per_container"));
  ExpectGoodServed();
  stuck.Finish();
  EXPECT_TRUE(stuck.status.ok()) << stuck.status.error_message();
  EXPECT_TRUE(Probe("stuck", "file").ok());
}

TEST_F(HostileShimTest, SigtermStopsTheShimWhileAnOpenIsStuckInTheKernel) {
  ASSERT_NO_FATAL_FAILURE(StartShim({"--shutdown_grace=0s"}));
  StuckOpen stuck;
  ASSERT_NO_FATAL_FAILURE(StartStuckOpen(&stuck));
  shim_->Signal(SIGTERM);
  // Within --shutdown_grace + 3 s (Server::Shutdown), far below the lease
  // break time (45 s) that would end the open on its own.
  absl::StatusOr<int> status = shim_->Wait();
  ASSERT_TRUE(status.ok()) << "SIGTERM did not stop the shim";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_THAT(shim_->Stderr(), HasSubstr("stuck in the kernel"));
  shim_.reset();
  stuck.Finish();
  EXPECT_FALSE(stuck.status.ok());
  // The socket file is gone with it.
  struct stat st;
  EXPECT_NE(stat(socket_.c_str(), &st), 0);
}

}  // namespace
}  // namespace gvisor::shim
