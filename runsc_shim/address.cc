#include "runsc_shim/address.h"

#include <stdlib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "runsc_shim/validate.h"

namespace gvisor::shim {

std::string Address::GrpcTarget() const {
  // gRPC spells unix addresses as we do, and takes a bare HOST:PORT.
  return kind == Kind::kTcp ? target : ToString();
}

std::string Address::ToString() const {
  switch (kind) {
    case Kind::kUnix:
      return absl::StrCat("unix:", target);
    case Kind::kUnixAbstract:
      return absl::StrCat("unix-abstract:", target);
    case Kind::kTcp:
      return absl::StrCat("tcp:", target);
  }
  return target;
}

std::string DefaultAddress() {
  const char* dir = getenv("XDG_RUNTIME_DIR");
  if (dir != nullptr && dir[0] == '/') {
    return absl::StrCat("unix:", dir, "/", kSocketName);
  }
  return absl::StrCat("unix:/run/", kSocketName);
}

absl::StatusOr<Address> ParseAddress(absl::string_view s) {
  Address a;
  absl::string_view rest = s;
  if (absl::ConsumePrefix(&rest, "unix:")) {
    a.kind = Address::Kind::kUnix;
  } else if (absl::ConsumePrefix(&rest, "unix-abstract:")) {
    a.kind = Address::Kind::kUnixAbstract;
  } else if (absl::ConsumePrefix(&rest, "tcp:")) {
    a.kind = Address::Kind::kTcp;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", s,
                     "\": use unix:PATH, unix-abstract:NAME or tcp:HOST:PORT"));
  }
  if (rest.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", s, "\": nothing after the scheme"));
  }
  if (a.kind == Address::Kind::kTcp) {
    if (rest.find(':') == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("address \"", s, "\": tcp needs HOST:PORT"));
    }
  } else {
    if (rest.find('\0') != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("address \"", s, "\": holds a NUL byte"));
    }
    if (rest.size() > kMaxSocketPath) {
      return absl::InvalidArgumentError(
          absl::StrCat("address \"", s, "\": longer than ", kMaxSocketPath,
                       " bytes (sockaddr_un.sun_path)"));
    }
  }
  a.target = std::string(rest);
  return a;
}

}  // namespace gvisor::shim
