#pragma once

// Which ops a server answers and which it refuses on purpose: the pieces both binaries
// use to make their dispatch enumerable (`--list-handlers`) and to answer a refused op
// with a clear NotImplementedError instead of "No handler". Pure: no I/O.

#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/msgpack/value.h"

namespace dn {

/// An op a server does not serve yet, on purpose: the user-facing feature it belongs to
/// and why it is refused. Each one is listed in docs/known-gaps.md ("Refused on
/// purpose"), which tests/compat/test_handler_inventory.py checks.
struct RefusedOp {
  std::string_view op;
  std::string_view feature;  ///< what the user tried, e.g. "restart" or "actors"
  std::string_view reason;   ///< one sentence: why it is not served
};

/// Return the entry of `op` in `table`, or nullptr when it is not refused.
const RefusedOp* FindRefusedOp(std::span<const RefusedOp> table, std::string_view op);

/// Return the text of a refusal by `server` ("dask-native-scheduler", ...): it names
/// the feature and the op, gives the reason and points at docs/known-gaps.md.
std::string RefusalText(const RefusedOp& refused, std::string_view server);

/// Return the reply to a refused RPC: TypedErrorMessage("NotImplementedError", ...),
/// which the stock client raises as NotImplementedError.
Value RefusalReply(const RefusedOp& refused, std::string_view server);

/// The ops of one dispatch (a server's RPCs, or its stream ops): those it serves and
/// those it refuses on purpose. An op in neither is unknown to it.
struct DispatchInventory {
  std::vector<std::string> served;
  std::vector<RefusedOp> refused;

  /// Add `table`'s entries to `refused`.
  void Refuse(std::span<const RefusedOp> table) {
    refused.insert(refused.end(), table.begin(), table.end());
  }
  /// Return the ops both served and refused (a mistake in the tables); sorted.
  std::vector<std::string> Conflicts() const;
  /// Return {"served": [sorted, unique], "refused": {op: {"feature": f, "reason": r}}}
  /// as JSON, the refused ops in name order.
  std::string ToJson() const;
};

/// Return a JSON object of the given members, each value already JSON, in the given
/// order: {"rpc": ..., "stream": ...}.
std::string JsonObject(std::span<const std::pair<std::string_view, std::string>> members);

/// Return `text` as a JSON string literal, quotes included.
std::string JsonString(std::string_view text);

/// Remembers which refused stream ops were logged already, so each is logged once per
/// process: a stream op has no reply to carry the refusal, and a busy stream must not
/// flood the log. Thread-safe.
class RefusalLog {
 public:
  /// Return true the first time `op` is seen.
  bool FirstTime(std::string_view op);

 private:
  std::mutex mu_;
  std::set<std::string, std::less<>> seen_;
};

}  // namespace dn
