#include "worker/native/elementwise.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace dn::native {

namespace {

enum class Op : uint8_t { kAdd, kSub, kMul, kDiv, kGt, kGe, kLt, kLe, kEq, kNe };

std::optional<Op> ParseOp(std::string_view op) {
  if (op == "add") return Op::kAdd;
  if (op == "sub") return Op::kSub;
  if (op == "mul") return Op::kMul;
  if (op == "truediv") return Op::kDiv;
  if (op == "gt") return Op::kGt;
  if (op == "ge") return Op::kGe;
  if (op == "lt") return Op::kLt;
  if (op == "le") return Op::kLe;
  if (op == "eq") return Op::kEq;
  if (op == "ne") return Op::kNe;
  return std::nullopt;
}

bool IsComparison(Op op) { return op >= Op::kGt; }

template <typename C>
C LoadAs(const uint8_t* p, DType t) {
  switch (t) {
    case DType::kFloat64: {
      double v;
      std::memcpy(&v, p, 8);
      return static_cast<C>(v);
    }
    case DType::kFloat32: {
      float v;
      std::memcpy(&v, p, 4);
      return static_cast<C>(v);
    }
    case DType::kInt64: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return static_cast<C>(v);
    }
    case DType::kInt32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return static_cast<C>(v);
    }
    case DType::kUInt32: {
      uint32_t v;
      std::memcpy(&v, p, 4);
      return static_cast<C>(v);
    }
    case DType::kBool: return static_cast<C>(*p != 0);
  }
  return C{};
}

template <typename C>
C Arith(Op op, C x, C y) {
  if constexpr (std::is_integral_v<C>) {
    // numpy's integer arithmetic wraps; signed overflow is undefined in C++, so go
    // through unsigned.
    using U = std::make_unsigned_t<C>;
    switch (op) {
      case Op::kAdd: return static_cast<C>(static_cast<U>(x) + static_cast<U>(y));
      case Op::kSub: return static_cast<C>(static_cast<U>(x) - static_cast<U>(y));
      case Op::kMul: return static_cast<C>(static_cast<U>(x) * static_cast<U>(y));
      default: return C{};  // truediv of integers is computed in float64
    }
  }
  switch (op) {
    case Op::kAdd: return x + y;
    case Op::kSub: return x - y;
    case Op::kMul: return x * y;
    default: return x / y;
  }
}

template <typename C>
bool Compare(Op op, C x, C y) {
  switch (op) {
    case Op::kGt: return x > y;
    case Op::kGe: return x >= y;
    case Op::kLt: return x < y;
    case Op::kLe: return x <= y;
    case Op::kEq: return x == y;
    default: return x != y;
  }
}

// An operand laid out against the output shape: base pointer, dtype, and byte strides
// per output axis (0 where it is broadcast).
struct Laid {
  const uint8_t* base;
  DType dtype;
  std::vector<int64_t> strides;
};

// Output rows are split across the calling TBB arena (the worker's task threads) in
// pieces of at least this many elements; each element is computed independently, so
// the split cannot change a result.
constexpr int64_t kParallelGrain = 1 << 16;

template <typename C, typename O>
void Run(Op op, const Laid& a, const Laid& b, const std::vector<int64_t>& shape, O* out) {
  const int nd = static_cast<int>(shape.size());
  int64_t total = 1;
  for (int64_t d : shape) total *= d;
  if (total == 0) return;
  const int64_t inner = nd ? shape[nd - 1] : 1;
  const int64_t sa = nd ? a.strides[nd - 1] : 0, sb = nd ? b.strides[nd - 1] : 0;
  // Operands already in the compute type are read in place. Same size is not enough:
  // int64 / int64 computes in float64, and its operands must be converted.
  constexpr DType kCompute = std::is_same_v<C, double>  ? DType::kFloat64
                             : std::is_same_v<C, float> ? DType::kFloat32
                                                        : DType::kInt64;
  static_assert(std::is_same_v<C, double> || std::is_same_v<C, float> ||
                std::is_same_v<C, int64_t>);
  const bool fast = a.dtype == kCompute && b.dtype == kCompute;
  constexpr int64_t kItem = sizeof(C);
  auto rows_in = [&](int64_t first, int64_t last) {
    // The index of `first` over the outer axes, then counted up row by row.
    std::vector<int64_t> idx(nd > 0 ? nd - 1 : 0, 0);
    for (int64_t i = nd - 2, rem = first; i >= 0; --i) {
      idx[i] = rem % shape[i];
      rem /= shape[i];
    }
    for (int64_t row = first; row < last; ++row) {
      const uint8_t* pa = a.base;
      const uint8_t* pb = b.base;
      for (int i = 0; i + 1 < nd; ++i) {
        pa += idx[i] * a.strides[i];
        pb += idx[i] * b.strides[i];
      }
      O* o = out + row * inner;
      if (fast && sa == kItem && (sb == kItem || sb == 0)) {
        // The common case: a contiguous row against a contiguous row or one value.
        const C* x = reinterpret_cast<const C*>(pa);
        const C* y = reinterpret_cast<const C*>(pb);
        if (sb == 0) {
          const C yv = *y;
          for (int64_t j = 0; j < inner; ++j) {
            if constexpr (std::is_same_v<O, bool>)
              o[j] = Compare(op, x[j], yv);
            else
              o[j] = Arith(op, x[j], yv);
          }
        } else {
          for (int64_t j = 0; j < inner; ++j) {
            if constexpr (std::is_same_v<O, bool>)
              o[j] = Compare(op, x[j], y[j]);
            else
              o[j] = Arith(op, x[j], y[j]);
          }
        }
      } else {
        for (int64_t j = 0; j < inner; ++j) {
          C x = LoadAs<C>(pa + j * sa, a.dtype), y = LoadAs<C>(pb + j * sb, b.dtype);
          if constexpr (std::is_same_v<O, bool>)
            o[j] = Compare(op, x, y);
          else
            o[j] = Arith(op, x, y);
        }
      }
      for (int i = nd - 2; i >= 0; --i) {
        if (++idx[i] < shape[i]) break;
        idx[i] = 0;
      }
    }
  };
  const int64_t rows = total / inner;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / inner);
  if (rows <= grain) {
    rows_in(0, rows);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, rows, grain),
                    [&](const tbb::blocked_range<int64_t>& r) { rows_in(r.begin(), r.end()); });
}

}  // namespace

Result<NdArray> Binary(std::string_view op_name, const Operand& a, const Operand& b) {
  std::optional<Op> op = ParseOp(op_name);
  if (!op) return Status::NotImplemented("operator." + std::string(op_name));
  if (a.array == nullptr && b.array == nullptr) return Status::NotImplemented("scalar arithmetic");
  // numpy 2 promotion (NEP 50) for the combinations handled here.
  auto dtype_of = [](const Operand& x) { return x.array->dtype; };
  DType compute;
  if (a.array && b.array) {
    DType x = dtype_of(a), y = dtype_of(b);
    if (x == y && (x == DType::kFloat64 || x == DType::kFloat32 || x == DType::kInt64))
      compute = x;
    else if ((x == DType::kFloat64 || x == DType::kFloat32) &&
             (y == DType::kFloat64 || y == DType::kFloat32))
      compute = DType::kFloat64;
    else if ((x == DType::kFloat64 && y == DType::kInt64) ||
             (x == DType::kInt64 && y == DType::kFloat64))
      compute = DType::kFloat64;
    else
      return Status::NotImplemented("operands " + std::string(DTypeStr(x)) + ", " +
                                    std::string(DTypeStr(y)));
  } else {
    const Operand& arr = a.array ? a : b;
    const Operand& sc = a.array ? b : a;
    DType t = dtype_of(arr);
    if (t == DType::kFloat64 || t == DType::kFloat32) {
      if (sc.scalar == Operand::Scalar::kBool) return Status::NotImplemented("bool scalar");
      compute = t;  // a Python int or float takes the float array's dtype
    } else if (t == DType::kInt64 && sc.scalar == Operand::Scalar::kInt) {
      compute = t;
    } else if (t == DType::kInt64 && sc.scalar == Operand::Scalar::kFloat) {
      compute = DType::kFloat64;
    } else {
      return Status::NotImplemented("array " + std::string(DTypeStr(t)) + " with a scalar");
    }
  }
  if (*op == Op::kDiv && compute == DType::kInt64) compute = DType::kFloat64;
  // Broadcast shapes.
  int nd = std::max(a.array ? a.array->ndim() : 0, b.array ? b.array->ndim() : 0);
  std::vector<int64_t> shape(nd, 1);
  for (const Operand* x : {&a, &b}) {
    if (!x->array) continue;
    int off = nd - x->array->ndim();
    for (int i = 0; i < x->array->ndim(); ++i) {
      int64_t d = x->array->shape[i];
      int64_t& s = shape[off + i];
      if (s == 1)
        s = d;
      else if (d != 1 && d != s)
        return Status::Invalid("operands could not be broadcast together");
    }
  }
  // Scalars live here, converted to the compute dtype once (as numpy does first).
  double fa = 0, fb = 0;
  float sa4 = 0, sb4 = 0;
  int64_t ia = 0, ib = 0;
  auto lay = [&](const Operand& x, double& f8, float& f4, int64_t& i8) -> Laid {
    if (x.array) {
      Laid l{x.array->data.data(), x.array->dtype, std::vector<int64_t>(nd, 0)};
      int off = nd - x.array->ndim();
      for (int i = 0; i < x.array->ndim(); ++i) {
        l.strides[off + i] = x.array->shape[i] == 1 ? 0 : x.array->strides[i];
      }
      return l;
    }
    double v = x.scalar == Operand::Scalar::kFloat ? x.f : static_cast<double>(x.i);
    if (compute == DType::kFloat32) {
      f4 = static_cast<float>(v);
      return Laid{reinterpret_cast<const uint8_t*>(&f4), DType::kFloat32,
                  std::vector<int64_t>(nd, 0)};
    }
    if (compute == DType::kInt64) {
      i8 = x.i;
      return Laid{reinterpret_cast<const uint8_t*>(&i8), DType::kInt64,
                  std::vector<int64_t>(nd, 0)};
    }
    f8 = v;
    return Laid{reinterpret_cast<const uint8_t*>(&f8), DType::kFloat64,
                std::vector<int64_t>(nd, 0)};
  };
  Laid la = lay(a, fa, sa4, ia), lb = lay(b, fb, sb4, ib);
  const bool cmp = IsComparison(*op);
  uint8_t* bytes = nullptr;
  NdArray out = NdArray::Allocate(cmp ? DType::kBool : compute, shape, &bytes);
  out.scalar = shape.empty();  // a ufunc's 0-d result is a numpy scalar
  switch (compute) {
    case DType::kFloat64:
      if (cmp)
        Run<double, bool>(*op, la, lb, shape, reinterpret_cast<bool*>(bytes));
      else
        Run<double, double>(*op, la, lb, shape, reinterpret_cast<double*>(bytes));
      break;
    case DType::kFloat32:
      if (cmp)
        Run<float, bool>(*op, la, lb, shape, reinterpret_cast<bool*>(bytes));
      else
        Run<float, float>(*op, la, lb, shape, reinterpret_cast<float*>(bytes));
      break;
    case DType::kInt64:
      if (cmp)
        Run<int64_t, bool>(*op, la, lb, shape, reinterpret_cast<bool*>(bytes));
      else
        Run<int64_t, int64_t>(*op, la, lb, shape, reinterpret_cast<int64_t*>(bytes));
      break;
    default: return Status::NotImplemented("compute dtype");
  }
  return out;
}

Result<NdArray> Where(const NdArray& cond, double if_true, const NdArray& otherwise) {
  if (cond.dtype != DType::kBool || otherwise.dtype != DType::kFloat64 ||
      cond.shape != otherwise.shape) {
    return Status::NotImplemented("where of these operands");
  }
  NdArray c = AsCContiguous(cond), o = AsCContiguous(otherwise);
  uint8_t* bytes = nullptr;
  NdArray out = NdArray::Allocate(DType::kFloat64, o.shape, &bytes);
  out.scalar = o.shape.empty();
  auto* dst = reinterpret_cast<double*>(bytes);
  const double* src = o.ptr<double>();
  const uint8_t* m = c.data.data();
  for (int64_t i = 0, n = o.size(); i < n; ++i) dst[i] = m[i] ? if_true : src[i];
  return out;
}

Result<NdArray> Sqrt(const NdArray& x) {
  if (x.dtype != DType::kFloat64)
    return Status::NotImplemented("sqrt of " + std::string(DTypeStr(x.dtype)));
  NdArray c = AsCContiguous(x);
  uint8_t* bytes = nullptr;
  NdArray out = NdArray::Allocate(DType::kFloat64, c.shape, &bytes);
  out.scalar = x.scalar || c.shape.empty();
  auto* dst = reinterpret_cast<double*>(bytes);
  const double* src = c.ptr<double>();
  for (int64_t i = 0, n = c.size(); i < n; ++i) dst[i] = std::sqrt(src[i]);  // IEEE, as np.sqrt
  return out;
}

Result<NdArray> Transpose(const NdArray& x, const std::vector<int>& axes) {
  if (static_cast<int>(axes.size()) != x.ndim()) return Status::Invalid("axes don't match array");
  NdArray t = x;
  std::vector<bool> seen(x.ndim(), false);
  for (int i = 0; i < x.ndim(); ++i) {
    int a = axes[i] < 0 ? axes[i] + x.ndim() : axes[i];
    if (a < 0 || a >= x.ndim() || seen[a])
      return Status::Invalid("repeated or bad axis in transpose");
    seen[a] = true;
    t.shape[i] = x.shape[a];
    t.strides[i] = x.strides[a];
  }
  return t;
}

Result<NdArray> GetItem(const NdArray& x, const std::vector<IndexEntry>& index) {
  if (static_cast<int>(index.size()) > x.ndim())
    return Status::Invalid("too many indices for array");
  NdArray v;
  v.dtype = x.dtype;
  int64_t offset = 0;
  for (int i = 0; i < x.ndim(); ++i) {
    const int64_t n = x.shape[i];
    if (i >= static_cast<int>(index.size())) {
      v.shape.push_back(n);
      v.strides.push_back(x.strides[i]);
      continue;
    }
    const IndexEntry& e = index[i];
    if (e.is_int) {
      int64_t k = e.index < 0 ? e.index + n : e.index;
      if (k < 0 || k >= n) return Status::Invalid("index out of bounds");
      offset += k * x.strides[i];
      continue;
    }
    // Python's slice.indices(n).
    int64_t step = e.step.value_or(1);
    if (step == 0) return Status::Invalid("slice step cannot be zero");
    auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
      if (!v) return dflt;
      int64_t k = *v < 0 ? *v + n : *v;
      if (step > 0) return std::clamp<int64_t>(k, 0, n);
      return std::clamp<int64_t>(k, -1, n - 1);
    };
    int64_t start = clamp(e.start, step > 0 ? 0 : n - 1);
    int64_t stop = clamp(e.stop, step > 0 ? n : -1);
    int64_t len = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                           : (start > stop ? (start - stop - step - 1) / (-step) : 0);
    if (len > 0) offset += start * x.strides[i];
    v.shape.push_back(len);
    v.strides.push_back(x.strides[i] * step);
  }
  v.data =
      Buffer(x.data.owner(), x.data.data() + offset, x.data.size() - static_cast<size_t>(offset));
  v.writeable = x.writeable;
  // numpy: indexing every axis with an integer gives a scalar (np.int64), not a 0-d array.
  v.scalar = v.shape.empty();
  // dask copies a view holding at most half the elements (the copy is C-ordered); a
  // view that is already C-contiguous has that layout anyway.
  if (x.size() >= 2 * v.size()) return AsCContiguous(v);
  return v;
}

Result<NdArray> AsType(const NdArray& x, DType dtype) {
  uint8_t* bytes = nullptr;
  NdArray out = NdArray::Allocate(dtype, x.shape, &bytes);
  const int nd = x.ndim();
  std::vector<int64_t> idx(nd, 0);
  const int64_t item = ItemSize(dtype);
  for (int64_t n = 0, total = x.size(); n < total; ++n) {
    int64_t off = 0;
    for (int i = 0; i < nd; ++i) off += idx[i] * x.strides[i];
    const uint8_t* p = x.data.data() + off;
    uint8_t* o = bytes + n * item;
    switch (dtype) {
      case DType::kFloat64: {
        double v = LoadAs<double>(p, x.dtype);
        std::memcpy(o, &v, 8);
        break;
      }
      case DType::kFloat32: {
        // float64 -> float32 must round once, directly (not through another type).
        float v = x.dtype == DType::kFloat64 ? static_cast<float>(LoadAs<double>(p, x.dtype))
                                             : LoadAs<float>(p, x.dtype);
        std::memcpy(o, &v, 4);
        break;
      }
      case DType::kInt64: {
        if (x.dtype == DType::kFloat64 || x.dtype == DType::kFloat32) {
          double d = LoadAs<double>(p, x.dtype);
          if (!std::isfinite(d) || d >= 9.2233720368547758e18 || d < -9.2233720368547758e18) {
            return Status::NotImplemented("astype of a value outside int64");  // numpy: undefined
          }
        }
        int64_t v = LoadAs<int64_t>(p, x.dtype);
        std::memcpy(o, &v, 8);
        break;
      }
      case DType::kBool: {
        bool v = x.dtype == DType::kFloat64 || x.dtype == DType::kFloat32
                     ? LoadAs<double>(p, x.dtype) != 0
                     : LoadAs<int64_t>(p, x.dtype) != 0;
        *o = v;
        break;
      }
      default: return Status::NotImplemented("astype to " + std::string(DTypeStr(dtype)));
    }
    for (int i = nd - 1; i >= 0; --i) {
      if (++idx[i] < x.shape[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

}  // namespace dn::native
