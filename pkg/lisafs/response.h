// Package lisafs, server side, internal: Response, what the server sends
// back for one request. Connection::Dispatch makes one per request; the
// handlers (handlers.h) fill it in.

#ifndef GVISOR_PKG_LISAFS_RESPONSE_H_
#define GVISOR_PKG_LISAFS_RESPONSE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "pkg/fd/fd.h"
#include "pkg/lisafs/wire.h"

namespace gvisor::lisafs::internal {

// Response is a handler's answer: the payload and the host FDs to donate:
// fds (the server's copies, closed after sending), then lent_fd if >= 0 (an
// FD that lender owns and keeps; lender is held, so the FD stays open, until
// it is sent, and it is never closed here).
struct Response {
  MID mid = MID::kError;
  std::vector<uint8_t> payload;
  std::vector<fd::OwnedFd> fds;
  int lent_fd = -1;
  std::shared_ptr<const void> lender;
};

}  // namespace gvisor::lisafs::internal

#endif  // GVISOR_PKG_LISAFS_RESPONSE_H_
