// GoferClient against a hostile or broken gofer (testing/hostile_gofer.h,
// a fake server on a real socket) and against files that block: endless
// listings are cut off at the client's bounds, mounts that could serve
// nothing are refused, FIFOs never block the fast path, and Close never
// waits for a call stuck in the kernel.

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/syserr/syserr.h"
#include "testing/as_socket.h"
#include "testing/fd_count.h"
#include "testing/gofer_fixture.h"
#include "testing/hostile_gofer.h"
#include "testing/leased_file.h"
#include "testing/rescue.h"

namespace gvisor::devutil {
namespace {

using lisafs::MID;
using testing::GoferAnswer;
using testing::GoferRequest;
using ::testing::HasSubstr;
using testing::HostileGofer;

const context::Context& Ctx() { return context::Background(); }

// kSafetyCap stops the endless gofers below once a client has taken four
// times the default bound, so that a client without bounds fails the test
// (it gets the whole listing) rather than exhausts the machine.
constexpr size_t kSafetyCap = 4 * GoferClientOptions::kDefaultMaxDirents;

std::unique_ptr<GoferClient> Mount(const HostileGofer& g,
                                   const GoferClientOptions& o = {}) {
  absl::StatusOr<std::unique_ptr<GoferClient>> c =
      NewGoferClient(Ctx(), "hostile", testing::AsSocket(g.Dial()), o);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(*c) : nullptr;
}

void ExpectBoundError(const absl::Status& s, absl::string_view bound) {
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(syserr::ToErrno(s), ENOBUFS) << s;
  EXPECT_THAT(s.message(), HasSubstr(bound));
}

TEST(HostileListingTest, EndlessListingStopsAtTheEntryBound) {
  auto g = HostileGofer::Start(testing::EndlessListing(
      1000, kSafetyCap,
      [](size_t i) { return absl::StrCat("endless-entry-", i); }));
  ASSERT_TRUE(g.ok()) << g.status();
  auto c = Mount(**g);
  ASSERT_NE(c, nullptr);
  absl::StatusOr<std::vector<std::string>> names = c->DirentNames(Ctx());
  ASSERT_FALSE(names.ok()) << names->size() << " names accepted";
  ExpectBoundError(names.status(), "65536 entries");
  // It stopped at the bound, not at the gofer's safety cap.
  EXPECT_LE((*g)->requests(MID::kGetdents64),
            GoferClientOptions::kDefaultMaxDirents / 1000 + 1);
  // The listing's FDID was closed and the connection is still in step.
  EXPECT_TRUE((*g)->AwaitRequests(MID::kClose, 1));
  EXPECT_FALSE(c->DirentNames(Ctx()).ok());
  EXPECT_EQ((*g)->requests(MID::kOpenAt), 2u);
}

TEST(HostileListingTest, EndlessDotsCountTowardsTheBound) {
  // "." and ".." are not returned, but a gofer cannot loop a client on
  // them either.
  auto g = HostileGofer::Start(testing::EndlessListing(
      1000, kSafetyCap, [](size_t i) { return i % 2 ? "." : ".."; }));
  ASSERT_TRUE(g.ok()) << g.status();
  auto c = Mount(**g);
  ASSERT_NE(c, nullptr);
  absl::StatusOr<std::vector<std::string>> names = c->DirentNames(Ctx());
  ASSERT_FALSE(names.ok()) << "the gofer's endless dots were accepted";
  ExpectBoundError(names.status(), "65536 entries");
}

TEST(HostileListingTest, LongNamesStopAtTheByteBound) {
  auto g =
      HostileGofer::Start(testing::EndlessListing(10, kSafetyCap, [](size_t i) {
        return absl::StrCat(std::string(90, 'n'), i);
      }));
  ASSERT_TRUE(g.ok()) << g.status();
  GoferClientOptions o;
  o.max_dirent_bytes = 1000;
  auto c = Mount(**g, o);
  ASSERT_NE(c, nullptr);
  absl::StatusOr<std::vector<std::string>> names = c->DirentNames(Ctx());
  ASSERT_FALSE(names.ok());
  ExpectBoundError(names.status(), "1000 bytes of names");
  EXPECT_EQ((*g)->requests(MID::kGetdents64), 2u);
}

// The bounds on a real directory, on both paths: a listing of exactly the
// bound passes, one entry more fails.
class ListingBoundTest : public ::testing::TestWithParam<bool> {};

TEST_P(ListingBoundTest, RealDirectoryAtAndPastTheBound) {
  testing::GoferOptions go;
  go.donate_mount_fd = GetParam();
  auto f = testing::GoferFixture::Create(go);
  ASSERT_TRUE(f.ok()) << f.status();
  for (int i = 0; i < 100; ++i) {
    std::ofstream(absl::StrCat((*f)->root(), "/extra-", i)).put('x');
  }
  size_t entries = 0;
  DIR* d = opendir((*f)->root().c_str());
  while (readdir(d) != nullptr) ++entries;
  closedir(d);
  // The host path sees "." and ".."; the gofer leaves them out.
  if (!GetParam()) entries -= 2;
  for (size_t bound : {entries, entries - 1}) {
    SCOPED_TRACE(bound);
    GoferClientOptions o;
    o.max_dirents = bound;
    absl::StatusOr<std::unique_ptr<GoferClient>> c =
        NewGoferClient(Ctx(), "c", testing::AsSocket((*f)->Connect()), o);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_EQ((*c)->HasHostFD(), GetParam());
    absl::StatusOr<std::vector<std::string>> names = (*c)->DirentNames(Ctx());
    if (bound == entries) {
      ASSERT_TRUE(names.ok()) << names.status();
      EXPECT_GE(names->size(), 100u);
    } else {
      ASSERT_FALSE(names.ok());
      ExpectBoundError(names.status(), "entries");
    }
  }
  GoferClientOptions o;
  o.max_dirent_bytes = 64;
  absl::StatusOr<std::unique_ptr<GoferClient>> c =
      NewGoferClient(Ctx(), "c", testing::AsSocket((*f)->Connect()), o);
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectBoundError((*c)->DirentNames(Ctx()).status(), "64 bytes of names");
}

INSTANTIATE_TEST_SUITE_P(HostPathAndRpcPath, ListingBoundTest,
                         ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? "MountFdDonated" : "RpcOnly";
                         });

// ---------------------------------------------------------------------------
// A gofer whose Walk gives no file type opens a directory and donates no FD
// for it: the open says what the file is, as for any directory.

TEST(HostileOpenTest, DirectoryOpenedWithoutAnFdIsEisdirNamingIt) {
  auto g = HostileGofer::Start([](const GoferRequest& r) {
    switch (r.mid) {
      case MID::kMount:
        return testing::MountAnswer({});
      case MID::kWalk:
        return testing::WalkAnswer(1, /*mode=*/0, 2);
      case MID::kOpenAt:
        return testing::OpenAtAnswer(3, fd::OwnedFd());
      case MID::kFStat: {
        lisafs::Statx st;
        st.mask = 0xFFF;
        st.mode = S_IFDIR | 0755;
        return GoferAnswer::Message(MID::kFStat, st);
      }
      case MID::kClose:
        return GoferAnswer::Message(MID::kClose, lisafs::EmptyMessage{});
      default:
        return GoferAnswer::Error(EOPNOTSUPP);
    }
  });
  ASSERT_TRUE(g.ok()) << g.status();
  absl::StatusOr<std::unique_ptr<GoferClient>> c =
      NewGoferClient(Ctx(), "c", testing::AsSocket((*g)->Dial()));
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<fd::OwnedFd> f = (*c)->OpenAt(Ctx(), "pts", O_RDONLY);
  EXPECT_EQ(syserr::ToErrno(f.status()), EISDIR) << f.status();
  EXPECT_THAT(f.status().message(),
              HasSubstr("\"pts\" is a directory, not a device"));
  EXPECT_EQ((*g)->requests(MID::kFStat), 1u);
}

// ---------------------------------------------------------------------------
// Mounts that could serve nothing are refused at once.

absl::Status MountWith(const testing::MountOptions& m) {
  auto g = HostileGofer::Start([m](const GoferRequest& r) {
    if (r.mid == MID::kMount) return testing::MountAnswer(m);
    return GoferAnswer::Error(EIO);
  });
  EXPECT_TRUE(g.ok()) << g.status();
  if (!g.ok()) return g.status();
  const int before = testing::OpenFdCount();
  absl::Status s =
      NewGoferClient(Ctx(), "c", testing::AsSocket((*g)->Dial())).status();
  // A refused mount keeps nothing: the connection, and the donated FD,
  // went with the refusal (and a client that was made, with it).
  EXPECT_TRUE((*g)->AwaitClosed(1)) << "the connection was kept";
  EXPECT_EQ(testing::OpenFdCount(), before);
  return s;
}

TEST(HostileMountTest, DonatedMountFdThatIsNotADirectoryIsRefused) {
  std::string path = absl::StrCat(::testing::TempDir(), "/regular");
  std::ofstream(path).put('x');
  fd::OwnedFd file(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(file.valid());
  testing::MountOptions m;
  m.donate = file.get();
  absl::Status s = MountWith(m);
  EXPECT_EQ(syserr::ToErrno(s), ENOTDIR) << s;
  EXPECT_THAT(s.message(), HasSubstr("donated a mount FD that is not a "
                                     "directory"));
}

TEST(HostileMountTest, MountPointThatIsNotADirectoryIsRefused) {
  testing::MountOptions m;
  m.root_mode = S_IFREG | 0644;
  absl::Status s = MountWith(m);
  EXPECT_EQ(syserr::ToErrno(s), ENOTDIR) << s;
  EXPECT_THAT(s.message(), HasSubstr("mount point is not a directory"));
}

TEST(HostileMountTest, GoferWithoutTheRpcsItNeedsIsRefused) {
  testing::MountOptions m;
  m.mids = {1, 3, 7};  // Mount, FStat, OpenAt
  absl::Status s = MountWith(m);
  EXPECT_EQ(syserr::ToErrno(s), EOPNOTSUPP) << s;
  EXPECT_THAT(s.message(), HasSubstr("Walk, Getdents64, Close"));
}

TEST(HostileMountTest, DonatedDirectoryNeedsNoRpcs) {
  // With the mount FD the client makes no RPC: the MIDs do not matter.
  fd::OwnedFd dir(
      open(::testing::TempDir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir.valid());
  testing::MountOptions m;
  m.mids = {1};
  m.donate = dir.get();
  EXPECT_TRUE(MountWith(m).ok());
}

// ---------------------------------------------------------------------------
// The fast path and files that block.

class FastPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::GoferOptions go;
    go.donate_mount_fd = true;
    auto f = testing::GoferFixture::Create(go);
    ASSERT_TRUE(f.ok()) << f.status();
    fixture_ = std::move(*f);
    auto c = NewGoferClient(Ctx(), "c", testing::AsSocket(fixture_->Connect()));
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
    ASSERT_TRUE(client_->HasHostFD());
  }

  // UnblockFifo opens the fixture's FIFO for reading and writing, which
  // ends any open of it that waits for a partner.
  void UnblockFifo() {
    int fd = open((fixture_->root() + "/fifo").c_str(),
                  O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) rescue_fds_.emplace_back(fd);
  }

  std::unique_ptr<testing::GoferFixture> fixture_;
  std::unique_ptr<GoferClient> client_;
  std::vector<fd::OwnedFd> rescue_fds_;
};

TEST_F(FastPathTest, FifoOpensWithoutWaitingForAPartner) {
  testing::Rescue rescue([this] { UnblockFifo(); });
  // FIFOs go to the gofer, as on the RPC path, whose walk holds the FIFO
  // open for reading (as gVisor's does): an open for writing finds that
  // reader and never waits.
  absl::StatusOr<fd::OwnedFd> w = client_->OpenAt(Ctx(), "fifo", O_WRONLY);
  EXPECT_TRUE(w.ok()) << w.status();
  if (w.ok()) {
    EXPECT_NE(fcntl(w->get(), F_GETFL) & O_NONBLOCK, 0);
  }
  // No writer: an open for reading succeeds at once.
  absl::StatusOr<fd::OwnedFd> r = client_->OpenAt(Ctx(), "fifo", O_RDONLY);
  ASSERT_FALSE(rescue.Disarm()) << "an open of the FIFO blocked";
  ASSERT_TRUE(r.ok()) << r.status();
  struct stat st;
  ASSERT_EQ(fstat(r->get(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  // Its FD stays non-blocking, like the one the gofer donates.
  EXPECT_NE(fcntl(r->get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(fcntl(r->get(), F_GETFL) & O_ACCMODE, O_RDONLY);
  // Now that there is a reader, a writer opens too.
  w = client_->OpenAt(Ctx(), "fifo", O_WRONLY);
  EXPECT_TRUE(w.ok()) << w.status();
}

TEST(FastPathDevicesTest, CharacterDevicesAreOpenedBlocking) {
  testing::GoferOptions go;
  go.donate_mount_fd = true;
  auto f = testing::GoferFixture::Create(go);
  ASSERT_TRUE(f.ok()) << f.status();
  auto c =
      NewGoferClient(Ctx(), "c", testing::AsSocket((*f)->ConnectDevices()));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->HasHostFD());
  absl::StatusOr<fd::OwnedFd> null = (*c)->OpenAt(Ctx(), "null", O_RDWR);
  ASSERT_TRUE(null.ok()) << null.status();
  int fl = fcntl(null->get(), F_GETFL);
  EXPECT_EQ(fl & O_NONBLOCK, 0) << "the driver saw a non-blocking open";
  EXPECT_EQ(fl & O_ACCMODE, O_RDWR);
  EXPECT_EQ(fcntl(null->get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST_F(FastPathTest, CloseDoesNotWaitForAnOpenStuckInTheKernel) {
  auto lease = testing::LeasedFile::Create(fixture_->root() + "/leased");
  ASSERT_TRUE(lease.ok()) << lease.status();
  absl::StatusOr<fd::OwnedFd> stuck;
  std::thread opener(
      [&] { stuck = client_->OpenAt(Ctx(), "leased", O_WRONLY); });
  absl::Cleanup finish = [&] {
    (*lease)->Release();
    opener.join();
  };
  // The open is in the kernel, waiting on the lease.
  ASSERT_TRUE((*lease)->AwaitBreak());
  {
    testing::Rescue rescue([&] { (*lease)->Release(); });
    client_->Close();
    EXPECT_FALSE(rescue.Disarm()) << "Close waited for the stuck open";
  }
  EXPECT_EQ(syserr::ToErrno(client_->OpenAt(Ctx(), "file", O_RDONLY).status()),
            EBADF);
  EXPECT_EQ(syserr::ToErrno(client_->DirentNames(Ctx()).status()), EBADF);
  // Once the kernel lets it go, the open finishes on its own reference to
  // the mount FD.
  std::move(finish).Invoke();
  EXPECT_TRUE(stuck.ok()) << stuck.status();
  // The destructor waits for calls; none is left.
  client_.reset();
}

}  // namespace
}  // namespace gvisor::devutil
