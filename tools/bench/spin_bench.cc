// spin_bench: what the spin before blocking (pkg/spin/spin.h) does to a
// round trip, against the raw baselines with and without the same spin.
//
//   bazel run -c opt //tools/bench:spin_bench -- [OPS] [REPS]
//
// Each case is a ping-pong between this process and a child: a raw
// futex hand-over on a shared word, a raw AF_UNIX SOCK_STREAM exchange (12
// bytes out, 256 back: an FStat's sizes), and FStat over a LISAFS socket and
// over a channel (our client; our server, in a child process, with the
// fsgofer backend serving /tmp). Every case runs with the spin off and with
// spin::kDefaultMax (both sides), the repetitions alternating between cases; it
// prints the median and min-max of the latency per op and the CPU per op (both
// sides: the process's CPU time over the run).

#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pkg/context/context.h"
#include "pkg/fsgofer/fsgofer.h"
#include "pkg/lisafs/client.h"
#include "pkg/lisafs/server.h"
#include "pkg/spin/spin.h"
#include "pkg/unet/unet.h"

namespace gvisor {
namespace {

double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Sample {
  double lat_us;
  double cpu_us;
};

// Run times body (which runs ops round trips).
Sample Run(int ops, const std::function<void(int)>& body) {
  const double c0 = CpuSeconds();
  const absl::Time t0 = absl::Now();
  body(ops);
  const double wall = absl::ToDoubleMicroseconds(absl::Now() - t0);
  const double cpu = (CpuSeconds() - c0) * 1e6;
  return {wall / ops, cpu / ops};
}

// --- Raw futex ping-pong -----------------------------------------------------

void FutexWait(std::atomic<uint32_t>* w, uint32_t v) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT, v, nullptr,
          nullptr, 0);
}
void FutexWake(std::atomic<uint32_t>* w) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE, 1, nullptr,
          nullptr, 0);
}

// Wait waits until *w != v, spinning first as flipcall::Endpoint does.
void WaitChange(std::atomic<uint32_t>* w, uint32_t v, spin::Spinner* s) {
  s->Spin([&] { return w->load(std::memory_order_acquire) != v; });
  while (w->load(std::memory_order_acquire) == v) FutexWait(w, v);
}

// ChildCpuAtExit waits for pid and returns its CPU seconds.
double ChildCpuAtExit(pid_t pid) {
  int status;
  rusage ru = {};
  wait4(pid, &status, 0, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// FutexPingPong returns the CPU seconds of its server (a child process).
double FutexPingPong(absl::Duration spin_max, int ops) {
  // 0: the client's turn, 1: the server's, 2: stop.
  void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) abort();
  auto* word = new (m) std::atomic<uint32_t>(0);
  pid_t pid = fork();
  if (pid == 0) {
    spin::Spinner s(spin_max);
    for (;;) {
      WaitChange(word, 0, &s);
      if (word->load() == 2) _exit(0);
      word->store(0, std::memory_order_release);
      FutexWake(word);
    }
  }
  spin::Spinner s(spin_max);
  for (int i = 0; i < ops; ++i) {
    word->store(1, std::memory_order_release);
    FutexWake(word);
    WaitChange(word, 1, &s);
  }
  word->store(2);
  FutexWake(word);
  const double cpu = ChildCpuAtExit(pid);
  munmap(m, 4096);
  return cpu;
}

// --- Raw AF_UNIX ping-pong ---------------------------------------------------

// RecvAll reads n bytes, spinning (non-blocking MSG_PEEK) before blocking as
// lisafs::SockCommunicator does.
bool RecvAll(int fd, char* buf, size_t n, spin::Spinner* s) {
  if (s->enabled()) {
    s->Spin([&] {
      char b;
      return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno != EAGAIN;
    });
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, buf + got, n - got, 0);
    if (r <= 0) return false;
    got += r;
  }
  return true;
}

// UnixPingPong returns the CPU seconds of its server (a child process).
double UnixPingPong(absl::Duration spin_max, int ops) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) abort();
  constexpr size_t kReq = 12, kResp = 256;
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    spin::Spinner s(spin_max);
    char buf[kResp] = {};
    for (;;) {
      char req[kReq];
      if (!RecvAll(sv[1], req, kReq, &s)) _exit(0);
      if (send(sv[1], buf, kResp, 0) != kResp) _exit(0);
    }
  }
  close(sv[1]);
  spin::Spinner s(spin_max);
  char req[kReq] = {};
  char resp[kResp];
  for (int i = 0; i < ops; ++i) {
    if (send(sv[0], req, kReq, 0) != kReq) abort();
    if (!RecvAll(sv[0], resp, kResp, &s)) abort();
  }
  close(sv[0]);
  return ChildCpuAtExit(pid);
}

// --- LISAFS FStat ------------------------------------------------------------

// The server runs in a child process (as devgofer does), so that client
// and server are scheduled as two processes; CPU per op adds the child's,
// which it reports over a control socket.
struct Lisafs {
  pid_t child = -1;
  int ctl = -1;  // the parent's end of the control socket
  lisafs::Mounted m;
  std::unique_ptr<lisafs::ClientFD> root;
};

double ChildCpu(Lisafs* l) {
  char c = 'c';
  double v = 0;
  if (write(l->ctl, &c, 1) != 1 || read(l->ctl, &v, sizeof(v)) != sizeof(v)) {
    abort();
  }
  return v;
}

std::unique_ptr<Lisafs> Connect(absl::Duration spin_max, bool channels) {
  auto l = std::make_unique<Lisafs>();
  auto pair = unet::Socket::SocketPair(SOCK_STREAM);
  if (!pair.ok()) abort();
  int ctl[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, ctl) != 0) abort();
  l->child = fork();
  if (l->child == 0) {
    close(ctl[0]);
    pair->first = unet::Socket();
    lisafs::ServerOptions so;
    so.spin = spin_max;
    auto server = std::make_unique<lisafs::Server>(so);
    if (!server
             ->StartConnection(
                 std::move(pair->second), "/tmp",
                 std::make_unique<fsgofer::Connection>(fsgofer::Options()))
             .ok()) {
      _exit(1);
    }
    char c;
    while (read(ctl[1], &c, 1) == 1) {
      double v = CpuSeconds();
      if (write(ctl[1], &v, sizeof(v)) != sizeof(v)) break;
    }
    server->Shutdown();
    server->Wait();
    _exit(0);
  }
  close(ctl[1]);
  l->ctl = ctl[0];
  pair->second = unet::Socket();
  lisafs::ClientOptions co;
  co.spin = spin_max;
  auto m = lisafs::NewClient(context::Background(), std::move(pair->first), co);
  if (!m.ok()) {
    fprintf(stderr, "mount: %s\n", m.status().ToString().c_str());
    abort();
  }
  l->m = *std::move(m);
  l->root = std::make_unique<lisafs::ClientFD>(
      l->m.client->NewFD(l->m.root.control_fd));
  if (channels && !l->m.client->StartChannels(context::Background()).ok()) {
    abort();
  }
  return l;
}

void Disconnect(std::unique_ptr<Lisafs> l) {
  l->root->Close(context::Background(), true);
  l->m.client->Close();
  l->m = lisafs::Mounted();
  close(l->ctl);
  int status;
  waitpid(l->child, &status, 0);
}

struct Case {
  std::string name;
  std::function<Sample(int)> run;
  std::vector<Sample> samples;
};

}  // namespace
}  // namespace gvisor

int main(int argc, char** argv) {
  using namespace gvisor;
  const int ops = argc > 1 ? atoi(argv[1]) : 20000;
  const int reps = argc > 2 ? atoi(argv[2]) : 7;
  std::vector<Case> cases;
  for (absl::Duration sp : {absl::ZeroDuration(), spin::kDefaultMax}) {
    const std::string tag =
        sp == absl::ZeroDuration() ? "spin off" : absl::FormatDuration(sp);
    cases.push_back({"raw futex ping-pong, " + tag, [sp](int n) {
                       double child = 0;
                       Sample s =
                           Run(n, [&](int k) { child = FutexPingPong(sp, k); });
                       s.cpu_us += child * 1e6 / n;
                       return s;
                     }});
    cases.push_back({"raw AF_UNIX ping-pong 12/256 B, " + tag, [sp](int n) {
                       double child = 0;
                       Sample s =
                           Run(n, [&](int k) { child = UnixPingPong(sp, k); });
                       s.cpu_us += child * 1e6 / n;
                       return s;
                     }});
    for (bool ch : {false, true}) {
      cases.push_back({std::string("FStat over ") +
                           (ch ? "a channel, " : "the socket, ") + tag,
                       [sp, ch](int n) {
                         auto l = Connect(sp, ch);
                         for (int i = 0; i < 100; ++i) {
                           (void)l->root->FStat(context::Background());
                         }
                         const double c0 = ChildCpu(l.get());
                         Sample s = Run(n, [&](int k) {
                           for (int i = 0; i < k; ++i) {
                             if (!l->root->FStat(context::Background()).ok())
                               abort();
                           }
                         });
                         s.cpu_us += (ChildCpu(l.get()) - c0) * 1e6 / n;
                         Disconnect(std::move(l));
                         return s;
                       }});
    }
  }
  for (int r = 0; r < reps; ++r) {
    for (Case& c : cases) c.samples.push_back(c.run(ops));
  }
  printf("%d ops x %d reps, %u CPUs; median [min-max]\n", ops, reps,
         std::thread::hardware_concurrency());
  printf("%-44s %24s %24s\n", "case", "latency us/op", "CPU us/op");
  for (Case& c : cases) {
    std::vector<double> lat, cpu;
    for (const Sample& s : c.samples) {
      lat.push_back(s.lat_us);
      cpu.push_back(s.cpu_us);
    }
    std::sort(lat.begin(), lat.end());
    std::sort(cpu.begin(), cpu.end());
    printf("%-44s %8.2f [%6.2f-%6.2f] %8.2f [%6.2f-%6.2f]\n", c.name.c_str(),
           lat[lat.size() / 2], lat.front(), lat.back(), cpu[cpu.size() / 2],
           cpu.front(), cpu.back());
  }
  return 0;
}
