#include "protocol/msgpack/value.h"

#include "common/escape.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

namespace dn {

Value::Value(uint64_t u) {
  if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    v_ = static_cast<int64_t>(u);
  } else {
    v_ = u;
  }
}

bool Set::operator==(const Set& o) const { return items == o.items; }
bool Serialized::operator==(const Serialized& o) const {
  if (!(header == o.header) || frames.size() != o.frames.size()) return false;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (!frames[i].Equals(o.frames[i])) return false;
  }
  return true;
}
bool Pickled::operator==(const Pickled& o) const {
  if (!(header == o.header) || frames.size() != o.frames.size()) return false;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (!frames[i].Equals(o.frames[i])) return false;
  }
  return true;
}

Buffer Pickled::pickled_obj() const {
  const Value* v = FindKey(header, "pickled-obj");
  if (v == nullptr) return {};
  if (const Bin* b = v->get_if<Bin>()) return b->data;
  return {};
}

const Value* FindKey(const Map& map, std::string_view key) {
  for (const MapEntry& e : map) {
    const std::string* s = e.key.str();
    if (s != nullptr && *s == key) return &e.value;
  }
  return nullptr;
}

Value* FindKey(Map& map, std::string_view key) {
  for (MapEntry& e : map) {
    const std::string* s = e.key.str();
    if (s != nullptr && *s == key) return &e.value;
  }
  return nullptr;
}

const Value* FindKeyValue(const Map& map, const Value& key) {
  for (const MapEntry& e : map) {
    if (e.key == key) return &e.value;
  }
  return nullptr;
}

const Value* Value::Find(std::string_view key) const {
  const Map* m = map();
  return m ? FindKey(*m, key) : nullptr;
}

Value* Value::Find(std::string_view key) {
  Map* m = map();
  return m ? FindKey(*m, key) : nullptr;
}

bool Value::operator==(const Value& other) const {
  // Floats compare by bits, so a decoded NaN equals itself and -0.0 differs from 0.0:
  // equality here means "encodes the same", which is what round trips need.
  if (const double* a = get_if<double>()) {
    const double* b = other.get_if<double>();
    return b != nullptr && std::memcmp(a, b, sizeof(double)) == 0;
  }
  return v_ == other.v_;
}

namespace {

void AppendDebug(const Value& v, std::string* out);

template <typename Seq>
void AppendSeq(const Seq& items, std::string_view open, std::string_view close, std::string* out) {
  out->append(open);
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out->append(", ");
    AppendDebug(items[i], out);
  }
  out->append(close);
}

void AppendMap(const Map& m, std::string* out) {
  out->push_back('{');
  for (size_t i = 0; i < m.size(); ++i) {
    if (i) out->append(", ");
    AppendDebug(m[i].key, out);
    out->append(": ");
    AppendDebug(m[i].value, out);
  }
  out->push_back('}');
}

void AppendDebug(const Value& v, std::string* out) {
  struct Visitor {
    std::string* out;
    void operator()(const Nil&) const { out->append("None"); }
    void operator()(bool b) const { out->append(b ? "True" : "False"); }
    void operator()(int64_t i) const { out->append(std::to_string(i)); }
    void operator()(uint64_t u) const { out->append(std::to_string(u)); }
    void operator()(double d) const {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.17g", d);
      out->append(buf);
    }
    void operator()(const std::string& s) const { AppendQuotedBytes(s, out); }
    void operator()(const Bin& b) const {
      out->push_back('b');
      if (b.data.size() <= 64) {
        AppendQuotedBytes(b.data.view(), out);
      } else {
        out->append("<" + std::to_string(b.data.size()) + " bytes>");
      }
    }
    void operator()(const Array& a) const { AppendSeq(a, "(", ")", out); }
    void operator()(const Map& m) const { AppendMap(m, out); }
    void operator()(const Set& s) const { AppendSeq(s.items, "set(", ")", out); }
    void operator()(const Serialized& s) const {
      out->append("Serialized(");
      AppendMap(s.header, out);
      out->append(", " + std::to_string(s.frames.size()) + " frames)");
    }
    void operator()(const Pickled& p) const {
      out->append("Pickled(");
      AppendMap(p.header, out);
      out->append(", " + std::to_string(p.frames.size()) + " frames)");
    }
  };
  std::visit(Visitor{out}, v.variant());
}

}  // namespace

std::string Value::ToDebugString() const {
  std::string out;
  AppendDebug(*this, &out);
  return out;
}

}  // namespace dn
