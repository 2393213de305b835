#include "testing/gofer_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

namespace gvisor::testing {

namespace {

absl::Status Errno(absl::string_view what, absl::string_view path) {
  return syserr::FromLastErrno(absl::StrCat(what, " ", path));
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

// The devices ConnectDevices serves: name under /dev, major, minor.
constexpr std::tuple<const char*, int, int> kDevices[] = {{"null", 1, 3},
                                                          {"zero", 1, 5}};

// CheckDevice checks that path is the character device maj:min and opens
// read-write (a mount with nodev refuses that).
absl::Status CheckDevice(const std::string& path, int maj, int min) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Errno("stat", path);
  if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(maj, min)) {
    return syserr::FromErrno(
        ENODEV,
        absl::StrCat(path, " is not the character device ", maj, ":", min));
  }
  fd::OwnedFd f(open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!f.valid()) return Errno("open", path);
  return absl::OkStatus();
}

// KeptMountFlags returns the mount(2) flags for the statfs(2) flags f that
// a remount must keep (the kernel locks them on a mount inherited from a
// more privileged namespace, and refuses a remount that clears them).
unsigned long KeptMountFlags(unsigned long f) {
  unsigned long out = 0;
  for (const auto& [st, ms] :
       std::initializer_list<std::pair<unsigned long, unsigned long>>{
           {ST_NOSUID, MS_NOSUID},
           {ST_NODEV, MS_NODEV},
           {ST_NOEXEC, MS_NOEXEC},
           {ST_NOATIME, MS_NOATIME},
           {ST_NODIRATIME, MS_NODIRATIME},
           {ST_RELATIME, MS_RELATIME},
       }) {
    if ((f & st) != 0) out |= ms;
  }
  return out;
}

// BindReadOnly bind-mounts source onto target and makes that mount
// read-only, so that through it the node cannot be changed (chmod, chown,
// utimes: EROFS), while a device node still opens for writing.
absl::Status BindReadOnly(const std::string& source,
                          const std::string& target) {
  if (mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return Errno("bind mount onto", target);
  }
  struct statfs sf;
  if (statfs(target.c_str(), &sf) != 0) return Errno("statfs", target);
  const unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID |
                              MS_NOEXEC | KeptMountFlags(sf.f_flags);
  if (mount(nullptr, target.c_str(), nullptr, flags, nullptr) != 0) {
    return Errno("read-only remount of", target);
  }
  if (statfs(target.c_str(), &sf) != 0) return Errno("statfs", target);
  if ((sf.f_flags & ST_RDONLY) == 0) {
    return syserr::FromErrno(EPERM,
                             absl::StrCat(target, " did not become read-only"));
  }
  return absl::OkStatus();
}

// PrivateMounts is a mount namespace of the fixture's own and a directory
// opened in it.
struct PrivateMounts {
  fd::OwnedFd ns;
  fd::OwnedFd dir;
};

// BindInNewNamespace moves the calling thread (only it: CLONE_NEWNS implies
// CLONE_FS, and the rest of the process keeps its namespace) into a new
// mount namespace, makes every mount there private, so that nothing mounted
// below propagates to the namespace it came from (or any other), and there
// bind-mounts the host's /dev/null and /dev/zero read-only onto dir/null and
// dir/zero. It returns an FD on the namespace, which keeps it and its
// mounts alive after the thread exits, and top (dir's parent) opened in it:
// a lookup through that FD sees the mounts, from any thread or process.
absl::StatusOr<PrivateMounts> BindInNewNamespace(const std::string& top,
                                                 const std::string& dir) {
  if (unshare(CLONE_NEWNS) != 0) {
    return syserr::FromLastErrno("unshare(CLONE_NEWNS)");
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return syserr::FromLastErrno("making / private");
  }
  for (const auto& [name, maj, min] : kDevices) {
    RETURN_IF_ERROR(BindReadOnly(absl::StrCat("/dev/", name),
                                 absl::StrCat(dir, "/", name)));
  }
  PrivateMounts m;
  m.ns = fd::OwnedFd(open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC));
  if (!m.ns.valid()) return syserr::FromLastErrno("open of the namespace");
  m.dir = fd::OwnedFd(open(top.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!m.dir.valid()) return Errno("open", top);
  return m;
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
  RETURN_IF_ERROR(f->Build());
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
  RETURN_IF_ERROR(Mkdir(root_));
  RETURN_IF_ERROR(Mkdir(outside_dir_));
  RETURN_IF_ERROR(WriteFile(outside_, "secret\n", 0644));

  const std::string& r = root_;
  for (const auto& [path, data, mode] : std::initializer_list<
           std::tuple<std::string, absl::string_view, mode_t>>{
           {r + "/file", "hello\n", 0644},
           {r + "/empty", "", 0600},
       }) {
    RETURN_IF_ERROR(WriteFile(path, data, mode));
  }
  for (const std::string& d : {r + "/dir", r + "/dir/nested", r + "/dev"}) {
    RETURN_IF_ERROR(Mkdir(d));
  }
  RETURN_IF_ERROR(WriteFile(r + "/dir/file2", "in dir\n", 0644));
  RETURN_IF_ERROR(WriteFile(r + "/dir/nested/deep", "deep\n", 0644));
  RETURN_IF_ERROR(Symlink("../file", r + "/dir/up"));
  RETURN_IF_ERROR(Symlink("file", r + "/symlink"));
  RETURN_IF_ERROR(Symlink(outside_, r + "/escape"));
  RETURN_IF_ERROR(Symlink(outside_dir_, r + "/escape_dir"));
  if (mkfifo((r + "/fifo").c_str(), 0644) != 0) return Errno("mkfifo", r);
  chmod((r + "/fifo").c_str(), 0644);

  ASSIGN_OR_RETURN(unet::ServerSocket l,
                   unet::ServerSocket::Bind(r + "/socket", SOCK_STREAM, 0666));
  RETURN_IF_ERROR(l.Listen(16));
  listener_ = fd::OwnedFd(dup(l.fd()));
  if (!listener_.valid()) return Errno("dup", "listener");

  if (MakeDevice(r + "/dev/null", 1, 3) && MakeDevice(r + "/dev/zero", 1, 5)) {
    device_source_ = DeviceSource::kMknod;
    devices_dir_ = r + "/dev";
    devices_note_ = "device nodes 1:3 and 1:5 made with mknod in the tree";
    return absl::OkStatus();
  }
  unlink((r + "/dev/null").c_str());
  unlink((r + "/dev/zero").c_str());
  absl::Status bound = BindHostDevices();
  if (bound.ok()) {
    device_source_ = DeviceSource::kBindMount;
    devices_note_ =
        "mknod of character devices is not permitted here; ConnectDevices "
        "serves the host's /dev/null and /dev/zero, bind-mounted read-only "
        "(the devices open read-write) in a mount namespace of the "
        "fixture's own";
    return absl::OkStatus();
  }
  devices_dir_fd_.reset();
  devices_ns_.reset();
  RemoveTree(base_ + "/devices");
  device_source_ = DeviceSource::kHostDev;
  devices_dir_ = "/dev";
  devices_note_ = absl::StrCat(
      "mknod of character devices is not permitted here, nor bind mounts in "
      "a mount namespace of the fixture's own (",
      bound.message(), "); ConnectDevices serves the host's /dev, read-only");
  return absl::OkStatus();
}

absl::Status GoferFixture::BindHostDevices() {
  // Outside root(), so that Connect() never reaches the mount points.
  const std::string top = base_ + "/devices";
  const std::string dir = top + "/dev";
  RETURN_IF_ERROR(Mkdir(top));
  RETURN_IF_ERROR(Mkdir(dir));
  for (const auto& [name, maj, min] : kDevices) {
    RETURN_IF_ERROR(WriteFile(absl::StrCat(dir, "/", name), "", 0644));
  }
  // On a thread of its own, which exits when done: unshare moves only it.
  absl::StatusOr<PrivateMounts> m;
  std::thread([&] { m = BindInNewNamespace(top, dir); }).join();
  RETURN_IF_ERROR(m.status());
  devices_ns_ = std::move(m->ns);
  devices_dir_fd_ = std::move(m->dir);
  // The mount path reaches dir through the FD on top, a magic link that a
  // lookup follows (the server refuses "." in a mount path, and fsgofer's
  // Mount does not follow the last component).
  std::string path =
      absl::StrCat("/proc/", getpid(), "/fd/", devices_dir_fd_.get(), "/dev");
  for (const auto& [name, maj, min] : kDevices) {
    RETURN_IF_ERROR(CheckDevice(absl::StrCat(path, "/", name), maj, min));
  }
  devices_dir_ = std::move(path);
  return absl::OkStatus();
}

GoferFixture::~GoferFixture() {
  if (server_ != nullptr) {
    server_->Shutdown();
    server_->Wait();
    server_.reset();
  }
  listener_.reset();
  // Closing the last FD on the private namespace unmounts its mounts.
  devices_dir_fd_.reset();
  devices_ns_.reset();
  if (!base_.empty()) RemoveTree(base_);
}

absl::StatusOr<fd::OwnedFd> GoferFixture::Start(const std::string& mount_path,
                                                bool readonly) {
  absl::StatusOr<std::pair<unet::Socket, unet::Socket>> pair =
      unet::Socket::SocketPair(SOCK_STREAM);
  if (!pair.ok()) return pair.status();
  lisafs::ConnectionOptions copts;
  copts.readonly = readonly;
  RETURN_IF_ERROR(server_->StartConnection(
      std::move(pair->second), mount_path,
      std::make_unique<fsgofer::Connection>(FsgoferOptions(options_)), copts));
  return pair->first.Release();
}

absl::StatusOr<fd::OwnedFd> GoferFixture::Connect() {
  return Start(root_, options_.readonly);
}

absl::StatusOr<fd::OwnedFd> GoferFixture::ConnectDevices() {
  return Start(devices_dir_, options_.readonly || !writable_devices());
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
