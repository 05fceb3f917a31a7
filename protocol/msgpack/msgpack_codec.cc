#include "protocol/msgpack/msgpack_codec.h"

#include <msgpack.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

namespace dn {

namespace {

// A msgpack-cxx SAX visitor that builds dn::Value directly, without msgpack-cxx's own
// object tree, and enforces MsgpackLimits as it goes. The library parses iteratively,
// so deep nesting cannot overflow the C++ stack.
class ValueBuilder : public msgpack::null_visitor {
 public:
  ValueBuilder(const Buffer& input, MapConvention convention, const MsgpackLimits& limits,
               const PlaceholderResolver* resolver)
      : input_(input), convention_(convention), limits_(limits), resolver_(resolver) {}

  bool visit_nil() { return Push(Value()); }
  bool visit_boolean(bool v) { return Push(Value(v)); }
  bool visit_positive_integer(uint64_t v) { return Push(Value(v)); }
  bool visit_negative_integer(int64_t v) { return Push(Value(v)); }
  bool visit_float32(float v) { return Push(Value(static_cast<double>(v))); }
  bool visit_float64(double v) { return Push(Value(v)); }
  bool visit_str(const char* v, uint32_t size) {
    std::string_view s(v, size);
    if (!IsValidUtf8(s)) return Fail(Status::ProtocolError("msgpack str is not valid UTF-8"));
    return Push(Value(std::string(s)));
  }
  bool visit_bin(const char* v, uint32_t size) {
    size_t offset = reinterpret_cast<const uint8_t*>(v) - input_.data();
    return Push(Value(Bin{input_.Slice(offset, size)}));
  }
  bool visit_ext(const char*, uint32_t) {
    return Fail(Status::ProtocolError("msgpack ext types are not used by dask"));
  }

  bool start_array(uint32_t n) {
    if (!Enter()) return false;
    Array a;
    a.reserve(ReserveFor(n));
    stack_.emplace_back(std::move(a));
    return true;
  }
  bool end_array_item() {
    Value item = Pop();
    stack_.back().get_if<Array>()->push_back(std::move(item));
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool start_map(uint32_t n) {
    if (!Enter()) return false;
    Map m;
    m.reserve(std::min<uint64_t>(ReserveFor(n), input_.size() / 2));
    stack_.emplace_back(std::move(m));
    return true;
  }
  bool end_map_value() {
    Value value = Pop();
    Value key = Pop();
    stack_.back().get_if<Map>()->push_back(MapEntry{std::move(key), std::move(value)});
    return true;
  }
  bool end_map() {
    --depth_;
    return ApplyConventions();
  }
  void parse_error(size_t, size_t error_offset) {
    if (status_.ok()) {
      status_ = Status::ProtocolError("malformed msgpack at byte " + std::to_string(error_offset));
    }
  }
  void insufficient_bytes(size_t, size_t) {
    if (status_.ok()) status_ = Status::ProtocolError("truncated msgpack");
  }

  Status status() const { return status_; }
  Value TakeResult() { return Pop(); }
  size_t stack_size() const { return stack_.size(); }

 private:
  uint64_t Remaining() const { return limits_.max_values - values_; }
  // A claimed element count is only a hint: each element takes at least one input byte,
  // so never reserve more than the input could hold.
  uint64_t ReserveFor(uint64_t claimed) const {
    return std::min({claimed, Remaining(), static_cast<uint64_t>(input_.size())});
  }

  bool Count() {
    if (++values_ > limits_.max_values) {
      return Fail(Status::OutOfMemory("msgpack object has more than " +
                                      std::to_string(limits_.max_values) + " values"));
    }
    return true;
  }
  bool Push(Value v) {
    if (!Count()) return false;
    stack_.push_back(std::move(v));
    return true;
  }
  bool Enter() {
    if (!Count()) return false;
    if (++depth_ > limits_.max_depth) {
      return Fail(Status::ProtocolError("msgpack nesting deeper than " +
                                        std::to_string(limits_.max_depth)));
    }
    return true;
  }
  Value Pop() {
    Value v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  bool Fail(Status st) {
    if (status_.ok()) status_ = std::move(st);
    return false;
  }

  // Mirrors distributed/protocol/core.py:_decode_default (placeholders, when a resolver
  // is given) and serialize.py:msgpack_decode_default (`__Set__`).
  bool ApplyConventions() {
    Map& m = *stack_.back().get_if<Map>();
    if (resolver_ != nullptr) {
      for (bool serialized : {true, false}) {
        const Value* k = FindKey(m, serialized ? "__Serialized__" : "__Pickled__");
        // Python tests `obj.get(name, 0) > 0`; True counts as 1 there, but a bool is
        // the legacy in-band form, which no current sender emits.
        const int64_t* idx = k ? k->get_if<int64_t>() : nullptr;
        if (idx == nullptr || *idx <= 0) continue;
        Result<Value> r = (*resolver_)(serialized, static_cast<uint64_t>(*idx));
        if (!r.ok()) return Fail(r.status());
        stack_.back() = r.MoveValueUnsafe();
        return true;
      }
    }
    if (convention_ != MapConvention::kPlain) {
      const Value* flag = FindKey(m, "__Set__");
      if (flag != nullptr && flag->is<bool>() && *flag->get_if<bool>()) {
        Value* list = FindKey(m, "as-list");
        if (list == nullptr || !list->is<Array>()) {
          return Fail(Status::ProtocolError("__Set__ map without an as-list array"));
        }
        Set s{std::move(*list->get_if<Array>())};
        stack_.back() = Value(std::move(s));
      }
    }
    return true;
  }

  const Buffer& input_;
  MapConvention convention_;
  const MsgpackLimits& limits_;
  const PlaceholderResolver* resolver_;
  std::vector<Value> stack_;
  uint64_t values_ = 0;
  uint32_t depth_ = 0;
  Status status_;
};

template <typename Packer>
Status Encode(const Value& value, Packer& pk, std::string* out, const FrameAppender* appender,
              int depth);

template <typename Packer>
Status EncodeMap(const Map& m, Packer& pk, std::string* out, const FrameAppender* appender,
                 int depth) {
  pk.pack_map(static_cast<uint32_t>(m.size()));
  for (const MapEntry& e : m) {
    DN_RETURN_NOT_OK(Encode(e.key, pk, out, appender, depth + 1));
    DN_RETURN_NOT_OK(Encode(e.value, pk, out, appender, depth + 1));
  }
  return Status::OK();
}

template <typename Packer>
Status Encode(const Value& value, Packer& pk, std::string* out, const FrameAppender* appender,
              int depth) {
  // Values we build ourselves are shallow; this only stops runaway recursion.
  if (depth > 10000) return Status::Invalid("value nested too deeply to encode");
  const auto& v = value.variant();
  switch (v.index()) {
    case 0: pk.pack_nil(); return Status::OK();
    case 1: std::get<bool>(v) ? pk.pack_true() : pk.pack_false(); return Status::OK();
    case 2: {
      int64_t i = std::get<int64_t>(v);
      // Python's msgpack uses the unsigned families for non-negative ints.
      if (i >= 0) {
        pk.pack_uint64(static_cast<uint64_t>(i));
      } else {
        pk.pack_int64(i);
      }
      return Status::OK();
    }
    case 3: pk.pack_uint64(std::get<uint64_t>(v)); return Status::OK();
    case 4: {
      // Python's msgpack always writes float64 (0xcb); msgpack-cxx's pack_double would
      // write integral values as ints, so the bytes are written here.
      uint64_t bits;
      double d = std::get<double>(v);
      std::memcpy(&bits, &d, 8);
      bits = __builtin_bswap64(bits);
      char buf[9];
      buf[0] = static_cast<char>(0xcb);
      std::memcpy(buf + 1, &bits, 8);
      out->append(buf, 9);
      return Status::OK();
    }
    case 5: {
      const std::string& s = std::get<std::string>(v);
      if (s.size() > std::numeric_limits<uint32_t>::max()) return Status::Invalid("str > 4 GiB");
      pk.pack_str(static_cast<uint32_t>(s.size()));
      pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
      return Status::OK();
    }
    case 6: {
      const Buffer& b = std::get<Bin>(v).data;
      if (b.size() > std::numeric_limits<uint32_t>::max()) return Status::Invalid("bin > 4 GiB");
      pk.pack_bin(static_cast<uint32_t>(b.size()));
      pk.pack_bin_body(reinterpret_cast<const char*>(b.data()), static_cast<uint32_t>(b.size()));
      return Status::OK();
    }
    case 7: {
      const Array& a = std::get<Array>(v);
      pk.pack_array(static_cast<uint32_t>(a.size()));
      for (const Value& item : a) DN_RETURN_NOT_OK(Encode(item, pk, out, appender, depth + 1));
      return Status::OK();
    }
    case 8: return EncodeMap(std::get<Map>(v), pk, out, appender, depth);
    case 9: {
      // msgpack_encode_default: {"__Set__": True, "as-list": list(obj)}
      const Set& s = std::get<Set>(v);
      pk.pack_map(2);
      pk.pack_str(7);
      pk.pack_str_body("__Set__", 7);
      pk.pack_true();
      pk.pack_str(7);
      pk.pack_str_body("as-list", 7);
      pk.pack_array(static_cast<uint32_t>(s.items.size()));
      for (const Value& item : s.items)
        DN_RETURN_NOT_OK(Encode(item, pk, out, appender, depth + 1));
      return Status::OK();
    }
    case 10:
    case 11: {
      if (appender == nullptr) {
        return Status::Invalid("Serialized/Pickled values need a frame list to be encoded");
      }
      DN_ASSIGN_OR_RETURN(uint64_t index, (*appender)(value));
      const char* name = v.index() == 10 ? "__Serialized__" : "__Pickled__";
      uint32_t len = v.index() == 10 ? 14 : 11;
      pk.pack_map(1);
      pk.pack_str(len);
      pk.pack_str_body(name, len);
      pk.pack_uint64(index);
      return Status::OK();
    }
  }
  return Status::Internal("unhandled value alternative");
}

struct StringSink {
  std::string* out;
  void write(const char* data, size_t size) { out->append(data, size); }
};

}  // namespace

bool IsValidUtf8(std::string_view bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

Result<Value> DecodeMsgpack(const Buffer& data, MapConvention convention,
                            const MsgpackLimits& limits, const PlaceholderResolver* resolver) {
  if (data.empty()) return Status::ProtocolError("empty msgpack frame");
  ValueBuilder builder(data, convention, limits, resolver);
  size_t offset = 0;
  bool ok = false;
  try {
    ok = msgpack::parse(reinterpret_cast<const char*>(data.data()), data.size(), offset, builder);
  } catch (const std::exception& e) {
    // msgpack-cxx throws on some size errors; it never escapes protocol/.
    return Status::ProtocolError(std::string("msgpack: ") + e.what());
  }
  if (!ok || !builder.status().ok()) {
    Status st = builder.status();
    return st.ok() ? Status::ProtocolError("malformed msgpack") : st;
  }
  if (offset != data.size()) {
    return Status::ProtocolError("trailing bytes after msgpack object");
  }
  if (builder.stack_size() != 1) return Status::Internal("msgpack builder stack imbalance");
  return builder.TakeResult();
}

Status EncodeMsgpack(const Value& value, std::string* out, const FrameAppender* appender) {
  StringSink sink{out};
  msgpack::packer<StringSink> pk(sink);
  return Encode(value, pk, out, appender, 0);
}

}  // namespace dn
