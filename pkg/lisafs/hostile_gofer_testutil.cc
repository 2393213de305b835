#include "pkg/lisafs/hostile_gofer_testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "pkg/flipcall/flipcall.h"
#include "pkg/lisafs/messages.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs::testutil {
namespace {

std::atomic_ref<uint32_t> Word(uint8_t* packet, size_t offset) {
  return std::atomic_ref<uint32_t>(
      *reinterpret_cast<uint32_t*>(packet + offset));
}

}  // namespace

absl::StatusOr<fd::OwnedFd> NewWindowFile(size_t size, bool seal) {
  fd::OwnedFd f(memfd_create("flipcall_packet_windows",
                             MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0)));
  if (!f.valid()) return syserr::FromErrno(errno, "memfd_create");
  if (ftruncate(f.get(), static_cast<off_t>(size)) != 0) {
    return syserr::FromErrno(errno, "ftruncate");
  }
  if (seal && fcntl(f.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    return syserr::FromErrno(errno, "F_ADD_SEALS");
  }
  return f;
}

absl::StatusOr<std::unique_ptr<RawServerWindow>> RawServerWindow::Map(
    int fd, int64_t offset, size_t length) {
  void* m =
      mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
  if (m == MAP_FAILED) return syserr::FromErrno(errno, "mmap");
  return std::unique_ptr<RawServerWindow>(
      new RawServerWindow(static_cast<uint8_t*>(m), length));
}

RawServerWindow::~RawServerWindow() { munmap(packet_, length_); }

bool RawServerWindow::WaitForTurn() {
  for (;;) {
    uint32_t s = Word(packet_, 0).load(std::memory_order_acquire);
    if (s == kServerActive) return true;
    if (s != kClientActive) return false;
    syscall(SYS_futex, packet_, FUTEX_WAIT, kClientActive, nullptr, nullptr,
            0);
  }
}

uint32_t RawServerWindow::DataLen() const {
  return Word(packet_, 4).load(std::memory_order_relaxed);
}

std::vector<uint8_t> RawServerWindow::Read(size_t n) const {
  std::vector<uint8_t> out(std::min<size_t>(n, data_cap()));
  flipcall::CopyFromShared(out.data(), data(), out.size());
  return out;
}

void RawServerWindow::Reply(uint32_t data_len, absl::Span<const uint8_t> bytes,
                            uint32_t state) {
  flipcall::CopyToShared(data(), bytes.data(),
                         std::min<size_t>(bytes.size(), data_cap()));
  Word(packet_, 4).store(data_len, std::memory_order_relaxed);
  Word(packet_, 0).store(state, std::memory_order_release);
  syscall(SYS_futex, packet_, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

bool RawServerWindow::Handshake() {
  if (!WaitForTurn()) return false;
  static constexpr uint8_t kHandshake[] = {'{', '}', '\n'};
  Reply(sizeof(kHandshake), kHandshake);
  return true;
}

void RawServerWindow::Shutdown() {
  Word(packet_, 0).store(kShutdown, std::memory_order_release);
  syscall(SYS_futex, packet_, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

void ServeSocket(unet::Socket& s, uint32_t announced_max,
                 const SocketScript& script) {
  bool mounted = false;
  for (;;) {
    uint8_t header[kMessageHeaderSize];
    iovec h = {header, sizeof(header)};
    if (!s.RecvExact(absl::MakeConstSpan(&h, 1), 0, nullptr).ok()) return;
    absl::StatusOr<MessageHeader> mh = DecodeMessageHeader(header);
    if (!mh.ok()) return;
    std::vector<uint8_t> payload(mh->size);
    iovec p = {payload.data(), payload.size()};
    if (!payload.empty() &&
        !s.RecvExact(absl::MakeConstSpan(&p, 1), 0, nullptr).ok()) {
      return;
    }
    SocketReply r;
    if (!mounted && mh->mid == static_cast<uint16_t>(MID::kMount)) {
      mounted = true;
      MountResp m;
      m.root.control_fd = 1;
      m.max_message_size = announced_max;
      for (int i = 1; i <= 33; ++i) {
        m.supported_mids.push_back(static_cast<MID>(i));
      }
      r.frame = *MarshalFrame(MID::kMount, m);
    } else {
      r = script(mh->mid, payload);
      if (r.frame.empty()) return;
    }
    iovec v = {r.frame.data(), r.frame.size()};
    if (!s.SendAll(absl::MakeConstSpan(&v, 1), r.fds).ok()) return;
  }
}

std::vector<uint8_t> ChannelReplyFrame(int64_t offset, uint64_t length) {
  return *MarshalFrame(MID::kChannel, ChannelResp{.data_offset = offset,
                                                  .data_length = length});
}

std::vector<uint8_t> ErrorReplyFrame(uint32_t err) {
  return *MarshalFrame(MID::kError, ErrorResp{.err = err});
}

}  // namespace gvisor::lisafs::testutil
