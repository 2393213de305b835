// glog's flags in the convention of tools/cli: --v, --logtostderr and
// --log_dir as FlagSpecs that set glog's own FLAGS_ variables, so that a
// binary's --help documents them with the rest and a bad value is a usage
// error like any other.

#ifndef GVISOR_TOOLS_CLI_GLOG_FLAGS_H_
#define GVISOR_TOOLS_CLI_GLOG_FLAGS_H_

#include <vector>

#include "absl/status/status.h"
#include "tools/cli/cli.h"

namespace gvisor::cli {

// GlogFlags returns the specs of --v=N (VLOG verbosity, default 0),
// --logtostderr (default true: a daemon's supervisor, systemd or a test,
// keeps stderr) and --log_dir=DIR (log files in DIR instead). It sets
// FLAGS_logtostderr to that default, so call it before Parse and
// InitGoogleLogging.
std::vector<FlagSpec> GlogFlags();

// ApplyGlogFlags finishes what Parse set: --log_dir without --logtostderr
// turns logging to stderr off (glog still copies errors there) and flushes
// every message to the files at once. INVALID_ARGUMENT, naming the flag, if
// DIR is not a directory this process can write in, or if --logtostderr
// is given as true with --log_dir. Call it before InitGoogleLogging.
absl::Status ApplyGlogFlags(const Parsed& parsed);

}  // namespace gvisor::cli

#endif  // GVISOR_TOOLS_CLI_GLOG_FLAGS_H_
