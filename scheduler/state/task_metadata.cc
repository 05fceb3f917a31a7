#include "scheduler/state/task_metadata.h"

#include <algorithm>

namespace dn {
namespace {

// Python dict keys compare with Python's semantics (1 == 1.0, a tuple is not a str);
// Key holds exactly that for the hashable values dask keys are made of.
bool SameDictKey(const Value& a, const Value& b) {
  auto ka = Key::FromValue(a);
  auto kb = Key::FromValue(b);
  if (ka.ok() && kb.ok()) return *ka == *kb;
  return a == b;
}

MapEntry* FindEntry(Map& map, const Value& key) {
  auto it = std::find_if(map.begin(), map.end(),
                         [&](const MapEntry& e) { return SameDictKey(e.key, key); });
  return it == map.end() ? nullptr : &*it;
}

const MapEntry* FindEntry(const Map& map, const Value& key) {
  return FindEntry(const_cast<Map&>(map), key);
}

// type(x).__name__ of the value a msgpack value decodes to in stock.
std::string PyTypeName(const Value& v) {
  if (v.is_nil()) return "NoneType";
  if (v.is<bool>()) return "bool";
  if (v.is_int()) return "int";
  if (v.is<double>()) return "float";
  if (v.str()) return "str";
  if (v.is<Bin>()) return "bytes";
  if (v.array()) return "tuple";
  if (v.map()) return "dict";
  if (v.is<Set>()) return "set";
  return "object";
}

// The text of KeyError(key): str(key) for a str, else the key's repr.
std::string KeyText(const Value& key) {
  if (const std::string* s = key.str()) return *s;
  auto k = Key::FromValue(key);
  return k.ok() ? k->Repr() : key.ToDebugString();
}

}  // namespace

std::optional<PyException> TaskMetadata::Set(const Array& keys, Value value) {
  if (keys.empty()) return PyException{"IndexError", "tuple index out of range"};
  Map* node = &root_;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    MapEntry* e = FindEntry(*node, keys[i]);
    if (e == nullptr) {
      node->push_back({keys[i], Value(Map{})});
      e = &node->back();
    } else if (e->value.map() == nullptr) {
      e->value = Value(Map{});
    }
    node = e->value.map();
  }
  if (MapEntry* e = FindEntry(*node, keys.back())) {
    e->value = std::move(value);
  } else {
    node->push_back({keys.back(), std::move(value)});
  }
  if (auto k = Key::FromValue(keys.front()); k.ok()) task_keys_.insert(*k);
  return std::nullopt;
}

std::variant<Value, PyException> TaskMetadata::Get(const Array& keys,
                                                   const Value* default_value) const {
  Value root(root_);  // the empty path returns the whole dict
  const Value* node = keys.empty() ? &root : nullptr;
  const Map* dict = &root_;
  const Value* at = nullptr;  // the current value when it is not the root
  for (const Value& key : keys) {
    if (at != nullptr) {
      dict = at->map();
      if (dict == nullptr) {
        if (const Array* tuple = at->array()) {
          const int64_t* i = key.get_if<int64_t>();
          if (i == nullptr) {
            return PyException{"TypeError",
                               "tuple indices must be integers or slices, not " + PyTypeName(key)};
          }
          const int64_t n = static_cast<int64_t>(tuple->size());
          const int64_t j = *i < 0 ? *i + n : *i;
          if (j < 0 || j >= n) return PyException{"IndexError", "tuple index out of range"};
          at = &(*tuple)[static_cast<size_t>(j)];
          continue;
        }
        return PyException{"TypeError", "'" + PyTypeName(*at) + "' object is not subscriptable"};
      }
    }
    const MapEntry* e = FindEntry(*dict, key);
    if (e == nullptr) {
      if (default_value != nullptr) return *default_value;
      return PyException{"KeyError", KeyText(key)};
    }
    at = &e->value;
  }
  return node != nullptr ? *node : *at;
}

void TaskMetadata::Forget(const Key& key) {
  if (task_keys_.erase(key) == 0) return;
  std::erase_if(root_, [&](const MapEntry& e) {
    auto k = Key::FromValue(e.key);
    return k.ok() && *k == key;
  });
}

}  // namespace dn
