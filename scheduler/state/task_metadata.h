#pragma once

#include <optional>
#include <string>
#include <unordered_set>
#include <variant>

#include "protocol/messages/key.h"
#include "protocol/msgpack/value.h"

namespace dn {

/// A Python exception for the caller to raise, as a stock handler would raise it: the
/// builtin type's name ("KeyError", "TypeError", "IndexError") and its argument.
struct PyException {
  std::string type;
  std::string text;
};

/// stock's SchedulerState.task_metadata: one nested dict that clients set and read by a
/// path of keys (Client.set_metadata / get_metadata), for small administrative values.
///
/// Mirrors scheduler.py:set_metadata and get_metadata. Values are msgpack values as the
/// client sent them; an array (a Python tuple after decoding) is read by index but is
/// never walked into by Set. A top-level entry whose key is a task's key goes when the
/// task is forgotten (Forget). Pure; owned by SchedulerState.
class TaskMetadata {
 public:
  /// set_metadata: walk `keys` from the root, replacing each step that is missing or
  /// not a dict with an empty dict, and set the last key to `value`. An empty path is
  /// stock's IndexError.
  std::optional<PyException> Set(const Array& keys, Value value);
  /// get_metadata: the value at `keys` (the whole dict for an empty path). A missing
  /// dict key is a KeyError unless `default_value` is given, in which case that is the
  /// result; indexing a tuple out of range (IndexError) or a value that is not a
  /// container (TypeError) fails even with a default, as in stock.
  std::variant<Value, PyException> Get(const Array& keys, const Value* default_value) const;
  /// Drop the top-level entry of a task's key, if any (stock's _remove_key).
  void Forget(const Key& key);
  bool empty() const { return root_.empty(); }

 private:
  Map root_;
  /// The top-level keys that are task keys, so Forget is a hash lookup when nothing
  /// was set for that task (every forgotten task asks).
  std::unordered_set<Key, KeyHash> task_keys_;
};

}  // namespace dn
