// unet::Socket on stream sockets: bytes and FDs, partial I/O, FD limits on
// receipt, end of stream and shutdown, FromFd and Release.

#include "pkg/unet/unet.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
#include "pkg/unet/unet_testutil.h"

namespace gvisor::unet {
namespace {

// --- byte and FD round trips ---

TEST_F(UnetTest, StreamRoundTripOfBytes) {
  auto [a, b] = MustPair(SOCK_STREAM);
  std::string x = "hello ", y = "world";
  iovec out[] = {Iov(x), Iov(y)};
  ASSERT_TRUE(a.SendAll(out, {}).ok());

  char p1[3], p2[5], p3[3];
  iovec in[] = {Iov(p1, 3), Iov(p2, 5), Iov(p3, 3)};
  absl::Status s = b.RecvExact(in, 0, nullptr);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(std::string(p1, 3) + std::string(p2, 5) + std::string(p3, 3),
            "hello world");
}

TEST_F(UnetTest, PipeFdWorksOnTheOtherSideAndIsCloexec) {
  auto [a, b] = MustPair(SOCK_STREAM);
  auto [r, w] = MustPipe();
  ASSERT_FALSE(IsCloexec(w.get()));
  std::string msg = "m";
  iovec out[] = {Iov(msg)};
  int sent[] = {w.get()};
  ASSERT_TRUE(a.SendAll(out, sent).ok());

  char c;
  iovec in[] = {Iov(&c, 1)};
  std::vector<OwnedFd> got;
  absl::Status s = b.RecvExact(in, 1, &got);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].get(), w.get());
  EXPECT_TRUE(IsCloexec(got[0].get()));
  // The sender's copy is borrowed, not consumed.
  EXPECT_TRUE(IsOpen(w.get()));

  w.reset();  // Only the received copy can write now.
  ASSERT_EQ(write(got[0].get(), "z", 1), 1);
  got.clear();
  char buf[2];
  ASSERT_EQ(read(r.get(), buf, sizeof(buf)), 1);
  EXPECT_EQ(buf[0], 'z');
  EXPECT_EQ(read(r.get(), buf, sizeof(buf)), 0);  // All writers are gone.
}

TEST_F(UnetTest, SeveralFdsKeepTheirOrder) {
  auto [a, b] = MustPair(SOCK_STREAM);
  auto [r, w] = MustPipe();
  OwnedFd null = MustOpenNull();
  std::string msg = "abc";
  iovec out[] = {Iov(msg)};
  int sent[] = {null.get(), r.get(), w.get()};
  ASSERT_TRUE(a.SendAll(out, sent).ok());

  char buf[3];
  iovec in[] = {Iov(buf, 3)};
  std::vector<OwnedFd> got;
  got.push_back(MustOpenNull());  // Received FDs are appended.
  ASSERT_TRUE(b.RecvExact(in, 3, &got).ok());
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(SameFile(got[i + 1].get(), sent[i])) << i;
    EXPECT_TRUE(IsCloexec(got[i + 1].get())) << i;
  }
}

TEST_F(UnetTest, ExactlyMaxFdsIsAllowed) {
  auto [a, b] = MustPair(SOCK_STREAM);
  OwnedFd null = MustOpenNull();
  std::vector<int> sent(kMaxFds, null.get());
  std::string msg = "x";
  iovec out[] = {Iov(msg)};
  absl::Status s = a.SendAll(out, sent);
  ASSERT_TRUE(s.ok()) << s;

  char c;
  iovec in[] = {Iov(&c, 1)};
  std::vector<OwnedFd> got;
  s = b.RecvExact(in, kMaxFds, &got);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(got.size(), kMaxFds);
}

TEST_F(UnetTest, MoreThanMaxFdsIsRefusedAndNothingSent) {
  auto [a, b] = MustPair(SOCK_STREAM);
  OwnedFd null = MustOpenNull();
  std::vector<int> sent(kMaxFds + 1, null.get());
  std::string msg = "x";
  iovec out[] = {Iov(msg)};
  absl::Status s = a.SendAll(out, sent);
  EXPECT_EQ(Errno(s), EINVAL) << s;
  char c;
  EXPECT_EQ(recv(b.fd(), &c, 1, MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_F(UnetTest, FdsWithoutBytesAreRefused) {
  auto [a, b] = MustPair(SOCK_STREAM);
  OwnedFd null = MustOpenNull();
  int sent[] = {null.get()};
  EXPECT_EQ(Errno(a.SendAll({}, sent)), EINVAL);
}

TEST_F(UnetTest, EmptySendAndReceiveAreNoops) {
  auto [a, b] = MustPair(SOCK_STREAM);
  EXPECT_TRUE(a.SendAll({}, {}).ok());
  std::vector<OwnedFd> got;
  EXPECT_TRUE(b.RecvExact({}, 1, &got).ok());
  EXPECT_TRUE(got.empty());
  char c;
  EXPECT_EQ(recv(b.fd(), &c, 1, MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_F(UnetTest, MoreIovecsThanIovMax) {
  auto [a, b] = MustPair(SOCK_STREAM);
  constexpr size_t kN = 3000;  // > IOV_MAX (1024)
  std::string data = Pattern(kN);
  std::vector<iovec> out;
  for (size_t i = 0; i < kN; ++i) out.push_back(Iov(&data[i], 1));
  OwnedFd null = MustOpenNull();
  int sent[] = {null.get()};
  ASSERT_TRUE(a.SendAll(out, sent).ok());

  std::string back(kN, '\0');
  std::vector<iovec> in;
  for (size_t i = 0; i < kN; ++i) in.push_back(Iov(&back[i], 1));
  std::vector<OwnedFd> got;
  absl::Status s = b.RecvExact(in, 1, &got);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(back, data);
  EXPECT_EQ(got.size(), 1u);
}

// --- large messages and partial I/O ---

TEST_F(UnetTest, LargeMessageWithWriterThread) {
  auto [a, b] = MustPair(SOCK_STREAM);
  constexpr size_t kSize = 8 << 20;
  const std::string data = Pattern(kSize);
  std::vector<OwnedFd> nulls = OpenNulls(3);
  std::vector<int> sent = Raw(nulls);
  absl::Status send_status;
  std::thread writer([&, &a = a] {
    iovec out[] = {Iov(const_cast<char*>(data.data()), 10),
                   Iov(const_cast<char*>(data.data()) + 10, kSize - 10)};
    send_status = a.SendAll(out, sent);
  });

  std::string back(kSize, '\0');
  iovec in[] = {Iov(&back[0], 1), Iov(&back[1], (4 << 20) - 1),
                Iov(&back[4 << 20], kSize - (4 << 20))};
  std::vector<OwnedFd> got;
  absl::Status s = b.RecvExact(in, 3, &got);
  writer.join();
  ASSERT_TRUE(send_status.ok()) << send_status;
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(back == data);
  ASSERT_EQ(got.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(SameFile(got[i].get(), sent[i]));
}

TEST_F(UnetTest, PartialWritesCarryTheFdsOnlyOnce) {
  auto [a, b] = MustPair(SOCK_STREAM);
  // Non-blocking ends make every sendmsg stop when the socket buffer is
  // full, so the message goes out in many partial writes.
  SetNonblocking(a.fd());
  SetNonblocking(b.fd());
  constexpr size_t kSize = 4 << 20;
  const std::string data = Pattern(kSize);
  std::vector<OwnedFd> nulls = OpenNulls(2);
  std::vector<int> sent = Raw(nulls);
  absl::Status send_status;
  std::thread writer([&, &a = a] {
    iovec out[] = {Iov(const_cast<char*>(data.data()), kSize)};
    send_status = a.SendAll(out, sent);
  });

  // Read in small pieces, accepting FDs on every read, to see exactly where
  // they arrive.
  std::string back;
  std::vector<OwnedFd> got;
  std::vector<size_t> reads_with_fds;
  size_t reads = 0;
  char buf[16 << 10];
  while (back.size() < kSize) {
    iovec in[] = {Iov(buf, sizeof(buf))};
    size_t before = got.size();
    absl::StatusOr<size_t> n = b.RecvSome(in, kMaxFds, &got);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_GT(*n, 0u);
    if (got.size() != before) reads_with_fds.push_back(reads);
    back.append(buf, *n);
    ++reads;
  }
  writer.join();
  ASSERT_TRUE(send_status.ok()) << send_status;
  EXPECT_TRUE(back == data);
  EXPECT_GT(reads, 1u);
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(reads_with_fds, std::vector<size_t>{0});
}

TEST_F(UnetTest, TrySendStopsAtAFullSocketWithoutWaitingOrSendingFdsTwice) {
  auto [a, b] = MustPair(SOCK_STREAM);
  constexpr size_t kSize = 4 << 20;
  const std::string data = Pattern(kSize);
  std::vector<OwnedFd> nulls = OpenNulls(2);
  iovec out[] = {Iov(const_cast<char*>(data.data()), kSize)};
  // The socket is blocking, yet TrySend returns what fitted.
  absl::StatusOr<size_t> first = a.TrySend(out, Raw(nulls));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_GT(*first, 0u);
  ASSERT_LT(*first, kSize);
  iovec rest[] = {Iov(const_cast<char*>(data.data()) + *first, kSize - *first)};
  absl::StatusOr<size_t> full = a.TrySend(rest, {});
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(syserr::ToErrno(full.status()), EAGAIN);
  // Nothing to send is not an error; FDs without bytes are.
  EXPECT_EQ(*a.TrySend({}, {}), 0u);
  EXPECT_EQ(syserr::ToErrno(a.TrySend({}, Raw(nulls)).status()), EINVAL);

  std::vector<OwnedFd> got;
  std::string back;
  char buf[64 << 10];
  while (back.size() < *first) {
    iovec in[] = {Iov(buf, sizeof(buf))};
    absl::StatusOr<size_t> n = b.RecvSome(in, kMaxFds, &got);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_GT(*n, 0u);
    back.append(buf, *n);
  }
  EXPECT_TRUE(back == data.substr(0, *first));
  EXPECT_EQ(got.size(), 2u);
}

TEST_F(UnetTest, RecvExactOnNonblockingSocketWaits) {
  auto [a, b] = MustPair(SOCK_STREAM);
  SetNonblocking(b.fd());
  std::atomic<pid_t> tid{0};
  absl::Notification started;
  absl::Status recv_status;
  char buf[4];
  std::thread reader([&, &b = b] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    started.Notify();
    iovec in[] = {Iov(buf, 4)};
    recv_status = b.RecvExact(in, 0, nullptr);
  });
  started.WaitForNotification();
  WaitUntilBlockedIn(tid, kPollSyscalls);
  std::string msg = "late";
  iovec out[] = {Iov(msg)};
  ASSERT_TRUE(a.SendAll(out, {}).ok());
  reader.join();
  ASSERT_TRUE(recv_status.ok()) << recv_status;
  EXPECT_EQ(std::string(buf, 4), "late");
}

// --- FD limits on receipt ---

TEST_F(UnetTest, ControlTruncationIsAnErrorAndClosesEverything) {
  auto [a, b] = MustPair(SOCK_STREAM);
  {
    std::vector<OwnedFd> nulls = OpenNulls(5);
    std::string msg = "12345678";
    iovec out[] = {Iov(msg)};
    ASSERT_TRUE(a.SendAll(out, Raw(nulls)).ok());
  }  // The sender's copies are closed; only the in-flight ones remain.
  const size_t open_before = OpenFds().size();

  char buf[8];
  iovec in[] = {Iov(buf, 8)};
  std::vector<OwnedFd> got;
  got.push_back(MustOpenNull());
  absl::Status s = b.RecvExact(in, 1, &got);
  EXPECT_EQ(Errno(s), EMSGSIZE) << s;
  EXPECT_EQ(got.size(), 1u);  // Left as it was.
  got.clear();
  EXPECT_EQ(OpenFds().size(), open_before);
}

TEST_F(UnetTest, MoreFdsThanWantedIsAnErrorEvenWithoutTruncation) {
  auto [a, b] = MustPair(SOCK_STREAM);
  // CMSG_SPACE(4 * 1) has room for two FDs, so two arrive untruncated.
  std::vector<OwnedFd> nulls = OpenNulls(2);
  std::string msg = "x";
  iovec out[] = {Iov(msg)};
  ASSERT_TRUE(a.SendAll(out, Raw(nulls)).ok());
  const size_t open_before = OpenFds().size();

  char c;
  iovec in[] = {Iov(&c, 1)};
  std::vector<OwnedFd> got;
  absl::Status s = b.RecvExact(in, 1, &got);
  EXPECT_EQ(Errno(s), EMSGSIZE) << s;
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(OpenFds().size(), open_before);
}

TEST_F(UnetTest, NoFdsWantedDropsThemWithoutError) {
  auto [a, b] = MustPair(SOCK_STREAM);
  std::vector<OwnedFd> nulls = OpenNulls(3);
  std::string msg = "data";
  iovec out[] = {Iov(msg)};
  ASSERT_TRUE(a.SendAll(out, Raw(nulls)).ok());
  const size_t open_before = OpenFds().size();

  char buf[4];
  iovec in[] = {Iov(buf, 4)};
  absl::Status s = b.RecvExact(in, 0, nullptr);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(std::string(buf, 4), "data");
  EXPECT_EQ(OpenFds().size(), open_before);
}

TEST_F(UnetTest, FdsWantedWithoutAVectorIsEinval) {
  auto [a, b] = MustPair(SOCK_STREAM);
  char c;
  iovec in[] = {Iov(&c, 1)};
  EXPECT_EQ(Errno(b.RecvExact(in, 1, nullptr)), EINVAL);
  EXPECT_EQ(Errno(b.RecvSome(in, 1, nullptr).status()), EINVAL);
}

TEST_F(UnetTest, FdsOfAFollowingMessageAreNotTakenEarly) {
  auto [a, b] = MustPair(SOCK_STREAM);
  OwnedFd null = MustOpenNull();
  std::string m1 = "first", m2 = "second";
  iovec o1[] = {Iov(m1)};
  iovec o2[] = {Iov(m2)};
  int sent[] = {null.get()};
  ASSERT_TRUE(a.SendAll(o1, {}).ok());
  ASSERT_TRUE(a.SendAll(o2, sent).ok());

  char buf[6];
  iovec i1[] = {Iov(buf, 5)};
  std::vector<OwnedFd> got;
  ASSERT_TRUE(b.RecvExact(i1, 1, &got).ok());
  EXPECT_TRUE(got.empty());
  iovec i2[] = {Iov(buf, 6)};
  ASSERT_TRUE(b.RecvExact(i2, 1, &got).ok());
  EXPECT_EQ(std::string(buf, 6), "second");
  EXPECT_EQ(got.size(), 1u);
}

// --- end of stream and shutdown ---

TEST_F(UnetTest, PeerClosedBeforeAnyByteIsEconnreset) {
  auto [a, b] = MustPair(SOCK_STREAM);
  { Socket gone = std::move(b); }
  char buf[8];
  iovec in[] = {Iov(buf, 8)};
  absl::Status s = a.RecvExact(in, 0, nullptr);
  EXPECT_EQ(Errno(s), ECONNRESET) << s;
  EXPECT_NE(s.message().find("peer closed"), absl::string_view::npos) << s;
}

TEST_F(UnetTest, PeerClosedMidMessageIsEconnreset) {
  auto [a, b] = MustPair(SOCK_STREAM);
  std::string part = "abc";
  iovec out[] = {Iov(part)};
  ASSERT_TRUE(b.SendAll(out, {}).ok());
  { Socket gone = std::move(b); }
  char buf[8];
  iovec in[] = {Iov(buf, 8)};
  absl::Status s = a.RecvExact(in, 0, nullptr);
  EXPECT_EQ(Errno(s), ECONNRESET) << s;
  EXPECT_NE(s.message().find("3 of 8"), absl::string_view::npos) << s;
}

TEST_F(UnetTest, RecvSomeReturnsZeroAtEndOfStream) {
  auto [a, b] = MustPair(SOCK_STREAM);
  { Socket gone = std::move(b); }
  char buf[8];
  iovec in[] = {Iov(buf, 8)};
  absl::StatusOr<size_t> n = a.RecvSome(in, 0, nullptr);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
}

TEST_F(UnetTest, SendToClosedPeerIsEpipeNotSigpipe) {
  auto [a, b] = MustPair(SOCK_STREAM);
  { Socket gone = std::move(b); }
  std::string msg = "anyone?";
  iovec out[] = {Iov(msg)};
  absl::Status s = a.SendAll(out, {});
  EXPECT_EQ(Errno(s), EPIPE) << s;
}

TEST_F(UnetTest, ShutdownWakesABlockedRecvExact) {
  auto [a, b] = MustPair(SOCK_STREAM);
  std::atomic<pid_t> tid{0};
  absl::Notification started;
  absl::Status recv_status;
  std::thread reader([&, &a = a] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    started.Notify();
    char buf[8];
    iovec in[] = {Iov(buf, 8)};
    recv_status = a.RecvExact(in, 0, nullptr);
  });
  started.WaitForNotification();
  WaitUntilBlockedIn(tid, {SYS_recvmsg});
  ASSERT_TRUE(a.Shutdown().ok());
  reader.join();
  EXPECT_EQ(Errno(recv_status), ECONNRESET) << recv_status;
  // The peer, still open, sees end of stream too.
  char c;
  EXPECT_EQ(recv(b.fd(), &c, 1, 0), 0);
}

TEST_F(UnetTest, ShutdownIsIdempotent) {
  auto [a, b] = MustPair(SOCK_STREAM);
  EXPECT_TRUE(a.Shutdown().ok());
  EXPECT_TRUE(a.Shutdown().ok());
  EXPECT_TRUE(b.Shutdown().ok());
}

std::atomic<int> signals_seen{0};
void CountSignal(int) { signals_seen.fetch_add(1); }

TEST_F(UnetTest, InterruptedRecvExactIsRetried) {
  struct sigaction sa = {}, old = {};
  sa.sa_handler = CountSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // No SA_RESTART: a blocked recvmsg fails with EINTR.
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);

  auto [a, b] = MustPair(SOCK_STREAM);
  std::atomic<pid_t> tid{0};
  absl::Notification started;
  absl::Status recv_status;
  char buf[4];
  std::thread reader([&, &b = b] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    started.Notify();
    iovec in[] = {Iov(buf, 4)};
    recv_status = b.RecvExact(in, 0, nullptr);
  });
  started.WaitForNotification();
  const bool blocked = WaitUntilBlockedIn(tid, {SYS_recvmsg});
  const int seen = signals_seen.load();
  ASSERT_EQ(pthread_kill(reader.native_handle(), SIGUSR1), 0);
  if (blocked) {
    // The reader takes the signal, recvmsg fails with EINTR, and RecvExact
    // goes back into recvmsg.
    while (signals_seen.load() == seen) sched_yield();
    EXPECT_TRUE(WaitUntilBlockedIn(tid, {SYS_recvmsg}));
  }
  std::string msg = "ping";
  iovec out[] = {Iov(msg)};
  ASSERT_TRUE(a.SendAll(out, {}).ok());
  reader.join();
  sigaction(SIGUSR1, &old, nullptr);
  ASSERT_TRUE(recv_status.ok()) << recv_status;
  EXPECT_EQ(std::string(buf, 4), "ping");
}

TEST_F(UnetTest, DefaultSocketFailsWithEbadf) {
  Socket s;
  EXPECT_EQ(s.fd(), -1);
  std::string msg = "x";
  iovec out[] = {Iov(msg)};
  EXPECT_EQ(Errno(s.SendAll(out, {})), EBADF);
  char c;
  iovec in[] = {Iov(&c, 1)};
  EXPECT_EQ(Errno(s.RecvExact(in, 0, nullptr)), EBADF);
  EXPECT_EQ(Errno(s.Shutdown()), EBADF);
}

// --- FromFd and Release ---

TEST_F(UnetTest, FromFdOfANonSocketFailsAndClosesIt) {
  auto [r, w] = MustPipe();
  const int raw = r.get();
  absl::StatusOr<Socket> s = Socket::FromFd(std::move(r));
  EXPECT_EQ(Errno(s.status()), ENOTSOCK) << s.status();
  EXPECT_FALSE(IsOpen(raw));
}

TEST_F(UnetTest, FromFdOfAnotherFamilyFailsAndClosesIt) {
  OwnedFd inet(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!inet.valid()) GTEST_SKIP() << "no AF_INET: " << strerror(errno);
  const int raw = inet.get();
  absl::StatusOr<Socket> s = Socket::FromFd(std::move(inet));
  EXPECT_EQ(Errno(s.status()), EINVAL) << s.status();
  EXPECT_FALSE(IsOpen(raw));
}

TEST_F(UnetTest, FromFdOfNothingIsEbadf) {
  EXPECT_EQ(Errno(Socket::FromFd(OwnedFd()).status()), EBADF);
}

TEST_F(UnetTest, FromFdAndReleaseHandOwnershipBackAndForth) {
  auto [a, b] = MustPair(SOCK_STREAM);
  const int raw = a.fd();
  OwnedFd released = a.Release();
  EXPECT_EQ(released.get(), raw);
  EXPECT_EQ(a.fd(), -1);
  absl::StatusOr<Socket> again = Socket::FromFd(std::move(released));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->fd(), raw);
  std::string msg = "still works";
  iovec out[] = {Iov(msg)};
  ASSERT_TRUE(again->SendAll(out, {}).ok());
  std::string back(msg.size(), '\0');
  iovec in[] = {Iov(&back[0], back.size())};
  ASSERT_TRUE(b.RecvExact(in, 0, nullptr).ok());
  EXPECT_EQ(back, msg);
}

TEST_F(UnetTest, MovedSocketKeepsWorking) {
  auto [a, b] = MustPair(SOCK_STREAM);
  Socket moved = std::move(a);
  EXPECT_EQ(a.fd(), -1);  // NOLINT(bugprone-use-after-move)
  std::string msg = "m";
  iovec out[] = {Iov(msg)};
  ASSERT_TRUE(moved.SendAll(out, {}).ok());
  char c;
  iovec in[] = {Iov(&c, 1)};
  ASSERT_TRUE(b.RecvExact(in, 0, nullptr).ok());
  EXPECT_EQ(c, 'm');
}

}  // namespace
}  // namespace gvisor::unet
