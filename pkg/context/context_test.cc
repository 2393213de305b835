#include "pkg/context/context.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/context/testutil.h"

namespace gvisor::context {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using testutil::CountingContext;

// Two packages that each declare their own private key type, with the same
// numeric ids, as devutil does in Go.
namespace first {
enum class contextID { kA = 0, kB = 1 };
inline constexpr Key<contextID, int> CtxA{contextID::kA};
inline constexpr Key<contextID, std::string> CtxB{contextID::kB};
}  // namespace first

namespace second {
enum class contextID { kA = 0, kB = 1 };
inline constexpr Key<contextID, int> CtxA{contextID::kA};
inline constexpr Key<contextID, std::string> CtxB{contextID::kB};
}  // namespace second

// The declaration pattern devutil uses, with a value type that is never
// completed.
namespace devutil_like {
class GoferClient;
enum class contextID { kDevGoferClient = 0, kDevGoferClientProvider = 1 };
inline constexpr Key<contextID, GoferClient*> CtxDevGoferClient{
    contextID::kDevGoferClient};
}  // namespace devutil_like

// Keys whose KeyType is a plain integer type.
inline constexpr Key<int, int> kIntKey{7};
inline constexpr Key<int64_t, int> kInt64Key{7};

// RecordingContext records every call to the hooks it overrides, in order.
class RecordingContext : public Context {
 public:
  void UninterruptibleSleepStart() const override { Record("start"); }
  void UninterruptibleSleepFinish() const override { Record("finish"); }
  void Log(LogLevel level, absl::string_view msg) const override {
    Record(absl::StrFormat("log %d %s", static_cast<int>(level), msg));
  }
  bool IsLogging(LogLevel level) const override {
    Record(absl::StrFormat("is_logging %d", static_cast<int>(level)));
    return level >= min_level_;
  }

  void set_min_level(LogLevel level) { min_level_ = level; }
  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  void Record(std::string event) const {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(event));
  }

  LogLevel min_level_ = LogLevel::kDebug;
  mutable std::mutex mu_;
  mutable std::vector<std::string> events_;
};

// CountingArg counts how often it is formatted.
struct CountingArg {
  int* formatted;

  friend absl::FormatConvertResult<absl::FormatConversionCharSet::kString>
  AbslFormatConvert(const CountingArg& arg, const absl::FormatConversionSpec&,
                    absl::FormatSink* sink) {
    ++*arg.formatted;
    sink->Append("counted");
    return {true};
  }
};

// CapturingSink collects what glog is given while it is registered.
class CapturingSink : public google::LogSink {
 public:
  CapturingSink() { google::AddLogSink(this); }
  ~CapturingSink() override { google::RemoveLogSink(this); }

  using google::LogSink::send;
  void send(google::LogSeverity severity, const char* full_filename,
            const char* base_filename, int line,
            const google::LogMessageTime& time, const char* message,
            size_t message_len) override {
    std::lock_guard<std::mutex> lock(mu_);
    messages_.emplace_back(severity, std::string(message, message_len));
  }

  std::vector<std::pair<google::LogSeverity, std::string>> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<google::LogSeverity, std::string>> messages_;
};

// FLAGS_v, set for the scope of one test.
class ScopedVerbosity {
 public:
  explicit ScopedVerbosity(int v) : saved_(FLAGS_v) { FLAGS_v = v; }
  ~ScopedVerbosity() { FLAGS_v = saved_; }

 private:
  int saved_;
};

// Whether WithValue (or the ValueContext constructor) accepts a temporary
// parent.
template <typename P>
constexpr bool kWithValueAcceptsParent = requires(P&& parent) {
  WithValue(std::forward<P>(parent), first::CtxA, 1);
};
template <typename P>
constexpr bool kConstructorAcceptsParent = requires(P&& parent) {
  ValueContext(std::forward<P>(parent), first::CtxA, 1);
};

TEST(KeyTest, IdIsConstexpr) {
  static_assert(first::CtxB.id() == first::contextID::kB);
  static_assert(devutil_like::CtxDevGoferClient.id() ==
                devutil_like::contextID::kDevGoferClient);
}

TEST(KeyTest, MatchesOnlyItsTypeAndId) {
  EXPECT_TRUE(first::CtxA.Matches(typeid(first::contextID), 0));
  EXPECT_FALSE(first::CtxA.Matches(typeid(first::contextID), 1));
  EXPECT_FALSE(first::CtxA.Matches(typeid(second::contextID), 0));
  EXPECT_FALSE(first::CtxA.Matches(typeid(int), 0));
}

TEST(ValueTest, BackgroundHasNoValues) {
  EXPECT_EQ(Value(Background(), first::CtxA), nullptr);
  EXPECT_EQ(Value(Background(), first::CtxB), nullptr);
  EXPECT_EQ(Value(Background(), devutil_like::CtxDevGoferClient), nullptr);
  EXPECT_EQ(Value(Background(), kIntKey), nullptr);
}

TEST(ValueTest, BackgroundIsOneObject) {
  EXPECT_EQ(&Background(), &Background());
}

TEST(ValueTest, StoredValueIsFound) {
  ValueContext ctx = WithValue(Background(), first::CtxB, std::string("hi"));
  const std::string* v = Value(ctx, first::CtxB);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(*v, "hi");
  // The same object each time.
  EXPECT_EQ(Value(ctx, first::CtxB), v);
}

TEST(ValueTest, AbsentKeyIsNull) {
  ValueContext ctx = WithValue(Background(), first::CtxA, 1);
  EXPECT_EQ(Value(ctx, first::CtxB), nullptr);
}

TEST(ValueTest, SameIdInAnotherKeyTypeDoesNotCollide) {
  ValueContext a = WithValue(Background(), first::CtxA, 1);
  ValueContext b = WithValue(a, second::CtxA, 2);

  EXPECT_EQ(Value(a, second::CtxA), nullptr);
  ASSERT_NE(Value(b, first::CtxA), nullptr);
  EXPECT_EQ(*Value(b, first::CtxA), 1);
  ASSERT_NE(Value(b, second::CtxA), nullptr);
  EXPECT_EQ(*Value(b, second::CtxA), 2);
}

TEST(ValueTest, IntegerKeyTypesOfDifferentWidthsDoNotCollide) {
  ValueContext ctx = WithValue(Background(), kIntKey, 1);
  EXPECT_EQ(Value(ctx, kInt64Key), nullptr);
  ASSERT_NE(Value(ctx, kIntKey), nullptr);
  EXPECT_EQ(*Value(ctx, kIntKey), 1);
}

TEST(ValueTest, NearestValueWins) {
  ValueContext outer = WithValue(Background(), first::CtxA, 1);
  ValueContext middle = WithValue(outer, first::CtxB, std::string("b"));
  ValueContext inner = WithValue(middle, first::CtxA, 3);

  EXPECT_EQ(*Value(outer, first::CtxA), 1);
  EXPECT_EQ(*Value(inner, first::CtxA), 3);
  // Keys the nearest context lacks come from further up.
  EXPECT_EQ(*Value(inner, first::CtxB), "b");
}

TEST(ValueTest, NearestValueOfOtherTypeHidesAndReadsAsNull) {
  // Same key type and id, different value type: like a failed type
  // assertion in Go, the lookup stops at the nearest value and yields null.
  constexpr Key<first::contextID, int64_t> kWide{first::contextID::kA};
  ValueContext outer = WithValue(Background(), first::CtxA, 1);
  ValueContext inner = WithValue(outer, kWide, int64_t{2});

  EXPECT_EQ(Value(inner, first::CtxA), nullptr);
  ASSERT_NE(Value(inner, kWide), nullptr);
  EXPECT_EQ(*Value(inner, kWide), 2);
}

TEST(ValueTest, StoresPointersToIncompleteTypes) {
  auto* client = reinterpret_cast<devutil_like::GoferClient*>(0x1000);
  ValueContext ctx =
      WithValue(Background(), devutil_like::CtxDevGoferClient, client);
  ASSERT_NE(Value(ctx, devutil_like::CtxDevGoferClient), nullptr);
  EXPECT_EQ(*Value(ctx, devutil_like::CtxDevGoferClient), client);

  // A null pointer is a value too, distinct from "absent".
  ValueContext null_ctx =
      WithValue(Background(), devutil_like::CtxDevGoferClient, nullptr);
  ASSERT_NE(Value(null_ctx, devutil_like::CtxDevGoferClient), nullptr);
  EXPECT_EQ(*Value(null_ctx, devutil_like::CtxDevGoferClient), nullptr);
}

TEST(ValueTest, ConstructorIsEquivalentToWithValue) {
  ValueContext ctx(Background(), first::CtxA, 5);
  ASSERT_NE(Value(ctx, first::CtxA), nullptr);
  EXPECT_EQ(*Value(ctx, first::CtxA), 5);
}

TEST(ValueTest, MovedContextKeepsValueAndParent) {
  ValueContext parent = WithValue(Background(), first::CtxB, std::string("p"));
  ValueContext a = WithValue(parent, first::CtxA, 1);
  ValueContext b = std::move(a);
  ASSERT_NE(Value(b, first::CtxA), nullptr);
  EXPECT_EQ(*Value(b, first::CtxA), 1);
  EXPECT_EQ(*Value(b, first::CtxB), "p");

  ValueContext c = WithValue(Background(), first::CtxA, 9);
  c = std::move(b);
  EXPECT_EQ(*Value(c, first::CtxA), 1);
  EXPECT_EQ(*Value(c, first::CtxB), "p");
}

TEST(ValueTest, TemporaryParentsAreRejected) {
  static_assert(kWithValueAcceptsParent<const Context&>);
  static_assert(kWithValueAcceptsParent<const ValueContext&>);
  static_assert(!kWithValueAcceptsParent<ValueContext>);
  static_assert(!kWithValueAcceptsParent<ValueContext&&>);
  static_assert(kConstructorAcceptsParent<const Context&>);
  static_assert(!kConstructorAcceptsParent<ValueContext>);
  static_assert(!std::is_copy_constructible_v<ValueContext>);
  static_assert(std::is_nothrow_move_constructible_v<ValueContext>);
}

TEST(SleepTest, BackgroundHooksDoNothing) {
  Background().UninterruptibleSleepStart();
  Background().UninterruptibleSleepFinish();
  UninterruptibleSleep sleep(Background());
}

TEST(SleepTest, ScopedSleepStartsThenFinishes) {
  RecordingContext ctx;
  {
    UninterruptibleSleep sleep(ctx);
    EXPECT_THAT(ctx.events(), ElementsAre("start"));
  }
  EXPECT_THAT(ctx.events(), ElementsAre("start", "finish"));
}

TEST(SleepTest, NestedScopedSleepsPairUp) {
  RecordingContext ctx;
  {
    UninterruptibleSleep outer(ctx);
    { UninterruptibleSleep inner(ctx); }
  }
  EXPECT_THAT(ctx.events(), ElementsAre("start", "start", "finish", "finish"));
}

TEST(SleepTest, ValueContextDelegatesToParent) {
  RecordingContext root;
  ValueContext a = WithValue(root, first::CtxA, 1);
  ValueContext b = WithValue(a, second::CtxA, 2);
  { UninterruptibleSleep sleep(b); }
  a.UninterruptibleSleepStart();
  a.UninterruptibleSleepFinish();
  EXPECT_THAT(root.events(), ElementsAre("start", "finish", "start", "finish"));
}

TEST(LogTest, InfofFormatsAndLogsAtInfo) {
  RecordingContext ctx;
  ctx.Infof("open %s at FDID %d", "nvidia0", 3);
  EXPECT_THAT(ctx.events(),
              ElementsAre("is_logging 1", "log 1 open nvidia0 at FDID 3"));
}

TEST(LogTest, WarningfFormatsAndLogsAtWarning) {
  RecordingContext ctx;
  ctx.Warningf("%s: %x", "rpc", 255u);
  EXPECT_THAT(ctx.events(), ElementsAre("is_logging 2", "log 2 rpc: ff"));
}

TEST(LogTest, DebugfFormatsAndLogsAtDebug) {
  RecordingContext ctx;
  ctx.Debugf("n=%d", 42);
  EXPECT_THAT(ctx.events(), ElementsAre("is_logging 0", "log 0 n=42"));
}

TEST(LogTest, FormatWithoutArguments) {
  RecordingContext ctx;
  ctx.Infof("100%% plain");
  EXPECT_THAT(ctx.events(), ElementsAre("is_logging 1", "log 1 100% plain"));
}

TEST(LogTest, DisabledLevelIsNeitherFormattedNorLogged) {
  RecordingContext ctx;
  ctx.set_min_level(LogLevel::kWarning);
  int formatted = 0;
  ctx.Debugf("%s", CountingArg{&formatted});
  ctx.Infof("%s", CountingArg{&formatted});
  EXPECT_EQ(formatted, 0);
  ctx.Warningf("%s", CountingArg{&formatted});
  EXPECT_EQ(formatted, 1);
  EXPECT_THAT(ctx.events(), ElementsAre("is_logging 0", "is_logging 1",
                                        "is_logging 2", "log 2 counted"));
}

TEST(LogTest, ValueContextDelegatesLogging) {
  RecordingContext root;
  root.set_min_level(LogLevel::kInfo);
  ValueContext child = WithValue(root, first::CtxA, 1);
  ValueContext grandchild = WithValue(child, first::CtxB, std::string("x"));

  EXPECT_FALSE(grandchild.IsLogging(LogLevel::kDebug));
  grandchild.Debugf("hidden %d", 1);
  grandchild.Infof("shown %d", 2);
  child.Log(LogLevel::kWarning, "direct");
  EXPECT_THAT(root.events(),
              ElementsAre("is_logging 0", "is_logging 0", "is_logging 1",
                          "log 1 shown 2", "log 2 direct"));
}

TEST(LogTest, BackgroundLogsInfoAndWarningButNotDebugByDefault) {
  ScopedVerbosity v(0);
  EXPECT_TRUE(Background().IsLogging(LogLevel::kInfo));
  EXPECT_TRUE(Background().IsLogging(LogLevel::kWarning));
  EXPECT_FALSE(Background().IsLogging(LogLevel::kDebug));
}

TEST(LogTest, BackgroundLogsDebugWhenVerbose) {
  ScopedVerbosity v(1);
  EXPECT_TRUE(Background().IsLogging(LogLevel::kDebug));
}

TEST(LogTest, BackgroundWritesToGlog) {
  ScopedVerbosity v(0);
  CapturingSink sink;
  Background().Infof("info %d", 1);
  Background().Warningf("warning %s", "two");
  Background().Debugf("debug %d", 3);
  EXPECT_THAT(sink.messages(),
              ElementsAre(Pair(google::GLOG_INFO, "info 1"),
                          Pair(google::GLOG_WARNING, "warning two")));
}

TEST(LogTest, BackgroundWritesDebugToVlogWhenVerbose) {
  ScopedVerbosity v(1);
  CapturingSink sink;
  Background().Debugf("debug %d", 3);
  EXPECT_THAT(sink.messages(), ElementsAre(Pair(google::GLOG_INFO, "debug 3")));
}

TEST(ConcurrencyTest, ReadsFromManyThreadsAgree) {
  CountingContext root;
  ValueContext a = WithValue(root, first::CtxA, 1);
  ValueContext b = WithValue(a, first::CtxB, std::string("value"));
  ValueContext c = WithValue(b, second::CtxA, 3);

  constexpr int kThreads = 16;
  constexpr int kIterations = 5000;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIterations; ++i) {
        UninterruptibleSleep sleep(c);
        const int* x = Value(c, first::CtxA);
        const std::string* s = Value(c, first::CtxB);
        const int* y = Value(c, second::CtxA);
        if (x == nullptr || *x != 1 || s == nullptr || *s != "value" ||
            y == nullptr || *y != 3 || Value(c, second::CtxB) != nullptr) {
          ++mismatches;
        }
        c.Infof("%d", 7);
      }
    });
  }
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(root.starts.load(), kThreads * kIterations);
  EXPECT_EQ(root.finishes.load(), kThreads * kIterations);
  EXPECT_EQ(root.messages.load(), kThreads * kIterations);
  EXPECT_EQ(root.warnings.load(), 0);
  EXPECT_EQ(root.log_bytes.load(), kThreads * kIterations);
}

}  // namespace
}  // namespace gvisor::context
