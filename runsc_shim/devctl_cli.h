// devctl's command line without gRPC: its commands, their arguments and
// flags, the help texts (devctl --help, devctl help COMMAND) and the bash
// completion script (devctl completion bash), all from one table so that
// they cannot disagree. devctl_main.cc runs the commands.

#ifndef GVISOR_RUNSC_SHIM_DEVCTL_CLI_H_
#define GVISOR_RUNSC_SHIM_DEVCTL_CLI_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tools/cli/cli.h"

namespace gvisor::shim::devctl {

// kServerEnv names the environment variable that is --server's default.
inline constexpr char kServerEnv[] = "DEVCTL_SERVER";

// Command is one devctl command.
struct Command {
  // name is what the user types: "attach".
  std::string name;
  // args is the synopsis of its arguments: "NAME GOFER_SOCKET".
  std::string args;
  // flag_args is the synopsis of its own flags: "[--count=N]".
  std::string flag_args;
  // min_args and max_args bound the number of its arguments.
  size_t min_args = 0;
  size_t max_args = 0;
  // summary is one line for the list of commands.
  std::string summary;
  // details says what it does, for devctl help COMMAND.
  std::string details;
  // flags names the flags of this command alone (the global ones, in
  // kGlobalFlags, go with every command).
  std::vector<std::string> flags;
};

// kGlobalFlags are the flags every command takes.
inline const std::vector<std::string> kGlobalFlags = {"server", "json",
                                                      "timeout"};

// Commands returns every command, in the order the help lists them.
const std::vector<Command>& Commands();

// FindCommand returns the command called name, or null.
const Command* FindCommand(absl::string_view name);

// Synopsis returns "devctl [FLAGS] NAME ARGS [OWN FLAGS]" for c.
std::string Synopsis(const Command& c);

// Help returns devctl --help: what devctl is, every command with its
// summary, every flag (flags holds them all) with its default, the
// environment and the exit statuses.
std::string Help(const std::vector<cli::FlagSpec>& flags);

// CommandHelp returns devctl help NAME: the synopsis, the details, the
// command's own flags and the global ones.
std::string CommandHelp(const Command& c,
                        const std::vector<cli::FlagSpec>& flags);

// BashCompletion returns a bash script that completes devctl's commands,
// flags, --mode's values, help's and completion's arguments, file names for
// GOFER_SOCKET, and container names (from devctl --json ls) where a
// command takes NAME.
std::string BashCompletion(const std::vector<cli::FlagSpec>& flags);

}  // namespace gvisor::shim::devctl

#endif  // GVISOR_RUNSC_SHIM_DEVCTL_CLI_H_
