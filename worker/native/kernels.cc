#include "worker/native/kernels.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "worker/native/bounded_integers.h"
#include "worker/native/random.h"
#include "worker/native/reduce.h"
#include "worker/native/ziggurat.h"

namespace dn::native {

namespace {

// numpy's CONS_NON_NEGATIVE check on a scale or range: a set sign bit is an error,
// except on NaN (so -0.0 is rejected and NaN is allowed).
bool NumpyRejectsAsNegative(double v) { return std::signbit(v) && !std::isnan(v); }

}  // namespace

Result<NdArray> RandomChunk(std::string_view method, const uint32_t* key, int64_t key_words,
                            const std::vector<int64_t>& size, const std::vector<double>& params) {
  if (key_words < 1) return Status::Invalid("empty random state");
  auto nparams = [&](size_t n) { return params.size() == n; };
  enum { kSample, kUniform, kNormal, kStdNormal } which;
  if ((method == "random_sample" || method == "random") && nparams(0))
    which = kSample;
  else if (method == "uniform" && nparams(2))
    which = kUniform;
  else if (method == "normal" && nparams(2))
    which = kNormal;
  else if (method == "standard_normal" && nparams(0))
    which = kStdNormal;
  else
    return Status::NotImplemented("RandomState." + std::string(method));
  // mtrand.pyx: uniform raises OverflowError on a non-finite high - low, normal raises
  // ValueError on a negative scale.
  if (which == kUniform && !std::isfinite(params[1] - params[0]))
    return Status::NotImplemented("uniform range");
  if (which == kNormal && NumpyRejectsAsNegative(params[1]))
    return Status::NotImplemented("normal scale");
  uint8_t* bytes = nullptr;
  NdArray out = NdArray::Allocate(DType::kFloat64, size, &bytes);
  double* p = reinterpret_cast<double*>(bytes);
  Mt19937 rng;
  rng.InitByArray(key, static_cast<size_t>(key_words));
  const int64_t n = out.size();
  switch (which) {
    case kSample: rng.FillRandomSample(p, n); break;
    case kUniform: rng.FillUniform(p, n, params[0], params[1]); break;
    case kNormal: rng.FillNormal(p, n, params[0], params[1]); break;
    case kStdNormal: rng.FillStandardNormal(p, n); break;
  }
  return out;
}

Result<NdArray> GeneratorChunk(std::string_view method, const uint32_t* pool,
                               const std::vector<int64_t>& size,
                               const std::vector<double>& params) {
  auto nparams = [&](size_t n) { return params.size() == n; };
  enum { kRandom, kStdNormal, kNormal, kUniform } which;
  if (method == "random" && nparams(0))
    which = kRandom;
  else if (method == "standard_normal" && nparams(0))
    which = kStdNormal;
  else if (method == "normal" && nparams(2))
    which = kNormal;
  else if (method == "uniform" && nparams(2))
    which = kUniform;
  else
    return Status::NotImplemented("Generator." + std::string(method));
  // _generator.pyx: uniform raises on a non-finite or negative high - low, normal on a
  // negative scale.
  if (which == kUniform &&
      (!std::isfinite(params[1] - params[0]) || NumpyRejectsAsNegative(params[1] - params[0]))) {
    return Status::NotImplemented("uniform range");
  }
  if (which == kNormal && NumpyRejectsAsNegative(params[1]))
    return Status::NotImplemented("normal scale");
  uint8_t* bytes = nullptr;
  NdArray out = NdArray::Allocate(DType::kFloat64, size, &bytes);
  double* p = reinterpret_cast<double*>(bytes);
  Pcg64 rng = Pcg64::FromSeedSequencePool(pool);
  const int64_t n = out.size();
  switch (which) {
    case kRandom: rng.FillRandom(p, n); break;
    case kStdNormal: FillStandardNormal(rng, p, n); break;
    case kNormal: FillNormal(rng, p, n, params[0], params[1]); break;
    case kUniform: rng.FillUniform(p, n, params[0], params[1]); break;
  }
  return out;
}

namespace {

// _bounded_integers.pyx.in's _rand_int64 / _rand_int32 for scalar bounds: an empty size
// returns before the bounds are checked; then low must not exceed high and both must
// fit the dtype. `fill64` or `fill32` draws into the array's data.
template <class Fill64, class Fill32>
Result<NdArray> IntegersChunk(const std::vector<int64_t>& size, const IntegerBounds& b,
                              Fill64 fill64, Fill32 fill32) {
  if (b.dtype != DType::kInt64 && b.dtype != DType::kInt32) {
    return Status::NotImplemented("integers of " + std::string(DTypeStr(b.dtype)));
  }
  uint8_t* bytes = nullptr;
  NdArray out = NdArray::Allocate(b.dtype, size, &bytes);
  const int64_t n = out.size();
  if (n == 0) return out;
  if (b.low > b.high) return Status::NotImplemented("empty integer range");
  if (b.dtype == DType::kInt64) {
    fill64(reinterpret_cast<int64_t*>(bytes), n);
    return out;
  }
  if (b.low < std::numeric_limits<int32_t>::min() || b.high > std::numeric_limits<int32_t>::max()) {
    return Status::NotImplemented("integer bounds outside int32");
  }
  fill32(reinterpret_cast<int32_t*>(bytes), n);
  return out;
}

}  // namespace

Result<NdArray> RandintChunk(const uint32_t* key, int64_t key_words,
                             const std::vector<int64_t>& size, const IntegerBounds& b) {
  if (key_words < 1) return Status::Invalid("empty random state");
  Mt19937 rng;
  rng.InitByArray(key, static_cast<size_t>(key_words));
  return IntegersChunk(
      size, b,
      [&](int64_t* out, int64_t n) {
        FillInt64(rng, b.low, b.high, BoundedMethod::kMasked, out, n);
      },
      [&](int32_t* out, int64_t n) {
        FillInt32(rng, static_cast<int32_t>(b.low), static_cast<int32_t>(b.high),
                  BoundedMethod::kMasked, out, n);
      });
}

Result<NdArray> GeneratorIntegersChunk(const uint32_t* pool, const std::vector<int64_t>& size,
                                       const IntegerBounds& b) {
  Pcg64 rng = Pcg64::FromSeedSequencePool(pool);
  return IntegersChunk(
      size, b,
      [&](int64_t* out, int64_t n) {
        FillInt64(rng, b.low, b.high, BoundedMethod::kLemire, out, n);
      },
      [&](int32_t* out, int64_t n) {
        FillInt32(rng, static_cast<int32_t>(b.low), static_cast<int32_t>(b.high),
                  BoundedMethod::kLemire, out, n);
      });
}

Result<NdArray> Concatenate(const std::vector<NdArray>& parts, int axis) {
  if (parts.empty()) return Status::Invalid("concatenate of nothing");
  if (parts.size() == 1) return parts[0];
  const NdArray& first = parts[0];
  const int nd = first.ndim();
  if (axis < 0 || axis >= nd) return Status::NotImplemented("concatenate axis");
  std::vector<int64_t> shape = first.shape;
  shape[axis] = 0;
  for (const NdArray& p : parts) {
    if (p.dtype != first.dtype || p.ndim() != nd)
      return Status::NotImplemented("concatenate of mixed arrays");
    for (int i = 0; i < nd; ++i) {
      if (i != axis && p.shape[i] != first.shape[i])
        return Status::Invalid("concatenate shapes differ");
    }
    shape[axis] += p.shape[axis];
  }
  const int64_t item = ItemSize(first.dtype);
  int64_t outer = 1, inner = item;
  for (int i = 0; i < axis; ++i) outer *= shape[i];
  for (int i = axis + 1; i < nd; ++i) inner *= shape[i];
  uint8_t* out = nullptr;
  NdArray result = NdArray::Allocate(first.dtype, shape, &out);
  const int64_t row = shape[axis] * inner;  // bytes of one outer step in the result
  int64_t offset = 0;
  for (const NdArray& part : parts) {
    NdArray c = AsCContiguous(part);
    const int64_t piece = c.shape[axis] * inner;
    for (int64_t o = 0; o < outer; ++o) {
      std::memcpy(out + o * row + offset, c.data.data() + o * piece, static_cast<size_t>(piece));
    }
    offset += piece;
  }
  return result;
}

}  // namespace dn::native

namespace dn::native {

namespace {

template <typename T>
StridedView<T> View(const NdArray& x) {
  return StridedView<T>{x.ptr<T>(), x.shape, x.strides};
}

// numpy's default result dtype of sum/prod: bool and small ints promote to int64.
DType DefaultAccumulator(DType in) {
  switch (in) {
    case DType::kBool:
    case DType::kInt32:
    case DType::kInt64: return DType::kInt64;
    case DType::kUInt32: return DType::kUInt32;  // (uint64 in numpy; not handled)
    default: return in;
  }
}

}  // namespace

Result<NdArray> SumSquaredDeviationsOf(const NdArray& x, const std::vector<int>& axes,
                                       bool keepdims, const NdArray& u) {
  if (x.dtype != DType::kFloat64 || u.dtype != DType::kFloat64 || x.ndim() > kMaxReduceDims) {
    return Status::NotImplemented("moment of " + std::string(DTypeStr(x.dtype)));
  }
  AxisMask mask = 0;
  for (int a : axes) mask |= AxisMask{1} << a;
  std::vector<int64_t> out_shape;
  for (int i = 0; i < x.ndim(); ++i) {
    if (mask & (AxisMask{1} << i)) {
      if (keepdims) out_shape.push_back(1);
    } else {
      out_shape.push_back(x.shape[i]);
    }
  }
  if (u.size() != ReducedSize(x.shape, mask) || !u.IsCContiguous())
    return Status::Invalid("mean shape");
  uint8_t* bytes = nullptr;
  NdArray out = NdArray::Allocate(DType::kFloat64, out_shape, &bytes);
  out.scalar = !keepdims && out_shape.empty();
  DN_RETURN_NOT_OK(SumSquaredDeviations(View<double>(x), mask, u.ptr<double>(),
                                        reinterpret_cast<double*>(bytes)));
  return out;
}

Result<NdArray> Reduce(const NdArray& x, const ReduceSpec& spec) {
  if (x.ndim() > kMaxReduceDims || x.scalar) return Status::NotImplemented("reduction input");
  AxisMask mask = 0;
  for (int a : spec.axes) mask |= AxisMask{1} << a;
  std::vector<int64_t> out_shape;
  for (int i = 0; i < x.ndim(); ++i) {
    if (mask & (AxisMask{1} << i)) {
      if (spec.keepdims) out_shape.push_back(1);
    } else {
      out_shape.push_back(x.shape[i]);
    }
  }
  const bool to_scalar = !spec.keepdims && out_shape.empty();
  const std::string& op = spec.op;
  DType out_dtype;
  if (op == "sum" || op == "prod" || op == "nansum") {
    out_dtype = spec.dtype.value_or(DefaultAccumulator(x.dtype));
  } else if (op == "any" || op == "all") {
    if (spec.dtype) return Status::NotImplemented(op + " with a dtype");
    out_dtype = DType::kBool;
  } else if (op == "max" || op == "min") {
    if (spec.dtype) return Status::NotImplemented(op + " with a dtype");
    out_dtype = x.dtype;
  } else {
    return Status::NotImplemented("reduction " + op);
  }
  uint8_t* bytes = nullptr;
  NdArray out = NdArray::Allocate(out_dtype, out_shape, &bytes);
  out.scalar = to_scalar;
  Status st = Status::NotImplemented("reduction " + op + " of " + std::string(DTypeStr(x.dtype)) +
                                     " to " + std::string(DTypeStr(out_dtype)));
  auto* f8 = reinterpret_cast<double*>(bytes);
  auto* f4 = reinterpret_cast<float*>(bytes);
  auto* i8 = reinterpret_cast<int64_t*>(bytes);
  auto* b1 = reinterpret_cast<bool*>(bytes);
  const DType in = x.dtype;
  if (op == "sum") {
    if (in == DType::kFloat64 && out_dtype == DType::kFloat64)
      st = Sum(View<double>(x), mask, f8);
    else if (in == DType::kFloat32 && out_dtype == DType::kFloat64)
      st = Sum(View<float>(x), mask, f8);
    else if (in == DType::kFloat32 && out_dtype == DType::kFloat32)
      st = Sum(View<float>(x), mask, f4);
    else if (in == DType::kInt64 && out_dtype == DType::kFloat64)
      st = Sum(View<int64_t>(x), mask, f8);
    else if (in == DType::kInt64 && out_dtype == DType::kInt64)
      st = Sum(View<int64_t>(x), mask, i8);
    else if (in == DType::kBool && out_dtype == DType::kInt64)
      st = Sum(View<bool>(x), mask, i8);
  } else if (op == "nansum") {
    if (in == DType::kFloat64 && out_dtype == DType::kFloat64)
      st = NanSum(View<double>(x), mask, f8);
  } else if (op == "prod") {
    if (in == DType::kFloat64 && out_dtype == DType::kFloat64) st = Prod(View<double>(x), mask, f8);
  } else if (op == "max" || op == "min") {
    const bool mx = op == "max";
    if (in == DType::kFloat64)
      st = mx ? Max(View<double>(x), mask, f8) : Min(View<double>(x), mask, f8);
    else if (in == DType::kFloat32)
      st = mx ? Max(View<float>(x), mask, f4) : Min(View<float>(x), mask, f4);
    else if (in == DType::kInt64)
      st = mx ? Max(View<int64_t>(x), mask, i8) : Min(View<int64_t>(x), mask, i8);
  } else {  // any / all
    const bool any = op == "any";
    if (in == DType::kFloat64)
      st = any ? Any(View<double>(x), mask, b1) : All(View<double>(x), mask, b1);
    else if (in == DType::kBool)
      st = any ? Any(View<bool>(x), mask, b1) : All(View<bool>(x), mask, b1);
    else if (in == DType::kInt64)
      st = any ? Any(View<int64_t>(x), mask, b1) : All(View<int64_t>(x), mask, b1);
  }
  DN_RETURN_NOT_OK(st);
  return out;
}

}  // namespace dn::native
