#include "pkg/context/context.h"

#include <any>
#include <cstdint>
#include <typeindex>

#include "absl/strings/string_view.h"
#include "glog/logging.h"

namespace gvisor::context {
namespace {

// BackgroundContext is Context with all its defaults.
class BackgroundContext final : public Context {};

}  // namespace

void Context::Log(LogLevel level, absl::string_view msg) const {
  switch (level) {
    case LogLevel::kDebug:
      VLOG(1) << msg;
      return;
    case LogLevel::kInfo:
      LOG(INFO) << msg;
      return;
    case LogLevel::kWarning:
      LOG(WARNING) << msg;
      return;
  }
  // An out-of-range level is still worth seeing.
  LOG(WARNING) << msg;
}

bool Context::IsLogging(LogLevel level) const {
  if (level == LogLevel::kDebug) return VLOG_IS_ON(1);
  return true;
}

const Context& Background() {
  // Never destroyed, so it stays usable from other static destructors.
  static const BackgroundContext* const background = new BackgroundContext;
  return *background;
}

void ValueContext::UninterruptibleSleepStart() const {
  parent_->UninterruptibleSleepStart();
}

void ValueContext::UninterruptibleSleepFinish() const {
  parent_->UninterruptibleSleepFinish();
}

void ValueContext::Log(LogLevel level, absl::string_view msg) const {
  parent_->Log(level, msg);
}

bool ValueContext::IsLogging(LogLevel level) const {
  return parent_->IsLogging(level);
}

const std::any* ValueContext::RawValue(std::type_index key_type,
                                       int64_t key_id) const {
  if (key_type == key_type_ && key_id == key_id_) return &value_;
  return parent_->RawValue(key_type, key_id);
}

}  // namespace gvisor::context
