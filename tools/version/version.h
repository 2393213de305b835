#ifndef TOOLS_VERSION_VERSION_H_
#define TOOLS_VERSION_VERSION_H_

// The project's version and the gVisor release its wire format was tested
// against, as the binaries' --version prints them.
//
// kGvisorTested is the gvisor.dev/gvisor module version that the interop
// harness (testing/interop/go.mod) builds gVisor's own client and server
// from; version_test checks that the two agree, so this line cannot drift
// from what the tests actually ran against.

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace gvisor_devutil {

// The project's version (semantic versioning).
inline constexpr absl::string_view kVersion = "0.1.0";

// The gVisor module version whose LISAFS client and server the interop
// tests run against, in both directions.
inline constexpr absl::string_view kGvisorTested =
    "v0.0.0-20260905035102-160fafc42237";

// What `BINARY --version` prints: two lines, each ending in a newline.
inline std::string VersionText(absl::string_view binary) {
  return absl::StrCat(binary, " ", kVersion, "\n",
                      "LISAFS wire-compatible with gvisor.dev/gvisor ",
                      kGvisorTested, " (tested both directions)\n");
}

}  // namespace gvisor_devutil

#endif  // TOOLS_VERSION_VERSION_H_
