// Package lisafs, server side, internal: the per-MID request handlers that
// Connection::Dispatch calls. Each handler follows its row of
// pkg/lisafs/README.md §7.6 step by step; the first failing step's errno is the
// answer.

#ifndef GVISOR_PKG_LISAFS_HANDLERS_H_
#define GVISOR_PKG_LISAFS_HANDLERS_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "pkg/lisafs/response.h"
#include "pkg/lisafs/wire.h"

namespace gvisor::lisafs {

class Connection;
class FD;
class Node;

namespace internal {

// Request is one request as a handler sees it: the connection it came on,
// its MID (the handler's own), its payload, and the Response to fill in.
// It is also the handlers' only way to the connection's FD table, which is
// private to the server.
struct Request {
  Connection& conn;
  MID mid;
  absl::Span<const uint8_t> payload;
  Response* resp;

  // Fail returns a status carrying err whose message is "<MID name>: what".
  absl::Status Fail(int err, absl::string_view what) const;

  // Insert adds fd to the connection's table under a new FDID and returns
  // it (Connection's FD table, pkg/lisafs/README.md §7.3).
  FDID Insert(std::shared_ptr<FD> fd) const;
  // Lookup returns the FD named id, or null.
  std::shared_ptr<FD> Lookup(FDID id) const;
  // Remove takes id out of the table and returns its FD (null if unknown);
  // the caller drops it outside any tree lock.
  std::shared_ptr<FD> Remove(FDID id) const;
  // ChargeFdids charges n more FDIDs to this request (EMFILE past the
  // server's FD bounds); see Connection::ChargeFdids.
  absl::Status ChargeFdids(size_t n) const;
  // SetMountNode records node as the connection's mount point.
  void SetMountNode(std::shared_ptr<Node> node) const;
  // NewChannel starts a channel and fills resp (pkg/lisafs/README.md §7.6,
  // §8.1).
  absl::Status NewChannel() const;
};

// HasHandler reports whether the server implements mid (every MID below
// kNumMIDs except Error).
bool HasHandler(uint16_t mid);

// Handle runs the handler of req.mid, which HasHandler must have accepted.
// On error, req.resp->fds may hold FDs, which the caller drops without
// sending.
absl::Status Handle(const Request& req);

}  // namespace internal
}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_HANDLERS_H_
