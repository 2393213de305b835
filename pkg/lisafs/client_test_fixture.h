// ClientTest, the fixture of the client's tests against a scripted fake
// server: the test thread plays the server (FakeServer) on the other end of
// a real socketpair, asserts the exact request bytes, and answers with
// crafted bytes (pkg/lisafs/README.md §10 vectors where they exist), while the
// RPC runs on another thread (ClientTest::Run). Used by client_test.cc (the
// Client) and client_fd_test.cc (the ClientFD RPCs).

#ifndef GVISOR_PKG_LISAFS_CLIENT_TEST_FIXTURE_H_
#define GVISOR_PKG_LISAFS_CLIENT_TEST_FIXTURE_H_

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/lisafs/client.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/wire.h"
#include "pkg/lisafs/wire_testutil.h"
#include "pkg/lisafs/wire_vectors.h"
#include "pkg/unet/unet.h"
#include "testing/fd_count.h"

namespace gvisor::lisafs::client_test {

inline const context::Context& Ctx() { return context::Background(); }

// V2's payload with a configurable limit and MID list.
inline std::vector<uint8_t> MountFrame(uint32_t max_size,
                                       const std::vector<MID>& mids) {
  MountResp resp;
  resp.root.control_fd = 1;
  resp.root.stat = testutil::StatDev();
  resp.max_message_size = max_size;
  resp.supported_mids = mids;
  return *MarshalFrame(MID::kMount, resp);
}

inline std::vector<MID> HeadMids() {
  std::vector<MID> mids;
  for (int m = 1; m <= 33; ++m) {
    if (m != 20) mids.push_back(static_cast<MID>(m));
  }
  return mids;
}

inline std::vector<uint8_t> Frame(MID mid,
                                  const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out(kMessageHeaderSize);
  auto h = EncodeMessageHeader(static_cast<uint32_t>(payload.size()), mid);
  std::copy(h.begin(), h.end(), out.begin());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

inline std::vector<uint8_t> ErrorFrame(uint32_t err) {
  return *MarshalFrame(MID::kError, ErrorResp{.err = err});
}

// FakeServer is the server end of the connection, driven by the test.
class FakeServer {
 public:
  explicit FakeServer(unet::Socket sock) : sock_(std::move(sock)) {}

  // ReadFrame reads one whole request frame (header + payload).
  std::vector<uint8_t> ReadFrame() {
    std::vector<uint8_t> frame(kMessageHeaderSize);
    iovec h = {frame.data(), frame.size()};
    EXPECT_TRUE(sock_.RecvExact(absl::MakeConstSpan(&h, 1), 0, nullptr).ok());
    uint32_t len;
    memcpy(&len, frame.data(), 4);
    frame.resize(kMessageHeaderSize + len);
    if (len > 0) {
      iovec p = {frame.data() + kMessageHeaderSize, len};
      EXPECT_TRUE(sock_.RecvExact(absl::MakeConstSpan(&p, 1), 0, nullptr).ok());
    }
    return frame;
  }

  void Expect(const std::vector<uint8_t>& want) {
    std::vector<uint8_t> got = ReadFrame();
    EXPECT_EQ(got, want) << "got:\n"
                         << testutil::BytesToHex(got) << "want:\n"
                         << testutil::BytesToHex(want);
  }

  void Send(const std::vector<uint8_t>& frame, std::vector<int> fds = {}) {
    iovec v = {const_cast<uint8_t*>(frame.data()), frame.size()};
    ASSERT_TRUE(sock_.SendAll(absl::MakeConstSpan(&v, 1), fds).ok());
  }

  // Quiet reports whether no bytes are waiting from the client.
  bool Quiet() {
    pollfd p = {sock_.fd(), POLLIN, 0};
    return poll(&p, 1, 0) == 0;
  }

  // AtEof blocks until the client sends or closes; true if it closed.
  bool AtEof() {
    char c;
    return recv(sock_.fd(), &c, 1, MSG_PEEK) == 0;
  }

  void Close() { sock_ = unet::Socket(); }

 private:
  unet::Socket sock_;
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = testing::OpenFdCount();
    auto pair = unet::Socket::SocketPair(SOCK_STREAM);
    ASSERT_TRUE(pair.ok());
    client_sock_ = std::move(pair->first);
    server_ = std::make_unique<FakeServer>(std::move(pair->second));
  }

  void TearDown() override {
    root_ = ClientFD();
    if (mounted_.client) mounted_.client->Close();
    mounted_ = Mounted();
    server_.reset();
    client_sock_ = unet::Socket();
    EXPECT_EQ(testing::OpenFdCount(), fds_before_) << "FD leak";
  }

  // Mount runs NewClient against the fake server's answer.
  void Mount(uint32_t max_size = 0x1ff000, std::vector<MID> mids = HeadMids(),
             int donate = -1) {
    auto fut = std::async(std::launch::async, [&] {
      return NewClient(Ctx(), std::move(client_sock_));
    });
    server_->Expect(testutil::HexToBytes(vectors::kV1));
    std::vector<int> fds;
    if (donate >= 0) fds.push_back(donate);
    server_->Send(MountFrame(max_size, mids), fds);
    absl::StatusOr<Mounted> m = fut.get();
    ASSERT_TRUE(m.ok()) << m.status();
    mounted_ = std::move(*m);
    root_ = mounted_.client->NewFD(mounted_.root.control_fd);
  }

  // Run starts fn on another thread; the test then plays the server.
  template <typename F>
  auto Run(F fn) {
    return std::async(std::launch::async, fn);
  }

  int fds_before_ = 0;
  unet::Socket client_sock_;
  std::unique_ptr<FakeServer> server_;
  Mounted mounted_;
  ClientFD root_;
};

}  // namespace gvisor::lisafs::client_test

#endif  // GVISOR_PKG_LISAFS_CLIENT_TEST_FIXTURE_H_
