// Runs the devgofer binary (its path is argv[1]) as a real process: bad
// flags, --listen with several clients and SIGTERM, --fd, and the flags
// that reach the backend. Readiness is read from the gofer's log, never
// waited for with sleeps.

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/messages.h"
#include "pkg/sdnotify/notify_listener.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "testing/raw_client.h"
#include "tools/devgofer/gofer_process.h"
#include "tools/version/version.h"

namespace gvisor::devgofer {
namespace {

using ::gvisor::testing::RawClient;
using ::gvisor::testing::Reply;
using lisafs::MID;

const char* g_binary = nullptr;

// Spawn starts devgofer with args; if child_fd >= 0 it becomes the
// child's FD 3.
void Spawn(const std::vector<std::string>& args, int child_fd, GoferChild* p) {
  absl::Status s = SpawnGofer(g_binary, args, child_fd, p);
  ASSERT_TRUE(s.ok()) << s;
}

class DevgoferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = absl::StrCat("/tmp/devgofer_test.", getpid(), ".XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    sock_ = dir_ + ".sock";
    fd::OwnedFd f(open((dir_ + "/file").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_EQ(write(f.get(), "content", 7), 7);
  }
  void TearDown() override {
    unlink((dir_ + "/file").c_str());
    rmdir((dir_ + "/made").c_str());
    rmdir(dir_.c_str());
    unlink(sock_.c_str());
  }

  // ConnectPath connects to the listening gofer.
  std::unique_ptr<RawClient> ConnectPath() {
    absl::StatusOr<unet::Socket> s = unet::Socket::Connect(sock_, SOCK_STREAM);
    EXPECT_TRUE(s.ok()) << s.status();
    return std::make_unique<RawClient>(s.ok() ? s->Release() : fd::OwnedFd());
  }

  std::string dir_;
  std::string sock_;
};

// Walk1 walks one name from FDID 1 and returns its FDID (0 on failure).
lisafs::FDID Walk1(RawClient& c, const std::string& name) {
  lisafs::WalkReq w;
  w.dir_fd = 1;
  w.path = {name};
  absl::StatusOr<Reply> r = c.Call(MID::kWalk, w);
  if (!r.ok() || r->mid != 5) return 0;
  absl::StatusOr<lisafs::WalkResp> resp = r->As<lisafs::WalkResp>();
  if (!resp.ok() || resp->inodes.size() != 1) return 0;
  return resp->inodes[0].control_fd;
}

TEST_F(DevgoferTest, BadFlagsExitTwoWithAMessage) {
  for (const auto& [args, message] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{}, "exactly one of --listen and --fd"},
           {{"--listen=/tmp/x", "--bogus"}, "unknown flag --bogus"},
           {{"--fd=3", "--char_devices=emulated"}, "--char_devices"},
           {{"--fd=nope"}, "--fd"},
           {{"--listen=/tmp/x", "--root=/does/not/exist"}, "--root"},
           {{"--listen=/tmp/x", "--root=/etc/passwd"}, "not a directory"},
           {{"--fd=97"}, "--fd=97 is not a unix socket"},
           {{"--listen=/tmp/x", "--ready_fd=97"}, "--ready_fd=97: EBADF"},
           {{"--fd=3", "--readonly", "--donate_mount_fd"},
            "would bypass --readonly"},
           {{"--fd=3", "--char_devices=deny", "--donate_mount_fd"},
            "would bypass --char_devices=deny"},
       }) {
    GoferChild p;
    Spawn(args, -1, &p);
    EXPECT_EQ(p.Wait(), 2) << p.log;
    // One line: the message, then where to look.
    size_t at = p.log.find(message);
    ASSERT_NE(at, std::string::npos) << p.log;
    size_t eol = p.log.find('\n', at);
    ASSERT_NE(eol, std::string::npos);
    EXPECT_TRUE(absl::EndsWith(p.log.substr(0, eol), "; see devgofer --help"))
        << p.log;
    EXPECT_EQ(p.log.find("devgofer:", eol), std::string::npos)
        << "more than one line of error:\n"
        << p.log;
  }
}

// What a user sees on a command line that does not parse: exactly one line
// on stderr, exit 2.
TEST_F(DevgoferTest, UsageErrorsAreOneLineAndExitTwo) {
  for (const auto& [args, line] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--lisen=/tmp/x"},
            "devgofer: unknown flag --lisen (did you mean --listen?); see "
            "devgofer --help\n"},
           {{"--listen=/tmp/x", "--nosandbx"},
            "devgofer: unknown flag --nosandbx (did you mean --nosandbox?); "
            "see devgofer --help\n"},
           {{"-listen=/tmp/x"},
            "devgofer: unexpected argument \"-listen=/tmp/x\" (flags start "
            "with --); see devgofer --help\n"},
           {{"--listen=/tmp/x", "--shutdown_grace=10"},
            "devgofer: --shutdown_grace=10: a duration needs a unit, e.g. "
            "10s, 500ms; see devgofer --help\n"},
           {{"--listen=/tmp/x", "--workers=many"},
            "devgofer: --workers: \"many\" is not a count; see devgofer "
            "--help\n"},
           {{"--listen=/tmp/x", "--log_dir=/does/not/exist"},
            "devgofer: --log_dir=/does/not/exist: not an existing directory; "
            "see devgofer --help\n"},
       }) {
    GoferChild p;
    Spawn(args, -1, &p);
    EXPECT_EQ(p.Wait(), 2) << p.log;
    EXPECT_EQ(p.log, line);
    EXPECT_EQ(p.ReadOut(), "");
  }
}

TEST_F(DevgoferTest, HelpPrintsEveryFlagAndExitsZero) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"--help"}, {"-h"}, {"--listen=/tmp/x", "--help"}}) {
    GoferChild p;
    Spawn(args, -1, &p);
    EXPECT_EQ(p.Wait(), 0) << p.log;
    EXPECT_EQ(p.log, "");
    std::string out = p.ReadOut();
    EXPECT_TRUE(absl::StartsWith(
        out, "usage: devgofer (--listen=PATH | --fd=N) [FLAGS]\n"))
        << out;
    for (const char* want : {
             "  --root=DIR (default /dev)\n",
             "  --listen=PATH\n",
             "  --fd=N\n",
             "  --shutdown_grace=DURATION (default 5s)\n",
             "  --max_fdids_per_connection=N (default 8192)\n",
             "  --[no]sandbox (default true)\n",
             "  --v=N (default 0)\n",
             "  --[no]logtostderr (default true, false with --log_dir)\n",
             "  --log_dir=DIR\n",
             "  --version\n",
         }) {
      EXPECT_TRUE(absl::StrContains(out, want)) << want << "\n" << out;
    }
  }
}

TEST_F(DevgoferTest, VersionPrintsTheVersionAndExitsZero) {
  GoferChild p;
  Spawn({"--version"}, -1, &p);
  EXPECT_EQ(p.Wait(), 0) << p.log;
  EXPECT_EQ(p.log, "");
  EXPECT_EQ(p.ReadOut(), gvisor_devutil::VersionText("devgofer"));
}

// --log_dir puts glog's lines in files there instead of on stderr.
TEST_F(DevgoferTest, LogDirWritesLogFiles) {
  GoferChild p;
  ASSERT_TRUE(
      SpawnFdGofer(g_binary, {"--root=" + dir_, "--log_dir=" + dir_}, &p).ok());
  {
    RawClient c(std::move(p.sock));
    ASSERT_EQ(c.CallBytes(1, {})->mid, 1);
  }
  EXPECT_EQ(p.Wait(), 0) << p.log;
  EXPECT_FALSE(absl::StrContains(p.log, "serving")) << p.log;
  std::ifstream in(dir_ + "/devgofer.INFO");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(absl::StrContains(text.str(), "devgofer: serving " + dir_))
      << text.str();
  // glog's files: a symbolic link per level, and the files they name.
  DIR* d = opendir(dir_.c_str());
  ASSERT_NE(d, nullptr);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (absl::StartsWith(e->d_name, "devgofer.")) names.push_back(e->d_name);
  }
  closedir(d);
  EXPECT_FALSE(names.empty());
  for (const std::string& n : names) unlink((dir_ + "/" + n).c_str());
}

TEST_F(DevgoferTest, ListenServesEveryConnectionUntilSigterm) {
  GoferChild p;
  Spawn({"--root=" + dir_, "--listen=" + sock_}, -1, &p);
  ASSERT_TRUE(p.ReadUntil("serving")) << p.log;
  struct stat st;
  ASSERT_EQ(lstat(sock_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  std::unique_ptr<RawClient> a = ConnectPath(), b = ConnectPath();
  for (RawClient* c : {a.get(), b.get()}) {
    absl::StatusOr<Reply> r = c->CallBytes(1, {});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->mid, 1);
    EXPECT_EQ(r->As<lisafs::MountResp>()->root.control_fd, 1u);
    // The mount FD is donated by default.
    EXPECT_EQ(r->fds.size(), 1u);
    lisafs::OpenAtReq o;
    o.fd = Walk1(*c, "file");
    ASSERT_NE(o.fd, 0u);
    r = c->Call(MID::kOpenAt, o);
    ASSERT_EQ(r->mid, 7);
    ASSERT_EQ(r->fds.size(), 1u);
    char buf[16] = {};
    EXPECT_EQ(pread(r->fds[0].get(), buf, sizeof(buf), 0), 7);
    EXPECT_STREQ(buf, "content");
  }
  ASSERT_EQ(kill(p.pid, SIGTERM), 0);
  EXPECT_EQ(p.Wait(), 0) << p.log;
  EXPECT_NE(lstat(sock_.c_str(), &st), 0) << "socket file left behind";
  // The connections were shut down: the clients see end of stream.
  EXPECT_FALSE(a->CallBytes(1, {}).ok());
}

// ReadyPipe is a pipe whose write end a devgofer gets as --ready_fd=3.
struct ReadyPipe {
  fd::OwnedFd r, w;
  ReadyPipe() {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    r.reset(p[0]);
    w.reset(p[1]);
  }
  // Read closes our write end and reads until end of file.
  std::string Read() {
    w.reset();
    std::string out;
    char buf[64];
    for (;;) {
      ssize_t n = read(r.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return out;
      out.append(buf, n);
    }
  }
};

TEST_F(DevgoferTest, ReadyFdSaysReadyOnceItServes) {
  ReadyPipe ready;
  GoferChild p;
  Spawn({"--root=" + dir_, "--listen=" + sock_, "--ready_fd=3"}, ready.w.get(),
        &p);
  // "ready\n" and end of file: the gofer closed it after writing.
  ASSERT_EQ(ready.Read(), "ready\n");
  // A connect right away is served: no wait, no retry.
  std::unique_ptr<RawClient> c = ConnectPath();
  absl::StatusOr<Reply> r = c->CallBytes(1, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mid, 1);
  ASSERT_EQ(kill(p.pid, SIGTERM), 0);
  EXPECT_EQ(p.Wait(), 0) << p.log;
}

TEST_F(DevgoferTest, ReadyFdIsClosedUnwrittenWhenItFails) {
  fd::OwnedFd f(open(sock_.c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_TRUE(f.valid());
  ReadyPipe ready;
  GoferChild p;
  Spawn({"--root=" + dir_, "--listen=" + sock_, "--ready_fd=3"}, ready.w.get(),
        &p);
  EXPECT_EQ(ready.Read(), "");
  EXPECT_EQ(p.Wait(), 1) << p.log;
}

TEST_F(DevgoferTest, AnExistingSocketPathIsNotReplaced) {
  fd::OwnedFd f(open(sock_.c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_TRUE(f.valid());
  GoferChild p;
  Spawn({"--root=" + dir_, "--listen=" + sock_}, -1, &p);
  EXPECT_EQ(p.Wait(), 1) << p.log;
  EXPECT_TRUE(absl::StrContains(
      p.log, absl::StrCat("cannot listen: \"", sock_,
                          "\" is a regular file, not a socket")))
      << p.log;
  struct stat st;
  ASSERT_EQ(lstat(sock_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

// MountOk connects to the gofer at path and mounts.
void MountOk(const std::string& path) {
  absl::StatusOr<unet::Socket> s = unet::Socket::Connect(path, SOCK_STREAM);
  ASSERT_TRUE(s.ok()) << s.status();
  RawClient c(s->Release());
  absl::StatusOr<Reply> r = c.CallBytes(1, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mid, 1);
}

// A gofer that was SIGKILLed leaves its socket file behind; the next one
// on the same path removes it (nobody accepts on it) and serves.
TEST_F(DevgoferTest, RestartAfterSigkillReplacesTheStaleSocket) {
  {
    GoferChild p;
    Spawn({"--root=" + dir_, "--listen=" + sock_}, -1, &p);
    ASSERT_TRUE(p.ReadUntil("serving")) << p.log;
    ASSERT_EQ(kill(p.pid, SIGKILL), 0);
    EXPECT_EQ(p.Wait(), 128 + SIGKILL);
  }
  struct stat st;
  ASSERT_EQ(lstat(sock_.c_str(), &st), 0) << "no stale socket to test with";
  ASSERT_TRUE(S_ISSOCK(st.st_mode));
  GoferChild p;
  Spawn({"--root=" + dir_, "--listen=" + sock_}, -1, &p);
  ASSERT_TRUE(p.ReadUntil("serving")) << p.log;
  EXPECT_TRUE(absl::StrContains(
      p.log,
      absl::StrCat("removing stale socket ", sock_, " (nobody accepts on it)")))
      << p.log;
  ASSERT_EQ(lstat(sock_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  MountOk(sock_);
  ASSERT_EQ(kill(p.pid, SIGTERM), 0);
  EXPECT_EQ(p.Wait(), 0) << p.log;
}

// ListeningSocket binds and listens on path, as systemd does for a .socket
// unit.
fd::OwnedFd ListeningSocket(const std::string& path) {
  absl::StatusOr<unet::ServerSocket> l =
      unet::ServerSocket::Bind(path, SOCK_STREAM, 0600);
  EXPECT_TRUE(l.ok()) << l.status();
  if (!l.ok()) return fd::OwnedFd();
  EXPECT_TRUE(l->Listen().ok());
  return fd::OwnedFd(dup(l->fd()));
}

// With $NOTIFY_SOCKET (a Type=notify unit), READY=1 arrives once the gofer
// serves and STOPPING=1 when SIGTERM stops it.
TEST_F(DevgoferTest, NotifySocketGetsReadyAndStopping) {
  absl::StatusOr<std::unique_ptr<sdnotify::NotifyListener>> n =
      sdnotify::NotifyListener::Bind("/tmp");
  ASSERT_TRUE(n.ok()) << n.status();
  GoferChild p;
  ASSERT_TRUE(SpawnActivatedGofer(g_binary,
                                  {"--root=" + dir_, "--listen=" + sock_}, -1,
                                  {"NOTIFY_SOCKET=" + (*n)->path()}, &p)
                  .ok());
  absl::StatusOr<std::string> m = (*n)->Read();
  ASSERT_TRUE(m.ok()) << m.status() << p.log;
  EXPECT_EQ(*m, absl::StrCat("READY=1\nSTATUS=serving ", dir_, " on ", sock_));
  // Served at once: no wait, no retry.
  MountOk(sock_);
  ASSERT_EQ(kill(p.pid, SIGTERM), 0);
  m = (*n)->Read();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, "STOPPING=1\nSTATUS=shutting down");
  EXPECT_EQ(p.Wait(), 0) << p.log;
  EXPECT_FALSE(absl::StrContains(p.log, "sd_notify")) << p.log;
}

// Socket activation: the gofer serves the listening socket it inherited as
// FD 3 with LISTEN_FDS, needs no --listen, and leaves the socket file to its
// owner; connections made while no gofer runs wait in the backlog.
TEST_F(DevgoferTest, SocketActivationServesTheInheritedSocket) {
  fd::OwnedFd l = ListeningSocket(sock_);
  ASSERT_TRUE(l.valid());
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{
           {"--root=" + dir_}, {"--root=" + dir_, "--listen=" + sock_}}) {
    GoferChild p;
    ASSERT_TRUE(SpawnActivatedGofer(g_binary, flags, l.get(),
                                    {"LISTEN_FDNAMES=devgofer"}, &p)
                    .ok());
    ASSERT_TRUE(p.ReadUntil("serving")) << p.log;
    ASSERT_TRUE(p.ReadUntil("\n")) << p.log;
    EXPECT_TRUE(absl::StrContains(
        p.log, absl::StrCat("serving ", dir_, " on ", sock_,
                            " (inherited by socket activation)")))
        << p.log;
    EXPECT_FALSE(absl::StrContains(p.log, "not --listen")) << p.log;
    MountOk(sock_);
    ASSERT_EQ(kill(p.pid, SIGTERM), 0);
    EXPECT_EQ(p.Wait(), 0) << p.log;
    struct stat st;
    EXPECT_EQ(lstat(sock_.c_str(), &st), 0) << "the owner's socket was removed";
  }
  // No gofer runs: a client still connects (the backlog holds it), and the
  // next gofer started on the socket answers it.
  absl::StatusOr<unet::Socket> early =
      unet::Socket::Connect(sock_, SOCK_STREAM);
  ASSERT_TRUE(early.ok()) << early.status();
  GoferChild p;
  ASSERT_TRUE(
      SpawnActivatedGofer(g_binary, {"--root=" + dir_}, l.get(), {}, &p).ok());
  RawClient c(early->Release());
  absl::StatusOr<Reply> r = c.CallBytes(1, {});
  ASSERT_TRUE(r.ok()) << r.status() << p.log;
  EXPECT_EQ(r->mid, 1);
  ASSERT_EQ(kill(p.pid, SIGTERM), 0);
  EXPECT_EQ(p.Wait(), 0) << p.log;
}

TEST_F(DevgoferTest, SocketActivationRefusesWhatItCannotServe) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fd::OwnedFd a(sv[0]), b(sv[1]);
  {
    GoferChild p;
    ASSERT_TRUE(SpawnActivatedGofer(g_binary, {"--root=" + dir_}, a.get(),
                                    {"LISTEN_FDNAMES=gofer"}, &p)
                    .ok());
    EXPECT_EQ(p.Wait(), 1) << p.log;
    EXPECT_TRUE(absl::StrContains(
        p.log,
        "the inherited socket \"gofer\" (FD 3) is not listening (Accept=no "
        "is needed)"))
        << p.log;
  }
  {
    fd::OwnedFd l = ListeningSocket(sock_);
    GoferChild p;
    ASSERT_TRUE(
        SpawnActivatedGofer(g_binary, {"--fd=5"}, l.get(), {}, &p).ok());
    EXPECT_EQ(p.Wait(), 2) << p.log;
    EXPECT_TRUE(absl::StrContains(
        p.log,
        "--fd: the gofer was given a listening socket by socket "
        "activation ($LISTEN_FDS); it serves that one, drop --fd; see "
        "devgofer --help"))
        << p.log;
  }
}

// A second gofer on the path of a live one is refused, saying so; the first
// goes on serving on it.
TEST_F(DevgoferTest, ALiveGoferKeepsItsSocket) {
  GoferChild first;
  Spawn({"--root=" + dir_, "--listen=" + sock_}, -1, &first);
  ASSERT_TRUE(first.ReadUntil("serving")) << first.log;
  GoferChild second;
  Spawn({"--root=" + dir_, "--listen=" + sock_}, -1, &second);
  EXPECT_EQ(second.Wait(), 1) << second.log;
  EXPECT_TRUE(absl::StrContains(
      second.log,
      absl::StrCat("cannot listen: \"", sock_,
                   "\": a live server is accepting connections on it; stop "
                   "it or choose another path")))
      << second.log;
  MountOk(sock_);
  ASSERT_EQ(kill(first.pid, SIGTERM), 0);
  EXPECT_EQ(first.Wait(), 0) << first.log;
}

// Whatever else is at the path is refused as what it is, and left alone.
TEST_F(DevgoferTest, ListenRefusesWhatIsNotASocket) {
  const std::string target = dir_ + "/file";
  for (const auto& [make, kind] :
       std::vector<std::pair<std::function<int()>, std::string>>{
           {[&] { return mkdir(sock_.c_str(), 0700); }, "a directory"},
           {[&] { return symlink(target.c_str(), sock_.c_str()); },
            "a symbolic link"},
           {[&] { return mkfifo(sock_.c_str(), 0600); }, "a FIFO"},
       }) {
    SCOPED_TRACE(kind);
    ASSERT_EQ(make(), 0) << strerror(errno);
    GoferChild p;
    Spawn({"--root=" + dir_, "--listen=" + sock_}, -1, &p);
    EXPECT_EQ(p.Wait(), 1) << p.log;
    EXPECT_TRUE(absl::StrContains(
        p.log, absl::StrCat("\"", sock_, "\" is ", kind,
                            ", not a socket; remove it or choose another "
                            "path")))
        << p.log;
    struct stat st;
    EXPECT_EQ(lstat(sock_.c_str(), &st), 0) << "removed";
    if (S_ISDIR(st.st_mode)) {
      rmdir(sock_.c_str());
    } else {
      unlink(sock_.c_str());
    }
  }
}

TEST_F(DevgoferTest, FdServesDevAndExitsWhenTheConnectionEnds) {
  GoferChild p;
  ASSERT_TRUE(SpawnFdGofer(g_binary, {}, &p).ok());  // --root: /dev
  {
    RawClient c(std::move(p.sock));
    absl::StatusOr<Reply> r = c.CallBytes(1, {});
    ASSERT_TRUE(r.ok()) << r.status() << p.log;
    ASSERT_EQ(r->mid, 1);
    lisafs::OpenAtReq o;
    o.fd = Walk1(c, "null");
    ASSERT_NE(o.fd, 0u);
    o.flags = O_RDWR;
    r = c.Call(MID::kOpenAt, o);
    ASSERT_EQ(r->mid, 7) << r->err();
    ASSERT_EQ(r->fds.size(), 1u);
    // A character device's FD is blocking, as drivers expect.
    EXPECT_EQ(fcntl(r->fds[0].get(), F_GETFL) & O_NONBLOCK, 0);
    char ch;
    EXPECT_EQ(read(r->fds[0].get(), &ch, 1), 0);
    EXPECT_EQ(write(r->fds[0].get(), "x", 1), 1);
  }
  EXPECT_EQ(p.Wait(), 0) << p.log;
}

TEST_F(DevgoferTest, SigtermStopsAnFdGofer) {
  GoferChild p;
  ASSERT_TRUE(SpawnFdGofer(g_binary, {"--root=" + dir_}, &p).ok());
  RawClient c(std::move(p.sock));
  ASSERT_EQ(c.CallBytes(1, {})->mid, 1);
  ASSERT_EQ(kill(p.pid, SIGTERM), 0);
  EXPECT_EQ(p.Wait(), 0) << p.log;
  EXPECT_FALSE(c.CallBytes(1, {}).ok());
}

// RunWithFlags serves dir_ over --fd with extra flags and returns a mounted
// client; the Mount reply goes to *mount.
std::unique_ptr<RawClient> StartFd(const std::vector<std::string>& flags,
                                   GoferChild* p, Reply* mount) {
  EXPECT_TRUE(SpawnFdGofer(g_binary, flags, p).ok());
  auto c = std::make_unique<RawClient>(std::move(p->sock));
  absl::StatusOr<Reply> r = c->CallBytes(1, {});
  EXPECT_TRUE(r.ok());
  if (r.ok()) *mount = *std::move(r);
  return c;
}

TEST_F(DevgoferTest, ReadonlyFlag) {
  GoferChild p;
  Reply m;
  std::unique_ptr<RawClient> c =
      StartFd({"--root=" + dir_, "--readonly"}, &p, &m);
  lisafs::MkdirAtReq req;
  req.common.dir_fd = 1;
  req.common.mode = 0755;
  req.name = "made";
  EXPECT_EQ(c->Call(MID::kMkdirAt, req)->err(), EROFS);
  c.reset();
  EXPECT_EQ(p.Wait(), 0) << p.log;
  struct stat st;
  EXPECT_NE(stat((dir_ + "/made").c_str(), &st), 0);
}

TEST_F(DevgoferTest, DonateMountFdFlag) {
  GoferChild p;
  Reply m;
  std::unique_ptr<RawClient> c =
      StartFd({"--root=" + dir_, "--donate_mount_fd"}, &p, &m);
  ASSERT_EQ(m.fds.size(), 1u);
  struct stat got, want;
  ASSERT_EQ(fstat(m.fds[0].get(), &got), 0);
  ASSERT_EQ(stat(dir_.c_str(), &want), 0);
  EXPECT_EQ(got.st_ino, want.st_ino);
  c.reset();
  EXPECT_EQ(p.Wait(), 0) << p.log;
}

TEST_F(DevgoferTest, NodonateMountFdFlag) {
  GoferChild p;
  Reply m;
  std::unique_ptr<RawClient> c =
      StartFd({"--root=" + dir_, "--nodonate_mount_fd"}, &p, &m);
  EXPECT_EQ(m.mid, 1);
  EXPECT_TRUE(m.fds.empty());
  c.reset();
  EXPECT_EQ(p.Wait(), 0) << p.log;
}

TEST_F(DevgoferTest, ReadonlyAndDenyDoNotDonateByDefaultAndLogWhy) {
  for (const char* flag : {"--readonly", "--char_devices=deny"}) {
    SCOPED_TRACE(flag);
    GoferChild p;
    Reply m;
    std::unique_ptr<RawClient> c = StartFd({"--root=" + dir_, flag}, &p, &m);
    EXPECT_EQ(m.mid, 1);
    EXPECT_TRUE(m.fds.empty()) << "a mount FD was donated";
    c.reset();
    EXPECT_EQ(p.Wait(), 0) << p.log;
    EXPECT_TRUE(absl::StrContains(p.log, "mount FD not donated")) << p.log;
    EXPECT_TRUE(absl::StrContains(p.log, flag)) << p.log;
  }
}

// Donation must never widen what the other flags allow. A devutil client
// of a gofer started with --donate_mount_fd and --readonly (or
// --char_devices=deny) used to get the mount FD and open "null" read-write
// through it; such a gofer now refuses to start (exit 2, saying why), and
// with the flag alone the open fails as the RPC path says.
TEST_F(DevgoferTest, DonationNeverBypassesReadonlyOrCharDevicesDeny) {
  for (const auto& [flag, why, want_errno] :
       std::vector<std::tuple<std::string, std::string, int>>{
           {"--readonly", "bypass --readonly", EROFS},
           {"--char_devices=deny", "bypass --char_devices=deny", EPERM},
       }) {
    SCOPED_TRACE(flag);
    {
      GoferChild p;
      ASSERT_TRUE(SpawnFdGofer(g_binary, {flag, "--donate_mount_fd"}, &p).ok());
      absl::StatusOr<unet::Socket> sock =
          unet::Socket::FromFd(std::move(p.sock));
      ASSERT_TRUE(sock.ok());
      absl::StatusOr<std::unique_ptr<devutil::GoferClient>> c =
          devutil::NewGoferClient(context::Background(), "attack",
                                  *std::move(sock));
      if (c.ok()) {
        absl::StatusOr<fd::OwnedFd> null =
            (*c)->OpenAt(context::Background(), "null", O_RDWR);
        EXPECT_FALSE(null.ok())
            << "null opened O_RDWR through the donated mount FD despite "
            << flag << " (mount FD donated: " << (*c)->HasHostFD() << ")";
        c->reset();
      }
      EXPECT_EQ(p.Wait(), 2) << p.log;
      EXPECT_TRUE(absl::StrContains(p.log, why)) << p.log;
    }
    {
      GoferChild p;
      ASSERT_TRUE(SpawnFdGofer(g_binary, {flag}, &p).ok());
      absl::StatusOr<std::unique_ptr<devutil::GoferClient>> c =
          devutil::NewGoferClient(context::Background(), "attack",
                                  *unet::Socket::FromFd(std::move(p.sock)));
      ASSERT_TRUE(c.ok()) << c.status() << p.log;
      EXPECT_FALSE((*c)->HasHostFD());
      absl::StatusOr<fd::OwnedFd> null =
          (*c)->OpenAt(context::Background(), "null", O_RDWR);
      EXPECT_EQ(syserr::ToErrno(null.status()), want_errno) << null.status();
      c->reset();
      EXPECT_EQ(p.Wait(), 0) << p.log;
    }
  }
}

TEST_F(DevgoferTest, CharDevicesDenyFlag) {
  GoferChild p;
  Reply m;
  std::unique_ptr<RawClient> c = StartFd({"--char_devices=deny"}, &p, &m);
  lisafs::OpenAtReq o;
  o.fd = Walk1(*c, "null");
  ASSERT_NE(o.fd, 0u);
  EXPECT_EQ(c->Call(MID::kOpenAt, o)->err(), EPERM);
  c.reset();
  EXPECT_EQ(p.Wait(), 0) << p.log;
}

// ListRoot lists FDID 1 of a mounted client to the end.
std::set<std::string> ListRoot(RawClient& c) {
  std::set<std::string> names;
  lisafs::OpenAtReq o;
  o.fd = 1;
  o.flags = O_RDONLY;
  absl::StatusOr<Reply> r = c.Call(MID::kOpenAt, o);
  if (!r.ok() || r->mid != 7) {
    ADD_FAILURE() << "OpenAt of the root failed";
    return names;
  }
  lisafs::Getdents64Req g;
  g.dir_fd = r->As<lisafs::OpenAtResp>()->open_fd;
  g.count = 65536;
  for (;;) {
    absl::StatusOr<Reply> d = c.Call(MID::kGetdents64, g);
    if (!d.ok() || d->mid != 24) {
      ADD_FAILURE() << "Getdents64 failed";
      break;
    }
    absl::StatusOr<lisafs::Getdents64Resp> resp =
        d->As<lisafs::Getdents64Resp>();
    if (!resp.ok() || resp->dirents.empty()) break;
    for (const auto& e : resp->dirents) names.insert(e.name);
  }
  return names;
}

TEST_F(DevgoferTest, AllowScopesTheServedDevices) {
  GoferChild p;
  Reply m;
  // The host's /dev, read-only: by path, and urandom (1:9) by number.
  std::unique_ptr<RawClient> c = StartFd(
      {"--readonly", "--allow=null", "--allow", "zero", "--allow=c 1:9"}, &p,
      &m);
  ASSERT_TRUE(p.ReadUntil("serving")) << p.log;
  EXPECT_TRUE(absl::StrContains(p.log, "scope: only null, zero, c 1:9"))
      << p.log;
  EXPECT_TRUE(m.fds.empty()) << "a scoped gofer donates no mount FD";
  std::set<std::string> names = ListRoot(*c);
  EXPECT_EQ(names.count("null"), 1u);
  EXPECT_EQ(names.count("zero"), 1u);
  for (const std::string& n : names) {
    EXPECT_TRUE(n == "null" || n == "zero" || n == "urandom") << n;
  }
  lisafs::OpenAtReq o;
  o.fd = Walk1(*c, "null");
  ASSERT_NE(o.fd, 0u);
  o.flags = O_RDONLY;
  EXPECT_EQ(c->Call(MID::kOpenAt, o)->mid, 7);
  for (const char* hidden : {"full", "tty", "pts", "shm", "kvm", "random"}) {
    EXPECT_EQ(Walk1(*c, hidden), 0u) << hidden;
  }
  c.reset();
  EXPECT_EQ(p.Wait(), 0) << p.log;
}

TEST_F(DevgoferTest, AllowOfATreeHidesTheRest) {
  for (const char* f : {"nv0", "nv1", "secret"}) {
    fd::OwnedFd h(open((dir_ + "/" + f).c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_TRUE(h.valid());
  }
  GoferChild p;
  Reply m;
  std::unique_ptr<RawClient> c =
      StartFd({"--root=" + dir_, "--allow=nv[0-9]*", "--allow=file",
               "--nodonate_mount_fd"},
              &p, &m);
  EXPECT_EQ(ListRoot(*c), (std::set<std::string>{"file", "nv0", "nv1"}));
  EXPECT_EQ(Walk1(*c, "secret"), 0u);
  lisafs::MkdirAtReq req;
  req.common.dir_fd = 1;
  req.common.mode = 0755;
  req.name = "made";
  EXPECT_EQ(c->Call(MID::kMkdirAt, req)->err(), EACCES);
  c.reset();
  EXPECT_EQ(p.Wait(), 0) << p.log;
  struct stat st;
  EXPECT_NE(stat((dir_ + "/made").c_str(), &st), 0);
  for (const char* f : {"nv0", "nv1", "secret"}) {
    unlink((dir_ + "/" + f).c_str());
  }
}

TEST_F(DevgoferTest, AllowRefusesBadRulesAndDonation) {
  for (const auto& [args, message] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--fd=3", "--allow=/dev/null"}, "\"/dev/null\""},
           {{"--fd=3", "--allow=c 195"}, "\"c 195\""},
           {{"--fd=3", "--allow=a/../b"}, "\"a/../b\""},
           {{"--fd=3", "--allow="}, "--allow"},
           {{"--listen=/tmp/x", "--allow=null", "--donate_mount_fd"},
            "would bypass the scope"},
       }) {
    GoferChild p;
    Spawn(args, -1, &p);
    EXPECT_EQ(p.Wait(), 2) << p.log;
    EXPECT_TRUE(absl::StrContains(p.log, message)) << p.log;
  }
}

TEST_F(DevgoferTest, RunningOutOfFdsDoesNotStopTheListener) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizer runtimes need spare FDs of their own (they probe memory
  // through a pipe) and misreport once the process has none.
  GTEST_SKIP() << "needs a build without sanitizers";
#endif
  GoferChild p;
  Spawn({"--root=" + dir_, "--listen=" + sock_}, -1, &p);
  ASSERT_TRUE(p.ReadUntil("serving")) << p.log;
  // Leave the gofer only a few FDs beyond those it holds now.
  int held = testing::OpenFdCount(p.pid);
  ASSERT_GT(held, 0);
  struct rlimit rl = {static_cast<rlim_t>(held + 4),
                      static_cast<rlim_t>(held + 4)};
  ASSERT_EQ(prlimit(p.pid, RLIMIT_NOFILE, &rl, nullptr), 0);

  // Connect and mount until the gofer reports that accept ran out of FDs;
  // the last client then waits in the backlog with its Mount unanswered.
  std::vector<std::unique_ptr<RawClient>> served;
  std::unique_ptr<RawClient> pending;
  while (pending == nullptr) {
    ASSERT_LT(served.size(), 64u) << p.log;
    std::unique_ptr<RawClient> c = ConnectPath();
    ASSERT_TRUE(c->WriteBytes(
                     *lisafs::MarshalFrame(MID::kMount, lisafs::EmptyMessage{}))
                    .ok());
    // Whichever comes first: the Mount reply, or the log line.
    pollfd pfds[2] = {{c->fd(), POLLIN, 0}, {p.err.get(), POLLIN, 0}};
    for (;;) {
      ASSERT_GT(poll(pfds, 2, -1), 0);
      if (pfds[0].revents & POLLIN) {
        // A Mount that itself runs out of FDs fails cleanly with EMFILE.
        absl::StatusOr<Reply> r = c->ReadReply();
        ASSERT_TRUE(r.ok()) << r.status() << "\n" << p.log;
        ASSERT_TRUE(r->mid == 1 || r->err() == EMFILE) << r->mid;
        served.push_back(std::move(c));
        break;
      }
      char buf[4096];
      ssize_t n = read(p.err.get(), buf, sizeof(buf));
      ASSERT_GT(n, 0) << "the gofer exited:\n" << p.log;
      p.log.append(buf, n);
      if (absl::StrContains(p.log, "retrying")) {
        pending = std::move(c);
        break;
      }
    }
  }
  ASSERT_FALSE(served.empty());
  // Ending the other connections frees their FDs: the pending client, which
  // waited in the backlog, is served.
  served.clear();
  absl::StatusOr<Reply> r = pending->ReadReply();
  ASSERT_TRUE(r.ok()) << r.status() << "\n" << p.log;
  // Its Mount may still find the FDs of the ended connections unreleased;
  // then it fails cleanly, and asking again succeeds once they are.
  for (int i = 0; i < 100000 && r.ok() && r->err() == EMFILE; ++i) {
    r = pending->CallBytes(1, {});
  }
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mid, 1) << r->err();
  ASSERT_EQ(kill(p.pid, SIGTERM), 0);
  EXPECT_EQ(p.Wait(), 0) << p.log;
}

}  // namespace
}  // namespace gvisor::devgofer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    fprintf(stderr, "usage: devgofer_test PATH_TO_DEVGOFER\n");
    return 2;
  }
  gvisor::devgofer::g_binary = argv[1];
  return RUN_ALL_TESTS();
}
