// Package lisafs, server side, internal: the per-MID request handlers that
// Connection::Dispatch calls. Each handler follows its row of WIRE.md
// §7.6 step by step; the first failing step's errno is the answer.

#ifndef GVISOR_PKG_LISAFS_HANDLERS_H_
#define GVISOR_PKG_LISAFS_HANDLERS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "pkg/fd/fd.h"
#include "pkg/lisafs/wire.h"

namespace gvisor::lisafs {

class Connection;

namespace internal {

// Response is a handler's answer: the payload and the host FDs to donate
// (the server's copies, closed after sending).
struct Response {
  MID mid = MID::kError;
  std::vector<uint8_t> payload;
  std::vector<fd::OwnedFd> fds;
};

// HasHandler reports whether the server implements mid (every MID below
// kNumMIDs except Error).
bool HasHandler(uint16_t mid);

// Handle runs mid's handler on payload. On error, resp->fds may hold FDs,
// which the caller drops without sending.
absl::Status Handle(Connection& conn, MID mid,
                    absl::Span<const uint8_t> payload, Response* resp);

}  // namespace internal
}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_HANDLERS_H_
