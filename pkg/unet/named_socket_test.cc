// Named sockets: ServerSocket, Socket::Connect, and the addresses
// UnixAddress builds for both.

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/address.h"
#include "pkg/unet/unet.h"
#include "pkg/unet/unet_testutil.h"

namespace gvisor::unet {
namespace {

// --- named sockets ---

TEST_F(UnetTest, ListenAcceptConnectByPath) {
  const std::string path = UniquePath("path");
  absl::StatusOr<ServerSocket> server = ServerSocket::Bind(path, SOCK_STREAM);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(server->path(), path);
  EXPECT_TRUE(IsCloexec(server->fd()));
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_TRUE(server->Listen().ok());

  absl::StatusOr<Socket> client = Socket::Connect(path, SOCK_STREAM);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<Socket> conn = server->Accept();
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_TRUE(IsCloexec(client->fd()));
  EXPECT_TRUE(IsCloexec(conn->fd()));

  OwnedFd null = MustOpenNull();
  std::string msg = "over a path";
  iovec out[] = {Iov(msg)};
  int sent[] = {null.get()};
  ASSERT_TRUE(client->SendAll(out, sent).ok());
  std::string back(msg.size(), '\0');
  iovec in[] = {Iov(&back[0], back.size())};
  std::vector<OwnedFd> got;
  ASSERT_TRUE(conn->RecvExact(in, 1, &got).ok());
  EXPECT_EQ(back, msg);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(SameFile(got[0].get(), null.get()));

  ASSERT_TRUE(server->Unlink().ok());
  EXPECT_NE(access(path.c_str(), F_OK), 0);
  EXPECT_TRUE(server->Unlink().ok());  // Idempotent.
}

TEST_F(UnetTest, BindSetsExactModeWhateverTheUmask) {
  const mode_t old = umask(022);
  const std::string path = UniquePath("mode");
  absl::StatusOr<ServerSocket> server =
      ServerSocket::Bind(path, SOCK_STREAM, 0666);
  umask(old);
  ASSERT_TRUE(server.ok()) << server.status();
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  EXPECT_TRUE(server->Unlink().ok());
}

TEST_F(UnetTest, DestructorLeavesTheSocketFile) {
  const std::string path = UniquePath("keep");
  {
    absl::StatusOr<ServerSocket> server = ServerSocket::Bind(path, SOCK_STREAM);
    ASSERT_TRUE(server.ok()) << server.status();
  }
  EXPECT_EQ(access(path.c_str(), F_OK), 0);
  absl::StatusOr<Socket> client = Socket::Connect(path, SOCK_STREAM);
  EXPECT_EQ(Errno(client.status()), ECONNREFUSED) << client.status();
  EXPECT_EQ(unlink(path.c_str()), 0);
}

TEST_F(UnetTest, BindOverAnExistingFileIsEaddrinuse) {
  const std::string path = UniquePath("twice");
  absl::StatusOr<ServerSocket> first = ServerSocket::Bind(path, SOCK_STREAM);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<ServerSocket> second = ServerSocket::Bind(path, SOCK_STREAM);
  EXPECT_EQ(Errno(second.status()), EADDRINUSE) << second.status();
  EXPECT_TRUE(first->Unlink().ok());
}

TEST_F(UnetTest, ListenAcceptConnectByAbstractName) {
  const std::string name = UniqueAbstract("abs");
  absl::StatusOr<ServerSocket> server =
      ServerSocket::Bind(name, SOCK_SEQPACKET);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_NE(access(name.c_str(), F_OK), 0);  // No file named "@...".
  ASSERT_TRUE(server->Listen(4).ok());

  absl::StatusOr<Socket> client = Socket::Connect(name, SOCK_SEQPACKET);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<Socket> conn = server->Accept();
  ASSERT_TRUE(conn.ok()) << conn.status();

  const uint8_t p[] = {42, 43};
  ASSERT_TRUE(conn->SendPacket(p, {}).ok());
  uint8_t buf[4];
  absl::StatusOr<size_t> n =
      client->RecvPacket(absl::MakeSpan(buf), 0, nullptr);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(buf[1], 43);
  EXPECT_TRUE(server->Unlink().ok());  // No-op for abstract names.

  // The name is in use while the server lives.
  EXPECT_EQ(Errno(ServerSocket::Bind(name, SOCK_SEQPACKET).status()),
            EADDRINUSE);
}

TEST_F(UnetTest, ShutdownWakesABlockedAccept) {
  absl::StatusOr<ServerSocket> server =
      ServerSocket::Bind(UniqueAbstract("acc"), SOCK_STREAM);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(server->Listen().ok());
  std::atomic<pid_t> tid{0};
  absl::Notification started;
  absl::Status accept_status;
  std::thread acceptor([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    started.Notify();
    accept_status = server->Accept().status();
  });
  started.WaitForNotification();
  WaitUntilBlockedIn(tid, {SYS_accept4});
  ASSERT_TRUE(server->Shutdown().ok());
  acceptor.join();
  EXPECT_FALSE(accept_status.ok());
  EXPECT_TRUE(server->Shutdown().ok());
}

TEST_F(UnetTest, PathLengthIsChecked) {
  const size_t kSunPath = sizeof(sockaddr_un{}.sun_path);  // 108
  // A filesystem path needs its NUL inside sun_path.
  std::string too_long = "/tmp/" + std::string(kSunPath - 5, 'a');
  ASSERT_EQ(too_long.size(), kSunPath);
  EXPECT_EQ(Errno(Socket::Connect(too_long, SOCK_STREAM).status()),
            ENAMETOOLONG);
  EXPECT_EQ(Errno(ServerSocket::Bind(too_long, SOCK_STREAM).status()),
            ENAMETOOLONG);
  std::string fits = too_long.substr(1);
  EXPECT_EQ(Errno(Socket::Connect(fits, SOCK_STREAM).status()), ENOENT);

  // An abstract name may use all of sun_path after the leading NUL.
  std::string abs_fits = absl::StrCat(UniqueAbstract("long"), "_");
  abs_fits.resize(kSunPath, 'b');  // '@' + 107 bytes
  absl::StatusOr<ServerSocket> server =
      ServerSocket::Bind(abs_fits, SOCK_STREAM);
  EXPECT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(Errno(Socket::Connect(abs_fits + "b", SOCK_STREAM).status()),
            ENAMETOOLONG);
}

TEST_F(UnetTest, BadAddressesAndTypesAreEinval) {
  EXPECT_EQ(Errno(Socket::Connect("", SOCK_STREAM).status()), EINVAL);
  EXPECT_EQ(
      Errno(Socket::Connect(std::string("/tmp/a\0b", 8), SOCK_STREAM).status()),
      EINVAL);
  EXPECT_EQ(Errno(Socket::SocketPair(SOCK_DGRAM).status()), EINVAL);
  EXPECT_EQ(Errno(Socket::Connect("/tmp/x", SOCK_DGRAM).status()), EINVAL);
  EXPECT_EQ(Errno(ServerSocket::Bind("@x", SOCK_RAW).status()), EINVAL);
}

TEST_F(UnetTest, UnixAddressOfAPathAndOfAnAbstractName) {
  absl::StatusOr<UnixAddress> a = UnixAddress::FromPath("/tmp/x.sock");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->abstract());
  EXPECT_EQ(a->len(),
            offsetof(sockaddr_un, sun_path) + strlen("/tmp/x.sock") + 1);
  const auto* un = reinterpret_cast<const sockaddr_un*>(a->addr());
  EXPECT_EQ(un->sun_family, AF_UNIX);
  EXPECT_STREQ(un->sun_path, "/tmp/x.sock");

  absl::StatusOr<UnixAddress> b = UnixAddress::FromPath("@name");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->abstract());
  EXPECT_EQ(b->len(), offsetof(sockaddr_un, sun_path) + 1 + 4);
  un = reinterpret_cast<const sockaddr_un*>(b->addr());
  EXPECT_EQ(un->sun_path[0], '\0');
  EXPECT_EQ(std::string(un->sun_path + 1, 4), "name");

  EXPECT_EQ(Errno(UnixAddress::FromPath("").status()), EINVAL);
  EXPECT_EQ(
      Errno(
          UnixAddress::FromPath(std::string(kMaxPathLength + 1, 'a')).status()),
      ENAMETOOLONG);
  EXPECT_TRUE(UnixAddress::FromPath(std::string(kMaxPathLength, 'a')).ok());
}

TEST_F(UnetTest, ConnectWithADeadlineConnectsAndKeepsNoTimeout) {
  const std::string path = UniquePath("deadline");
  absl::StatusOr<ServerSocket> server = ServerSocket::Bind(path, SOCK_STREAM);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(server->Listen().ok());
  absl::StatusOr<Socket> c =
      Socket::Connect(path, SOCK_STREAM, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(IsCloexec(c->fd()));
  timeval tv = {1, 1};
  socklen_t len = sizeof(tv);
  ASSERT_EQ(getsockopt(c->fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, &len), 0);
  EXPECT_EQ(tv.tv_sec, 0);
  EXPECT_EQ(tv.tv_usec, 0);
  EXPECT_EQ(Errno(Socket::Connect(path + "-none", SOCK_STREAM,
                                  absl::Now() + absl::Seconds(10))
                      .status()),
            ENOENT);
  EXPECT_TRUE(server->Unlink().ok());
}

TEST_F(UnetTest, ConnectToAFullBacklogEndsAtTheDeadlineWithEagain) {
  const std::string path = UniquePath("backlog");
  absl::StatusOr<ServerSocket> server = ServerSocket::Bind(path, SOCK_STREAM);
  ASSERT_TRUE(server.ok()) << server.status();
  // A backlog of 0 takes one connection; nothing is ever accepted.
  ASSERT_TRUE(server->Listen(0).ok());
  std::vector<Socket> held;
  absl::Status last;
  for (int i = 0; i < 8 && last.ok(); ++i) {
    absl::StatusOr<Socket> c = Socket::Connect(
        path, SOCK_STREAM, absl::Now() + absl::Milliseconds(100));
    if (c.ok()) {
      held.push_back(*std::move(c));
    } else {
      last = c.status();
    }
  }
  EXPECT_EQ(Errno(last), EAGAIN) << last;
  EXPECT_TRUE(server->Unlink().ok());
}

}  // namespace
}  // namespace gvisor::unet
