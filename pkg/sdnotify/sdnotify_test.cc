#include "pkg/sdnotify/sdnotify.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/sdnotify/notify_listener.h"

namespace gvisor::sdnotify {
namespace {

// TmpDir is where the test's sockets go: /tmp, as Bazel's TEST_TMPDIR
// may be too long for sockaddr_un.
std::string TmpDir() { return "/tmp"; }

TEST(SdnotifyTest, WithoutNotifySocketNothingIsSent) {
  unsetenv("NOTIFY_SOCKET");
  absl::StatusOr<bool> r = NotifyReady("serving");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(*r);
}

TEST(SdnotifyTest, ReadyAndStoppingReachTheNotifySocket) {
  absl::StatusOr<std::unique_ptr<NotifyListener>> l =
      NotifyListener::Bind(TmpDir());
  ASSERT_TRUE(l.ok()) << l.status();
  setenv("NOTIFY_SOCKET", (*l)->path().c_str(), 1);
  absl::StatusOr<bool> r = NotifyReady("serving /dev");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r);
  EXPECT_EQ(*(*l)->Read(), "READY=1\nSTATUS=serving /dev");
  r = NotifyStopping("");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*(*l)->Read(), "STOPPING=1");
  unsetenv("NOTIFY_SOCKET");
}

TEST(SdnotifyTest, NotifierConnectsOnceAndUnsetsTheVariable) {
  absl::StatusOr<std::unique_ptr<NotifyListener>> l =
      NotifyListener::Bind(TmpDir());
  ASSERT_TRUE(l.ok()) << l.status();
  setenv("NOTIFY_SOCKET", (*l)->path().c_str(), 1);
  absl::StatusOr<Notifier> n = Notifier::FromEnvironment();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(n->enabled());
  EXPECT_EQ(getenv("NOTIFY_SOCKET"), nullptr);
  EXPECT_TRUE(*n->Ready("serving"));
  EXPECT_EQ(*(*l)->Read(), "READY=1\nSTATUS=serving");
  EXPECT_TRUE(*n->Stopping(""));
  EXPECT_EQ(*(*l)->Read(), "STOPPING=1");
}

TEST(SdnotifyTest, NotifierWithoutTheVariableDoesNothing) {
  unsetenv("NOTIFY_SOCKET");
  absl::StatusOr<Notifier> n = Notifier::FromEnvironment();
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->enabled());
  EXPECT_FALSE(*n->Ready("x"));
}

TEST(SdnotifyTest, NotifierSaysWhenTheSocketIsUnreachable) {
  setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1);
  absl::StatusOr<Notifier> n = Notifier::FromEnvironment();
  EXPECT_FALSE(n.ok());
  EXPECT_TRUE(absl::StrContains(
      n.status().message(), "connect to $NOTIFY_SOCKET=/nonexistent/notify"))
      << n.status();
  setenv("NOTIFY_SOCKET", "relative", 1);
  EXPECT_FALSE(Notifier::FromEnvironment().ok());
  unsetenv("NOTIFY_SOCKET");
}

TEST(SdnotifyTest, NoListenFdsWithoutTheVariables) {
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  absl::StatusOr<std::vector<ListenFd>> fds = TakeListenFds();
  ASSERT_TRUE(fds.ok()) << fds.status();
  EXPECT_TRUE(fds->empty());
}

TEST(SdnotifyTest, ListenFdsForAnotherProcessAreNotTaken) {
  setenv("LISTEN_FDS", "1", 1);
  setenv("LISTEN_PID", absl::StrCat(getpid() + 1).c_str(), 1);
  absl::StatusOr<std::vector<ListenFd>> fds = TakeListenFds();
  ASSERT_TRUE(fds.ok()) << fds.status();
  EXPECT_TRUE(fds->empty());
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
}

TEST(SdnotifyTest, TakesTheInheritedSocketAndItsName) {
  // FD 3 is what systemd passes; keep whatever the test runner has there.
  fd::OwnedFd saved(fcntl(3, F_DUPFD_CLOEXEC, 10));
  fd::OwnedFd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(sock.valid());
  std::string path = absl::StrCat(TmpDir(), "/listen.", getpid());
  sockaddr_un a = {};
  ASSERT_LT(path.size(), sizeof(a.sun_path));
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path, path.data(), path.size());
  ASSERT_EQ(bind(sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(sock.get(), 4), 0);
  ASSERT_EQ(dup2(sock.get(), 3), 3);
  setenv("LISTEN_FDS", "1", 1);
  setenv("LISTEN_PID", absl::StrCat(getpid()).c_str(), 1);
  setenv("LISTEN_FDNAMES", "gofer", 1);
  absl::StatusOr<std::vector<ListenFd>> fds = TakeListenFds();
  ASSERT_TRUE(fds.ok()) << fds.status();
  ASSERT_EQ(fds->size(), 1u);
  EXPECT_EQ((*fds)[0].name, "gofer");
  EXPECT_EQ((*fds)[0].fd.get(), 3);
  EXPECT_TRUE(CheckListeningUnixStream(3, "the socket").ok());
  EXPECT_EQ(SocketPath(3), path);
  EXPECT_NE(fcntl(3, F_GETFD) & FD_CLOEXEC, 0);
  // Unset, so that a child does not take them too.
  EXPECT_EQ(getenv("LISTEN_FDS"), nullptr);
  EXPECT_EQ(getenv("LISTEN_PID"), nullptr);
  EXPECT_EQ(getenv("LISTEN_FDNAMES"), nullptr);
  fds->clear();
  if (saved.valid()) dup2(saved.get(), 3);
  unlink(path.c_str());
}

TEST(SdnotifyTest, CheckListeningUnixStreamSaysWhatTheFdIs) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fd::OwnedFd a(sv[0]), b(sv[1]);
  EXPECT_EQ(CheckListeningUnixStream(a.get(), "x").message(),
            absl::StrCat("x (FD ", a.get(),
                         ") is not listening (Accept=no is needed)"));
  fd::OwnedFd d(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(absl::StrContains(
      CheckListeningUnixStream(d.get(), "x").message(), "not a stream socket"));
  fd::OwnedFd t(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(absl::StrContains(
      CheckListeningUnixStream(t.get(), "x").message(), "not a unix socket"));
  fd::OwnedFd f(open("/dev/null", O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(absl::StrContains(
      CheckListeningUnixStream(f.get(), "x").message(), "not a socket"));
}

}  // namespace
}  // namespace gvisor::sdnotify
