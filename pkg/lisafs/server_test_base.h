// The fixture of the server tests (server_test, server_channel_test): a
// raw client against the fsgofer backend over a real socket pair, and a
// check, after every test, that nothing outside the served tree changed.

#ifndef GVISOR_PKG_LISAFS_SERVER_TEST_BASE_H_
#define GVISOR_PKG_LISAFS_SERVER_TEST_BASE_H_

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testing/gofer_test_base.h"

namespace gvisor::lisafs::servertest {

// kMax is the fsgofer backend's max message size.
inline constexpr uint32_t kMax = 2093056;

// ServerTest serves the fixture's tree; TearDown fails the test if a file
// outside the tree changed.
class ServerTest : public ::gvisor::testing::GoferTest {
 protected:
  // Snapshot is the state of everything outside the tree that a test must
  // not touch.
  struct Snapshot {
    std::string data;
    struct stat st;
    ssize_t xattrs;
    std::vector<std::string> names;
    bool operator==(const Snapshot& o) const {
      return data == o.data && st.st_mode == o.st.st_mode &&
             st.st_uid == o.st.st_uid && st.st_size == o.st.st_size &&
             st.st_mtim.tv_sec == o.st.st_mtim.tv_sec &&
             st.st_mtim.tv_nsec == o.st.st_mtim.tv_nsec && xattrs == o.xattrs &&
             names == o.names;
    }
  };
  Snapshot Outside() const {
    Snapshot s;
    s.data = HostRead(fixture_->outside());
    stat(fixture_->outside().c_str(), &s.st);
    s.xattrs = listxattr(fixture_->outside().c_str(), nullptr, 0);
    for (const char* n : {"x", "new", "d", "sub"}) {
      if (HostExists(fixture_->outside_dir() + "/" + n)) s.names.push_back(n);
    }
    return s;
  }
  void SetUp() override {
    GoferTest::SetUp();
    outside_ = Outside();
  }
  void TearDown() override {
    if (fixture_ != nullptr) {
      EXPECT_TRUE(Outside() == outside_) << "a file outside the tree changed";
    }
    GoferTest::TearDown();
  }
  Snapshot outside_;
};

}  // namespace gvisor::lisafs::servertest

#endif  // GVISOR_PKG_LISAFS_SERVER_TEST_BASE_H_
