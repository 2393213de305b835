// GoferClient against the hermetic gofer (a real lisafs::Server with the
// fsgofer backend over real sockets), on both the host fast path (mount FD
// donated) and the RPC path.

#include "pkg/devutil/devutil.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "testing/as_socket.h"
#include "testing/fd_count.h"
#include "testing/gofer_fixture.h"
#include "testing/host_names.h"

namespace gvisor::devutil {
namespace {

using ::testing::UnorderedElementsAreArray;

const context::Context& Ctx() { return context::Background(); }

using ::gvisor::testing::HostNames;

std::string ReadAll(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = pread(fd, buf, sizeof(buf), out.size())) > 0) out.append(buf, n);
  return out;
}

class DevutilTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    fds_before_ = testing::OpenFdCount();
    testing::GoferOptions opts;
    opts.donate_mount_fd = GetParam();
    auto f = testing::GoferFixture::Create(opts);
    ASSERT_TRUE(f.ok()) << f.status();
    fixture_ = std::move(*f);
  }

  void TearDown() override {
    fixture_.reset();
    EXPECT_EQ(testing::OpenFdCount(), fds_before_) << "FD leak";
  }

  std::unique_ptr<GoferClient> Client(bool devices = false) {
    absl::StatusOr<fd::OwnedFd> sock =
        devices ? fixture_->ConnectDevices() : fixture_->Connect();
    EXPECT_TRUE(sock.ok()) << sock.status();
    absl::StatusOr<std::unique_ptr<GoferClient>> c =
        NewGoferClient(Ctx(), "cont", testing::AsSocket(std::move(sock)));
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    EXPECT_EQ((*c)->HasHostFD(), GetParam());
    return std::move(*c);
  }

  int fds_before_ = 0;
  std::unique_ptr<testing::GoferFixture> fixture_;
};

TEST_P(DevutilTest, ContainerName) {
  auto c = Client();
  EXPECT_EQ(c->ContainerName(), "cont");
}

TEST_P(DevutilTest, DirentNamesListsTheServedDirectory) {
  auto c = Client();
  absl::StatusOr<std::vector<std::string>> names = c->DirentNames(Ctx());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, UnorderedElementsAreArray(HostNames(fixture_->root())));
  EXPECT_THAT(*names, ::testing::Not(::testing::Contains(".")));
  EXPECT_THAT(*names, ::testing::Contains("dir"));
  // Repeatable: the second listing starts from the beginning again.
  absl::StatusOr<std::vector<std::string>> again = c->DirentNames(Ctx());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), names->size());
}

TEST_P(DevutilTest, DirentNamesOfLargeDirectoryNeedsSeveralBatches) {
  // ~3000 entries of ~40 bytes: more than one 64 KiB Getdents64 budget.
  for (int i = 0; i < 3000; ++i) {
    std::ofstream(
        absl::StrCat(fixture_->root(), "/entry-with-a-longish-name-", i))
        .put('x');
  }
  auto c = Client();
  absl::StatusOr<std::vector<std::string>> names = c->DirentNames(Ctx());
  ASSERT_TRUE(names.ok()) << names.status();
  std::vector<std::string> want = HostNames(fixture_->root());
  ASSERT_GT(want.size(), 3000u);
  EXPECT_THAT(*names, UnorderedElementsAreArray(want));
}

TEST_P(DevutilTest, OpenAtCharacterDevices) {
  auto c = Client(/*devices=*/true);
  absl::StatusOr<fd::OwnedFd> zero = c->OpenAt(Ctx(), "zero", O_RDONLY);
  ASSERT_TRUE(zero.ok()) << zero.status();
  struct stat st;
  ASSERT_EQ(fstat(zero->get(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 1u);
  EXPECT_EQ(minor(st.st_rdev), 5u);
  char buf[16];
  memset(buf, 7, sizeof(buf));
  ASSERT_EQ(read(zero->get(), buf, sizeof(buf)), 16);
  EXPECT_EQ(std::count(buf, buf + 16, 0), 16);
  EXPECT_EQ(fcntl(zero->get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

  absl::StatusOr<fd::OwnedFd> null = c->OpenAt(Ctx(), "null", O_WRONLY);
  ASSERT_TRUE(null.ok()) << null.status();
  ASSERT_EQ(fstat(null->get(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(write(null->get(), "discard", 7), 7);
  EXPECT_EQ(fcntl(null->get(), F_GETFL) & O_ACCMODE, O_WRONLY);
}

TEST_P(DevutilTest, OpenAtNestedPaths) {
  auto c = Client();
  absl::StatusOr<fd::OwnedFd> f = c->OpenAt(Ctx(), "dir/nested/deep", O_RDONLY);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(ReadAll(f->get()), "deep\n");
  // Repeated and trailing slashes are separators, as in gVisor's fspath.
  absl::StatusOr<fd::OwnedFd> g = c->OpenAt(Ctx(), "dir//file2/", O_RDONLY);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(ReadAll(g->get()), "in dir\n");
  if (fixture_->real_device_nodes()) {
    absl::StatusOr<fd::OwnedFd> z = c->OpenAt(Ctx(), "dev/zero", O_RDONLY);
    ASSERT_TRUE(z.ok()) << z.status();
    struct stat st;
    ASSERT_EQ(fstat(z->get(), &st), 0);
    EXPECT_EQ(st.st_rdev, makedev(1, 5));
  }
}

TEST_P(DevutilTest, MissingPathsAreEnoent) {
  auto c = Client();
  for (const char* p : {"missing", "dir/missing", "missing/file",
                        "dir/nested/missing", "", "/", "//"}) {
    absl::StatusOr<fd::OwnedFd> f = c->OpenAt(Ctx(), p, O_RDONLY);
    EXPECT_EQ(syserr::ToErrno(f.status()), ENOENT) << p << ": " << f.status();
  }
}

TEST_P(DevutilTest, EscapesAreRefused) {
  auto c = Client();
  for (const char* p : {"..", "../x", "dir/../file", "./file", "dir/.", "/file",
                        "//dir/file2"}) {
    absl::StatusOr<fd::OwnedFd> f = c->OpenAt(Ctx(), p, O_RDONLY);
    EXPECT_EQ(syserr::ToErrno(f.status()), EINVAL) << p << ": " << f.status();
  }
}

TEST_P(DevutilTest, SymlinksAreNeverFollowed) {
  auto c = Client();
  // Final symlinks (inside and outside the tree), symlinks in the middle,
  // and a symlink whose target is back inside the tree.
  for (const char* p :
       {"symlink", "escape", "dir/up", "escape_dir/anything", "escape_dir"}) {
    absl::StatusOr<fd::OwnedFd> f = c->OpenAt(Ctx(), p, O_RDONLY);
    EXPECT_FALSE(f.ok()) << p << " was opened";
  }
  absl::StatusOr<fd::OwnedFd> f = c->OpenAt(Ctx(), "escape", O_RDWR);
  EXPECT_FALSE(f.ok());
}

TEST_P(DevutilTest, OnlyTheAccessModeIsKept) {
  auto c = Client();
  absl::StatusOr<fd::OwnedFd> f =
      c->OpenAt(Ctx(), "file", O_RDWR | O_TRUNC | O_APPEND | O_CREAT | O_EXCL);
  ASSERT_TRUE(f.ok()) << f.status();
  int fl = fcntl(f->get(), F_GETFL);
  EXPECT_EQ(fl & O_ACCMODE, O_RDWR);
  EXPECT_EQ(fl & O_APPEND, 0);
  EXPECT_EQ(ReadAll(f->get()), "hello\n");  // not truncated
  // O_CREAT is dropped: nothing is created.
  absl::StatusOr<fd::OwnedFd> n = c->OpenAt(Ctx(), "new", O_RDWR | O_CREAT);
  EXPECT_EQ(syserr::ToErrno(n.status()), ENOENT);
  EXPECT_NE(access((fixture_->root() + "/new").c_str(), F_OK), 0);
}

TEST_P(DevutilTest, DirectoryIsEisdirOnBothPaths) {
  auto c = Client();
  for (int flags : {O_RDONLY, O_RDWR}) {
    absl::StatusOr<fd::OwnedFd> d = c->OpenAt(Ctx(), "dir", flags);
    EXPECT_EQ(syserr::ToErrno(d.status()), EISDIR) << d.status();
  }
}

// Lstat describes a final symlink as itself, following nothing; one on
// the way is still refused, as by Stat.
TEST_P(DevutilTest, LstatDescribesAFinalSymlinkWithoutFollowingIt) {
  auto c = Client();
  for (const char* p : {"symlink", "escape", "escape_dir", "dir/up"}) {
    absl::StatusOr<struct stat> st = c->Lstat(Ctx(), p);
    ASSERT_TRUE(st.ok()) << p << ": " << st.status();
    EXPECT_TRUE(S_ISLNK(st->st_mode)) << p;
    EXPECT_EQ(syserr::ToErrno(c->Stat(Ctx(), p).status()), ELOOP) << p;
  }
  absl::StatusOr<struct stat> through = c->Lstat(Ctx(), "escape_dir/x");
  EXPECT_EQ(syserr::ToErrno(through.status()), ELOOP) << through.status();
  absl::StatusOr<struct stat> dir = c->Lstat(Ctx(), "dir");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_TRUE(S_ISDIR(dir->st_mode));
  absl::StatusOr<struct stat> fifo = c->Lstat(Ctx(), "fifo");
  ASSERT_TRUE(fifo.ok()) << fifo.status();
  EXPECT_TRUE(S_ISFIFO(fifo->st_mode));
  EXPECT_EQ(syserr::ToErrno(c->Lstat(Ctx(), "missing").status()), ENOENT);
}

TEST_P(DevutilTest, CloseReleasesEverything) {
  int before = testing::OpenFdCount();
  auto c = Client();
  ASSERT_TRUE(c->OpenAt(Ctx(), "file", O_RDONLY).ok());
  ASSERT_TRUE(c->DirentNames(Ctx()).ok());
  c->Close();
  c->Close();  // idempotent
  EXPECT_EQ(syserr::ToErrno(c->DirentNames(Ctx()).status()), EBADF);
  EXPECT_EQ(syserr::ToErrno(c->OpenAt(Ctx(), "file", 0).status()), EBADF);
  // The server notices the end of the connection and drops its FDs.
  fixture_->server().AwaitConnections(0);
  EXPECT_EQ(testing::OpenFdCount(), before);
  c.reset();
  EXPECT_EQ(testing::OpenFdCount(), before);
}

TEST_P(DevutilTest, ManyThreadsShareOneClient) {
  auto c = Client();
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        if ((i + t) % 4 == 0) {
          auto names = c->DirentNames(Ctx());
          if (names.ok() && std::count(names->begin(), names->end(), "file"))
            ++good;
        } else {
          auto f = c->OpenAt(Ctx(), "dir/file2", O_RDONLY);
          if (f.ok() && ReadAll(f->get()) == "in dir\n") ++good;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 8 * 40);
}

TEST_P(DevutilTest, ServerGoneMakesCallsFail) {
  auto c = Client();
  fixture_.reset();  // shuts the server down and removes the tree
  if (!GetParam()) {
    EXPECT_FALSE(c->DirentNames(Ctx()).ok());
    EXPECT_FALSE(c->OpenAt(Ctx(), "file", O_RDONLY).ok());
  }
  c.reset();
}

INSTANTIATE_TEST_SUITE_P(HostPathAndRpcPath, DevutilTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? "MountFdDonated" : "RpcOnly";
                         });

// ---------------------------------------------------------------------------

// NewGoferClient takes a unet::Socket: an FD that is not a socket is
// refused on the way there, and closed.
TEST(NewGoferClientTest, NonSocketFdFailsAndIsClosed) {
  int before = testing::OpenFdCount();
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  close(p[1]);
  absl::StatusOr<unet::Socket> sock = unet::Socket::FromFd(fd::OwnedFd(p[0]));
  EXPECT_FALSE(sock.ok());
  EXPECT_EQ(testing::OpenFdCount(), before);
  // A Socket that holds nothing fails the Mount and leaks nothing either.
  absl::StatusOr<std::unique_ptr<GoferClient>> c =
      NewGoferClient(Ctx(), "x", unet::Socket());
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(testing::OpenFdCount(), before);
}

class RecordingContext : public context::Context {
 public:
  void UninterruptibleSleepStart() const override { events.push_back("start"); }
  void UninterruptibleSleepFinish() const override {
    events.push_back("finish");
  }
  void Log(context::LogLevel level, absl::string_view msg) const override {
    if (level == context::LogLevel::kWarning) warnings.emplace_back(msg);
  }
  mutable std::vector<std::string> events;
  mutable std::vector<std::string> warnings;
};

TEST(NewGoferClientTest, PeerThatHangsUpFailsWithAWarning) {
  int before = testing::OpenFdCount();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  close(sv[1]);
  RecordingContext ctx;
  absl::StatusOr<std::unique_ptr<GoferClient>> c =
      NewGoferClient(ctx, "x", testing::AsSocket(fd::OwnedFd(sv[0])));
  EXPECT_EQ(syserr::ToErrno(c.status()), EIO);
  ASSERT_FALSE(ctx.warnings.empty());
  EXPECT_THAT(ctx.warnings[0], ::testing::HasSubstr("x"));
  ASSERT_GE(ctx.events.size(), 2u);
  EXPECT_EQ(ctx.events.front(), "start");
  EXPECT_EQ(ctx.events.back(), "finish");
  EXPECT_EQ(testing::OpenFdCount(), before);
}

TEST(NewGoferClientTest, MountIsAnUninterruptibleSleep) {
  auto f = testing::GoferFixture::Create();
  ASSERT_TRUE(f.ok());
  RecordingContext ctx;
  auto c = NewGoferClient(ctx, "c", testing::AsSocket((*f)->Connect()));
  ASSERT_TRUE(c.ok()) << c.status();
  // The outer bracket around NewGoferClient, and one around the Mount RPC.
  EXPECT_THAT(ctx.events,
              ::testing::ElementsAre("start", "start", "finish", "finish"));
  EXPECT_TRUE(ctx.warnings.empty());
}

// ---------------------------------------------------------------------------
// Context helpers and providers.

class MapProvider : public GoferClientProvider {
 public:
  std::shared_ptr<GoferClient> GetDevGoferClient(
      absl::string_view name) override {
    auto it = clients.find(std::string(name));
    return it == clients.end() ? nullptr : it->second;
  }
  std::map<std::string, std::shared_ptr<GoferClient>> clients;
};

TEST(ContextTest, HelpersReturnWhatWasStored) {
  EXPECT_EQ(GoferClientFromContext(Ctx()), nullptr);
  EXPECT_EQ(GoferClientProviderFromContext(Ctx()), nullptr);

  auto f = testing::GoferFixture::Create();
  ASSERT_TRUE(f.ok());
  auto made = NewGoferClient(Ctx(), "c1", testing::AsSocket((*f)->Connect()));
  ASSERT_TRUE(made.ok());
  std::shared_ptr<GoferClient> shared = std::move(*made);
  MapProvider provider;
  provider.clients["c1"] = shared;

  auto with_client = context::WithValue(Ctx(), CtxDevGoferClient, shared.get());
  EXPECT_EQ(GoferClientFromContext(with_client), shared.get());
  EXPECT_EQ(GoferClientProviderFromContext(with_client), nullptr);

  auto with_both =
      context::WithValue(with_client, CtxDevGoferClientProvider,
                         static_cast<GoferClientProvider*>(&provider));
  EXPECT_EQ(GoferClientFromContext(with_both), shared.get());
  GoferClientProvider* p = GoferClientProviderFromContext(with_both);
  ASSERT_EQ(p, &provider);
  EXPECT_EQ(p->GetDevGoferClient("c1"), shared);
  EXPECT_EQ(p->GetDevGoferClient("other"), nullptr);
  EXPECT_EQ(p->GetDevGoferClient("c1")->ContainerName(), "c1");
}

TEST(ContextTest, OtherPackagesKeysDoNotCollide) {
  enum class otherID { kZero = 0 };
  constexpr context::Key<otherID, GoferClient*> kOther{otherID::kZero};
  GoferClient* fake = reinterpret_cast<GoferClient*>(0x1000);
  auto ctx = context::WithValue(Ctx(), kOther, fake);
  EXPECT_EQ(GoferClientFromContext(ctx), nullptr);
}

}  // namespace
}  // namespace gvisor::devutil
