// cli: the command-line convention of the project's binaries.
//
// One parser and one help layout, so that every binary behaves the same:
//   - flags are "--name=value" or "--name value"; booleans also take a bare
//     "--name", "--noname" and "=true"/"=false"; a single dash works too
//     ("-name"), and a one-letter alias is "-x"; "--" ends the flags;
//   - "--help"/"-h" and "--version" are always recognised (Parsed says so);
//     the program prints Help() or its version and exits kExitOk;
//   - a usage error (unknown or mistyped flag, bad value, missing value) is
//     one line naming the flag, with the nearest known flag suggested; the
//     program prints it with UsageError and exits kExitUsage.
//
// The flags themselves may be absl flags (AbslFlag) or anything else with a
// setter (glog's gflags, for example), described by a FlagSpec each.

#ifndef GVISOR_TOOLS_CLI_CLI_H_
#define GVISOR_TOOLS_CLI_CLI_H_

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gvisor::cli {

// Exit statuses shared by every binary.
// kExitOk: success, also for --help and --version.
inline constexpr int kExitOk = 0;
// kExitFailure: the work failed (an error answer, a peer that cannot be
// reached, a socket that cannot be bound).
inline constexpr int kExitFailure = 1;
// kExitUsage: the command line is wrong; nothing was done.
inline constexpr int kExitUsage = 2;

// FlagSpec is one flag a program accepts.
struct FlagSpec {
  // name is the flag without dashes, e.g. "timeout".
  std::string name;
  // value_name stands for the value in the help ("DURATION"); empty for a
  // boolean.
  std::string value_name;
  // default_text is the default as the help shows it.
  std::string default_text;
  // help says what the flag does, in one or more sentences.
  std::string help;
  // boolean: the flag takes no value ("--name", "--noname").
  bool boolean = false;
  // short_name, unless 0, is a one-letter alias ('l' for "-l").
  char short_name = 0;
  // set parses value and stores it; for a boolean it gets "true" or
  // "false". An error's message says what is wrong with the value.
  std::function<absl::Status(absl::string_view value)> set;
};

// AbslFlag returns the FlagSpec of the absl flag called name (ABSL_FLAG in
// the program): its help, its default, a boolean if it is a bool flag.
// value_name defaults to "VALUE"; default_text, unless empty, replaces the
// flag's own default in the help. It aborts if there is no such flag: a
// program that names a flag it does not define is a bug.
FlagSpec AbslFlag(absl::string_view name, std::string value_name = "",
                  char short_name = 0, std::string default_text = "");

// Parsed is a parsed command line.
struct Parsed {
  // args holds the arguments that are not flags, in order.
  std::vector<std::string> args;
  // given holds the name of every flag that appeared (help and version
  // too), so that a program can tell a default from a flag given.
  std::set<std::string> given;
  // help: --help or -h appeared. version: --version appeared.
  bool help = false;
  bool version = false;
};

// Parse parses argv[1..argc) against flags (plus --help, -h and --version)
// and calls each flag's set in order. Flags may come before, between and
// after the arguments, until "--". Errors are INVALID_ARGUMENT with a one-line
// message that names the flag: "unknown flag --tiemout (did you mean
// --timeout?)", "--count=x: not a number", "--timeout needs a value".
absl::StatusOr<Parsed> Parse(const std::vector<FlagSpec>& flags, int argc,
                             char** argv);

// FormatFlags returns the "Flags:" part of a help: title, then each flag
// with its value name, its default and its help wrapped to 80 columns, then
// (with builtin) --help and --version.
std::string FormatFlags(const std::vector<FlagSpec>& flags,
                        absl::string_view title = "Flags:",
                        bool builtin = true);

// Wrap wraps text at width columns, each line indented by indent spaces.
std::string Wrap(absl::string_view text, size_t indent, size_t width = 80);

// EditDistance is the Levenshtein distance of a and b.
size_t EditDistance(absl::string_view a, absl::string_view b);

// Closest returns the candidate nearest to word (edit distance at most 2,
// or a candidate that word is a prefix of), if any.
std::optional<std::string> Closest(absl::string_view word,
                                   const std::vector<std::string>& candidates);

// ParseDuration parses the value of flag name as a duration that carries a
// unit ("500ms", "10s", "1m30s"): a bare number such as "10" is refused,
// since nothing says whether it means seconds or milliseconds. Negative
// durations are refused, and zero unless allow_zero. Errors are
// INVALID_ARGUMENT: "--timeout=10: a duration needs a unit: 10s, 500ms
// (units ns, us, ms, s, m, h)".
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view name,
                                             absl::string_view value,
                                             bool allow_zero);

// UsageError prints "PROGRAM: MESSAGE" and, unless hint is empty, the hint
// on a second line to stderr, and returns kExitUsage.
int UsageError(absl::string_view program, absl::string_view message,
               absl::string_view hint);

}  // namespace gvisor::cli

#endif  // GVISOR_TOOLS_CLI_CLI_H_
