// GoferTest: a gtest fixture for server tests. Each test gets a fresh
// hermetic gofer (testing/gofer_fixture.h), a RawClient connected to it and
// mounted (root FDID in root_), and checks at the end that the process holds
// exactly the FDs it held before and no packet-window mapping: the server
// runs in-process, so this covers both sides of the connection.

#ifndef GVISOR_TESTING_GOFER_TEST_BASE_H_
#define GVISOR_TESTING_GOFER_TEST_BASE_H_

#include <fcntl.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/lisafs/messages.h"
#include "pkg/lisafs/wire.h"
#include "testing/gofer_fixture.h"
#include "testing/raw_client.h"

namespace gvisor::testing {

class GoferTest : public ::testing::Test {
 public:
  // HostRead returns a host file's contents ("<missing>" if absent).
  static std::string HostRead(const std::string& path);
  // HostExists reports whether path exists (lstat).
  static bool HostExists(const std::string& path);

 protected:
  using MID = lisafs::MID;
  using FDID = lisafs::FDID;

  // Options returns the fixture options; subclasses override it.
  virtual GoferOptions Options() const { return {}; }

  void SetUp() override;
  void TearDown() override;

  // Call sends req with mid and returns the reply (failing the test on a
  // transport error).
  template <lisafs::WireMessage T>
  Reply Call(MID mid, const T& req) {
    absl::StatusOr<Reply> r = client_->Call(mid, req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : Reply{};
  }

  // Errno sends req and returns the reply's errno (0 on success).
  template <lisafs::WireMessage T>
  int Errno(MID mid, const T& req) {
    Reply r = Call(mid, req);
    if (r.mid != 0) {
      EXPECT_EQ(r.mid, static_cast<uint16_t>(mid));
    }
    return r.err();
  }

  // Mount sends a Mount and returns the root FDID.
  FDID Mount(RawClient* c = nullptr);

  // Walk walks path from dir.
  lisafs::WalkResp Walk(FDID dir, std::vector<std::string> path);

  // WalkTo walks path from the root and returns the last FDID (0 unless the
  // walk succeeded all the way).
  FDID WalkTo(std::vector<std::string> path);

  // Open opens control with flags; returns the open FDID (0 on error) and
  // the donated FD in *donated if given.
  FDID Open(FDID control, uint32_t flags, fd::OwnedFd* donated = nullptr);

  // FStat returns the Statx of fd (failing the test on error).
  lisafs::Statx FStat(FDID fd);

  // HostPath returns the host path of a name in the tree.
  std::string HostPath(absl::string_view rel) const {
    return absl::StrCat(fixture_->root(), "/", rel);
  }

  std::unique_ptr<GoferFixture> fixture_;
  std::unique_ptr<RawClient> client_;
  FDID root_ = 0;
  int fds_before_ = 0;
};

}  // namespace gvisor::testing

#endif  // GVISOR_TESTING_GOFER_TEST_BASE_H_
