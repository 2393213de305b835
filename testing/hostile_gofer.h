// HostileGofer: a scriptable fake LISAFS server, for tests of clients (the
// devutil GoferClient, the shim) against a hostile or broken gofer.
//
// It listens on a real unix socket (a fresh path under /tmp), serves every
// accepted connection on a thread of its own, reads each request frame and
// does what the test's script says with it: answer with any frame (any MID,
// any payload, any donated FDs), write raw bytes (a frame header claiming
// 0xFFFFFFFF bytes), never answer, or hang up. Builders encode the usual
// answers with the project's own codec: Mount with any message size,
// supported MIDs, root mode and donated FD; Walk; OpenAt; Getdents64.
//
//   auto g = testing::HostileGofer::Start([](const GoferRequest& r) {
//     if (r.mid == MID::kMount) return MountAnswer({});
//     return GoferAnswer::Silence();
//   });
//   // connect to (*g)->socket() ...
//
// Tests block on what the gofer saw (AwaitRequests, AwaitClosed) rather
// than sleep.

#ifndef GVISOR_TESTING_HOSTILE_GOFER_H_
#define GVISOR_TESTING_HOSTILE_GOFER_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/wire.h"
#include "pkg/unet/unet.h"

namespace gvisor::testing {

// GoferRequest is one request frame as the gofer received it.
struct GoferRequest {
  // connection numbers the connection: 1, 2, ... in accept order.
  int connection = 0;
  lisafs::MID mid = lisafs::MID::kError;
  std::vector<uint8_t> payload;

  // As decodes the payload as a T.
  template <lisafs::WireMessage T>
  absl::StatusOr<T> As() const {
    return lisafs::Unmarshal<T>(payload);
  }
};

// GoferAnswer is what the gofer does with one request.
struct GoferAnswer {
  enum class Kind {
    kFrame,    // send one frame (header, payload, donated FDs)
    kRaw,      // write raw bytes, then go silent
    kSilence,  // never answer; keep the connection open
    kHangUp,   // close the connection
  };
  Kind kind = Kind::kSilence;
  uint16_t mid = 0;
  std::vector<uint8_t> payload;
  std::vector<fd::OwnedFd> fds;  // donated with the frame, then closed
  std::vector<uint8_t> raw;

  // Frame answers with mid and payload, donating fds.
  static GoferAnswer Frame(uint16_t mid, std::vector<uint8_t> payload,
                           std::vector<fd::OwnedFd> fds = {});
  // Message answers with msg's encoding under mid.
  template <lisafs::WireMessage T>
  static GoferAnswer Message(lisafs::MID mid, const T& msg,
                             std::vector<fd::OwnedFd> fds = {}) {
    absl::StatusOr<std::vector<uint8_t>> b = lisafs::Marshal(msg);
    return Frame(static_cast<uint16_t>(mid),
                 b.ok() ? *std::move(b) : std::vector<uint8_t>{},
                 std::move(fds));
  }
  // Error answers Error(err).
  static GoferAnswer Error(int err);
  // Raw writes bytes as they are; the connection then goes silent.
  static GoferAnswer Raw(std::vector<uint8_t> bytes);
  // Silence never answers: the gofer reads no more requests on the
  // connection and keeps it open until the peer closes it or the gofer is
  // destroyed.
  static GoferAnswer Silence();
  // HangUp closes the connection.
  static GoferAnswer HangUp();
};

// GoferScript decides the answer to each request. It runs on the
// connection's thread: a script shared by several connections guards its
// own state.
using GoferScript = std::function<GoferAnswer(const GoferRequest&)>;

class HostileGofer {
 public:
  // kMaxRequestPayload is the largest request payload it reads; a bigger
  // one ends the connection (clients send small requests).
  static constexpr uint32_t kMaxRequestPayload = 1 << 20;

  // Start listens on a fresh socket path and serves with script.
  static absl::StatusOr<std::unique_ptr<HostileGofer>> Start(
      GoferScript script);
  // The destructor stops accepting, closes every connection, joins every
  // thread and removes the socket file.
  ~HostileGofer();
  HostileGofer(const HostileGofer&) = delete;
  HostileGofer& operator=(const HostileGofer&) = delete;

  // socket is the listening socket's path.
  const std::string& socket() const { return path_; }
  // Dial connects to socket() (SOCK_STREAM, close-on-exec). A connect that
  // fails is a test failure (EXPECT); the FD is then empty.
  fd::OwnedFd Dial() const;

  // requests returns how many requests of mid all connections received.
  size_t requests(lisafs::MID mid) const;
  // accepted returns how many connections were accepted; closed how many
  // of them have ended (the peer closed, or the gofer hung up).
  size_t accepted() const;
  size_t closed() const;

  // AwaitRequests blocks until requests(mid) >= n, or timeout passes, and
  // reports whether it got there.
  bool AwaitRequests(lisafs::MID mid, size_t n,
                     absl::Duration timeout = absl::Seconds(20)) const;
  // AwaitClosed blocks until closed() >= n, or timeout passes.
  bool AwaitClosed(size_t n, absl::Duration timeout = absl::Seconds(20)) const;

 private:
  HostileGofer(GoferScript script, std::string path,
               unet::ServerSocket listener, fd::OwnedFd wake);
  void AcceptLoop();
  void Serve(int id, int fd);
  // WaitUntilGone blocks until fd's peer hangs up or the gofer stops.
  void WaitUntilGone(int fd);

  const GoferScript script_;
  const std::string path_;
  const unet::ServerSocket listener_;
  const fd::OwnedFd wake_;  // eventfd, readable once the gofer stops

  mutable std::mutex mu_;  // guards everything below
  mutable std::condition_variable changed_;
  bool stop_ = false;
  std::map<lisafs::MID, size_t> requests_;
  size_t accepted_ = 0;
  size_t closed_ = 0;
  std::map<int, int> open_;  // connection id -> its FD, while open
  std::vector<std::thread> threads_;

  std::thread accept_thread_;
};

// MountOptions describe a Mount answer.
struct MountOptions {
  // max_message_size is what the gofer announces (fsgofer's is 0x1FF000).
  uint32_t max_message_size = 0x1FF000;
  // mids are the MIDs it claims to support; fsgofer's by default.
  std::vector<uint16_t> mids = FsgoferMids();
  // root_mode is the mount point's mode in its Statx.
  uint16_t root_mode = S_IFDIR | 0755;
  // donate is an FD to donate as the mount point's host FD (a dup is sent,
  // so one options value serves many connections); -1 for none.
  int donate = -1;

  // FsgoferMids returns the MIDs fsgofer advertises: 1..19 and 21..33.
  static std::vector<uint16_t> FsgoferMids();
};

// MountAnswer answers Mount with root FDID kRootFdid.
inline constexpr lisafs::FDID kRootFdid = 1;
GoferAnswer MountAnswer(const MountOptions& options);

// DirentsAnswer answers Getdents64 with one entry per name.
GoferAnswer DirentsAnswer(const std::vector<std::string>& names);

// WalkAnswer answers Walk with one successful Inode of mode per component,
// with control FDIDs first_fdid, first_fdid + 1, ...
GoferAnswer WalkAnswer(size_t components, uint16_t mode,
                       lisafs::FDID first_fdid);

// OpenAtAnswer answers OpenAt with open_fd, donating host_fd if valid.
GoferAnswer OpenAtAnswer(lisafs::FDID open_fd, fd::OwnedFd host_fd);

// EndlessListing is the script of a dev gofer whose directory never ends:
// Mount (MountOptions' defaults), OpenAt (open FDID 2, no host FD), Close
// (empty answer), and every Getdents64 answered with per_answer fresh
// entries name(0), name(1), ... Once cap entries have gone out it answers
// end of directory: a safety stop, so that a client without bounds gets
// the whole listing and fails its test rather than exhausts the machine.
// Other MIDs get Error(EOPNOTSUPP). The count is shared by all
// connections.
GoferScript EndlessListing(size_t per_answer, size_t cap,
                           std::function<std::string(size_t)> name);

}  // namespace gvisor::testing

#endif  // GVISOR_TESTING_HOSTILE_GOFER_H_
