// Channels end to end (pkg/lisafs/README.md §6.7, §6.8, §8): our client against
// our server through the hermetic fixture (every RPC, FD donation, concurrency,
// the channel limit, Close, leaks), and against a scripted server, in this
// process or in a child process, for what a real server never does: stop
// answering, or die, in the middle of an RPC on a channel.

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/stat.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/fdchannel/fdchannel.h"
#include "pkg/flipcall/flipcall.h"
#include "pkg/lisafs/channel.h"
#include "pkg/lisafs/client.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/sock_communicator.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/hangup_watcher.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"
#include "testing/gofer_fixture.h"

namespace gvisor::lisafs {
namespace {

using ::gvisor::testing::OpenFdCount;
using ::gvisor::testing::WindowMappingCount;
using std::chrono::milliseconds;
using std::chrono::seconds;

const context::Context& Ctx() { return context::Background(); }

unet::Socket Wrap(fd::OwnedFd fd) {
  absl::StatusOr<unet::Socket> s = unet::Socket::FromFd(std::move(fd));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : unet::Socket();
}

// AwaitUnwatched waits until no client is registered with the watcher. A
// client whose socket hung up may be destroyed on the watcher's thread,
// just after the test dropped its last reference.
void AwaitUnwatched() {
  EXPECT_TRUE(unet::HangupWatcher::Default().AwaitWatched(0, absl::Seconds(10)))
      << unet::HangupWatcher::Default().watched() << " still watched";
}

std::string ErrName(const absl::Status& s) {
  return s.ok() ? "ok" : std::string(syserr::ErrnoName(syserr::ToErrno(s)));
}

// --- Against our server ------------------------------------------------------

class ChannelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The watcher's epoll FD lives as long as the process.
    unet::HangupWatcher::Default();
    fds_before_ = OpenFdCount();
    absl::StatusOr<std::unique_ptr<testing::GoferFixture>> f =
        testing::GoferFixture::Create();
    ASSERT_TRUE(f.ok()) << f.status();
    fixture_ = *std::move(f);
  }

  void TearDown() override {
    fixture_.reset();
    AwaitUnwatched();
    EXPECT_EQ(OpenFdCount(), fds_before_) << "FD leak";
    EXPECT_EQ(WindowMappingCount(), 0) << "packet window mapping leak";
  }

  // Mount connects a new client to the tree (or to the devices).
  Mounted Mount(bool devices = false) {
    absl::StatusOr<fd::OwnedFd> sock =
        devices ? fixture_->ConnectDevices() : fixture_->Connect();
    EXPECT_TRUE(sock.ok()) << sock.status();
    absl::StatusOr<Mounted> m = NewClient(Ctx(), Wrap(*std::move(sock)));
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *std::move(m) : Mounted();
  }

  std::string Host(absl::string_view rel) const {
    return absl::StrCat(fixture_->root(), "/", rel);
  }

  std::unique_ptr<testing::GoferFixture> fixture_;
  int fds_before_ = 0;
};

TEST_F(ChannelsTest, StartChannelsStartsMaxChannels) {
  Mounted m = Mount();
  ASSERT_NE(m.client, nullptr);
  EXPECT_EQ(m.client->channels(), 0u);
  ASSERT_TRUE(m.client->StartChannels(Ctx()).ok());
  EXPECT_EQ(m.client->channels(), MaxChannels());
  EXPECT_EQ(unet::HangupWatcher::Default().watched(), 1u);
  // The first Channel RPC went over the socket, the later ones over the
  // first channel.
  Client::Stats st = m.client->stats();
  EXPECT_EQ(st.socket_rpcs, 2u);  // Mount, Channel
  EXPECT_EQ(st.channel_rpcs, MaxChannels() - 1);
  // Calling it again finds nothing to do.
  ASSERT_TRUE(m.client->StartChannels(Ctx()).ok());
  EXPECT_EQ(m.client->stats().socket_rpcs, 2u);
  m.client->Close();
  EXPECT_EQ(m.client->channels(), 0u);
}

TEST_F(ChannelsTest, TheServerLimitIsENOMEM) {
  Mounted m = Mount();
  ASSERT_TRUE(m.client->StartChannels(Ctx()).ok());
  std::vector<fd::OwnedFd> fds;
  absl::StatusOr<ChannelResp> r =
      m.client->Rpc<ChannelResp>(Ctx(), MID::kChannel, EmptyMessage{}, 2, &fds);
  EXPECT_EQ(syserr::ToErrno(r.status()), ENOMEM);
  EXPECT_TRUE(fds.empty());
  // Its channels keep working.
  ClientFD root = m.client->NewFD(m.root.control_fd);
  EXPECT_TRUE(root.FStat(Ctx()).ok());
}

// Scenario runs one of each client RPC in a scratch directory of its own
// and returns what each gave, in words that do not depend on the directory.
std::vector<std::string> Scenario(const std::shared_ptr<Client>& c,
                                  ClientFD root, const std::string& scratch,
                                  const std::string& host_root) {
  std::vector<std::string> log;
  auto add = [&](absl::string_view what, const absl::Status& s,
                 absl::string_view detail = "") {
    log.push_back(absl::StrCat(what, ": ", ErrName(s),
                               detail.empty() ? "" : " ", detail));
  };
  const context::Context& ctx = Ctx();
  absl::StatusOr<Inode> dir = root.MkdirAt(ctx, scratch, 0755, 0, 0);
  add("MkdirAt", dir.status());
  if (!dir.ok()) return log;
  ClientFD d = c->NewFD(dir->control_fd);

  absl::StatusOr<Statx> st = d.FStat(ctx);
  add("FStat", st.status(), st.ok() ? absl::StrCat(st->mode) : "");
  absl::StatusOr<CreateResult> cr =
      d.OpenCreateAt(ctx, "f", O_RDWR, 0644, 0, 0);
  add("OpenCreateAt", cr.status(),
      cr.ok() ? absl::StrCat("host_fd=", cr->host_fd.valid()) : "");
  if (!cr.ok()) return log;
  ClientFD file = c->NewFD(cr->child.control_fd);
  ClientFD open = c->NewFD(cr->open_fd);
  // Larger than one message: several PWrite/PRead RPCs, one of them of
  // exactly the maximum message size.
  std::vector<uint8_t> big(3 * c->max_message_size() + 17);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
  absl::StatusOr<size_t> w = open.Write(ctx, absl::MakeConstSpan(big), 0);
  add("Write", w.status(), w.ok() ? absl::StrCat(*w) : "");
  std::vector<uint8_t> back(big.size() + 10);
  absl::StatusOr<size_t> r = open.Read(ctx, absl::MakeSpan(back), 0);
  add("Read", r.status(),
      r.ok()
          ? absl::StrCat(
                *r, " same=", std::equal(big.begin(), big.end(), back.begin()))
          : "");
  add("Sync", open.Sync(ctx));
  add("Flush", open.Flush(ctx));
  add("Allocate", open.Allocate(ctx, 0, 0, 1 << 20));
  SetStatReq ss;
  static_assert(STATX_TYPE == 0x1);
  ss.mask = STATX_TYPE;  // not settable: a failure mask comes back
  absl::StatusOr<SetStatResult> ssr = file.SetStat(ctx, ss);
  add("SetStat", ssr.status());
  absl::StatusOr<StatFS> fs = d.StatFSTo(ctx);
  add("StatFSTo", fs.status());
  absl::StatusOr<Inode> sub = d.MkdirAt(ctx, "sub", 0700, 0, 0);
  add("MkdirAt sub", sub.status());
  absl::StatusOr<Inode> fifo =
      d.MknodAt(ctx, "fifo", S_IFIFO | 0600, 0, 0, 0, 0);
  add("MknodAt", fifo.status());
  absl::StatusOr<Inode> ln = d.SymlinkAt(ctx, "ln", "f", 0, 0);
  add("SymlinkAt", ln.status());
  absl::StatusOr<std::string> target =
      ln.ok() ? c->NewFD(ln->control_fd).ReadLinkAt(ctx)
              : absl::StatusOr<std::string>(ln.status());
  add("ReadLinkAt", target.status(), target.ok() ? *target : "");
  absl::StatusOr<Inode> hard = d.LinkAt(ctx, file.id(), "hard");
  add("LinkAt", hard.status());
  absl::StatusOr<Inode> walked = d.Walk(ctx, "f");
  add("Walk", walked.status());
  add("Walk missing", d.Walk(ctx, "missing").status());
  std::vector<std::string> names = {"", "sub"};
  absl::StatusOr<std::vector<Statx>> ws = d.WalkStat(ctx, names);
  add("WalkStat", ws.status(), ws.ok() ? absl::StrCat(ws->size()) : "");
  std::vector<std::string> multi = {"sub", "missing"};
  absl::StatusOr<WalkResult> wm = d.WalkMultiple(ctx, multi);
  add("WalkMultiple", wm.status(),
      wm.ok()
          ? absl::StrCat(static_cast<int>(wm->status), "/", wm->inodes.size())
          : "");
  add("RenameAt", d.RenameAt(ctx, "hard", d.id(), "hard2"));
  add("RenameAt2 noreplace",
      d.RenameAt(ctx, "hard2", d.id(), "f", RENAME_NOREPLACE));
  add("UnlinkAt", d.UnlinkAt(ctx, "hard2", 0));
  add("UnlinkAt missing", d.UnlinkAt(ctx, "hard2", 0));
  add("SetXattr", file.SetXattr(ctx, "user.k", "v", 0));
  absl::StatusOr<std::string> gx = file.GetXattr(ctx, "user.k", 64);
  add("GetXattr", gx.status(), gx.ok() ? *gx : "");
  absl::StatusOr<std::vector<std::string>> lx = file.ListXattr(ctx, 256);
  add("ListXattr", lx.status(), lx.ok() ? absl::StrCat(lx->size()) : "");
  add("RemoveXattr", file.RemoveXattr(ctx, "user.k"));
  absl::StatusOr<OpenResult> od = d.OpenAt(ctx, O_RDONLY);
  add("OpenAt dir", od.status());
  if (od.ok()) {
    ClientFD dfd = c->NewFD(od->open_fd);
    std::vector<std::string> ents;
    for (int32_t count = -65536;; count = 65536) {
      absl::StatusOr<std::vector<Dirent64>> e = dfd.Getdents64(ctx, count);
      if (!e.ok() || e->empty()) break;
      for (const Dirent64& x : *e) ents.push_back(x.name);
    }
    std::sort(ents.begin(), ents.end());
    log.push_back(absl::StrCat("Getdents64: ", absl::StrJoin(ents, ",")));
  }
  // Connect to the fixture's listening socket: a donated FD.
  absl::StatusOr<Inode> sock = root.Walk(ctx, "socket");
  if (sock.ok()) {
    absl::StatusOr<fd::OwnedFd> conn =
        c->NewFD(sock->control_fd).Connect(ctx, SOCK_STREAM);
    add("Connect", conn.status(), conn.ok() ? "fd" : "");
  }
  absl::StatusOr<std::pair<Inode, ClientBoundSocketFD>> b =
      d.BindAt(ctx, SOCK_STREAM, "bound", 0600, 0, 0);
  add("BindAt", b.status());
  if (b.ok()) {
    add("Listen", b->second.Listen(ctx, 4));
    add("Accept", b->second.Accept(ctx).status());
    b->second.Close(ctx);
  }
  add("UnlinkAt dir", root.UnlinkAt(ctx, scratch, AT_REMOVEDIR));
  return log;
}

TEST_F(ChannelsTest, EveryRpcGivesOverAChannelWhatItGivesOverTheSocket) {
  Mounted plain = Mount();
  Mounted chan = Mount();
  ASSERT_NE(plain.client, nullptr);
  ASSERT_NE(chan.client, nullptr);
  ASSERT_TRUE(chan.client->StartChannels(Ctx()).ok());
  const uint64_t socket_before = chan.client->stats().socket_rpcs;
  std::vector<std::string> want =
      Scenario(plain.client, plain.client->NewFD(plain.root.control_fd),
               "scratch-socket", fixture_->root());
  std::vector<std::string> got =
      Scenario(chan.client, chan.client->NewFD(chan.root.control_fd),
               "scratch-channel", fixture_->root());
  EXPECT_EQ(got, want);
  EXPECT_GT(want.size(), 30u);
  for (const std::string& line : got) {
    EXPECT_EQ(line.find("EIO"), std::string::npos) << line;
  }
  // Every one of them went over a channel.
  EXPECT_EQ(chan.client->stats().socket_rpcs, socket_before);
  EXPECT_EQ(plain.client->stats().channel_rpcs, 0u);
}

TEST_F(ChannelsTest, OpenAtOverAChannelDonatesTheDevice) {
  Mounted m = Mount(/*devices=*/true);
  ASSERT_NE(m.client, nullptr);
  ASSERT_TRUE(m.client->StartChannels(Ctx()).ok());
  ClientFD root = m.client->NewFD(m.root.control_fd);
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<Inode> zero = root.Walk(Ctx(), "zero");
    ASSERT_TRUE(zero.ok()) << zero.status();
    ClientFD z = m.client->NewFD(zero->control_fd);
    absl::StatusOr<OpenResult> o = z.OpenAt(Ctx(), O_RDONLY);
    ASSERT_TRUE(o.ok()) << o.status();
    ASSERT_TRUE(o->host_fd.valid());
    char buf[16];
    memset(buf, 1, sizeof(buf));
    ASSERT_EQ(read(o->host_fd.get(), buf, sizeof(buf)), 16);
    EXPECT_EQ(buf[0], 0);
    EXPECT_EQ(buf[15], 0);
    EXPECT_NE(fcntl(o->host_fd.get(), F_GETFD) & FD_CLOEXEC, 0);
    m.client->NewFD(o->open_fd).Close(Ctx(), false);
    z.Close(Ctx(), i % 5 == 4);
  }
  EXPECT_EQ(m.client->stats().socket_rpcs, 2u);
}

TEST_F(ChannelsTest, ConcurrentRpcsSpreadOverChannels) {
  Mounted m = Mount();
  ASSERT_TRUE(m.client->StartChannels(Ctx()).ok());
  ClientFD root = m.client->NewFD(m.root.control_fd);
  constexpr int kThreads = 16;
  constexpr int kRounds = 150;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        absl::StatusOr<Inode> f = root.Walk(Ctx(), "file");
        if (!f.ok()) {
          ++failures;
          continue;
        }
        ClientFD fd = m.client->NewFD(f->control_fd);
        absl::StatusOr<OpenResult> o = fd.OpenAt(Ctx(), O_RDONLY);
        if (!o.ok() || !o->host_fd.valid()) {
          ++failures;
        } else {
          char buf[6];
          if (pread(o->host_fd.get(), buf, 6, 0) != 6) ++failures;
          m.client->NewFD(o->open_fd).Close(Ctx(), false);
        }
        fd.Close(Ctx(), i % 10 == 0);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  Client::Stats st = m.client->stats();
  EXPECT_GT(st.channel_rpcs, 0u);
  EXPECT_GE(st.busiest_channels, 2u);
  EXPECT_EQ(m.client->channels(), MaxChannels());
}

TEST_F(ChannelsTest, CloseWithChannelsFailsLaterRpcsAndReleasesEverything) {
  Mounted m = Mount();
  ASSERT_TRUE(m.client->StartChannels(Ctx()).ok());
  EXPECT_EQ(WindowMappingCount(), 2 * static_cast<int>(MaxChannels()));
  ClientFD root = m.client->NewFD(m.root.control_fd);
  ASSERT_TRUE(root.FStat(Ctx()).ok());
  m.client->Close();
  m.client->Close();
  EXPECT_EQ(syserr::ToErrno(root.FStat(Ctx()).status()), EIO);
  EXPECT_EQ(syserr::ToErrno(m.client->StartChannels(Ctx())), EIO);
  EXPECT_EQ(unet::HangupWatcher::Default().watched(), 0u);
  // The server notices, and drops its side of every channel.
  fixture_->server().AwaitConnections(0);
  EXPECT_EQ(WindowMappingCount(), 0);
}

TEST_F(ChannelsTest, CloseRacesWithRpcsOnChannels) {
  for (int round = 0; round < 10; ++round) {
    Mounted m = Mount();
    ASSERT_TRUE(m.client->StartChannels(Ctx()).ok());
    ClientFD root = m.client->NewFD(m.root.control_fd);
    std::atomic<bool> stop{false};
    // Close comes once every thread has finished one RPC, so that it lands
    // among RPCs in flight rather than before the first.
    std::latch first_done(6);
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&] {
        bool first = true;
        while (!stop.load()) {
          absl::Status s = root.FStat(Ctx()).status();
          if (first) {
            first_done.count_down();
            first = false;
          }
          if (!s.ok()) {
            // EIO once the client is closed; ECONNRESET from a server
            // that is closing the connection (pkg/lisafs/README.md §7.2).
            int err = syserr::ToErrno(s);
            EXPECT_TRUE(err == EIO || err == ECONNRESET) << s;
            break;
          }
        }
      });
    }
    first_done.wait();
    m.client->Close();
    stop = true;
    for (std::thread& t : threads) t.join();
  }
  fixture_->server().AwaitConnections(0);
}

TEST_F(ChannelsTest, ServerEndingTheConnectionFailsChannelRpcs) {
  Mounted m = Mount();
  ASSERT_TRUE(m.client->StartChannels(Ctx()).ok());
  ClientFD root = m.client->NewFD(m.root.control_fd);
  fixture_->server().Shutdown();
  fixture_->server().Wait();
  // The server shut its channels down: channel RPCs fail with EIO, then the
  // watcher retires the channels and the socket fails too.
  for (int i = 0; i < 2 * static_cast<int>(MaxChannels()) + 2; ++i) {
    EXPECT_EQ(syserr::ToErrno(root.FStat(Ctx()).status()), EIO);
  }
  m.client.reset();
}

TEST_F(ChannelsTest, ClientsThatNeverStartChannelsAreNotWatched) {
  std::vector<Mounted> clients;
  for (int i = 0; i < 8; ++i) clients.push_back(Mount());
  for (Mounted& m : clients) {
    ClientFD root = m.client->NewFD(m.root.control_fd);
    ASSERT_TRUE(root.FStat(Ctx()).ok());
    EXPECT_EQ(m.client->stats().channel_rpcs, 0u);
  }
  EXPECT_EQ(unet::HangupWatcher::Default().watched(), 0u);
  EXPECT_EQ(WindowMappingCount(), 0);
}

TEST_F(ChannelsTest, ManyClientsWithChannelsShareOneWatcher) {
  std::vector<Mounted> clients;
  for (int i = 0; i < 12; ++i) {
    clients.push_back(Mount());
    ASSERT_TRUE(clients.back().client->StartChannels(Ctx()).ok());
  }
  EXPECT_EQ(unet::HangupWatcher::Default().watched(), 12u);
  for (Mounted& m : clients) {
    EXPECT_TRUE(m.client->NewFD(m.root.control_fd).FStat(Ctx()).ok());
  }
  clients.clear();
  EXPECT_EQ(unet::HangupWatcher::Default().watched(), 0u);
}

// --- Against a scripted server -----------------------------------------------

// kFakeMax is the scripted server's message size limit.
constexpr uint32_t kFakeMax = 8192;

// Answer handles one request (mid, payload) arriving on the channel: it
// writes the response with ch.WriteMessage (after sending any FDs) and
// returns its length, or returns 0 to stop answering for good.
using Answer = std::function<uint32_t(Channel& ch, const Frame& req)>;

// ServeScripted plays a server on sock: it answers Mount, gives one channel
// for the first Channel request and ENOMEM for the others (which arrive on
// that channel), and hands every other request on the channel to answer.
// It returns an errno-like code: 0 when answer stopped, else where it
// failed. It is self-contained so that a forked child can run it.
int ServeScripted(unet::Socket sock, const Answer& answer) {
  SockCommunicator comm(std::move(sock));
  Frame f;
  if (!comm.RecvFrame(0, kFakeMax, &f).ok() || f.mid != 1) return 10;
  MountResp mount;
  mount.root.control_fd = 1;
  mount.max_message_size = kFakeMax;
  for (int m = 1; m <= 33; ++m) {
    if (m != 20) mount.supported_mids.push_back(static_cast<MID>(m));
  }
  if (!comm.SendFrame(1, *Marshal(mount)).ok()) return 11;
  if (!comm.RecvFrame(0, kFakeMax, &f).ok() || f.mid != 2) return 12;
  absl::StatusOr<flipcall::PacketWindowAllocator> alloc =
      flipcall::PacketWindowAllocator::Create();
  if (!alloc.ok()) return 13;
  absl::StatusOr<flipcall::PacketWindowDescriptor> d =
      alloc->Allocate(16 + 4 + kFakeMax);
  if (!d.ok()) return 14;
  absl::StatusOr<std::unique_ptr<flipcall::Endpoint>> ep =
      flipcall::Endpoint::Create(flipcall::Side::kServer, *d);
  auto socks = fdchannel::NewConnectedSockets();
  if (!ep.ok() || !socks.ok()) return 15;
  Channel ch(*std::move(ep), fdchannel::Endpoint(std::move(socks->first)));
  ChannelResp cr{.data_offset = d->offset, .data_length = d->length};
  int fds[2] = {alloc->fd(), socks->second.fd()};
  if (!comm.SendFrame(2, *Marshal(cr), fds).ok()) return 16;
  socks->second = unet::Socket();
  absl::StatusOr<uint32_t> n = ch.data().RecvFirst();
  while (n.ok()) {
    Frame req;
    if (!ch.ReadMessage(*n, kFakeMax, &req).ok()) return 17;
    uint32_t len;
    if (req.mid == 2) {
      len = *ch.WriteMessage(0, 0, *Marshal(ErrorResp{.err = ENOMEM}));
    } else {
      len = answer(ch, req);
      if (len == 0) return 0;
    }
    n = ch.data().SendRecv(len);
  }
  return 18;
}

class ScriptedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unet::HangupWatcher::Default();
    fds_before_ = OpenFdCount();
  }
  void TearDown() override {
    AwaitUnwatched();
    EXPECT_EQ(OpenFdCount(), fds_before_) << "FD leak";
    EXPECT_EQ(WindowMappingCount(), 0);
  }

  // Connect makes the socket pair and mounts a client on one end, while
  // serve runs on the other; then starts channels (one, then ENOMEM).
  std::shared_ptr<Client> Connect(
      const std::function<void(unet::Socket)>& serve) {
    auto pair = unet::Socket::SocketPair(SOCK_STREAM);
    EXPECT_TRUE(pair.ok());
    serve(std::move(pair->second));
    absl::StatusOr<Mounted> m = NewClient(Ctx(), std::move(pair->first));
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return nullptr;
    EXPECT_TRUE(m->client->StartChannels(Ctx()).ok());
    EXPECT_EQ(m->client->channels(), 1u);
    return m->client;
  }

  int fds_before_ = 0;
};

TEST_F(ScriptedTest, V15WindowBytesOfARequestAndItsAnswers) {
  std::promise<int> served;
  // The flipcall hand-over orders these accesses, but ThreadSanitizer cannot
  // tell: the two ends map the window at different addresses.
  std::mutex seen_mu;
  std::vector<uint8_t> seen;
  std::thread server;
  std::shared_ptr<Client> c = Connect([&](unet::Socket s) {
    server = std::thread([&, s = std::move(s)]() mutable {
      int call = 0;
      served.set_value(ServeScripted(std::move(s), [&](Channel& ch,
                                                       const Frame& req) {
        const uint8_t* w = ch.data().data() - 16;
        if (call++ == 0) {
          std::lock_guard<std::mutex> l(seen_mu);
          seen.assign(w, w + 36);
          // V15(c): FDID 4 and one FD, sent before the hand-over.
          fd::OwnedFd zero(open("/dev/zero", O_RDONLY | O_CLOEXEC));
          int f = zero.get();
          uint8_t sent = ch.SendFDs(absl::MakeConstSpan(&f, 1));
          return *ch.WriteMessage(7, sent, *Marshal(OpenAtResp{.open_fd = 4}));
        }
        if (call == 2) {
          // V15(d): Error(ENOENT).
          return *ch.WriteMessage(0, 0, *Marshal(ErrorResp{.err = ENOENT}));
        }
        return 0u;
      }));
    });
  });
  ASSERT_NE(c, nullptr);
  ClientFD f = c->NewFD(3);
  absl::StatusOr<OpenResult> o = f.OpenAt(Ctx(), O_RDWR);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->open_fd, 4u);
  ASSERT_TRUE(o->host_fd.valid());
  char b;
  EXPECT_EQ(read(o->host_fd.get(), &b, 1), 1);
  // V15(b), as the server saw it.
  std::lock_guard<std::mutex> l(seen_mu);
  EXPECT_EQ(seen, (std::vector<uint8_t>{
                      0x01, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00,
                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00,
                      0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                      0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}));
  EXPECT_EQ(syserr::ToErrno(f.OpenAt(Ctx(), O_RDWR).status()), ENOENT);
  c->Close();
  server.join();
  EXPECT_EQ(served.get_future().get(), 18);  // the channel was shut down
}

TEST_F(ScriptedTest, CloseWakesAnRpcBlockedOnAChannel) {
  std::thread server;
  std::promise<void> request_arrived;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::shared_ptr<Client> c = Connect([&](unet::Socket s) {
    server = std::thread([&, s = std::move(s)]() mutable {
      // Hold the socket open, and never answer the request.
      ServeScripted(std::move(s), [&](Channel&, const Frame&) {
        request_arrived.set_value();
        released.wait();
        return 0u;
      });
    });
  });
  ASSERT_NE(c, nullptr);
  std::future<absl::Status> rpc = std::async(
      std::launch::async, [&] { return c->NewFD(1).FStat(Ctx()).status(); });
  request_arrived.get_future().wait();
  EXPECT_EQ(rpc.wait_for(milliseconds(100)), std::future_status::timeout);
  c->Close();
  ASSERT_EQ(rpc.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_EQ(syserr::ToErrno(rpc.get()), EIO);
  release.set_value();
  server.join();
}

TEST_F(ScriptedTest, AServerClosingItsSocketMidRpcWakesTheChannel) {
  std::thread server;
  std::promise<void> request_arrived;
  std::shared_ptr<Client> c = Connect([&](unet::Socket s) {
    server = std::thread([&, s = std::move(s)]() mutable {
      // Returning from ServeScripted closes the socket: the server is gone
      // while the client waits on the channel.
      ServeScripted(std::move(s), [&](Channel&, const Frame&) {
        request_arrived.set_value();
        return 0u;
      });
    });
  });
  ASSERT_NE(c, nullptr);
  std::future<absl::Status> rpc = std::async(
      std::launch::async, [&] { return c->NewFD(1).FStat(Ctx()).status(); });
  ASSERT_EQ(rpc.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_EQ(syserr::ToErrno(rpc.get()), EIO);
  server.join();
  // Nothing is handed out any more: later RPCs take the dead socket.
  EXPECT_EQ(c->channels(), 0u);
  EXPECT_EQ(syserr::ToErrno(c->NewFD(1).FStat(Ctx()).status()), EIO);
  c.reset();
}

TEST_F(ScriptedTest, AServerProcessKilledMidRpcFailsItWithEIO) {
  int ready[2];
  ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
  fd::OwnedFd ready_r(ready[0]), ready_w(ready[1]);
  pid_t pid = -1;
  std::shared_ptr<Client> c = Connect([&](unet::Socket s) {
    pid = fork();
    if (pid == 0) {
      ready_r.reset();
      int rc = ServeScripted(std::move(s), [&](Channel&, const Frame&) {
        // A request is in flight: say so, and hang until killed.
        char x = 1;
        if (write(ready_w.get(), &x, 1) != 1) _exit(30);
        for (;;) pause();
        return 0u;
      });
      _exit(rc == 0 ? 0 : rc);
    }
    // The parent's copy of the server end goes away with s.
  });
  ASSERT_GT(pid, 0);
  ready_w.reset();
  ASSERT_NE(c, nullptr);
  std::future<absl::Status> rpc = std::async(
      std::launch::async, [&] { return c->NewFD(1).FStat(Ctx()).status(); });
  char x;
  ASSERT_EQ(read(ready_r.get(), &x, 1), 1);
  EXPECT_EQ(rpc.wait_for(milliseconds(100)), std::future_status::timeout);
  // Nothing but the hang-up watcher can wake the caller now.
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_EQ(rpc.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_EQ(syserr::ToErrno(rpc.get()), EIO);
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(syserr::ToErrno(c->NewFD(1).FStat(Ctx()).status()), EIO);
  c.reset();
}

TEST_F(ScriptedTest, AChannelWithoutItsFdsIsNotStarted) {
  auto pair = unet::Socket::SocketPair(SOCK_STREAM);
  ASSERT_TRUE(pair.ok());
  std::thread server([s = std::move(pair->second)]() mutable {
    SockCommunicator comm(std::move(s));
    Frame f;
    MountResp mount;
    mount.root.control_fd = 1;
    mount.max_message_size = kFakeMax;
    mount.supported_mids = {MID::kMount, MID::kChannel, MID::kFStat};
    if (!comm.RecvFrame(0, kFakeMax, &f).ok()) return;
    if (!comm.SendFrame(1, *Marshal(mount)).ok()) return;
    // Every Channel request gets a reply with one FD instead of two.
    while (comm.RecvFrame(0, kFakeMax, &f).ok()) {
      int one = 0;
      if (!comm.SendFrame(2, *Marshal(ChannelResp{0, 4096}),
                          absl::MakeConstSpan(&one, 1))
               .ok()) {
        return;
      }
    }
  });
  absl::StatusOr<Mounted> m = NewClient(Ctx(), std::move(pair->first));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(syserr::ToErrno(m->client->StartChannels(Ctx())), ENOMEM);
  EXPECT_EQ(m->client->channels(), 0u);
  EXPECT_EQ(unet::HangupWatcher::Default().watched(), 0u);
  m->client->Close();
  server.join();
}

}  // namespace
}  // namespace gvisor::lisafs
