// Fuzzes the lisafs client with a hostile server: the input is the byte
// stream the "server" sends after a well-formed Mount response (first byte:
// how many FDs ride along). The client runs a fixed script of RPCs over it.
// Nothing may crash, hang or leak an FD, whatever the bytes.

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/types/span.h"
#include "glog/logging.h"
#include "pkg/context/context.h"
#include "pkg/lisafs/client.h"
#include "pkg/lisafs/messages.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"
#include "tools/fuzz/fuzz_seeds.h"

namespace gvisor::lisafs {
namespace {

std::vector<uint8_t> MountFrame() {
  MountResp m;
  m.root.control_fd = 1;
  m.max_message_size = 1 << 16;
  for (int i = 1; i <= 33; ++i) m.supported_mids.push_back(static_cast<MID>(i));
  return *MarshalFrame(MID::kMount, m);
}

void Run(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const int before = testing::OpenFdCount();
  {
    auto pair = unet::Socket::SocketPair(SOCK_STREAM);
    if (!pair.ok()) abort();
    int server = pair->second.fd();
    std::vector<uint8_t> stream = MountFrame();
    stream.insert(stream.end(), data + 1, data + size);
    // Attach up to 3 FDs to the bytes after the Mount response.
    std::vector<int> fds;
    for (int i = 0; i < data[0] % 4; ++i) {
      fds.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
    size_t mount_len = MountFrame().size();
    iovec m = {stream.data(), mount_len};
    if (!pair->second.SendAll(absl::MakeConstSpan(&m, 1), {}).ok()) abort();
    if (stream.size() > mount_len) {
      iovec rest = {stream.data() + mount_len, stream.size() - mount_len};
      if (!pair->second.SendAll(absl::MakeConstSpan(&rest, 1), fds).ok())
        abort();
    }
    for (int fd : fds) close(fd);
    shutdown(server, SHUT_WR);  // the client sees EOF after the input

    const context::Context& ctx = context::Background();
    absl::StatusOr<Mounted> mounted = NewClient(ctx, std::move(pair->first));
    if (!mounted.ok()) abort();
    ClientFD root = mounted->client->NewFD(1);
    (void)root.FStat(ctx);
    auto walk = root.WalkMultiple(ctx, std::vector<std::string>{"a", "b"});
    (void)walk;
    auto open = root.OpenAt(ctx, O_RDONLY);
    (void)open;
    (void)root.Getdents64(ctx, 65536);
    (void)root.ReadLinkAt(ctx);
    std::vector<uint8_t> buf(300);
    (void)root.Read(ctx, absl::MakeSpan(buf), 0);
    (void)root.ListXattr(ctx, 0);
    (void)root.Connect(ctx, SOCK_STREAM);
    (void)root.BindAt(ctx, SOCK_STREAM, "s", 0600, 0, 0);
    mounted->client->CloseFD(ctx, 2, true);
    mounted->client->Close();
  }
  if (testing::OpenFdCount() != before) abort();  // an FD leaked
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
  if (size > 1 << 15) return 0;  // stay within the socket buffer
  gvisor::lisafs::Run(data, size);
  return 0;
}

namespace gvisor::fuzz {
std::vector<std::vector<uint8_t>> FuzzSeeds() {
  using namespace gvisor::lisafs;  // NOLINT
  std::vector<uint8_t> s = {1};
  auto add = [&](std::vector<uint8_t> f) {
    s.insert(s.end(), f.begin(), f.end());
  };
  add(*MarshalFrame(MID::kFStat, Statx{}));
  add(*MarshalFrame(MID::kWalk,
                    WalkResp{WalkStatus::kSuccess, {Inode{2}, Inode{3}}}));
  add(*MarshalFrame(MID::kOpenAt, OpenAtResp{4}));
  Getdents64Resp g;
  g.dirents.push_back(Dirent64{.ino = 1, .type = 2, .name = "nvidia0"});
  add(*MarshalFrame(MID::kGetdents64, g));
  add(*MarshalFrame(MID::kReadLinkAt, ReadLinkAtResp{"target"}));
  add(*MarshalFrame(MID::kPRead, PReadResp{"abc"}));
  add(*MarshalFrame(MID::kFListXattr, FListXattrResp{{"user.a"}}));
  add(*MarshalFrame(MID::kConnect, EmptyMessage{}));
  add(*MarshalFrame(MID::kBindAt, BindAtResp{Inode{5}, 6}));
  add(*MarshalFrame(MID::kClose, EmptyMessage{}));
  std::vector<uint8_t> errors = {0};
  for (int i = 0; i < 8; ++i) {
    auto e = *MarshalFrame(MID::kError, ErrorResp{.err = 2});
    errors.insert(errors.end(), e.begin(), e.end());
  }
  return {s, errors};
}
}  // namespace gvisor::fuzz
