// Package lisafs, server side: Server and Connection (pkg/lisafs/README.md §7).
//
// A Server serves any number of connections at once over one shared file
// tree and one rename lock. Each connection has its own backend
// (ConnectionImpl, see server_impl.h), mount path, options and FD table. The
// framework decodes every request, runs the generic checks of
// pkg/lisafs/README.md §7.2 in order (payload size, MID, FDID lookup and kind,
// names, read-only, file types, deleted nodes), takes the locks of §7.4, calls
// the backend, and encodes the response with the FDs the backend donates.
//
// Event-driven: the connections' sockets sit in one epoll set served by a
// bounded pool of worker threads (ServerOptions::workers). A connection
// costs a thread only while a worker is answering it: an idle connection,
// one whose peer stalls in the middle of a frame, and one whose peer does
// not read its answers, cost an epoll entry and the bytes they made the
// server keep (at most one request and one response, each bounded by the
// max message size). Requests on one socket are still answered strictly in
// order (pkg/lisafs/README.md §2.7): at most one worker serves a given
// connection at a time (EPOLLONESHOT, re-armed at the end of each turn), and a
// turn answers at most ServerOptions::frames_per_turn requests before the
// connection goes to the back of the queue.
//
// A backend that advertises Channel (MID 2) also gets flipcall channels
// (pkg/lisafs/README.md §8): each Channel request, on the socket or on a
// channel, starts one more channel with a service thread of its own, at most
// MaxChannels() per connection (ENOMEM beyond; EAGAIN past ServerOptions::
// max_channel_threads for the whole server, or if no thread can start). Every
// request, whichever communicator brought it, goes through
// Connection::Dispatch. The memfd that holds the channels' packet windows is
// created with the first channel, so a connection that never asks for one
// costs no extra FD. When the socket ends, the connection stops taking
// requests, shuts every channel down, and once every channel thread has
// returned (without holding a worker meanwhile) drops its FDs
// (pkg/lisafs/README.md §7.1).
//
// FDs are bounded twice (ServerOptions): each connection holds at most
// max_fdids_per_connection FDIDs, and the server keeps fd_reserve host FDs
// of its RLIMIT_NOFILE back for accepting connections and for connections
// that hold few FDIDs (their Mount and first walks), so one connection can
// never starve the others. Both refusals are EMFILE, before the RPC runs.
//
// One deliberate difference from gVisor's Go server: ReadLinkAt and
// FListXattr on a deleted node answer EINVAL, like every other RPC that
// checks deletion, rather than an empty success (pkg/lisafs/README.md §11 Q4).
// FStat on a bound-socket FDID answers EREMOTEIO, as Go's does (Q5).

#ifndef GVISOR_PKG_LISAFS_SERVER_H_
#define GVISOR_PKG_LISAFS_SERVER_H_

#include <atomic>
#include <bitset>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/context/context.h"
#include "pkg/fd/fd.h"
#include "pkg/flipcall/packet_window.h"
#include "pkg/lisafs/fd_budget.h"
#include "pkg/lisafs/frame_io.h"
#include "pkg/lisafs/node.h"
#include "pkg/lisafs/server_fd.h"
#include "pkg/lisafs/server_impl.h"
#include "pkg/lisafs/sock_communicator.h"
#include "pkg/lisafs/wire.h"
#include "pkg/spin/spin.h"
#include "pkg/unet/unet.h"

namespace gvisor::lisafs {

namespace internal {
class EventPool;
struct Request;
struct Response;
}  // namespace internal

// ConnectionOptions are a connection's own settings.
struct ConnectionOptions {
  // readonly refuses every mutating RPC with EROFS (pkg/lisafs/README.md §7.8).
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

// ServerOptions are a Server's bounds. Each is a clear error (or a
// documented wait) when crossed; devgofer has a flag for each
// (tools/devgofer/options.h).
struct ServerOptions {
  // kDefaultWorkers for workers means twice the hardware threads, at least
  // kMinDefaultWorkers and at most kMaxDefaultWorkers.
  static constexpr size_t kDefaultWorkers = 0;
  static constexpr size_t kMinDefaultWorkers = 4;
  static constexpr size_t kMaxDefaultWorkers = 32;

  // workers is how many threads serve the connections' sockets; they start
  // with the first connection. A request blocked in the kernel (a backend
  // call that does not return) holds one worker; one connection never holds
  // more than one. Channels have a thread each on top (pkg/lisafs/README.md
  // §7.9).
  size_t workers = kDefaultWorkers;

  // max_fdids_per_connection caps the FDIDs one connection holds. An RPC
  // that would take the connection past it (a Walk is charged its whole
  // path, OpenCreateAt and BindAt two) fails with EMFILE before it runs;
  // what the connection holds stays usable, and closing FDIDs makes room.
  size_t max_fdids_per_connection = 8192;

  // fd_reserve is how many host FDs of the soft RLIMIT_NOFILE (at most a
  // quarter of it) the server keeps for accepting connections and for
  // small connections. Once the FDs the process holds come within it, an
  // RPC that makes FDs (Mount, Walk, OpenAt, the creates, BindAt, Channel)
  // fails with EMFILE unless its connection would then hold at most
  // fd_reserve_per_connection FDIDs, so a new connection can still Mount
  // and walk after another one has taken all it could.
  size_t fd_reserve = 256;
  size_t fd_reserve_per_connection = 16;

  // max_channel_threads caps the channel threads of all connections
  // together (each connection has at most MaxChannels() of them); a
  // Channel request beyond it fails with EAGAIN.
  size_t max_channel_threads = 4096;

  // frames_per_turn and bytes_per_turn bound what a worker answers or
  // reads for one connection before it serves the others (fairness).
  size_t frames_per_turn = 16;
  size_t bytes_per_turn = 4 << 20;

  // shutdown_grace bounds how long Wait and the destructor wait, after
  // Shutdown, for requests stuck in the kernel (see Server::Wait). Closing
  // a connection takes a worker, so while every worker is stuck no other
  // connection ends either; the bound holds all the same.
  absl::Duration shutdown_grace = absl::Seconds(5);

  // spin bounds how long a thread that waits for the next request polls
  // for it before it sleeps (pkg/spin/spin.h): a worker that has just
  // answered polls the epoll set (EventPool), a channel thread the flipcall
  // futex word (flipcall::Endpoint::set_spin). Each waiter's window adapts:
  // it shrinks, down to none, while requests keep coming later than spin,
  // and grows back when one comes sooner. Idle connections and idle workers
  // use no CPU once the window after their last request has passed. Zero
  // turns spinning off; at most spin::kMaxMax.
  absl::Duration spin = spin::kDefaultMax;
};

// ServerStats is a snapshot of what a Server holds.
struct ServerStats {
  // connections being served (Server::connections).
  size_t connections = 0;
  // workers running, and how many of them are answering a connection now.
  size_t workers = 0;
  size_t busy_workers = 0;
  // channel_threads running.
  size_t channel_threads = 0;
  // fdids held by all connections.
  size_t fdids = 0;
  // partial_frames: connections with part of a request received;
  // buffered_bytes: memory held for partial requests and unsent responses.
  size_t partial_frames = 0;
  size_t buffered_bytes = 0;
  // host_fds is the server's estimate of the FDs its process holds, and
  // fd_limit the soft RLIMIT_NOFILE it last read (0 before the first FD
  // was charged).
  int64_t host_fds = 0;
  uint64_t fd_limit = 0;
};

class Connection;

// ServerCore is what a Server's connections share: the file tree, the
// rename lock, the worker pool, the FD account and the set of connections.
// Handlers reach it through Connection::server(). It is internal to the
// server; embedders use Server.
class ServerCore {
 public:
  // The core logs through ctx, which must outlive it; see Server.
  ServerCore(const context::Context& ctx, ServerOptions options);
  // The destructor requires every connection to have ended.
  ~ServerCore();

  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  // rename_mu is the server-wide rename lock (pkg/lisafs/README.md §7.4).
  std::shared_mutex& rename_mu() const { return rename_mu_; }

  // root returns the tree's root Node (the host's "/").
  const std::shared_ptr<Node>& root() const { return root_; }

  // ctx returns the context the server logs through.
  const context::Context& ctx() const { return ctx_; }
  // options returns the server's bounds.
  const ServerOptions& options() const { return options_; }

 private:
  friend class Connection;
  friend class Server;

  absl::Status StartConnection(unet::Socket sock, std::string mount_path,
                               std::unique_ptr<ConnectionImpl> impl,
                               ConnectionOptions options);
  void Shutdown();
  // Wait returns true once every connection has ended, false if it gave up
  // after the shutdown grace.
  bool Wait();
  void AwaitConnections(size_t n) const;
  size_t connections() const;
  ServerStats stats() const;
  // Stop stops the workers; true if none was left stuck.
  bool Stop(bool connections_ended);

  // HandleEvent is the pool's handler: a turn of the connection tag.
  static void HandleEvent(void* tag, uint32_t events);
  // Detach takes conn out of the set Shutdown reaches and hands its
  // ownership to the caller; Ended then counts it as gone once it has
  // dropped everything.
  std::unique_ptr<Connection> Detach(Connection* conn);
  void Ended();

  internal::EventPool& pool() const { return *pool_; }
  internal::FdBudget& fd_budget() { return fd_budget_; }

  const context::Context& ctx_;
  const ServerOptions options_;
  const size_t workers_;
  mutable std::shared_mutex rename_mu_;
  const std::shared_ptr<Node> root_;
  internal::FdBudget fd_budget_;

  // Counters for stats.
  std::atomic<size_t> fdids_{0};
  std::atomic<size_t> channel_threads_{0};
  std::atomic<size_t> partial_frames_{0};
  std::atomic<size_t> buffered_bytes_{0};

  // mu_ guards the fields below it; ended_ is signalled as connections end
  // and on Shutdown.
  mutable std::mutex mu_;
  mutable std::condition_variable ended_;
  // pool_ is made with the core; pool_error_ says why if it could not be.
  std::unique_ptr<internal::EventPool> pool_;
  absl::Status pool_error_;
  bool shutdown_ = false;
  absl::Time shutdown_at_;
  uint64_t next_id_ = 0;
  std::map<uint64_t, std::unique_ptr<Connection>> active_;
  // finishing_ counts connections out of active_ still dropping their FDs.
  size_t finishing_ = 0;
};

// Connection is one client connection: its socket, backend, FD table and
// options. It is created by Server::StartConnection and served by the
// server's workers; handlers and backends reach it through their FDs.
class Connection {
  // Passkey lets only the server make connections, while std::make_unique
  // can still reach the constructor.
  class Passkey {
    explicit Passkey() = default;
    friend class ServerCore;
  };

 public:
  // The constructor is the server's (ServerCore::StartConnection).
  Connection(Passkey, ServerCore* server, unet::Socket sock,
             std::string mount_path, std::unique_ptr<ConnectionImpl> impl,
             ConnectionOptions options);
  // The destructor is run by Finish, once everything is dropped.
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // server returns what the server's connections share.
  ServerCore& server() const { return *server_; }
  // impl returns the connection's backend.
  ConnectionImpl& impl() const { return *impl_; }
  // options returns the connection's own settings.
  const ConnectionOptions& options() const { return options_; }
  // mount_path returns the cleaned absolute host path the connection
  // serves.
  const std::string& mount_path() const { return mount_path_; }
  // max_message_size returns the backend's payload limit (pkg/lisafs/README.md
  // §2.3).
  uint32_t max_message_size() const { return max_message_size_; }
  // supported returns the MIDs the backend advertises, in its order.
  const std::vector<MID>& supported() const { return supported_list_; }

  // Supports reports whether mid was advertised.
  bool Supports(uint16_t mid) const {
    return mid < supported_.size() && supported_[mid];
  }

  // mount_node returns the mount point's Node (null before the first
  // Mount).
  std::shared_ptr<Node> mount_node() const;

 private:
  friend class ServerCore;
  // Request is the handlers' way to the FD table, the mount node and
  // NewChannel (handlers.h).
  friend struct internal::Request;
  struct ServerChannel;

  // set_mount_node records the mount point's Node (Mount).
  void set_mount_node(std::shared_ptr<Node> node);

  // Insert adds fd to the table under a new FDID and returns it. FDIDs
  // start at 1 and are never reused (pkg/lisafs/README.md §7.3). Dispatch has
  // checked the FDID bounds before the handler ran.
  FDID Insert(std::shared_ptr<FD> fd);

  // Lookup returns the FD named id, or null.
  std::shared_ptr<FD> Lookup(FDID id) const;

  // Remove takes id out of the table and returns its FD (null if unknown);
  // the caller drops it outside any tree lock.
  std::shared_ptr<FD> Remove(FDID id);

  // fdids returns how many FDIDs the table holds.
  size_t fdids() const;

  // Shutdown ends the connection from any thread: its socket is shut down,
  // and it closes after the request it is answering, if any.
  void Shutdown();

  // Dispatch answers one request (req.mid, req.payload; FDs in req are
  // ignored) in the order of pkg/lisafs/README.md §7.2: oversized payload EIO,
  // closing connection ECONNRESET, unknown or unadvertised MID EOPNOTSUPP, the
  // FD bounds of ServerOptions EMFILE, then the handler (its error's errno, or
  // EIO for a response over the size limit).
  internal::Response Dispatch(const Frame& req);

  // ChargeFdids is for a handler that makes FDIDs Dispatch could not count
  // in advance (Walk: one per component, as it goes). It charges n FDIDs,
  // each with one host FD, to the request being dispatched on this thread,
  // until that request ends. EMFILE past the per-connection cap or within
  // the FD reserve (ServerOptions); EINVAL outside Dispatch.
  absl::Status ChargeFdids(size_t n, MID mid);

  // NewChannel serves a Channel request (pkg/lisafs/README.md §7.6, §8.1): it
  // starts the channel's service thread, creates the channel, and puts
  // ChannelResp and the two FDs to donate (the memfd, the client's FD socket)
  // in *resp. ENOSYS once the connection is closing, ENOMEM at MaxChannels()
  // channels, EAGAIN (logged) at the server's max_channel_threads or if no
  // thread can start.
  absl::Status NewChannel(internal::Response* resp);

  // Serve is one turn on a worker: flush what is left of the last answer,
  // then read and answer requests, and re-arm; or close.
  void Serve();
  // Turn does the I/O of a turn; an error ends the connection.
  absl::Status Turn();
  // Arm re-arms the socket for events.
  absl::Status Arm(uint32_t events);
  // UpdateBuffered publishes the bytes the reader and writer hold.
  void UpdateBuffered();
  // BeginClose stops taking requests and shuts every channel down.
  void BeginClose();
  // ReadyToFinish reports whether every channel thread has returned; if
  // not, the last one to return re-arms the socket for a final turn.
  bool ReadyToFinish();
  // Finish drops everything (pkg/lisafs/README.md §7.1) and destroys the
  // connection.
  void Finish();

  // FdCharge is what one request has been charged so far.
  struct FdCharge {
    size_t fdids = 0;
    size_t host_fds = 0;
  };
  // Charge checks fdids more FDIDs and host_fds more host FDs against the
  // bounds and adds them to *charge (EMFILE, logged once per connection
  // and bound, past them); Uncharge gives a request's charge back.
  absl::Status Charge(size_t fdids, size_t host_fds, MID mid, FdCharge* charge);
  void Uncharge(const FdCharge& charge);

  // ChannelMain is a channel thread: it waits until NewChannel has made the
  // channel (or given up), serves it, and reports its return.
  void ChannelMain(ServerChannel* ch);
  // ServeChannel is a channel's service loop (pkg/lisafs/README.md §8.5).
  void ServeChannel(ServerChannel* ch);
  // SetUpChannelLocked makes ch's channel and fills *resp (channels_mu_
  // held).
  absl::Status SetUpChannelLocked(ServerChannel* ch, internal::Response* resp);
  void ChannelThreadReturned();

  ServerCore* const server_;
  unet::Socket sock_;
  const std::string mount_path_;
  const std::unique_ptr<ConnectionImpl> impl_;
  const ConnectionOptions options_;
  const uint32_t max_message_size_;
  std::vector<MID> supported_list_;
  std::bitset<kNumMIDs> supported_;
  uint64_t id_ = 0;

  // shutdown_ is set by Shutdown; closing_ once the connection stops taking
  // requests (Dispatch answers ECONNRESET from then on).
  std::atomic<bool> shutdown_{false};
  std::atomic<bool> closing_{false};

  // turn_mu_ is held for a turn (uncontended: one worker at a time); it
  // orders one turn's accesses to the fields below before the next's.
  std::mutex turn_mu_;
  internal::FrameReader reader_;
  internal::FrameWriter writer_;
  size_t published_buffered_ = 0;
  bool published_partial_ = false;

  // mu_ guards the fields below it.
  mutable std::mutex mu_;
  std::shared_ptr<Node> mount_node_;
  FDID next_fdid_ = 1;
  // A hash map: inserting and erasing FDIDs allocates nothing once it has
  // grown to the most FDIDs the connection held.
  absl::flat_hash_map<FDID, std::shared_ptr<FD>> fds_;
  size_t fdids_charged_ = 0;
  bool warned_fdid_cap_ = false;
  bool warned_fd_reserve_ = false;

  // channels_mu_ guards the channels, their packet-window allocator and the
  // channel threads' bookkeeping; channels_cv_ is signalled when a
  // pending channel is made or abandoned.
  std::mutex channels_mu_;
  std::condition_variable channels_cv_;
  bool channels_closed_ = false;
  size_t pending_channels_ = 0;
  size_t live_channel_threads_ = 0;
  bool finish_on_last_thread_ = false;
  std::unique_ptr<flipcall::PacketWindowAllocator> windows_;
  std::vector<std::unique_ptr<ServerChannel>> channels_;
};

// Server serves LISAFS connections over one shared file tree.
//
// Thread safety: every method may be called from any thread.
class Server {
 public:
  // The server logs through ctx, which must outlive it (and, if a request
  // is stuck in the kernel when the server is destroyed, the process).
  explicit Server(const context::Context& ctx = context::Background(),
                  ServerOptions options = {});
  // This one logs through context::Background().
  explicit Server(ServerOptions options)
      : Server(context::Background(), options) {}
  // The destructor shuts down every connection and waits for them to end
  // (Shutdown, then Wait), then stops the workers. If a request is still
  // stuck in the kernel after the shutdown grace, it logs so and returns
  // without freeing the state that request uses (it belongs to the process
  // from then on).
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // StartConnection serves sock until the peer closes it or the server
  // shuts down. Takes ownership of sock and impl. mount_path is the
  // absolute host path the connection serves; it is cleaned (repeated and
  // trailing slashes dropped). Returns EINVAL, and starts nothing, if
  // mount_path is not absolute or has a "." or ".." component, if impl's
  // MaxMessageSize is 0 or its SupportedMessages is empty; ESHUTDOWN after
  // Shutdown; EAGAIN (logged) if no worker thread runs and none can start;
  // the errno of epoll_ctl or epoll_create1 if the socket cannot be
  // watched. sock is closed on every error.
  absl::Status StartConnection(unet::Socket sock, absl::string_view mount_path,
                               std::unique_ptr<ConnectionImpl> impl,
                               ConnectionOptions options = {});

  // Shutdown stops the server: later StartConnection calls fail and every
  // connection's socket is shut down, so each ends after the request it is
  // answering. Idempotent; does not wait (see Wait).
  void Shutdown();

  // Wait blocks until every connection started so far has ended. Once
  // Shutdown has been called it waits at most options().shutdown_grace
  // after it: a connection whose request (on its socket or a channel) is
  // still stuck in the kernel then is logged and left running, and still
  // counts in connections().
  void Wait();

  // connections returns the number of connections being served.
  size_t connections() const;

  // AwaitConnections blocks until at most n connections are being served
  // (each ended one has dropped all its FDs by then).
  void AwaitConnections(size_t n) const;

  // stats returns a snapshot of what the server holds.
  ServerStats stats() const;

  // rename_mu is the server-wide rename lock (pkg/lisafs/README.md §7.4).
  std::shared_mutex& rename_mu() const { return core_->rename_mu(); }

  // root returns the tree's root Node (the host's "/").
  const std::shared_ptr<Node>& root() const { return core_->root(); }

  // ctx returns the context the server logs through.
  const context::Context& ctx() const { return core_->ctx(); }
  // options returns the server's bounds.
  const ServerOptions& options() const { return core_->options(); }

 private:
  // core_ is owned, unless the destructor had to leave it to a stuck
  // request (then it is released, never freed).
  std::unique_ptr<ServerCore> core_;
};

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_SERVER_H_
