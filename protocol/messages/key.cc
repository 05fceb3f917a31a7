#include "protocol/messages/key.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>

#include "protocol/pickle/pickle_reader.h"

namespace dn {

Result<Key> Key::FromValue(const Value& v) {
  const auto& var = v.variant();
  if (const std::string* s = std::get_if<std::string>(&var)) return Key(*s);
  if (const int64_t* i = std::get_if<int64_t>(&var)) return Key(*i);
  if (const bool* b = std::get_if<bool>(&var)) return Key(int64_t{*b});
  if (const double* d = std::get_if<double>(&var)) return Key(*d);
  if (const Array* a = std::get_if<Array>(&var)) {
    Tuple t;
    t.reserve(a->size());
    for (const Value& item : *a) {
      DN_ASSIGN_OR_RETURN(Key k, FromValue(item));
      t.push_back(std::move(k));
    }
    return Key(std::move(t));
  }
  if (const Pickled* p = std::get_if<Pickled>(&var)) {
    // The stock scheduler's msgpack pickles what it cannot pack, e.g. the numpy.int64
    // inside ('array-…', numpy.int64(1), 0) that da.diag names its blocks with.
    DN_ASSIGN_OR_RETURN(PickleTree tree, ReadPickle(p->pickled_obj(), p->frames));
    return FromPickle(tree, tree.root());
  }
  return Status::Invalid("not a valid dask key: " + v.ToDebugString());
}

namespace {

// The value of a numpy bool, integer or float scalar, as the Python number it equals
// (numpy.int64(1) == 1 with the same hash, so the key is the same key).
Result<Key> NumpyScalarKey(const NumpyScalarPickle& s) {
  const std::string& d = s.dtype_name;
  if (d.size() != 2 || (d[1] != '1' && d[1] != '2' && d[1] != '4' && d[1] != '8') ||
      s.raw.size() != static_cast<size_t>(d[1] - '0')) {
    return Status::Invalid("not a valid dask key: numpy scalar of dtype " + d);
  }
  uint8_t b[8];
  std::memcpy(b, s.raw.data(), s.raw.size());
  if (s.byteorder == ">") std::reverse(b, b + s.raw.size());
  uint64_t bits = 0;
  for (size_t i = s.raw.size(); i-- > 0;) bits = (bits << 8) | b[i];
  const int width = 8 * static_cast<int>(s.raw.size());
  switch (d[0]) {
    case 'b': return Key(int64_t{bits != 0});
    case 'u':
      if (bits > static_cast<uint64_t>(INT64_MAX)) break;
      return Key(static_cast<int64_t>(bits));
    case 'i': {
      // Sign-extend from `width` bits.
      const uint64_t sign = uint64_t{1} << (width - 1);
      return Key(static_cast<int64_t>((bits ^ sign) - sign));
    }
    case 'f':
      if (width == 64) {
        double x;
        std::memcpy(&x, &bits, 8);
        return Key(x);
      }
      if (width == 32) {
        float x;
        uint32_t lo = static_cast<uint32_t>(bits);
        std::memcpy(&x, &lo, 4);
        return Key(static_cast<double>(x));
      }
      break;
    default: break;
  }
  return Status::Invalid("not a valid dask key: numpy scalar of dtype " + d);
}

}  // namespace

Result<Key> Key::FromPickle(const PickleTree& tree, NodeId id) {
  if (id == kNoNode || id >= tree.size()) return Status::Invalid("not a valid dask key: no node");
  const PickleNode& n = tree.node(id);
  switch (n.kind) {
    case PickleKind::kStr: return Key(std::string(tree.str(id)));
    case PickleKind::kInt: return Key(n.int_value);
    case PickleKind::kBool: return Key(int64_t{n.flag});
    case PickleKind::kFloat: return Key(n.float_value);
    case PickleKind::kTuple: {
      Tuple t;
      t.reserve(n.items.size());
      for (NodeId c : n.items) {
        DN_ASSIGN_OR_RETURN(Key k, FromPickle(tree, c));
        t.push_back(std::move(k));
      }
      return Key(std::move(t));
    }
    case PickleKind::kReduce:
      if (auto s = MatchNumpyScalar(tree, id)) return NumpyScalarKey(*s);
      break;
    default: break;
  }
  return Status::Invalid("not a valid dask key: pickled " + std::string(ToString(n.kind)));
}

Value Key::ToValue() const {
  if (const std::string* s = std::get_if<std::string>(&v_)) return Value(*s);
  if (const int64_t* i = std::get_if<int64_t>(&v_)) return Value(*i);
  if (const double* d = std::get_if<double>(&v_)) return Value(*d);
  Array a;
  for (const Key& k : std::get<Tuple>(v_)) a.push_back(k.ToValue());
  return Value(std::move(a));
}

namespace {

// A double equal to an int64 compares (and must hash) as that int.
bool AsInt(double d, int64_t* out) {
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;
  if (std::trunc(d) != d) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

bool NumberEquals(const std::variant<std::string, int64_t, double, Key::Tuple>& a,
                  const std::variant<std::string, int64_t, double, Key::Tuple>& b) {
  auto ai = std::get_if<int64_t>(&a), bi = std::get_if<int64_t>(&b);
  auto ad = std::get_if<double>(&a), bd = std::get_if<double>(&b);
  if (ai && bi) return *ai == *bi;
  if (ad && bd) return *ad == *bd;
  int64_t x;
  if (ai && bd) return AsInt(*bd, &x) && x == *ai;
  if (ad && bi) return AsInt(*ad, &x) && x == *bi;
  return false;
}

}  // namespace

bool Key::operator==(const Key& other) const {
  if (v_.index() == other.v_.index()) return v_ == other.v_;
  return NumberEquals(v_, other.v_);
}

size_t Key::Hash() const {
  if (const std::string* s = std::get_if<std::string>(&v_)) {
    return std::hash<std::string_view>()(*s);
  }
  if (const int64_t* i = std::get_if<int64_t>(&v_)) return std::hash<int64_t>()(*i);
  if (const double* d = std::get_if<double>(&v_)) {
    int64_t i;
    if (AsInt(*d, &i)) return std::hash<int64_t>()(i);
    return std::hash<double>()(*d);
  }
  size_t h = 0x345678;
  for (const Key& k : std::get<Tuple>(v_)) h = (h ^ k.Hash()) * 1000003u;
  return h ^ std::get<Tuple>(v_).size();
}

std::string Key::Repr() const {
  if (const std::string* s = std::get_if<std::string>(&v_)) {
    // Python prefers single quotes unless the string contains one and no double quote.
    char q = (s->find('\'') != std::string::npos && s->find('"') == std::string::npos) ? '"' : '\'';
    std::string out(1, q);
    for (char c : *s) {
      if (c == '\\' || c == q) out.push_back('\\');
      out.push_back(c);
    }
    out.push_back(q);
    return out;
  }
  if (const int64_t* i = std::get_if<int64_t>(&v_)) return std::to_string(*i);
  if (const double* d = std::get_if<double>(&v_)) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", *d);
    return buf;
  }
  const Tuple& t = std::get<Tuple>(v_);
  std::string out = "(";
  for (size_t i = 0; i < t.size(); ++i) {
    if (i) out += ", ";
    out += t[i].Repr();
  }
  if (t.size() == 1) out += ",";
  return out + ")";
}

namespace {

bool IsAlphaByte(unsigned char c) { return std::isalpha(c) || c >= 0x80; }

bool IsAlphaWord(std::string_view w) {
  if (w.empty()) return false;
  for (unsigned char c : w) {
    if (!IsAlphaByte(c)) return false;
  }
  return true;
}

std::string_view Strip(std::string_view s, std::string_view chars) {
  size_t b = s.find_first_not_of(chars);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(chars);
  return s.substr(b, e - b + 1);
}

}  // namespace

// Mirrors dask/utils.py:key_split; every path where Python raises returns "Other".
std::string KeySplit(std::string_view s) {
  std::vector<std::string_view> words;
  size_t start = 0;
  while (true) {
    size_t dash = s.find('-', start);
    words.push_back(s.substr(start, dash == std::string_view::npos ? dash : dash - start));
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  if (words[0].empty()) return "Other";
  std::string result;
  if (!IsAlphaByte(static_cast<unsigned char>(words[0][0]))) {
    std::string_view first = words[0].substr(0, words[0].find(','));
    result = std::string(Strip(first, "_'()\""));
  } else {
    result = std::string(words[0]);
  }
  for (size_t i = 1; i < words.size(); ++i) {
    std::string_view w = words[i];
    bool hex8 = w.size() == 8 && w[0] >= 'a' && w[0] <= 'f';
    if (IsAlphaWord(w) && !hex8) {
      result += '-';
      result += w;
    } else {
      break;
    }
  }
  if (result.size() == 32 && result.find_first_not_of("0123456789abcdef") == std::string::npos) {
    return "data";
  }
  if (result.empty()) return "Other";
  if (result[0] == '<') {
    std::string_view r = Strip(result, "<>");
    size_t b = r.find_first_not_of(" \t\n\r\f\v");
    if (b == std::string_view::npos) return "Other";
    r = r.substr(b);
    r = r.substr(0, r.find_first_of(" \t\n\r\f\v"));
    size_t dot = r.rfind('.');
    return std::string(dot == std::string_view::npos ? r : r.substr(dot + 1));
  }
  return result;
}

std::vector<Key> KeysFromValue(const Value* v) {
  std::vector<Key> out;
  if (v == nullptr) return out;
  const Array* a = v->array();
  if (const Set* s = v->get_if<Set>()) a = &s->items;
  if (a == nullptr) {
    if (auto k = Key::FromValue(*v); k.ok()) out.push_back(*k);
    return out;
  }
  out.reserve(a->size());
  for (const Value& x : *a) {
    if (auto k = Key::FromValue(x); k.ok()) out.push_back(*k);
  }
  return out;
}

std::string KeySplit(const Key& key) {
  if (const std::string* s = key.str()) return KeySplit(std::string_view(*s));
  if (const Key::Tuple* t = key.tuple()) {
    if (t->empty()) return "Other";
    return KeySplit((*t)[0]);
  }
  return "Other";
}

}  // namespace dn
