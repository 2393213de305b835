// RaiseFdLimit: a process that holds an FD per connection (a gofer serving
// many sandboxes, the shim with many containers) lifts its soft
// RLIMIT_NOFILE to the hard limit at start-up.

#ifndef GVISOR_PKG_FD_LIMIT_H_
#define GVISOR_PKG_FD_LIMIT_H_

#include <stdint.h>

#include "absl/status/statusor.h"

namespace gvisor::fd {

// RaiseFdLimit sets the soft RLIMIT_NOFILE to the hard limit and returns
// the soft limit now in force. Children inherit it. The errno of a failed
// getrlimit or setrlimit otherwise.
absl::StatusOr<uint64_t> RaiseFdLimit();

}  // namespace gvisor::fd

#endif  // GVISOR_PKG_FD_LIMIT_H_
