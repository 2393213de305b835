#include "testing/raw_client.h"

#include <dirent.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

namespace gvisor::testing {

namespace {
unet::Socket Wrap(fd::OwnedFd fd) {
  absl::StatusOr<unet::Socket> s = unet::Socket::FromFd(std::move(fd));
  return s.ok() ? *std::move(s) : unet::Socket();
}
}  // namespace

int Reply::err() const {
  if (mid != 0) return 0;
  if (payload.size() != 4) return -1;
  uint32_t e;
  memcpy(&e, payload.data(), 4);
  return static_cast<int>(e);
}

RawClient::RawClient(fd::OwnedFd sock) : comm_(Wrap(std::move(sock))) {}

absl::StatusOr<Reply> RawClient::CallBytes(uint16_t mid,
                                           absl::Span<const uint8_t> payload) {
  if (absl::Status s = comm_.SendFrame(mid, payload); !s.ok()) return s;
  return ReadReply();
}

absl::Status RawClient::WriteBytes(absl::Span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = send(comm_.fd(), bytes.data() + done, bytes.size() - done,
                     MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return syserr::FromErrno(errno, "send");
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<Reply> RawClient::ReadReply() {
  lisafs::Frame f;
  if (absl::Status s = comm_.RecvFrame(kWantFds, UINT32_MAX, &f); !s.ok()) {
    return s;
  }
  Reply r;
  r.mid = f.mid;
  r.payload = std::move(f.payload);
  r.fds = std::move(f.fds);
  return r;
}

}  // namespace gvisor::testing
