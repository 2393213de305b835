// The C++ half of tools/bench/compare.sh: raw baselines, and our LISAFS
// client timed against a server it spawns (ours or gVisor's). Its twin for
// gVisor's client is testing/interop/gobench, with the same flags and the
// same output line.
//
//   lisafs_compare raw --root=TREE --iters=N
//       raw_stream    AF_UNIX SOCK_STREAM ping-pong between two processes
//                     with FStat's sizes (16 bytes out, 152 back)
//       raw_stream_fd the same with OpenAt's sizes (24 out, 16 back) and one
//                     FD passed back (SCM_RIGHTS), closed by the receiver
//       raw_futex     futex ping-pong over shared memory between two
//                     processes (a flipcall channel's baseline)
//       raw_openat    openat(TREE, "file") + close
//       raw_getdents  open TREE + getdents64 loop (32 KiB buffer) + close
//   lisafs_compare client --root=TREE --op=OP --transport=T --iters=N
//                  [--threads=K] [--warmup=W] [--idle_ms=MS] [--spin_us=US]
//                  (--inproc | -- SERVER ARGS...)
//       one fresh connection, one operation, as gobench documents: fstat,
//       walk, openat, dirents, idle over socket, channel or host.
//       SERVER gets the server end of a socketpair as FD 3. With --inproc
//       the server is ours, in this process (testing/gofer_fixture, with
//       10,000 entries added), and the last column counts its allocations.
//
// --spin_us (both modes; default spin::kDefaultMax, 0 = off) is the spin
// before blocking: the client's (lisafs::ClientOptions::spin), the
// in-process server's, and in the raw ping-pongs both sides' (the same
// adaptive pkg/spin policy polling the socket with the read itself, or the
// futex word), so that a ratio compares like with like.
//
// Every result is one tab-separated line:
//
//   RESULT op transport threads ops ns_per_op client_cpu_ns server_cpu_ns
//          client_allocs server_allocs
//
// CPU per op: the client's from CLOCK_PROCESS_CPUTIME_ID, the server's from
// /proc/PID/task/*/schedstat (ns on CPU, every live thread);
// allocations are calls of operator new (this binary replaces it), per op.

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/client.h"
#include "pkg/lisafs/client_fd.h"
#include "pkg/spin/spin.h"
#include "pkg/unet/unet.h"
#include "testing/alloc_count.h"
#include "testing/gofer_fixture.h"

// Allocations are counted by testing/alloc_count.h: the client's are those
// of the threads that run the operations, the rest are the in-process
// server's.

namespace gvisor {
namespace {

constexpr char kTarget[] = "file";
constexpr size_t kMinEntries = 10000;

[[noreturn]] void Die(const std::string& msg) {
  fprintf(stderr, "lisafs_compare: %s\n", msg.c_str());
  exit(1);
}

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) Die(absl::StrCat(what, ": ", s.ToString()));
}

template <typename T>
T Must(absl::StatusOr<T> v, const char* what) {
  Check(v.status(), what);
  return *std::move(v);
}

// CpuNs is the CPU time, in ns, of every live thread of process pid.
uint64_t CpuNs(pid_t pid) {
  std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  uint64_t sum = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(absl::StrCat(dir, "/", e->d_name, "/schedstat"));
    uint64_t ns = 0;
    if (f >> ns) sum += ns;
  }
  closedir(d);
  return sum;
}

// SelfCpuNs is this process's CPU time, in ns: exact, unlike the schedstat
// of a thread that is running while it is read.
uint64_t SelfCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return uint64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

uint64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Sample {
  std::string op, transport;
  int threads = 1;
  uint64_t ops = 0;
  double ns_per_op = 0, client_cpu = 0, server_cpu = 0, client_allocs = 0;
  std::string server_allocs = "-";
};

void Print(const Sample& s) {
  printf("RESULT\t%s\t%s\t%d\t%lu\t%.1f\t%.1f\t%.1f\t%.2f\t%s\n", s.op.c_str(),
         s.transport.c_str(), s.threads, static_cast<unsigned long>(s.ops),
         s.ns_per_op, s.client_cpu, s.server_cpu, s.client_allocs,
         s.server_allocs.c_str());
  fflush(stdout);
}

// Flags is --key=value arguments; the rest after "--" is the server command.
struct Flags {
  std::map<std::string, std::string> kv;
  std::vector<std::string> rest;

  std::string Get(const std::string& k, const std::string& def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  int Int(const std::string& k, int def) const {
    int v = def;
    auto it = kv.find(k);
    if (it != kv.end() && !absl::SimpleAtoi(it->second, &v)) {
      Die(absl::StrCat("--", k, ": not a number"));
    }
    return v;
  }
};

Flags Parse(int argc, char** argv) {
  Flags f;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) f.rest.push_back(argv[i]);
      break;
    }
    if (a.rfind("--", 0) != 0) Die("unexpected argument " + a);
    a = a.substr(2);
    size_t eq = a.find('=');
    if (eq == std::string::npos) {
      f.kv[a] = "true";
    } else {
      f.kv[a.substr(0, eq)] = a.substr(eq + 1);
    }
  }
  return f;
}

// --- Raw baselines ----------------------------------------------------------

// The spin before blocking of the raw ping-pongs (--spin_us); one Spinner
// per process side, as one per waiter in the stack.
absl::Duration g_spin = spin::kDefaultMax;

spin::Spinner& RawSpinner() {
  static spin::Spinner s(g_spin);
  return s;
}

void ReadFull(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = -1;
    if (RawSpinner().enabled()) {
      RawSpinner().Spin([&] {
        r = recv(fd, p, n, MSG_DONTWAIT);
        return r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      });
    }
    if (r < 0) r = read(fd, p, n);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      _exit(0);  // the peer is gone: the run is over
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
}

void WriteFull(int fd, const void* buf, size_t n) {
  if (send(fd, buf, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) {
    Die(absl::StrCat("send: ", strerror(errno)));
  }
}

// SendWithFd sends n bytes and fd in one sendmsg.
void SendWithFd(int sock, const void* buf, size_t n, int fd) {
  iovec v = {const_cast<void*>(buf), n};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msghdr m = {};
  m.msg_iov = &v;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof(ctl);
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (sendmsg(sock, &m, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) {
    Die(absl::StrCat("sendmsg: ", strerror(errno)));
  }
}

// RecvWithFd receives n bytes (one recvmsg, as the frame is small) and
// closes the FD that came with them.
void RecvWithFd(int sock, void* buf, size_t n) {
  iovec v = {buf, n};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
  msghdr m = {};
  auto recv_once = [&](int flags) {
    m = {};
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof(ctl);
    return recvmsg(sock, &m, MSG_CMSG_CLOEXEC | flags);
  };
  ssize_t r = -1;
  if (RawSpinner().enabled()) {
    RawSpinner().Spin([&] {
      r = recv_once(MSG_DONTWAIT);
      return r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    });
  }
  if (r < 0) r = recv_once(MSG_WAITALL);
  if (r != static_cast<ssize_t>(n)) Die("recvmsg: short");
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) Die("recvmsg: no FD");
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  close(fd);
}

// RawStream times ping-pongs between this process and a forked echo child.
Sample RawStream(const char* name, size_t req, size_t resp, bool pass_fd,
                 int iters) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    Die("socketpair");
  }
  pid_t child = fork();
  if (child == 0) {
    close(sv[0]);
    int donor = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char buf[256] = {};
    for (;;) {
      ReadFull(sv[1], buf, req);
      if (pass_fd) {
        SendWithFd(sv[1], buf, resp, donor);
      } else {
        WriteFull(sv[1], buf, resp);
      }
    }
  }
  close(sv[1]);
  char buf[256] = {};
  auto once = [&] {
    WriteFull(sv[0], buf, req);
    if (pass_fd) {
      RecvWithFd(sv[0], buf, resp);
    } else {
      ReadFull(sv[0], buf, resp);
    }
  };
  for (int i = 0; i < iters / 10 + 3; ++i) once();
  uint64_t s0 = CpuNs(child), c0 = SelfCpuNs(), t0 = NowNs();
  for (int i = 0; i < iters; ++i) once();
  uint64_t t1 = NowNs(), c1 = SelfCpuNs(), s1 = CpuNs(child);
  close(sv[0]);
  waitpid(child, nullptr, 0);
  Sample s{name, "raw"};
  s.ops = iters;
  s.ns_per_op = double(t1 - t0) / iters;
  s.client_cpu = double(c1 - c0) / iters;
  s.server_cpu = double(s1 - s0) / iters;
  return s;
}

long Futex(std::atomic<uint32_t>* w, int op, uint32_t v) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), op, v, nullptr,
                 nullptr, 0);
}

// Await blocks until *w == want (FUTEX_WAIT after the spin, if any), as a
// flipcall endpoint does.
void Await(std::atomic<uint32_t>* w, uint32_t want) {
  if (RawSpinner().enabled() && RawSpinner().Spin([&] {
        return w->load(std::memory_order_acquire) == want;
      })) {
    return;
  }
  for (;;) {
    uint32_t v = w->load(std::memory_order_acquire);
    if (v == want) return;
    Futex(w, FUTEX_WAIT, v);
  }
}

// RawFutex times a futex ping-pong over a shared page with a forked child:
// the word counts turns; odd turns are the child's.
Sample RawFutex(int iters) {
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) Die("mmap");
  auto* w = new (page) std::atomic<uint32_t>(0);
  pid_t child = fork();
  if (child == 0) {
    for (uint32_t turn = 1;; turn += 2) {
      Await(w, turn);
      w->store(turn + 1, std::memory_order_release);
      Futex(w, FUTEX_WAKE, 1);
    }
  }
  uint32_t turn = 0;
  auto once = [&] {
    w->store(turn + 1, std::memory_order_release);
    Futex(w, FUTEX_WAKE, 1);
    Await(w, turn + 2);
    turn += 2;
  };
  for (int i = 0; i < iters / 10 + 3; ++i) once();
  uint64_t s0 = CpuNs(child), c0 = SelfCpuNs(), t0 = NowNs();
  for (int i = 0; i < iters; ++i) once();
  uint64_t t1 = NowNs(), c1 = SelfCpuNs(), s1 = CpuNs(child);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  munmap(page, 4096);
  Sample s{"raw_futex", "raw"};
  s.ops = iters;
  s.ns_per_op = double(t1 - t0) / iters;
  s.client_cpu = double(c1 - c0) / iters;
  s.server_cpu = double(s1 - s0) / iters;
  return s;
}

// RawLocal times fn in this process alone.
template <typename Fn>
Sample RawLocal(const char* name, int iters, Fn fn) {
  for (int i = 0; i < iters / 10 + 3; ++i) fn();
  uint64_t c0 = SelfCpuNs(), t0 = NowNs();
  for (int i = 0; i < iters; ++i) fn();
  uint64_t t1 = NowNs(), c1 = SelfCpuNs();
  Sample s{name, "raw"};
  s.ops = iters;
  s.ns_per_op = double(t1 - t0) / iters;
  s.client_cpu = double(c1 - c0) / iters;
  return s;
}

int RunRaw(const Flags& f) {
  g_spin = absl::Microseconds(
      f.Int("spin_us",
            static_cast<int>(absl::ToInt64Microseconds(spin::kDefaultMax))));
  std::string root = f.Get("root", "");
  if (root.empty()) Die("raw: --root is required");
  int iters = f.Int("iters", 10000);
  int dir_iters = f.Int("dir_iters", 50);
  std::string only = f.Get("only", "");
  auto want = [&](const char* n) { return only.empty() || only == n; };
  // Sizes with the 8-byte header: FStat is FDID out, Statx (144) back;
  // OpenAt is FDID + flags (padded) out, FDID back with the host FD.
  if (want("raw_stream")) Print(RawStream("raw_stream", 16, 152, false, iters));
  if (want("raw_stream_fd")) {
    Print(RawStream("raw_stream_fd", 24, 16, true, iters));
  }
  if (want("raw_futex")) Print(RawFutex(iters));
  int dir = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) Die("open " + root);
  if (want("raw_openat")) {
    Print(RawLocal("raw_openat", iters, [&] {
      int fd = openat(dir, kTarget, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) Die("openat");
      close(fd);
    }));
  }
  if (want("raw_getdents")) {
    alignas(8) static char buf[32 << 10];
    Print(RawLocal("raw_getdents", dir_iters, [&] {
      int d = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      size_t entries = 0;
      for (;;) {
        long n = syscall(SYS_getdents64, d, buf, sizeof(buf));
        if (n <= 0) break;
        for (long off = 0; off < n;) {
          auto* e = reinterpret_cast<struct dirent64*>(buf + off);
          ++entries;
          off += e->d_reclen;
        }
      }
      close(d);
      if (entries < kMinEntries) Die("getdents64: too few entries");
    }));
  }
  close(dir);
  return 0;
}

// --- Client -----------------------------------------------------------------

// SpawnServer runs cmd with fd as its FD 3 and stdout sent to stderr.
pid_t SpawnServer(const std::vector<std::string>& cmd, int fd) {
  pid_t pid = fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    int s = fcntl(fd, F_DUPFD, 10);
    if (s < 0 || dup2(s, 3) != 3 || dup2(2, 1) != 1) _exit(127);
    std::vector<char*> argv;
    for (const std::string& a : cmd)
      argv.push_back(const_cast<char*>(a.data()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int RunClient(const Flags& f) {
  const context::Context& ctx = context::Background();
  std::string op = f.Get("op", "fstat");
  std::string transport = f.Get("transport", "socket");
  int iters = f.Int("iters", 1000);
  int threads = f.Int("threads", 1);
  bool inproc = f.kv.count("inproc") > 0;
  const absl::Duration spin = absl::Microseconds(
      f.Int("spin_us",
            static_cast<int>(absl::ToInt64Microseconds(spin::kDefaultMax))));
  if (!inproc && f.rest.empty()) Die("client: -- SERVER ARGS... or --inproc");
  if (transport != "socket" && transport != "channel" && transport != "host") {
    Die("--transport: socket, channel or host");
  }

  std::unique_ptr<testing::GoferFixture> fixture;
  fd::OwnedFd client_end;
  pid_t server = getpid();
  if (inproc) {
    testing::GoferOptions opts;
    opts.donate_mount_fd = transport == "host";
    fixture = Must(testing::GoferFixture::Create(opts), "GoferFixture");
    for (size_t i = 0; i < kMinEntries; ++i) {
      std::ofstream(absl::StrCat(fixture->root(), "/e", i));
    }
    client_end = Must(fixture->Connect(), "Connect");
  } else {
    auto pair = Must(unet::Socket::SocketPair(SOCK_STREAM), "socketpair");
    server = SpawnServer(f.rest, pair.second.fd());
    client_end = fd::OwnedFd(dup(pair.first.fd()));
    fcntl(client_end.get(), F_SETFD, FD_CLOEXEC);
  }
  unet::Socket sock =
      Must(unet::Socket::FromFd(std::move(client_end)), "FromFd");

  std::function<void()> do_op;
  std::function<void()> close_conn;
  std::unique_ptr<devutil::GoferClient> gofer;
  std::shared_ptr<lisafs::Client> client;
  lisafs::ClientFD root, file;
  bool devutil_path =
      (op == "openat" || op == "dirents") && transport != "channel";
  if (devutil_path) {
    devutil::GoferClientOptions gopts;
    gopts.spin = spin;
    gofer = Must(devutil::NewGoferClient(ctx, "bench", std::move(sock), gopts),
                 "NewGoferClient");
    close_conn = [&] { gofer->Close(); };
    if (op == "openat") {
      do_op = [&] { Must(gofer->OpenAt(ctx, kTarget, O_RDONLY), "OpenAt"); };
    } else {
      do_op = [&] {
        std::vector<std::string> names =
            Must(gofer->DirentNames(ctx), "DirentNames");
        if (names.size() < kMinEntries) Die("DirentNames: too few names");
      };
    }
  } else {
    lisafs::ClientOptions lopts;
    lopts.spin = spin;
    lisafs::Mounted m =
        Must(lisafs::NewClient(ctx, std::move(sock), lopts), "Mount");
    client = m.client;
    close_conn = [&] { client->Close(); };
    if (transport == "channel") Check(client->StartChannels(ctx), "Channels");
    root = lisafs::ClientFD(client, m.root.control_fd);
    lisafs::Inode ino = Must(root.Walk(ctx, kTarget), "Walk");
    file = lisafs::ClientFD(client, ino.control_fd);
    if (op == "fstat" || op == "idle") {
      do_op = [&] { Must(file.FStat(ctx), "FStat"); };
    } else if (op == "walk") {
      do_op = [&] {
        lisafs::Inode i = Must(root.Walk(ctx, kTarget), "Walk");
        client->CloseFD(ctx, i.control_fd, /*flush=*/false);
      };
    } else if (op == "openat") {
      // devutil::GoferClient::OpenAt's RPC path on a client with channels.
      do_op = [&] {
        std::vector<std::string> names = {kTarget};
        lisafs::WalkResult w =
            Must(root.WalkMultiple(ctx, names), "WalkMultiple");
        if (w.status != lisafs::WalkStatus::kSuccess || w.inodes.size() != 1) {
          Die("WalkMultiple: not one inode");
        }
        lisafs::ClientFD child(client, w.inodes[0].control_fd);
        lisafs::OpenResult o = Must(child.OpenAt(ctx, O_RDONLY), "OpenAt");
        client->CloseFD(ctx, child.id(), /*flush=*/false);
        client->CloseFD(ctx, o.open_fd, /*flush=*/true);
      };
    } else if (op == "dirents") {
      // devutil::GoferClient::DirentNames's RPC path, with channels.
      do_op = [&] {
        lisafs::OpenResult o = Must(root.OpenAt(ctx, O_RDONLY), "OpenAt");
        lisafs::ClientFD dir(client, o.open_fd);
        std::vector<std::string> names;
        for (;;) {
          std::vector<lisafs::Dirent64> d =
              Must(dir.Getdents64(ctx, 64 * 1024), "Getdents64");
          if (d.empty()) break;
          for (lisafs::Dirent64& e : d) names.push_back(std::move(e.name));
        }
        client->CloseFD(ctx, o.open_fd, /*flush=*/true);
        if (names.size() < kMinEntries) Die("Getdents64: too few names");
      };
    } else {
      Die("unknown --op=" + op);
    }
  }

  int warmup = f.Int("warmup", iters / 10 + 3);
  for (int i = 0; i < warmup; ++i) do_op();
  // The server is read outside the client's window, so that reading /proc
  // does not count as the client's CPU or allocations.
  uint64_t s0 = inproc ? 0 : CpuNs(server);
  const uint64_t p0 = testing::ProcessAllocs();
  const uint64_t m0 = testing::ThreadAllocs();
  std::atomic<uint64_t> worker_allocs{0};
  uint64_t c0 = SelfCpuNs(), t0 = NowNs();
  uint64_t ops = uint64_t(iters) * threads;
  if (op == "idle") {
    usleep(f.Int("idle_ms", 1000) * 1000);
    ops = 1;
  } else if (threads == 1) {
    for (int i = 0; i < iters; ++i) do_op();
  } else {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&] {
        const uint64_t w0 = testing::ThreadAllocs();
        for (int i = 0; i < iters; ++i) do_op();
        worker_allocs += testing::ThreadAllocs() - w0;
      });
    }
    for (std::thread& t : ts) t.join();
  }
  uint64_t t1 = NowNs();
  uint64_t c1 = SelfCpuNs();
  // The client's: this thread's and the workers'; the rest, the server's.
  const uint64_t client_allocs =
      testing::ThreadAllocs() - m0 + worker_allocs.load();
  const uint64_t other_allocs = testing::ProcessAllocs() - p0 - client_allocs;
  uint64_t s1 = inproc ? 0 : CpuNs(server);

  Sample s{op, transport, threads, ops};
  s.ns_per_op = op == "idle" ? double(t1 - t0) : double(t1 - t0) / ops;
  s.client_cpu = double(c1 - c0) / ops;
  s.server_cpu = double(s1 - s0) / ops;
  if (inproc) {
    s.client_allocs = double(client_allocs) / ops;
    s.server_allocs = absl::StrCat(double(other_allocs) / ops);
  } else {
    s.client_allocs = double(client_allocs + other_allocs) / ops;
  }
  Print(s);

  root = file = lisafs::ClientFD();
  close_conn();
  if (!inproc) {
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (waitpid(server, &status, WNOHANG) == server) return 0;
      usleep(10000);
    }
    kill(server, SIGKILL);
    waitpid(server, &status, 0);
  }
  return 0;
}

}  // namespace
}  // namespace gvisor

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  std::string mode = argc > 1 ? argv[1] : "";
  gvisor::Flags f = gvisor::Parse(argc, argv);
  if (mode == "raw") return gvisor::RunRaw(f);
  if (mode == "client") return gvisor::RunClient(f);
  fprintf(stderr,
          "usage: lisafs_compare raw --root=TREE [--iters=N] [--only=NAME]\n"
          "       lisafs_compare client --root=TREE --op=OP --transport=T "
          "--iters=N [--threads=K] (--inproc | -- SERVER ARGS...)\n");
  return 2;
}
