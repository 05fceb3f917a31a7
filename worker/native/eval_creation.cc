#include "worker/native/eval_creation.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "worker/native/kernels.h"

namespace dn::native::eval {

namespace {

// A random chunk's size tuple.
Result<std::vector<int64_t>> RandomSize(const Obj& seq) {
  std::vector<int64_t> size;
  for (const Obj& d : *seq.items) {
    if (d.kind != Obj::Kind::kInt || d.i < 0) return Unsupported("random size");
    size.push_back(d.i);
  }
  return size;
}

// Scalar float parameters, converted as numpy's PyFloat_AsDouble does (an int
// rounds to nearest).
Result<std::vector<double>> RandomParams(const Obj& seq) {
  std::vector<double> params;
  for (const Obj& p : *seq.items) {
    if (p.kind == Obj::Kind::kInt)
      params.push_back(static_cast<double>(p.i));
    else if (p.kind == Obj::Kind::kFloat)
      params.push_back(p.f);
    else
      return Unsupported("random parameter");
  }
  return params;
}

// RandomState.randint(low, high=None, size, dtype=int) and Generator.integers(low,
// high=None, size, dtype=int64, endpoint=False), from dask's args and kwargs: Python
// int bounds only (others run in Python), [0, low) when high is None. Bounds are
// checked against the dtype by the kernels.
Result<IntegerBounds> IntegerArgs(const std::vector<Obj>& args, const std::vector<Obj>& kw,
                                  bool generator) {
  if (args.size() > 2) return Unsupported("integer draw arguments");
  const Obj* low = args.empty() ? nullptr : &args[0];
  const Obj* high = args.size() == 2 ? &args[1] : nullptr;
  bool endpoint = false;
  IntegerBounds b;
  for (size_t i = 0; i + 1 < kw.size(); i += 2) {
    const Obj& v = kw[i + 1];
    const std::string& k = kw[i].kind == Obj::Kind::kStr ? kw[i].s : std::string();
    if (k == "low" && low == nullptr) {
      low = &v;
    } else if (k == "high" && high == nullptr) {
      high = &v;
    } else if (k == "endpoint" && generator && v.kind == Obj::Kind::kBool) {
      endpoint = v.b;
    } else if (k == "dtype") {
      std::optional<DType> dt;
      if (v.kind == Obj::Kind::kDType) dt = v.dtype;
      if (v.kind == Obj::Kind::kStr) {
        Result<DType> parsed = ParseDType(v.s);  // 'l' (dask's default), 'i8', 'int32', ...
        if (parsed.ok()) dt = *parsed;
      }
      if (v.kind == Obj::Kind::kClass && (v.s == "numpy.int64" || v.s == "builtins.int"))
        dt = DType::kInt64;
      if (v.kind == Obj::Kind::kClass && v.s == "numpy.int32") dt = DType::kInt32;
      if (dt != DType::kInt64 && dt != DType::kInt32) return Unsupported("integer draw dtype");
      b.dtype = *dt;
    } else {
      return Unsupported("integer draw keyword " + k);
    }
  }
  if (low == nullptr || low->kind != Obj::Kind::kInt) return Unsupported("integer draw bounds");
  int64_t hi = low->i;
  b.low = 0;
  if (high != nullptr && high->kind != Obj::Kind::kNone) {
    if (high->kind != Obj::Kind::kInt) return Unsupported("integer draw bounds");
    b.low = low->i;
    hi = high->i;
  }
  if (!endpoint) {
    if (hi == std::numeric_limits<int64_t>::min()) return Unsupported("empty integer range");
    --hi;
  }
  b.high = hi;
  return b;
}

}  // namespace

// _broadcast_trick_inner(numpy.<name>_like, shape, meta=(), dtype=..., [fill_value]):
// np.broadcast_to(<name>_like(meta, shape=(), ...), shape) — one element seen through
// zero strides, read-only, exactly what dask's ones/zeros/full chunks are.
Result<Obj> BroadcastFill(const std::string& name, const std::vector<Obj>& argv,
                          const Kwargs& kwargs) {
  if (argv.size() != 1 || argv[0].kind != Obj::Kind::kSeq) return Unsupported(name + " arguments");
  std::vector<int64_t> shape;
  for (const Obj& d : *argv[0].items) {
    if (d.kind != Obj::Kind::kInt || d.i < 0) return Unsupported("shape");
    shape.push_back(d.i);
  }
  DType dtype = DType::kFloat64;
  double fvalue = name == "ones" ? 1.0 : 0.0;
  int64_t ivalue = name == "ones" ? 1 : 0;
  bool fill_is_int = true;
  for (const auto& [k, v] : kwargs) {
    if (k == "dtype" && v.kind == Obj::Kind::kDType) {
      dtype = v.dtype;
    } else if (k == "dtype" && v.kind == Obj::Kind::kNone) {
    } else if (k == "fill_value" && name == "full" &&
               (v.kind == Obj::Kind::kInt || v.kind == Obj::Kind::kBool)) {
      ivalue = v.kind == Obj::Kind::kInt ? v.i : v.b;
      fvalue = static_cast<double>(ivalue);
    } else if (k == "fill_value" && name == "full" && v.kind == Obj::Kind::kFloat) {
      fvalue = v.f;
      fill_is_int = false;
    } else {
      return Unsupported(name + " keyword " + k);
    }
  }
  if (name == "full" && FindKwarg(kwargs, "fill_value") == nullptr)
    return Unsupported("full without fill_value");
  uint8_t* p = nullptr;
  NdArray one = NdArray::Allocate(dtype, {}, &p);
  switch (dtype) {
    case DType::kFloat64: {
      double v = fvalue;
      std::memcpy(p, &v, 8);
      break;
    }
    case DType::kFloat32: {
      float v = static_cast<float>(fvalue);
      std::memcpy(p, &v, 4);
      break;
    }
    case DType::kInt64:
      if (!fill_is_int) return Unsupported("float fill of an int array");
      std::memcpy(p, &ivalue, 8);
      break;
    case DType::kBool: *p = fvalue != 0; break;
    default: return Unsupported("fill dtype");
  }
  one.shape = shape;
  one.strides.assign(shape.size(), 0);
  one.writeable = false;
  return Obj::Array(std::move(one));
}

// chunk.arange(start, stop, step, length, dtype, like=None):
// np.arange(start, stop, step, dtype)[:length], filled as numpy fills: the first two
// values are start and start + step (Python arithmetic), then start + i * delta with
// delta = second - first, in the result dtype (numpy's <TYPE>_fill).
Result<Obj> Arange(const std::vector<Obj>& argv, const Kwargs& kwargs) {
  if (argv.size() != 5 || argv[4].kind != Obj::Kind::kDType) return Unsupported("arange arguments");
  for (const auto& [k, v] : kwargs) {
    if (k != "like" || v.kind != Obj::Kind::kNone) return Unsupported("arange keyword " + k);
  }
  for (int i = 0; i < 4; ++i) {
    if (argv[i].kind != Obj::Kind::kInt && (i == 3 || argv[i].kind != Obj::Kind::kFloat)) {
      return Unsupported("arange bounds");
    }
  }
  const bool ints = argv[0].kind == Obj::Kind::kInt && argv[1].kind == Obj::Kind::kInt &&
                    argv[2].kind == Obj::Kind::kInt;
  auto num = [](const Obj& o) {
    return o.kind == Obj::Kind::kInt ? static_cast<double>(o.i) : o.f;
  };
  const double start = num(argv[0]), stop = num(argv[1]), step = num(argv[2]);
  if (step == 0) return Status::Invalid("arange step is zero");
  int64_t len = static_cast<int64_t>(std::ceil((stop - start) / step));
  if (ints) {
    // Python ints: the length comes from exact integer arithmetic.
    int64_t a = argv[0].i, b = argv[1].i, c = argv[2].i;
    len = c > 0 ? (b > a ? (b - a + c - 1) / c : 0) : (a > b ? (a - b - c - 1) / -c : 0);
  }
  len = std::max<int64_t>(len, 0);
  const int64_t length = argv[3].i;
  if (len > length) len -= 1;  // res[:-1] if len(res) > length
  DType dt = argv[4].dtype;
  uint8_t* p = nullptr;
  NdArray out = NdArray::Allocate(dt, {len}, &p);
  if (dt == DType::kInt64) {
    if (!ints) return Unsupported("float arange into int64");
    int64_t first = argv[0].i, delta = (argv[0].i + argv[2].i) - first;
    auto* o = reinterpret_cast<int64_t*>(p);
    for (int64_t i = 0; i < len; ++i) o[i] = first + i * delta;
  } else if (dt == DType::kFloat64) {
    double first = start;
    double second = ints ? static_cast<double>(argv[0].i + argv[2].i) : num(argv[0]) + num(argv[2]);
    double delta = second - first;
    auto* o = reinterpret_cast<double*>(p);
    for (int64_t i = 0; i < len; ++i) {
      o[i] = i == 0 ? first : i == 1 ? second : first + static_cast<double>(i) * delta;
    }
  } else {
    return Unsupported("arange dtype");
  }
  return Obj::Array(std::move(out));
}

// _apply_random(RandomState, funcname, state_data, size, args, kwargs):
// RandomState(state_data).<funcname>(*args, size=size, **kwargs).
Result<Obj> ApplyRandom(const std::vector<Obj>& argv) {
  if (argv.size() != 6 || argv[0].kind != Obj::Kind::kClass ||
      argv[0].s != "numpy.random.mtrand.RandomState" || argv[1].kind != Obj::Kind::kStr ||
      argv[2].kind != Obj::Kind::kArray || argv[3].kind != Obj::Kind::kSeq ||
      argv[4].kind != Obj::Kind::kSeq || argv[5].kind != Obj::Kind::kDict) {
    return Unsupported("_apply_random arguments");
  }
  const NdArray& state = argv[2].array;
  if (state.dtype != DType::kUInt32 || state.ndim() != 1 || !state.IsCContiguous())
    return Unsupported("random state");
  DN_ASSIGN_OR_RETURN(std::vector<int64_t> size, RandomSize(argv[3]));
  if (argv[1].s == "randint") {  // dask passes dtype as a keyword ('l' by default)
    DN_ASSIGN_OR_RETURN(IntegerBounds b,
                        IntegerArgs(*argv[4].items, *argv[5].items, /*generator=*/false));
    DN_ASSIGN_OR_RETURN(NdArray out, RandintChunk(state.ptr<uint32_t>(), state.shape[0], size, b));
    return Obj::Array(std::move(out));
  }
  if (!argv[5].items->empty()) return Unsupported("_apply_random keywords");
  DN_ASSIGN_OR_RETURN(std::vector<double> params, RandomParams(argv[4]));
  DN_ASSIGN_OR_RETURN(NdArray out,
                      RandomChunk(argv[1].s, state.ptr<uint32_t>(), state.shape[0], size, params));
  return Obj::Array(std::move(out));
}

// _apply_random_func(PCG64, funcname, SeedSequence, size, args, kwargs):
// Generator(PCG64(seedseq)).<funcname>(*args, size=size, **kwargs).
Result<Obj> ApplyRandomFunc(const std::vector<Obj>& argv) {
  if (argv.size() != 6 || argv[0].kind != Obj::Kind::kClass ||
      argv[0].s != "numpy.random._pcg64.PCG64" || argv[1].kind != Obj::Kind::kStr ||
      argv[2].kind != Obj::Kind::kArray || argv[2].s != "SeedSequence" ||
      argv[3].kind != Obj::Kind::kSeq || argv[4].kind != Obj::Kind::kSeq ||
      argv[5].kind != Obj::Kind::kDict) {
    return Unsupported("_apply_random_func arguments");
  }
  const std::string& method = argv[1].s;
  const uint32_t* pool = argv[2].array.ptr<uint32_t>();
  DN_ASSIGN_OR_RETURN(std::vector<int64_t> size, RandomSize(argv[3]));
  const auto& kw = *argv[5].items;
  if (method == "integers") {  // dask passes high, dtype and endpoint as keywords
    DN_ASSIGN_OR_RETURN(IntegerBounds b, IntegerArgs(*argv[4].items, kw, /*generator=*/true));
    DN_ASSIGN_OR_RETURN(NdArray out, GeneratorIntegersChunk(pool, size, b));
    return Obj::Array(std::move(out));
  }
  // Only float64 output into a fresh array: random and standard_normal take
  // {'dtype': numpy.float64, 'out': None}; the other methods take no keywords.
  const bool takes_dtype = method == "random" || method == "standard_normal";
  for (size_t i = 0; i + 1 < kw.size(); i += 2) {
    if (kw[i].kind != Obj::Kind::kStr || !takes_dtype) return Unsupported("random kwargs");
    const Obj& v = kw[i + 1];
    if (kw[i].s == "dtype" && ((v.kind == Obj::Kind::kClass && v.s == "numpy.float64") ||
                               (v.kind == Obj::Kind::kDType && v.dtype == DType::kFloat64)))
      continue;
    if (kw[i].s == "out" && v.kind == Obj::Kind::kNone) continue;
    return Unsupported("Generator keyword " + kw[i].s);
  }
  DN_ASSIGN_OR_RETURN(std::vector<double> params, RandomParams(argv[4]));
  DN_ASSIGN_OR_RETURN(NdArray out, GeneratorChunk(method, pool, size, params));
  return Obj::Array(std::move(out));
}

}  // namespace dn::native::eval
