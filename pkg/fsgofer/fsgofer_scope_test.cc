// The fsgofer backend with an allowlist (Options::allowlist): hidden files
// behave as absent on every RPC that names or lists a file, and names the
// scope would hide cannot be created. A real tree with regular files,
// directories, FIFOs, symlinks and (when mknod is permitted) device nodes,
// and the host's /dev served read-only under a device-number rule.

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "pkg/devscope/allowlist.h"
#include "pkg/fsgofer/fsgofer.h"
#include "pkg/lisafs/messages.h"
#include "pkg/unet/unet.h"
#include "testing/gofer_fixture.h"
#include "testing/raw_client.h"

namespace gvisor::fsgofer {
namespace {

using ::gvisor::testing::RawClient;
using ::gvisor::testing::Reply;
using lisafs::FDID;
using lisafs::MID;
using lisafs::WalkStatus;

// kHiddenInBig is how many hidden entries "big" holds before its one
// visible entry: many more than one small Getdents64 batch.
constexpr int kHiddenInBig = 400;

const std::vector<std::string>& Rules() {
  static const auto* const r = new std::vector<std::string>{
      "allowed_file", "nv[0-9]*", "caps/a*", "lib",
      "big/zz",       "fifo_ok",  "link_ok", "c 1:3",
  };
  return *r;
}

void Touch(const std::string& path) {
  fd::OwnedFd f(open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  ASSERT_TRUE(f.valid()) << path;
}

class ScopeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<::gvisor::testing::GoferFixture>> f =
        ::gvisor::testing::GoferFixture::Create();
    ASSERT_TRUE(f.ok()) << f.status();
    fixture_ = *std::move(f);
    std::string tmpl = "/tmp/scope_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_path_ = tmpl;
    for (const char* dir : {"caps", "caps/sub", "lib", "lib/y", "big"}) {
      ASSERT_EQ(mkdir(Host(dir).c_str(), 0755), 0) << dir;
    }
    for (const char* name :
         {"allowed_file", "hidden_file", "nv0", "nv12", "nvx", "caps/a1",
          "caps/b1", "caps/sub/x", "lib/x", "lib/y/z"}) {
      Touch(Host(name));
    }
    for (int i = 0; i < kHiddenInBig; ++i) {
      Touch(Host(absl::StrFormat("big/h%03d", i)));
    }
    Touch(Host("big/zz"));
    ASSERT_EQ(mkfifo(Host("fifo_ok").c_str(), 0644), 0);
    ASSERT_EQ(mkfifo(Host("fifo").c_str(), 0644), 0);
    ASSERT_EQ(symlink("hidden_file", Host("link_ok").c_str()), 0);
    ASSERT_EQ(symlink("allowed_file", Host("hidden_link").c_str()), 0);
    devices_ =
        mknod(Host("cnull").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0 &&
        mknod(Host("czero").c_str(), S_IFCHR | 0666, makedev(1, 5)) == 0;
    if (!devices_) {
      unlink(Host("cnull").c_str());
      unlink(Host("czero").c_str());
    }
    absl::StatusOr<devscope::Allowlist> a = devscope::Allowlist::Parse(Rules());
    ASSERT_TRUE(a.ok()) << a.status();
    allowlist_ = std::make_shared<const devscope::Allowlist>(*std::move(a));
    Options o;
    o.allowlist = allowlist_;
    o.char_devices = CharDevicePolicy::kPassthrough;
    o.host_fifo_open = true;
    o.host_uds_create = true;
    o.donate_mount_fd = true;  // never honoured with a scope
    ASSERT_NO_FATAL_FAILURE(Start(root_path_, o, false));
  }

  void TearDown() override {
    client_.reset();
    fixture_.reset();
    if (!root_path_.empty()) ::gvisor::testing::RemoveTree(root_path_);
  }

  // Start connects client_ to a new connection on path and mounts it.
  void Start(const std::string& path, Options o, bool readonly) {
    absl::StatusOr<std::pair<unet::Socket, unet::Socket>> pair =
        unet::Socket::SocketPair(SOCK_STREAM);
    ASSERT_TRUE(pair.ok());
    lisafs::ConnectionOptions copts;
    copts.readonly = readonly;
    ASSERT_TRUE(fixture_->server()
                    .StartConnection(std::move(pair->second), path,
                                     std::make_unique<Connection>(o), copts)
                    .ok());
    client_ = std::make_unique<RawClient>(pair->first.Release());
    absl::StatusOr<Reply> m = client_->CallBytes(1, {});
    ASSERT_TRUE(m.ok());
    ASSERT_EQ(m->mid, 1) << m->err();
    mount_fds_ = m->fds.size();
    root_ = m->As<lisafs::MountResp>()->root.control_fd;
  }

  std::string Host(absl::string_view rel) const {
    return absl::StrCat(root_path_, "/", rel);
  }

  template <lisafs::WireMessage T>
  Reply Call(MID mid, const T& req) {
    absl::StatusOr<Reply> r = client_->Call(mid, req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : Reply{};
  }
  template <lisafs::WireMessage T>
  int Errno(MID mid, const T& req) {
    return Call(mid, req).err();
  }

  lisafs::WalkResp Walk(FDID dir, std::vector<std::string> path) {
    lisafs::WalkReq req{dir, std::move(path)};
    Reply r = Call(MID::kWalk, req);
    EXPECT_EQ(r.mid, static_cast<uint16_t>(MID::kWalk)) << r.err();
    absl::StatusOr<lisafs::WalkResp> w = r.As<lisafs::WalkResp>();
    return w.ok() ? *std::move(w) : lisafs::WalkResp{};
  }
  FDID WalkTo(std::vector<std::string> path) {
    size_t n = path.size();
    lisafs::WalkResp w = Walk(root_, std::move(path));
    if (w.status != WalkStatus::kSuccess || w.inodes.size() != n) return 0;
    return w.inodes.back().control_fd;
  }
  size_t WalkStatCount(FDID dir, std::vector<std::string> path) {
    lisafs::WalkReq req{dir, std::move(path)};
    Reply r = Call(MID::kWalkStat, req);
    EXPECT_EQ(r.mid, static_cast<uint16_t>(MID::kWalkStat)) << r.err();
    absl::StatusOr<lisafs::WalkStatResp> w = r.As<lisafs::WalkStatResp>();
    return w.ok() ? w->stats.size() : 0;
  }
  FDID Open(FDID control, uint32_t flags, size_t* donated = nullptr) {
    lisafs::OpenAtReq req;
    req.fd = control;
    req.flags = flags;
    Reply r = Call(MID::kOpenAt, req);
    if (r.mid != static_cast<uint16_t>(MID::kOpenAt)) return 0;
    if (donated != nullptr) *donated = r.fds.size();
    return r.As<lisafs::OpenAtResp>()->open_fd;
  }
  // Batch returns one Getdents64 answer's names (count < 0 seeks to 0).
  std::vector<std::string> Batch(FDID open, int32_t count) {
    lisafs::Getdents64Req req;
    req.dir_fd = open;
    req.count = count;
    Reply r = Call(MID::kGetdents64, req);
    EXPECT_EQ(r.mid, static_cast<uint16_t>(MID::kGetdents64)) << r.err();
    std::vector<std::string> out;
    absl::StatusOr<lisafs::Getdents64Resp> d = r.As<lisafs::Getdents64Resp>();
    if (d.ok()) {
      for (const auto& e : d->dirents) out.push_back(e.name);
    }
    return out;
  }
  // List lists a directory to its end in batches of count bytes; every
  // batch before the last (empty) one must be non-empty.
  std::set<std::string> List(FDID dir, int32_t count = 65536) {
    FDID o = Open(dir, O_RDONLY);
    EXPECT_NE(o, 0u);
    std::set<std::string> out;
    for (int i = 0; i < 10000; ++i) {
      std::vector<std::string> b = Batch(o, count);
      if (b.empty()) break;
      out.insert(b.begin(), b.end());
    }
    return out;
  }
  lisafs::CreateCommon In(FDID dir, uint16_t mode) {
    return lisafs::CreateCommon{dir, lisafs::kNoUID, lisafs::kNoGID, mode, 0,
                                0};
  }
  bool HostExists(absl::string_view rel) {
    struct stat st;
    return lstat(Host(rel).c_str(), &st) == 0;
  }

  std::unique_ptr<::gvisor::testing::GoferFixture> fixture_;
  std::string root_path_;
  bool devices_ = false;
  std::shared_ptr<const devscope::Allowlist> allowlist_;
  std::unique_ptr<RawClient> client_;
  FDID root_ = 0;
  size_t mount_fds_ = 0;
};

// --- Allowed, globbed, denied by path, denied by number -------------------

TEST_F(ScopeTest, WalkReachesAllowedAndGlobbedNames) {
  for (std::vector<std::string> path :
       std::vector<std::vector<std::string>>{{"allowed_file"},
                                             {"nv0"},
                                             {"nv12"},
                                             {"caps"},
                                             {"caps", "a1"},
                                             {"lib", "y", "z"},
                                             {"big", "zz"},
                                             {"fifo_ok"},
                                             {"link_ok"}}) {
    EXPECT_NE(WalkTo(path), 0u) << path.back();
    EXPECT_EQ(WalkStatCount(root_, path), path.size()) << path.back();
  }
}

TEST_F(ScopeTest, HiddenNamesWalkAsMissingOnes) {
  lisafs::WalkResp missing = Walk(root_, {"no_such_name"});
  ASSERT_EQ(missing.status, WalkStatus::kComponentDoesNotExist);
  ASSERT_TRUE(missing.inodes.empty());
  for (const char* name :
       {"hidden_file", "nvx", "fifo", "hidden_link", "czero"}) {
    lisafs::WalkResp w = Walk(root_, {name, "more"});
    EXPECT_EQ(w.status, WalkStatus::kComponentDoesNotExist) << name;
    EXPECT_TRUE(w.inodes.empty()) << name;
    EXPECT_EQ(WalkStatCount(root_, {name}), 0u) << name;
  }
  // Stopped at the first hidden component, with the inodes before it.
  lisafs::WalkResp w = Walk(root_, {"caps", "b1"});
  EXPECT_EQ(w.status, WalkStatus::kComponentDoesNotExist);
  EXPECT_EQ(w.inodes.size(), 1u);
  w = Walk(root_, {"caps", "sub", "x"});
  EXPECT_EQ(w.status, WalkStatus::kComponentDoesNotExist);
  EXPECT_EQ(w.inodes.size(), 1u);
  EXPECT_EQ(WalkStatCount(root_, {"caps", "sub", "x"}), 1u);
  w = Walk(root_, {"big", "h000"});
  EXPECT_EQ(w.inodes.size(), 1u);
  EXPECT_EQ(w.status, WalkStatus::kComponentDoesNotExist);
}

TEST_F(ScopeTest, AWalkNeverOpensAHiddenFile) {
  // inotify reports every open but O_PATH ones; stats report nothing.
  fd::OwnedFd in(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  ASSERT_TRUE(in.valid());
  int shown =
      inotify_add_watch(in.get(), Host("allowed_file").c_str(), IN_OPEN);
  int hidden =
      inotify_add_watch(in.get(), Host("hidden_file").c_str(), IN_OPEN);
  int fifo = inotify_add_watch(in.get(), Host("fifo").c_str(), IN_OPEN);
  ASSERT_GE(shown, 0);
  ASSERT_GE(hidden, 0);
  ASSERT_GE(fifo, 0);
  for (const char* name : {"hidden_file", "fifo"}) {
    EXPECT_EQ(Walk(root_, {name}).status, WalkStatus::kComponentDoesNotExist);
    EXPECT_EQ(WalkStatCount(root_, {name}), 0u);
  }
  ASSERT_NE(WalkTo({"allowed_file"}), 0u);  // the watch works: one event
  alignas(struct inotify_event) char buf[4096];
  std::set<int> opened;
  for (;;) {
    ssize_t n = read(in.get(), buf, sizeof(buf));
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* e = reinterpret_cast<const struct inotify_event*>(buf + off);
      if (e->mask & IN_OPEN) opened.insert(e->wd);
      off += sizeof(struct inotify_event) + e->len;
    }
  }
  EXPECT_EQ(opened, std::set<int>{shown});
}

TEST_F(ScopeTest, DeviceNumberRulesAllowOnlyTheirDevices) {
  if (!devices_) GTEST_SKIP() << "mknod of character devices not permitted";
  FDID null = WalkTo({"cnull"});
  ASSERT_NE(null, 0u);
  size_t donated = 0;
  EXPECT_NE(Open(null, O_RDWR, &donated), 0u);
  EXPECT_EQ(donated, 1u);
  EXPECT_EQ(Walk(root_, {"czero"}).status, WalkStatus::kComponentDoesNotExist);
  EXPECT_EQ(List(root_).count("czero"), 0u);
  EXPECT_EQ(List(root_).count("cnull"), 1u);
}

// --- Listing --------------------------------------------------------------

TEST_F(ScopeTest, ListingShowsOnlyVisibleEntries) {
  std::set<std::string> want = {"allowed_file", "nv0", "nv12",    "caps",
                                "lib",          "big", "fifo_ok", "link_ok"};
  if (devices_) want.insert("cnull");
  EXPECT_EQ(List(root_), want);
  EXPECT_EQ(List(WalkTo({"caps"})), (std::set<std::string>{"a1"}));
  EXPECT_EQ(List(WalkTo({"lib"})), (std::set<std::string>{"x", "y"}));
  EXPECT_EQ(List(WalkTo({"big"})), (std::set<std::string>{"zz"}));
}

TEST_F(ScopeTest, ABatchOfHiddenEntriesDoesNotEndTheListing) {
  // Each 300-byte read of "big" holds a few entries, nearly all hidden: the
  // server reads on until it has a visible one or the directory ends, so
  // the only empty answer is the last.
  FDID o = Open(WalkTo({"big"}), O_RDONLY);
  ASSERT_NE(o, 0u);
  EXPECT_EQ(Batch(o, 300), std::vector<std::string>{"zz"});
  EXPECT_TRUE(Batch(o, 300).empty());
  EXPECT_EQ(Batch(o, -300), std::vector<std::string>{"zz"}) << "after seek0";
}

// --- Naming RPCs ------------------------------------------------------------

TEST_F(ScopeTest, RemovingOrRenamingAHiddenNameIsENOENT) {
  FDID caps = WalkTo({"caps"});
  ASSERT_NE(caps, 0u);
  for (auto [dir, name] :
       std::vector<std::pair<FDID, std::string>>{{root_, "hidden_file"},
                                                 {root_, "fifo"},
                                                 {root_, "hidden_link"},
                                                 {caps, "b1"},
                                                 {root_, "no_such_name"}}) {
    lisafs::UnlinkAtReq u{dir, 0, name};
    EXPECT_EQ(Errno(MID::kUnlinkAt, u), ENOENT) << name;
    lisafs::RenameAtReq r{dir, root_, name, "nv5"};
    EXPECT_EQ(Errno(MID::kRenameAt, r), ENOENT) << name;
  }
  lisafs::UnlinkAtReq rmdir{caps, AT_REMOVEDIR, "sub"};
  EXPECT_EQ(Errno(MID::kUnlinkAt, rmdir), ENOENT);
  EXPECT_TRUE(HostExists("hidden_file"));
  EXPECT_TRUE(HostExists("caps/b1"));
  EXPECT_TRUE(HostExists("caps/sub"));
  EXPECT_FALSE(HostExists("nv5"));
  // A visible name is removed as usual.
  lisafs::UnlinkAtReq u{root_, 0, "nv0"};
  EXPECT_EQ(Errno(MID::kUnlinkAt, u), 0);
  EXPECT_FALSE(HostExists("nv0"));
}

TEST_F(ScopeTest, CreatingANameTheScopeHidesIsEACCESAndMakesNothing) {
  FDID caps = WalkTo({"caps"});
  FDID allowed = WalkTo({"allowed_file"});
  ASSERT_NE(caps, 0u);
  ASSERT_NE(allowed, 0u);
  // New names outside the scope, and hidden names that exist (which must
  // not answer EEXIST).
  for (auto [dir, name] :
       std::vector<std::pair<FDID, std::string>>{{root_, "new_name"},
                                                 {root_, "hidden_file"},
                                                 {caps, "b2"},
                                                 {caps, "b1"},
                                                 {caps, "sub"}}) {
    std::string what = name;
    lisafs::MkdirAtReq mk{In(dir, 0755), name};
    EXPECT_EQ(Errno(MID::kMkdirAt, mk), EACCES) << what;
    lisafs::MknodAtReq mn;
    mn.common = In(dir, S_IFREG | 0644);
    mn.name = name;
    EXPECT_EQ(Errno(MID::kMknodAt, mn), EACCES) << what;
    lisafs::OpenCreateAtReq oc;
    oc.common = In(dir, 0644);
    oc.flags = O_RDWR;
    oc.name = name;
    EXPECT_EQ(Errno(MID::kOpenCreateAt, oc), EACCES) << what;
    lisafs::SymlinkAtReq sl{dir, lisafs::kNoUID, lisafs::kNoGID, name, "x"};
    EXPECT_EQ(Errno(MID::kSymlinkAt, sl), EACCES) << what;
    lisafs::LinkAtReq ln{dir, allowed, name};
    EXPECT_EQ(Errno(MID::kLinkAt, ln), EACCES) << what;
    lisafs::BindAtReq b;
    b.common = In(dir, 0755);
    b.sock_type = SOCK_STREAM;
    b.name = name;
    EXPECT_EQ(Errno(MID::kBindAt, b), EACCES) << what;
    lisafs::RenameAtReq rn{root_, dir, "nv12", name};
    EXPECT_EQ(Errno(MID::kRenameAt, rn), EACCES) << what;
  }
  EXPECT_FALSE(HostExists("new_name"));
  EXPECT_FALSE(HostExists("caps/b2"));
  EXPECT_TRUE(HostExists("nv12"));
  // Names inside the scope are created as usual.
  lisafs::MkdirAtReq mk{In(root_, 0755), "nv3"};
  EXPECT_EQ(Errno(MID::kMkdirAt, mk), 0);
  lisafs::OpenCreateAtReq oc;
  oc.common = In(caps, 0644);
  oc.flags = O_RDWR;
  oc.name = "a2";
  EXPECT_EQ(Call(MID::kOpenCreateAt, oc).mid,
            static_cast<uint16_t>(MID::kOpenCreateAt));
  lisafs::LinkAtReq ln{root_, allowed, "nv4"};
  EXPECT_EQ(Call(MID::kLinkAt, ln).mid, static_cast<uint16_t>(MID::kLinkAt));
  EXPECT_TRUE(HostExists("nv3"));
  EXPECT_TRUE(HostExists("caps/a2"));
  EXPECT_TRUE(HostExists("nv4"));
}

TEST_F(ScopeTest, RenamingADirectoryThatHoldsHiddenEntriesIsEACCES) {
  // "caps" is only traversable: under "nv7" its hidden "b1" would show.
  lisafs::RenameAtReq r{root_, root_, "caps", "nv7"};
  EXPECT_EQ(Errno(MID::kRenameAt, r), EACCES);
  EXPECT_TRUE(HostExists("caps"));
  // "lib" is allowed with all it holds: renaming it into the scope works.
  r = {root_, root_, "lib", "nv8"};
  EXPECT_EQ(Errno(MID::kRenameAt, r), 0);
  EXPECT_EQ(List(WalkTo({"nv8"})), (std::set<std::string>{"x", "y"}));
}

TEST_F(ScopeTest, VisibleSymlinksReadAndTheMountPointIsNotDonated) {
  EXPECT_EQ(mount_fds_, 0u) << "a scoped mount point must not be donated";
  size_t donated = 9;
  EXPECT_NE(Open(root_, O_RDONLY, &donated), 0u);
  EXPECT_EQ(donated, 0u);
  FDID link = WalkTo({"link_ok"});
  ASSERT_NE(link, 0u);
  lisafs::ReadLinkAtReq rl{link};
  Reply r = Call(MID::kReadLinkAt, rl);
  ASSERT_EQ(r.mid, static_cast<uint16_t>(MID::kReadLinkAt));
  // The target names a hidden file; it is text, and never followed.
  EXPECT_EQ(Walk(root_, {"hidden_file"}).status,
            WalkStatus::kComponentDoesNotExist);
}

// --- The host's /dev under a device-number rule -----------------------------

TEST(ScopeHostDevTest, ServesOnlyMajorOneCharacterDevices) {
  struct stat null_st;
  if (stat("/dev/null", &null_st) != 0 || !S_ISCHR(null_st.st_mode)) {
    GTEST_SKIP() << "no /dev/null character device";
  }
  absl::StatusOr<std::unique_ptr<::gvisor::testing::GoferFixture>> f =
      ::gvisor::testing::GoferFixture::Create();
  ASSERT_TRUE(f.ok());
  absl::StatusOr<devscope::Allowlist> a = devscope::Allowlist::Parse({"c 1:*"});
  ASSERT_TRUE(a.ok());
  Options o;
  o.allowlist = std::make_shared<const devscope::Allowlist>(*std::move(a));
  o.char_devices = CharDevicePolicy::kPassthrough;
  absl::StatusOr<std::pair<unet::Socket, unet::Socket>> pair =
      unet::Socket::SocketPair(SOCK_STREAM);
  ASSERT_TRUE(pair.ok());
  lisafs::ConnectionOptions copts;
  copts.readonly = true;  // nothing in the host's /dev may change
  ASSERT_TRUE((*f)->server()
                  .StartConnection(std::move(pair->second), "/dev",
                                   std::make_unique<Connection>(o), copts)
                  .ok());
  RawClient c(pair->first.Release());
  absl::StatusOr<Reply> m = c.CallBytes(1, {});
  ASSERT_EQ(m->mid, 1);
  const FDID root = m->As<lisafs::MountResp>()->root.control_fd;
  lisafs::OpenAtReq od{root, O_RDONLY, 0};
  absl::StatusOr<Reply> r = c.Call(MID::kOpenAt, od);
  ASSERT_EQ(r->mid, 7) << r->err();
  lisafs::Getdents64Req g;
  g.dir_fd = r->As<lisafs::OpenAtResp>()->open_fd;
  g.count = 65536;
  std::set<std::string> names;
  for (;;) {
    absl::StatusOr<Reply> d = c.Call(MID::kGetdents64, g);
    ASSERT_EQ(d->mid, 24) << d->err();
    auto resp = d->As<lisafs::Getdents64Resp>();
    if (resp->dirents.empty()) break;
    for (const auto& e : resp->dirents) names.insert(e.name);
  }
  EXPECT_EQ(names.count("null"), 1u);
  for (const std::string& name : names) {
    struct stat st;
    ASSERT_EQ(lstat(absl::StrCat("/dev/", name).c_str(), &st), 0) << name;
    EXPECT_TRUE(S_ISCHR(st.st_mode) && major(st.st_rdev) == 1) << name;
    // WalkStat, not Walk: it opens nothing but O_PATH (no /dev/mem open).
    lisafs::WalkReq w{root, {name}};
    absl::StatusOr<Reply> wr = c.Call(MID::kWalkStat, w);
    ASSERT_EQ(wr->mid, 6) << name << ": errno " << wr->err();
    EXPECT_EQ(wr->As<lisafs::WalkStatResp>()->stats.size(), 1u) << name;
  }
  lisafs::WalkReq wn{root, {"null"}};
  EXPECT_EQ(c.Call(MID::kWalk, wn)->As<lisafs::WalkResp>()->status,
            WalkStatus::kSuccess);
  // Whatever else /dev holds is absent: directories, other devices.
  for (const char* name : {"pts", "shm", "tty", "fd", "stdin", "console"}) {
    struct stat st;
    if (lstat(absl::StrCat("/dev/", name).c_str(), &st) != 0) continue;
    if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1) continue;
    EXPECT_EQ(names.count(name), 0u) << name;
    lisafs::WalkReq w{root, {name}};
    absl::StatusOr<Reply> wr = c.Call(MID::kWalk, w);
    EXPECT_EQ(wr->As<lisafs::WalkResp>()->status,
              WalkStatus::kComponentDoesNotExist)
        << name;
    EXPECT_EQ(
        c.Call(MID::kWalkStat, w)->As<lisafs::WalkStatResp>()->stats.size(), 0u)
        << name;
  }
}

}  // namespace
}  // namespace gvisor::fsgofer
