#include "worker/native/arg_reduce.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "worker/native/kernels.h"

namespace dn::native {

namespace {

bool IsMax(ArgKind k) { return k == ArgKind::kArgMax || k == ArgKind::kNanArgMax; }
bool SkipsNaN(ArgKind k) { return k == ArgKind::kNanArgMax || k == ArgKind::kNanArgMin; }

bool Handled(DType t) { return t == DType::kFloat64 || t == DType::kFloat32 || t == DType::kInt64; }

// A reduction over a C-contiguous array seen as `outer` blocks of `len` rows of `inner`
// elements, reducing the rows: along one axis, or (axis -1) over everything.
struct Geometry {
  int64_t outer = 1;
  int64_t len = 1;
  int64_t inner = 1;
};

Geometry GeometryOf(const std::vector<int64_t>& shape, int axis) {
  Geometry g;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    if (axis < 0)
      g.len *= shape[i];
    else if (i < axis)
      g.outer *= shape[i];
    else if (i == axis)
      g.len = shape[i];
    else
      g.inner *= shape[i];
  }
  return g;
}

template <typename T>
bool IsNaN(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  return false;
}

// What the scans compare: the value, or with kSkipNaN a NaN as -inf (max) / +inf (min).
template <typename T, bool kMax, bool kSkipNaN>
T Key(T v) {
  if constexpr (kSkipNaN && std::is_floating_point_v<T>) {
    if (std::isnan(v))
      return kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  }
  return v;
}

// The winner of one contiguous run (a reduction over the last axis, or over
// everything), as Scan below would find it, faster: each block is first reduced to its
// extreme in four independent lanes without a branch per element, and only a block that
// beats the best so far is searched for the first element equal to its extreme, so the
// first occurrence still wins. Without kSkipNaN a NaN never enters the lanes; a block
// holding one returns its first NaN (nothing before it was NaN).
template <typename T, bool kMax, bool kSkipNaN>
int64_t ScanRun(const T* x, int64_t len, uint8_t* all_nan) {
  constexpr int64_t kBlock = 256;
  constexpr int kLanes = 4;
  auto key = [](T v) { return Key<T, kMax, kSkipNaN>(v); };
  auto pick = [](T a, T b) { return kMax ? (b > a ? b : a) : (b < a ? b : a); };
  auto beats = [](T a, T best) { return kMax ? a > best : a < best; };
  if (!kSkipNaN && IsNaN(x[0])) return 0;
  T best = key(x[0]);
  int64_t at = 0;
  bool only_nan = IsNaN(x[0]);
  for (int64_t b = 1; b < len; b += kBlock) {
    const T* p = x + b;
    const int64_t n = std::min(kBlock, len - b);
    T lane[kLanes];
    for (T& l : lane) l = key(p[0]);
    bool nan = false, real = false;
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      for (int k = 0; k < kLanes; ++k) {
        lane[k] = pick(lane[k], key(p[i + k]));
        nan |= IsNaN(p[i + k]);
        real |= !IsNaN(p[i + k]);
      }
    }
    for (; i < n; ++i) {
      lane[0] = pick(lane[0], key(p[i]));
      nan |= IsNaN(p[i]);
      real |= !IsNaN(p[i]);
    }
    if (!kSkipNaN && nan) {
      int64_t j = 0;
      while (!IsNaN(p[j])) ++j;
      return b + j;
    }
    only_nan = only_nan && !real;
    T top = lane[0];
    for (int k = 1; k < kLanes; ++k) top = pick(top, lane[k]);
    if (beats(top, best)) {
      int64_t j = 0;
      while (!(key(p[j]) == top)) ++j;
      best = top;
      at = b + j;
    }
  }
  if (all_nan) *all_nan = only_nan;
  return at;
}

// The winner's position along the reduced rows for each of the outer * inner outputs,
// first occurrence first. Rows are visited in memory order with one running best per
// output, so a reduction along a leading axis reads the array once, sequentially
// (contiguous runs go to ScanRun).
// With kSkipNaN a NaN compares as -inf (max) or +inf (min), as numpy's nanargmax
// replaces it; `all_nan` (if given) then records which outputs saw only NaNs.
// Otherwise a NaN wins and nothing after it does (numpy's argmax loop).
template <typename T, bool kMax, bool kSkipNaN>
void Scan(const T* x, const Geometry& g, int64_t* idx, uint8_t* all_nan) {
  if (g.inner == 1) {
    for (int64_t o = 0; o < g.outer; ++o) {
      idx[o] = ScanRun<T, kMax, kSkipNaN>(x + o * g.len, g.len, all_nan ? all_nan + o : nullptr);
    }
    return;
  }
  auto key = [](T v) { return Key<T, kMax, kSkipNaN>(v); };
  auto better = [](T v, T best) {
    if constexpr (kSkipNaN) return kMax ? v > best : v < best;
    return !IsNaN(best) && (kMax ? !(v <= best) : !(v >= best));
  };
  std::vector<T> best(static_cast<size_t>(g.inner));
  for (int64_t o = 0; o < g.outer; ++o) {
    const T* block = x + o * g.len * g.inner;
    int64_t* out = idx + o * g.inner;
    uint8_t* nan_out = all_nan ? all_nan + o * g.inner : nullptr;
    for (int64_t i = 0; i < g.inner; ++i) {
      best[i] = key(block[i]);
      out[i] = 0;
      if (nan_out) nan_out[i] = IsNaN(block[i]);
    }
    for (int64_t j = 1; j < g.len; ++j) {
      const T* row = block + j * g.inner;
      for (int64_t i = 0; i < g.inner; ++i) {
        const T v = key(row[i]);
        if (better(v, best[i])) {
          best[i] = v;
          out[i] = j;
        }
        if (nan_out) nan_out[i] &= IsNaN(row[i]);
      }
    }
  }
}

template <typename T>
void ScanAs(ArgKind kind, const NdArray& xc, const Geometry& g, int64_t* idx, uint8_t* all_nan) {
  const T* p = xc.ptr<T>();
  switch (kind) {
    case ArgKind::kArgMax: Scan<T, true, false>(p, g, idx, nullptr); break;
    case ArgKind::kArgMin: Scan<T, false, false>(p, g, idx, nullptr); break;
    case ArgKind::kNanArgMax: Scan<T, true, true>(p, g, idx, all_nan); break;
    case ArgKind::kNanArgMin: Scan<T, false, true>(p, g, idx, all_nan); break;
  }
}

// Scan a C-contiguous array of a handled dtype.
void ScanArray(ArgKind kind, const NdArray& xc, const Geometry& g, int64_t* idx, uint8_t* all_nan) {
  switch (xc.dtype) {
    case DType::kFloat64: ScanAs<double>(kind, xc, g, idx, all_nan); break;
    case DType::kFloat32: ScanAs<float>(kind, xc, g, idx, all_nan); break;
    default: ScanAs<int64_t>(kind, xc, g, idx, nullptr); break;
  }
}

template <typename T>
NdArray ReplaceNaN(const NdArray& xc, T with) {
  uint8_t* p = nullptr;
  NdArray out = NdArray::Allocate(xc.dtype, xc.shape, &p);
  T* o = reinterpret_cast<T*>(p);
  const T* x = xc.ptr<T>();
  for (int64_t i = 0, n = xc.size(); i < n; ++i) o[i] = std::isnan(x[i]) ? with : x[i];
  return out;
}

template <typename T>
void SetNaN(NdArray* vals, const std::vector<uint8_t>& all_nan) {
  T* v = const_cast<T*>(vals->ptr<T>());  // freshly allocated by Reduce
  for (size_t i = 0; i < all_nan.size(); ++i) {
    if (all_nan[i]) v[i] = std::numeric_limits<T>::quiet_NaN();
  }
}

// The winners' values (`local` indexes the reduced run of each output), which are
// np.max/np.min or np.nanmax/np.nanmin bit for bit unless a winner is a zero (a tie of
// +0.0 and -0.0 takes the sign reduce.h's Max/Min give) or, for argmax/argmin, a NaN
// (which NaN); false then, and ChunkVals computes them. NaN where a slice is all NaN.
template <typename T>
bool GatherVals(const NdArray& xc, const Geometry& g, const int64_t* local,
                const std::vector<uint8_t>& all_nan, T* vals) {
  const T* x = xc.ptr<T>();
  for (int64_t o = 0, k = 0; o < g.outer; ++o) {
    for (int64_t i = 0; i < g.inner; ++i, ++k) {
      const T v = x[(o * g.len + local[k]) * g.inner + i];
      if (!all_nan.empty() && all_nan[k]) {
        vals[k] = std::numeric_limits<T>::quiet_NaN();
        continue;
      }
      if constexpr (std::is_floating_point_v<T>) {
        if (v == 0 || std::isnan(v)) return false;
      }
      vals[k] = v;
    }
  }
  return true;
}

// np.max/np.min (argmax/argmin) or np.nanmax/np.nanmin (the nan kinds) of the chunk
// over `axes`, keeping dims, by the Max/Min kernels. nanmax = max of the NaN-replaced
// chunk, NaN where a slice is all NaN.
Result<NdArray> ChunkVals(ArgKind kind, const NdArray& x, const NdArray& xc,
                          const std::vector<int>& axes, const std::vector<uint8_t>& all_nan) {
  ReduceSpec spec{IsMax(kind) ? "max" : "min", axes, true, std::nullopt};
  const bool replace = SkipsNaN(kind) && x.dtype != DType::kInt64 && AnyNaN(xc);
  if (!replace) return Reduce(x, spec);
  NdArray vals;
  if (x.dtype == DType::kFloat64) {
    const double inf = std::numeric_limits<double>::infinity();
    DN_ASSIGN_OR_RETURN(vals, Reduce(ReplaceNaN<double>(xc, IsMax(kind) ? -inf : inf), spec));
    vals = AsCContiguous(vals);
    SetNaN<double>(&vals, all_nan);
  } else {
    const float inf = std::numeric_limits<float>::infinity();
    DN_ASSIGN_OR_RETURN(vals, Reduce(ReplaceNaN<float>(xc, IsMax(kind) ? -inf : inf), spec));
    vals = AsCContiguous(vals);
    SetNaN<float>(&vals, all_nan);
  }
  return vals;
}

Result<int> ArgAxis(const std::vector<int>& axes, int ndim) {
  if (axes.empty()) return Status::NotImplemented("arg reduction over no axis");
  for (int a : axes) {
    if (a < 0 || a >= ndim) return Status::Invalid("arg reduction axis out of range");
  }
  // dask: axis=None if every axis is reduced or the array is 1-D, else axis[0].
  return static_cast<int>(axes.size()) == ndim || ndim == 1 ? -1 : axes[0];
}

}  // namespace

std::optional<ArgKind> ArgKindOf(std::string_view argfunc) {
  if (argfunc == "dask.array.chunk.argmax") return ArgKind::kArgMax;
  if (argfunc == "dask.array.chunk.argmin") return ArgKind::kArgMin;
  if (argfunc == "dask.array.reductions._nanargmax") return ArgKind::kNanArgMax;
  if (argfunc == "dask.array.reductions._nanargmin") return ArgKind::kNanArgMin;
  return std::nullopt;
}

bool IsArgChunkFunc(ArgKind kind, std::string_view func) {
  const size_t dot = func.rfind('.');
  if (dot == std::string_view::npos) return false;
  std::string_view module = func.substr(0, dot), name = func.substr(dot + 1);
  if (SkipsNaN(kind)) {
    return (module == "numpy" || module == "numpy.lib._nanfunctions_impl" ||
            module == "numpy.lib.nanfunctions") &&
           name == (IsMax(kind) ? "nanmax" : "nanmin");
  }
  const bool fromnumeric = module == "numpy" || module == "numpy._core.fromnumeric" ||
                           module == "numpy.core.fromnumeric";
  return fromnumeric &&
         (IsMax(kind) ? name == "max" || name == "amax" : name == "min" || name == "amin");
}

bool AnyNaN(const NdArray& a) {
  if (a.dtype != DType::kFloat64 && a.dtype != DType::kFloat32) return false;
  NdArray c = AsCContiguous(a);
  for (int64_t i = 0, n = c.size(); i < n; ++i) {
    if (a.dtype == DType::kFloat64 ? std::isnan(c.ptr<double>()[i]) : std::isnan(c.ptr<float>()[i]))
      return true;
  }
  return false;
}

Result<ArgPartial> ArgChunk(ArgKind kind, const NdArray& x, const std::vector<int>& axes,
                            const ArgOffset& offset) {
  const int nd = x.ndim();
  if (!Handled(x.dtype))
    return Status::NotImplemented("arg_chunk of dtype " + std::string(DTypeStr(x.dtype)));
  if (nd == 0 || x.size() == 0) return Status::NotImplemented("arg_chunk of an empty or 0-d chunk");
  DN_ASSIGN_OR_RETURN(int axis, ArgAxis(axes, nd));
  const bool flat = axis < 0;
  if (flat && (static_cast<int>(offset.origin.size()) != nd ||
               static_cast<int>(offset.total_shape.size()) != nd)) {
    return Status::NotImplemented("arg_chunk offset does not match the chunk");
  }
  NdArray xc = AsCContiguous(x);
  const Geometry g = GeometryOf(xc.shape, axis);
  std::vector<int64_t> keep = xc.shape;
  for (int i = 0; i < nd; ++i) {
    if (flat || i == axis) keep[i] = 1;
  }
  uint8_t* p = nullptr;
  ArgPartial out;
  out.arg = NdArray::Allocate(DType::kInt64, keep, &p);
  auto* arg = reinterpret_cast<int64_t*>(p);
  std::vector<uint8_t> all_nan(SkipsNaN(kind) && x.dtype != DType::kInt64 ? g.outer * g.inner : 0);
  ScanArray(kind, xc, g, arg, all_nan.empty() ? nullptr : all_nan.data());

  std::vector<int> reduced;
  for (int i = 0; i < nd; ++i) {
    if (flat || i == axis) reduced.push_back(i);
  }
  // The winners' values are the maxima; only zeros and NaNs need the reduction's rules.
  uint8_t* vp = nullptr;
  out.vals = NdArray::Allocate(x.dtype, keep, &vp);
  bool gathered = false;
  switch (x.dtype) {
    case DType::kFloat64:
      gathered = GatherVals(xc, g, arg, all_nan, reinterpret_cast<double*>(vp));
      break;
    case DType::kFloat32:
      gathered = GatherVals(xc, g, arg, all_nan, reinterpret_cast<float*>(vp));
      break;
    default: gathered = GatherVals(xc, g, arg, all_nan, reinterpret_cast<int64_t*>(vp)); break;
  }
  if (!gathered) {
    DN_ASSIGN_OR_RETURN(NdArray vals, ChunkVals(kind, x, xc, reduced, all_nan));
    out.vals = AsCContiguous(vals);
    if (out.vals.shape != keep || out.vals.scalar) return Status::Internal("arg_chunk vals shape");
  }

  if (flat) {
    // np.ravel_multi_index(origin + np.unravel_index(local, x.shape), total_shape)
    int64_t local = arg[0], global = 0;
    std::vector<int64_t> index(nd);
    for (int i = nd - 1; i >= 0; --i) {
      index[i] = local % xc.shape[i];
      local /= xc.shape[i];
    }
    for (int i = 0; i < nd; ++i) {
      const int64_t at = offset.origin[i] + index[i];
      if (at < 0 || at >= offset.total_shape[i])
        return Status::NotImplemented("arg_chunk index outside the array");
      global = global * offset.total_shape[i] + at;
    }
    arg[0] = global;
  } else {
    for (int64_t i = 0, n = out.arg.size(); i < n; ++i) arg[i] += offset.along;
  }
  return out;
}

Result<ArgPartial> ArgCombine(ArgKind kind, const ArgPartial& data, const std::vector<int>& axes,
                              bool keepdims) {
  const NdArray& vals = data.vals;
  const int nd = vals.ndim();
  if (!Handled(vals.dtype) || data.arg.dtype != DType::kInt64 || data.arg.shape != vals.shape) {
    return Status::NotImplemented("arg partials of these dtypes");
  }
  if (nd == 0 || vals.size() == 0)
    return Status::NotImplemented("arg partials that are empty or 0-d");
  DN_ASSIGN_OR_RETURN(int axis, ArgAxis(axes, nd));
  const NdArray vc = AsCContiguous(vals), ac = AsCContiguous(data.arg);
  const Geometry g = GeometryOf(vc.shape, axis);
  std::vector<int64_t> local(static_cast<size_t>(g.outer * g.inner));
  ScanArray(kind, vc, g, local.data(), nullptr);

  std::vector<int64_t> shape;
  for (int i = 0; i < nd; ++i) {
    if (axis >= 0 && i != axis)
      shape.push_back(vc.shape[i]);
    else if (keepdims)
      shape.push_back(1);
  }
  const int64_t item = ItemSize(vc.dtype);
  uint8_t* vp = nullptr;
  uint8_t* ap = nullptr;
  ArgPartial out;
  out.vals = NdArray::Allocate(vc.dtype, shape, &vp);
  out.arg = NdArray::Allocate(DType::kInt64, shape, &ap);
  const uint8_t* vsrc = vc.data.data();
  const int64_t* asrc = ac.ptr<int64_t>();
  auto* adst = reinterpret_cast<int64_t*>(ap);
  for (int64_t o = 0, k = 0; o < g.outer; ++o) {
    for (int64_t i = 0; i < g.inner; ++i, ++k) {
      const int64_t src = (o * g.len + local[k]) * g.inner + i;
      std::memcpy(vp + k * item, vsrc + src * item, item);
      adst[k] = asrc[src];
    }
  }
  // vals.ravel()[argfunc(vals, axis=None)]: an index, not an array, picks numpy scalars.
  out.vals.scalar = out.arg.scalar = axis < 0 && !keepdims;
  return out;
}

}  // namespace dn::native
