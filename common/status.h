#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace dn {

/// The few error categories the project distinguishes (style.md §3.4).
enum class StatusCode : unsigned char {
  kOk = 0,
  kInvalid,        ///< A caller passed a value that breaks a documented contract.
  kProtocolError,  ///< Bytes from a peer do not follow the wire format.
  kIOError,
  kNotFound,
  kCancelled,
  kTimedOut,
  kOutOfMemory,  ///< A limit on size or count was hit before allocating.
  kInternal,
  kNotImplemented,  ///< A valid request this code does not handle (e.g. a task left to Python).
};

/// Return the name of `code`, e.g. "ProtocolError".
std::string_view ToString(StatusCode code);

/// Describe the outcome of an operation: OK, or a code with a message.
///
/// An OK status holds no allocation, so returning one costs a null pointer. Errors are
/// values: functions that can fail return `Status` or `Result<T>` and never throw.
class [[nodiscard]] Status {
 public:
  /// Construct an OK status.
  Status() noexcept = default;
  Status(StatusCode code, std::string message);

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status Invalid(std::string msg) { return {StatusCode::kInvalid, std::move(msg)}; }
  static Status ProtocolError(std::string msg) {
    return {StatusCode::kProtocolError, std::move(msg)};
  }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status OutOfMemory(std::string msg) { return {StatusCode::kOutOfMemory, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
  static Status NotImplemented(std::string msg) {
    return {StatusCode::kNotImplemented, std::move(msg)};
  }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return ok() ? StatusCode::kOk : state_->code; }
  /// Return the message; empty for OK.
  const std::string& message() const;
  /// Return "Code: message", or "OK".
  std::string ToString() const;

  /// Return a copy whose message is prefixed with `context` and ": ".
  Status WithContext(std::string_view context) const;

 private:
  struct State {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<State> state_;
};

}  // namespace dn

/// Return early from the enclosing function if `expr` yields a non-OK Status.
#define DN_RETURN_NOT_OK(expr)       \
  do {                               \
    ::dn::Status _dn_st = (expr);    \
    if (!_dn_st.ok()) return _dn_st; \
  } while (false)
