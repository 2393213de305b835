#include "runsc_shim/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"

namespace gvisor::shim {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Zip pairs label names with values.
Labels Zip(const std::vector<std::string>& names,
           const std::vector<std::string>& values) {
  Labels out;
  out.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    out.emplace_back(names[i], values[i]);
  }
  return out;
}

std::vector<std::string> Key(const std::vector<std::string>& names,
                             absl::Span<const std::string> values) {
  CHECK_EQ(values.size(), names.size()) << "label values for each label";
  return std::vector<std::string>(values.begin(), values.end());
}

// ReadFile returns the contents of a small /proc file ("" on error).
std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::to_chars_result r =
      std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general);
  return std::string(buf, r.ptr);
}

void TextWriter::Family(absl::string_view name, absl::string_view type,
                        absl::string_view help) {
  absl::StrAppend(&out_, "# HELP ", name, " ", EscapeHelp(help), "\n",
                  "# TYPE ", name, " ", type, "\n");
}

void TextWriter::Head(
    absl::string_view name,
    absl::Span<const std::pair<std::string, std::string>> labels) {
  out_.append(name.data(), name.size());
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      absl::StrAppend(&out_, labels[i].first, "=\"",
                      EscapeLabelValue(labels[i].second), "\"");
    }
    out_ += '}';
  }
  out_ += ' ';
}

void TextWriter::Sample(
    absl::string_view name,
    absl::Span<const std::pair<std::string, std::string>> labels,
    double value) {
  Head(name, labels);
  absl::StrAppend(&out_, FormatValue(value), "\n");
}

void TextWriter::Sample(
    absl::string_view name,
    absl::Span<const std::pair<std::string, std::string>> labels,
    uint64_t value) {
  Head(name, labels);
  absl::StrAppend(&out_, value, "\n");
}

CounterVec::CounterVec(std::string name, std::string help,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)) {}

void CounterVec::Add(absl::Span<const std::string> values, uint64_t n) {
  std::vector<std::string> key = Key(label_names_, values);
  std::lock_guard<std::mutex> l(mu_);
  values_[std::move(key)] += n;
}

uint64_t CounterVec::Value(absl::Span<const std::string> values) const {
  std::vector<std::string> key = Key(label_names_, values);
  std::lock_guard<std::mutex> l(mu_);
  auto it = values_.find(key);
  return it == values_.end() ? 0 : it->second;
}

void CounterVec::Render(TextWriter& w) const {
  w.Family(name_, "counter", help_);
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [key, value] : values_) {
    w.Sample(name_, Zip(label_names_, key), value);
  }
}

HistogramVec::HistogramVec(std::string name, std::string help,
                           std::vector<std::string> label_names,
                           std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    CHECK(std::isfinite(bounds_[i])) << name_ << ": bucket bounds are finite";
    CHECK(i == 0 || bounds_[i - 1] < bounds_[i])
        << name_ << ": bucket bounds increase";
  }
}

HistogramVec::Series& HistogramVec::Find(absl::Span<const std::string> values) {
  std::vector<std::string> key = Key(label_names_, values);
  auto it = series_.find(key);
  if (it == series_.end()) {
    it = series_.emplace(std::move(key), Series{}).first;
    it->second.buckets.assign(bounds_.size() + 1, 0);
  }
  return it->second;
}

void HistogramVec::Init(absl::Span<const std::string> values) {
  std::lock_guard<std::mutex> l(mu_);
  Find(values);
}

void HistogramVec::Observe(absl::Span<const std::string> values, double v) {
  size_t i = 0;
  while (i < bounds_.size() && !(v <= bounds_[i])) ++i;
  std::lock_guard<std::mutex> l(mu_);
  Series& s = Find(values);
  ++s.buckets[i];
  s.sum += v;
  ++s.count;
}

uint64_t HistogramVec::Count(absl::Span<const std::string> values) const {
  std::vector<std::string> key = Key(label_names_, values);
  std::lock_guard<std::mutex> l(mu_);
  auto it = series_.find(key);
  return it == series_.end() ? 0 : it->second.count;
}

void HistogramVec::Render(TextWriter& w) const {
  w.Family(name_, "histogram", help_);
  const std::string bucket = absl::StrCat(name_, "_bucket");
  const std::string sum = absl::StrCat(name_, "_sum");
  const std::string count = absl::StrCat(name_, "_count");
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [key, s] : series_) {
    Labels labels = Zip(label_names_, key);
    labels.emplace_back("le", "");
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += s.buckets[i];
      labels.back().second =
          i < bounds_.size() ? FormatValue(bounds_[i]) : "+Inf";
      w.Sample(bucket, labels, cumulative);
    }
    labels.pop_back();
    w.Sample(sum, labels, s.sum);
    w.Sample(count, labels, s.count);
  }
}

Metrics::Metrics(const ContainerRegistry* registry)
    : registry_(registry),
      start_time_(ProcessStartTime()),
      rpcs_("runsc_shim_rpcs_total",
            "gRPC calls of DevGoferShim finished, by method and status code.",
            {"method", "code"}),
      durations_(
          "runsc_shim_rpc_duration_seconds",
          "Time from a DevGoferShim call's arrival until its status "
          "was sent, by method.",
          {"method"},
          std::vector<double>(std::begin(kRpcBuckets), std::end(kRpcBuckets))) {
}

void Metrics::InitMethod(absl::string_view method) {
  durations_.Init({std::string(method)});
}

void Metrics::SetManagedGoferSource(std::function<ManagedGoferStats()> source) {
  std::lock_guard<std::mutex> l(source_mu_);
  source_ = std::move(source);
}

void Metrics::RecordRpc(absl::string_view method, absl::StatusCode code,
                        absl::Duration duration) {
  const std::string m(method);
  rpcs_.Add({m, absl::StatusCodeToString(code)});
  durations_.Observe({m}, absl::ToDoubleSeconds(duration));
}

uint64_t Metrics::rpcs(absl::string_view method, absl::StatusCode code) const {
  return rpcs_.Value({std::string(method), absl::StatusCodeToString(code)});
}

std::string Metrics::Render() const {
  TextWriter w;
  const ContainerRegistry::StateCounts containers = registry_->CountStates();
  w.Family("runsc_shim_containers", "gauge",
           "Containers attached to the shim, by connection state.");
  w.Sample("runsc_shim_containers", {{"state", "attached"}},
           static_cast<uint64_t>(containers.attached));
  w.Sample("runsc_shim_containers", {{"state", "disconnected"}},
           static_cast<uint64_t>(containers.disconnected));
  rpcs_.Render(w);
  durations_.Render(w);
  w.Family("runsc_shim_gofer_stalls_total", "counter",
           "Gofer calls cut off because the gofer did not answer in time "
           "(the registry's stall guard); each leaves its container "
           "disconnected.");
  w.Sample("runsc_shim_gofer_stalls_total", {}, registry_->stall_cutoffs());

  std::function<ManagedGoferStats()> source;
  {
    std::lock_guard<std::mutex> l(source_mu_);
    source = source_;
  }
  if (source) {
    const ManagedGoferStats g = source();
    w.Family("runsc_shim_managed_gofers", "gauge",
             "Gofers the shim runs itself, by state.");
    w.Sample("runsc_shim_managed_gofers", {{"state", "running"}}, g.running);
    w.Sample("runsc_shim_managed_gofers", {{"state", "starting"}}, g.starting);
    w.Sample("runsc_shim_managed_gofers", {{"state", "restarting"}},
             g.restarting);
    w.Family("runsc_shim_managed_gofer_restarts_total", "counter",
             "Managed gofers restarted after they died.");
    w.Sample("runsc_shim_managed_gofer_restarts_total", {}, g.restarts_total);
    w.Family("runsc_shim_managed_gofer_start_failures_total", "counter",
             "Managed gofer starts that failed.");
    w.Sample("runsc_shim_managed_gofer_start_failures_total", {},
             g.start_failures_total);
  }

  w.Family("process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
  w.Sample("process_start_time_seconds", {}, start_time_);
  if (int fds = OpenFdCount(); fds >= 0) {
    w.Family("process_open_fds", "gauge", "Number of open file descriptors.");
    w.Sample("process_open_fds", {}, static_cast<uint64_t>(fds));
  }
  return w.text();
}

double ProcessStartTime() {
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  // Field 22 of /proc/self/stat, after the command in parentheses (which
  // may itself hold spaces and parentheses).
  const std::string stat = ReadFile("/proc/self/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return now;
  std::vector<absl::string_view> fields = absl::StrSplit(
      absl::string_view(stat).substr(paren + 1), ' ', absl::SkipEmpty());
  uint64_t ticks = 0;
  // fields[0] is field 3 (the state).
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &ticks)) return now;
  uint64_t boot = 0;
  for (absl::string_view line : absl::StrSplit(ReadFile("/proc/stat"), '\n')) {
    if (absl::ConsumePrefix(&line, "btime ") && absl::SimpleAtoi(line, &boot)) {
      break;
    }
  }
  const long hz = sysconf(_SC_CLK_TCK);
  if (boot == 0 || hz <= 0) return now;
  return static_cast<double>(boot) +
         static_cast<double>(ticks) / static_cast<double>(hz);
}

int OpenFdCount() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory's own FD
}

}  // namespace gvisor::shim
