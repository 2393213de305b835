// Metrics: the shim's Prometheus metrics, and the two metric types they are
// made of (CounterVec, HistogramVec), rendered in Prometheus' text
// exposition format, version 0.0.4 (# HELP and # TYPE lines, then one
// sample per line). metrics_http.h serves Render() over HTTP; the gRPC
// server (server.h) records each call through RecordRpc. No gRPC here.
//
// Gauges are read when rendered: the containers by state from the
// ContainerRegistry, the managed gofers from a source the shim sets,
// process_open_fds from /proc/self/fd.

#ifndef GVISOR_RUNSC_SHIM_METRICS_H_
#define GVISOR_RUNSC_SHIM_METRICS_H_

#include <stddef.h>
#include <stdint.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "runsc_shim/registry.h"

namespace gvisor::shim {

// kMetricsContentType is the Content-Type of the text exposition format.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4";

// EscapeLabelValue escapes a label value for the text format: backslash,
// double quote and line feed become \\, \" and \n.
std::string EscapeLabelValue(absl::string_view value);

// EscapeHelp escapes a # HELP text: backslash and line feed become \\ and
// \n.
std::string EscapeHelp(absl::string_view help);

// FormatValue writes a sample value or a bucket bound: the shortest text
// that reads back as v ("0.0001", "2.5", "1e+21"), or +Inf, -Inf, NaN.
std::string FormatValue(double v);

// TextWriter builds an exposition one family at a time.
class TextWriter {
 public:
  // Family starts a family: its # HELP and # TYPE lines. type is
  // "counter", "gauge" or "histogram".
  void Family(absl::string_view name, absl::string_view type,
              absl::string_view help);
  // Sample writes one sample: name{label="value",...} value. labels pairs
  // names with values, in order; values are escaped here.
  void Sample(absl::string_view name,
              absl::Span<const std::pair<std::string, std::string>> labels,
              double value);
  void Sample(absl::string_view name,
              absl::Span<const std::pair<std::string, std::string>> labels,
              uint64_t value);

  // text returns what was written.
  const std::string& text() const { return out_; }

 private:
  void Head(absl::string_view name,
            absl::Span<const std::pair<std::string, std::string>> labels);
  std::string out_;
};

// CounterVec is a counter family: one counter per combination of label
// values. Thread-safe. A combination appears once added to (or Init).
class CounterVec {
 public:
  CounterVec(std::string name, std::string help,
             std::vector<std::string> label_names);
  CounterVec(const CounterVec&) = delete;
  CounterVec& operator=(const CounterVec&) = delete;

  // Add adds n to the counter of values (one per label name; a different
  // number is a programming error: CHECK).
  void Add(absl::Span<const std::string> values, uint64_t n = 1);
  // Init makes values' counter appear, at zero if new.
  void Init(absl::Span<const std::string> values) { Add(values, 0); }
  // Value returns the counter of values (0 if it never appeared).
  uint64_t Value(absl::Span<const std::string> values) const;
  // Render writes the family, its series sorted by label values.
  void Render(TextWriter& w) const;

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  mutable std::mutex mu_;  // guards values_
  std::map<std::vector<std::string>, uint64_t> values_;
};

// HistogramVec is a histogram family: one histogram per combination of
// label values, all with the same bucket bounds. Rendered as cumulative
// name_bucket{...,le="bound"} samples ending with le="+Inf", then name_sum
// and name_count. Thread-safe.
class HistogramVec {
 public:
  // bounds are the buckets' upper bounds, finite and strictly increasing
  // (CHECK); the +Inf bucket is implied.
  HistogramVec(std::string name, std::string help,
               std::vector<std::string> label_names,
               std::vector<double> bounds);
  HistogramVec(const HistogramVec&) = delete;
  HistogramVec& operator=(const HistogramVec&) = delete;

  // Observe counts v in the histogram of values: in the first bucket whose
  // bound is >= v.
  void Observe(absl::Span<const std::string> values, double v);
  // Init makes values' histogram appear, empty if new.
  void Init(absl::Span<const std::string> values);
  // Count returns how many values the histogram of values has counted.
  uint64_t Count(absl::Span<const std::string> values) const;
  void Render(TextWriter& w) const;

 private:
  struct Series {
    std::vector<uint64_t> buckets;  // per bound, not cumulative; +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  Series& Find(absl::Span<const std::string> values);  // mu_ held

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
  mutable std::mutex mu_;  // guards series_
  std::map<std::vector<std::string>, Series> series_;
};

// ManagedGoferStats is what the shim's managed gofers (gofer_supervisor.h)
// report to the metrics: how many are in each state now, and how many
// restarts and failed starts there have been since the shim started.
struct ManagedGoferStats {
  uint64_t running = 0, starting = 0, restarting = 0;
  uint64_t restarts_total = 0, start_failures_total = 0;
};

// Metrics is the shim's set of metrics. Thread-safe.
//
//   runsc_shim_containers{state="attached"|"disconnected"}    gauge
//   runsc_shim_rpcs_total{method,code}                         counter
//   runsc_shim_rpc_duration_seconds{method}                    histogram
//   runsc_shim_gofer_stalls_total                              counter
//   runsc_shim_managed_gofers{state="running"|"starting"|"restarting"}
//                                                              gauge
//   runsc_shim_managed_gofer_restarts_total                    counter
//   runsc_shim_managed_gofer_start_failures_total              counter
//   process_start_time_seconds                                 gauge
//   process_open_fds                                           gauge
//
// The managed gofers' three families appear once a source is set.
class Metrics {
 public:
  // kRpcBuckets are the bounds of runsc_shim_rpc_duration_seconds, in
  // seconds: 100 us to 10 s, 1-2.5-5 per decade.
  static constexpr double kRpcBuckets[] = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

  // registry, which must outlive the metrics, gives the containers and
  // the stall cut-offs.
  explicit Metrics(const ContainerRegistry* registry);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // SetManagedGoferSource sets (or, with an empty function, clears) what
  // Render asks for the managed gofers' figures. source is called on the
  // rendering thread and must not call back into the metrics.
  void SetManagedGoferSource(std::function<ManagedGoferStats()> source);

  // InitMethod makes method's histogram appear, empty, before its first
  // call.
  void InitMethod(absl::string_view method);

  // RecordRpc counts one finished call of method (its short name,
  // "AttachContainer") with code and its duration.
  void RecordRpc(absl::string_view method, absl::StatusCode code,
                 absl::Duration duration);

  // Render returns the exposition of every metric, read now.
  std::string Render() const;

  // rpcs returns runsc_shim_rpcs_total{method,code}, for tests.
  uint64_t rpcs(absl::string_view method, absl::StatusCode code) const;

 private:
  const ContainerRegistry* const registry_;
  const double start_time_;  // process_start_time_seconds
  CounterVec rpcs_;
  HistogramVec durations_;
  mutable std::mutex source_mu_;  // guards source_
  std::function<ManagedGoferStats()> source_;
};

// ProcessStartTime returns when this process started, in seconds since the
// epoch (from /proc/self/stat and the boot time in /proc/stat), or
// absl::Now() if those cannot be read.
double ProcessStartTime();

// OpenFdCount returns the number of FDs this process has open (entries of
// /proc/self/fd, less the one reading it), or -1 if it cannot be read.
int OpenFdCount();

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_METRICS_H_
