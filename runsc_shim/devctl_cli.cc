#include "runsc_shim/devctl_cli.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace gvisor::shim::devctl {
namespace {

std::vector<cli::FlagSpec> Select(const std::vector<cli::FlagSpec>& all,
                                  const std::vector<std::string>& names) {
  std::vector<cli::FlagSpec> out;
  for (const std::string& n : names) {
    for (const cli::FlagSpec& f : all) {
      if (f.name == n) out.push_back(f);
    }
  }
  return out;
}

// Words lists the spellings of flags for the completion script: "--json",
// "--server=", and "-l" for a short name.
std::string FlagWords(const std::vector<cli::FlagSpec>& flags) {
  std::vector<std::string> words = {"--help", "-h", "--version"};
  for (const cli::FlagSpec& f : flags) {
    words.push_back(absl::StrCat("--", f.name, f.boolean ? "" : "="));
    if (f.boolean) words.push_back(absl::StrCat("--no", f.name));
    if (f.short_name != 0) {
      words.push_back(absl::StrCat("-", std::string(1, f.short_name)));
    }
  }
  return absl::StrJoin(words, " ");
}

}  // namespace

const std::vector<Command>& Commands() {
  static const std::vector<Command>* const kCommands = new std::vector<Command>{
      {"attach",
       "NAME [GOFER_SOCKET]",
       "[--managed [--root=DIR] [--allow=RULE]... [--cdi_spec=FILE "
       "--cdi_device=NAME]... [--readonly] [--restart]]",
       1,
       2,
       "attach container NAME to a devgofer",
       "Attaches container NAME to the devgofer listening on GOFER_SOCKET: "
       "the shim connects, mounts the gofer's /dev and keeps the connection "
       "until detach. A relative GOFER_SOCKET is resolved against devctl's "
       "working directory before it is sent (the shim takes absolute paths "
       "only); @NAME is an abstract socket. With --managed there is no "
       "GOFER_SOCKET: the shim runs a devgofer for the container itself, "
       "over a socket pair, serving --root scoped to what --allow and "
       "--cdi_device name (in a mount namespace of its own that holds only "
       "those nodes), sandboxed; detach stops it, and with --restart it is "
       "started again when it exits. NAME is 1 to 253 ASCII letters, "
       "digits, '-', '_' and '.', beginning and ending with a letter or a "
       "digit.",
       {"managed", "root", "allow", "cdi_spec", "cdi_device", "readonly",
        "restart"}},
      {"reattach",
       "NAME GOFER_SOCKET",
       "",
       2,
       2,
       "give NAME a new gofer connection (after a restore)",
       "Gives the attached container NAME a new gofer connection, as after "
       "a restore: the shim connects and mounts as for attach, then swaps "
       "the connection; NAME keeps its attach time and becomes attached "
       "again, also from disconnected. Calls in flight finish on the old "
       "connection. If the new gofer cannot be reached, the old connection "
       "stays. GOFER_SOCKET as for attach.",
       {}},
      {"detach",
       "NAME",
       "",
       1,
       1,
       "close NAME's gofer connection and forget it",
       "Closes container NAME's gofer connection and forgets the container, "
       "also a disconnected one. Calls in flight are not waited for. A "
       "managed gofer is stopped (SIGTERM, then SIGKILL after the shim's "
       "--gofer_stop_grace) and reaped before detach returns.",
       {}},
      {"ls",
       "",
       "",
       0,
       0,
       "list the attached containers",
       "Lists the attached containers, sorted by name: when each was "
       "attached (UTC), whether its gofer donated the mount FD (device "
       "opens then take the host fast path), its gofer socket (or, for a "
       "managed gofer, its pid) and its state (attached, or disconnected "
       "with the reason; for a managed gofer also running, restarting or "
       "exited, how it last ended and how often it was restarted).",
       {}},
      {"get",
       "NAME",
       "",
       1,
       1,
       "show one container",
       "Shows container NAME as a row of ls.",
       {}},
      {"devices",
       "NAME",
       "[-l]",
       1,
       1,
       "list the entries of NAME's /dev",
       "Lists the names in container NAME's /dev, sorted. With -l, one line "
       "per entry as ls -l shows it: the type (c character device, b block "
       "device, d directory, l symlink, p fifo, s socket, - regular file), "
       "the permission bits in octal, major:minor for a device, and the "
       "name. Symlinks are described, never followed. With --json the "
       "names (and with -l the devices) are sorted too, and modes are "
       "octal strings as in the table.",
       {"long"}},
      {"probe",
       "NAME RELPATH",
       "[--open [--mode=r|w|rw]]",
       2,
       2,
       "describe a device (type, mode, major:minor)",
       "Describes the file at RELPATH in container NAME's /dev (e.g. null, "
       "nvidia-caps/nvidia-cap1): its type, permission bits in octal and "
       "major:minor. By default the gofer only stats it, so no driver sees "
       "an open or a close. With --open the shim opens it as a sandbox "
       "would (non-blocking, with --mode), fstat()s the opened file and "
       "closes it at once. No symlink is followed: one on the path is an "
       "error naming it.",
       {"open", "mode"}},
      {"health",
       "",
       "",
       0,
       0,
       "ask the shim's gRPC health service",
       "Asks the shim's standard gRPC health service (grpc.health.v1) and "
       "prints SERVING or NOT_SERVING; exits 0 only when SERVING.",
       {}},
      {"watch",
       "",
       "[--count=N]",
       0,
       0,
       "print container events as they happen",
       "Prints the shim's container events as they happen: one existing "
       "line per attached container, then synced, then attached, "
       "disconnected (a gofer went away), reattached, gofer_changed (a "
       "managed gofer exited or is restarting) and detached events. "
       "It runs until interrupted, until the shim ends the stream (exit 1), "
       "or until --count events have been printed (exit 0); --timeout does "
       "not apply. With --json each event is one JSON object on a line.",
       {"count"}},
      {"help",
       "[COMMAND]",
       "",
       0,
       1,
       "what a command does, its arguments, flags",
       "Prints what COMMAND does, its arguments and its flags; without "
       "COMMAND, devctl's whole help (as devctl --help).",
       {}},
      {"completion",
       "bash",
       "",
       1,
       1,
       "print a bash completion script",
       "Prints a bash completion script for devctl: its commands, flags, "
       "--mode's values, socket file names and (from devctl --json ls) "
       "container names. Load it with\n"
       "  source <(devctl completion bash)\n"
       "or install it as /etc/bash_completion.d/devctl.",
       {}},
  };
  return *kCommands;
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string Synopsis(const Command& c) {
  std::string out = absl::StrCat("devctl [FLAGS] ", c.name);
  if (!c.args.empty()) absl::StrAppend(&out, " ", c.args);
  if (!c.flag_args.empty()) absl::StrAppend(&out, " ", c.flag_args);
  return out;
}

std::string Help(const std::vector<cli::FlagSpec>& flags) {
  std::string out = absl::StrCat(
      cli::Wrap("devctl: the command-line client of the runsc_shim gRPC "
                "server, which attaches containers to devgofers and "
                "describes their devices.",
                0),
      "\nUsage: devctl [FLAGS] COMMAND [ARGUMENTS]\n\nCommands:\n");
  size_t width = 0;
  for (const Command& c : Commands()) {
    width = std::max(width, c.name.size() + 1 + c.args.size());
  }
  for (const Command& c : Commands()) {
    std::string left = c.args.empty() ? c.name : c.name + " " + c.args;
    absl::StrAppend(
        &out, absl::StrFormat("  %-*s  %s\n", static_cast<int>(width), left,
                              c.summary));
  }
  absl::StrAppend(&out, "\n", cli::FormatFlags(Select(flags, kGlobalFlags)));
  for (const Command& c : Commands()) {
    if (c.flags.empty()) continue;
    absl::StrAppend(&out, "\n",
                    cli::FormatFlags(Select(flags, c.flags),
                                     absl::StrCat("Flags of ", c.name, ":"),
                                     /*builtin=*/false));
  }
  absl::StrAppend(
      &out, "\nEnvironment:\n",
      cli::Wrap(absl::StrCat(kServerEnv,
                             ": the default of --server, where the flag is "
                             "not given."),
                2),
      cli::Wrap("XDG_RUNTIME_DIR: without --server and " +
                    std::string(kServerEnv) +
                    ", the shim is looked for at "
                    "unix:$XDG_RUNTIME_DIR/runsc-shim.sock, or at "
                    "unix:/run/runsc-shim.sock.",
                2),
      "\nExit status:\n",
      cli::Wrap("0 success; 1 the shim answered with an error, could not be "
                "reached or is not a runsc_shim (the message says which), "
                "or a watch ended; 2 a usage error: nothing was sent.",
                2),
      "\nRun 'devctl help COMMAND' for what one command does.\n");
  return out;
}

std::string CommandHelp(const Command& c,
                        const std::vector<cli::FlagSpec>& flags) {
  std::string out =
      absl::StrCat("Usage: ", Synopsis(c), "\n\n", cli::Wrap(c.details, 0));
  if (!c.flags.empty()) {
    absl::StrAppend(&out, "\n",
                    cli::FormatFlags(Select(flags, c.flags),
                                     absl::StrCat("Flags of ", c.name, ":"),
                                     /*builtin=*/false));
  }
  absl::StrAppend(&out, "\n",
                  cli::FormatFlags(Select(flags, kGlobalFlags),
                                   "Global flags:", /*builtin=*/false));
  return out;
}

std::string BashCompletion(const std::vector<cli::FlagSpec>& flags) {
  std::vector<std::string> names;
  std::vector<std::string> with_value;
  for (const Command& c : Commands()) names.push_back(c.name);
  for (const cli::FlagSpec& f : flags) {
    if (!f.boolean) with_value.push_back("--" + f.name);
  }
  // Commands whose first argument is a container name.
  std::vector<std::string> by_name;
  for (const Command& c : Commands()) {
    if (absl::StartsWith(c.args, "NAME")) by_name.push_back(c.name);
  }
  return absl::StrCat(
      "# bash completion for devctl. Load it with\n"
      "#   source <(devctl completion bash)\n"
      "# or install it as /etc/bash_completion.d/devctl.\n"
      "_devctl() {\n"
      "  local cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
      "  local prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
      "  local commands=\"",
      absl::StrJoin(names, " "),
      "\"\n"
      "  local flags=\"",
      FlagWords(flags),
      "\"\n"
      "  local i word cmd=\"\" nargs=0 server=()\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    word=\"${COMP_WORDS[i]}\"\n"
      "    case \"$word\" in\n"
      "      --server=*) server=(\"$word\") ;;\n"
      "      ",
      absl::StrJoin(with_value, "|"),
      ")\n"
      "        [[ $word == --server ]] && "
      "server=(\"--server=${COMP_WORDS[i+1]}\")\n"
      "        ((i++)) ;;\n"
      "      -*) ;;\n"
      "      *) if [[ -z $cmd ]]; then cmd=\"$word\"; else ((nargs++)); fi ;;\n"
      "    esac\n"
      "  done\n"
      "  case \"$prev\" in\n"
      "    --mode) COMPREPLY=($(compgen -W \"r w rw\" -- \"$cur\")); return "
      ";;\n"
      "    ",
      absl::StrJoin(with_value, "|"),
      ") COMPREPLY=(); return ;;\n"
      "  esac\n"
      "  case \"$cur\" in\n"
      "    --mode=*)\n"
      "      COMPREPLY=($(compgen -W \"r w rw\" -- \"${cur#--mode=}\"))\n"
      "      return ;;\n"
      "    -*)\n"
      "      COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n"
      "      [[ ${#COMPREPLY[@]} == 1 && ${COMPREPLY[0]} == *= ]] &&\n"
      "        compopt -o nospace 2>/dev/null\n"
      "      return ;;\n"
      "  esac\n"
      "  if [[ -z $cmd ]]; then\n"
      "    COMPREPLY=($(compgen -W \"$commands\" -- \"$cur\"))\n"
      "    return\n"
      "  fi\n"
      "  case \"$cmd\" in\n"
      "    help) ((nargs == 0)) &&\n"
      "      COMPREPLY=($(compgen -W \"$commands\" -- \"$cur\")) ;;\n"
      "    completion) ((nargs == 0)) &&\n"
      "      COMPREPLY=($(compgen -W \"bash\" -- \"$cur\")) ;;\n"
      "    attach|reattach) ((nargs == 1)) &&\n"
      "      COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
      "  esac\n"
      "  case \"$cmd\" in\n"
      "    ",
      absl::StrJoin(by_name, "|"),
      ")\n"
      "      if ((nargs == 0)); then\n"
      "        local names\n"
      "        names=$(\"${COMP_WORDS[0]}\" \"${server[@]}\" --json ls "
      "2>/dev/null |\n"
      "          grep -o '\"name\":\"[^\"]*\"' | cut -d'\"' -f4)\n"
      "        COMPREPLY=($(compgen -W \"$names\" -- \"$cur\"))\n"
      "      fi ;;\n"
      "  esac\n"
      "}\n"
      "complete -F _devctl devctl\n");
}

}  // namespace gvisor::shim::devctl
