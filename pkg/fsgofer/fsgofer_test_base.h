// FsgoferTest: the fsgofer backend through lisafs::Server with a raw client
// over a real socket pair (testing/gofer_test_base.h), and the helpers the
// fsgofer tests share.

#ifndef GVISOR_PKG_FSGOFER_FSGOFER_TEST_BASE_H_
#define GVISOR_PKG_FSGOFER_FSGOFER_TEST_BASE_H_

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "pkg/lisafs/messages.h"
#include "testing/gofer_test_base.h"

namespace gvisor::fsgofer {

class FsgoferTest : public ::gvisor::testing::GoferTest {
 protected:
  // SetStat sends req; *err is the reply's errno.
  lisafs::SetStatResp SetStat(const lisafs::SetStatReq& req, int* err) {
    ::gvisor::testing::Reply r = Call(lisafs::MID::kSetStat, req);
    *err = r.err();
    if (r.mid != 4) return {};
    return *r.As<lisafs::SetStatResp>();
  }
};

// IsRoot reports whether the process is root in the initial user namespace
// (in a user namespace, as in some sandboxes, chown to arbitrary IDs fails).
inline bool IsRoot() {
  if (geteuid() != 0) return false;
  std::string map =
      ::gvisor::testing::GoferTest::HostRead("/proc/self/uid_map");
  return map.find("4294967295") != std::string::npos;
}

// FdFlags returns fd's file status flags (F_GETFL).
inline int FdFlags(int fd) { return fcntl(fd, F_GETFL); }

}  // namespace gvisor::fsgofer

#endif  // GVISOR_PKG_FSGOFER_FSGOFER_TEST_BASE_H_
