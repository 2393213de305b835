// Fuzzes the lisafs server (fsgofer backend over the hermetic tree) with
// hostile request frames. The input is a series of [u16 MID][u16 length]
// [payload] records sent after a Mount on a fresh connection. Every request
// must get exactly one well-formed reply, the connection must still mount
// and answer an FStat afterwards, and once the connection ends the server
// must hold no FD it did not hold before.
//
// Connect and ConnectWithCreds are left out: connecting to a listener that
// never accepts blocks once its backlog is full, in fsgofer too.

#include <stdlib.h>
#include <string.h>

#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "pkg/lisafs/messages.h"
#include "testing/gofer_fixture.h"
#include "testing/raw_client.h"
#include "tools/fuzz/fuzz_seeds.h"

namespace gvisor::lisafs {
namespace {

// Fixture is shared by every input; it is destroyed at exit, which stops
// the server and joins its threads.
testing::GoferFixture& Fixture() {
  static std::unique_ptr<testing::GoferFixture> f = [] {
    auto r = testing::GoferFixture::Create();
    if (!r.ok()) abort();
    return std::move(*r);
  }();
  return *f;
}

void Run(const uint8_t* data, size_t size) {
  testing::GoferFixture& fixture = Fixture();
  const int before = testing::OpenFdCount();
  {
    absl::StatusOr<fd::OwnedFd> sock = fixture.Connect();
    if (!sock.ok()) abort();
    testing::RawClient client(std::move(*sock));
    absl::StatusOr<testing::Reply> m = client.CallBytes(1, {});
    if (!m.ok() || m->mid != 1) abort();
    size_t at = 0;
    while (at + 4 <= size) {
      uint16_t mid, len;
      memcpy(&mid, data + at, 2);
      memcpy(&len, data + at + 2, 2);
      at += 4;
      len = static_cast<uint16_t>(std::min<size_t>(len, size - at));
      if (mid == static_cast<uint16_t>(MID::kConnect) ||
          mid == static_cast<uint16_t>(MID::kConnectWithCreds)) {
        at += len;
        continue;
      }
      absl::StatusOr<testing::Reply> r =
          client.CallBytes(mid, absl::MakeConstSpan(data + at, len));
      at += len;
      if (!r.ok()) abort();  // the server dropped the connection
      if (r->mid != 0 && r->mid != mid) abort();
      if (r->mid == 0 && (r->err() <= 0)) abort();
    }
    // Still healthy: a new Mount (the input may have closed FDID 1) and an
    // FStat of its root.
    absl::StatusOr<testing::Reply> again = client.CallBytes(1, {});
    if (!again.ok() || again->mid != 1) abort();
    absl::StatusOr<MountResp> root = again->As<MountResp>();
    if (!root.ok()) abort();
    absl::StatusOr<testing::Reply> st =
        client.Call(MID::kFStat, StatReq{root->root.control_fd});
    if (!st.ok() || st->mid != static_cast<uint16_t>(MID::kFStat)) abort();
  }
  fixture.server().AwaitConnections(0);
  if (testing::OpenFdCount() != before) abort();
}

}  // namespace
}  // namespace gvisor::lisafs

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 14) return 0;
  gvisor::lisafs::Run(data, size);
  return 0;
}

namespace gvisor::fuzz {
std::vector<std::vector<uint8_t>> FuzzSeeds() {
  using namespace gvisor::lisafs;  // NOLINT
  std::vector<std::vector<uint8_t>> seeds;
  auto rec = [](std::vector<uint8_t>& s, MID mid, std::vector<uint8_t> p) {
    uint16_t m = static_cast<uint16_t>(mid),
             l = static_cast<uint16_t>(p.size());
    s.insert(s.end(), reinterpret_cast<uint8_t*>(&m),
             reinterpret_cast<uint8_t*>(&m) + 2);
    s.insert(s.end(), reinterpret_cast<uint8_t*>(&l),
             reinterpret_cast<uint8_t*>(&l) + 2);
    s.insert(s.end(), p.begin(), p.end());
  };
  std::vector<uint8_t> a;
  rec(a, MID::kWalk, *Marshal(WalkReq{1, {"dir", "nested", "deep"}}));
  rec(a, MID::kOpenAt, *Marshal(OpenAtReq{.fd = 4, .flags = 0}));
  rec(a, MID::kPRead, *Marshal(PReadReq{.offset = 0, .fd = 5, .count = 64}));
  rec(a, MID::kGetdents64, *Marshal(Getdents64Req{.dir_fd = 5, .count = 4096}));
  rec(a, MID::kClose, *Marshal(CloseReq{{2, 3, 4, 5}}));
  seeds.push_back(a);
  std::vector<uint8_t> b;
  MkdirAtReq mk;
  mk.common.dir_fd = 1;
  mk.common.mode = 0755;
  mk.name = "fuzzdir";
  rec(b, MID::kMkdirAt, *Marshal(mk));
  OpenCreateAtReq oc;
  oc.common.dir_fd = 2;
  oc.common.mode = 0644;
  oc.flags = 2;
  oc.name = "f";
  rec(b, MID::kOpenCreateAt, *Marshal(oc));
  PWriteReq pw;
  pw.fd = 4;
  pw.data = "data";
  rec(b, MID::kPWrite, *Marshal(pw));
  rec(b, MID::kRenameAt, *Marshal(RenameAtReq{2, 2, "f", "g"}));
  rec(b, MID::kUnlinkAt, *Marshal(UnlinkAtReq{2, 0, "g"}));
  rec(b, MID::kUnlinkAt, *Marshal(UnlinkAtReq{1, 0x200, "fuzzdir"}));
  rec(b, MID::kWalkStat, *Marshal(WalkReq{1, {"", "symlink"}}));
  rec(b, MID::kFGetXattr, *Marshal(FGetXattrReq{1, 64, "user.x"}));
  seeds.push_back(b);
  return seeds;
}
}  // namespace gvisor::fuzz
