// Direction (b) of the interop harness: our C++ lisafs client and devutil
// GoferClient against gVisor's own Go server (lisafs.Server + runsc's
// fsgofer), started by tools/interop_test.sh, over the socket and over the
// server's flipcall channels. Every answer is compared with what the host
// shows under the served tree (testing/interop/mktree.sh).
//
// Environment (set by tools/interop_test.sh; see testing/interop/README.md):
//   INTEROP_GOSERVER_SOCKET  listening socket of the Go server
//   INTEROP_ROOT             the host directory it serves
//   INTEROP_DONATE_MOUNT_FD  1 if the server donates the mount-point FD
//   INTEROP_GOSERVER_VERSION head or old
//   INTEROP_GOSERVER         the Go server binary, for a server of our own

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/lisafs/channel.h"
#include "pkg/lisafs/client.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "testing/host_names.h"

extern char** environ;

namespace gvisor {
namespace {

using ::testing::UnorderedElementsAreArray;

const context::Context& Ctx() { return context::Background(); }

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? "" : v;
}

using ::gvisor::testing::HostNames;

class InteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = Env("INTEROP_GOSERVER_SOCKET");
    root_ = Env("INTEROP_ROOT");
    ASSERT_FALSE(socket_.empty() || root_.empty())
        << "run through tools/interop_test.sh: INTEROP_GOSERVER_SOCKET and "
           "INTEROP_ROOT must name a running gVisor server and its tree";
    donate_ = Env("INTEROP_DONATE_MOUNT_FD") == "1";
    old_ = Env("INTEROP_GOSERVER_VERSION") == "old";
  }

  unet::Socket Dial() {
    absl::StatusOr<unet::Socket> s =
        unet::Socket::Connect(socket_, SOCK_STREAM);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : unet::Socket();
  }

  // Mount connects a new lisafs client; in InteropChannelsTest it also
  // starts channels, so that every later RPC of the test takes one.
  lisafs::Mounted Mount() {
    absl::StatusOr<unet::Socket> s =
        unet::Socket::Connect(socket_, SOCK_STREAM);
    EXPECT_TRUE(s.ok()) << s.status();
    absl::StatusOr<lisafs::Mounted> m = lisafs::NewClient(Ctx(), std::move(*s));
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return lisafs::Mounted();
    if (channels_) {
      absl::Status cs = m->client->StartChannels(Ctx());
      EXPECT_TRUE(cs.ok()) << cs;
      EXPECT_GT(m->client->channels(), 0u);
      channel_clients_.push_back({m->client, m->client->stats().socket_rpcs});
    }
    return std::move(*m);
  }

  void TearDown() override {
    // With channels idle, every RPC after StartChannels took one.
    for (const auto& [client, socket_rpcs] : channel_clients_) {
      lisafs::Client::Stats st = client->stats();
      EXPECT_EQ(st.socket_rpcs, socket_rpcs) << "RPCs went over the socket";
      EXPECT_GT(st.channel_rpcs, 0u);
    }
    channel_clients_.clear();
  }

  void CheckWalkStatOpenRead();
  void CheckMutations();

  std::string socket_, root_;
  bool donate_ = false;
  bool old_ = false;
  bool channels_ = false;
  std::vector<std::pair<std::shared_ptr<lisafs::Client>, uint64_t>>
      channel_clients_;
};

// InteropChannelsTest runs lisafs checks over gVisor's flipcall channels
// (pkg/lisafs/README.md §8): the server's windows, futex hand-over and FD
// sockets.
class InteropChannelsTest : public InteropTest {
 protected:
  void SetUp() override {
    InteropTest::SetUp();
    channels_ = true;
  }
};

// ---------------------------------------------------------------------------
// devutil

TEST_F(InteropTest, DevutilDirentNamesAndOpenAt) {
  auto c = devutil::NewGoferClient(Ctx(), "interop", Dial());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->HasHostFD(), donate_);

  absl::StatusOr<std::vector<std::string>> names = (*c)->DirentNames(Ctx());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, UnorderedElementsAreArray(HostNames(root_)));

  struct Dev {
    const char* path;
    unsigned maj, min;
    int flags;
  };
  for (const Dev& d : {Dev{"null", 1, 3, O_WRONLY}, Dev{"zero", 1, 5, O_RDONLY},
                       Dev{"nvidia-caps/nvidia-cap1", 1, 3, O_RDWR},
                       Dev{"nvidia-caps/nvidia-cap2", 1, 5, O_RDONLY}}) {
    absl::StatusOr<fd::OwnedFd> f = (*c)->OpenAt(Ctx(), d.path, d.flags);
    ASSERT_TRUE(f.ok()) << d.path << ": " << f.status();
    struct stat st;
    ASSERT_EQ(fstat(f->get(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << d.path;
    EXPECT_EQ(st.st_rdev, makedev(d.maj, d.min)) << d.path;
    EXPECT_EQ(fcntl(f->get(), F_GETFL) & O_ACCMODE, d.flags) << d.path;
  }
  absl::StatusOr<fd::OwnedFd> zero = (*c)->OpenAt(Ctx(), "zero", O_RDONLY);
  ASSERT_TRUE(zero.ok());
  char buf[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_EQ(read(zero->get(), buf, 8), 8);
  EXPECT_EQ(std::count(buf, buf + 8, 0), 8);

  for (const char* p : {"missing", "nvidia-caps/missing", "missing/x", ""}) {
    EXPECT_EQ(syserr::ToErrno((*c)->OpenAt(Ctx(), p, O_RDONLY).status()),
              ENOENT)
        << p;
  }
  // Symlinks are not followed on either path.
  EXPECT_FALSE((*c)->OpenAt(Ctx(), "link", O_RDONLY).ok());
  EXPECT_FALSE((*c)->OpenAt(Ctx(), "dangling", O_RDONLY).ok());
  EXPECT_EQ(syserr::ToErrno((*c)->OpenAt(Ctx(), "../x", O_RDONLY).status()),
            EINVAL);
  (*c)->Close();
}

// ---------------------------------------------------------------------------
// lisafs client: every RPC the server supports.

TEST_F(InteropTest, MountNegotiation) {
  lisafs::Mounted m = Mount();
  ASSERT_NE(m.client, nullptr);
  EXPECT_EQ(m.host_fd.valid(), donate_);
  EXPECT_EQ(m.client->max_message_size(), 0x1ff000u);
  EXPECT_TRUE(m.client->IsSupported(lisafs::MID::kWalk));
  EXPECT_TRUE(m.client->IsSupported(lisafs::MID::kChannel));
  EXPECT_FALSE(m.client->IsSupported(lisafs::MID::kFlush));
  EXPECT_EQ(m.client->IsSupported(lisafs::MID::kRenameAt2), !old_);
  struct stat st;
  ASSERT_EQ(lstat(root_.c_str(), &st), 0);
  EXPECT_EQ(m.root.stat.ino, st.st_ino);
  EXPECT_EQ(m.root.stat.mode, st.st_mode & 0xffff);
  if (m.host_fd.valid()) {
    struct stat hst;
    ASSERT_EQ(fstat(m.host_fd.get(), &hst), 0);
    EXPECT_EQ(hst.st_ino, st.st_ino);
  }
}

void InteropTest::CheckWalkStatOpenRead() {
  lisafs::Mounted m = Mount();
  ASSERT_NE(m.client, nullptr);
  lisafs::ClientFD root = m.client->NewFD(m.root.control_fd);

  absl::StatusOr<lisafs::WalkResult> w =
      root.WalkMultiple(Ctx(), std::vector<std::string>{"dir", "sub", "leaf"});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->status, lisafs::WalkStatus::kSuccess);
  ASSERT_EQ(w->inodes.size(), 3u);
  struct stat st;
  ASSERT_EQ(lstat((root_ + "/dir/sub/leaf").c_str(), &st), 0);
  EXPECT_EQ(w->inodes[2].stat.ino, st.st_ino);
  EXPECT_EQ(w->inodes[2].stat.size, 5u);

  lisafs::ClientFD leaf = m.client->NewFD(w->inodes[2].control_fd);
  absl::StatusOr<lisafs::Statx> fs = leaf.FStat(Ctx());
  ASSERT_TRUE(fs.ok());
  EXPECT_EQ(fs->ino, st.st_ino);
  absl::StatusOr<lisafs::OpenResult> o = leaf.OpenAt(Ctx(), O_RDONLY);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->host_fd.valid());  // regular files are donated
  lisafs::ClientFD open = m.client->NewFD(o->open_fd);
  std::vector<uint8_t> buf(64);
  absl::StatusOr<size_t> n = open.Read(Ctx(), absl::MakeSpan(buf), 0);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + *n), "leaf\n");
  open.Close(Ctx(), false);
  leaf.Close(Ctx(), false);
  for (size_t i = 0; i < 2; ++i) {
    m.client->CloseFD(Ctx(), w->inodes[i].control_fd, false);
  }

  // Missing component: status 1 and what was walked.
  w = root.WalkMultiple(Ctx(), std::vector<std::string>{"dir", "nope"});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->status, lisafs::WalkStatus::kComponentDoesNotExist);
  ASSERT_EQ(w->inodes.size(), 1u);
  m.client->CloseFD(Ctx(), w->inodes[0].control_fd, false);
  // Symlink with more to walk: status 2.
  w = root.WalkMultiple(Ctx(), std::vector<std::string>{"link", "x"});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->status, lisafs::WalkStatus::kComponentSymlink);
  for (auto& i : w->inodes) m.client->CloseFD(Ctx(), i.control_fd, false);
  // Bad names fail the RPC.
  EXPECT_EQ(
      syserr::ToErrno(
          root.WalkMultiple(Ctx(), std::vector<std::string>{".."}).status()),
      EINVAL);
  EXPECT_EQ(syserr::ToErrno(root.Walk(Ctx(), "nope").status()), ENOENT);

  absl::StatusOr<std::vector<lisafs::Statx>> ws =
      root.WalkStat(Ctx(), std::vector<std::string>{"", "dir", "sub"});
  ASSERT_TRUE(ws.ok()) << ws.status();
  ASSERT_EQ(ws->size(), 3u);
  ASSERT_EQ(lstat((root_ + "/dir/sub").c_str(), &st), 0);
  EXPECT_EQ((*ws)[2].ino, st.st_ino);

  absl::StatusOr<lisafs::StatFS> sfs = root.StatFSTo(Ctx());
  ASSERT_TRUE(sfs.ok());
  struct statfs hsfs;
  ASSERT_EQ(statfs(root_.c_str(), &hsfs), 0);
  EXPECT_EQ(sfs->type, static_cast<uint64_t>(hsfs.f_type));
  EXPECT_EQ(sfs->name_length, static_cast<uint64_t>(hsfs.f_namelen));

  absl::StatusOr<lisafs::Inode> link = root.Walk(Ctx(), "link");
  ASSERT_TRUE(link.ok());
  lisafs::ClientFD lfd = m.client->NewFD(link->control_fd);
  EXPECT_EQ(*lfd.ReadLinkAt(Ctx()), "file");
  EXPECT_EQ(syserr::ToErrno(lfd.OpenAt(Ctx(), O_RDONLY).status()), EINVAL);
  lfd.Close(Ctx(), true);

  // Getdents64 on the root lists what the host lists.
  absl::StatusOr<lisafs::OpenResult> ro = root.OpenAt(Ctx(), O_RDONLY);
  ASSERT_TRUE(ro.ok());
  lisafs::ClientFD rdir = m.client->NewFD(ro->open_fd);
  std::vector<std::string> names;
  for (;;) {
    auto d = rdir.Getdents64(Ctx(), 65536);
    ASSERT_TRUE(d.ok()) << d.status();
    if (d->empty()) break;
    for (auto& e : *d) names.push_back(e.name);
  }
  EXPECT_THAT(names, UnorderedElementsAreArray(HostNames(root_)));
  rdir.Close(Ctx(), true);
}

void InteropTest::CheckMutations() {
  lisafs::Mounted m = Mount();
  ASSERT_NE(m.client, nullptr);
  lisafs::ClientFD root = m.client->NewFD(m.root.control_fd);
  const std::string name =
      absl::StrCat("scratch-", getpid(), channels_ ? "-channels" : "");
  const std::string host = root_ + "/" + name;
  const uint32_t uid = getuid(), gid = getgid();
  // Whatever happens below, leave the served tree as it was.
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } cleanup{host};

  absl::StatusOr<lisafs::Inode> dino =
      root.MkdirAt(Ctx(), name, 0755, uid, gid);
  ASSERT_TRUE(dino.ok()) << dino.status();
  struct stat st;
  ASSERT_EQ(lstat(host.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(syserr::ToErrno(root.MkdirAt(Ctx(), name, 0755, uid, gid).status()),
            EEXIST);
  lisafs::ClientFD dir = m.client->NewFD(dino->control_fd);

  // Create, write, read back, stat, set size and mode, sync, allocate.
  absl::StatusOr<lisafs::CreateResult> cr =
      dir.OpenCreateAt(Ctx(), "f", O_RDWR, 0640, uid, gid);
  ASSERT_TRUE(cr.ok()) << cr.status();
  lisafs::ClientFD f = m.client->NewFD(cr->child.control_fd);
  lisafs::ClientFD fo = m.client->NewFD(cr->open_fd);
  const std::string data = "written through gVisor's server";
  absl::StatusOr<size_t> wn =
      fo.Write(Ctx(),
               absl::MakeConstSpan(
                   reinterpret_cast<const uint8_t*>(data.data()), data.size()),
               0);
  ASSERT_TRUE(wn.ok()) << wn.status();
  EXPECT_EQ(*wn, data.size());
  std::vector<uint8_t> buf(100);
  EXPECT_EQ(*fo.Read(Ctx(), absl::MakeSpan(buf), 0), data.size());
  ASSERT_EQ(lstat((host + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, static_cast<off_t>(data.size()));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_TRUE(fo.Sync(Ctx()).ok());
  EXPECT_TRUE(fo.Allocate(Ctx(), 0, 0, 8192).ok());
  ASSERT_EQ(lstat((host + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 8192);

  lisafs::SetStatReq ss;
  ss.mask = 0x2 | 0x200;  // MODE | SIZE
  ss.mode = 0600;
  ss.size = 3;
  absl::StatusOr<lisafs::SetStatResult> sr = f.SetStat(Ctx(), ss);
  ASSERT_TRUE(sr.ok()) << sr.status();
  EXPECT_EQ(sr->failure_mask, 0u);
  ASSERT_EQ(lstat((host + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 3);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ss.mask = 0x4;  // not settable
  EXPECT_EQ(syserr::ToErrno(f.SetStat(Ctx(), ss).status()), EPERM);

  // Names the server refuses.
  EXPECT_EQ(syserr::ToErrno(dir.MkdirAt(Ctx(), "a/b", 0755, uid, gid).status()),
            EINVAL);
  EXPECT_EQ(syserr::ToErrno(dir.MkdirAt(Ctx(), "..", 0755, uid, gid).status()),
            EINVAL);

  // Mknod (regular), symlink, hard link.
  absl::StatusOr<lisafs::Inode> nod =
      dir.MknodAt(Ctx(), "n", S_IFREG | 0600, uid, gid, 0, 0);
  ASSERT_TRUE(nod.ok()) << nod.status();
  ASSERT_EQ(lstat((host + "/n").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(
      syserr::ToErrno(
          dir.MknodAt(Ctx(), "b", S_IFBLK | 0600, uid, gid, 1, 1).status()),
      EPERM);
  absl::StatusOr<lisafs::Inode> sl = dir.SymlinkAt(Ctx(), "sl", "f", uid, gid);
  ASSERT_TRUE(sl.ok()) << sl.status();
  char target[16] = {};
  EXPECT_EQ(readlink((host + "/sl").c_str(), target, sizeof(target)), 1);
  absl::StatusOr<lisafs::Inode> hl = dir.LinkAt(Ctx(), f.id(), "hl");
  ASSERT_TRUE(hl.ok()) << hl.status();
  ASSERT_EQ(lstat((host + "/hl").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);

  // Rename, and RenameAt2 where the server has it.
  EXPECT_TRUE(dir.RenameAt(Ctx(), "n", dir.id(), "n2").ok());
  EXPECT_EQ(access((host + "/n2").c_str(), F_OK), 0);
  absl::Status r2 = dir.RenameAt(Ctx(), "n2", dir.id(), "f", RENAME_NOREPLACE);
  EXPECT_EQ(syserr::ToErrno(r2), old_ ? EINVAL : EEXIST);

  // Xattrs, where the host filesystem supports user xattrs.
  bool host_xattrs =
      setxattr((host + "/hl").c_str(), "user.probe", "1", 1, 0) == 0;
  if (host_xattrs) {
    EXPECT_TRUE(f.GetXattr(Ctx(), "user.probe", 64).ok());
    if (!old_) {
      EXPECT_TRUE(f.SetXattr(Ctx(), "user.k", "v", 0).ok());
      EXPECT_EQ(*f.GetXattr(Ctx(), "user.k", 64), "v");
      absl::StatusOr<std::vector<std::string>> names = f.ListXattr(Ctx(), 0);
      ASSERT_TRUE(names.ok()) << names.status();
      EXPECT_THAT(*names, ::testing::IsSupersetOf({"user.k", "user.probe"}));
      EXPECT_TRUE(f.RemoveXattr(Ctx(), "user.k").ok());
      EXPECT_EQ(syserr::ToErrno(f.GetXattr(Ctx(), "user.k", 64).status()),
                ENODATA);
    }
  }

  // Unix sockets: bind/listen/accept through the server, connect to a
  // host listener through the server.
  absl::StatusOr<std::pair<lisafs::Inode, lisafs::ClientBoundSocketFD>> b =
      dir.BindAt(Ctx(), SOCK_STREAM, "bound", 0600, uid, gid);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(lstat((host + "/bound").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_TRUE(b->second.Listen(Ctx(), 4).ok());
  EXPECT_EQ(syserr::ToErrno(b->second.Accept(Ctx()).status()), EAGAIN);
  absl::StatusOr<unet::Socket> peer =
      unet::Socket::Connect(host + "/bound", SOCK_STREAM);
  ASSERT_TRUE(peer.ok()) << peer.status();
  absl::StatusOr<lisafs::AcceptResult> acc = b->second.Accept(Ctx());
  ASSERT_TRUE(acc.ok()) << acc.status();
  EXPECT_EQ(write(acc->fd.get(), "k", 1), 1);
  char c = 0;
  EXPECT_EQ(read(peer->fd(), &c, 1), 1);
  EXPECT_EQ(c, 'k');
  lisafs::ClientFD bound_file = m.client->NewFD(b->first.control_fd);
  absl::StatusOr<fd::OwnedFd> conn = bound_file.Connect(Ctx(), SOCK_STREAM);
  ASSERT_TRUE(conn.ok()) << conn.status();
  b->second.Close(Ctx());

  // Unlink everything again through the server.
  for (const char* n : {"f", "n2", "sl", "hl", "bound"}) {
    EXPECT_TRUE(dir.UnlinkAt(Ctx(), n, 0).ok()) << n;
  }
  EXPECT_TRUE(HostNames(host).empty());
  EXPECT_TRUE(root.UnlinkAt(Ctx(), name, AT_REMOVEDIR).ok());
  EXPECT_NE(access(host.c_str(), F_OK), 0);
  EXPECT_EQ(syserr::ToErrno(root.UnlinkAt(Ctx(), name, AT_REMOVEDIR)), ENOENT);
  m.client->CloseFD(Ctx(), lisafs::kInvalidFDID, true);
}

TEST_F(InteropTest, WalkStatOpenRead) { CheckWalkStatOpenRead(); }
TEST_F(InteropTest, MutationsInAScratchDirectory) { CheckMutations(); }

// ---------------------------------------------------------------------------
// lisafs client over channels.

TEST_F(InteropChannelsTest, WalkStatOpenRead) { CheckWalkStatOpenRead(); }
TEST_F(InteropChannelsTest, MutationsInAScratchDirectory) { CheckMutations(); }

TEST_F(InteropChannelsTest, DevicesAreDonatedOverChannels) {
  lisafs::Mounted m = Mount();
  ASSERT_NE(m.client, nullptr);
  lisafs::ClientFD root = m.client->NewFD(m.root.control_fd);
  struct Dev {
    const char* name;
    unsigned maj, min;
  };
  for (const Dev& d : {Dev{"null", 1, 3}, Dev{"zero", 1, 5}}) {
    absl::StatusOr<lisafs::Inode> i = root.Walk(Ctx(), d.name);
    ASSERT_TRUE(i.ok()) << d.name << ": " << i.status();
    lisafs::ClientFD fd = m.client->NewFD(i->control_fd);
    absl::StatusOr<lisafs::OpenResult> o = fd.OpenAt(Ctx(), O_RDWR);
    ASSERT_TRUE(o.ok()) << d.name << ": " << o.status();
    ASSERT_TRUE(o->host_fd.valid()) << d.name;
    struct stat st;
    ASSERT_EQ(fstat(o->host_fd.get(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << d.name;
    EXPECT_EQ(st.st_rdev, makedev(d.maj, d.min)) << d.name;
    m.client->NewFD(o->open_fd).Close(Ctx(), false);
    fd.Close(Ctx(), true);
  }
}

TEST_F(InteropChannelsTest, ConcurrentRpcsAndTheServersLimit) {
  lisafs::Mounted m = Mount();
  ASSERT_NE(m.client, nullptr);
  // The server allows as many channels as our client asks for on the same
  // host; one more is ENOMEM.
  std::vector<fd::OwnedFd> fds;
  absl::StatusOr<lisafs::ChannelResp> extra =
      m.client->Rpc<lisafs::ChannelResp>(Ctx(), lisafs::MID::kChannel,
                                         lisafs::EmptyMessage{}, 2, &fds);
  if (m.client->channels() == lisafs::MaxChannels()) {
    EXPECT_EQ(syserr::ToErrno(extra.status()), ENOMEM) << extra.status();
  }
  lisafs::ClientFD root = m.client->NewFD(m.root.control_fd);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        absl::StatusOr<lisafs::Inode> f = root.Walk(Ctx(), "file");
        if (!f.ok()) {
          ++failures;
          continue;
        }
        lisafs::ClientFD fd = m.client->NewFD(f->control_fd);
        absl::StatusOr<lisafs::OpenResult> o = fd.OpenAt(Ctx(), O_RDONLY);
        char buf[6] = {};
        if (!o.ok() || !o->host_fd.valid() ||
            pread(o->host_fd.get(), buf, 6, 0) != 6 ||
            std::string(buf, 6) != "hello\n") {
          ++failures;
        }
        if (o.ok()) m.client->NewFD(o->open_fd).Close(Ctx(), false);
        fd.Close(Ctx(), i % 10 == 0);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(m.client->stats().busiest_channels, 2u);
  // Busy channels sent the rest to the socket; nothing to check there.
  channel_clients_.clear();
}

TEST_F(InteropChannelsTest, AKilledServerFailsAChannelRpcWithEIO) {
  const std::string goserver = Env("INTEROP_GOSERVER");
  ASSERT_FALSE(goserver.empty()) << "INTEROP_GOSERVER is not set";
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fd::OwnedFd ours(sv[0]), theirs(sv[1]);
  // The server gets its end as FD 3, like runsc's gofer.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, theirs.get(), 3);
  std::vector<std::string> args = {goserver, "--root=" + root_, "--fd=3"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, goserver.c_str(), &actions, nullptr, argv.data(),
                        environ),
            0);
  posix_spawn_file_actions_destroy(&actions);
  theirs.reset();

  absl::StatusOr<lisafs::Mounted> m =
      lisafs::NewClient(Ctx(), *unet::Socket::FromFd(std::move(ours)));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->client->StartChannels(Ctx()).ok());
  lisafs::ClientFD root = m->client->NewFD(m->root.control_fd);
  ASSERT_TRUE(root.FStat(Ctx()).ok());
  // Freeze the server, so that the next RPC waits on its channel.
  // kill() returns before the stop takes effect; waitpid reports it once
  // every thread of the server has stopped.
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  int stop_status = 0;
  ASSERT_EQ(waitpid(pid, &stop_status, WUNTRACED), pid);
  ASSERT_TRUE(WIFSTOPPED(stop_status));
  std::future<absl::Status> rpc = std::async(
      std::launch::async, [&] { return root.FStat(Ctx()).status(); });
  EXPECT_EQ(rpc.wait_for(std::chrono::milliseconds(200)),
            std::future_status::timeout);
  // Then kill it: the hangup watcher must wake the caller, which nothing
  // else would (the channel wait has no timeout).
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_EQ(rpc.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(syserr::ToErrno(rpc.get()), EIO);
  EXPECT_EQ(syserr::ToErrno(root.FStat(Ctx()).status()), EIO);
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
}

}  // namespace
}  // namespace gvisor
