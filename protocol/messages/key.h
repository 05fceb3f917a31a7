#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"
#include "protocol/msgpack/value.h"
#include "protocol/pickle/pickle_tree.h"

namespace dn {

/// A dask key: str, int, float or a tuple of keys (docs/protocol.md#keys), compared and
/// hashed with Python's semantics: `1 == 1.0` (and True == 1) with equal hashes, a tuple
/// never equals a str. Cheap to copy for str and int keys; tuples hold a vector.
class Key {
 public:
  using Tuple = std::vector<Key>;

  Key() : v_(std::string()) {}
  explicit Key(std::string s) : v_(std::move(s)) {}
  explicit Key(int64_t i) : v_(i) {}
  explicit Key(double d) : v_(d) {}
  explicit Key(Tuple t) : v_(std::move(t)) {}

  /// Convert a decoded wire value. Arrays become tuples; bools become ints, as Python
  /// treats them; anything else (nil, bin, maps, ints beyond int64) is Invalid.
  /// A `Pickled` value (what the stock scheduler sends for a key holding a numpy
  /// scalar) is read with FromPickle.
  static Result<Key> FromValue(const Value& v);
  /// Convert node `id` of a pickle: str, int, bool, float, a numpy bool/int/float
  /// scalar (as the Python number it equals) or a tuple of those.
  static Result<Key> FromPickle(const PickleTree& tree, NodeId id);
  /// Return the wire form (str, int, float64 or array).
  Value ToValue() const;

  bool is_str() const { return std::holds_alternative<std::string>(v_); }
  bool is_tuple() const { return std::holds_alternative<Tuple>(v_); }
  const std::string* str() const { return std::get_if<std::string>(&v_); }
  const Tuple* tuple() const { return std::get_if<Tuple>(&v_); }

  bool operator==(const Key& other) const;
  bool operator!=(const Key& other) const { return !(*this == other); }
  /// Return a hash that is equal for keys Python considers equal.
  size_t Hash() const;

  /// Return Python's repr(key), e.g. "('x', 0, 1)".
  std::string Repr() const;

 private:
  std::variant<std::string, int64_t, double, Tuple> v_;
};

struct KeyHash {
  size_t operator()(const Key& k) const { return k.Hash(); }
};

/// Read a list of keys from a message field: an array, a `__Set__`, or a single key.
/// Entries that are not valid keys are skipped; nullptr gives an empty list.
std::vector<Key> KeysFromValue(const Value* v);

/// Return the task prefix of `key`, as dask.utils.key_split does: "('x-1', 2)" -> "x",
/// "hello-world-1" -> "hello-world", 32 hex chars -> "data", non-str keys -> "Other".
/// Non-ASCII code points count as letters (Python's str.isalpha is Unicode-aware; key
/// names outside ASCII letters are rare enough that a full table is not worth it).
std::string KeySplit(const Key& key);
/// key_split of a plain string.
std::string KeySplit(std::string_view s);

}  // namespace dn
