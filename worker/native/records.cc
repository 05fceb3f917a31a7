#include "worker/native/records.h"

#include <cstring>
#include <map>

#include "protocol/pickle/pickle_reader.h"
#include "protocol/pickle/pickle_writer.h"
#include "protocol/serialize/ndarray_serializer.h"

namespace dn::native {

namespace {

// The state numpy pickles for every non-structured dtype after its byte order:
// (3, byteorder, None, None, None, -1, -1, 0).
constexpr int kDtypeStateVersion = 3;
// What numpy pickles as the alignment and flags of a packed structured dtype of
// plain-data fields (`np.dtype([...]).alignment` and `.flags`).
constexpr int64_t kPackedAlignment = 1;
constexpr int64_t kPackedFlags = 16;

std::string_view ByteOrder(DType t) { return DTypeStr(t).substr(0, 1); }

// Visit every element of `shape` in C order with its byte offset under `strides`.
template <typename F>
void ForEachElement(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, F&& f) {
  const int nd = static_cast<int>(shape.size());
  int64_t total = 1;
  for (int64_t d : shape) total *= d;
  std::vector<int64_t> idx(nd, 0);
  int64_t off = 0;
  for (int64_t k = 0; k < total; ++k) {
    f(k, off);
    for (int i = nd - 1; i >= 0; --i) {
      off += strides[i];
      if (++idx[i] < shape[i]) break;
      off -= strides[i] * shape[i];
      idx[i] = 0;
    }
  }
}

}  // namespace

std::vector<RecordField> RecordFields(const NativeValue& v) {
  std::vector<RecordField> out;
  for (const auto& [name, a] : v.fields) out.push_back({name, a.dtype});
  return out;
}

int64_t RecordSize(const std::vector<RecordField>& fields) {
  int64_t n = 0;
  for (const RecordField& f : fields) n += ItemSize(f.dtype);
  return n;
}

Result<NativeValue> MakeRecords(std::vector<std::pair<std::string, NdArray>> fields) {
  if (fields.empty()) return Status::Invalid("a structured array needs a field");
  NativeValue v;
  v.records = true;
  for (auto& [name, a] : fields) {
    if (a.shape != fields[0].second.shape)
      return Status::Invalid("structured fields differ in shape");
    NdArray c = AsCContiguous(a);
    c.scalar = false;
    v.fields.emplace_back(std::move(name), std::move(c));
  }
  return v;
}

Buffer PackRecords(const NativeValue& v) {
  const int64_t record = RecordSize(RecordFields(v));
  const int64_t n = v.fields.empty() ? 0 : v.fields[0].second.size();
  uint8_t* out = nullptr;
  Buffer buf = Buffer::Allocate(static_cast<size_t>(n * record), &out);
  int64_t offset = 0;
  for (const auto& [name, a] : v.fields) {
    const int64_t item = ItemSize(a.dtype);
    const uint8_t* src = a.data.data();  // C-contiguous (MakeRecords)
    for (int64_t k = 0; k < n; ++k) std::memcpy(out + k * record + offset, src + k * item, item);
    offset += item;
  }
  return buf;
}

std::string RecordsDescr(const std::vector<RecordField>& fields) {
  std::string out = "[";
  for (size_t i = 0; i < fields.size(); ++i) {
    out += (i ? ", ('" : "('") + fields[i].name + "', '" + std::string(DTypeStr(fields[i].dtype)) +
           "')";
  }
  return out + "]";
}

std::string PickleRecordsDtype(const std::vector<RecordField>& fields, int protocol) {
  // Pickle writes a memo reference for an object it met before. numpy shares the
  // builtin dtype of equal fields, its field names (names tuple and fields-dict keys),
  // and CPython every one-character string ('<', '|'); share the same nodes.
  PickleTree t;
  NodeId dtype_cls = t.AddGlobal("numpy", "dtype");
  NodeId none = t.AddNone();
  std::map<std::string, NodeId, std::less<>> chars;
  auto one_char = [&](std::string_view c) {
    auto it = chars.find(c);
    if (it == chars.end()) it = chars.emplace(std::string(c), t.AddStr(c)).first;
    return it->second;
  };
  const int64_t itemsize = RecordSize(fields);
  NodeId outer_args =
      t.AddTuple({t.AddStr("V" + std::to_string(itemsize)), t.AddBool(false), t.AddBool(true)});
  NodeId outer_order = one_char("|");
  std::vector<NodeId> names;
  for (const RecordField& f : fields)
    names.push_back(f.name.size() == 1 ? one_char(f.name) : t.AddStr(f.name));
  NodeId names_tuple = t.AddTuple(names);
  std::map<DType, NodeId> field_dtypes;
  std::vector<NodeId> dict_items;
  int64_t offset = 0;
  for (size_t i = 0; i < fields.size(); ++i) {
    const DType dt = fields[i].dtype;
    auto it = field_dtypes.find(dt);
    if (it == field_dtypes.end()) {
      NodeId code = t.AddStr(DTypeCode(dt));
      NodeId order = one_char(ByteOrder(dt));
      NodeId args = t.AddTuple({code, t.AddBool(false), t.AddBool(true)});
      NodeId state = t.AddTuple({t.AddInt(kDtypeStateVersion), order, none, none, none,
                                 t.AddInt(-1), t.AddInt(-1), t.AddInt(0)});
      it = field_dtypes.emplace(dt, t.AddReduce(dtype_cls, args, state)).first;
    }
    dict_items.push_back(names[i]);
    dict_items.push_back(t.AddTuple({it->second, t.AddInt(offset)}));
    offset += ItemSize(dt);
  }
  NodeId state = t.AddTuple({t.AddInt(kDtypeStateVersion), outer_order, none, names_tuple,
                             t.AddDict(dict_items), t.AddInt(itemsize), t.AddInt(kPackedAlignment),
                             t.AddInt(kPackedFlags)});
  t.set_root(t.AddReduce(dtype_cls, outer_args, state));
  return WritePickle(t, protocol).ValueOrDie();
}

Result<std::vector<RecordField>> ParseRecordsDtype(const Buffer& pickle) {
  DN_ASSIGN_OR_RETURN(PickleTree t, ReadPickle(pickle));
  auto no = [](const char* what) {
    return Status::NotImplemented(std::string("structured dtype: ") + what);
  };
  auto kind = [&](NodeId id) { return id < t.size() ? t.node(id).kind : PickleKind::kNone; };
  auto is_int = [&](NodeId id, int64_t v) {
    return kind(id) == PickleKind::kInt && t.node(id).int_value == v;
  };
  // REDUCE(numpy.dtype, (str, False, True)) + BUILD(state tuple of 8): the str and state.
  auto dtype = [&](NodeId id, std::string_view* descr) -> Result<const std::vector<NodeId>*> {
    if (kind(id) != PickleKind::kReduce || t.node(id).items.size() != 2 ||
        !t.IsGlobal(t.node(id).items[0], "numpy", "dtype")) {
      return no("not numpy.dtype(...)");
    }
    const PickleNode& args = t.node(t.node(id).items[1]);
    if (args.kind != PickleKind::kTuple || args.items.size() != 3 ||
        kind(args.items[0]) != PickleKind::kStr || kind(args.items[1]) != PickleKind::kBool ||
        t.node(args.items[1]).flag || kind(args.items[2]) != PickleKind::kBool ||
        !t.node(args.items[2]).flag) {
      return no("dtype arguments");
    }
    *descr = t.str(args.items[0]);
    NodeId st = t.node(id).state;
    if (st == kNoNode || kind(st) != PickleKind::kTuple || t.node(st).items.size() != 8 ||
        !is_int(t.node(st).items[0], kDtypeStateVersion) ||
        kind(t.node(st).items[1]) != PickleKind::kStr ||
        kind(t.node(st).items[2]) != PickleKind::kNone) {
      return no("dtype state");
    }
    return &t.node(st).items;
  };
  std::string_view outer;
  DN_ASSIGN_OR_RETURN(const std::vector<NodeId>* st, dtype(t.root(), &outer));
  const std::vector<NodeId>& s = *st;
  if (t.str(s[1]) != "|" || kind(s[3]) != PickleKind::kTuple || kind(s[4]) != PickleKind::kDict ||
      kind(s[5]) != PickleKind::kInt || !is_int(s[6], kPackedAlignment) ||
      !is_int(s[7], kPackedFlags) || outer != "V" + std::to_string(t.node(s[5]).int_value)) {
    return no("not a packed structured dtype");
  }
  const std::vector<NodeId>& names = t.node(s[3]).items;
  const std::vector<NodeId>& dict = t.node(s[4]).items;
  if (names.empty() || dict.size() != 2 * names.size()) return no("fields");
  std::vector<RecordField> out;
  int64_t offset = 0;
  for (NodeId name : names) {
    if (kind(name) != PickleKind::kStr) return no("field name");
    const NodeId* entry = nullptr;
    for (size_t i = 0; i + 1 < dict.size(); i += 2) {
      if (kind(dict[i]) == PickleKind::kStr && t.str(dict[i]) == t.str(name)) entry = &dict[i + 1];
    }
    // (dtype, offset); a third item would be a title.
    if (entry == nullptr || kind(*entry) != PickleKind::kTuple ||
        t.node(*entry).items.size() != 2 || !is_int(t.node(*entry).items[1], offset)) {
      return no("field layout");
    }
    std::string_view code;
    DN_ASSIGN_OR_RETURN(const std::vector<NodeId>* fs, dtype(t.node(*entry).items[0], &code));
    const std::vector<NodeId>& f = *fs;
    std::string_view order = t.str(f[1]);
    if ((order != "<" && order != "|") || kind(f[3]) != PickleKind::kNone ||
        kind(f[4]) != PickleKind::kNone || !is_int(f[5], -1) || !is_int(f[6], -1) ||
        !is_int(f[7], 0)) {
      return no("field dtype state");
    }
    DN_ASSIGN_OR_RETURN(DType dt, ParseDType(std::string(order) + std::string(code)));
    if (DTypeStr(dt) != std::string(order) + std::string(code)) return no("field dtype spelling");
    out.push_back({std::string(t.str(name)), dt});
    offset += ItemSize(dt);
  }
  if (offset != t.node(s[5]).int_value) return no("padding");
  return out;
}

Result<Serialized> SerializeRecords(const NativeValue& v) {
  if (!v.records || v.fields.empty()) return Status::Invalid("not a structured value");
  const std::vector<RecordField> fields = RecordFields(v);
  NdarrayMeta meta;
  meta.dtype_pickle = Buffer::FromString(PickleRecordsDtype(fields, 5));
  meta.shape = v.fields[0].second.shape;
  meta.strides = NdArray::CStrides(meta.shape, RecordSize(fields));
  meta.writeable = true;
  return SerializeNdarray(meta, PackRecords(v));
}

std::optional<NativeValue> RecordsFrom(const Serialized& value) {
  Result<NdarrayView> view = DeserializeNdarray(value);
  if (!view.ok() || !view->meta.dtype_pickle || view->meta.broadcast_to) return std::nullopt;
  Result<std::vector<RecordField>> fields = ParseRecordsDtype(*view->meta.dtype_pickle);
  if (!fields.ok()) return std::nullopt;
  const std::vector<int64_t>& shape = view->meta.shape;
  const std::vector<int64_t>& strides = view->meta.strides;
  if (shape.size() != strides.size()) return std::nullopt;
  // DeserializeNdarray leaves a pickled dtype's extent to us.
  const int64_t record = RecordSize(*fields);
  int64_t last = 0, total = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0 || strides[i] < 0) return std::nullopt;
    total *= shape[i];
    last += (shape[i] - 1) * strides[i];
  }
  if (total > 0 && static_cast<uint64_t>(last + record) > view->data.size()) return std::nullopt;
  NativeValue out;
  out.records = true;
  int64_t offset = 0;
  for (const RecordField& f : *fields) {
    uint8_t* dst = nullptr;
    NdArray a = NdArray::Allocate(f.dtype, shape, &dst);
    const int64_t item = ItemSize(f.dtype);
    const uint8_t* src = view->data.data() + offset;
    ForEachElement(shape, strides,
                   [&](int64_t k, int64_t off) { std::memcpy(dst + k * item, src + off, item); });
    out.fields.emplace_back(f.name, std::move(a));
    offset += item;
  }
  return out;
}

}  // namespace dn::native
