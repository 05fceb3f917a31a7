#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/buffer.h"

namespace dn {

class Value;
struct MapEntry;

/// msgpack nil (Python None).
struct Nil {
  bool operator==(const Nil&) const = default;
};
/// msgpack bin (Python bytes). Shares the receive buffer; never copied on decode.
struct Bin {
  Buffer data;
  bool operator==(const Bin& o) const { return data.Equals(o.data); }
};
/// msgpack array. Python decodes every array as a tuple.
using Array = std::vector<Value>;
/// msgpack map in wire order. Keys may be any value (ints, tuples), not only str.
using Map = std::vector<MapEntry>;
/// The `{"__Set__": true, "as-list": [...]}` convention (docs/protocol.md#special-maps).
struct Set {
  Array items;
  bool operator==(const Set&) const;
};
/// A `{"__Serialized__": k}` placeholder resolved against the message's frames: the
/// sub-header map and its data frames, kept opaque (possibly compressed) so that a
/// scheduler forwards results byte for byte.
struct Serialized {
  Map header;
  std::vector<Buffer> frames;
  bool operator==(const Serialized&) const;
};
/// A `{"__Pickled__": k}` placeholder: sub-header (`pickled-obj`, `compression`,
/// `num-sub-frames`) and its pickle-5 out-of-band buffers.
struct Pickled {
  Map header;
  std::vector<Buffer> frames;
  /// Return the pickle bytes (`pickled-obj`), or an empty buffer if absent.
  Buffer pickled_obj() const;
  bool operator==(const Pickled&) const;
};

/// Represent one decoded dask message value (docs/protocol.md#msgpack).
///
/// Integers keep msgpack's distinction only where it matters to Python: every value
/// that fits int64 is stored as `int64_t`; only values above INT64_MAX are `uint64_t`.
/// So `Value(5) == Value(uint64_t{5})`, and re-encoding picks the same minimal msgpack
/// form Python does (positive values in the unsigned families).
class Value {
 public:
  using Variant = std::variant<Nil, bool, int64_t, uint64_t, double, std::string, Bin, Array, Map,
                               Set, Serialized, Pickled>;

  // Constructors are defined below MapEntry: clang instantiates the variant's
  // destructor with them, which needs MapEntry complete.
  Value();
  Value(Nil n);               // NOLINT: implicit by design
  Value(bool b);              // NOLINT: implicit by design
  Value(int i);               // NOLINT: implicit by design
  Value(int64_t i);           // NOLINT: implicit by design
  Value(uint64_t u);          // NOLINT: implicit by design
  Value(double d);            // NOLINT: implicit by design
  Value(std::string s);       // NOLINT: implicit by design
  Value(std::string_view s);  // NOLINT: implicit by design
  Value(const char* s);       // NOLINT: implicit by design
  Value(Bin b);               // NOLINT: implicit by design
  Value(Array a);             // NOLINT: implicit by design
  Value(Map m);               // NOLINT: implicit by design
  Value(Set s);               // NOLINT: implicit by design
  Value(Serialized s);        // NOLINT: implicit by design
  Value(Pickled p);           // NOLINT: implicit by design

  const Variant& variant() const { return v_; }
  Variant& variant() { return v_; }

  template <typename T>
  bool is() const {
    return std::holds_alternative<T>(v_);
  }
  template <typename T>
  const T* get_if() const {
    return std::get_if<T>(&v_);
  }
  template <typename T>
  T* get_if() {
    return std::get_if<T>(&v_);
  }

  bool is_nil() const { return is<Nil>(); }
  /// True for int64_t and uint64_t values.
  bool is_int() const { return is<int64_t>() || is<uint64_t>(); }
  /// Return the str contents, or nullptr when this is not a str.
  const std::string* str() const { return get_if<std::string>(); }
  const Array* array() const { return get_if<Array>(); }
  const Map* map() const { return get_if<Map>(); }
  Map* map() { return get_if<Map>(); }

  /// Look up `key` (a str) in a map value; nullptr if absent or not a map. Linear: dask
  /// maps are small, and wire order must be kept.
  const Value* Find(std::string_view key) const;
  Value* Find(std::string_view key);

  /// Structural equality; ints compare by value across int64/uint64, floats by bits.
  bool operator==(const Value& other) const;

  /// Render a short, Python-like debugging form (not a wire format).
  std::string ToDebugString() const;

 private:
  Variant v_;
};

/// One key/value pair of a Map.
struct MapEntry {
  Value key;
  Value value;
  bool operator==(const MapEntry&) const = default;
};

inline Value::Value() : v_(Nil{}) {}
inline Value::Value(Nil n) : v_(n) {}
inline Value::Value(bool b) : v_(b) {}
inline Value::Value(int i) : v_(int64_t{i}) {}
inline Value::Value(int64_t i) : v_(i) {}
inline Value::Value(double d) : v_(d) {}
inline Value::Value(std::string s) : v_(std::move(s)) {}
inline Value::Value(std::string_view s) : v_(std::string(s)) {}
inline Value::Value(const char* s) : v_(std::string(s)) {}
inline Value::Value(Bin b) : v_(std::move(b)) {}
inline Value::Value(Array a) : v_(std::move(a)) {}
inline Value::Value(Map m) : v_(std::move(m)) {}
inline Value::Value(Set s) : v_(std::move(s)) {}
inline Value::Value(Serialized s) : v_(std::move(s)) {}
inline Value::Value(Pickled p) : v_(std::move(p)) {}

/// Find `key` in `map`, nullptr if absent.
const Value* FindKey(const Map& map, std::string_view key);
/// Find an entry whose key equals `key` (any value, e.g. a tuple key), nullptr if absent.
const Value* FindKeyValue(const Map& map, const Value& key);
Value* FindKey(Map& map, std::string_view key);

}  // namespace dn
