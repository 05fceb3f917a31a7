// WorkerServer: values between their wire form, native arrays and the embedded
// Python (what is stored natively, how native results are serialized).
#include "worker/server/worker_server.h"

#include "protocol/pickle/pickle_reader.h"
#include "protocol/pickle/pickle_writer.h"
#include "protocol/serialize/ndarray_serializer.h"
#include "worker/native/records.h"
#include "worker/server/worker_server_internal.h"

namespace dn {

namespace {

// A plain numpy array from a 'dask'-serialized value, if the kernels know its dtype.
std::optional<native::NdArray> NativeArrayFrom(const Serialized& value) {
  const Value* ser = FindKeyValue(value.header, Value("serializer"));
  if (!ser || !ser->str() || *ser->str() != "dask") return std::nullopt;
  Result<NdarrayView> view = DeserializeNdarray(value);
  if (!view.ok() || view->meta.dtype_pickle || view->meta.dtype.empty() ||
      view->meta.dtype[0] == '>') {
    return std::nullopt;
  }
  Result<native::DType> dt = native::ParseDType(view->meta.dtype);
  if (!dt.ok()) return std::nullopt;
  native::NdArray a;
  a.dtype = *dt;
  a.data = view->data;
  a.writeable = view->meta.writeable;
  if (view->meta.broadcast_to) {
    // One element per broadcast axis: view it through zero strides (numpy's broadcast_to).
    a.shape = *view->meta.broadcast_to;
    if (a.shape.size() != view->meta.shape.size()) return std::nullopt;
    a.strides.assign(a.shape.size(), 0);
    for (size_t i = 0; i < a.shape.size(); ++i) {
      if (view->meta.shape[i] == a.shape[i])
        a.strides[i] = view->meta.strides[i];
      else if (view->meta.shape[i] != 1)
        return std::nullopt;
    }
    a.writeable = false;
  } else {
    a.shape = view->meta.shape;
    a.strides = view->meta.strides;
  }
  return a;
}

// A dict of plain arrays serialized as a collection (mean chunks), if every value is
// one the kernels know and no frame is compressed.
std::optional<native::NativeValue> NativeDictFrom(const Serialized& value) {
  auto find = [&](const char* k) { return FindKeyValue(value.header, Value(k)); };
  const Value* coll = find("is-collection");
  const Value* type = find("type-serialized");
  const Value* subs = find("sub-headers");
  const Value* lengths = find("frame-lengths");
  const Value* splits = find("split-num-sub-frames");
  const Value* offsets = find("split-offsets");
  const Value* compression = find("compression");
  if (!coll || !coll->is<bool>() || !*coll->get_if<bool>() || !type || !type->str() ||
      *type->str() != "dict" || !subs || !subs->array() || !lengths || !lengths->array() ||
      !splits || !splits->array() || !offsets || !offsets->array() ||
      subs->array()->size() != lengths->array()->size()) {
    return std::nullopt;
  }
  if (compression && compression->array()) {
    for (const Value& c : *compression->array()) {
      if (!c.is_nil()) return std::nullopt;
    }
  }
  auto as_int = [](const Value& v) -> int64_t {
    if (const int64_t* i = v.get_if<int64_t>()) return *i;
    if (const uint64_t* u = v.get_if<uint64_t>()) return static_cast<int64_t>(*u);
    return -1;
  };
  native::NativeValue out;
  size_t frame = 0;  // index of the next original (unsplit) frame
  for (size_t i = 0; i < subs->array()->size(); ++i) {
    const Value& sub = (*subs->array())[i];
    const Value* name = sub.Find("key");
    int64_t count = as_int((*lengths->array())[i]);
    if (!sub.map() || !name || !name->str() || count < 0) return std::nullopt;
    Serialized item;
    Array comp, split_num, split_off;
    for (int64_t j = 0; j < count; ++j, ++frame) {
      if (frame >= splits->array()->size()) return std::nullopt;
      int64_t parts = as_int((*splits->array())[frame]), first = as_int((*offsets->array())[frame]);
      if (parts < 0 || first < 0 || static_cast<size_t>(first + parts) > value.frames.size())
        return std::nullopt;
      split_num.push_back(Value(parts));
      split_off.push_back(Value(static_cast<int64_t>(item.frames.size())));
      for (int64_t k = 0; k < parts; ++k) {
        item.frames.push_back(value.frames[first + k]);
        comp.push_back(Value());
      }
    }
    for (const MapEntry& e : *sub.map()) {
      if (!(e.key.str() && *e.key.str() == "key")) item.header.push_back(e);
    }
    item.header.push_back(MapEntry{Value("compression"), Value(std::move(comp))});
    item.header.push_back(MapEntry{Value("split-num-sub-frames"), Value(std::move(split_num))});
    item.header.push_back(MapEntry{Value("split-offsets"), Value(std::move(split_off))});
    item.header.push_back(
        MapEntry{Value("num-sub-frames"), Value(static_cast<int64_t>(item.frames.size()))});
    std::optional<native::NdArray> a = NativeArrayFrom(item);
    if (!a) return std::nullopt;
    out.fields.emplace_back(*name->str(), std::move(*a));
  }
  if (out.fields.empty()) return std::nullopt;
  return out;
}

// A numpy scalar pickled as numpy pickles it (what a full reduction returns, sent by a
// stock or a native worker): REDUCE(numpy._core.multiarray.scalar, (dtype, bytes)).
// Kept native, the tasks that take it (finalize, a tree's last step) do not enter
// Python on a worker other than the one that computed it.
std::optional<native::NdArray> NativeScalarFrom(const Serialized& value) {
  const Value* ser = FindKeyValue(value.header, Value("serializer"));
  if (!ser || !ser->str() || *ser->str() != "pickle" || value.frames.size() != 1)
    return std::nullopt;
  Result<PickleTree> tree = ReadPickle(value.frames[0]);
  if (!tree.ok()) return std::nullopt;
  std::optional<NumpyScalarPickle> scalar = MatchNumpyScalar(*tree);
  if (!scalar || scalar->byteorder == ">") return std::nullopt;
  Result<native::DType> dt = native::ParseDType(scalar->dtype_name);
  if (!dt.ok() || static_cast<int64_t>(scalar->raw.size()) != native::ItemSize(*dt))
    return std::nullopt;
  native::NdArray a;
  a.dtype = *dt;
  a.data = Buffer::CopyFrom(scalar->raw.view());
  a.scalar = true;
  a.writeable = false;
  return a;
}

}  // namespace

awaitable<Result<int64_t>> WorkerServer::StoreReceived(Key key, Serialized value) {
  // Plain numpy arrays (and dicts of them, and the structured arrays of dask's arg
  // reductions) stay native, so a tree reduction across workers never enters Python;
  // anything else goes to Python.
  std::optional<native::NativeValue> v;
  if (std::optional<native::NdArray> a = NativeArrayFrom(value)) {
    v = native::NativeValue{std::move(*a), {}};
  } else if (std::optional<native::NdArray> scalar = NativeScalarFrom(value)) {
    v = native::NativeValue{std::move(*scalar), {}};
  } else if (std::optional<native::NativeValue> records = native::RecordsFrom(value)) {
    v = std::move(records);
  } else {
    v = NativeDictFrom(value);
  }
  if (v) {
    int64_t n = v->Sizeof();
    native_[key] = std::move(*v);
    python_->Post([this, key] { python_->Delete(key); });  // a stale Python copy, if any
    native_only_.insert(key);
    co_return n;
  }
  native_.erase(key);
  native_only_.erase(key);
  Result<int64_t> n = co_await StoreInPython(key, std::move(value));
  co_return n;
}

// The wire form of a native value, as a stock worker would send it: arrays with the
// 'dask' numpy serializer, numpy scalars pickled as numpy pickles them.
Result<Serialized> WorkerServer::SerializeNative(const native::NativeValue& v) const {
  if (v.records) return native::SerializeRecords(v);
  if (!v.is_dict()) return SerializeArray(v.array);
  // A dict of arrays, as distributed serializes a collection: one sub-header per value
  // (with its key), the frames of all values in order, frame counts per value.
  Array sub_headers, frame_lengths, compression, split_num, split_offsets;
  Serialized out;
  for (const auto& [name, a] : v.fields) {
    DN_ASSIGN_OR_RETURN(Serialized s, SerializeArray(a));
    Map sub;
    sub.push_back(MapEntry{Value("key"), Value(name)});
    for (const MapEntry& e : s.header) {
      const std::string* k = e.key.str();
      if (k && (*k == "compression" || *k == "split-num-sub-frames" || *k == "split-offsets" ||
                *k == "num-sub-frames")) {
        continue;
      }
      sub.push_back(e);
    }
    sub_headers.push_back(Value(std::move(sub)));
    frame_lengths.push_back(Value(static_cast<int64_t>(s.frames.size())));
    for (Buffer& f : s.frames) {
      split_num.push_back(Value(1));
      split_offsets.push_back(Value(static_cast<int64_t>(out.frames.size())));
      compression.push_back(Value());
      out.frames.push_back(std::move(f));
    }
  }
  int64_t nframes = static_cast<int64_t>(out.frames.size());
  out.header = Map{{Value("sub-headers"), Value(std::move(sub_headers))},
                   {Value("is-collection"), Value(true)},
                   {Value("frame-lengths"), Value(std::move(frame_lengths))},
                   {Value("type-serialized"), Value("dict")},
                   {Value("compression"), Value(std::move(compression))},
                   {Value("split-num-sub-frames"), Value(std::move(split_num))},
                   {Value("split-offsets"), Value(std::move(split_offsets))},
                   {Value("num-sub-frames"), Value(nframes)}};
  return out;
}

Result<Serialized> WorkerServer::SerializeArray(const native::NdArray& a) const {
  if (a.scalar) {
    std::string raw(reinterpret_cast<const char*>(a.data.data()),
                    static_cast<size_t>(native::ItemSize(a.dtype)));
    std::string_view str = native::DTypeStr(a.dtype);
    std::string pickle =
        PickleNumpyScalar("numpy._core.multiarray", str.substr(1), str.substr(0, 1), raw, 5);
    Serialized s;
    s.header = Map{{Value("serializer"), Value("pickle")},
                   {Value("writeable"), Value(Array{})},
                   {Value("split-num-sub-frames"), Value(Array{Value(1)})},
                   {Value("split-offsets"), Value(Array{Value(0)})},
                   {Value("compression"), Value(Array{Value()})},
                   {Value("num-sub-frames"), Value(1)}};
    s.frames.push_back(Buffer::FromString(std::move(pickle)));
    return s;
  }
  NdarrayMeta meta;
  bool all_broadcast = a.ndim() > 0 && a.size() > 0;
  for (int64_t st : a.strides) all_broadcast = all_broadcast && st == 0;
  if (all_broadcast) {
    // One element seen through zero strides (da.ones chunks): sent as stock does, one
    // element plus `broadcast_to`.
    meta.dtype = std::string(native::DTypeStr(a.dtype));
    meta.shape.assign(a.shape.size(), 1);
    meta.strides.assign(a.shape.size(), 0);
    meta.writeable = false;
    meta.broadcast_to = a.shape;
    return SerializeNdarray(meta, a.data.Slice(0, static_cast<size_t>(native::ItemSize(a.dtype))));
  }
  native::NdArray c = native::AsCContiguous(a);
  meta.dtype = std::string(native::DTypeStr(c.dtype));
  meta.shape = c.shape;
  meta.strides = c.strides;
  meta.writeable = true;
  return SerializeNdarray(meta, c.data.Slice(0, static_cast<size_t>(c.nbytes())));
}

awaitable<Result<int64_t>> WorkerServer::StoreInPython(Key key, Serialized value) {
  std::function<Result<int64_t>()> job = [this, key, value] { return python_->Put(key, value); };
  Result<int64_t> n = co_await InPython<Result<int64_t>>(std::move(job));
  co_return n;
}

// A stored value in its wire form: from Python if in memory, straight from its spill
// file if on disk (no need to bring it back into memory to send it).
awaitable<Result<Serialized>> WorkerServer::SerializeStored(Key key) {
  // Wait out a spill or unspill in flight.
  for (std::optional<Residence> r = store_.residence(key);
       r == Residence::kSpilling || r == Residence::kUnspilling; r = store_.residence(key)) {
    asio::steady_timer t(io_, std::chrono::milliseconds(5));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  std::optional<Residence> where = store_.residence(key);
  if (!where) co_return Status::NotFound("no longer held");
  Pin(key);
  Result<Serialized> out = Status::Internal("unset");
  if (*where == Residence::kMemory && native_.count(key)) {
    store_.Touch(key);
    out = SerializeNative(native_.at(key));
  } else if (*where == Residence::kDisk) {
    std::string path = store_.PathFor(key);
    std::function<Result<Serialized>()> job = [this, path] {
      Result<Serialized> v = Status::Internal("unset");
      python_->WithoutGil([&] { v = DataStore::ReadSpillFile(path); });
      return v;
    };
    out = co_await InPython<Result<Serialized>>(std::move(job));
  } else {
    store_.Touch(key);
    std::function<Result<Serialized>()> job = [this, key]() -> Result<Serialized> {
      DN_ASSIGN_OR_RETURN(PySerialized s, python_->Serialize(key));
      return Serialized{std::move(s.header), std::move(s.frames)};
    };
    out = co_await InPython<Result<Serialized>>(std::move(job));
  }
  Unpin(key);
  co_return out;
}

}  // namespace dn
