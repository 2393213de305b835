#include "testing/raw_client.h"

#include <dirent.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/fdchannel/fdchannel.h"
#include "pkg/flipcall/flipcall.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

namespace gvisor::testing {

namespace {

unet::Socket Wrap(fd::OwnedFd fd) {
  absl::StatusOr<unet::Socket> s = unet::Socket::FromFd(std::move(fd));
  return s.ok() ? *std::move(s) : unet::Socket();
}

// ToReply turns a received frame into a Reply.
Reply ToReply(lisafs::Frame f) {
  Reply r;
  r.mid = f.mid;
  r.payload = std::move(f.payload);
  r.fds = std::move(f.fds);
  return r;
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
  return ToReply(std::move(f));
}

absl::StatusOr<std::unique_ptr<RawChannel>> RawChannel::Connect(Reply channel) {
  absl::StatusOr<lisafs::ChannelResp> resp = channel.As<lisafs::ChannelResp>();
  if (channel.mid != static_cast<uint16_t>(lisafs::MID::kChannel) ||
      !resp.ok() || channel.fds.size() != 2) {
    return syserr::FromErrno(
        EINVAL, absl::StrCat("not a Channel reply: MID ", channel.mid, ", ",
                             channel.fds.size(), " FDs"));
  }
  flipcall::PacketWindowDescriptor d;
  d.fd = channel.fds[0].get();
  d.offset = resp->data_offset;
  d.length = resp->data_length;
  absl::StatusOr<std::unique_ptr<flipcall::Endpoint>> ep =
      flipcall::Endpoint::Create(flipcall::Side::kClient, d);
  if (!ep.ok()) return ep.status();
  absl::StatusOr<fdchannel::Endpoint> fdc =
      fdchannel::Endpoint::FromFd(std::move(channel.fds[1]));
  if (!fdc.ok()) return fdc.status();
  auto ch = std::make_unique<lisafs::Channel>(*std::move(ep), *std::move(fdc));
  if (absl::Status s = ch->data().Connect(); !s.ok()) return s;
  return std::unique_ptr<RawChannel>(new RawChannel(std::move(ch)));
}

absl::StatusOr<Reply> RawChannel::CallBytes(uint16_t mid,
                                            absl::Span<const uint8_t> payload) {
  absl::StatusOr<uint32_t> len = channel_->WriteMessage(mid, 0, payload);
  if (!len.ok()) return len.status();
  absl::StatusOr<uint32_t> n = channel_->data().SendRecv(*len);
  if (!n.ok()) return n.status();
  lisafs::Frame f;
  if (absl::Status s = channel_->ReadMessage(*n, UINT32_MAX, &f); !s.ok()) {
    return s;
  }
  return ToReply(std::move(f));
}

std::vector<uint8_t> RawChannel::Window(size_t n) const {
  const uint8_t* p = channel_->data().data() - flipcall::kPacketHeaderBytes;
  return std::vector<uint8_t>(p, p + n);
}

}  // namespace gvisor::testing
