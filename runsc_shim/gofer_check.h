// Telling a peer that is not a LISAFS gofer from one that is, by the first
// bytes it sends, so that an attach to the wrong socket (the shim's own
// gRPC socket, some other server) says so instead of EIO or ECONNRESET.
//
// A LISAFS server sends nothing before the client's first request, Mount,
// and answers it with one frame: an 8-byte header of payload length, MID 1
// (Mount) or 0 (Error), and zero padding (pkg/lisafs/README.md §2.2, §2.6,
// §5). An HTTP/2 server (gRPC) sends a SETTINGS frame first, unprompted.
// The registry uses these checks around its Mount (registry.cc); nothing
// here depends on gRPC.

#ifndef GVISOR_RUNSC_SHIM_GOFER_CHECK_H_
#define GVISOR_RUNSC_SHIM_GOFER_CHECK_H_

#include <stddef.h>
#include <stdint.h>

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/unet/unet.h"

namespace gvisor::shim {

// kFirstBytes is how many of a peer's first bytes the checks look at: an
// HTTP/2 frame header (9 bytes) and a little more to show.
inline constexpr size_t kFirstBytes = 16;

// NotLisafsAnswer returns why first, the first bytes a peer sent after a
// Mount request, cannot begin a LISAFS answer to it ("it is not a LISAFS
// gofer: it speaks HTTP/2 ..."), or "" if they can.
std::string NotLisafsAnswer(absl::Span<const uint8_t> first);

// SpokeFirst looks, without waiting and without taking anything from the
// socket (MSG_PEEK), at what sock's peer has sent before any request: a
// LISAFS gofer has sent nothing. It returns why the peer is not one (it
// has sent bytes, or closed the connection), or "" if it has sent nothing
// yet.
std::string SpokeFirst(const unet::Socket& sock);

// AnswerToMount connects to the socket at path afresh, sends a Mount
// request and reads the first bytes of the answer (at most kFirstBytes;
// FDs sent with them are discarded by the kernel), all by deadline, then
// closes the connection. It returns what NotLisafsAnswer says of them, why
// the peer is not a gofer if it closed the connection without a byte, or ""
// if the bytes could be LISAFS, nothing came by deadline, or the peer
// could not be reached. It is for explaining a failed Mount: it costs a
// second connection.
std::string AnswerToMount(absl::string_view path, absl::Time deadline);

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_GOFER_CHECK_H_
