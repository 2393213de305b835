// MakePrivateDir in forked children (so this process's mount namespace is
// never touched): real device nodes of /dev (null, zero, urandom), a tree
// of files with nested rules, what the directory holds and what it hides,
// that the host's mount table is left as it was, and the error without
// CAP_SYS_ADMIN.

#include "tools/devgofer/private_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/devscope/allowlist.h"
#include "pkg/fd/fd.h"

namespace gvisor::devgofer {
namespace {

// kSkip is a child's exit code for "cannot make mount namespaces here".
constexpr int kSkip = 77;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ChildResult is what a child reported: its exit code and its message
// ("" when all held).
struct ChildResult {
  int code;
  std::string message;
};

// InChild runs fn in a forked child; fn returns "" when all its checks
// held, else what failed. A child whose MakePrivateDir fails with
// FAILED_PRECONDITION (no privilege here) exits kSkip.
ChildResult InChild(const std::function<std::string()>& fn) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return {-1, "pipe"};
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    std::string msg = fn();
    int code = 0;
    if (msg.rfind("skip:", 0) == 0)
      code = kSkip;
    else if (!msg.empty())
      code = 1;
    (void)!write(p[1], msg.data(), msg.size());
    _exit(code);
  }
  close(p[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof(buf))) > 0) msg.append(buf, n);
  close(p[0]);
  int status;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
          msg};
}

// Names lists directory `dir`, sorted, or "error" on failure.
std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return {"error"};
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Make is MakePrivateDir, with a "skip:" message when not privileged.
std::string Make(const std::string& root, const std::vector<std::string>& rules,
                 PrivateDir* out,
                 const PrivateDirLimits& limits = PrivateDirLimits()) {
  absl::StatusOr<devscope::Allowlist> a = devscope::Allowlist::Parse(rules);
  if (!a.ok()) return a.status().ToString();
  absl::StatusOr<PrivateDir> d = MakePrivateDir(root, *a, limits);
  if (absl::IsFailedPrecondition(d.status())) {
    return absl::StrCat("skip: ", d.status().ToString());
  }
  if (!d.ok()) return d.status().ToString();
  *out = std::move(*d);
  return "";
}

#define CHECK_OR_SAY(cond)                                           \
  do {                                                               \
    if (!(cond)) return absl::StrCat("line ", __LINE__, ": " #cond); \
  } while (0)

class PrivateDirTest : public ::testing::Test {
 protected:
  void SetUp() override { mounts_ = ReadFile("/proc/self/mountinfo"); }
  // The host's (this process's) mount table is as it was.
  void TearDown() override {
    EXPECT_EQ(ReadFile("/proc/self/mountinfo"), mounts_);
  }

  void Expect(const ChildResult& r) {
    if (r.code == kSkip) GTEST_SKIP() << r.message;
    EXPECT_EQ(r.code, 0) << r.message;
    EXPECT_EQ(r.message, "");
  }

  std::string mounts_;
};

TEST_F(PrivateDirTest, DevNodesByNameAndNumber) {
  struct stat null_st, zero_st, urandom_st;
  ASSERT_EQ(stat("/dev/null", &null_st), 0);
  ASSERT_EQ(stat("/dev/zero", &zero_st), 0);
  ASSERT_EQ(stat("/dev/urandom", &urandom_st), 0);
  ASSERT_TRUE(S_ISCHR(urandom_st.st_mode));
  // urandom by its number (its major's other nodes, like /dev/full or
  // /dev/mem, come along if this /dev has them).
  std::string number_rule = absl::StrCat("c ", major(urandom_st.st_rdev), ":",
                                         minor(urandom_st.st_rdev));
  Expect(InChild([&]() -> std::string {
    PrivateDir d;
    std::string err = Make("/dev", {"null", "zero", number_rule}, &d);
    if (!err.empty()) return err;
    CHECK_OR_SAY(d.path == "/dev");
    std::vector<std::string> names = Names("/dev");
    CHECK_OR_SAY(names ==
                 std::vector<std::string>({"null", "urandom", "zero"}));
    CHECK_OR_SAY(d.entries == names);
    for (const auto& [name, want] :
         std::vector<std::pair<std::string, struct stat>>{
             {"null", null_st}, {"zero", zero_st}, {"urandom", urandom_st}}) {
      struct stat st;
      CHECK_OR_SAY(lstat(("/dev/" + name).c_str(), &st) == 0);
      CHECK_OR_SAY(st.st_mode == want.st_mode);
      CHECK_OR_SAY(st.st_rdev == want.st_rdev);
      CHECK_OR_SAY(st.st_uid == want.st_uid && st.st_gid == want.st_gid);
      CHECK_OR_SAY(st.st_ino == want.st_ino);
    }
    // The nodes open and work as the originals.
    fd::OwnedFd null(open("/dev/null", O_WRONLY | O_CLOEXEC));
    CHECK_OR_SAY(null.valid());
    CHECK_OR_SAY(write(null.get(), "x", 1) == 1);
    fd::OwnedFd zero(open("/dev/zero", O_RDONLY | O_CLOEXEC));
    char b[4] = {1, 1, 1, 1};
    CHECK_OR_SAY(zero.valid() && read(zero.get(), b, 4) == 4 && b[3] == 0);
    // The rest of /dev is absent, and nothing can be added.
    struct stat st;
    CHECK_OR_SAY(lstat("/dev/tty", &st) != 0 && errno == ENOENT);
    CHECK_OR_SAY(lstat("/dev/random", &st) != 0 && errno == ENOENT);
    CHECK_OR_SAY(open("/dev/new", O_CREAT | O_WRONLY | O_CLOEXEC, 0600) < 0 &&
                 errno == EROFS);
    CHECK_OR_SAY(d.description.find("null, urandom, zero") !=
                 std::string::npos);
    return "";
  }));
}

TEST_F(PrivateDirTest, NestedRulesKeepTheTreeAndHideTheRest) {
  std::string root = absl::StrCat(getenv("TEST_TMPDIR"), "/tree");
  for (const char* d : {"", "/sub", "/sub/inner", "/sub/other", "/whole",
                        "/whole/y", "/hidden"}) {
    ASSERT_EQ(mkdir((root + d).c_str(), 0755), 0) << d;
  }
  ASSERT_EQ(chmod((root + "/sub").c_str(), 0750), 0);
  for (const char* f :
       {"/a", "/secret", "/sub/inner/f", "/sub/inner/g", "/sub/other/f",
        "/whole/x", "/whole/y/z", "/hidden/f"}) {
    std::ofstream(root + f) << f;
  }
  ASSERT_EQ(symlink("a", (root + "/link").c_str()), 0);
  struct stat sub_st;
  ASSERT_EQ(stat((root + "/sub").c_str(), &sub_st), 0);
  Expect(InChild([&]() -> std::string {
    PrivateDir d;
    std::string err =
        Make(root, {"a", "link", "sub/inner/f", "whole", "sub/no-such"}, &d);
    if (!err.empty()) return err;
    CHECK_OR_SAY(Names(root) ==
                 std::vector<std::string>({"a", "link", "sub", "whole"}));
    CHECK_OR_SAY(Names(root + "/sub") == std::vector<std::string>({"inner"}));
    CHECK_OR_SAY(Names(root + "/sub/inner") == std::vector<std::string>({"f"}));
    CHECK_OR_SAY(Names(root + "/whole") ==
                 std::vector<std::string>({"x", "y"}));
    CHECK_OR_SAY(ReadFile(root + "/whole/y/z") == "/whole/y/z");
    CHECK_OR_SAY(ReadFile(root + "/sub/inner/f") == "/sub/inner/f");
    CHECK_OR_SAY(ReadFile(root + "/link") == "/a");
    char target[16] = {};
    CHECK_OR_SAY(readlink((root + "/link").c_str(), target, 15) == 1 &&
                 target[0] == 'a');
    struct stat st;
    CHECK_OR_SAY(stat((root + "/sub").c_str(), &st) == 0);
    CHECK_OR_SAY(st.st_mode == sub_st.st_mode && st.st_uid == sub_st.st_uid);
    for (const char* gone :
         {"/secret", "/hidden", "/sub/other", "/sub/inner/g"}) {
      CHECK_OR_SAY(lstat((root + gone).c_str(), &st) != 0 && errno == ENOENT);
    }
    // The allowed files are the originals: a write shows through.
    std::ofstream(root + "/whole/x") << "changed";
    CHECK_OR_SAY(ReadFile(root + "/whole/x") == "changed");
    CHECK_OR_SAY(d.entries ==
                 std::vector<std::string>({"a", "link", "sub", "sub/inner",
                                           "sub/inner/f", "whole"}));
    return "";
  }));
  // The host's tree is whole (and saw the write through the bind mount).
  EXPECT_EQ(ReadFile(root + "/secret"), "/secret");
  EXPECT_EQ(ReadFile(root + "/whole/x"), "changed");
}

TEST_F(PrivateDirTest, ScanIsBounded) {
  std::string root = absl::StrCat(getenv("TEST_TMPDIR"), "/wide");
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  for (int i = 0; i < 5; ++i) {
    std::ofstream(absl::StrCat(root, "/f", i)) << i;
  }
  std::string deep = root + "/d";
  std::string rule = "d";
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(mkdir(deep.c_str(), 0755), 0);
    deep += "/d";
    rule += "/d";
  }
  Expect(InChild([&]() -> std::string {
    PrivateDir d;
    PrivateDirLimits few;
    few.max_entries = 3;
    absl::StatusOr<devscope::Allowlist> a = devscope::Allowlist::Parse({"f1"});
    absl::StatusOr<PrivateDir> r = MakePrivateDir(root, *a, few);
    CHECK_OR_SAY(absl::IsResourceExhausted(r.status()));
    PrivateDirLimits shallow;
    shallow.max_depth = 2;
    a = devscope::Allowlist::Parse({rule});
    r = MakePrivateDir(root, *a, shallow);
    CHECK_OR_SAY(absl::IsResourceExhausted(r.status()));
    CHECK_OR_SAY(r.status().message().find("levels") != std::string::npos);
    return "";
  }));
}

TEST_F(PrivateDirTest, ScopeThatMatchesNoFileIsRefused) {
  Expect(InChild([]() -> std::string {
    PrivateDir d;
    // Not a file of /dev; and a directory on the way with nothing in it
    // that matches.
    for (const char* rule : {"no-such-node*", "pts/no-such-pty"}) {
      std::string m = Make("/dev", {rule}, &d);
      if (m.rfind("skip:", 0) == 0) return m;
      CHECK_OR_SAY(m.find("NOT_FOUND") != std::string::npos);
      CHECK_OR_SAY(m.find("matches no file under /dev") != std::string::npos);
      CHECK_OR_SAY(m.find(rule) != std::string::npos);
    }
    return "";
  }));
}

TEST_F(PrivateDirTest, NoAllowlistMakesNothing) {
  std::string ns_before = ReadFile("/proc/self/mountinfo");
  char before[64] = {}, after[64] = {};
  ASSERT_GT(readlink("/proc/self/ns/mnt", before, 63), 0);
  absl::StatusOr<PrivateDir> d = MakePrivateDir("/dev", devscope::Allowlist());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->path, "/dev");
  EXPECT_TRUE(d->entries.empty());
  ASSERT_GT(readlink("/proc/self/ns/mnt", after, 63), 0);
  EXPECT_STREQ(before, after);
}

TEST_F(PrivateDirTest, BadRoots) {
  absl::StatusOr<devscope::Allowlist> a = devscope::Allowlist::Parse({"null"});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(MakePrivateDir("dev", *a).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(MakePrivateDir("/", *a).status()));
  EXPECT_TRUE(absl::IsNotFound(MakePrivateDir("/no/such/dir", *a).status()));
}

TEST_F(PrivateDirTest, WithoutCapSysAdminItSaysWhy) {
  ChildResult r = InChild([]() -> std::string {
    // Drop every capability (effective and permitted) of this process.
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capset, &h, data) != 0) return "capset failed";
    absl::StatusOr<devscope::Allowlist> a =
        devscope::Allowlist::Parse({"null"});
    absl::StatusOr<PrivateDir> d = MakePrivateDir("/dev", *a);
    CHECK_OR_SAY(absl::IsFailedPrecondition(d.status()));
    std::string m(d.status().message());
    CHECK_OR_SAY(m.find("from a mount namespace of its own, and making one "
                        "needs CAP_SYS_ADMIN") != std::string::npos);
    CHECK_OR_SAY(m.find("EPERM") != std::string::npos);
    CHECK_OR_SAY(m.find("--nodonate_mount_fd") != std::string::npos);
    // Nothing changed: still this process's /dev.
    struct stat st;
    CHECK_OR_SAY(stat("/dev/zero", &st) == 0);
    return "";
  });
  EXPECT_EQ(r.code, 0) << r.message;
}

}  // namespace
}  // namespace gvisor::devgofer
