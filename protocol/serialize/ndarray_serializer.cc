#include "protocol/serialize/ndarray_serializer.h"

#include <charconv>
#include <limits>
#include <numeric>

#include "protocol/messages/message_codec.h"
#include "protocol/pickle/pickle_writer.h"

namespace dn {

bool NdarrayMeta::operator==(const NdarrayMeta& o) const {
  bool dp = dtype_pickle.has_value() == o.dtype_pickle.has_value() &&
            (!dtype_pickle || dtype_pickle->Equals(*o.dtype_pickle));
  return dtype == o.dtype && dp && shape == o.shape && strides == o.strides &&
         writeable == o.writeable && broadcast_to == o.broadcast_to;
}

Result<int64_t> DtypeItemSize(std::string_view dtype) {
  if (dtype.size() < 3 || std::string_view("<>|=").find(dtype[0]) == std::string_view::npos) {
    return Status::Invalid("unsupported dtype string '" + std::string(dtype) + "'");
  }
  char kind = dtype[1];
  if (std::string_view("biufcmMSUV").find(kind) == std::string_view::npos) {
    return Status::Invalid("unsupported dtype kind in '" + std::string(dtype) + "'");
  }
  std::string_view digits = dtype.substr(2);
  digits = digits.substr(0, digits.find('['));
  int64_t n = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || p != digits.data() + digits.size() || n < 0 || n > (1 << 30)) {
    return Status::Invalid("bad item size in dtype '" + std::string(dtype) + "'");
  }
  return kind == 'U' ? 4 * n : n;
}

namespace {

Array IntArray(const std::vector<int64_t>& v) {
  Array a;
  a.reserve(v.size());
  for (int64_t x : v) a.emplace_back(x);
  return a;
}

Result<std::vector<int64_t>> ToInts(const Value* v, const char* what) {
  const Array* a = v ? v->array() : nullptr;
  if (a == nullptr) return Status::ProtocolError(std::string("ndarray header lacks ") + what);
  std::vector<int64_t> out;
  out.reserve(a->size());
  for (const Value& x : *a) {
    const int64_t* i = x.get_if<int64_t>();
    if (i == nullptr) return Status::ProtocolError(std::string("non-int in ndarray ") + what);
    out.push_back(*i);
  }
  return out;
}

// The bytes a strided array addresses: 1 + max offset, times nothing for empty arrays.
Result<uint64_t> Extent(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                        int64_t itemsize) {
  if (shape.size() != strides.size()) {
    return Status::ProtocolError("ndarray shape and strides differ in length");
  }
  __int128 last = 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0 || strides[i] < 0) {
      return Status::ProtocolError("negative ndarray shape or stride");
    }
    if (shape[i] == 0) return uint64_t{0};
    last += static_cast<__int128>(shape[i] - 1) * strides[i];
  }
  __int128 extent = last + itemsize;
  if (extent > std::numeric_limits<int64_t>::max()) {
    return Status::ProtocolError("ndarray extent overflows");
  }
  return static_cast<uint64_t>(extent);
}

}  // namespace

Result<Serialized> SerializeNdarray(const NdarrayMeta& meta, const Buffer& data,
                                    uint64_t shard_bytes) {
  static const Buffer kTypeSerialized = Buffer::FromString(PickleGlobalRef("numpy", "ndarray", 5));
  Map sub;
  Array dtype;
  if (meta.dtype_pickle) {
    dtype = {Value(1), Value(Bin{*meta.dtype_pickle})};
  } else {
    DN_ASSIGN_OR_RETURN(int64_t itemsize, DtypeItemSize(meta.dtype));
    DN_ASSIGN_OR_RETURN(uint64_t extent, Extent(meta.shape, meta.strides, itemsize));
    if (extent > data.size()) return Status::Invalid("ndarray data smaller than its strides need");
    dtype = {Value(0), Value(meta.dtype)};
  }
  sub.push_back({Value("dtype"), Value(std::move(dtype))});
  sub.push_back({Value("shape"), Value(IntArray(meta.shape))});
  sub.push_back({Value("strides"), Value(IntArray(meta.strides))});
  sub.push_back({Value("writeable"), Value(Array{Value(meta.writeable)})});
  if (meta.broadcast_to) {
    sub.push_back({Value("broadcast_to"), Value(IntArray(*meta.broadcast_to))});
  }
  // numpy.py views data as u1/u2/u4/u8 (gcd of itemsize and 8) before the split, so
  // shards end on that element size.
  int64_t itemsize = meta.dtype_pickle ? 1 : DtypeItemSize(meta.dtype).ValueOrDie();
  int64_t view = std::gcd(itemsize == 0 ? 8 : itemsize, int64_t{8});
  std::vector<Buffer> shards = SplitFrame(data, shard_bytes, static_cast<uint64_t>(view));
  Array compression(shards.size(), Value());
  Serialized out;
  out.header.push_back({Value("sub-header"), Value(std::move(sub))});
  out.header.push_back({Value("type"), Value("numpy.ndarray")});
  out.header.push_back({Value("type-serialized"), Value(Bin{kTypeSerialized})});
  out.header.push_back({Value("serializer"), Value("dask")});
  out.header.push_back(
      {Value("split-num-sub-frames"), Value(Array{Value(static_cast<int64_t>(shards.size()))})});
  out.header.push_back({Value("split-offsets"), Value(Array{Value(0)})});
  out.header.push_back({Value("compression"), Value(std::move(compression))});
  out.header.push_back({Value("num-sub-frames"), Value(static_cast<int64_t>(shards.size()))});
  out.frames = std::move(shards);
  return out;
}

Result<NdarrayView> DeserializeNdarray(const Serialized& value, uint64_t max_decompressed_bytes) {
  const Map& h = value.header;
  const Value* serializer = FindKey(h, "serializer");
  if (serializer == nullptr || serializer->str() == nullptr || *serializer->str() != "dask") {
    return Status::Invalid("not a 'dask'-serialized value");
  }
  const Value* type = FindKey(h, "type");
  if (type == nullptr || type->str() == nullptr || *type->str() != "numpy.ndarray") {
    return Status::Invalid("not a numpy.ndarray");
  }
  const Value* subv = FindKey(h, "sub-header");
  if (subv == nullptr || subv->map() == nullptr) {
    return Status::ProtocolError("ndarray header lacks a sub-header map");
  }
  const Map& sub = *subv->map();
  if (const Value* p = FindKey(sub, "pickle"); p && p->is<bool>() && *p->get_if<bool>()) {
    return Status::Invalid("object ndarray is pickled; it needs Python");
  }

  NdarrayView view;
  const Value* dt = FindKey(sub, "dtype");
  const Array* dta = dt ? dt->array() : nullptr;
  if (dta == nullptr || dta->size() != 2 || !(*dta)[0].is<int64_t>()) {
    return Status::ProtocolError("ndarray dtype is not [kind, value]");
  }
  int64_t itemsize = 1;
  if (*(*dta)[0].get_if<int64_t>() == 0) {
    if ((*dta)[1].str() == nullptr) {
      return Status::Invalid("ndarray dtype descr lists are not supported natively");
    }
    view.meta.dtype = *(*dta)[1].str();
    DN_ASSIGN_OR_RETURN(itemsize, DtypeItemSize(view.meta.dtype));
  } else {
    const Bin* b = (*dta)[1].get_if<Bin>();
    if (b == nullptr) return Status::ProtocolError("pickled ndarray dtype is not bin");
    view.meta.dtype_pickle = b->data;
  }
  DN_ASSIGN_OR_RETURN(view.meta.shape, ToInts(FindKey(sub, "shape"), "shape"));
  DN_ASSIGN_OR_RETURN(view.meta.strides, ToInts(FindKey(sub, "strides"), "strides"));
  if (const Value* w = FindKey(sub, "writeable"); w && w->array() && !w->array()->empty()) {
    const Value& w0 = (*w->array())[0];
    view.meta.writeable = w0.is<bool>() && *w0.get_if<bool>();
  }
  if (const Value* bt = FindKey(sub, "broadcast_to")) {
    DN_ASSIGN_OR_RETURN(view.meta.broadcast_to, ToInts(bt, "broadcast_to"));
  }

  MessageLimits limits;
  limits.max_decompressed_bytes = max_decompressed_bytes;
  DN_ASSIGN_OR_RETURN(std::vector<Buffer> frames, DecompressSubFrames(h, value.frames, limits));
  // merge_and_deserialize: join split-num-sub-frames[i] frames from split-offsets[i].
  std::vector<Buffer> merged;
  const Value* nsplit = FindKey(h, "split-num-sub-frames");
  if (nsplit == nullptr) {
    merged = frames;
  } else {
    DN_ASSIGN_OR_RETURN(auto counts, ToInts(nsplit, "split-num-sub-frames"));
    DN_ASSIGN_OR_RETURN(auto offsets, ToInts(FindKey(h, "split-offsets"), "split-offsets"));
    for (size_t i = 0; i < counts.size() && i < offsets.size(); ++i) {
      if (counts[i] < 0 || offsets[i] < 0 ||
          static_cast<uint64_t>(offsets[i]) + counts[i] > frames.size()) {
        return Status::ProtocolError("split-offsets point past the frames");
      }
      merged.push_back(MergeFrames(std::span<const Buffer>(frames).subspan(offsets[i], counts[i])));
    }
  }
  if (merged.size() != 1) return Status::ProtocolError("ndarray needs exactly one data frame");
  view.data = merged[0];
  if (!view.meta.dtype_pickle) {
    DN_ASSIGN_OR_RETURN(uint64_t extent, Extent(view.meta.shape, view.meta.strides, itemsize));
    if (extent > view.data.size()) {
      return Status::ProtocolError("ndarray frame has " + std::to_string(view.data.size()) +
                                   " bytes; its shape and strides need " + std::to_string(extent));
    }
  }
  return view;
}

}  // namespace dn
