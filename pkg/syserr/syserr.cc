#include "pkg/syserr/syserr.h"

#include <errno.h>
#include <string.h>

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gvisor::syserr {
namespace {

// Type URL of the status payload that holds the errno as decimal text.
constexpr char kErrnoPayload[] = "type.gvisor.dev/errno";

struct Entry {
  int err;
  const char* name;
};

constexpr Entry kNames[] = {
    {EPERM, "EPERM"},
    {ENOENT, "ENOENT"},
    {ESRCH, "ESRCH"},
    {EINTR, "EINTR"},
    {EIO, "EIO"},
    {ENXIO, "ENXIO"},
    {E2BIG, "E2BIG"},
    {ENOEXEC, "ENOEXEC"},
    {EBADF, "EBADF"},
    {ECHILD, "ECHILD"},
    {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},
    {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},
    {EXDEV, "EXDEV"},
    {ENODEV, "ENODEV"},
    {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"},
    {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},
    {ENOTTY, "ENOTTY"},
    {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},
    {ESPIPE, "ESPIPE"},
    {EROFS, "EROFS"},
    {EMLINK, "EMLINK"},
    {EPIPE, "EPIPE"},
    {ERANGE, "ERANGE"},
    {EDEADLK, "EDEADLK"},
    {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOSYS, "ENOSYS"},
    {ENOTEMPTY, "ENOTEMPTY"},
    {ELOOP, "ELOOP"},
    {ENODATA, "ENODATA"},
    {EOVERFLOW, "EOVERFLOW"},
    {ENOTSOCK, "ENOTSOCK"},
    {EMSGSIZE, "EMSGSIZE"},
    {EOPNOTSUPP, "EOPNOTSUPP"},
    {EADDRINUSE, "EADDRINUSE"},
    {ECONNABORTED, "ECONNABORTED"},
    {ECONNRESET, "ECONNRESET"},
    {EISCONN, "EISCONN"},
    {ENOTCONN, "ENOTCONN"},
    {ETIMEDOUT, "ETIMEDOUT"},
    {ECONNREFUSED, "ECONNREFUSED"},
    {ESTALE, "ESTALE"},
    {ECANCELED, "ECANCELED"},
    {EPROTO, "EPROTO"},
    {EDQUOT, "EDQUOT"},
    {ENOBUFS, "ENOBUFS"},
    {EBADMSG, "EBADMSG"},
    {ETXTBSY, "ETXTBSY"},
    {ESHUTDOWN, "ESHUTDOWN"},
};

}  // namespace

absl::string_view ErrnoName(int err) {
  for (const Entry& e : kNames) {
    if (e.err == err && err != 0) return e.name;
  }
  static thread_local std::string buf;
  buf = absl::StrCat("errno ", err);
  return buf;
}

absl::StatusCode CodeForErrno(int err) {
  switch (err) {
    case 0:
      return absl::StatusCode::kOk;
    case EINVAL:
    case ENAMETOOLONG:
    case E2BIG:
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
    case EBADF:
    case ENOTSOCK:
      return absl::StatusCode::kInvalidArgument;
    case ENOENT:
    case ENODEV:
    case ENXIO:
    case ENODATA:
    case ESRCH:
      return absl::StatusCode::kNotFound;
    case EEXIST:
    case EADDRINUSE:
    case EISCONN:
      return absl::StatusCode::kAlreadyExists;
    case EPERM:
    case EACCES:
    case EROFS:
      return absl::StatusCode::kPermissionDenied;
    case ENOMEM:
    case ENOSPC:
    case EMFILE:
    case ENFILE:
    case EDQUOT:
    case EMSGSIZE:
      return absl::StatusCode::kResourceExhausted;
    case EAGAIN:
    case EBUSY:
    case ENOTEMPTY:
    case ENOTCONN:
      return absl::StatusCode::kFailedPrecondition;
    case EOPNOTSUPP:
    case ENOSYS:
    case ENOTTY:
      return absl::StatusCode::kUnimplemented;
    case ERANGE:
    case EOVERFLOW:
    case EFBIG:
      return absl::StatusCode::kOutOfRange;
    case ETIMEDOUT:
      return absl::StatusCode::kDeadlineExceeded;
    case ECANCELED:
    case EINTR:
      return absl::StatusCode::kCancelled;
    case EPIPE:
    case ECONNRESET:
    case ECONNREFUSED:
    case ECONNABORTED:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status FromErrno(int err, absl::string_view what) {
  if (err <= 0) err = EIO;
  char buf[128];
  const char* desc = strerror_r(err, buf, sizeof(buf));
  absl::Status s(CodeForErrno(err),
                 absl::StrCat(what, ": ", ErrnoName(err), " (", desc, ")"));
  s.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(err)));
  return s;
}

absl::Status FromLastErrno(absl::string_view what) {
  return FromErrno(errno, what);
}

int ToErrno(const absl::Status& s) {
  if (s.ok()) return 0;
  if (auto p = s.GetPayload(kErrnoPayload)) {
    int err = 0;
    if (absl::SimpleAtoi(std::string(*p), &err) && err > 0) return err;
  }
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return EINVAL;
    case absl::StatusCode::kNotFound:
      return ENOENT;
    case absl::StatusCode::kAlreadyExists:
      return EEXIST;
    case absl::StatusCode::kPermissionDenied:
      return EPERM;
    case absl::StatusCode::kResourceExhausted:
      return ENOMEM;
    case absl::StatusCode::kUnimplemented:
      return EOPNOTSUPP;
    case absl::StatusCode::kOutOfRange:
      return ERANGE;
    case absl::StatusCode::kDeadlineExceeded:
      return ETIMEDOUT;
    case absl::StatusCode::kCancelled:
      return ECANCELED;
    case absl::StatusCode::kUnavailable:
      return ECONNRESET;
    default:
      return EIO;
  }
}

namespace {

// Rebuilt returns a status of code and message with the payloads of s.
absl::Status Rebuilt(absl::StatusCode code, absl::string_view message,
                     const absl::Status& s) {
  absl::Status out(code, message);
  s.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

}  // namespace

absl::Status WithContext(const absl::Status& s, absl::string_view what) {
  if (s.ok()) return s;
  return Rebuilt(s.code(), absl::StrCat(what, ": ", s.message()), s);
}

absl::Status WithCode(absl::StatusCode code, const absl::Status& s) {
  if (s.ok()) return s;
  return Rebuilt(code, s.message(), s);
}

}  // namespace gvisor::syserr
