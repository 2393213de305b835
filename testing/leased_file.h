// LeasedFile: a regular file whose opens for writing block in the kernel,
// for tests that a call stuck in a syscall holds nothing up.
//
// This process takes a read lease on the file (fcntl F_SETLEASE, F_RDLCK).
// An open for writing, by any process, then waits in the kernel until the
// lease is given up (Release) or /proc/sys/fs/lease-break-time (45 s by
// default) passes. Unlike a FIFO, nothing the opener can do (O_NONBLOCK
// aside, which a client cannot always use) avoids the wait: it stands for
// the opens that really block, such as a tty waiting for carrier or a file
// on an NFS server that went away.
//
// The kernel tells the holder when an open starts to wait (SIGIO), so
// AwaitBreak blocks on that event rather than polling. One LeasedFile at a
// time per process: the signal's handler is process-wide.

#ifndef GVISOR_TESTING_LEASED_FILE_H_
#define GVISOR_TESTING_LEASED_FILE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pkg/fd/fd.h"

namespace gvisor::testing {

class LeasedFile {
 public:
  // Create makes the regular file path (mode 0666, owned by us, so the lease
  // needs no capability) and takes the lease. EINVAL if the filesystem or
  // the kernel refuses leases (fs.leases-enable = 0).
  static absl::StatusOr<std::unique_ptr<LeasedFile>> Create(
      const std::string& path);
  // The destructor releases the lease and removes the file.
  ~LeasedFile();
  LeasedFile(const LeasedFile&) = delete;
  LeasedFile& operator=(const LeasedFile&) = delete;

  // AwaitBreak blocks until an open has started to wait on the lease, or
  // timeout passes, and reports whether one has.
  bool AwaitBreak(absl::Duration timeout = absl::Seconds(20));

  // Release gives the lease up, so that waiting opens go on. Idempotent.
  void Release();

  const std::string& path() const { return path_; }

 private:
  LeasedFile(std::string path, fd::OwnedFd fd)
      : path_(std::move(path)), fd_(std::move(fd)) {}

  const std::string path_;
  fd::OwnedFd fd_;
};

}  // namespace gvisor::testing

#endif  // GVISOR_TESTING_LEASED_FILE_H_
