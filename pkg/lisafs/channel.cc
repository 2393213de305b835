#include "pkg/lisafs/channel.h"

#include <errno.h>
#include <string.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {

size_t MaxChannels() {
  return std::clamp<size_t>(std::thread::hardware_concurrency(), 2, 4);
}

absl::StatusOr<uint32_t> Channel::WriteMessage(
    uint16_t mid, uint8_t num_fds, absl::Span<const uint8_t> payload) {
  if (payload.size() > max_payload()) {
    return syserr::FromErrno(
        EIO, absl::StrCat("channel message of ", payload.size(),
                          " bytes exceeds the window's ", max_payload()));
  }
  uint8_t header[kHeaderSize] = {static_cast<uint8_t>(mid & 0xff),
                                 static_cast<uint8_t>(mid >> 8), num_fds, 0};
  uint8_t* d = data_->data();
  flipcall::CopyToShared(d, header, sizeof(header));
  flipcall::CopyToShared(d + kHeaderSize, payload.data(), payload.size());
  return static_cast<uint32_t>(kHeaderSize + payload.size());
}

absl::Status Channel::ReadMessage(uint32_t n, uint32_t max_payload,
                                  Frame* out) {
  out->fds.clear();
  out->payload.clear();
  out->oversized = false;
  // n was read once from the window by the flipcall endpoint; it is a
  // local from here on, checked once against the window here and against
  // max_payload below, and nothing else read from the window decides how
  // much is copied.
  if (n < kHeaderSize || n > data_->data_cap()) {
    return syserr::FromErrno(
        EIO, absl::StrCat("channel message of ", n, " bytes (want ",
                          kHeaderSize, " to ", data_->data_cap(), ")"));
  }
  // Each shared byte is read once, into private memory: the header into a
  // local, the payload into the frame, which is what gets decoded. The
  // peer may rewrite the window meanwhile; that can change the bytes we
  // got, not their number.
  uint8_t header[kHeaderSize];
  flipcall::CopyFromShared(header, data_->data(), sizeof(header));
  out->mid = static_cast<uint16_t>(header[0] | (header[1] << 8));
  const uint8_t num_fds = header[2];
  out->payload_len = n - kHeaderSize;
  if (out->payload_len > max_payload) {
    out->oversized = true;
  } else {
    out->payload.resize(out->payload_len);
    flipcall::CopyFromShared(out->payload.data(), data_->data() + kHeaderSize,
                             out->payload_len);
  }
  for (uint8_t i = 0; i < num_fds; ++i) {
    absl::StatusOr<fd::OwnedFd> fd = fds_.RecvFDNonblock();
    if (!fd.ok()) break;
    out->fds.push_back(*std::move(fd));
  }
  return absl::OkStatus();
}

uint8_t Channel::SendFDs(absl::Span<const int> fds) {
  if (fds.size() > 255) return 0;
  uint8_t sent = 0;
  for (int fd : fds) {
    if (!fds_.SendFD(fd).ok()) break;
    ++sent;
  }
  return sent;
}

}  // namespace gvisor::lisafs
