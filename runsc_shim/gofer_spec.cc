#include "runsc_shim/gofer_spec.h"

#include <string.h>

#include "absl/strings/str_cat.h"

namespace gvisor::shim {

std::string GoferExit::ToString() const {
  if (signal > 0) {
    const char* abbrev = sigabbrev_np(signal);
    return abbrev == nullptr ? absl::StrCat("killed by signal ", signal)
                             : absl::StrCat("killed by SIG", abbrev);
  }
  if (exit_code >= 0) return absl::StrCat("exited with status ", exit_code);
  return "ended with a status taken by another waiter";
}

const char* StateName(ManagedGoferInfo::State s) {
  switch (s) {
    case ManagedGoferInfo::State::kRunning:
      return "RUNNING";
    case ManagedGoferInfo::State::kRestarting:
      return "RESTARTING";
    case ManagedGoferInfo::State::kExited:
      return "EXITED";
  }
  return "UNKNOWN";
}

}  // namespace gvisor::shim
