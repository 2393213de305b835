#include "runsc_shim/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "httplib.h"
#include "pkg/syserr/status_macros.h"
#include "pkg/syserr/syserr.h"
#include "runsc_shim/metrics.h"
#include "runsc_shim/validate.h"

namespace gvisor::shim {
namespace {

// DeadlineStream is httplib's view of one accepted connection: reads and
// writes wait at most io_timeout each, and none past the connection's
// deadline.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int sock, absl::Duration io_timeout, absl::Time deadline)
      : sock_(sock), io_timeout_(io_timeout), deadline_(deadline) {}

  bool is_readable() const override { return start_ < end_ || Wait(POLLIN); }
  bool is_writable() const override { return Wait(POLLOUT); }

  ssize_t read(char* ptr, size_t size) override {
    if (start_ == end_) {
      if (!Wait(POLLIN)) return -1;
      ssize_t n;
      do {
        n = recv(sock_, buf_, sizeof(buf_), 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      start_ = 0;
      end_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, end_ - start_);
    memcpy(ptr, buf_ + start_, n);
    start_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!Wait(POLLOUT)) return -1;
    ssize_t n;
    do {
      n = send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Name(getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Name(getsockname, ip, port);
  }
  int socket() const override { return sock_; }

 private:
  // Wait polls for events until io_timeout or the deadline, whichever is
  // sooner, and reports whether they came (or the peer hung up).
  bool Wait(short events) const {
    for (;;) {
      const absl::Duration left =
          std::min(io_timeout_, deadline_ - absl::Now());
      if (left <= absl::ZeroDuration()) return false;
      pollfd pfd = {sock_, events, 0};
      const int r = poll(&pfd, 1,
                         static_cast<int>(absl::ToInt64Milliseconds(
                             left + absl::Milliseconds(1))));
      if (r < 0 && errno == EINTR) continue;
      return r > 0;
    }
  }

  // Name fills ip and port from getname (getpeername, getsockname); a
  // unix socket has neither.
  void Name(int (*getname)(int, sockaddr*, socklen_t*), std::string& ip,
            int& port) const {
    ip.clear();
    port = 0;
    sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getname(sock_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return;
    char text[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
      port = ntohs(in->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
      port = ntohs(in6->sin6_port);
    }
    ip = text;
  }

  const int sock_;
  const absl::Duration io_timeout_;
  const absl::Time deadline_;
  char buf_[4096];
  size_t start_ = 0;
  size_t end_ = 0;
};

// rejecting is set on the accepting thread while it runs a connection
// that found the queue full: the connection is closed unserved.
thread_local bool rejecting = false;

// WorkerPool is httplib's task queue: its threads started up front (so
// that a failure to start one is an error of Start, not an exception in
// httplib's thread), and a queue of at most max_queued connections.
class WorkerPool final : public httplib::TaskQueue {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Start(int threads,
                                                           size_t max_queued) {
    std::unique_ptr<WorkerPool> p(new WorkerPool(max_queued));
    try {
      for (int i = 0; i < threads; ++i) {
        p->threads_.emplace_back([raw = p.get()] { raw->Work(); });
      }
    } catch (const std::system_error& e) {
      p->shutdown();
      return absl::ResourceExhaustedError(
          absl::StrCat("no thread for the metrics endpoint: ", e.what()));
    }
    return p;
  }

  ~WorkerPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (jobs_.size() < max_queued_ && !shutdown_) {
        jobs_.push_back(std::move(fn));
        cv_.notify_one();
        return;
      }
    }
    // Full: run the job here, where it only closes the connection.
    rejecting = true;
    fn();
    rejecting = false;
  }

  // shutdown runs what is queued and joins the threads. Idempotent.
  void shutdown() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  explicit WorkerPool(size_t max_queued) : max_queued_(max_queued) {}
  const size_t max_queued_;

  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [this] { return shutdown_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      try {
        fn();
      } catch (...) {
        LOG(ERROR) << "metrics endpoint: a request failed with an exception";
      }
    }
  }

  std::mutex mu_;  // guards jobs_ and shutdown_
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool shutdown_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

// Impl is httplib's server with its connection handling replaced: one
// request per connection through a DeadlineStream, and every connection
// being served known, so that Stop can cut it off.
class MetricsHttp::Impl final : public httplib::Server {
 public:
  // Pool hands the worker pool to httplib, which owns it from then on;
  // its call also says that the server runs (stop() then works).
  httplib::TaskQueue* Pool() {
    std::lock_guard<std::mutex> l(mu_);
    running_ = true;
    running_cv_.notify_all();
    return pool_.release();
  }

  void AwaitRunning() {
    std::unique_lock<std::mutex> l(mu_);
    running_cv_.wait(l, [this] { return running_; });
  }

  // CloseListener closes the listening socket of a server that never ran.
  void CloseListener() {
    const int s = svr_sock_.exchange(INVALID_SOCKET);
    if (s != INVALID_SOCKET) close(s);
  }

  // CutOff ends every connection being served and refuses the rest.
  void CutOff() {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    for (int s : active_) shutdown(s, SHUT_RDWR);
  }

  std::unique_ptr<WorkerPool> pool_;
  MetricsHttpOptions options_;

 private:
  bool process_and_close_socket(int sock) override {
    // httplib accepts without SOCK_CLOEXEC.
    fcntl(sock, F_SETFD, FD_CLOEXEC);
    bool serve;
    {
      std::lock_guard<std::mutex> l(mu_);
      serve = !stopping_ && !rejecting;
      if (serve) active_.insert(sock);
    }
    bool ok = false;
    if (serve) {
      DeadlineStream stream(sock, options_.io_timeout,
                            absl::Now() + options_.connection_timeout);
      bool closed = false;
      ok = process_request(stream, /*close_connection=*/true, closed, nullptr);
      std::lock_guard<std::mutex> l(mu_);
      active_.erase(sock);
    }
    shutdown(sock, SHUT_RDWR);
    close(sock);
    return ok;
  }

  std::mutex mu_;  // guards everything below
  std::condition_variable running_cv_;
  bool running_ = false;
  bool stopping_ = false;
  std::set<int> active_;  // connections being served (their FDs)
};

std::string MetricsAddress::ToString() const {
  if (kind == Kind::kUnix) return absl::StrCat("unix:", host);
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<MetricsAddress> ParseMetricsAddress(absl::string_view s) {
  auto bad = [s](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address \"", s, "\": ", why));
  };
  if (s.find('\0') != absl::string_view::npos) return bad("holds a NUL byte");
  MetricsAddress a;
  absl::string_view rest = s;
  if (absl::ConsumePrefix(&rest, "unix:")) {
    if (rest.empty()) return bad("nothing after unix:");
    if (rest.size() > kMaxSocketPath) {
      return bad(absl::StrCat("longer than ", kMaxSocketPath,
                              " bytes (sockaddr_un.sun_path)"));
    }
    a.kind = MetricsAddress::Kind::kUnix;
    a.host = std::string(rest);
    return a;
  }
  absl::ConsumePrefix(&rest, "tcp:");
  const size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos) {
    return bad("use HOST:PORT or unix:PATH");
  }
  absl::string_view host = rest.substr(0, colon);
  const absl::string_view port = rest.substr(colon + 1);
  if (absl::ConsumePrefix(&host, "[") && !absl::ConsumeSuffix(&host, "]")) {
    return bad("an IPv6 address in brackets lacks its ]");
  }
  if (host.empty()) return bad("no host (0.0.0.0 for every interface)");
  if (!absl::SimpleAtoi(port, &a.port) || a.port < 0 || a.port > 65535) {
    return bad("the port is not a number from 0 to 65535");
  }
  a.host = std::string(host);
  return a;
}

MetricsHttp::MetricsHttp(MetricsAddress address, std::unique_ptr<Impl> impl)
    : address_(std::move(address)), impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<MetricsHttp>> MetricsHttp::Start(
    const MetricsAddress& address, RenderFn render,
    const MetricsHttpOptions& options) {
  if (options.threads < 1 || options.io_timeout <= absl::ZeroDuration() ||
      options.connection_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "metrics endpoint: threads must be at least 1 and the timeouts "
        "positive");
  }
  auto impl = std::make_unique<Impl>();
  impl->options_ = options;
  ASSIGN_OR_RETURN(impl->pool_,
                   WorkerPool::Start(options.threads, options.max_queued));
  impl->new_task_queue = [raw = impl.get()] { return raw->Pool(); };
  impl->Get("/metrics", [render = std::move(render)](const httplib::Request&,
                                                     httplib::Response& res) {
    res.set_content(render(), kMetricsContentType);
  });
  impl->set_payload_max_length(4096);
  // httplib's default sets SO_REUSEPORT, which would let a second process
  // share the port and half the scrapes: SO_REUSEADDR only (a restart may
  // bind while old connections linger in TIME_WAIT).
  impl->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // The accepted sockets' own timeouts (DeadlineStream polls anyway).
  impl->set_read_timeout(absl::ToChronoMicroseconds(options.io_timeout));
  impl->set_write_timeout(absl::ToChronoMicroseconds(options.io_timeout));

  MetricsAddress bound = address;
  errno = 0;
  bool ok;
  if (address.kind == MetricsAddress::Kind::kUnix) {
    impl->set_address_family(AF_UNIX);
    // The socket file gets mode 0600 from the start.
    const mode_t old_umask = umask(0177);
    ok = impl->bind_to_port(address.host, 80);
    umask(old_umask);
  } else if (address.port == 0) {
    bound.port = impl->bind_to_any_port(address.host);
    ok = bound.port > 0;
  } else {
    ok = impl->bind_to_port(address.host, address.port);
  }
  if (!ok) {
    const std::string what =
        absl::StrCat("metrics endpoint on ", address.ToString());
    // httplib keeps no error of its own; bind's errno is usually left.
    return errno != 0
               ? syserr::WithContext(syserr::FromErrno(errno, "bind"), what)
               : absl::UnavailableError(absl::StrCat(what, ": cannot listen"));
  }
  std::unique_ptr<MetricsHttp> http(
      new MetricsHttp(std::move(bound), std::move(impl)));
  try {
    http->acceptor_ = std::thread([raw = http->impl_.get()] {
      try {
        raw->listen_after_bind();
      } catch (...) {
        LOG(ERROR) << "metrics endpoint: the accepting thread failed with an "
                      "exception; no more scrapes are served";
      }
    });
  } catch (const std::system_error& e) {
    http->impl_->CloseListener();
    http->stopped_ = true;
    if (address.kind == MetricsAddress::Kind::kUnix) {
      unlink(address.host.c_str());
    }
    return absl::ResourceExhaustedError(
        absl::StrCat("no thread for the metrics endpoint: ", e.what()));
  }
  // The accepting thread takes the pool as its first step; until then
  // httplib's stop() would not stop it.
  http->impl_->AwaitRunning();
  return http;
}

MetricsHttp::~MetricsHttp() { Stop(); }

void MetricsHttp::Stop() {
  if (stopped_) return;
  stopped_ = true;
  impl_->CutOff();
  impl_->stop();
  if (acceptor_.joinable()) acceptor_.join();
  if (address_.kind == MetricsAddress::Kind::kUnix) {
    unlink(address_.host.c_str());
  }
}

}  // namespace gvisor::shim
