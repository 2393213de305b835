// Package lisafs, server side: Server and Connection (WIRE.md §7).
//
// A Server serves any number of connections at once, one thread each, over
// one shared file tree and one rename lock. Each connection has its own
// backend (ConnectionImpl, see server_impl.h), mount path, options and FD
// table. The framework decodes every request, runs the generic checks of
// WIRE.md §7.2 in order (payload size, MID, FDID lookup and kind, names,
// read-only, file types, deleted nodes), takes the locks of §7.4, calls the
// backend, and encodes the response with the FDs the backend donates.
//
// Requests are served strictly in order on the connection's socket (WIRE.md
// §2.7). A backend that advertises Channel (MID 2) also gets flipcall
// channels (WIRE.md §8): each Channel request, on the socket or on a channel,
// starts one more channel with a service thread of its own, at most
// MaxChannels() per connection (ENOMEM beyond). Every request, whichever
// communicator brought it, goes through Connection::Dispatch. The memfd that
// holds the channels' packet windows is created with the first channel, so
// a connection that never asks for one costs no extra FD. When the socket
// ends, the connection stops taking requests, waits for those in flight,
// shuts every channel down and joins its thread (WIRE.md §7.1).
//
// One deliberate difference from gVisor's Go server: ReadLinkAt and
// FListXattr on a deleted node answer EINVAL, like every other RPC that
// checks deletion, rather than an empty success (WIRE.md §12 Q4). FStat on
// a bound-socket FDID answers EREMOTEIO, as Go's does (Q5).

#ifndef GVISOR_PKG_LISAFS_SERVER_H_
#define GVISOR_PKG_LISAFS_SERVER_H_

#include <atomic>
#include <bitset>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/context/context.h"
#include "pkg/fd/fd.h"
#include "pkg/flipcall/packet_window.h"
#include "pkg/lisafs/handlers.h"
#include "pkg/lisafs/node.h"
#include "pkg/lisafs/server_fd.h"
#include "pkg/lisafs/server_impl.h"
#include "pkg/lisafs/sock_communicator.h"
#include "pkg/lisafs/wire.h"
#include "pkg/unet/unet.h"

namespace gvisor::lisafs {

// ConnectionOptions are a connection's own settings.
struct ConnectionOptions {
  // readonly refuses every mutating RPC with EROFS (WIRE.md §7.8).
  bool readonly = false;
  // max_tree_depth bounds how deep the connection may grow the server's
  // file tree, in names below the host's "/" (a Node's depth, node.h). A
  // Mount path deeper than this, a Walk or WalkStat step, a create
  // (OpenCreateAt, MkdirAt, MknodAt, SymlinkAt, LinkAt, BindAt) or a
  // rename that would put a Node deeper fails with ENAMETOOLONG before
  // anything is done on the host. The default, 4096, is twice what a
  // PATH_MAX path can name; each level costs a Node (a few hundred bytes)
  // while an FD below it is held.
  uint32_t max_tree_depth = 4096;
};

class Server;

// Connection is one client connection: its socket, backend, FD table and
// options. It is created by Server::StartConnection and lives on its own
// thread; handlers and backends reach it through their FDs.
class Connection {
 public:
  Connection(Server* server, unet::Socket sock, std::string mount_path,
             std::unique_ptr<ConnectionImpl> impl, ConnectionOptions options);
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Server& server() const { return *server_; }
  ConnectionImpl& impl() const { return *impl_; }
  const ConnectionOptions& options() const { return options_; }
  const std::string& mount_path() const { return mount_path_; }
  uint32_t max_message_size() const { return max_message_size_; }
  const std::vector<MID>& supported() const { return supported_list_; }

  // Supports reports whether mid was advertised.
  bool Supports(uint16_t mid) const {
    return mid < supported_.size() && supported_[mid];
  }

  // mount_node returns the mount point's Node (null before the first
  // Mount).
  std::shared_ptr<Node> mount_node() const;
  void set_mount_node(std::shared_ptr<Node> node);

  // Insert adds fd to the table under a new FDID and returns it. FDIDs
  // start at 1 and are never reused (WIRE.md §7.3).
  FDID Insert(std::shared_ptr<FD> fd);

  // Lookup returns the FD named id, or null.
  std::shared_ptr<FD> Lookup(FDID id) const;

  // Remove takes id out of the table and returns its FD (null if unknown);
  // the caller drops it outside any tree lock.
  std::shared_ptr<FD> Remove(FDID id);

  // Run serves requests until the peer goes away or the socket is shut
  // down, then closes the connection: it stops taking requests, shuts
  // down and joins every channel, and drops every FD.
  void Run();

  // Shutdown shuts the socket down: Run ends after the current request.
  void Shutdown() { comm_.Shutdown(); }

  // Dispatch answers one request (req.mid, req.payload; FDs in req are
  // ignored) in the order of WIRE.md §7.2: oversized payload EIO, closing
  // connection ECONNRESET, unknown or unadvertised MID EOPNOTSUPP, then the
  // handler (its error's errno, or EIO for a response over the size limit).
  internal::Response Dispatch(const Frame& req);

  // NewChannel serves a Channel request (WIRE.md §7.6, §8.1): it creates a
  // channel, starts its service thread, and puts ChannelResp and the two
  // FDs to donate (the memfd, the client's FD socket) in *resp. ENOSYS
  // once the connection is closing, ENOMEM at MaxChannels() channels.
  absl::Status NewChannel(internal::Response* resp);

 private:
  struct ServerChannel;

  // ServeChannel is a channel's service loop (WIRE.md §8.5).
  void ServeChannel(ServerChannel* ch);
  // Close ends the connection as WIRE.md §7.1 close_connection says.
  void Close();

  Server* const server_;
  SockCommunicator comm_;
  const std::string mount_path_;
  const std::unique_ptr<ConnectionImpl> impl_;
  const ConnectionOptions options_;
  const uint32_t max_message_size_;
  std::vector<MID> supported_list_;
  std::bitset<65536> supported_;

  // mu_ guards the fields below it.
  mutable std::mutex mu_;
  std::shared_ptr<Node> mount_node_;
  FDID next_fdid_ = 1;
  std::map<FDID, std::shared_ptr<FD>> fds_;

  // requests_mu_ guards the request gate: closing_ refuses new requests,
  // in_flight_ counts those being handled; requests_done_ is signalled when
  // it drops to 0.
  std::mutex requests_mu_;
  std::condition_variable requests_done_;
  bool closing_ = false;
  int in_flight_ = 0;

  // channels_mu_ guards the channels and their packet-window allocator.
  std::mutex channels_mu_;
  bool channels_closed_ = false;
  std::unique_ptr<flipcall::PacketWindowAllocator> windows_;
  std::vector<std::unique_ptr<ServerChannel>> channels_;
};

// Server serves LISAFS connections over one shared file tree.
//
// Thread safety: every method may be called from any thread.
class Server {
 public:
  // The server logs through ctx, which must outlive it.
  explicit Server(const context::Context& ctx = context::Background());
  // The destructor shuts down every connection and waits for them to end.
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // StartConnection serves sock on a new thread until the peer closes it or
  // the server shuts down. Takes ownership of sock and impl. mount_path is
  // the absolute host path the connection serves; it is cleaned (repeated
  // and trailing slashes dropped). Returns EINVAL, and starts nothing, if
  // mount_path is not absolute or has a "." or ".." component, if impl's
  // MaxMessageSize is 0 or its SupportedMessages is empty; ESHUTDOWN after
  // Shutdown.
  absl::Status StartConnection(unet::Socket sock, absl::string_view mount_path,
                               std::unique_ptr<ConnectionImpl> impl,
                               ConnectionOptions options = {});

  // Shutdown stops the server: later StartConnection calls fail and every
  // connection's socket is shut down, so each ends after the request it is
  // serving. Idempotent; does not wait (see Wait).
  void Shutdown();

  // Wait blocks until every connection started so far has ended.
  void Wait();

  // connections returns the number of connections being served.
  size_t connections() const;

  // AwaitConnections blocks until at most n connections are being served
  // (each ended one has dropped all its FDs by then).
  void AwaitConnections(size_t n) const;

  // rename_mu is the server-wide rename lock (WIRE.md §7.4).
  std::shared_mutex& rename_mu() const { return rename_mu_; }

  // root returns the tree's root Node (the host's "/").
  const std::shared_ptr<Node>& root() const { return root_; }

  const context::Context& ctx() const { return ctx_; }

 private:
  void Serve(Connection* conn, uint64_t id);
  // JoinFinishedLocked joins the threads of ended connections (mu_ held).
  void JoinFinishedLocked();

  const context::Context& ctx_;
  mutable std::shared_mutex rename_mu_;
  const std::shared_ptr<Node> root_;

  // mu_ guards the fields below it; ended_ is signalled when a connection
  // thread finishes.
  mutable std::mutex mu_;
  mutable std::condition_variable ended_;
  bool shutdown_ = false;
  uint64_t next_id_ = 0;
  std::map<uint64_t, Connection*> active_;
  std::map<uint64_t, std::thread> threads_;
  std::vector<uint64_t> finished_;
};

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_SERVER_H_
