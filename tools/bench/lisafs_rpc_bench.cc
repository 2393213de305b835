// Latency of single LISAFS RPCs over the connection's socket, client and
// server in this process (the hermetic gofer fixture; the server on its own
// threads). bazel run -c opt //tools/bench:lisafs_rpc_bench
//
//   BM_FStat        one FStat RPC
//   BM_WalkClose    Walk of one name, then a flushed Close of its FDID
//   BM_OpenAtClose  OpenAt (one FD donated), then a flushed Close

#include <fcntl.h>

#include <memory>

#include "benchmark/benchmark.h"
#include "glog/logging.h"
#include "pkg/context/context.h"
#include "pkg/lisafs/client.h"
#include "pkg/unet/unet.h"
#include "testing/gofer_fixture.h"

namespace gvisor {
namespace {

struct Setup {
  std::unique_ptr<testing::GoferFixture> fixture;
  lisafs::Mounted mounted;
  lisafs::ClientFD root;
};

Setup& Get() {
  static Setup* s = [] {
    auto* s = new Setup;
    s->fixture = *testing::GoferFixture::Create();
    s->mounted = *lisafs::NewClient(
        context::Background(), *unet::Socket::FromFd(*s->fixture->Connect()));
    s->root = s->mounted.client->NewFD(s->mounted.root.control_fd);
    return s;
  }();
  return *s;
}

void BM_FStat(benchmark::State& state) {
  Setup& s = Get();
  for (auto _ : state) {
    CHECK(s.root.FStat(context::Background()).ok());
  }
}
BENCHMARK(BM_FStat);

void BM_WalkClose(benchmark::State& state) {
  Setup& s = Get();
  const context::Context& ctx = context::Background();
  for (auto _ : state) {
    absl::StatusOr<lisafs::Inode> i = s.root.Walk(ctx, "file");
    CHECK(i.ok());
    s.mounted.client->CloseFD(ctx, i->control_fd, true);
  }
}
BENCHMARK(BM_WalkClose);

void BM_OpenAtClose(benchmark::State& state) {
  Setup& s = Get();
  const context::Context& ctx = context::Background();
  absl::StatusOr<lisafs::Inode> file = s.root.Walk(ctx, "file");
  CHECK(file.ok());
  lisafs::ClientFD f = s.mounted.client->NewFD(file->control_fd);
  for (auto _ : state) {
    absl::StatusOr<lisafs::OpenResult> o = f.OpenAt(ctx, O_RDONLY);
    CHECK(o.ok());
    s.mounted.client->CloseFD(ctx, o->open_fd, true);
  }
  f.Close(ctx, true);
}
BENCHMARK(BM_OpenAtClose);

}  // namespace
}  // namespace gvisor

BENCHMARK_MAIN();
