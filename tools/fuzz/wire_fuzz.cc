// Fuzzes every LISAFS payload decoder with hostile bytes. The first input
// byte picks the message type; the rest is the payload. Whatever decodes
// must re-encode and decode to the same value (decoders accept nothing the
// encoders could not have produced, trailing bytes aside).

#include <stdint.h>
#include <stdlib.h>

#include <tuple>
#include <vector>

#include "absl/types/span.h"
#include "pkg/lisafs/messages.h"
#include "tools/fuzz/fuzz_seeds.h"

namespace gvisor::lisafs {
namespace {

using AllMessages =
    std::tuple<MountResp, WalkReq, WalkResp, WalkStatResp, OpenCreateAtReq,
               CloseReq, FsyncReq, PWriteReq, PReadResp, MkdirAtReq, MknodAtReq,
               SymlinkAtReq, LinkAtReq, UnlinkAtReq, RenameAtReq, RenameAt2Req,
               Getdents64Resp, FGetXattrReq, FGetXattrResp, FSetXattrReq,
               FListXattrResp, FRemoveXattrReq, BindAtReq, ReadLinkAtResp,
               AcceptResp, Statx, Inode, StatFS, ErrorResp, ChannelResp,
               StatReq, SetStatReq, SetStatResp, OpenAtReq, OpenAtResp,
               OpenCreateAtResp, PWriteResp, PReadReq, FStatFSReq, FAllocateReq,
               ReadLinkAtReq, FlushReq, ConnectReq, ConnectWithCredsReq,
               Getdents64Req, FListXattrReq, BindAtResp, ListenReq, AcceptReq>;
constexpr size_t kNumTypes = std::tuple_size_v<AllMessages>;

template <typename T>
void Check(absl::Span<const uint8_t> payload) {
  absl::StatusOr<T> first = Unmarshal<T>(payload);
  if (!first.ok()) return;
  absl::StatusOr<std::vector<uint8_t>> bytes = Marshal(*first);
  if (!bytes.ok()) abort();                     // a decoded value must encode
  if (bytes->size() > payload.size()) abort();  // never longer than the input
  absl::StatusOr<T> second = Unmarshal<T>(*bytes);
  if (!second.ok() || !(*second == *first)) abort();
}

template <size_t I = 0>
void Dispatch(size_t which, absl::Span<const uint8_t> payload) {
  if constexpr (I < kNumTypes) {
    if (which == I) {
      Check<std::tuple_element_t<I, AllMessages>>(payload);
    } else {
      Dispatch<I + 1>(which, payload);
    }
  }
}

template <size_t I = 0>
void AddSeeds(std::vector<std::vector<uint8_t>>& out) {
  if constexpr (I < kNumTypes) {
    using T = std::tuple_element_t<I, AllMessages>;
    T msg{};
    if constexpr (std::is_same_v<T, WalkReq>) msg.path = {"nvidia-caps", "x"};
    if constexpr (std::is_same_v<T, Getdents64Resp>) {
      msg.dirents.push_back(Dirent64{.ino = 1, .type = 2, .name = "nvidia0"});
    }
    if constexpr (std::is_same_v<T, FListXattrResp>) msg.names = {"user.a"};
    if constexpr (std::is_same_v<T, CloseReq>) msg.fds = {2, 3, 4};
    if constexpr (std::is_same_v<T, MountResp>) {
      msg.max_message_size = 0x1ff000;
      msg.supported_mids = {MID::kMount, MID::kWalk};
    }
    if constexpr (std::is_same_v<T, WalkResp>) msg.inodes.resize(2);
    std::vector<uint8_t> seed = {static_cast<uint8_t>(I)};
    absl::StatusOr<std::vector<uint8_t>> b = Marshal(msg);
    if (b.ok()) seed.insert(seed.end(), b->begin(), b->end());
    out.push_back(std::move(seed));
    AddSeeds<I + 1>(out);
  }
}

}  // namespace
}  // namespace gvisor::lisafs

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  gvisor::lisafs::Dispatch(data[0] % gvisor::lisafs::kNumTypes,
                           absl::MakeConstSpan(data + 1, size - 1));
  return 0;
}

namespace gvisor::fuzz {
std::vector<std::vector<uint8_t>> FuzzSeeds() {
  std::vector<std::vector<uint8_t>> seeds;
  lisafs::AddSeeds(seeds);
  return seeds;
}
}  // namespace gvisor::fuzz
