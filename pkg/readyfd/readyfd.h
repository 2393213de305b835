// readyfd: tell the process that started us that we are serving.
//
// A server started with --ready_fd=N inherits N, the write end of a pipe
// (or a FIFO). Once it accepts connections it writes "ready\n" to N and
// closes it. The starter reads the pipe: "ready\n" means that a connect
// now succeeds; end of file without it means the server failed first (its
// exit status and log say why). Nothing polls and nothing sleeps.
//
// From a shell:
//   mkfifo "$dir/ready"
//   devgofer --listen="$sock" --ready_fd=3 3>"$dir/ready" &
//   read -r line <"$dir/ready" && [ "$line" = ready ]

#ifndef GVISOR_PKG_READYFD_READYFD_H_
#define GVISOR_PKG_READYFD_READYFD_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/context/context.h"
#include "pkg/fd/fd.h"

namespace gvisor::readyfd {

// kMessage is what a ready server writes.
inline constexpr absl::string_view kMessage = "ready\n";

// Claim checks that fd is open for writing and takes ownership of it,
// marking it close-on-exec so that no child of the server inherits it.
// INVALID_ARGUMENT (with the errno) otherwise. fd < 0 means no --ready_fd:
// it returns an invalid OwnedFd.
absl::StatusOr<fd::OwnedFd> Claim(int fd);

// Notify writes kMessage to fd and closes it. A failed write (a reader
// that went away: EPIPE, with SIGPIPE ignored as servers do) is logged
// through ctx as a warning and otherwise ignored: the server goes on
// serving. An invalid fd does nothing.
void Notify(const context::Context& ctx, fd::OwnedFd fd);

}  // namespace gvisor::readyfd

#endif  // GVISOR_PKG_READYFD_READYFD_H_
