// Package syserr: absl::Status values that carry a Linux errno.
//
// Every fallible API in this project returns absl::Status(Or). Where the
// failure has a Linux errno (a syscall, or an errno sent by a LISAFS peer),
// the status carries it exactly, and ToErrno reads it back. Messages name the
// operation and the object, e.g. "Walk of \"nvidia-caps/x\" from FDID 1:
// ENOENT".

#ifndef GVISOR_PKG_SYSERR_SYSERR_H_
#define GVISOR_PKG_SYSERR_SYSERR_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gvisor::syserr {

// FromErrno returns a non-OK status carrying err. Its message is
// "<what>: <ENAME> (<strerror>)". err <= 0 is treated as EIO.
absl::Status FromErrno(int err, absl::string_view what);

// FromLastErrno is FromErrno(errno, what): call it right after the failed
// syscall, before anything else can change errno.
absl::Status FromLastErrno(absl::string_view what);

// ToErrno returns the errno carried by s: 0 if s is OK; the exact errno if s
// came from FromErrno (or WithContext of one); otherwise an errno derived from
// the status code (EINVAL for INVALID_ARGUMENT, ENOENT for NOT_FOUND, ...,
// EIO for anything else).
int ToErrno(const absl::Status& s);

// WithContext returns s with "<what>: " prepended to its message, keeping
// its code and errno. OK stays OK.
absl::Status WithContext(const absl::Status& s, absl::string_view what);

// WithCode returns s with code in place of its own, keeping its message and
// errno. OK stays OK.
absl::Status WithCode(absl::StatusCode code, const absl::Status& s);

// ErrnoName returns the symbolic name of err ("ENOENT"), or "errno <n>".
absl::string_view ErrnoName(int err);

// CodeForErrno maps err to the closest absl::StatusCode.
absl::StatusCode CodeForErrno(int err);

}  // namespace gvisor::syserr

#endif  // GVISOR_PKG_SYSERR_SYSERR_H_
