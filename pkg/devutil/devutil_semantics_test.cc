// The device semantics table of GoferClient::OpenAt (devutil.h), checked on
// both paths (mount FD donated: the host fast path; not donated: RPCs)
// against real nodes of every file type, served by the fsgofer backend of a
// real lisafs::Server: the host's /dev (null, zero, a loop block device if
// there is one) read-write, and a temporary tree with a FIFO, a listening
// unix socket, symlinks, a directory, a regular file, and mknod copies of
// /dev/null and of a block device where the process may make them. A row
// whose node cannot be made here is skipped, not the test; no row changes
// anything in the host's /dev.

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/fd/fd.h"
#include "pkg/fsgofer/fsgofer.h"
#include "pkg/lisafs/server.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "testing/gofer_fixture.h"

namespace gvisor::devutil {
namespace {

const context::Context& Ctx() { return context::Background(); }

// Row is one line of the table: open name with flags; want_errno 0 means
// it opens, and then the FD's type, access mode and O_NONBLOCK are checked.
struct Row {
  std::string name;
  int flags;
  int want_errno;
  mode_t want_type = 0;
  bool want_nonblock = false;
};

// Server serves directories over the fsgofer backend, as a dev gofer with
// everything allowed (devices passed through, FIFOs and sockets openable).
class Server {
 public:
  explicit Server(bool donate, bool host_fifo_open = true) {
    options_.donate_mount_fd = donate;
    options_.char_devices = fsgofer::CharDevicePolicy::kPassthrough;
    options_.host_fifo_open = host_fifo_open;
    options_.host_uds_open = true;
  }
  ~Server() {
    server_.Shutdown();
    server_.Wait();
  }

  // Client mounts dir and returns a GoferClient on it.
  std::unique_ptr<GoferClient> Client(const std::string& dir) {
    absl::StatusOr<std::pair<unet::Socket, unet::Socket>> pair =
        unet::Socket::SocketPair(SOCK_STREAM);
    EXPECT_TRUE(pair.ok()) << pair.status();
    if (!pair.ok()) return nullptr;
    absl::Status s =
        server_.StartConnection(std::move(pair->second), dir,
                                std::make_unique<fsgofer::Connection>(options_),
                                lisafs::ConnectionOptions());
    EXPECT_TRUE(s.ok()) << s;
    absl::StatusOr<std::unique_ptr<GoferClient>> c =
        NewGoferClient(Ctx(), "semantics", std::move(pair->first));
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    EXPECT_EQ((*c)->HasHostFD(), options_.donate_mount_fd);
    return *std::move(c);
  }

 private:
  fsgofer::Options options_;
  lisafs::Server server_;
};

// MakeNode makes a device node at path and checks that it can be opened
// (a filesystem mounted nodev lets mknod succeed but refuses the open);
// false, with the node removed, when it cannot be made or opened here.
bool MakeNode(const std::string& path, mode_t type, dev_t dev) {
  if (mknod(path.c_str(), type | 0666, dev) != 0) return false;
  fd::OwnedFd probe(open(path.c_str(), O_PATH | O_CLOEXEC));
  if (type == S_IFCHR) {
    probe.reset(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  }
  if (!probe.valid()) {
    unlink(path.c_str());
    return false;
  }
  return true;
}

class SemanticsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    std::string tmpl = absl::StrCat("/tmp/semantics.", getpid(), ".XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    const std::string& d = dir_;
    fd::OwnedFd f(open((d + "/file").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_EQ(write(f.get(), "hello\n", 6), 6);
    ASSERT_EQ(mkdir((d + "/dir").c_str(), 0755), 0);
    ASSERT_EQ(mkfifo((d + "/fifo").c_str(), 0644), 0);
    ASSERT_EQ(symlink("file", (d + "/symlink").c_str()), 0);
    ASSERT_EQ(symlink("dir", (d + "/dirlink").c_str()), 0);
    absl::StatusOr<unet::ServerSocket> l =
        unet::ServerSocket::Bind(d + "/socket", SOCK_STREAM, 0666);
    ASSERT_TRUE(l.ok()) << l.status();
    ASSERT_TRUE(l->Listen(4).ok());
    listener_ = *std::move(l);
    have_chr_ = MakeNode(d + "/chr", S_IFCHR, makedev(1, 3));
    have_blk_ = MakeNode(d + "/blk", S_IFBLK, makedev(7, 0));
  }
  void TearDown() override { testing::RemoveTree(dir_); }

  // Check opens every row with c and checks the outcome and the FD.
  void Check(GoferClient& c, const std::vector<Row>& rows) {
    for (const Row& r : rows) {
      SCOPED_TRACE(absl::StrCat(r.name, " flags ", r.flags,
                                GetParam() ? " (fast path)" : " (RPC path)"));
      absl::StatusOr<fd::OwnedFd> f = c.OpenAt(Ctx(), r.name, r.flags);
      if (r.want_errno != 0) {
        EXPECT_EQ(syserr::ToErrno(f.status()), r.want_errno) << f.status();
        continue;
      }
      ASSERT_TRUE(f.ok()) << f.status();
      struct stat st;
      ASSERT_EQ(fstat(f->get(), &st), 0);
      EXPECT_EQ(st.st_mode & S_IFMT, r.want_type);
      const int fl = fcntl(f->get(), F_GETFL);
      EXPECT_EQ(fl & O_ACCMODE, r.flags & O_ACCMODE);
      EXPECT_EQ((fl & O_NONBLOCK) != 0, r.want_nonblock)
          << "F_GETFL 0" << std::oct << fl;
      EXPECT_EQ(fcntl(f->get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    }
  }

  std::string dir_;
  unet::ServerSocket listener_;
  bool have_chr_ = false;
  bool have_blk_ = false;
};

TEST_P(SemanticsTest, HostDevCharacterDevicesOpenBlocking) {
  Server server(GetParam());
  std::unique_ptr<GoferClient> c = server.Client("/dev");
  ASSERT_NE(c, nullptr);
  Check(*c, {
                {"null", O_RDWR, 0, S_IFCHR, false},
                {"null", O_WRONLY, 0, S_IFCHR, false},
                {"zero", O_RDONLY, 0, S_IFCHR, false},
            });
}

TEST_P(SemanticsTest, HostLoopBlockDeviceIsEperm) {
  struct stat st;
  if (lstat("/dev/loop0", &st) != 0 || !S_ISBLK(st.st_mode)) {
    GTEST_SKIP() << "no /dev/loop0 block device here";
  }
  Server server(GetParam());
  std::unique_ptr<GoferClient> c = server.Client("/dev");
  ASSERT_NE(c, nullptr);
  Check(*c, {{"loop0", O_RDONLY, EPERM}, {"loop0", O_RDWR, EPERM}});
}

TEST_P(SemanticsTest, EveryFileTypeOfATree) {
  Server server(GetParam());
  std::unique_ptr<GoferClient> c = server.Client(dir_);
  ASSERT_NE(c, nullptr);
  // Regular files: the gofer opens them O_NONBLOCK (a lease must not make a
  // handler wait); the fast path opens them as the caller asked.
  const bool file_nonblock = !GetParam();
  std::vector<Row> rows = {
      {"file", O_RDONLY, 0, S_IFREG, file_nonblock},
      {"file", O_RDWR, 0, S_IFREG, file_nonblock},
      {"dir", O_RDONLY, EISDIR},
      {"dir", O_RDWR, EISDIR},
      // Neither waits for a partner: the gofer's walk holds the FIFO open
      // for reading (as gVisor's), so a write open finds a reader.
      {"fifo", O_WRONLY, 0, S_IFIFO, true},
      {"fifo", O_RDONLY, 0, S_IFIFO, true},
      {"socket", O_RDWR, ENXIO},
      {"socket", O_RDONLY, ENXIO},
      {"symlink", O_RDONLY, ELOOP},
      {"dirlink", O_RDONLY, ELOOP},
      {"dirlink/anything", O_RDONLY, ELOOP},
      {"missing", O_RDONLY, ENOENT},
      {"missing/file", O_RDONLY, ENOENT},
  };
  if (have_chr_) {
    rows.push_back({"chr", O_RDWR, 0, S_IFCHR, false});
    rows.push_back({"chr", O_RDONLY, 0, S_IFCHR, false});
  } else {
    std::cerr << "skipped: the mknod copy of /dev/null (not permitted here)\n";
  }
  if (have_blk_) {
    rows.push_back({"blk", O_RDONLY, EPERM});
    rows.push_back({"blk", O_WRONLY, EPERM});
  } else {
    std::cerr << "skipped: the mknod'd block device (not permitted here)\n";
  }
  Check(*c, rows);
}

TEST_P(SemanticsTest, TheGofersFifoPolicyHoldsOnBothPaths) {
  Server server(GetParam(), /*host_fifo_open=*/false);
  std::unique_ptr<GoferClient> c = server.Client(dir_);
  ASSERT_NE(c, nullptr);
  Check(*c, {{"fifo", O_RDONLY, EPERM}, {"fifo", O_WRONLY, EPERM}});
}

// A caller thread with an FD table of its own (unshare(CLONE_FILES), as a
// thread of a sandbox may have) gets the file it named: the fast path's
// reopen goes through the calling thread's FD table, not the process's.
// Through /proc/self/fd it reopened whatever the thread-group leader had at
// the O_PATH FD's number: here a regular file, for an OpenAt of "null".
TEST_P(SemanticsTest, AThreadWithItsOwnFdTableOpensWhatItNamed) {
  Server server(GetParam());
  std::unique_ptr<GoferClient> c = server.Client("/dev");
  ASSERT_NE(c, nullptr);
  // Warm up once (a first call may probe openat2).
  ASSERT_TRUE(c->OpenAt(Ctx(), "null", O_RDONLY).ok());
  // decoy: the lowest free FD number of the process, held open on a
  // regular file in the leader's table.
  fd::OwnedFd decoy(open((dir_ + "/file").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(decoy.valid());
  struct stat want;
  ASSERT_EQ(stat("/dev/null", &want), 0);
  absl::Status result;
  struct stat got = {};
  std::thread t([&] {
    if (unshare(CLONE_FILES) != 0) {
      result = syserr::FromLastErrno("unshare(CLONE_FILES)");
      return;
    }
    // In this thread's table the decoy's number is free again: the next
    // open (the fast path's O_PATH FD) takes it.
    close(decoy.get());
    absl::StatusOr<fd::OwnedFd> f = c->OpenAt(Ctx(), "null", O_RDONLY);
    if (!f.ok()) {
      result = f.status();
      return;
    }
    if (fstat(f->get(), &got) != 0) result = syserr::FromLastErrno("fstat");
  });
  t.join();
  ASSERT_TRUE(result.ok()) << result;
  EXPECT_TRUE(S_ISCHR(got.st_mode))
      << "opened mode 0" << std::oct << got.st_mode;
  EXPECT_EQ(got.st_rdev, want.st_rdev);
}

INSTANTIATE_TEST_SUITE_P(BothPaths, SemanticsTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? "MountFdDonated" : "RpcOnly";
                         });

}  // namespace
}  // namespace gvisor::devutil
