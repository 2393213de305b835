// Package flipcall: a shared-memory mailbox with a futex hand-over, the data
// path of a LISAFS channel (pkg/lisafs/README.md §8). Two endpoints, a client
// and a server, map the same packet window (packet_window.h); at any time
// exactly one of them is active and owns the window's data. Sending a datagram
// writes its length, hands the window over to the peer and wakes it; the
// sender then sleeps until the window comes back.
//
// The futex word is the window's first 4 bytes, waited on and woken with
// plain (non-private) FUTEX_WAIT and FUTEX_WAKE, so the peer may live in
// another process. The peer may not be trusted: every shared value is read
// once into a local and then checked, and every access to the shared bytes
// goes through CopyFromShared/CopyToShared, so that no byte is ever fetched
// twice (by us or by the compiler) and a peer that rewrites the window while
// we copy it can only change what we copy, never how much.

#ifndef GVISOR_PKG_FLIPCALL_FLIPCALL_H_
#define GVISOR_PKG_FLIPCALL_FLIPCALL_H_

#include <stddef.h>
#include <stdint.h>

#include <atomic>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pkg/flipcall/packet_window.h"
#include "pkg/spin/spin.h"

namespace gvisor::flipcall {

// CopyFromShared copies n bytes out of memory that another process (or
// thread) may be writing at the same time, such as a packet window: each
// byte is loaded exactly once, with relaxed atomic loads, so the copy is a
// private snapshot (possibly torn between words, never re-read) that the
// caller validates and decodes at leisure.
void CopyFromShared(void* dst, const void* shared, size_t n);

// CopyToShared stores n bytes into shared memory with relaxed atomic
// stores, each byte once.
void CopyToShared(void* shared, const void* src, size_t n);

// Side says which end of a connection an Endpoint is.
enum class Side { kClient, kServer };

// IsShutdown reports whether s is the error an Endpoint returns after the
// connection was shut down (by either side). It carries ESHUTDOWN.
bool IsShutdown(const absl::Status& s);

// Endpoint is one side of a flipcall connection over a mapped packet
// window. The client is active first.
//
// Threads: only one thread may use an Endpoint at a time (Connect,
// RecvFirst, SendRecv, data()), except Shutdown, which any thread may call
// at any time. A second thread entering a blocking step at the same time
// gets EBUSY. Errors other than shutdown (EPROTO for a bad connection state
// or datagram length) leave the connection unusable.
class Endpoint {
 public:
  // kStateClientActive, kStateServerActive and kStateShutdown are the values
  // of the futex word (pkg/lisafs/README.md §8.3).
  static constexpr uint32_t kStateClientActive = 0;
  static constexpr uint32_t kStateServerActive = 1;
  static constexpr uint32_t kStateShutdown = 2;

  // Create maps the window pwd describes (shared, read-write). pwd.fd is
  // borrowed: the caller may close it once Create returns. The peer chose
  // the file, so before mapping it Create checks that touching the window
  // can never fault: the file must be a regular file sealed against
  // shrinking (F_SEAL_SHRINK, as PacketWindowAllocator and gVisor's
  // allocator seal their memfds; the seal cannot be removed) and already
  // long enough to hold the whole window at a page-aligned offset. A
  // window past the end of the file, or in a file the peer could truncate
  // later, would raise SIGBUS on first touch. EINVAL if the window is
  // shorter than a page or longer than UINT32_MAX bytes, or fails those
  // checks; fstat's errno (EBADF) for a bad FD; mmap's errno if it cannot be
  // mapped.
  static absl::StatusOr<std::unique_ptr<Endpoint>> Create(
      Side side, const PacketWindowDescriptor& pwd);

  // The destructor unmaps the window. No thread may be using the Endpoint.
  ~Endpoint();

  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // data returns the window's data area (data_cap() bytes). It is shared
  // with the peer: write it only while this side is active, and read and
  // write it only with CopyFromShared/CopyToShared.
  uint8_t* data() const { return packet_ + kPacketHeaderBytes; }
  // data_cap is how many data bytes a datagram may hold.
  uint32_t data_cap() const { return data_cap_; }

  // Connect is the client's handshake (pkg/lisafs/README.md §8.4): it sends
  // "{}\n", waits for the server's answer and checks that it is a JSON object.
  absl::Status Connect();

  // RecvFirst is the server's side of the handshake: it waits for the
  // client's request, answers "{}\n", and then waits for the first real
  // datagram and returns its length.
  absl::StatusOr<uint32_t> RecvFirst();

  // SendRecv sends the first data_len bytes of data() to the peer and waits
  // for its answer; returns the answer's length (at most data_cap()).
  // EINVAL, with nothing sent, if data_len exceeds data_cap().
  absl::StatusOr<uint32_t> SendRecv(uint32_t data_len);

  // Shutdown ends the connection for both sides: a thread of this process
  // blocked in this Endpoint wakes up, as does the peer if it is waiting
  // for this side, and every later operation on either side fails with a
  // shutdown error. Idempotent; may be called from any thread.
  void Shutdown();

  // set_spin sets the upper bound of the spin before each wait for the
  // peer (pkg/spin/spin.h): the waiting side re-reads the futex word, with a
  // CPU pause between reads, for up to that long (less while the peer keeps
  // answering late) before it sleeps in FUTEX_WAIT. Zero turns spinning
  // off; the default is spin::kDefaultMax. The spin ends as soon as the word
  // changes or Shutdown is called, so shutdown and the peer's hang-up are
  // seen as before. Call it only while no thread uses the Endpoint (as the
  // other blocking steps).
  void set_spin(absl::Duration max) { spinner_.set_max(max); }
  // spin returns the upper bound set_spin set.
  absl::Duration spin() const { return spinner_.max(); }

  // shut_down_locally reports whether Shutdown was called on this Endpoint.
  bool shut_down_locally() const {
    return (ctrl_.load(std::memory_order_acquire) & kCtrlShutdown) != 0;
  }

 private:
  // Bits of ctrl_: a thread is inside a blocking step; Shutdown was called.
  static constexpr uint32_t kCtrlBlocked = 1;
  static constexpr uint32_t kCtrlShutdown = 2;

  Endpoint(Side side, uint8_t* packet, size_t length);

  absl::Status EnterBlocking();
  void LeaveBlocking();
  absl::Status HandOver();
  absl::Status WaitUntilActive();
  // WaitLoop is WaitUntilActive's blocking part, after the spin.
  absl::Status WaitLoop(uint32_t* word);
  void ShutdownConn();
  // LoadDataLen reads the datagram length once and checks it.
  absl::StatusOr<uint32_t> LoadDataLen() const;
  void StoreDataLen(uint32_t n);
  // WriteHandshake writes "{}\n" as the datagram.
  void WriteHandshake();
  // CheckHandshake checks that the n-byte datagram is a JSON object.
  absl::Status CheckHandshake(uint32_t n) const;
  absl::Status SendRecvLocked(uint32_t data_len);

  uint8_t* const packet_;
  const size_t length_;
  const uint32_t data_cap_;
  const uint32_t mine_;
  const uint32_t theirs_;
  std::atomic<uint32_t> ctrl_{0};
  // spinner_ is used by the thread in a blocking step only.
  spin::Spinner spinner_;
};

}  // namespace gvisor::flipcall

#endif  // GVISOR_PKG_FLIPCALL_FLIPCALL_H_
