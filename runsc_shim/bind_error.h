// BindError: why the shim could not serve on an address, in one line.
// gRPC says only "No address added" (and the errno deep in a multi-line
// log); binding the address once more, by hand, gives the errno itself.

#ifndef GVISOR_RUNSC_SHIM_BIND_ERROR_H_
#define GVISOR_RUNSC_SHIM_BIND_ERROR_H_

#include "absl/status/status.h"
#include "runsc_shim/address.h"

namespace gvisor::shim {

// BindError binds a socket to address (unix: path, unix-abstract: name, or
// tcp: HOST:PORT through getaddrinfo) and closes it again, removing a socket
// file it created. It returns the error of that bind (or of getaddrinfo),
// as "bind of \"/run/x.sock\": EACCES (Permission denied)"; OK if the bind
// worked, that is if it cannot say why gRPC's failed.
absl::Status BindError(const Address& address);

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_BIND_ERROR_H_
