// FrameReader and FrameWriter over real socket pairs: frames that arrive
// together are all read (one recv), read-ahead moves to the reader at the
// end of a turn and never into another reader's, and a lent FD stays open,
// held by its lender, until the frame carrying it is sent.

#include "pkg/lisafs/frame_io.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/wire.h"
#include "pkg/unet/unet.h"

namespace gvisor::lisafs::internal {
namespace {

std::vector<uint8_t> FrameBytes(uint16_t mid, std::vector<uint8_t> payload) {
  std::array<uint8_t, kMessageHeaderSize> h = EncodeMessageHeader(
      static_cast<uint32_t>(payload.size()), static_cast<MID>(mid));
  std::vector<uint8_t> out(h.begin(), h.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

struct Pair {
  Pair() {
    absl::StatusOr<std::pair<unet::Socket, unet::Socket>> p =
        unet::Socket::SocketPair(SOCK_STREAM);
    EXPECT_TRUE(p.ok());
    a = std::move(p->first);
    b = std::move(p->second);
  }
  unet::Socket a, b;
};

void WriteAll(int fd, const std::vector<uint8_t>& bytes) {
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()),
            static_cast<ssize_t>(bytes.size()));
}

TEST(FrameReaderTest, FramesThatArriveTogetherAreReadAheadAndKeptAcrossTurns) {
  Pair p;
  std::vector<uint8_t> bytes = FrameBytes(3, {1, 2, 3});
  std::vector<uint8_t> second = FrameBytes(4, {4, 5});
  bytes.insert(bytes.end(), second.begin(), second.end());
  WriteAll(p.a.fd(), bytes);
  FrameReader r;
  size_t budget = 1 << 20;
  Frame f;
  ASSERT_EQ(r.Read(p.b.fd(), 1024, &budget, &f).value(), true);
  EXPECT_EQ(f.mid, 3);
  EXPECT_EQ(f.payload, (std::vector<uint8_t>{1, 2, 3}));
  // Both frames came with one recv.
  EXPECT_EQ(budget, (1u << 20) - bytes.size());
  // The turn ends with the second frame read ahead: the reader keeps it.
  EXPECT_TRUE(r.EndTurn());
  EXPECT_TRUE(r.partial());
  // Another reader's turn on this thread sees none of it.
  Pair q;
  FrameReader other;
  size_t other_budget = 1 << 20;
  EXPECT_EQ(other.Read(q.b.fd(), 1024, &other_budget, &f).value(), false);
  EXPECT_FALSE(other.EndTurn());
  // The next turn answers it without a byte more on the socket.
  ASSERT_EQ(r.Read(p.b.fd(), 1024, &budget, &f).value(), true);
  EXPECT_EQ(f.mid, 4);
  EXPECT_EQ(f.payload, (std::vector<uint8_t>{4, 5}));
  EXPECT_FALSE(r.EndTurn());
  EXPECT_FALSE(r.partial());
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(FrameReaderTest, ALargePayloadIsReadWhole) {
  Pair p;
  std::vector<uint8_t> payload(100000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = i % 251;
  std::vector<uint8_t> bytes = FrameBytes(7, payload);
  std::thread writer([&] { WriteAll(p.a.fd(), bytes); });
  FrameReader r;
  Frame f;
  bool got = false;
  while (!got) {
    size_t budget = 1 << 20;
    absl::StatusOr<bool> g = r.Read(p.b.fd(), 1 << 20, &budget, &f);
    ASSERT_TRUE(g.ok()) << g.status();
    got = *g;
    r.EndTurn();
    if (!got) {
      // Wait for more bytes without spinning.
      char c;
      ASSERT_GE(recv(p.b.fd(), &c, 1, MSG_PEEK), 0);
    }
  }
  writer.join();
  EXPECT_EQ(f.mid, 7);
  EXPECT_EQ(f.payload, payload);
}

TEST(FrameWriterTest, ALentFdIsHeldOpenUntilSent) {
  Pair p;
  // Fill the socket, so that the frame waits in the writer.
  int small = 4096;
  ASSERT_EQ(setsockopt(p.b.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
            0);
  std::vector<uint8_t> filler(4096, 0);
  size_t queued = 0;
  for (;;) {
    ssize_t n = send(p.b.fd(), filler.data(), filler.size(), MSG_DONTWAIT);
    if (n < 0) break;
    queued += static_cast<size_t>(n);
  }
  ASSERT_EQ(errno, EAGAIN);
  int pipefd[2];
  ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
  fd::OwnedFd write_end(pipefd[1]);
  auto lender = std::make_shared<fd::OwnedFd>(pipefd[0]);
  const int lent = lender->get();
  FrameWriter w;
  w.Start(7, {1, 2, 3, 4, 5, 6, 7, 8}, {}, lent, lender);
  ASSERT_EQ(w.Flush(p.b).value(), false);
  // The FDID is closed meanwhile (the table drops its reference): the FD
  // must stay open, not be closed and its number reused.
  lender.reset();
  struct stat st;
  ASSERT_EQ(fstat(lent, &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  // The peer reads what filled the socket; then the frame goes out with it.
  std::vector<uint8_t> sink(queued);
  size_t drained = 0;
  while (drained < queued) {
    ssize_t n = read(p.a.fd(), sink.data(), queued - drained);
    ASSERT_GT(n, 0);
    drained += static_cast<size_t>(n);
  }
  ASSERT_EQ(w.Flush(p.b).value(), true);
  // Sent: the writer no longer holds it, so it is closed now.
  EXPECT_EQ(fcntl(lent, F_GETFD), -1);
  uint8_t buf[16];
  iovec iov = {buf, sizeof(buf)};
  std::vector<fd::OwnedFd> fds;
  ASSERT_TRUE(p.a.RecvSome(absl::MakeConstSpan(&iov, 1), 4, &fds).ok());
  ASSERT_EQ(fds.size(), 1u);
  ASSERT_EQ(fstat(fds[0].get(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(write(write_end.get(), "x", 1), 1);
  char c = 0;
  EXPECT_EQ(read(fds[0].get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

}  // namespace
}  // namespace gvisor::lisafs::internal
