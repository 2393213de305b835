// The metrics endpoint scraped by a real HTTP client (httplib::Client) over
// TCP and a unix socket: the body and its Content-Type, 404 for anything
// else, the address parsing, and the endpoint's bounds.

#include "runsc_shim/metrics_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "pkg/fd/fd.h"
#include "pkg/fd/limit.h"
#include "pkg/syserr/syserr.h"
#include "runsc_shim/metrics.h"
#include "runsc_shim/testutil.h"

namespace gvisor::shim {
namespace {

using ::testing::HasSubstr;

constexpr char kBody[] =
    "# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n";

// TempSocket is a fresh socket path in a directory of its own under /tmp
// (short enough for sun_path, and no other process's); the destructor
// removes both.
struct TempSocket {
  TempSocket() {
    char dir_name[] = "/tmp/metrics_http.XXXXXX";
    EXPECT_NE(mkdtemp(dir_name), nullptr) << strerror(errno);
    dir = dir_name;
    path = dir + "/m.sock";
  }
  ~TempSocket() {
    unlink(path.c_str());
    rmdir(dir.c_str());
  }
  std::string dir;
  std::string path;
};

std::unique_ptr<MetricsHttp> StartOn(const std::string& address,
                                     const MetricsHttpOptions& options = {}) {
  absl::StatusOr<MetricsAddress> a = ParseMetricsAddress(address);
  EXPECT_TRUE(a.ok()) << a.status();
  if (!a.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<MetricsHttp>> http = MetricsHttp::Start(
      *a, [] { return std::string(kBody); }, options);
  EXPECT_TRUE(http.ok()) << http.status();
  return http.ok() ? *std::move(http) : nullptr;
}

TEST(MetricsHttpTest, TcpScrapeGetsTheTextWithTheExpositionContentType) {
  auto http = StartOn("127.0.0.1:0");
  ASSERT_NE(http, nullptr);
  ASSERT_GT(http->address().port, 0);
  EXPECT_EQ(http->address().ToString(),
            absl::StrCat("127.0.0.1:", http->address().port));
  httplib::Client client("127.0.0.1", http->address().port);
  for (int i = 0; i < 3; ++i) {  // one connection per request
    httplib::Result res = client.Get("/metrics");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, kBody);
    EXPECT_EQ(res->get_header_value("Content-Type"), kMetricsContentType);
    EXPECT_EQ(res->get_header_value("Connection"), "close");
  }
}

TEST(MetricsHttpTest, UnixSocketScrapeAndTheSocketFileIsPrivate) {
  TempSocket sock;
  const std::string& path = sock.path;
  auto http = StartOn(absl::StrCat("unix:", path));
  ASSERT_NE(http, nullptr);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  httplib::Client client(path, 80);
  client.set_address_family(AF_UNIX);
  httplib::Result res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, kBody);
  http->Stop();
  EXPECT_NE(stat(path.c_str(), &st), 0) << "the socket file outlived Stop";
}

TEST(MetricsHttpTest, EveryOtherPathIsNotFound) {
  auto http = StartOn("127.0.0.1:0");
  ASSERT_NE(http, nullptr);
  httplib::Client client("127.0.0.1", http->address().port);
  for (const char* path : {"/", "/metric", "/metrics/x", "/favicon.ico"}) {
    httplib::Result res = client.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
  }
  httplib::Result post = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
}

// A second endpoint on the same port is refused (no SO_REUSEPORT sharing).
TEST(MetricsHttpTest, AnAddressInUseIsRefusedWithItsErrno) {
  auto first = StartOn("127.0.0.1:0");
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<MetricsHttp>> second =
      MetricsHttp::Start(first->address(), [] { return std::string(); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(syserr::ToErrno(second.status()), EADDRINUSE) << second.status();
  EXPECT_THAT(second.status().message(),
              HasSubstr(first->address().ToString()));
}

// A scrape is served whatever its connection's FD number: a shim with a
// thousand containers holds FDs past FD_SETSIZE, which select(2) could not
// watch.
TEST(MetricsHttpTest, ServesAConnectionWhoseFdIsPastFdSetsize) {
  ASSERT_TRUE(fd::RaiseFdLimit().ok());
  std::vector<fd::OwnedFd> filler;
  while (true) {
    fd::OwnedFd f(fcntl(0, F_DUPFD_CLOEXEC, 0));
    ASSERT_TRUE(f.valid()) << strerror(errno);
    const int n = f.get();
    filler.push_back(std::move(f));
    if (n > FD_SETSIZE + 16) break;
  }
  auto http = StartOn("127.0.0.1:0");
  ASSERT_NE(http, nullptr);
  httplib::Client client("127.0.0.1", http->address().port);
  httplib::Result res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, kBody);
}

// The connection being served is close-on-exec, as every other socket of
// the process: a child the shim starts (a managed gofer) must not inherit
// a scrape's connection. httplib accepts without SOCK_CLOEXEC.
TEST(MetricsHttpTest, TheServedConnectionIsCloseOnExec) {
  std::mutex mu;  // guards inheritable
  std::vector<int> inheritable;
  absl::StatusOr<MetricsAddress> a = ParseMetricsAddress("127.0.0.1:0");
  ASSERT_TRUE(a.ok());
  absl::StatusOr<std::unique_ptr<MetricsHttp>> http =
      MetricsHttp::Start(*a, [&mu, &inheritable] {
        std::lock_guard<std::mutex> l(mu);
        // Runs while the connection is served: every socket of this
        // process (listener, this connection, the client's) is checked.
        for (int fd = 0; fd < 1024; ++fd) {
          struct stat st;
          if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
          if ((fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0) {
            inheritable.push_back(fd);
          }
        }
        return std::string(kBody);
      });
  ASSERT_TRUE(http.ok()) << http.status();
  httplib::Client client("127.0.0.1", (*http)->address().port);
  httplib::Result res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  std::lock_guard<std::mutex> l(mu);
  EXPECT_THAT(inheritable, ::testing::IsEmpty());
}

// Stop does not wait for a client that never finishes its request: the
// connection is cut off.
TEST(MetricsHttpTest, StopCutsOffAClientThatNeverFinishesItsRequest) {
  auto http = StartOn("127.0.0.1:0");
  ASSERT_NE(http, nullptr);
  fd::OwnedFd c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(c.valid());
  sockaddr_in sin = {};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(http->address().port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(c.get(), reinterpret_cast<sockaddr*>(&sin), sizeof(sin)),
            0);
  const char partial[] = "GET /metr";
  ASSERT_EQ(write(c.get(), partial, sizeof(partial) - 1),
            static_cast<ssize_t>(sizeof(partial) - 1));
  http->Stop();
  // The end of the stream, or a reset if the server closed it before
  // reading what was sent.
  char b;
  const ssize_t n = read(c.get(), &b, 1);
  EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET))
      << "read " << n << ": " << strerror(errno);
}

// Connect opens a TCP connection to port on the loopback address.
fd::OwnedFd Connect(int port) {
  fd::OwnedFd c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(c.valid());
  sockaddr_in sin = {};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(c.get(), reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0)
      << strerror(errno);
  return c;
}

// Closed reports whether the server has ended c (the end of the stream or
// a reset) before any byte of a response came.
bool ClosedUnanswered(int c) {
  char b;
  const ssize_t n = read(c, &b, 1);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// A client that trickles its request, a byte at a time within each read's
// timeout, is cut off at MetricsHttpOptions::connection_timeout (5 s).
TEST(MetricsHttpTest, AClientThatTricklesItsRequestIsCutOff) {
  auto http = StartOn("127.0.0.1:0");
  ASSERT_NE(http, nullptr);
  fd::OwnedFd c = Connect(http->address().port);
  const std::string start = "GET /metrics HTTP/1.1\r\nX-Slow: ";
  ASSERT_EQ(write(c.get(), start.data(), start.size()),
            static_cast<ssize_t>(start.size()));
  // One byte every 200 ms (well within io_timeout, 1 s) until the server
  // hangs up; without the connection's deadline it never would (the header
  // may grow to 8 KiB). 150 bytes is 30 s, far past connection_timeout.
  bool closed = false;
  for (int i = 0; i < 150 && !closed; ++i) {
    pollfd pfd = {c.get(), POLLIN, 0};
    if (poll(&pfd, 1, 200) > 0) {
      closed = ClosedUnanswered(c.get());
      break;
    }
    if (send(c.get(), "a", 1, MSG_NOSIGNAL) != 1) closed = true;
  }
  EXPECT_TRUE(closed);
}

// ConnectUnix opens a connection to the unix socket at path.
fd::OwnedFd ConnectUnix(const std::string& path) {
  fd::OwnedFd c(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(c.valid());
  sockaddr_un sun = {};
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path.data(), path.size());
  EXPECT_EQ(connect(c.get(), reinterpret_cast<sockaddr*>(&sun), sizeof(sun)), 0)
      << strerror(errno);
  return c;
}

// ExpectQueueBound checks, on an endpoint with bounds, that past its busy
// threads and its max_queued waiting connections a new connection is
// closed at once, unserved, and that it serves again once the queue drains.
void ExpectQueueBound(const MetricsHttpOptions& bounds) {
  TempSocket sock;
  const std::string& path = sock.path;
  auto http = StartOn(absl::StrCat("unix:", path), bounds);
  ASSERT_NE(http, nullptr);
  // Each holds a thread, or a place in the queue, with a request that has
  // not ended (for io_timeout). If the threads have not taken their first
  // connections yet, the last holders find the queue full already and are
  // closed: their writes may fail.
  std::vector<fd::OwnedFd> holders;
  const size_t held = static_cast<size_t>(bounds.threads) + bounds.max_queued;
  for (size_t i = 0; i < held; ++i) {
    holders.push_back(ConnectUnix(path));
    (void)send(holders.back().get(), "GET", 3, MSG_NOSIGNAL);
  }
  fd::OwnedFd extra = ConnectUnix(path);
  const char request[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  (void)send(extra.get(), request, sizeof(request) - 1, MSG_NOSIGNAL);
  EXPECT_TRUE(ClosedUnanswered(extra.get()));
  holders.clear();  // each of them ends at once: the queue drains
  httplib::Client client(path, 80);
  client.set_address_family(AF_UNIX);
  // No event says when the threads have drained the queue.
  EXPECT_TRUE(testutil::WaitFor([&] {
    httplib::Result res = client.Get("/metrics");
    return res && res->status == 200 && res->body == kBody;
  }));
}

// Past its busy threads and max_queued waiting connections, a new
// connection is closed at once, unserved; the endpoint serves again once
// the queue drains. (Over a unix socket, whose connects wait for the
// accepting thread rather than retry a dropped SYN a second later, so that
// the queue fills while the busy threads still wait for their requests.)
TEST(MetricsHttpTest, PastTheQueueANewConnectionIsClosedAtOnce) {
  ExpectQueueBound(MetricsHttpOptions());
}

// The bounds are the options': one thread and one waiting connection.
TEST(MetricsHttpTest, TheQueueBoundIsTheOptions) {
  MetricsHttpOptions bounds;
  bounds.threads = 1;
  bounds.max_queued = 1;
  ExpectQueueBound(bounds);
}

TEST(MetricsHttpTest, OptionsOutOfRangeAreRefused) {
  absl::StatusOr<MetricsAddress> a = ParseMetricsAddress("127.0.0.1:0");
  ASSERT_TRUE(a.ok());
  for (MetricsHttpOptions o :
       {MetricsHttpOptions{0}, MetricsHttpOptions{1, absl::ZeroDuration()},
        MetricsHttpOptions{1, absl::Seconds(1), absl::ZeroDuration()}}) {
    EXPECT_EQ(MetricsHttp::Start(
                  *a, [] { return std::string(); }, o)
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(ParseMetricsAddressTest, AcceptsHostPortTcpAndUnix) {
  struct Case {
    const char* in;
    MetricsAddress::Kind kind;
    const char* host;
    int port;
    const char* out;
  };
  for (const Case& k : {
           Case{"127.0.0.1:9464", MetricsAddress::Kind::kTcp, "127.0.0.1", 9464,
                "127.0.0.1:9464"},
           Case{"tcp:localhost:0", MetricsAddress::Kind::kTcp, "localhost", 0,
                "localhost:0"},
           Case{"[::1]:80", MetricsAddress::Kind::kTcp, "::1", 80, "[::1]:80"},
           Case{"unix:/run/m.sock", MetricsAddress::Kind::kUnix, "/run/m.sock",
                0, "unix:/run/m.sock"},
       }) {
    absl::StatusOr<MetricsAddress> a = ParseMetricsAddress(k.in);
    ASSERT_TRUE(a.ok()) << k.in << ": " << a.status();
    EXPECT_EQ(a->kind, k.kind) << k.in;
    EXPECT_EQ(a->host, k.host) << k.in;
    EXPECT_EQ(a->port, k.port) << k.in;
    EXPECT_EQ(a->ToString(), k.out) << k.in;
  }
}

TEST(ParseMetricsAddressTest, RefusesWhatIsNoAddress) {
  for (const std::string& in :
       {std::string("9464"), std::string(":9464"), std::string("host:"),
        std::string("host:65536"), std::string("host:-1"),
        std::string("host:http"), std::string("[::1:80"), std::string("unix:"),
        std::string("unix:/a\0b", 9),
        absl::StrCat("unix:/", std::string(200, 'x'))}) {
    absl::StatusOr<MetricsAddress> a = ParseMetricsAddress(in);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << in;
  }
}

}  // namespace
}  // namespace gvisor::shim
