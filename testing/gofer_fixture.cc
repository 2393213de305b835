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
#include <sys/wait.h>
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

// Step is the outcome of a system call made where nothing may allocate (a
// forked child): the failed call, or nullptr, and its errno.
struct Step {
  const char* what = nullptr;
  int err = 0;
  bool ok() const { return what == nullptr; }
};

Step Failed(const char* what) { return {what, errno}; }

// BindReadOnly bind-mounts source onto target and makes that mount
// read-only, so that through it the node cannot be changed (chmod, chown,
// utimes: EROFS), while a device node still opens for writing. System
// calls only.
Step BindReadOnly(const char* source, const char* target) {
  if (mount(source, target, nullptr, MS_BIND, nullptr) != 0) {
    return Failed("bind mount");
  }
  struct statfs sf;
  if (statfs(target, &sf) != 0) return Failed("statfs");
  const unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID |
                              MS_NOEXEC | KeptMountFlags(sf.f_flags);
  if (mount(nullptr, target, nullptr, flags, nullptr) != 0) {
    return Failed("read-only remount");
  }
  if (statfs(target, &sf) != 0) return Failed("statfs");
  if ((sf.f_flags & ST_RDONLY) == 0) return {"read-only remount", EPERM};
  return {};
}

// MountTargets are the paths BindHere works on, made beforehand: top, a
// directory, and the empty files top/dev/null and top/dev/zero.
struct MountTargets {
  const char* top;
  const char* null;
  const char* zero;
};

// BindHere runs in a mount namespace of the caller's own (made by the
// caller). It makes every mount there private, so that nothing mounted
// below propagates to the namespace it came from (or any other), there
// bind-mounts the host's /dev/null and /dev/zero read-only onto t.null and
// t.zero, and opens the namespace (*ns: the FD keeps it and its mounts
// alive once the caller is gone) and t.top in it (*dir: a lookup through
// that FD sees the mounts, from any thread or process). System calls only.
Step BindHere(const MountTargets& t, int* ns, int* dir) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return Failed("making / private");
  }
  for (const auto& [source, target] :
       {std::pair("/dev/null", t.null), std::pair("/dev/zero", t.zero)}) {
    if (Step s = BindReadOnly(source, target); !s.ok()) return s;
  }
  *ns = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (*ns < 0) return Failed("open of the mount namespace");
  *dir = open(t.top, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (*dir < 0) {
    Step s = Failed("open of the devices directory");
    close(*ns);
    return s;
  }
  return {};
}

// PrivateMounts is a mount namespace of the fixture's own and a directory
// opened in it.
struct PrivateMounts {
  fd::OwnedFd ns;
  fd::OwnedFd dir;
};

absl::StatusOr<PrivateMounts> Mounted(Step s, int ns, int dir) {
  if (!s.ok()) return syserr::FromErrno(s.err, s.what);
  return PrivateMounts{fd::OwnedFd(ns), fd::OwnedFd(dir)};
}

// BindOnThread runs BindHere on a thread of its own, moved into a new mount
// namespace: only it moves (CLONE_NEWNS implies CLONE_FS; the rest of the
// process keeps its namespace), and it exits when done. It needs
// CAP_SYS_ADMIN in the process's user namespace (root, or "root" inside
// Bazel's linux-sandbox).
absl::StatusOr<PrivateMounts> BindOnThread(const MountTargets& t) {
  Step s;
  int ns = -1;
  int dir = -1;
  std::thread([&] {
    s = unshare(CLONE_NEWNS) == 0 ? BindHere(t, &ns, &dir)
                                  : Failed("unshare(CLONE_NEWNS)");
  }).join();
  return Mounted(s, ns, dir);
}

// BindInChild runs BindHere in a forked child moved into a new user
// namespace (where it holds every capability) and a new mount namespace,
// which a multi-threaded process cannot make for one of its threads; the
// child sends back the outcome and the two FDs and exits. For a user who is
// not root, where unprivileged user namespaces are allowed.
absl::StatusOr<PrivateMounts> BindInChild(const MountTargets& t) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return syserr::FromLastErrno("socketpair");
  }
  fd::OwnedFd ours(sv[0]);
  fd::OwnedFd theirs(sv[1]);
  // Made before fork: the child only makes system calls.
  struct msghdr msg = {};
  Step report;
  struct iovec iov = {&report, sizeof(report)};
  alignas(struct cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  const pid_t pid = fork();
  if (pid < 0) return syserr::FromLastErrno("fork");
  if (pid == 0) {
    int fds[2] = {-1, -1};
    report = unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0
                 ? BindHere(t, &fds[0], &fds[1])
                 : Failed("unshare(CLONE_NEWUSER|CLONE_NEWNS)");
    // report.what points at a string literal, at the same address in the
    // parent (fork copies the address space).
    if (report.ok()) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(fds));
      memcpy(CMSG_DATA(c), fds, sizeof(fds));
    }
    _exit(sendmsg(theirs.get(), &msg, MSG_NOSIGNAL) < 0 ? 1 : 0);
  }
  theirs.reset();
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  const ssize_t n = recvmsg(ours.get(), &msg, MSG_CMSG_CLOEXEC);
  const int recv_err = errno;
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof(report))) {
    return syserr::FromErrno(n < 0 ? recv_err : EPROTO,
                             "the child that mounts the devices");
  }
  int fds[2] = {-1, -1};
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c != nullptr && c->cmsg_level == SOL_SOCKET &&
      c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(fds))) {
    memcpy(fds, CMSG_DATA(c), sizeof(fds));
  }
  if (report.ok() && (fds[0] < 0 || fds[1] < 0)) {
    if (fds[0] >= 0) close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    return syserr::FromErrno(EPROTO, "the child sent no FDs");
  }
  return Mounted(report, fds[0], fds[1]);
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
  const std::string null = top + "/dev/null";
  const std::string zero = top + "/dev/zero";
  RETURN_IF_ERROR(Mkdir(top));
  RETURN_IF_ERROR(Mkdir(top + "/dev"));
  RETURN_IF_ERROR(WriteFile(null, "", 0644));
  RETURN_IF_ERROR(WriteFile(zero, "", 0644));
  const MountTargets t = {top.c_str(), null.c_str(), zero.c_str()};
  absl::StatusOr<PrivateMounts> m = BindOnThread(t);
  if (!m.ok() && syserr::ToErrno(m.status()) == EPERM) {
    absl::StatusOr<PrivateMounts> c = BindInChild(t);
    if (!c.ok()) {
      return syserr::FromErrno(
          syserr::ToErrno(c.status()),
          absl::StrCat(m.status().message(), "; ", c.status().message()));
    }
    m = std::move(c);
  }
  RETURN_IF_ERROR(m.status());
  devices_ns_ = std::move(m->ns);
  devices_dir_fd_ = std::move(m->dir);
  // The mount path reaches top/dev through the FD on top, a magic link that
  // a lookup follows (the server refuses "." in a mount path, and fsgofer's
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
