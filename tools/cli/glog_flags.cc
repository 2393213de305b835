#include "tools/cli/glog_flags.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::cli {

std::vector<FlagSpec> GlogFlags() {
  FLAGS_logtostderr = true;
  return {
      {.name = "v",
       .value_name = "N",
       .default_text = "0",
       .help = "log VLOG messages of level N and below (glog's verbosity)",
       .set =
           [](absl::string_view v) {
             int n;
             if (!absl::SimpleAtoi(v, &n) || n < 0) {
               return absl::InvalidArgumentError("not a level (0, 1, 2...)");
             }
             FLAGS_v = n;
             return absl::OkStatus();
           }},
      {.name = "logtostderr",
       .default_text = "true",
       .help = "log to stderr only, in glog's format",
       .boolean = true,
       .set =
           [](absl::string_view v) {
             FLAGS_logtostderr = v == "true";
             return absl::OkStatus();
           }},
      {.name = "log_dir",
       .value_name = "DIR",
       .default_text = "none",
       .help = "write glog's log files (PROGRAM.INFO, PROGRAM.WARNING, ...) "
               "in DIR instead of logging to stderr; errors are still "
               "copied to stderr",
       .set =
           [](absl::string_view v) {
             if (v.empty()) return absl::InvalidArgumentError("empty");
             FLAGS_log_dir = std::string(v);
             return absl::OkStatus();
           }},
  };
}

absl::Status ApplyGlogFlags(const Parsed& parsed) {
  if (!parsed.given.contains("log_dir")) return absl::OkStatus();
  const std::string dir = FLAGS_log_dir;
  const std::string flag = absl::StrCat("--log_dir=", dir);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(syserr::FromLastErrno(flag).message());
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": not a directory"));
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::InvalidArgumentError(
        syserr::FromLastErrno(absl::StrCat(flag, ": cannot write in it"))
            .message());
  }
  if (parsed.given.contains("logtostderr")) {
    if (FLAGS_logtostderr) {
      return absl::InvalidArgumentError(
          "--logtostderr and --log_dir: log files or stderr, not both");
    }
  } else {
    FLAGS_logtostderr = false;
  }
  FLAGS_logbufsecs = 0;
  return absl::OkStatus();
}

}  // namespace gvisor::cli
