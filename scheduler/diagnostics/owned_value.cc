#include "scheduler/diagnostics/owned_value.h"

#include <string_view>
#include <utility>

namespace dn {
namespace {

Buffer Own(const Buffer& b) {
  return Buffer::CopyFrom(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

Map OwnMap(const Map& m) {
  Map out;
  out.reserve(m.size());
  for (const MapEntry& e : m) out.push_back({OwnedValue(e.key), OwnedValue(e.value)});
  return out;
}

}  // namespace

Value OwnedValue(const Value& v) {
  if (const Bin* b = v.get_if<Bin>()) return Value(Bin{Own(b->data)});
  if (const Array* a = v.array()) {
    Array out;
    out.reserve(a->size());
    for (const Value& x : *a) out.push_back(OwnedValue(x));
    return Value(std::move(out));
  }
  if (const Map* m = v.map()) return Value(OwnMap(*m));
  if (const Set* s = v.get_if<Set>()) {
    Set out;
    for (const Value& x : s->items) out.items.push_back(OwnedValue(x));
    return Value(std::move(out));
  }
  if (const Serialized* s = v.get_if<Serialized>()) {
    Serialized out{OwnMap(s->header), {}};
    for (const Buffer& f : s->frames) out.frames.push_back(Own(f));
    return Value(std::move(out));
  }
  if (const Pickled* p = v.get_if<Pickled>()) {
    Pickled out{OwnMap(p->header), {}};
    for (const Buffer& f : p->frames) out.frames.push_back(Own(f));
    return Value(std::move(out));
  }
  return v;
}

}  // namespace dn
