#include "runsc_shim/gofer_output.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gvisor::shim {
namespace {

// StripGlogPrefix returns line without glog's prefix, and its severity
// letter ('\0' if it has none).
absl::string_view StripGlogPrefix(absl::string_view line, char* severity) {
  *severity = '\0';
  if (line.size() > 2 &&
      absl::string_view("IWEF").find(line[0]) != absl::string_view::npos &&
      absl::ascii_isdigit(static_cast<unsigned char>(line[1]))) {
    size_t end = line.find("] ");
    if (end != absl::string_view::npos) {
      *severity = line[0];
      return line.substr(end + 2);
    }
  }
  return line;
}

}  // namespace

GoferOutput::GoferOutput(const context::Context& ctx, std::string prefix,
                         size_t max_bytes_per_second, size_t tail_bytes)
    : ctx_(ctx),
      prefix_(std::move(prefix)),
      max_bytes_per_second_(max_bytes_per_second),
      tail_bytes_(tail_bytes) {}

void GoferOutput::Append(absl::string_view data, absl::Time now) {
  tail_.append(data.data(), data.size());
  if (tail_.size() > 2 * tail_bytes_) {
    tail_.erase(0, tail_.size() - tail_bytes_);
  }
  while (!data.empty()) {
    const size_t nl = data.find('\n');
    const absl::string_view piece = data.substr(0, nl);
    const size_t room = kMaxLineBytes - line_.size();
    if (piece.size() > room) {
      // Longer than a line may be: what fits goes now.
      line_.append(piece.data(), room);
      Emit(line_, now);
      line_.clear();
      data.remove_prefix(room);
      continue;
    }
    line_.append(piece.data(), piece.size());
    if (nl == absl::string_view::npos) return;
    Emit(line_, now);
    line_.clear();
    data.remove_prefix(nl + 1);
  }
}

void GoferOutput::End(absl::Time now) {
  if (!line_.empty()) {
    Emit(line_, now);
    line_.clear();
  }
  NoteDropped();
}

std::string GoferOutput::tail() const {
  if (tail_.size() <= tail_bytes_) return tail_;
  return tail_.substr(tail_.size() - tail_bytes_);
}

void GoferOutput::Emit(absl::string_view line, absl::Time now) {
  // A clock that went back starts a new second too.
  if (now - window_start_ >= absl::Seconds(1) || now < window_start_) {
    NoteDropped();
    window_start_ = now;
    window_bytes_ = 0;
  }
  if (window_bytes_ + line.size() > max_bytes_per_second_) {
    dropped_bytes_ += line.size();
    ++dropped_lines_;
    ++dropped_total_;
    return;
  }
  window_bytes_ += line.size();
  ctx_.Log(context::LogLevel::kInfo, absl::StrCat(prefix_, ": ", line));
}

void GoferOutput::NoteDropped() {
  if (dropped_lines_ == 0) return;
  ctx_.Log(
      context::LogLevel::kWarning,
      absl::StrCat(prefix_, ": ", dropped_lines_, " line(s), ", dropped_bytes_,
                   " bytes, of its output not logged "
                   "(more than ",
                   max_bytes_per_second_, " bytes a second)"));
  dropped_lines_ = 0;
  dropped_bytes_ = 0;
}

std::string ErrorLine(absl::string_view tail, bool or_last) {
  std::vector<absl::string_view> lines;
  for (absl::string_view rest = tail; !rest.empty();) {
    const size_t nl = rest.find('\n');
    absl::string_view line = rest.substr(0, nl);
    rest = nl == absl::string_view::npos ? "" : rest.substr(nl + 1);
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.push_back(line);
  }
  absl::string_view plain, last;
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    char severity;
    const absl::string_view text = StripGlogPrefix(*it, &severity);
    if (severity == 'E' || severity == 'F') return std::string(text);
    if (severity == '\0' && plain.empty()) plain = text;
    if (last.empty()) last = text;
  }
  if (!plain.empty()) return std::string(plain);
  return or_last ? std::string(last) : std::string();
}

}  // namespace gvisor::shim
