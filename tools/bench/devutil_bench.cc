// Benchmarks of devutil::GoferClient against raw syscalls measured in the
// same run (run with: bazel run -c opt //tools/bench:devutil_bench).
//
//   BM_RawOpenClose           openat+close of a file (baseline)
//   BM_OpenAt/FastPath        GoferClient::OpenAt with the donated mount FD
//   BM_RawSocketPingPong      the RPC path's three exchanges (Walk, OpenAt,
//                             Close) as raw SOCK_STREAM ping-pongs of the
//                             same sizes, one FD passed (baseline)
//   BM_OpenAt/RpcPath         GoferClient::OpenAt over LISAFS RPCs
//   BM_RawGetdents            getdents64 loop over a 10,000-entry directory
//   BM_DirentNames/FastPath   DirentNames with the donated mount FD
//   BM_DirentNames/RpcPath    DirentNames over Getdents64 RPCs
//
// The server runs in this process (the hermetic gofer fixture), on its own
// thread, as a dev gofer would in its own process.

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
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

void BM_RawOpenClose(benchmark::State& state) {
  Setup& s = Get(true);
  int dir = open(s.fixture->root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (auto _ : state) {
    int fd = openat(dir, kTarget, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    benchmark::DoNotOptimize(fd);
    close(fd);
  }
  close(dir);
}
BENCHMARK(BM_RawOpenClose);

// GoferClient::OpenAt on the host fast path (donate) or over RPCs.
void BM_OpenAt(benchmark::State& state, bool donate) {
  Setup& s = Get(donate);
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
  alignas(8) char buf[8192];
  size_t entries = 0;
  for (auto _ : state) {
    int dir =
        open(s.fixture->root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    entries = 0;
    for (;;) {
      long n = syscall(SYS_getdents64, dir, buf, sizeof(buf));
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        auto* d = reinterpret_cast<struct dirent64*>(buf + off);
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
