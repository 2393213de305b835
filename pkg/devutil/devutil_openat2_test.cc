// The host fast path where openat2 is refused: a child process installs a
// seccomp filter that answers openat2 with EPERM or ENOSYS (as an
// embedder's policy or an old kernel would) and opens through the donated
// mount FD. The probe of openat2 is process-wide, so every test forks a
// child before anything in this process opens on a fast path.

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/devutil/fast_path_test_base.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"
#include "testing/as_socket.h"
#include "testing/gofer_fixture.h"

namespace gvisor::devutil {
namespace {

// RefuseOpenat2 makes every later openat2 of this process fail with err.
// Returns false (and says why) if the filter cannot be loaded.
bool RefuseOpenat2(int err) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return false;
  int nr = seccomp_syscall_resolve_name("openat2");
  int rc = nr == __NR_SCMP_ERROR
               ? -ENOSYS
               : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 0);
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) fprintf(stderr, "seccomp: %s\n", strerror(-rc));
  return rc == 0;
}

// Openat2Errno returns the errno of a plain openat2 of "." (0 if it works).
int Openat2Errno() {
  struct open_how how = {};
  how.flags = O_PATH | O_CLOEXEC;
  int fd =
      static_cast<int>(syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how)));
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  return errno;
}

// Check fails the child with a message.
#define CHECK_IN_CHILD(cond)                                             \
  do {                                                                   \
    if (!(cond)) {                                                       \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
      _exit(1);                                                          \
    }                                                                    \
  } while (0)

class Openat2Test : public FastPathTest {
 protected:
  // InChild runs body in a forked child and expects it to exit 0.
  void InChild(absl::FunctionRef<void()> body) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      body();
      _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 0) << "see the child's stderr";
  }

  // OpensAsUsual checks, in the child, the fast path's results on the tree.
  void OpensAsUsual() {
    absl::StatusOr<fd::OwnedFd> f = client_->OpenAt(Ctx(), "file", O_RDONLY);
    CHECK_IN_CHILD(f.ok());
    char buf[16] = {};
    CHECK_IN_CHILD(read(f->get(), buf, sizeof(buf)) == 6);
    CHECK_IN_CHILD(std::string(buf) == "hello\n");
    absl::StatusOr<fd::OwnedFd> deep =
        client_->OpenAt(Ctx(), "dir/nested/deep", O_RDONLY);
    CHECK_IN_CHILD(deep.ok());
    // Symlinks are still refused, final or intermediate.
    absl::StatusOr<fd::OwnedFd> link =
        client_->OpenAt(Ctx(), "symlink", O_RDONLY);
    CHECK_IN_CHILD(syserr::ToErrno(link.status()) == ELOOP);
    absl::StatusOr<fd::OwnedFd> up =
        client_->OpenAt(Ctx(), "escape_dir/x", O_RDONLY);
    CHECK_IN_CHILD(syserr::ToErrno(up.status()) == ELOOP);
    absl::StatusOr<fd::OwnedFd> missing =
        client_->OpenAt(Ctx(), "nope", O_RDONLY);
    CHECK_IN_CHILD(syserr::ToErrno(missing.status()) == ENOENT);
  }
};

TEST_F(Openat2Test, FallsBackWhenSeccompAnswersEperm) {
  InChild([&] {
    CHECK_IN_CHILD(RefuseOpenat2(EPERM));
    CHECK_IN_CHILD(Openat2Errno() == EPERM);
    OpensAsUsual();
  });
}

TEST_F(Openat2Test, FallsBackWhenSeccompAnswersEnosys) {
  InChild([&] {
    CHECK_IN_CHILD(RefuseOpenat2(ENOSYS));
    CHECK_IN_CHILD(Openat2Errno() == ENOSYS);
    OpensAsUsual();
  });
}

// Once the probe found openat2 usable, an EPERM of a real open is that
// open's error: it is returned, not taken for a missing openat2.
TEST_F(Openat2Test, EpermAfterASuccessfulProbeIsTheOpensError) {
  InChild([&] {
    CHECK_IN_CHILD(Openat2Errno() == 0);
    OpensAsUsual();  // probes: openat2 usable
    CHECK_IN_CHILD(RefuseOpenat2(EPERM));
    absl::StatusOr<fd::OwnedFd> f = client_->OpenAt(Ctx(), "file", O_RDONLY);
    CHECK_IN_CHILD(syserr::ToErrno(f.status()) == EPERM);
  });
}

}  // namespace
}  // namespace gvisor::devutil
