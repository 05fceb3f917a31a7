#pragma once

// Variable (distributed/variable.py's VariableExtension): named values, msgpack data or
// a Future, shared by clients.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

#include "scheduler/coordination/coordination_types.h"

namespace dn {

/// A variable's value is a record `{"type": "msgpack", "value": data}` or
/// `{"type": "Future", "value": key}`, which the pseudo-client "variable-<name>" wants
/// while it is the value. Each get of a Future hands out a token; the getter confirms it
/// (variable-future-received-confirm) once it wants the key itself. A key that stops
/// being the value (set again, or deleted) is let go of only when all its tokens are
/// confirmed, so no getter finds it gone. Tokens of a client that left count as
/// confirmed (stock would wait for them forever).
///
/// Pure and single-threaded; gets of an unset name wait for its first set.
class Variables {
 public:
  explicit Variables(CoordinationOutbox* out) : out_(out) {}

  /// variable_set of `future` (a key the caller has seen known to the scheduler) or of
  /// `data`; wakes the gets waiting for `name`.
  void Set(const Key& name, const std::optional<Key>& future, const Value& data);
  /// variable_get by `client`: the record at once, or wait for a set. A Future record
  /// also carries its token.
  std::optional<CoordinationReply> Get(const Key& name, const std::string& client, WaiterId waiter);
  /// variable-future-received-confirm: `client` wants `key` now; its token is done.
  void FutureReceivedConfirm(const Key& name, const Key& key, const std::string& token,
                             const std::string& client);
  /// variable_delete: forget `name`, letting go of its Future once confirmed, then of
  /// the pseudo-client.
  void Delete(const Key& name);
  /// `client` disconnected: its unconfirmed tokens no longer hold keys.
  void RemoveClient(const std::string& client);

  /// A waiting get's deadline passed: TimeoutError, as stock.
  bool Timeout(WaiterId waiter);
  /// A waiting get's caller went away: forget it.
  bool Cancel(WaiterId waiter);
  size_t size() const { return variables_.size(); }

 private:
  struct Variable {
    Value record;
    std::optional<Key> future;
  };
  /// The unconfirmed tokens of one key of one variable.
  struct Hold {
    std::unordered_map<std::string, std::string> tokens;  ///< token -> client
    bool release = false;  ///< let go of the key once the tokens are confirmed
  };
  struct Getter {
    WaiterId waiter;
    std::string client;
  };
  CoordinationReply Record(const Key& name, const Variable& v, const std::string& client);
  void ReleaseWhenConfirmed(const Key& name, const Key& key);
  /// Let go of held keys with no token left, and forget empty holds.
  void Settle(const Key& name);

  CoordinationOutbox* out_;
  std::unordered_map<Key, Variable, KeyHash> variables_;
  std::unordered_map<Key, std::deque<Getter>, KeyHash> getters_;
  std::unordered_map<Key, std::unordered_map<Key, Hold, KeyHash>, KeyHash> holds_;
  uint64_t next_token_ = 0;
};

}  // namespace dn
