// Benchmarks of devutil::GoferClient against raw syscalls measured in the
// same run (run with: bazel run -c opt //tools/bench:devutil_bench).
//
//   BM_RawOpenClose           openat+close of a file (baseline)
//   BM_RawPathReopen          the fast path's syscalls alone: openat2 O_PATH
//                             beneath the root, fstat, open of the
//                             /proc/thread-self/fd magic link, two closes (the
//                             floor of a race-free open of a file whose
//                             type must be known before it is opened)
//   BM_OpenAt/FastPath        GoferClient::OpenAt with the donated mount FD
//   BM_RawSocketPingPong      the RPC path's three exchanges (Walk, OpenAt,
//                             Close) as raw SOCK_STREAM ping-pongs of the
//                             same sizes, one FD passed (baseline)
//   BM_OpenAt/RpcPath         GoferClient::OpenAt over LISAFS RPCs
//   BM_RawGetdents            getdents64 loop (32 KiB buffer) over a
//                             10,000-entry directory
//   BM_DirentNames/FastPath   DirentNames with the donated mount FD
//   BM_DirentNames/RpcPath    DirentNames over Getdents64 RPCs
//
// Counters: "faults" is minor page faults per iteration (the process's).
//
// The server runs in this process (the hermetic gofer fixture), on its own
// thread, as a dev gofer would in its own process.

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "glog/logging.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/unet/unet.h"
#include "testing/gofer_fixture.h"

namespace gvisor {
namespace {

constexpr int kDirEntries = 10000;

struct Setup {
  std::unique_ptr<testing::GoferFixture> fixture;
  std::unique_ptr<devutil::GoferClient> client;
};

Setup& Get(bool donate) {
  static Setup setups[2];
  Setup& s = setups[donate ? 1 : 0];
  if (s.client) return s;
  testing::GoferOptions opts;
  opts.donate_mount_fd = donate;
  s.fixture = *testing::GoferFixture::Create(opts);
  // Make the served directory a 10,000-entry one.
  for (int i = 0; i < kDirEntries; ++i) {
    std::ofstream(absl::StrCat(s.fixture->root(), "/dev", i));
  }
  s.client =
      *devutil::NewGoferClient(context::Background(), "bench",
                               *unet::Socket::FromFd(*s.fixture->Connect()));
  CHECK_EQ(s.client->HasHostFD(), donate);
  return s;
}

const char kTarget[] = "dir/nested/deep";

// MinorFaults is the process's minor page faults so far.
long MinorFaults() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

// FaultCounter sets state's "faults" counter to the minor page faults per
// iteration of the timed loop.
class FaultCounter {
 public:
  explicit FaultCounter(benchmark::State& state)
      : state_(state), start_(MinorFaults()) {}
  ~FaultCounter() {
    state_.counters["faults"] =
        benchmark::Counter(static_cast<double>(MinorFaults() - start_),
                           benchmark::Counter::kAvgIterations);
  }

 private:
  benchmark::State& state_;
  const long start_;
};

void BM_RawOpenClose(benchmark::State& state) {
  Setup& s = Get(true);
  int dir = open(s.fixture->root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  FaultCounter faults(state);
  for (auto _ : state) {
    int fd = openat(dir, kTarget, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    benchmark::DoNotOptimize(fd);
    close(fd);
  }
  close(dir);
}
BENCHMARK(BM_RawOpenClose);

void BM_RawPathReopen(benchmark::State& state) {
  Setup& s = Get(true);
  int dir = open(s.fixture->root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct open_how how = {};
  how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  FaultCounter faults(state);
  for (auto _ : state) {
    int p =
        static_cast<int>(syscall(SYS_openat2, dir, kTarget, &how, sizeof(how)));
    CHECK_GE(p, 0);
    struct stat st;
    CHECK_EQ(fstat(p, &st), 0);
    char proc[40];
    snprintf(proc, sizeof(proc), "/proc/thread-self/fd/%d", p);
    int fd = open(proc, O_RDONLY | O_NOCTTY | O_CLOEXEC);
    benchmark::DoNotOptimize(fd);
    close(p);
    close(fd);
  }
  close(dir);
}
BENCHMARK(BM_RawPathReopen);

// GoferClient::OpenAt on the host fast path (donate) or over RPCs.
void BM_OpenAt(benchmark::State& state, bool donate) {
  Setup& s = Get(donate);
  FaultCounter faults(state);
  for (auto _ : state) {
    auto fd = s.client->OpenAt(context::Background(), kTarget, O_RDONLY);
    CHECK(fd.ok()) << fd.status();
  }
}
BENCHMARK_CAPTURE(BM_OpenAt, FastPath, true);

// Sizes of the RPC path's frames for kTarget (header included): Walk of
// three components out, three Inodes back; OpenAt out, OpenAtResp + 1 FD
// back; Close of five FDIDs out, empty back.
constexpr size_t kWalkReq = 8 + 8 + 2 + (2 + 3) + (2 + 6) + (2 + 4);
constexpr size_t kWalkResp = 8 + 3 + 3 * 152;
constexpr size_t kOpenReq = 8 + 16;
constexpr size_t kOpenResp = 8 + 8;
constexpr size_t kCloseReq = 8 + 2 + 5 * 8;
constexpr size_t kCloseResp = 8;

void BM_RawSocketPingPong(benchmark::State& state) {
  auto pair = unet::Socket::SocketPair(SOCK_STREAM);
  CHECK(pair.ok());
  unet::Socket client = std::move(pair->first);
  unet::Socket server = std::move(pair->second);
  int donor = open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::thread echo([&] {
    std::vector<uint8_t> buf(kWalkResp);
    auto recv = [&](size_t n) {
      iovec v = {buf.data(), n};
      return server.RecvExact(absl::MakeConstSpan(&v, 1), 0, nullptr).ok();
    };
    auto send = [&](size_t n, bool fd) {
      iovec v = {buf.data(), n};
      std::vector<int> fds;
      if (fd) fds.push_back(donor);
      CHECK(server.SendAll(absl::MakeConstSpan(&v, 1), fds).ok());
    };
    while (recv(kWalkReq)) {
      send(kWalkResp, false);
      recv(kOpenReq);
      send(kOpenResp, true);
      recv(kCloseReq);
      send(kCloseResp, false);
    }
  });
  std::vector<uint8_t> buf(kWalkResp);
  auto exchange = [&](size_t out, size_t in, size_t want_fds) {
    iovec o = {buf.data(), out};
    CHECK(client.SendAll(absl::MakeConstSpan(&o, 1), {}).ok());
    iovec i = {buf.data(), in};
    std::vector<fd::OwnedFd> fds;
    CHECK(client.RecvExact(absl::MakeConstSpan(&i, 1), want_fds, &fds).ok());
  };
  for (auto _ : state) {
    exchange(kWalkReq, kWalkResp, 0);
    exchange(kOpenReq, kOpenResp, 16);
    exchange(kCloseReq, kCloseResp, 0);
  }
  client.Shutdown().IgnoreError();
  echo.join();
  close(donor);
}
BENCHMARK(BM_RawSocketPingPong);

BENCHMARK_CAPTURE(BM_OpenAt, RpcPath, false);

void BM_RawGetdents(benchmark::State& state) {
  Setup& s = Get(true);
  // The size of lisafs_compare's baseline and of DirentNames's buffer.
  static std::vector<char> buf(32 << 10);
  size_t entries = 0;
  FaultCounter faults(state);
  for (auto _ : state) {
    int dir =
        open(s.fixture->root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    entries = 0;
    for (;;) {
      long n = syscall(SYS_getdents64, dir, buf.data(), buf.size());
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        auto* d = reinterpret_cast<struct dirent64*>(buf.data() + off);
        ++entries;
        off += d->d_reclen;
      }
    }
    close(dir);
  }
  state.counters["entries"] = static_cast<double>(entries);
}
BENCHMARK(BM_RawGetdents);

// GoferClient::DirentNames on the host fast path (donate) or over RPCs.
void BM_DirentNames(benchmark::State& state, bool donate) {
  Setup& s = Get(donate);
  size_t n = 0;
  FaultCounter faults(state);
  for (auto _ : state) {
    auto names = s.client->DirentNames(context::Background());
    CHECK(names.ok());
    n = names->size();
  }
  state.counters["entries"] = static_cast<double>(n);
}
BENCHMARK_CAPTURE(BM_DirentNames, FastPath, true);
BENCHMARK_CAPTURE(BM_DirentNames, RpcPath, false);

}  // namespace
}  // namespace gvisor

BENCHMARK_MAIN();
