#include "testing/gofer_test_base.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

namespace gvisor::testing {

void GoferTest::SetUp() {
  fds_before_ = OpenFdCount();
  absl::StatusOr<Gofer> g = StartGofer(Options());
  ASSERT_TRUE(g.ok()) << g.status();
  fixture_ = std::move(g->fixture);
  client_ = std::make_unique<RawClient>(std::move(g->client));
  root_ = Mount();
  ASSERT_NE(root_, 0u);
}

void GoferTest::TearDown() {
  client_.reset();
  fixture_.reset();
  EXPECT_EQ(OpenFdCount(), fds_before_) << "FD leak";
  EXPECT_EQ(WindowMappingCount(), 0) << "packet window mapping leak";
}

lisafs::FDID GoferTest::Mount(RawClient* c) {
  if (c == nullptr) c = client_.get();
  absl::StatusOr<Reply> r = c->CallBytes(1, {});
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok() || r->mid != 1) return 0;
  absl::StatusOr<lisafs::MountResp> m = r->As<lisafs::MountResp>();
  EXPECT_TRUE(m.ok());
  return m.ok() ? m->root.control_fd : 0;
}

lisafs::WalkResp GoferTest::Walk(FDID dir, std::vector<std::string> path) {
  lisafs::WalkReq req;
  req.dir_fd = dir;
  req.path = std::move(path);
  Reply r = Call(MID::kWalk, req);
  EXPECT_EQ(r.mid, static_cast<uint16_t>(MID::kWalk)) << "errno " << r.err();
  absl::StatusOr<lisafs::WalkResp> w = r.As<lisafs::WalkResp>();
  return w.ok() ? *std::move(w) : lisafs::WalkResp{};
}

lisafs::FDID GoferTest::WalkTo(std::vector<std::string> path) {
  size_t n = path.size();
  lisafs::WalkResp w = Walk(root_, std::move(path));
  if (w.status != lisafs::WalkStatus::kSuccess || w.inodes.size() != n ||
      n == 0) {
    ADD_FAILURE() << "walk did not reach the end";
    return 0;
  }
  return w.inodes.back().control_fd;
}

lisafs::FDID GoferTest::Open(FDID control, uint32_t flags,
                             fd::OwnedFd* donated) {
  lisafs::OpenAtReq req;
  req.fd = control;
  req.flags = flags;
  Reply r = Call(MID::kOpenAt, req);
  if (r.mid != static_cast<uint16_t>(MID::kOpenAt)) return 0;
  if (donated != nullptr && !r.fds.empty()) *donated = std::move(r.fds[0]);
  absl::StatusOr<lisafs::OpenAtResp> o = r.As<lisafs::OpenAtResp>();
  return o.ok() ? o->open_fd : 0;
}

lisafs::Statx GoferTest::FStat(FDID fd) {
  lisafs::StatReq req;
  req.fd = fd;
  Reply r = Call(MID::kFStat, req);
  EXPECT_EQ(r.mid, static_cast<uint16_t>(MID::kFStat)) << "errno " << r.err();
  absl::StatusOr<lisafs::Statx> st = r.As<lisafs::Statx>();
  return st.ok() ? *st : lisafs::Statx{};
}

std::string GoferTest::HostRead(const std::string& path) {
  fd::OwnedFd f(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!f.valid()) return "<missing>";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(f.get(), buf, sizeof(buf))) > 0) out.append(buf, n);
  return out;
}

bool GoferTest::HostExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

}  // namespace gvisor::testing
