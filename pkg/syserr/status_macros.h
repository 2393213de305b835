// Status plumbing macros for functions that return absl::Status or
// absl::StatusOr<T>.
//
//   RETURN_IF_ERROR(expr);          // expr is an absl::Status; returns it
//                                   // from the enclosing function if not OK.
//   ASSIGN_OR_RETURN(lhs, expr);    // expr is an absl::StatusOr<T>; on OK,
//                                   // moves the value into lhs (which may
//                                   // declare a variable: `auto x`), else
//                                   // returns its status.
//
// Both evaluate expr exactly once. ASSIGN_OR_RETURN expands to more than one
// statement: do not use it as the body of an unbraced if/else.

#ifndef GVISOR_PKG_SYSERR_STATUS_MACROS_H_
#define GVISOR_PKG_SYSERR_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RETURN_IF_ERROR(expr)                                         \
  do {                                                                \
    if (::absl::Status syserr_status_ = (expr); !syserr_status_.ok()) \
      return syserr_status_;                                          \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr)                                         \
  SYSERR_ASSIGN_OR_RETURN_IMPL_(SYSERR_CONCAT_(syserr_statusor_, __LINE__), \
                                lhs, expr)

#define SYSERR_CONCAT_INNER_(a, b) a##b
#define SYSERR_CONCAT_(a, b) SYSERR_CONCAT_INNER_(a, b)
#define SYSERR_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();      \
  lhs = std::move(*tmp)

#endif  // GVISOR_PKG_SYSERR_STATUS_MACROS_H_
