#include "pkg/fsgofer/host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

namespace gvisor::fsgofer::host {
namespace {

// TempDir is a scratch directory, removed (with its contents) at the end.
class HostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = absl::StrCat("/tmp/host_test.", getpid(), ".XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    dirfd_ = fd::OwnedFd(open(dir_.c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(dirfd_.valid());
  }
  void TearDown() override {
    dirfd_.reset();
    ASSERT_EQ(system(absl::StrCat("rm -rf ", dir_).c_str()), 0);
  }
  std::string Path(absl::string_view name) {
    return absl::StrCat(dir_, "/", name);
  }
  void WriteFile(absl::string_view name, absl::string_view data) {
    fd::OwnedFd f(open(Path(name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    ASSERT_TRUE(f.valid());
    ASSERT_EQ(write(f.get(), data.data(), data.size()),
              static_cast<ssize_t>(data.size()));
  }

  std::string dir_;
  fd::OwnedFd dirfd_;
};

TEST_F(HostTest, TryOpenRegularFileIsReadable) {
  WriteFile("f", "hello");
  absl::StatusOr<OpenedFile> f = TryOpen(dirfd_.get(), "f");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_FALSE(f->opath);
  int fl = fcntl(f->fd.get(), F_GETFL);
  EXPECT_EQ(fl & O_ACCMODE, O_RDONLY);
  EXPECT_NE(fl & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(f->fd.get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST_F(HostTest, TryOpenSymlinkGivesOPathOnTheLinkItself) {
  WriteFile("target", "x");
  ASSERT_EQ(symlink("target", Path("link").c_str()), 0);
  absl::StatusOr<OpenedFile> f = TryOpen(dirfd_.get(), "link");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->opath);
  absl::StatusOr<lisafs::Statx> st = Stat(f->fd.get());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->mode & S_IFMT, S_IFLNK);
}

TEST_F(HostTest, TryOpenMissingIsENOENT) {
  absl::StatusOr<OpenedFile> f = TryOpen(dirfd_.get(), "nope");
  EXPECT_EQ(syserr::ToErrno(f.status()), ENOENT);
  EXPECT_EQ(syserr::ToErrno(TryOpen(dirfd_.get(), "").status()), ENOENT);
}

TEST_F(HostTest, TryOpenSocketFallsBackToOPath) {
  absl::StatusOr<unet::ServerSocket> sock =
      unet::ServerSocket::Bind(Path("sock"), SOCK_STREAM);
  ASSERT_TRUE(sock.ok()) << sock.status();
  absl::StatusOr<OpenedFile> f = TryOpen(dirfd_.get(), "sock");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->opath);
}

TEST_F(HostTest, StatCopiesTheFields) {
  WriteFile("f", "12345");
  ASSERT_EQ(chmod(Path("f").c_str(), 0640), 0);
  absl::StatusOr<OpenedFile> f = TryOpen(dirfd_.get(), "f");
  ASSERT_TRUE(f.ok());
  absl::StatusOr<lisafs::Statx> st = Stat(f->fd.get());
  ASSERT_TRUE(st.ok());
  struct stat want;
  ASSERT_EQ(stat(Path("f").c_str(), &want), 0);
  EXPECT_EQ(st->mode, S_IFREG | 0640);
  EXPECT_EQ(st->size, 5u);
  EXPECT_EQ(st->ino, want.st_ino);
  EXPECT_EQ(st->nlink, 1u);
  EXPECT_EQ(st->uid, want.st_uid);
  EXPECT_EQ(st->dev_major, major(want.st_dev));
  EXPECT_EQ(st->dev_minor, minor(want.st_dev));
  EXPECT_EQ(st->mtime.sec, want.st_mtim.tv_sec);
  EXPECT_EQ(st->attributes, 0u);
  EXPECT_EQ(st->attributes_mask, 0u);
  EXPECT_NE(st->mask & STATX_BASIC_STATS, 0u);
}

TEST_F(HostTest, StatSupportedRefusesBlockDevicesWithEPERM) {
  if (geteuid() != 0) GTEST_SKIP() << "mknod of a block device needs root";
  if (mknod(Path("blk").c_str(), S_IFBLK | 0600, makedev(7, 200)) != 0) {
    ASSERT_EQ(errno, EPERM);
    GTEST_SKIP() << "mknod of a block device is not permitted here";
  }
  absl::StatusOr<OpenedFile> f = TryOpen(dirfd_.get(), "blk");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(syserr::ToErrno(StatSupported(f->fd.get()).status()), EPERM);
}

TEST_F(HostTest, ReopenGivesTheSameFileWithNewFlags) {
  WriteFile("f", "abc");
  absl::StatusOr<OpenedFile> f = TryOpen(dirfd_.get(), "f");
  ASSERT_TRUE(f.ok());
  absl::StatusOr<fd::OwnedFd> w = Reopen(f->fd.get(), O_WRONLY);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(fcntl(w->get(), F_GETFL) & O_ACCMODE, O_WRONLY);
  EXPECT_NE(fcntl(w->get(), F_GETFD) & FD_CLOEXEC, 0);
  const uint8_t data[] = {'X', 'Y'};
  absl::StatusOr<size_t> n = WriteAt(w->get(), data, 1);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  uint8_t buf[16];
  absl::StatusOr<size_t> r = ReadAt(f->fd.get(), buf, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), *r), "aXY");
}

TEST_F(HostTest, ReadAtStopsAtEOF) {
  WriteFile("f", "abc");
  absl::StatusOr<OpenedFile> f = TryOpen(dirfd_.get(), "f");
  ASSERT_TRUE(f.ok());
  uint8_t buf[16];
  absl::StatusOr<size_t> r = ReadAt(f->fd.get(), buf, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 1u);
  r = ReadAt(f->fd.get(), buf, 10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 0u);
}

TEST_F(HostTest, SetNonBlockingSetsTheFlagAndIgnoresOPath) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  fd::OwnedFd r(p[0]), w(p[1]);
  ASSERT_TRUE(SetNonBlocking(r.get()).ok());
  EXPECT_NE(fcntl(r.get(), F_GETFL) & O_NONBLOCK, 0);
  fd::OwnedFd op(open(dir_.c_str(), O_PATH));
  ASSERT_TRUE(op.valid());
  EXPECT_TRUE(SetNonBlocking(op.get()).ok());
}

TEST_F(HostTest, GetdentsDropsDotsAndFillsDevices) {
  WriteFile("a", "");
  ASSERT_EQ(mkdir(Path("d").c_str(), 0755), 0);
  ASSERT_EQ(symlink("a", Path("l").c_str()), 0);
  fd::OwnedFd d(open(dir_.c_str(), O_RDONLY | O_DIRECTORY));
  std::vector<lisafs::Dirent64> ents;
  ASSERT_TRUE(Getdents(d.get(), 65536, false, &ents).ok());
  std::set<std::string> names;
  struct stat st;
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  for (const auto& e : ents) {
    names.insert(e.name);
    EXPECT_EQ(e.dev_major, major(st.st_dev));
    EXPECT_EQ(e.dev_minor, minor(st.st_dev));
    if (e.name == "d") {
      EXPECT_EQ(e.type, DT_DIR);
    }
    if (e.name == "l") {
      EXPECT_EQ(e.type, DT_LNK);
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"a", "d", "l"}));
  // At the end: nothing more, until a seek to 0.
  ents.clear();
  ASSERT_TRUE(Getdents(d.get(), 65536, false, &ents).ok());
  EXPECT_TRUE(ents.empty());
  ASSERT_TRUE(Getdents(d.get(), 65536, true, &ents).ok());
  EXPECT_EQ(ents.size(), 3u);
}

TEST_F(HostTest, GetdentsHonoursTheBudget) {
  for (int i = 0; i < 50; ++i) WriteFile(absl::StrCat("file", i), "");
  fd::OwnedFd d(open(dir_.c_str(), O_RDONLY | O_DIRECTORY));
  std::set<std::string> names;
  for (int round = 0; round < 100; ++round) {
    std::vector<lisafs::Dirent64> ents;
    ASSERT_TRUE(Getdents(d.get(), 200, false, &ents).ok());
    if (ents.empty()) break;
    // Each host record of "fileNN" is 32 bytes: 200 bytes hold at most 6.
    EXPECT_LE(ents.size(), 6u);
    for (const auto& e : ents) names.insert(e.name);
  }
  EXPECT_EQ(names.size(), 50u);
}

TEST_F(HostTest, GetdentsWithATinyBudgetReturnsNothing) {
  WriteFile("a", "");
  fd::OwnedFd d(open(dir_.c_str(), O_RDONLY | O_DIRECTORY));
  std::vector<lisafs::Dirent64> ents;
  ASSERT_TRUE(Getdents(d.get(), 10, false, &ents).ok());
  EXPECT_TRUE(ents.empty());
}

TEST_F(HostTest, OpenDirAtWalksDirectoriesButNotSymlinks) {
  ASSERT_EQ(mkdir(Path("a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(Path("a/b").c_str(), 0755), 0);
  ASSERT_EQ(symlink("/", Path("a/up").c_str()), 0);
  std::vector<std::string> ok = {"a", "b"};
  absl::StatusOr<fd::OwnedFd> f = OpenDirAt(dirfd_.get(), ok);
  ASSERT_TRUE(f.ok()) << f.status();
  struct stat got, want;
  ASSERT_EQ(fstat(f->get(), &got), 0);
  ASSERT_EQ(stat(Path("a/b").c_str(), &want), 0);
  EXPECT_EQ(got.st_ino, want.st_ino);
  std::vector<std::string> bad = {"a", "up"};
  int err = syserr::ToErrno(OpenDirAt(dirfd_.get(), bad).status());
  EXPECT_TRUE(err == ELOOP || err == ENOTDIR) << err;
  std::vector<std::string> nul = {std::string("a\0b", 3)};
  EXPECT_EQ(syserr::ToErrno(OpenDirAt(dirfd_.get(), nul).status()), EINVAL);
}

TEST_F(HostTest, ProcFdPaths) {
  EXPECT_EQ(ProcFdPath(7), "/proc/self/fd/7");
  EXPECT_EQ(ProcFdPath(7, "x"), "/proc/self/fd/7/x");
}

}  // namespace
}  // namespace gvisor::fsgofer::host
