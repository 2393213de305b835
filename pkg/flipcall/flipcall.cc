#include "pkg/flipcall/flipcall.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::flipcall {
namespace {

// The handshake datagram each side sends: an empty JSON object and a
// newline, as gVisor's JSON encoder writes it.
constexpr char kHandshake[] = "{}\n";
constexpr uint32_t kHandshakeLen = sizeof(kHandshake) - 1;

// Byte offsets of the header fields in the window (pkg/lisafs/README.md §8.2).
constexpr size_t kStateOffset = 0;
constexpr size_t kDataLenOffset = 4;

// The futex word and datagram length are u32s shared with the peer; all
// access goes through atomic_ref so that neither side ever tears them and
// the hand-over orders the data bytes.
std::atomic_ref<uint32_t> Word(uint8_t* packet, size_t offset) {
  return std::atomic_ref<uint32_t>(
      *reinterpret_cast<uint32_t*>(packet + offset));
}

// FutexWait sleeps while *addr == val. EAGAIN (the value changed) and EINTR
// are normal wake-ups; the caller re-reads the word either way.
void FutexWait(uint32_t* addr, uint32_t val) {
  syscall(SYS_futex, addr, FUTEX_WAIT, val, nullptr, nullptr, 0);
}

void FutexWake(uint32_t* addr, int n) {
  syscall(SYS_futex, addr, FUTEX_WAKE, n, nullptr, nullptr, 0);
}

absl::Status ShutdownError() {
  return syserr::FromErrno(ESHUTDOWN, "flipcall connection shut down");
}

absl::Status StateError(absl::string_view when, uint32_t state) {
  return syserr::FromErrno(
      EPROTO,
      absl::StrCat("flipcall: unexpected connection state ", state, " ", when));
}

// Aligned reports whether p is aligned for a T.
template <typename T>
bool Aligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % alignof(T) == 0;
}

}  // namespace

// Both copies go word by word where the shared side is 8-byte aligned (the
// window's data area is), and byte by byte at the unaligned ends. The
// __atomic builtins take the address of plain memory, which is what a
// mapping of a peer's file is; relaxed order suffices because the futex
// hand-over (acquire/release on the state word) orders the data.
void CopyFromShared(void* dst, const void* shared, size_t n) {
  auto* d = static_cast<uint8_t*>(dst);
  const auto* s = static_cast<const uint8_t*>(shared);
  while (n > 0 && !Aligned<uint64_t>(s)) {
    *d++ = __atomic_load_n(s++, __ATOMIC_RELAXED);
    --n;
  }
  for (; n >= sizeof(uint64_t); n -= sizeof(uint64_t)) {
    uint64_t w =
        __atomic_load_n(reinterpret_cast<const uint64_t*>(s), __ATOMIC_RELAXED);
    memcpy(d, &w, sizeof(w));
    d += sizeof(w);
    s += sizeof(w);
  }
  while (n-- > 0) *d++ = __atomic_load_n(s++, __ATOMIC_RELAXED);
}

void CopyToShared(void* shared, const void* src, size_t n) {
  auto* d = static_cast<uint8_t*>(shared);
  const auto* s = static_cast<const uint8_t*>(src);
  while (n > 0 && !Aligned<uint64_t>(d)) {
    __atomic_store_n(d++, *s++, __ATOMIC_RELAXED);
    --n;
  }
  for (; n >= sizeof(uint64_t); n -= sizeof(uint64_t)) {
    uint64_t w;
    memcpy(&w, s, sizeof(w));
    __atomic_store_n(reinterpret_cast<uint64_t*>(d), w, __ATOMIC_RELAXED);
    d += sizeof(w);
    s += sizeof(w);
  }
  while (n-- > 0) __atomic_store_n(d++, *s++, __ATOMIC_RELAXED);
}

bool IsShutdown(const absl::Status& s) {
  return syserr::ToErrno(s) == ESHUTDOWN;
}

absl::StatusOr<std::unique_ptr<Endpoint>> Endpoint::Create(
    Side side, const PacketWindowDescriptor& pwd) {
  if (pwd.length < PageSize() || pwd.length > UINT32_MAX) {
    return syserr::FromErrno(
        EINVAL, absl::StrCat("flipcall: packet window of ", pwd.length,
                             " bytes (want a page to 4 GiB)"));
  }
  // The file comes from the peer: make sure that no byte of the window can
  // ever fault (SIGBUS) before mapping it.
  struct stat st;
  if (fstat(pwd.fd, &st) != 0) {
    return syserr::FromErrno(
        errno, absl::StrCat("flipcall: fstat of packet window FD ", pwd.fd));
  }
  if (!S_ISREG(st.st_mode)) {
    return syserr::FromErrno(
        EINVAL, "flipcall: the packet window file is not a regular file");
  }
  const int seals = fcntl(pwd.fd, F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
    return syserr::FromErrno(
        EINVAL,
        "flipcall: the packet window file is not sealed against shrinking");
  }
  if (pwd.offset < 0 || pwd.offset % static_cast<int64_t>(PageSize()) != 0 ||
      pwd.offset > st.st_size ||
      pwd.length > static_cast<uint64_t>(st.st_size - pwd.offset)) {
    return syserr::FromErrno(
        EINVAL,
        absl::StrCat("flipcall: packet window of ", pwd.length,
                     " bytes at offset ", pwd.offset,
                     " does not fit in its file of ", st.st_size, " bytes"));
  }
  void* m = mmap(nullptr, pwd.length, PROT_READ | PROT_WRITE, MAP_SHARED,
                 pwd.fd, pwd.offset);
  if (m == MAP_FAILED) {
    return syserr::FromErrno(
        errno, absl::StrCat("flipcall: mapping the packet window at offset ",
                            pwd.offset, " of FD ", pwd.fd));
  }
  return std::unique_ptr<Endpoint>(
      new Endpoint(side, static_cast<uint8_t*>(m), pwd.length));
}

Endpoint::Endpoint(Side side, uint8_t* packet, size_t length)
    : packet_(packet),
      length_(length),
      data_cap_(static_cast<uint32_t>(length - kPacketHeaderBytes)),
      mine_(side == Side::kClient ? kStateClientActive : kStateServerActive),
      theirs_(side == Side::kClient ? kStateServerActive : kStateClientActive) {
}

Endpoint::~Endpoint() { munmap(packet_, length_); }

// --- Blocking steps and shutdown (pkg/lisafs/README.md §8.7)
// -----------------------------

absl::Status Endpoint::EnterBlocking() {
  uint32_t prev = ctrl_.fetch_or(kCtrlBlocked, std::memory_order_acq_rel);
  if ((prev & kCtrlBlocked) != 0) {
    return syserr::FromErrno(
        EBUSY, "flipcall: two threads use one endpoint at the same time");
  }
  if ((prev & kCtrlShutdown) != 0) {
    // Shutdown saw no blocked thread, so it shut the connection down itself.
    ctrl_.fetch_and(~kCtrlBlocked, std::memory_order_acq_rel);
    return ShutdownError();
  }
  return absl::OkStatus();
}

void Endpoint::LeaveBlocking() {
  uint32_t prev = ctrl_.fetch_and(~kCtrlBlocked, std::memory_order_acq_rel);
  // Shutdown came while this thread was blocked and left the connection
  // state to it.
  if ((prev & kCtrlShutdown) != 0) ShutdownConn();
}

void Endpoint::Shutdown() {
  uint32_t prev = ctrl_.fetch_or(kCtrlShutdown, std::memory_order_acq_rel);
  if ((prev & kCtrlShutdown) != 0) return;
  if ((prev & kCtrlBlocked) == 0) {
    ShutdownConn();
    return;
  }
  // Wake the blocked thread. It may not be asleep yet (it checks the
  // shutdown bit just before FUTEX_WAIT), so keep waking until it has left
  // its blocking step. All waiters are woken, so that a peer waiting on the
  // same word cannot swallow the wake-up.
  uint32_t* word = reinterpret_cast<uint32_t*>(packet_ + kStateOffset);
  while ((ctrl_.load(std::memory_order_acquire) & kCtrlBlocked) != 0) {
    FutexWake(word, INT_MAX);
    sched_yield();
  }
}

void Endpoint::ShutdownConn() {
  uint32_t prev = Word(packet_, kStateOffset)
                      .exchange(kStateShutdown, std::memory_order_acq_rel);
  // If this side was active, the peer is asleep waiting for it. If the peer
  // is active it sees the shutdown when it next hands over.
  if (prev == mine_) {
    FutexWake(reinterpret_cast<uint32_t*>(packet_ + kStateOffset), 1);
  }
}

// --- The futex protocol (pkg/lisafs/README.md §8.3)
// --------------------------------------

absl::Status Endpoint::HandOver() {
  uint32_t expected = mine_;
  if (!Word(packet_, kStateOffset)
           .compare_exchange_strong(expected, theirs_,
                                    std::memory_order_acq_rel)) {
    if (expected == kStateShutdown) return ShutdownError();
    return StateError("before the hand-over", expected);
  }
  FutexWake(reinterpret_cast<uint32_t*>(packet_ + kStateOffset), 1);
  return absl::OkStatus();
}

absl::Status Endpoint::WaitUntilActive() {
  uint32_t* word = reinterpret_cast<uint32_t*>(packet_ + kStateOffset);
  // Spin first: the peer's answer often comes sooner than a sleeping CPU
  // would wake up. Any change of the word (the hand-over, a shutdown, a
  // bad state) or a local Shutdown ends the spin; the loop below then
  // decides as it always has.
  spinner_.Spin([&] {
    return Word(packet_, kStateOffset).load(std::memory_order_acquire) !=
               theirs_ ||
           shut_down_locally();
  });
  return WaitLoop(word);
}

absl::Status Endpoint::WaitLoop(uint32_t* word) {
  for (;;) {
    uint32_t s = Word(packet_, kStateOffset).load(std::memory_order_acquire);
    if (s == mine_) return absl::OkStatus();
    if (s == kStateShutdown) return ShutdownError();
    if (s != theirs_) return StateError("while waiting", s);
    if (shut_down_locally()) return ShutdownError();
    FutexWait(word, theirs_);
  }
}

absl::StatusOr<uint32_t> Endpoint::LoadDataLen() const {
  uint32_t n = Word(packet_, kDataLenOffset).load(std::memory_order_relaxed);
  if (n > data_cap_) {
    return syserr::FromErrno(
        EPROTO, absl::StrCat("flipcall: datagram of ", n,
                             " bytes exceeds the window's ", data_cap_));
  }
  return n;
}

void Endpoint::StoreDataLen(uint32_t n) {
  Word(packet_, kDataLenOffset).store(n, std::memory_order_relaxed);
}

void Endpoint::WriteHandshake() {
  CopyToShared(data(), kHandshake, kHandshakeLen);
  StoreDataLen(kHandshakeLen);
}

absl::Status Endpoint::CheckHandshake(uint32_t n) const {
  // Copy out first: the peer may change the bytes under us. A JSON object
  // (or null, which gVisor's decoder also accepts) is all that is needed.
  char buf[16] = {};
  size_t len = n < sizeof(buf) ? n : sizeof(buf);
  CopyFromShared(buf, data(), len);
  size_t i = 0;
  while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' ||
                     buf[i] == '\r')) {
    ++i;
  }
  if (i < len && buf[i] == '{') return absl::OkStatus();
  if (len - i >= 4 && memcmp(buf + i, "null", 4) == 0) return absl::OkStatus();
  return syserr::FromErrno(EPROTO,
                           "flipcall: handshake datagram is not a JSON object");
}

// --- Operations --------------------------------------------------------------

absl::Status Endpoint::Connect() {
  if (absl::Status s = EnterBlocking(); !s.ok()) return s;
  WriteHandshake();
  absl::Status s = HandOver();
  if (s.ok()) s = WaitUntilActive();
  absl::StatusOr<uint32_t> n;
  if (s.ok()) {
    n = LoadDataLen();
    s = n.ok() ? CheckHandshake(*n) : n.status();
  }
  LeaveBlocking();
  return s;
}

absl::StatusOr<uint32_t> Endpoint::RecvFirst() {
  if (absl::Status s = EnterBlocking(); !s.ok()) return s;
  absl::Status s = WaitUntilActive();
  if (s.ok()) {
    absl::StatusOr<uint32_t> n = LoadDataLen();
    s = n.ok() ? CheckHandshake(*n) : n.status();
  }
  if (s.ok()) {
    WriteHandshake();
    s = HandOver();
  }
  if (s.ok()) s = WaitUntilActive();
  LeaveBlocking();
  if (!s.ok()) return s;
  return LoadDataLen();
}

absl::StatusOr<uint32_t> Endpoint::SendRecv(uint32_t data_len) {
  if (data_len > data_cap_) {
    return syserr::FromErrno(
        EINVAL, absl::StrCat("flipcall: sending ", data_len,
                             " bytes through a window of ", data_cap_));
  }
  if (absl::Status s = EnterBlocking(); !s.ok()) return s;
  absl::Status s = SendRecvLocked(data_len);
  LeaveBlocking();
  if (!s.ok()) return s;
  return LoadDataLen();
}

absl::Status Endpoint::SendRecvLocked(uint32_t data_len) {
  StoreDataLen(data_len);
  if (absl::Status s = HandOver(); !s.ok()) return s;
  return WaitUntilActive();
}

}  // namespace gvisor::flipcall
