// Runs the devgofer binary (its path is argv[1]) sandboxed, as it runs by
// default: it serves every operation (with --seccomp_action=kill, so that a
// syscall missing from the allowlist kills it and fails the test), /proc
// shows it confined, and a syscall outside the list fails with EPERM, or
// kills it with SIGSYS, as documented in sandbox.h; --nosandbox allows it.

#include <errno.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/client.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "tools/devgofer/gofer_process.h"

namespace gvisor::devgofer {
namespace {

const char* g_binary = nullptr;

const context::Context& Ctx() { return context::Background(); }

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()),
                             s.size());
}

// The capability bits the sandbox keeps (sandbox.h), as in /proc.
constexpr uint64_t kGoferCaps =
    (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4);  // chown .. fsetid
constexpr uint64_t kSetidCaps = (1 << 6) | (1 << 7);       // setgid, setuid
constexpr uint64_t kSetpcap = 1 << 8;

// Start runs devgofer --fd=3 with args on a new socket pair.
void Start(const std::vector<std::string>& args, GoferChild* g) {
  absl::Status s = SpawnFdGofer(g_binary, args, g);
  ASSERT_TRUE(s.ok()) << s;
}

// Probe runs --sandbox_selftest=probe with extra flags; returns the exit
// code and sets *result to what it printed ("" if nothing).
int Probe(const std::string& probe, const std::vector<std::string>& flags,
          std::string* result) {
  GoferChild g;
  std::vector<std::string> args = {"--root=/dev",
                                   "--sandbox_selftest=" + probe};
  args.insert(args.end(), flags.begin(), flags.end());
  Start(args, &g);
  int rc = g.Wait();
  const std::string kTag = "devgofer: sandbox_selftest: ";
  result->clear();
  if (size_t at = g.log.find(kTag); at != std::string::npos) {
    std::string rest = g.log.substr(at + kTag.size());
    *result = rest.substr(0, rest.find('\n'));
  }
  return rc;
}

uint64_t Caps(pid_t pid, const std::string& field) {
  uint64_t v = 0;
  EXPECT_TRUE(absl::SimpleHexAtoi(ProcStatus(pid, field), &v)) << field;
  return v;
}

// ExpectConfined checks /proc of a serving sandboxed gofer, whose kept
// capabilities are want (of those this test holds).
void ExpectConfined(pid_t pid, uint64_t want, const std::string& log) {
  EXPECT_EQ(ProcStatus(pid, "Seccomp"), "2");
  EXPECT_EQ(ProcStatus(pid, "NoNewPrivs"), "1");
  const uint64_t held = Caps(0, "CapPrm");
  EXPECT_EQ(Caps(pid, "CapEff"), held & want);
  EXPECT_EQ(Caps(pid, "CapPrm"), held & want);
  EXPECT_EQ(Caps(pid, "CapInh"), 0u);
  EXPECT_EQ(Caps(pid, "CapAmb"), 0u);
  if (Caps(0, "CapEff") & kSetpcap) {
    // As root: the bounding set too.
    EXPECT_EQ(Caps(pid, "CapBnd"), Caps(0, "CapBnd") & want);
    EXPECT_TRUE(absl::StrContains(log, "(bounding set too)")) << log;
  }
}

TEST(SandboxTest, OnByDefaultTheGoferIsConfined) {
  GoferChild g;
  Start({"--root=/dev"}, &g);
  ASSERT_TRUE(g.ReadUntil("serving")) << g.log;
  EXPECT_TRUE(absl::StrContains(g.log, "sandbox: seccomp ")) << g.log;
  EXPECT_TRUE(absl::StrContains(g.log, "(others EPERM)")) << g.log;
  ExpectConfined(g.pid, kGoferCaps, g.log);
  EXPECT_EQ(g.Wait(), 0) << g.log;
}

TEST(SandboxTest, HostSocketsKeepSetuidAndSetgid) {
  GoferChild g;
  Start({"--root=/dev", "--host_uds=open"}, &g);
  ASSERT_TRUE(g.ReadUntil("serving")) << g.log;
  ExpectConfined(g.pid, kGoferCaps | kSetidCaps, g.log);
  EXPECT_EQ(g.Wait(), 0) << g.log;
}

TEST(SandboxTest, NosandboxLeavesTheGoferAsItStarted) {
  GoferChild g;
  Start({"--root=/dev", "--nosandbox"}, &g);
  ASSERT_TRUE(g.ReadUntil("serving")) << g.log;
  EXPECT_TRUE(absl::StrContains(g.log, "sandbox off")) << g.log;
  EXPECT_EQ(ProcStatus(g.pid, "Seccomp"), ProcStatus(0, "Seccomp"));
  EXPECT_EQ(ProcStatus(g.pid, "NoNewPrivs"), ProcStatus(0, "NoNewPrivs"));
  EXPECT_EQ(Caps(g.pid, "CapEff"), Caps(0, "CapEff"));
  EXPECT_EQ(Caps(g.pid, "CapBnd"), Caps(0, "CapBnd"));
  EXPECT_EQ(g.Wait(), 0) << g.log;
}

// --- It serves -----------------------------------------------------------

TEST(SandboxTest, ServesDevOverRpcAndOverTheDonatedMountFd) {
  for (bool donate : {false, true}) {
    SCOPED_TRACE(donate ? "donated mount FD" : "RPCs");
    GoferChild g;
    std::vector<std::string> args = {"--root=/dev", "--seccomp_action=kill"};
    args.push_back(donate ? "--donate_mount_fd" : "--nodonate_mount_fd");
    Start(args, &g);
    {
      absl::StatusOr<std::unique_ptr<devutil::GoferClient>> c =
          devutil::NewGoferClient(Ctx(), "sandboxed",
                                  *unet::Socket::FromFd(std::move(g.sock)));
      ASSERT_TRUE(c.ok()) << c.status() << g.log;
      EXPECT_EQ((*c)->HasHostFD(), donate);
      absl::StatusOr<std::vector<std::string>> names = (*c)->DirentNames(Ctx());
      ASSERT_TRUE(names.ok()) << names.status();
      EXPECT_NE(std::find(names->begin(), names->end(), "null"), names->end());
      absl::StatusOr<fd::OwnedFd> null_fd = (*c)->OpenAt(Ctx(), "null", O_RDWR);
      ASSERT_TRUE(null_fd.ok()) << null_fd.status();
      struct stat st;
      ASSERT_EQ(fstat(null_fd->get(), &st), 0);
      EXPECT_TRUE(S_ISCHR(st.st_mode));
      EXPECT_EQ(st.st_rdev, makedev(1, 3));
      EXPECT_EQ(write(null_fd->get(), "x", 1), 1);
      EXPECT_EQ(
          syserr::ToErrno((*c)->OpenAt(Ctx(), "no-such", O_RDONLY).status()),
          ENOENT);
    }
    EXPECT_EQ(g.Wait(), 0) << g.log;
  }
}

// TempDir is a directory that holds a listening host socket "host.sock".
class TempDir {
 public:
  TempDir() {
    // Not TEST_TMPDIR: a socket path must fit in sun_path.
    std::string tmpl = absl::StrCat("/tmp/sandbox_test.", getpid(), ".XXXXXX");
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
    absl::StatusOr<unet::ServerSocket> l =
        unet::ServerSocket::Bind(path_ + "/host.sock", SOCK_STREAM);
    EXPECT_TRUE(l.ok()) << l.status();
    if (l.ok()) {
      EXPECT_TRUE(l->Listen(8).ok());
      listener_ = std::move(*l);
    }
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    EXPECT_EQ(system(cmd.c_str()), 0);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  unet::ServerSocket listener_;
};

// Every kind of operation, over channels, against a gofer that dies if one
// makes a syscall outside the allowlist.
TEST(SandboxTest, ServesEveryOperationOverChannels) {
  TempDir dir;
  GoferChild g;
  Start({"--root=" + dir.path(), "--seccomp_action=kill", "--host_uds=all",
         "--host_fifo=open"},
        &g);
  absl::StatusOr<unet::Socket> sock = unet::Socket::FromFd(std::move(g.sock));
  ASSERT_TRUE(sock.ok()) << sock.status();
  {
    absl::StatusOr<lisafs::Mounted> m =
        lisafs::NewClient(Ctx(), *std::move(sock));
    ASSERT_TRUE(m.ok()) << m.status() << g.log;
    ASSERT_TRUE(m->client->StartChannels(Ctx()).ok()) << g.log;
    EXPECT_GT(m->client->channels(), 0u);
    lisafs::ClientFD root = m->client->NewFD(m->root.control_fd);
    const uint32_t uid = getuid(), gid = getgid();
    auto fd_of = [&](const absl::StatusOr<lisafs::Inode>& i) {
      EXPECT_TRUE(i.ok()) << i.status();
      return m->client->NewFD(i.ok() ? i->control_fd : lisafs::kInvalidFDID);
    };

    ASSERT_TRUE(root.FStat(Ctx()).ok());
    lisafs::ClientFD sub = fd_of(root.MkdirAt(Ctx(), "sub", 0755, uid, gid));
    absl::StatusOr<lisafs::CreateResult> f =
        sub.OpenCreateAt(Ctx(), "f", O_RDWR, 0644, uid, gid);
    ASSERT_TRUE(f.ok()) << f.status();
    lisafs::ClientFD file = m->client->NewFD(f->child.control_fd);
    lisafs::ClientFD open = m->client->NewFD(f->open_fd);
    const std::string data = "through the sandbox";
    EXPECT_EQ(*open.Write(Ctx(), Bytes(data), 0), data.size());
    std::vector<uint8_t> back(64);
    EXPECT_EQ(*open.Read(Ctx(), absl::MakeSpan(back), 0), data.size());
    EXPECT_TRUE(open.Sync(Ctx()).ok());
    EXPECT_TRUE(open.Flush(Ctx()).ok());
    EXPECT_TRUE(open.Allocate(Ctx(), 0, 0, 4096).ok());
    lisafs::SetStatReq set;
    set.mask = STATX_MODE | STATX_SIZE | STATX_ATIME | STATX_MTIME | STATX_UID |
               STATX_GID;
    set.mode = 0600;
    set.size = 5;
    set.uid = uid;
    set.gid = gid;
    set.atime = {.sec = 1, .nsec = 0};
    set.mtime = {.sec = 2, .nsec = 0};
    absl::StatusOr<lisafs::SetStatResult> sr = file.SetStat(Ctx(), set);
    ASSERT_TRUE(sr.ok()) << sr.status();
    EXPECT_EQ(sr->failure_mask, 0u) << syserr::ErrnoName(sr->failure_errno);
    EXPECT_TRUE(file.StatFSTo(Ctx()).ok());
    // Extended attributes may be unsupported here, never refused.
    absl::Status xs = file.SetXattr(Ctx(), "user.sandbox", "v", 0);
    if (xs.ok()) {
      EXPECT_EQ(*file.GetXattr(Ctx(), "user.sandbox", 16), "v");
      EXPECT_TRUE(file.ListXattr(Ctx(), 256).ok());
      EXPECT_TRUE(file.RemoveXattr(Ctx(), "user.sandbox").ok());
    } else {
      EXPECT_EQ(syserr::ToErrno(xs), EOPNOTSUPP) << xs;
    }

    lisafs::ClientFD link = fd_of(sub.SymlinkAt(Ctx(), "s", "f", uid, gid));
    EXPECT_EQ(*link.ReadLinkAt(Ctx()), "f");
    lisafs::ClientFD hard = fd_of(sub.LinkAt(Ctx(), file.id(), "h"));
    lisafs::ClientFD node =
        fd_of(sub.MknodAt(Ctx(), "n", S_IFREG | 0644, uid, gid, 0, 0));
    EXPECT_TRUE(sub.RenameAt(Ctx(), "h", sub.id(), "h2").ok());
    absl::StatusOr<std::vector<lisafs::Statx>> ws =
        root.WalkStat(Ctx(), {"", "sub", "f"});
    ASSERT_TRUE(ws.ok()) << ws.status();
    EXPECT_EQ(ws->size(), 3u);
    absl::StatusOr<lisafs::OpenResult> dir_open = sub.OpenAt(Ctx(), O_RDONLY);
    ASSERT_TRUE(dir_open.ok()) << dir_open.status();
    lisafs::ClientFD dir_fd = m->client->NewFD(dir_open->open_fd);
    absl::StatusOr<std::vector<lisafs::Dirent64>> ents =
        dir_fd.Getdents64(Ctx(), -65536);
    ASSERT_TRUE(ents.ok()) << ents.status();
    EXPECT_GE(ents->size(), 4u);  // f, s, h2, n (and . and ..)

    // Host sockets: connect (as ourselves: ConnectWithCreds), and bind.
    lisafs::ClientFD host = fd_of(root.Walk(Ctx(), "host.sock"));
    absl::StatusOr<fd::OwnedFd> conn =
        host.Connect(Ctx(), SOCK_STREAM, uid, gid);
    EXPECT_TRUE(conn.ok()) << conn.status();
    absl::StatusOr<std::pair<lisafs::Inode, lisafs::ClientBoundSocketFD>> b =
        sub.BindAt(Ctx(), SOCK_STREAM, "bound", 0600, uid, gid);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_TRUE(b->second.Listen(Ctx(), 4).ok());
    EXPECT_EQ(syserr::ToErrno(b->second.Accept(Ctx()).status()), EAGAIN);
    b->second.Close(Ctx());
    m->client->NewFD(b->first.control_fd).Close(Ctx(), false);

    for (const char* name : {"bound", "n", "h2", "s", "f"}) {
      EXPECT_TRUE(sub.UnlinkAt(Ctx(), name, 0).ok()) << name;
    }
    EXPECT_TRUE(root.UnlinkAt(Ctx(), "sub", AT_REMOVEDIR).ok());
    for (lisafs::ClientFD* c :
         {&dir_fd, &node, &hard, &link, &open, &file, &host, &sub, &root}) {
      c->Close(Ctx(), true);
    }
    m->client->Close();
  }
  // Killed by SIGSYS (159) if any of it needed a syscall outside the list.
  EXPECT_EQ(g.Wait(), 0) << g.log;
}

// --- Outside the list ----------------------------------------------------

TEST(SandboxTest, ASyscallOutsideTheListFailsWithEperm) {
  for (const char* probe :
       {"execve", "socket_inet", "socket_unix", "fork", "mmap_exec", "ioctl"}) {
    std::string result;
    EXPECT_EQ(Probe(probe, {}, &result), 0) << probe;
    EXPECT_EQ(result, "EPERM") << probe;
  }
}

TEST(SandboxTest, WithSeccompActionKillItKillsTheGofer) {
  for (const char* probe : {"execve", "socket_inet"}) {
    std::string result;
    EXPECT_EQ(Probe(probe, {"--seccomp_action=kill"}, &result), 128 + SIGSYS)
        << probe;
    EXPECT_EQ(result, "") << probe;
  }
}

TEST(SandboxTest, WithSeccompActionLogItIsAllowed) {
  std::string result;
  EXPECT_EQ(Probe("socket_inet", {"--seccomp_action=log"}, &result), 0);
  EXPECT_EQ(result, "ok");
}

TEST(SandboxTest, HostSocketsAllowUnixSocketsOnly) {
  std::string result;
  EXPECT_EQ(Probe("socket_unix", {"--host_uds=all"}, &result), 0);
  EXPECT_EQ(result, "ok");
  EXPECT_EQ(Probe("socket_inet", {"--host_uds=all"}, &result), 0);
  EXPECT_EQ(result, "EPERM");
}

TEST(SandboxTest, NosandboxAllowsThem) {
  for (const auto& [probe, want] :
       std::vector<std::pair<std::string, std::string>>{
           // The path does not exist: ENOENT shows execve ran.
           {"execve", "ENOENT"},
           {"socket_inet", "ok"},
           {"socket_unix", "ok"},
           {"fork", "ok"},
           {"mmap_exec", "ok"},
           // /dev/null's driver has no TCGETS: the ioctl reached it.
           {"ioctl", "ENOTTY"},
       }) {
    std::string result;
    EXPECT_EQ(Probe(probe, {"--nosandbox"}, &result), 0) << probe;
    EXPECT_EQ(result, want) << probe;
  }
}

TEST(SandboxTest, BadSandboxFlagsExitTwo) {
  for (const char* flag :
       {"--seccomp_action=trap", "--sandbox_selftest=reboot", "--sandbox=no"}) {
    GoferChild g;
    Start({flag}, &g);
    EXPECT_EQ(g.Wait(), 2) << flag << ": " << g.log;
    EXPECT_TRUE(absl::StrContains(g.log, "; see devgofer --help\n")) << g.log;
  }
}

}  // namespace
}  // namespace gvisor::devgofer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    fprintf(stderr, "usage: sandbox_test PATH_TO_DEVGOFER\n");
    return 2;
  }
  gvisor::devgofer::g_binary = argv[1];
  return RUN_ALL_TESTS();
}
