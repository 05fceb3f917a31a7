#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace dn::internal {

/// Print a failed invariant and abort. Never returns.
[[noreturn]] inline void CheckFailed(const char* file, int line, const char* expr,
                                     std::string_view msg) {
  std::fprintf(stderr, "%s:%d: check failed: %s %.*s\n", file, line, expr,
               static_cast<int>(msg.size()), msg.data());
  std::abort();
}

}  // namespace dn::internal

/// Abort with a message if a programmer invariant does not hold (always on).
#define DN_CHECK(cond, msg) \
  ((cond) ? (void)0 : ::dn::internal::CheckFailed(__FILE__, __LINE__, #cond, (msg)))

#ifdef NDEBUG
#define DN_DCHECK(cond, msg) ((void)0)
#else
/// Like DN_CHECK, but compiled out of release builds.
#define DN_DCHECK(cond, msg) DN_CHECK(cond, msg)
#endif
