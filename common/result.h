#pragma once

#include <utility>
#include <variant>

#include "common/check.h"
#include "common/status.h"

namespace dn {

/// Hold either a value of type T or an error Status (Arrow's `Result<T>`).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    DN_CHECK(!std::get<Status>(v_).ok(), "Result constructed from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  /// Return the error, or OK when a value is held.
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }

  /// Access the value; the caller must have checked ok().
  T& operator*() & { return ValueOrDie(); }
  const T& operator*() const& { return ValueOrDie(); }
  T* operator->() { return &ValueOrDie(); }
  const T* operator->() const { return &ValueOrDie(); }

  T& ValueOrDie() & {
    DN_CHECK(ok(), std::get<Status>(v_).ToString());
    return std::get<T>(v_);
  }
  const T& ValueOrDie() const& {
    DN_CHECK(ok(), std::get<Status>(v_).ToString());
    return std::get<T>(v_);
  }
  T MoveValueUnsafe() { return std::move(std::get<T>(v_)); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace dn

#define DN_CONCAT_INNER(a, b) a##b
#define DN_CONCAT(a, b) DN_CONCAT_INNER(a, b)

/// Evaluate `rexpr` (a Result); on error return its Status, else bind the value to `lhs`.
#define DN_ASSIGN_OR_RETURN(lhs, rexpr)                                                   \
  auto DN_CONCAT(_dn_res_, __LINE__) = (rexpr);                                           \
  if (!DN_CONCAT(_dn_res_, __LINE__).ok()) return DN_CONCAT(_dn_res_, __LINE__).status(); \
  lhs = DN_CONCAT(_dn_res_, __LINE__).MoveValueUnsafe()
