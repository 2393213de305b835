// MetricsHttp: the HTTP endpoint that Prometheus scrapes, GET /metrics, on
// a TCP address or a unix socket. It is cpp-httplib's server (Debian's
// libcpp-httplib), bounded (MetricsHttpOptions): its threads serve one
// request per connection each (the response says "Connection: close"),
// every read and write waits at most io_timeout and a connection lives at
// most connection_timeout; past max_queued connections waiting for a
// thread, a new one is closed at once. Every other path is 404. The body is
// whatever the render function returns (Metrics::Render), as
// kMetricsContentType. No gRPC here; the shim's Server (server.h) starts and
// stops it.

#ifndef GVISOR_RUNSC_SHIM_METRICS_HTTP_H_
#define GVISOR_RUNSC_SHIM_METRICS_HTTP_H_

#include <stddef.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gvisor::shim {

// MetricsAddress is a parsed --metrics_listen value.
struct MetricsAddress {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  // host: for kTcp a host name or address (an IPv6 one without brackets);
  // for kUnix the socket's path.
  std::string host;
  // port: for kTcp; 0 picks a free one (MetricsHttp::address() has it).
  int port = 0;

  // ToString returns the address as ParseMetricsAddress accepts it:
  // "127.0.0.1:9464", "[::1]:9464", "unix:/run/x.sock".
  std::string ToString() const;
};

// ParseMetricsAddress accepts "HOST:PORT" (also "tcp:HOST:PORT"; IPv6 as
// "[::1]:PORT") and "unix:PATH". A missing host or port, a port past
// 65535, a NUL byte, or a path too long for sockaddr_un is
// INVALID_ARGUMENT.
absl::StatusOr<MetricsAddress> ParseMetricsAddress(absl::string_view s);

// MetricsHttpOptions bound what a scraper (anyone who can reach the
// endpoint) can make the endpoint spend; the shim's --metrics_threads,
// --metrics_io_timeout, --metrics_connection_timeout and
// --metrics_max_queued set them.
struct MetricsHttpOptions {
  // threads serve requests (at least 1); the server also runs one
  // accepting thread.
  int threads = 2;
  // io_timeout bounds each wait for a request's bytes or for room to write
  // the response (positive).
  absl::Duration io_timeout = absl::Seconds(1);
  // connection_timeout bounds a connection from the moment a thread takes
  // it: a client that trickles its request is cut off (positive).
  absl::Duration connection_timeout = absl::Seconds(5);
  // max_queued bounds the connections accepted and waiting for a thread;
  // past it a connection is closed unserved.
  size_t max_queued = 16;
};

class MetricsHttp {
 public:
  using RenderFn = std::function<std::string()>;

  // Start listens on address and serves render()'s text on GET /metrics.
  // render runs on the server's threads, several at once. For a unix
  // address the socket file is created with mode 0600, and nothing may be
  // at the path yet (EADDRINUSE otherwise). A bind that fails carries its
  // errno and the code pkg/syserr gives it (EADDRINUSE: ALREADY_EXISTS;
  // UNAVAILABLE when httplib left none); no thread is RESOURCE_EXHAUSTED.
  // Errors name the endpoint ("metrics endpoint on 127.0.0.1:9464: ...").
  // INVALID_ARGUMENT for options out of their ranges.
  static absl::StatusOr<std::unique_ptr<MetricsHttp>> Start(
      const MetricsAddress& address, RenderFn render,
      const MetricsHttpOptions& options = {});

  // The destructor stops (Stop).
  ~MetricsHttp();
  MetricsHttp(const MetricsHttp&) = delete;
  MetricsHttp& operator=(const MetricsHttp&) = delete;

  // Stop closes the listening socket, cuts off the connections being
  // served, waits for the server's threads and removes a unix socket file.
  // It returns within about options.io_timeout. Idempotent.
  void Stop();

  // address is where it listens, with the port it bound for port 0.
  const MetricsAddress& address() const { return address_; }

 private:
  class Impl;
  MetricsHttp(MetricsAddress address, std::unique_ptr<Impl> impl);

  MetricsAddress address_;
  std::unique_ptr<Impl> impl_;
  std::thread acceptor_;
  bool stopped_ = false;
};

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_METRICS_HTTP_H_
