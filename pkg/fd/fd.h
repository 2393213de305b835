// Package fd: ownership of host file descriptors.
//
// Every API in this project that takes or hands over an FD does it through
// OwnedFd, so that exactly one object is responsible for closing it.

#ifndef GVISOR_PKG_FD_FD_H_
#define GVISOR_PKG_FD_FD_H_

namespace gvisor::fd {

// OwnedFd owns one file descriptor and closes it on destruction. It is
// move-only. A negative value means "no FD".
class OwnedFd {
 public:
  OwnedFd() = default;
  // Takes ownership of fd (which may be negative: no FD).
  explicit OwnedFd(int fd) : fd_(fd < 0 ? -1 : fd) {}
  ~OwnedFd() { reset(); }

  OwnedFd(OwnedFd&& other) noexcept : fd_(other.release()) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;

  // get returns the FD (or -1) without giving up ownership.
  int get() const { return fd_; }
  // valid reports whether an FD is held.
  bool valid() const { return fd_ >= 0; }
  // release gives up ownership and returns the FD (or -1); the caller must
  // close it.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // reset closes the held FD, if any, and takes ownership of fd.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace gvisor::fd

#endif  // GVISOR_PKG_FD_FD_H_
