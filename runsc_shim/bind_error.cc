#include "runsc_shim/bind_error.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::shim {
namespace {

absl::Status BindUnix(const Address& address) {
  const bool abstract = address.kind == Address::Kind::kUnixAbstract;
  sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  // ParseAddress bounded the length.
  const size_t off = abstract ? 1 : 0;
  address.target.copy(sa.sun_path + off, sizeof(sa.sun_path) - 1 - off);
  socklen_t len = abstract
                      ? static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                               1 + address.target.size())
                      : sizeof(sa);
  fd::OwnedFd s(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return syserr::FromLastErrno("socket");
  if (bind(s.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    return syserr::FromLastErrno(
        absl::StrCat("bind of \"", abstract ? "@" : "", address.target, "\""));
  }
  if (!abstract) unlink(address.target.c_str());
  return absl::OkStatus();
}

absl::Status BindTcp(const Address& address) {
  absl::string_view target = address.target;
  const size_t colon = target.rfind(':');
  absl::string_view host = target.substr(0, colon);
  const std::string port(target.substr(colon + 1));
  host = absl::StripSuffix(absl::StripPrefix(host, "["), "]");
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string h(host);
  if (int e = getaddrinfo(h.empty() ? nullptr : h.c_str(), port.c_str(), &hints,
                          &res);
      e != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot resolve \"", address.target, "\": ", gai_strerror(e)));
  }
  absl::Status st = absl::OkStatus();
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    fd::OwnedFd s(
        socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!s.valid()) {
      st = syserr::FromLastErrno("socket");
      continue;
    }
    int one = 1;
    setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      st = syserr::FromLastErrno(absl::StrCat("bind of ", address.target));
      break;
    }
  }
  freeaddrinfo(res);
  return st;
}

}  // namespace

absl::Status BindError(const Address& address) {
  return address.kind == Address::Kind::kTcp ? BindTcp(address)
                                             : BindUnix(address);
}

}  // namespace gvisor::shim
