// Runs the devgofer binary (its path is argv[1]) scoped by a CDI spec with
// --private_dir, sandboxed as by default: over RPCs and over the donated
// mount FD, a client sees at the root only the spec's nodes (null, zero,
// urandom), opens them read-write, and finds everything else of /dev
// absent, even through the donated FD.

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"
#include "tools/devgofer/gofer_process.h"

namespace gvisor::devgofer {
namespace {

const char* g_binary = nullptr;

const context::Context& Ctx() { return context::Background(); }

// kSpec is a CDI spec as a vendor tool writes it, for three of /dev's
// nodes: two for the device, one for every device of the spec.
constexpr char kSpec[] = R"(---
cdiVersion: 0.6.0
containerEdits:
  deviceNodes:
  - path: /dev/urandom
devices:
- containerEdits:
    deviceNodes:
    - path: /dev/null
    - path: /dev/zero
  name: basic
- containerEdits:
    deviceNodes:
    - path: /dev/tty
  name: tty
kind: example.com/dev
)";

TEST(PrivateDirGoferTest, OnlyTheSpecsNodesOnBothPaths) {
  std::string spec = absl::StrCat(getenv("TEST_TMPDIR"), "/dev.yaml");
  std::ofstream(spec) << kSpec;
  for (bool donate : {false, true}) {
    SCOPED_TRACE(donate ? "donated mount FD" : "RPCs");
    GoferChild g;
    std::vector<std::string> args = {
        "--root=/dev", "--seccomp_action=kill", "--cdi_spec=" + spec,
        "--cdi_device=example.com/dev=basic", "--private_dir"};
    args.push_back(donate ? "--donate_mount_fd" : "--nodonate_mount_fd");
    ASSERT_TRUE(SpawnFdGofer(g_binary, args, &g).ok());
    {
      absl::StatusOr<std::unique_ptr<devutil::GoferClient>> c =
          devutil::NewGoferClient(Ctx(), "scoped",
                                  *unet::Socket::FromFd(std::move(g.sock)));
      if (!c.ok()) {
        g.Wait();
        if (absl::StrContains(g.log, "and making one needs CAP_SYS_ADMIN")) {
          GTEST_SKIP() << g.log;
        }
        FAIL() << c.status() << g.log;
      }
      EXPECT_EQ((*c)->HasHostFD(), donate);
      absl::StatusOr<std::vector<std::string>> names = (*c)->DirentNames(Ctx());
      ASSERT_TRUE(names.ok()) << names.status();
      std::sort(names->begin(), names->end());
      EXPECT_EQ(*names, std::vector<std::string>({"null", "urandom", "zero"}));
      for (const char* name : {"null", "zero", "urandom"}) {
        absl::StatusOr<fd::OwnedFd> f = (*c)->OpenAt(Ctx(), name, O_RDWR);
        ASSERT_TRUE(f.ok()) << name << ": " << f.status();
        struct stat st, want;
        ASSERT_EQ(fstat(f->get(), &st), 0);
        ASSERT_EQ(stat(absl::StrCat("/dev/", name).c_str(), &want), 0);
        EXPECT_EQ(st.st_rdev, want.st_rdev) << name;
      }
      for (const char* name : {"tty", "full", "random", "shm", "pts"}) {
        EXPECT_EQ(syserr::ToErrno((*c)->OpenAt(Ctx(), name, O_RDONLY).status()),
                  ENOENT)
            << name;
      }
    }
    EXPECT_EQ(g.Wait(), 0) << g.log;
    EXPECT_TRUE(absl::StrContains(g.log, "null, urandom, zero")) << g.log;
  }
}

// A scope that matches nothing would serve an empty directory: the gofer
// refuses to start and says which rules matched nothing.
TEST(PrivateDirGoferTest, ScopeThatMatchesNoFileExitsWithAClearError) {
  GoferChild g;
  ASSERT_TRUE(SpawnFdGofer(g_binary,
                           {"--root=/dev", "--allow=no-such-node*",
                            "--allow=pts/no-such-pty", "--private_dir"},
                           &g)
                  .ok());
  int code = g.Wait();
  if (absl::StrContains(g.log, "and making one needs CAP_SYS_ADMIN")) {
    GTEST_SKIP() << g.log;
  }
  EXPECT_EQ(code, 1) << g.log;
  EXPECT_TRUE(absl::StrContains(
      g.log,
      "the scope (no-such-node*, pts/no-such-pty) matches no file under /dev"))
      << g.log;
}

}  // namespace
}  // namespace gvisor::devgofer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 2) {
    fprintf(stderr, "usage: private_dir_gofer_test DEVGOFER\n");
    return 2;
  }
  gvisor::devgofer::g_binary = argv[1];
  return RUN_ALL_TESTS();
}
