// Package context: the calling context threaded through lisafs and devutil.
//
// A Context gives the code it is passed to three things: hooks to call
// around blocking work (UninterruptibleSleepStart/Finish, see
// pkg/lisafs/README.md §9.9), a logger, and values looked up by typed keys.
// Hosts subclass Context to plug in their own scheduler and logger; libraries
// derive children with WithValue to carry values (for example devutil's gofer
// client) down a call chain.
//
// Contexts are read-only once built: every method is const, and a Context
// that may be shared between threads must be safe to call from any of them.
// Background() and ValueContext are.

#ifndef GVISOR_PKG_CONTEXT_CONTEXT_H_
#define GVISOR_PKG_CONTEXT_CONTEXT_H_

#include <any>
#include <cstdint>
#include <type_traits>
#include <typeindex>
#include <typeinfo>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace gvisor::context {

// LogLevel is the severity of a message given to Context::Log.
enum class LogLevel { kDebug, kInfo, kWarning };

// Key names one value stored in a Context. A value stored under a key is
// found again only through a key of the same KeyType with the same id: keys
// of different KeyTypes never match, even when their ids are numerically
// equal. A package that stores values therefore declares its own private key
// type, and its keys can never clash with another package's:
//
//   enum class contextID { kDevGoferClient = 0, kDevGoferClientProvider = 1 };
//   inline constexpr context::Key<contextID, GoferClient*> CtxDevGoferClient{
//       contextID::kDevGoferClient};
//
// KeyType must be an enumeration or an integer type. ValueType is the type
// stored under the key; it must be copy-constructible.
template <typename KeyType, typename ValueType>
class Key {
 public:
  static_assert(std::is_enum_v<KeyType> || std::is_integral_v<KeyType>,
                "Key's KeyType must be an enumeration or an integer type");
  static_assert(std::is_same_v<ValueType, std::decay_t<ValueType>>,
                "Key's ValueType must be a plain object type, not a "
                "reference, array or const-qualified type");
  static_assert(std::is_copy_constructible_v<ValueType>,
                "Key's ValueType must be copy-constructible");

  constexpr explicit Key(KeyType id) : id_(id) {}

  // id returns the key's id.
  constexpr KeyType id() const { return id_; }

  // Matches reports whether this key is the one that Context::RawValue is
  // asked for with (key_type, key_id). Subclasses of Context that answer
  // keys themselves use it in their RawValue.
  bool Matches(std::type_index key_type, int64_t key_id) const {
    return key_type == std::type_index(typeid(KeyType)) &&
           key_id == static_cast<int64_t>(id_);
  }

 private:
  KeyType id_;
};

// Context is the base class of all contexts. Its defaults are those of
// Background(): the sleep hooks do nothing, messages go to glog, and no key
// has a value. Subclasses override what they provide; every override must be
// thread-safe if the context is shared between threads.
class Context {
 public:
  virtual ~Context() = default;

  // UninterruptibleSleepStart is called before work that may block and
  // cannot be interrupted (an RPC to the gofer, for example). Each call is
  // followed by one call to UninterruptibleSleepFinish. The default does
  // nothing. See UninterruptibleSleep for a scoped pair.
  virtual void UninterruptibleSleepStart() const {}

  // UninterruptibleSleepFinish ends the sleep begun by the matching
  // UninterruptibleSleepStart. The default does nothing.
  virtual void UninterruptibleSleepFinish() const {}

  // Log emits msg at level. The default sends kInfo to LOG(INFO), kWarning to
  // LOG(WARNING) and kDebug to VLOG(1).
  virtual void Log(LogLevel level, absl::string_view msg) const;

  // IsLogging reports whether messages at level would be emitted, so that
  // callers can skip building them. The default is true for kInfo and
  // kWarning, and VLOG_IS_ON(1) for kDebug.
  virtual bool IsLogging(LogLevel level) const;

  // RawValue returns the value stored under the key of type key_type (the
  // typeid of a Key's KeyType) and id key_id, or nullptr if this context has
  // none. The default returns nullptr. Callers use Value() instead; this is
  // the hook subclasses override (see Key::Matches). The result stays valid
  // as long as the context that holds it.
  virtual const std::any* RawValue(std::type_index key_type,
                                   int64_t key_id) const {
    return nullptr;
  }

  // Debugf formats a message and logs it at kDebug, if IsLogging(kDebug).
  template <typename... Args>
  void Debugf(const absl::FormatSpec<Args...>& format,
              const Args&... args) const {
    if (IsLogging(LogLevel::kDebug)) {
      Log(LogLevel::kDebug, absl::StrFormat(format, args...));
    }
  }

  // Infof formats a message and logs it at kInfo, if IsLogging(kInfo).
  template <typename... Args>
  void Infof(const absl::FormatSpec<Args...>& format,
             const Args&... args) const {
    if (IsLogging(LogLevel::kInfo)) {
      Log(LogLevel::kInfo, absl::StrFormat(format, args...));
    }
  }

  // Warningf formats a message and logs it at kWarning, if
  // IsLogging(kWarning).
  template <typename... Args>
  void Warningf(const absl::FormatSpec<Args...>& format,
                const Args&... args) const {
    if (IsLogging(LogLevel::kWarning)) {
      Log(LogLevel::kWarning, absl::StrFormat(format, args...));
    }
  }

 protected:
  // Only subclasses build, copy or move contexts, so a Context is never
  // sliced.
  Context() = default;
  Context(const Context&) = default;
  Context& operator=(const Context&) = default;
};

// Background returns the process-wide root context, with Context's defaults.
// It lives for the whole process.
const Context& Background();

// Value returns the value stored under key in ctx or, failing that, in the
// nearest of its ancestors that has one; nullptr if none does. As with a
// failed type assertion in Go, it is also nullptr if the nearest value under
// the key's KeyType and id is not a ValueType. The pointer is valid as long as
// the context that holds the value.
template <typename K, typename V>
const V* Value(const Context& ctx, const Key<K, V>& key) {
  const std::any* value =
      ctx.RawValue(std::type_index(typeid(K)), static_cast<int64_t>(key.id()));
  return value == nullptr ? nullptr : std::any_cast<V>(value);
}

// ValueContext is a child context that holds one value under one key and
// hands everything else (other keys, logging, the sleep hooks) to its parent.
//
// It refers to its parent, which must outlive it. It is immutable, so it is
// safe to use from many threads if its parent is. It is move-only; a
// context derived from a ValueContext refers to that object, which must then
// not be moved (or destroyed) while the child is in use.
class ValueContext final : public Context {
 public:
  // Stores value under key, with parent as the parent.
  template <typename K, typename V>
  ValueContext(const Context& parent, const Key<K, V>& key,
               std::type_identity_t<V> value)
      : parent_(&parent),
        key_type_(typeid(K)),
        key_id_(static_cast<int64_t>(key.id())),
        value_(std::in_place_type<V>, std::move(value)) {}

  // A temporary parent would be destroyed before its child is used.
  template <typename K, typename V>
  ValueContext(const Context&& parent, const Key<K, V>& key,
               std::type_identity_t<V> value) = delete;

  ValueContext(ValueContext&&) = default;
  ValueContext& operator=(ValueContext&&) = default;
  ValueContext(const ValueContext&) = delete;
  ValueContext& operator=(const ValueContext&) = delete;

  void UninterruptibleSleepStart() const override;
  void UninterruptibleSleepFinish() const override;
  void Log(LogLevel level, absl::string_view msg) const override;
  bool IsLogging(LogLevel level) const override;
  const std::any* RawValue(std::type_index key_type,
                           int64_t key_id) const override;

 private:
  const Context* parent_;
  std::type_index key_type_;
  int64_t key_id_;
  std::any value_;
};

// WithValue returns a child of parent that holds value under key (see
// ValueContext; parent must outlive the result). Like Go's
// context.WithValue, the child's value hides any value under the same key
// in parent's ancestors.
template <typename K, typename V>
ValueContext WithValue(const Context& parent, const Key<K, V>& key,
                       std::type_identity_t<V> value) {
  return ValueContext(parent, key, std::move(value));
}

// A temporary parent would be destroyed before the result is used.
template <typename K, typename V>
ValueContext WithValue(const Context&& parent, const Key<K, V>& key,
                       std::type_identity_t<V> value) = delete;

// UninterruptibleSleep calls ctx.UninterruptibleSleepStart() when built and
// ctx.UninterruptibleSleepFinish() when destroyed. ctx must outlive it.
//
//   {
//     context::UninterruptibleSleep sleep(ctx);
//     ... blocking RPC ...
//   }
class UninterruptibleSleep {
 public:
  explicit UninterruptibleSleep(const Context& ctx) : ctx_(ctx) {
    ctx_.UninterruptibleSleepStart();
  }
  ~UninterruptibleSleep() { ctx_.UninterruptibleSleepFinish(); }

  UninterruptibleSleep(const UninterruptibleSleep&) = delete;
  UninterruptibleSleep& operator=(const UninterruptibleSleep&) = delete;

 private:
  const Context& ctx_;
};

}  // namespace gvisor::context

#endif  // GVISOR_PKG_CONTEXT_CONTEXT_H_
