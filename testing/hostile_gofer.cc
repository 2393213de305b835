#include "testing/hostile_gofer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/lisafs/sock_communicator.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

namespace gvisor::testing {
namespace {

std::atomic<int> counter{0};

}  // namespace

GoferAnswer GoferAnswer::Frame(uint16_t mid, std::vector<uint8_t> payload,
                               std::vector<fd::OwnedFd> fds) {
  GoferAnswer a;
  a.kind = Kind::kFrame;
  a.mid = mid;
  a.payload = std::move(payload);
  a.fds = std::move(fds);
  return a;
}

GoferAnswer GoferAnswer::Error(int err) {
  uint32_t e = static_cast<uint32_t>(err);
  std::vector<uint8_t> p(sizeof(e));
  memcpy(p.data(), &e, sizeof(e));
  return Frame(static_cast<uint16_t>(lisafs::MID::kError), std::move(p));
}

GoferAnswer GoferAnswer::Raw(std::vector<uint8_t> bytes) {
  GoferAnswer a;
  a.kind = Kind::kRaw;
  a.raw = std::move(bytes);
  return a;
}

GoferAnswer GoferAnswer::Silence() { return GoferAnswer(); }

GoferAnswer GoferAnswer::HangUp() {
  GoferAnswer a;
  a.kind = Kind::kHangUp;
  return a;
}

absl::StatusOr<std::unique_ptr<HostileGofer>> HostileGofer::Start(
    GoferScript script) {
  std::string path =
      absl::StrCat("/tmp/hg.", getpid(), ".", counter++, ".sock");
  unlink(path.c_str());
  ASSIGN_OR_RETURN(unet::ServerSocket l,
                   unet::ServerSocket::Bind(path, SOCK_STREAM));
  RETURN_IF_ERROR(l.Listen());
  fd::OwnedFd wake(eventfd(0, EFD_CLOEXEC));
  if (!wake.valid()) return syserr::FromErrno(errno, "eventfd");
  std::unique_ptr<HostileGofer> g(new HostileGofer(
      std::move(script), std::move(path), std::move(l), std::move(wake)));
  try {
    g->accept_thread_ = std::thread([p = g.get()] { p->AcceptLoop(); });
  } catch (const std::system_error& e) {
    return syserr::FromErrno(e.code().value(), "starting the accept thread");
  }
  return g;
}

HostileGofer::HostileGofer(GoferScript script, std::string path,
                           unet::ServerSocket listener, fd::OwnedFd wake)
    : script_(std::move(script)),
      path_(std::move(path)),
      listener_(std::move(listener)),
      wake_(std::move(wake)) {}

HostileGofer::~HostileGofer() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    // Wake connection threads blocked reading a request.
    for (const auto& [id, fd] : open_) ::shutdown(fd, SHUT_RDWR);
  }
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof(one));
  if (accept_thread_.joinable()) accept_thread_.join();
  // No thread is added once the accept thread is gone.
  for (std::thread& t : threads_) t.join();
  unlink(path_.c_str());
}

void HostileGofer::AcceptLoop() {
  for (;;) {
    pollfd p[2] = {{listener_.fd(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    int n = poll(p, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (p[1].revents & POLLIN) != 0) return;
    int c = accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) {
      close(c);
      return;
    }
    const int id = static_cast<int>(++accepted_);
    open_[id] = c;
    try {
      threads_.emplace_back([this, id, c] { Serve(id, c); });
    } catch (const std::system_error&) {
      open_.erase(id);
      close(c);
      ++closed_;
    }
    changed_.notify_all();
  }
}

void HostileGofer::Serve(int id, int fd) {
  // The FD is closed only here, after it has left open_, so that the
  // destructor never shuts down a reused number.
  absl::StatusOr<unet::Socket> sock = unet::Socket::FromFd(fd::OwnedFd(fd));
  std::unique_ptr<lisafs::SockCommunicator> comm;
  if (sock.ok()) {
    comm = std::make_unique<lisafs::SockCommunicator>(*std::move(sock));
  }
  while (comm != nullptr) {
    lisafs::Frame f;
    if (!comm->RecvFrame(0, kMaxRequestPayload, &f).ok() || f.oversized) {
      break;
    }
    GoferRequest req;
    req.connection = id;
    req.mid = static_cast<lisafs::MID>(f.mid);
    req.payload = std::move(f.payload);
    {
      std::lock_guard<std::mutex> l(mu_);
      ++requests_[req.mid];
    }
    changed_.notify_all();
    GoferAnswer a = script_(req);
    if (a.kind == GoferAnswer::Kind::kHangUp) break;
    if (a.kind == GoferAnswer::Kind::kSilence) {
      WaitUntilGone(comm->fd());
      break;
    }
    if (a.kind == GoferAnswer::Kind::kRaw) {
      size_t done = 0;
      while (done < a.raw.size()) {
        ssize_t n = send(comm->fd(), a.raw.data() + done, a.raw.size() - done,
                         MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
      WaitUntilGone(comm->fd());
      break;
    }
    std::vector<int> fds;
    for (const fd::OwnedFd& f : a.fds) fds.push_back(f.get());
    if (!comm->SendFrame(a.mid, a.payload, fds).ok()) break;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    open_.erase(id);
    ++closed_;
  }
  comm.reset();  // closes the connection
  changed_.notify_all();
}

void HostileGofer::WaitUntilGone(int fd) {
  for (;;) {
    pollfd p[2] = {{fd, POLLRDHUP, 0}, {wake_.get(), POLLIN, 0}};
    int n = poll(p, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || p[0].revents != 0 || p[1].revents != 0) return;
  }
}

size_t HostileGofer::requests(lisafs::MID mid) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = requests_.find(mid);
  return it == requests_.end() ? 0 : it->second;
}

size_t HostileGofer::accepted() const {
  std::lock_guard<std::mutex> l(mu_);
  return accepted_;
}

size_t HostileGofer::closed() const {
  std::lock_guard<std::mutex> l(mu_);
  return closed_;
}

bool HostileGofer::AwaitRequests(lisafs::MID mid, size_t n,
                                 absl::Duration timeout) const {
  std::unique_lock<std::mutex> l(mu_);
  return changed_.wait_for(l, absl::ToChronoNanoseconds(timeout), [&] {
    auto it = requests_.find(mid);
    return it != requests_.end() && it->second >= n;
  });
}

bool HostileGofer::AwaitClosed(size_t n, absl::Duration timeout) const {
  std::unique_lock<std::mutex> l(mu_);
  return changed_.wait_for(l, absl::ToChronoNanoseconds(timeout),
                           [&] { return closed_ >= n; });
}

std::vector<uint16_t> MountOptions::FsgoferMids() {
  std::vector<uint16_t> mids;
  for (uint16_t m = 1; m <= 33; ++m) {
    if (m != static_cast<uint16_t>(lisafs::MID::kFlush)) mids.push_back(m);
  }
  return mids;
}

GoferAnswer MountAnswer(const MountOptions& o) {
  lisafs::MountResp resp;
  resp.root.control_fd = kRootFdid;
  resp.root.stat.mask = 0xFFF;
  resp.root.stat.mode = o.root_mode;
  resp.root.stat.nlink = 2;
  resp.max_message_size = o.max_message_size;
  for (uint16_t m : o.mids) {
    resp.supported_mids.push_back(static_cast<lisafs::MID>(m));
  }
  std::vector<fd::OwnedFd> fds;
  if (o.donate >= 0) fds.emplace_back(fcntl(o.donate, F_DUPFD_CLOEXEC, 0));
  return GoferAnswer::Message(lisafs::MID::kMount, resp, std::move(fds));
}

GoferAnswer DirentsAnswer(const std::vector<std::string>& names) {
  lisafs::Getdents64Resp resp;
  uint64_t off = 0;
  for (const std::string& n : names) {
    lisafs::Dirent64 d;
    d.ino = ++off;
    d.off = off;
    d.type = DT_CHR;
    d.name = n;
    resp.dirents.push_back(std::move(d));
  }
  return GoferAnswer::Message(lisafs::MID::kGetdents64, resp);
}

GoferAnswer WalkAnswer(size_t components, uint16_t mode,
                       lisafs::FDID first_fdid) {
  lisafs::WalkResp resp;
  for (size_t i = 0; i < components; ++i) {
    lisafs::Inode in;
    in.control_fd = first_fdid + i;
    in.stat.mask = 0xFFF;
    in.stat.mode = i + 1 == components ? mode : (S_IFDIR | 0755);
    resp.inodes.push_back(in);
  }
  return GoferAnswer::Message(lisafs::MID::kWalk, resp);
}

GoferAnswer OpenAtAnswer(lisafs::FDID open_fd, fd::OwnedFd host_fd) {
  std::vector<fd::OwnedFd> fds;
  if (host_fd.valid()) fds.push_back(std::move(host_fd));
  return GoferAnswer::Message(lisafs::MID::kOpenAt,
                              lisafs::OpenAtResp{.open_fd = open_fd},
                              std::move(fds));
}

GoferScript EndlessListing(size_t per_answer, size_t cap,
                           std::function<std::string(size_t)> name) {
  auto sent = std::make_shared<std::atomic<size_t>>(0);
  return [=](const GoferRequest& r) {
    switch (r.mid) {
      case lisafs::MID::kMount:
        return MountAnswer({});
      case lisafs::MID::kOpenAt:
        return OpenAtAnswer(2, fd::OwnedFd());
      case lisafs::MID::kGetdents64: {
        std::vector<std::string> names;
        for (size_t i = 0; i < per_answer; ++i) {
          size_t n = sent->fetch_add(1);
          if (n >= cap) break;
          names.push_back(name(n));
        }
        return DirentsAnswer(names);
      }
      case lisafs::MID::kClose:
        return GoferAnswer::Message(lisafs::MID::kClose,
                                    lisafs::EmptyMessage{});
      default:
        return GoferAnswer::Error(EOPNOTSUPP);
    }
  };
}

fd::OwnedFd HostileGofer::Dial() const {
  absl::StatusOr<unet::Socket> s = unet::Socket::Connect(path_, SOCK_STREAM);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? s->Release() : fd::OwnedFd();
}

}  // namespace gvisor::testing
