// Fuzzes the lisafs client reading hostile bytes from a flipcall channel's
// shared memory (pkg/lisafs/README.md §8), not from the socket: a real Client
// mounts, starts a channel whose window a hostile gofer maps and drives by
// hand, and runs a fixed script of RPCs over it. The gofer answers each request
// with the next record of the input, written raw into the window: any
// datagram length (even past the window), any bytes, any FD count, and
// optionally a garbage connection state instead of the hand-back.
//
// Input: one flags byte, then records
//   [u8 ctl][u32 data_len][u16 n][n bytes]
// flags bit 0: Channel requests arriving on the channel are answered with
//   ENOMEM without taking a record.
// ctl bits 0-1: FDs (/dev/null) queued on the channel's FD socket first;
//   bit 2: hand back with state 3+ (a protocol error) instead of "client";
//   bit 3: shut the channel down instead of answering.
// When the records run out the gofer shuts the channel down; requests on
// the socket get Error(EIO) (ENOMEM for Channel).
//
// Nothing may crash, hang, leak an FD or a mapping, whatever the bytes.

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/types/span.h"
#include "glog/logging.h"
#include "pkg/context/context.h"
#include "pkg/fdchannel/fdchannel.h"
#include "pkg/flipcall/packet_window.h"
#include "pkg/lisafs/channel.h"
#include "pkg/lisafs/client.h"
#include "pkg/lisafs/hostile_gofer_testutil.h"
#include "pkg/lisafs/messages.h"
#include "pkg/unet/hangup_watcher.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"
#include "tools/fuzz/fuzz_seeds.h"

namespace gvisor::lisafs {
namespace {

using testutil::RawServerWindow;

// kMax is the gofer's announced message size limit; the window holds it.
constexpr uint32_t kMax = 8192;

// Records reads the input's records in order.
class Records {
 public:
  Records(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  struct Record {
    uint8_t ctl;
    uint32_t data_len;
    absl::Span<const uint8_t> bytes;
  };

  bool Next(Record* r) {
    if (size_ - at_ < 7) return false;
    r->ctl = data_[at_];
    memcpy(&r->data_len, data_ + at_ + 1, 4);
    uint16_t n;
    memcpy(&n, data_ + at_ + 5, 2);
    at_ += 7;
    n = static_cast<uint16_t>(std::min<size_t>(n, size_ - at_));
    r->bytes = absl::MakeConstSpan(data_ + at_, n);
    at_ += n;
    return true;
  }

 private:
  const uint8_t* const data_;
  const size_t size_;
  size_t at_ = 0;
};

// Gofer drives the window: handshake, then one record per request.
void Gofer(RawServerWindow& w, fdchannel::Endpoint& fds, bool enomem_channels,
           Records records) {
  if (!w.Handshake()) return;
  fd::OwnedFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  while (w.WaitForTurn()) {
    std::vector<uint8_t> req = w.Read(Channel::kHeaderSize);
    if (enomem_channels && req[0] == static_cast<uint8_t>(MID::kChannel) &&
        req[1] == 0) {
      std::vector<uint8_t> err = {0, 0, 0, 0};
      std::vector<uint8_t> e = *Marshal(ErrorResp{.err = ENOMEM});
      err.insert(err.end(), e.begin(), e.end());
      w.Reply(static_cast<uint32_t>(err.size()), err);
      continue;
    }
    Records::Record r;
    if (!records.Next(&r) || (r.ctl & 8) != 0) break;
    for (int i = 0; i < (r.ctl & 3); ++i) {
      // Non-blocking: a client that never reads them fills the queue.
      if (!fds.SendFD(null.get()).ok()) break;
    }
    if ((r.ctl & 4) != 0) {
      w.Reply(r.data_len, r.bytes, 3 + (r.ctl >> 4));
      return;  // the client sees a protocol error and drops the channel
    }
    w.Reply(r.data_len, r.bytes);
  }
  w.Shutdown();
}

void Run(const uint8_t* data, size_t size) {
  if (size == 0) return;
  // The process-wide hang-up watcher holds an epoll FD from its first use.
  unet::HangupWatcher::Default();
  const int fds_before = testing::OpenFdCount();
  {
    const size_t len =
        flipcall::PacketWindowLengthForDataCap(Channel::kHeaderSize + kMax);
    absl::StatusOr<fd::OwnedFd> file = testutil::NewWindowFile(len, true);
    if (!file.ok()) abort();
    absl::StatusOr<std::unique_ptr<RawServerWindow>> w =
        RawServerWindow::Map(file->get(), 0, len);
    auto fd_pair = fdchannel::NewConnectedSockets();
    auto pair = unet::Socket::SocketPair(SOCK_STREAM);
    if (!w.ok() || !fd_pair.ok() || !pair.ok()) abort();

    std::thread socket([&, s = std::move(pair->second)]() mutable {
      bool given = false;
      testutil::ServeSocket(
          s, kMax, [&](uint16_t mid, absl::Span<const uint8_t>) {
            testutil::SocketReply r;
            if (mid == static_cast<uint16_t>(MID::kChannel) && !given) {
              given = true;
              r.frame = testutil::ChannelReplyFrame(0, len);
              r.fds = {file->get(), fd_pair->second.fd()};
            } else if (mid == static_cast<uint16_t>(MID::kChannel)) {
              r.frame = testutil::ErrorReplyFrame(ENOMEM);
            } else {
              r.frame = testutil::ErrorReplyFrame(EIO);
            }
            return r;
          });
    });
    if (fcntl(fd_pair->first.fd(), F_SETFL, O_NONBLOCK) != 0) abort();
    fdchannel::Endpoint fds(std::move(fd_pair->first));
    std::thread gofer(Gofer, std::ref(**w), std::ref(fds), (data[0] & 1) != 0,
                      Records(data + 1, size - 1));

    const context::Context& ctx = context::Background();
    absl::StatusOr<Mounted> mounted = NewClient(ctx, std::move(pair->first));
    if (!mounted.ok()) abort();
    std::shared_ptr<Client> c = mounted->client;
    (void)c->StartChannels(ctx);
    ClientFD root = c->NewFD(1);
    (void)root.FStat(ctx);
    (void)root.WalkMultiple(ctx, std::vector<std::string>{"a", "b"});
    (void)root.OpenAt(ctx, O_RDONLY);
    (void)root.Getdents64(ctx, 65536);
    (void)root.ReadLinkAt(ctx);
    std::vector<uint8_t> buf(300);
    (void)root.Read(ctx, absl::MakeSpan(buf), 0);
    (void)root.ListXattr(ctx, 0);
    (void)root.GetXattr(ctx, "user.x", 64);
    (void)root.Connect(ctx, SOCK_STREAM);
    (void)root.BindAt(ctx, SOCK_STREAM, "s", 0600, 0, 0);
    (void)root.WalkStat(ctx, std::vector<std::string>{"", "a"});
    c->CloseFD(ctx, 2, true);
    c->Close();
    mounted = Mounted();
    c.reset();
    gofer.join();
    socket.join();
  }
  if (testing::OpenFdCount() != fds_before) abort();  // an FD leaked
  if (testing::WindowMappingCount() != 0) abort();    // a mapping leaked
}

}  // namespace
}  // namespace gvisor::lisafs

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The client logs every hostile answer it refuses; at fuzzing rates that
  // is all the time goes to.
  static const bool quiet = [] {
    FLAGS_minloglevel = google::GLOG_ERROR;
    return true;
  }();
  (void)quiet;
  if (size > 1 << 16) return 0;
  gvisor::lisafs::Run(data, size);
  return 0;
}

namespace gvisor::fuzz {
std::vector<std::vector<uint8_t>> FuzzSeeds() {
  using namespace gvisor::lisafs;  // NOLINT
  // rec appends a record answering with mid and payload p, with fds FDs.
  auto rec = [](std::vector<uint8_t>& s, MID mid, std::vector<uint8_t> p,
                uint8_t ctl = 0) {
    uint16_t m = static_cast<uint16_t>(mid);
    std::vector<uint8_t> d = {static_cast<uint8_t>(m & 0xff),
                              static_cast<uint8_t>(m >> 8),
                              static_cast<uint8_t>(ctl & 3), 0};
    d.insert(d.end(), p.begin(), p.end());
    uint32_t len = static_cast<uint32_t>(d.size());
    uint16_t n = static_cast<uint16_t>(d.size());
    s.push_back(ctl);
    s.insert(s.end(), reinterpret_cast<uint8_t*>(&len),
             reinterpret_cast<uint8_t*>(&len) + 4);
    s.insert(s.end(), reinterpret_cast<uint8_t*>(&n),
             reinterpret_cast<uint8_t*>(&n) + 2);
    s.insert(s.end(), d.begin(), d.end());
  };
  std::vector<std::vector<uint8_t>> seeds;
  // Well-formed answers to the whole script.
  std::vector<uint8_t> a = {1};
  rec(a, MID::kFStat, *Marshal(Statx{}));
  rec(a, MID::kWalk,
      *Marshal(WalkResp{WalkStatus::kSuccess, {Inode{2}, Inode{3}}}));
  rec(a, MID::kOpenAt, *Marshal(OpenAtResp{4}), 1);
  Getdents64Resp g;
  g.dirents.push_back(Dirent64{.ino = 1, .type = 2, .name = "nvidia0"});
  g.dirents.push_back(Dirent64{.ino = 2, .type = 4, .name = "dri"});
  rec(a, MID::kGetdents64, *Marshal(g));
  rec(a, MID::kReadLinkAt, *Marshal(ReadLinkAtResp{"target"}));
  rec(a, MID::kPRead, *Marshal(PReadResp{"abc"}));
  rec(a, MID::kFListXattr, *Marshal(FListXattrResp{{"user.a", "user.b"}}));
  rec(a, MID::kFGetXattr, *Marshal(FGetXattrResp{"v"}));
  rec(a, MID::kConnect, {}, 1);
  rec(a, MID::kBindAt, *Marshal(BindAtResp{Inode{5}, 6}), 1);
  WalkStatResp ws;
  ws.stats.resize(2);
  rec(a, MID::kWalkStat, *Marshal(ws));
  rec(a, MID::kClose, {});
  seeds.push_back(a);
  // Errors for everything, with stray FDs.
  std::vector<uint8_t> b = {1};
  for (int i = 0; i < 12; ++i) {
    rec(b, MID::kError, *Marshal(ErrorResp{.err = 2}), i % 4);
  }
  seeds.push_back(b);
  // Channel requests answered from the input: a Channel answer without a
  // usable window, then a datagram past the window, then a bad state.
  std::vector<uint8_t> c = {0};
  rec(c, MID::kChannel, *Marshal(ChannelResp{0, 4096}), 2);
  rec(c, MID::kFStat, *Marshal(Statx{}));
  c.push_back(0);
  uint32_t huge = 0xFFFFFFFF;
  c.insert(c.end(), reinterpret_cast<uint8_t*>(&huge),
           reinterpret_cast<uint8_t*>(&huge) + 4);
  c.push_back(0);
  c.push_back(0);
  rec(c, MID::kFStat, *Marshal(Statx{}), 4);
  seeds.push_back(c);
  return seeds;
}
}  // namespace gvisor::fuzz
