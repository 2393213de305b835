#include "pkg/unet/hangup_watcher.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "pkg/fd/fd.h"

namespace gvisor::unet {
namespace {

struct Pair {
  fd::OwnedFd a, b;
};

Pair SocketPair() {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return Pair{fd::OwnedFd(fds[0]), fd::OwnedFd(fds[1])};
}

// Hangups records which of its callbacks the watcher ran.
class Hangups {
 public:
  std::function<void()> Fn(uint64_t id) {
    return [this, id] {
      std::lock_guard<std::mutex> l(mu_);
      ids_.insert(id);
      cv_.notify_all();
    };
  }
  bool WaitFor(uint64_t id, absl::Duration timeout = absl::Seconds(20)) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, absl::ToChronoSeconds(timeout),
                        [&] { return ids_.count(id) > 0; });
  }
  bool Seen(uint64_t id) {
    std::lock_guard<std::mutex> l(mu_);
    return ids_.count(id) > 0;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<uint64_t> ids_;
};

// ShutDown reports whether fd was shut down for reading, waiting up to
// timeout_ms.
bool ShutDown(int fd, int timeout_ms) {
  pollfd p{fd, POLLRDHUP, 0};
  return poll(&p, 1, timeout_ms) == 1 && (p.revents & (POLLRDHUP | POLLHUP));
}

TEST(HangupWatcherTest, ReportsAPeerThatCloses) {
  Hangups h;
  auto w = HangupWatcher::Create();
  ASSERT_TRUE(w.ok()) << w.status();
  Pair p = SocketPair(), q = SocketPair();
  absl::StatusOr<uint64_t> pid = (*w)->Watch(p.a.get(), h.Fn(1));
  absl::StatusOr<uint64_t> qid = (*w)->Watch(q.a.get(), h.Fn(2));
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(qid.ok());
  EXPECT_NE(*pid, *qid);
  EXPECT_EQ((*w)->watched(), 2u);
  p.b.reset();
  EXPECT_TRUE(h.WaitFor(1));
  EXPECT_FALSE(h.Seen(2));
  q.b.reset();
  EXPECT_TRUE(h.WaitFor(2));
  (*w)->Unwatch(*pid, p.a.get());
  (*w)->Unwatch(*qid, q.a.get());
  EXPECT_TRUE((*w)->AwaitWatched(0, absl::Seconds(20)));
}

TEST(HangupWatcherTest, ReportsASocketThatHungUpBeforeWatch) {
  Hangups h;
  auto w = HangupWatcher::Create();
  ASSERT_TRUE(w.ok()) << w.status();
  Pair p = SocketPair();
  p.b.reset();
  absl::StatusOr<uint64_t> id = (*w)->Watch(p.a.get(), h.Fn(7));
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(h.WaitFor(7));
  (*w)->Unwatch(*id, p.a.get());
}

TEST(HangupWatcherTest, RefusesNoCallbackAndBadFds) {
  auto w = HangupWatcher::Create();
  ASSERT_TRUE(w.ok()) << w.status();
  Pair p = SocketPair();
  EXPECT_FALSE((*w)->Watch(p.a.get(), nullptr).ok());
  EXPECT_FALSE((*w)->Watch(-1, [] {}).ok());
  EXPECT_EQ((*w)->watched(), 0u);
}

TEST(HangupWatcherTest, DefaultIsOneWatcher) {
  EXPECT_EQ(&HangupWatcher::Default(), &HangupWatcher::Default());
  Pair p = SocketPair();
  Hangups h;
  absl::StatusOr<uint64_t> id =
      HangupWatcher::Default().Watch(p.a.get(), h.Fn(3));
  ASSERT_TRUE(id.ok()) << id.status();
  p.b.reset();
  EXPECT_TRUE(h.WaitFor(3));
  HangupWatcher::Default().Unwatch(*id, p.a.get());
}

TEST(StallGuardTest, OwnedSocketIsClosedOnDisarm) {
  auto w = HangupWatcher::Create();
  ASSERT_TRUE(w.ok()) << w.status();
  auto pair = Socket::SocketPair(SOCK_STREAM);
  ASSERT_TRUE(pair.ok());
  absl::StatusOr<Socket> dup = pair->first.Dup();
  ASSERT_TRUE(dup.ok()) << dup.status();
  const int dup_fd = dup->fd();
  StallGuard g = (*w)->Guard(*std::move(dup), absl::Now() - absl::Seconds(1));
  // The dup is shut down, and with it the connection.
  EXPECT_TRUE(ShutDown(pair->first.fd(), 20000));
  EXPECT_TRUE(g.Disarm());
  EXPECT_EQ(fcntl(dup_fd, F_GETFD), -1);
}

TEST(StallGuardTest, ShutsTheSocketDownAtTheDeadline) {
  auto w = HangupWatcher::Create();
  ASSERT_TRUE(w.ok()) << w.status();
  Pair p = SocketPair();
  bool fired_callback = false;
  absl::Time start = absl::Now();
  StallGuard g = (*w)->Guard(p.a.get(), start + absl::Milliseconds(50),
                             [&] { fired_callback = true; });
  EXPECT_TRUE(ShutDown(p.a.get(), 20000));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_TRUE(g.Disarm());
  EXPECT_TRUE(fired_callback);
  EXPECT_FALSE(g.Disarm());
}

// Deadlines for the guard that must not fire and for the one whose firing
// shows that the watcher went past the first.
constexpr absl::Duration kFirst = absl::Milliseconds(500);
constexpr absl::Duration kLater = absl::Milliseconds(600);

TEST(StallGuardTest, DisarmedGuardNeverFires) {
  auto w = HangupWatcher::Create();
  ASSERT_TRUE(w.ok()) << w.status();
  Pair kept = SocketPair(), probe = SocketPair();
  // The first deadline leaves ample time to disarm before it, however
  // loaded the machine.
  absl::Time now = absl::Now();
  StallGuard g = (*w)->Guard(kept.a.get(), now + kFirst);
  EXPECT_FALSE(g.Disarm());
  // A later guard firing proves the watcher went past the first deadline.
  StallGuard later = (*w)->Guard(probe.a.get(), now + kLater);
  EXPECT_TRUE(ShutDown(probe.a.get(), 20000));
  EXPECT_TRUE(later.Disarm());
  EXPECT_FALSE(ShutDown(kept.a.get(), 0));
}

TEST(StallGuardTest, DestructorDisarms) {
  auto w = HangupWatcher::Create();
  ASSERT_TRUE(w.ok()) << w.status();
  Pair kept = SocketPair(), probe = SocketPair();
  absl::Time now = absl::Now();
  { StallGuard g = (*w)->Guard(kept.a.get(), now + kFirst); }
  StallGuard later = (*w)->Guard(probe.a.get(), now + kLater);
  EXPECT_TRUE(ShutDown(probe.a.get(), 20000));
  EXPECT_FALSE(ShutDown(kept.a.get(), 0));
}

TEST(StallGuardTest, EarlierGuardWakesTheWatcher) {
  auto w = HangupWatcher::Create();
  ASSERT_TRUE(w.ok()) << w.status();
  Pair far = SocketPair(), near = SocketPair();
  absl::Time now = absl::Now();
  StallGuard g1 = (*w)->Guard(far.a.get(), now + absl::Hours(1));
  StallGuard g2 = (*w)->Guard(near.a.get(), now + absl::Milliseconds(10));
  EXPECT_TRUE(ShutDown(near.a.get(), 20000));
  EXPECT_TRUE(g2.Disarm());
  EXPECT_FALSE(g1.Disarm());
}

TEST(StallGuardTest, PastDeadlineFiresAtOnce) {
  auto w = HangupWatcher::Create();
  ASSERT_TRUE(w.ok()) << w.status();
  Pair p = SocketPair();
  StallGuard g = (*w)->Guard(p.a.get(), absl::Now() - absl::Seconds(1));
  EXPECT_TRUE(ShutDown(p.a.get(), 20000));
  EXPECT_TRUE(g.Disarm());
}

TEST(StallGuardTest, MoveKeepsOneGuard) {
  auto w = HangupWatcher::Create();
  ASSERT_TRUE(w.ok()) << w.status();
  Pair p = SocketPair();
  StallGuard a = (*w)->Guard(p.a.get(), absl::Now() + absl::Hours(1));
  StallGuard b = std::move(a);
  EXPECT_FALSE(a.Disarm());  // NOLINT: moved-from guard is empty
  EXPECT_FALSE(b.Disarm());
}

}  // namespace
}  // namespace gvisor::unet
