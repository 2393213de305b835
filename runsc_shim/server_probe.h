// ProbeServer: is the peer at an address an HTTP/2 (so gRPC) server at all?
// devctl asks before its call, so that pointing it at the wrong socket (a
// devgofer's LISAFS socket, a socket that never answers) says so in one
// line instead of ending in DEADLINE_EXCEEDED or a connection reset.
//
// An HTTP/2 server's first frame is SETTINGS, sent as soon as the
// connection is up (RFC 9113 §3.4), whatever the client sends; a LISAFS
// gofer sends nothing until it gets a request, and answers a request it has
// no handler for with an Error frame (pkg/lisafs/README.md §2.2, §7.2). So
// the probe sends one such request, an empty LISAFS frame with MID 0, and
// reads what comes back.

#ifndef GVISOR_RUNSC_SHIM_SERVER_PROBE_H_
#define GVISOR_RUNSC_SHIM_SERVER_PROBE_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "runsc_shim/address.h"

namespace gvisor::shim {

// ProbeServer connects to address (unix: and unix-abstract: only; a tcp:
// address is OK unchecked), sends the probe and reads the peer's first
// frame header, waiting for timeout at most. OK if that is an HTTP/2
// SETTINGS frame. FAILED_PRECONDITION, with a message that says what the
// peer did instead ("it speaks LISAFS (...)", "it closed the connection
// without an HTTP/2 greeting", "it sent nothing in 10s (...)", "it answered
// with bytes that are not an HTTP/2 SETTINGS frame: ..."), if the peer is not
// an HTTP/2 server. Any other error is the connect's (the errno kept): the
// caller may leave that one to gRPC.
absl::Status ProbeServer(const Address& address, absl::Duration timeout);

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_SERVER_PROBE_H_
