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
  memcpy(d, header, sizeof(header));
  if (!payload.empty()) memcpy(d + kHeaderSize, payload.data(), payload.size());
  return static_cast<uint32_t>(kHeaderSize + payload.size());
}

absl::Status Channel::ReadMessage(uint32_t n, uint32_t max_payload,
                                  Frame* out) {
  out->fds.clear();
  out->payload.clear();
  out->oversized = false;
  if (n < kHeaderSize) {
    return syserr::FromErrno(
        EIO, absl::StrCat("channel message of ", n,
                          " bytes is shorter than its header"));
  }
  // Each shared byte is read once: the header into a local, the payload
  // into the frame.
  uint8_t header[kHeaderSize];
  memcpy(header, data_->data(), sizeof(header));
  out->mid = static_cast<uint16_t>(header[0] | (header[1] << 8));
  out->payload_len = n - kHeaderSize;
  if (out->payload_len > max_payload) {
    out->oversized = true;
  } else {
    out->payload.assign(data_->data() + kHeaderSize,
                        data_->data() + kHeaderSize + out->payload_len);
  }
  for (uint8_t i = 0; i < header[2]; ++i) {
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
