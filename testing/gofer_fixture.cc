#include "testing/gofer_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

namespace gvisor::testing {

namespace {

absl::Status Errno(absl::string_view what, absl::string_view path) {
  const int err = errno;
  return syserr::FromErrno(err, absl::StrCat(what, " ", path));
}

absl::Status WriteFile(const std::string& path, absl::string_view data,
                       mode_t mode) {
  fd::OwnedFd f(
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!f.valid()) return Errno("create", path);
  if (fchmod(f.get(), mode) != 0) return Errno("chmod", path);
  if (write(f.get(), data.data(), data.size()) !=
      static_cast<ssize_t>(data.size())) {
    return Errno("write", path);
  }
  return absl::OkStatus();
}

absl::Status Mkdir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0) return Errno("mkdir", path);
  if (chmod(path.c_str(), 0755) != 0) return Errno("chmod", path);
  return absl::OkStatus();
}

absl::Status Symlink(const std::string& target, const std::string& path) {
  if (symlink(target.c_str(), path.c_str()) != 0) {
    return Errno("symlink", path);
  }
  return absl::OkStatus();
}

// MakeDevice makes a character device node and checks that it can be
// opened (a filesystem mounted nodev refuses that).
bool MakeDevice(const std::string& path, int maj, int min) {
  if (mknod(path.c_str(), S_IFCHR | 0666, makedev(maj, min)) != 0) return false;
  chmod(path.c_str(), 0666);
  int f = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (f < 0) {
    unlink(path.c_str());
    return false;
  }
  close(f);
  return true;
}

int MakeWritable(const char* path, const struct stat* st, int type,
                 struct FTW*) {
  if (type == FTW_D || type == FTW_DNR) chmod(path, 0700);
  return 0;
}

int RemoveOne(const char* path, const struct stat*, int type, struct FTW*) {
  if (type == FTW_DP) {
    rmdir(path);
  } else {
    unlink(path);
  }
  return 0;
}

}  // namespace

void RemoveTree(const std::string& path) {
  nftw(path.c_str(), MakeWritable, 16, FTW_PHYS);
  nftw(path.c_str(), RemoveOne, 16, FTW_PHYS | FTW_DEPTH);
}

fsgofer::Options FsgoferOptions(const GoferOptions& options) {
  fsgofer::Options o;
  o.donate_mount_fd = options.donate_mount_fd;
  o.char_devices = fsgofer::CharDevicePolicy::kPassthrough;
  o.host_fifo_open = true;
  o.host_uds_open = true;
  o.host_uds_create = true;
  return o;
}

absl::StatusOr<std::unique_ptr<GoferFixture>> GoferFixture::Create(
    GoferOptions options) {
  std::unique_ptr<GoferFixture> f(new GoferFixture);
  f->options_ = options;
  if (absl::Status s = f->Build(); !s.ok()) return s;
  f->server_ = std::make_unique<lisafs::Server>();
  return f;
}

absl::Status GoferFixture::Build() {
  // Under /tmp, not TEST_TMPDIR: socket paths must fit in sun_path.
  std::string tmpl = absl::StrCat("/tmp/gofer.", getpid(), ".XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) return Errno("mkdtemp", tmpl);
  base_ = tmpl;
  root_ = base_ + "/root";
  outside_dir_ = base_ + "/outside";
  outside_ = outside_dir_ + "/secret";
  if (absl::Status s = Mkdir(root_); !s.ok()) return s;
  if (absl::Status s = Mkdir(outside_dir_); !s.ok()) return s;
  if (absl::Status s = WriteFile(outside_, "secret\n", 0644); !s.ok()) return s;

  const std::string& r = root_;
  for (const auto& [path, data, mode] : std::initializer_list<
           std::tuple<std::string, absl::string_view, mode_t>>{
           {r + "/file", "hello\n", 0644},
           {r + "/empty", "", 0600},
       }) {
    if (absl::Status s = WriteFile(path, data, mode); !s.ok()) return s;
  }
  for (const std::string& d : {r + "/dir", r + "/dir/nested", r + "/dev"}) {
    if (absl::Status s = Mkdir(d); !s.ok()) return s;
  }
  if (absl::Status s = WriteFile(r + "/dir/file2", "in dir\n", 0644); !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteFile(r + "/dir/nested/deep", "deep\n", 0644);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Symlink("../file", r + "/dir/up"); !s.ok()) return s;
  if (absl::Status s = Symlink("file", r + "/symlink"); !s.ok()) return s;
  if (absl::Status s = Symlink(outside_, r + "/escape"); !s.ok()) return s;
  if (absl::Status s = Symlink(outside_dir_, r + "/escape_dir"); !s.ok()) {
    return s;
  }
  if (mkfifo((r + "/fifo").c_str(), 0644) != 0) return Errno("mkfifo", r);
  chmod((r + "/fifo").c_str(), 0644);

  absl::StatusOr<unet::ServerSocket> l =
      unet::ServerSocket::Bind(r + "/socket", SOCK_STREAM, 0666);
  if (!l.ok()) return l.status();
  if (absl::Status s = l->Listen(16); !s.ok()) return s;
  listener_ = fd::OwnedFd(dup(l->fd()));
  if (!listener_.valid()) return Errno("dup", "listener");

  if (MakeDevice(r + "/dev/null", 1, 3) && MakeDevice(r + "/dev/zero", 1, 5)) {
    real_device_nodes_ = true;
    devices_dir_ = r + "/dev";
    devices_note_ = "device nodes 1:3 and 1:5 made with mknod in the tree";
  } else {
    unlink((r + "/dev/null").c_str());
    real_device_nodes_ = false;
    devices_dir_ = "/dev";
    devices_note_ =
        "mknod of character devices is not permitted here; ConnectDevices "
        "serves the host's /dev, read-only";
  }
  return absl::OkStatus();
}

GoferFixture::~GoferFixture() {
  if (server_ != nullptr) {
    server_->Shutdown();
    server_->Wait();
    server_.reset();
  }
  listener_.reset();
  if (!base_.empty()) RemoveTree(base_);
}

absl::StatusOr<fd::OwnedFd> GoferFixture::Start(const std::string& mount_path,
                                                bool readonly) {
  absl::StatusOr<std::pair<unet::Socket, unet::Socket>> pair =
      unet::Socket::SocketPair(SOCK_STREAM);
  if (!pair.ok()) return pair.status();
  lisafs::ConnectionOptions copts;
  copts.readonly = readonly;
  if (absl::Status s = server_->StartConnection(
          std::move(pair->second), mount_path,
          std::make_unique<fsgofer::Connection>(FsgoferOptions(options_)),
          copts);
      !s.ok()) {
    return s;
  }
  return pair->first.Release();
}

absl::StatusOr<fd::OwnedFd> GoferFixture::Connect() {
  return Start(root_, options_.readonly);
}

absl::StatusOr<fd::OwnedFd> GoferFixture::ConnectDevices() {
  return Start(devices_dir_, options_.readonly || !real_device_nodes_);
}

absl::StatusOr<Gofer> StartGofer(GoferOptions options) {
  absl::StatusOr<std::unique_ptr<GoferFixture>> f =
      GoferFixture::Create(options);
  if (!f.ok()) return f.status();
  absl::StatusOr<fd::OwnedFd> c = (*f)->Connect();
  if (!c.ok()) return c.status();
  return Gofer{*std::move(f), *std::move(c)};
}

}  // namespace gvisor::testing
