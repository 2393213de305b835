// GoferOutput: what a managed gofer writes on its stdout and stderr (one
// pipe), as GoferSupervisor (gofer_supervisor.h) logs and keeps it: split
// into lines, each logged through a context with a prefix that names the
// gofer, at most max_bytes_per_second of lines in a second (the lines past
// it are counted and dropped, and the count is logged when the next second
// begins or the output ends, so that a gofer cannot flood the shim's log),
// and the last tail_bytes kept whole for error messages. ErrorLine picks
// from the tail the line that says why a gofer stopped.
//
// Not thread-safe: the supervisor's thread owns each.

#ifndef GVISOR_RUNSC_SHIM_GOFER_OUTPUT_H_
#define GVISOR_RUNSC_SHIM_GOFER_OUTPUT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/context/context.h"

namespace gvisor::shim {

class GoferOutput {
 public:
  // kMaxLineBytes bounds a line held for the log: a longer one is logged
  // in pieces of this size.
  static constexpr size_t kMaxLineBytes = 4096;

  // ctx must outlive the GoferOutput. Lines are logged at kInfo as
  // "<prefix>: <line>", the count of dropped ones at kWarning.
  GoferOutput(const context::Context& ctx, std::string prefix,
              size_t max_bytes_per_second, size_t tail_bytes);

  GoferOutput(const GoferOutput&) = delete;
  GoferOutput& operator=(const GoferOutput&) = delete;

  // Append takes data read at now (a monotonic clock's time, best).
  void Append(absl::string_view data, absl::Time now);

  // End logs the last line if it lacks its newline, and what was dropped
  // and not yet said. Append after End starts a new line.
  void End(absl::Time now);

  // tail returns the last tail_bytes of everything appended (all of it,
  // logged or dropped).
  std::string tail() const;

  // dropped_lines is how many lines were not logged, in all.
  size_t dropped_lines() const { return dropped_total_; }

 private:
  void Emit(absl::string_view line, absl::Time now);
  void NoteDropped();

  const context::Context& ctx_;
  const std::string prefix_;
  const size_t max_bytes_per_second_;
  const size_t tail_bytes_;
  std::string line_;  // a line not yet complete
  std::string tail_;  // at most 2 * tail_bytes_, trimmed by tail()
  absl::Time window_start_ = absl::InfinitePast();
  size_t window_bytes_ = 0;   // logged in the current second
  size_t dropped_bytes_ = 0;  // dropped and not yet said
  size_t dropped_lines_ = 0;
  size_t dropped_total_ = 0;
};

// ErrorLine picks from the end of a gofer's output the line that says why
// it stopped, without glog's prefix ("E1201 12:00:00.000000 42 f.cc:1] "):
// the last ERROR or FATAL line; failing that, the last line that is not
// glog's (a usage error, which devgofer prints alone); failing that, the
// last line (unless or_last is false: a gofer that was killed while it
// served need not have said anything). "" for no output.
std::string ErrorLine(absl::string_view tail, bool or_last = true);

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_GOFER_OUTPUT_H_
