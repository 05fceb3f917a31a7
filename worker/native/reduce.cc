#include "worker/native/reduce.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "common/check.h"
#include "worker/native/pairwise_sum.h"
#include "worker/native/reduce_plan.h"

// How numpy 2.4.6 orders a reduction, and how this file replays it.
//
// `np.add.reduce` (reduction.c: PyUFunc_ReduceWrapper) builds a buffered nditer over
// (out, in) with EXTERNAL_LOOP | GROWINNER | DONT_NEGATE_STRIDES and calls the inner loop
// once per "inner call". DOUBLE_add (loops_arithm_fp.dispatch.c.src) then does
//   out stride 0 (a reduce call):  *out += pairwise_sum(in, count)
//   otherwise (elementwise):       out[k] = out[k] + in[k]
// So the result depends only on which runs of elements form inner calls. MakePlan() in
// reduce_plan.cc mirrors nditer_constr.c: npyiter_find_best_axis_ordering (stable
// insertion sort by |stride|), the allocated output's strides (npyiter_new_temp_array),
// npyiter_coalesce_axes and npyiter_find_buffering_setup; Execute() mirrors
// npyiter_copy_to_buffers (transfer sizes) and the buffered reduce iternext (one call per
// core when reducing).

namespace dn::native {
namespace {

using reduce_plan::CheckView;
using reduce_plan::ContiguousInOrder;
using reduce_plan::InnerStride;
using reduce_plan::kBufSize;
using reduce_plan::MakePlan;
using reduce_plan::Plan;
using reduce_plan::ReducedCStrides;
using reduce_plan::SortAxes;
using reduce_plan::Span;
using reduce_plan::ViewSize;

constexpr int64_t kPwBlock = 128;  // PW_BLOCKSIZE in loops_utils.h.src

// --- NaN propagation -------------------------------------------------------------------
//
// Which NaN comes out of `a + b` when both are NaN is up to the instruction's operand
// order (x86: the first), and a compiler may commute a + b. numpy's own result is thus a
// build artifact: the same pairwise_sum source gives a different NaN sign at -O0 and -O2.
// To be deterministic across our builds, the fast paths check for a NaN result and replay
// the same order with an explicit rule: a NaN `a` wins, else a NaN `b` (both quieted); an
// invalid operation on non-NaNs gives the hardware default NaN.

template <typename T>
T Quiet(T v) {
  using U = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  U bits;
  std::memcpy(&bits, &v, sizeof(T));
  bits |= U{1} << (std::numeric_limits<T>::digits - 2);
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

template <bool kExactNaN, typename T>
T Add(T a, T b) {
  if constexpr (kExactNaN) {
    if (std::isnan(a)) return Quiet(a);
    if (std::isnan(b)) return Quiet(b);
  }
  return a + b;
}

template <bool kExactNaN, typename T>
T Mul(T a, T b) {
  if constexpr (kExactNaN) {
    if (std::isnan(a)) return Quiet(a);
    if (std::isnan(b)) return Quiet(b);
  }
  return a * b;
}

// numpy's @TYPE@_pairwise_sum. kUnit specialises the contiguous case so the 8 lanes
// vectorise; the order of additions is the same either way.
template <typename T, bool kUnit, bool kExactNaN>
T Pairwise(const T* a, int64_t n, int64_t s) {
  if constexpr (kUnit) s = 1;
  if (n < 8) {
    T res = static_cast<T>(-0.0);  // keeps an all -0.0 run -0.0
    for (int64_t i = 0; i < n; ++i) res = Add<kExactNaN>(res, a[i * s]);
    return res;
  }
  if (n <= kPwBlock) {
    T r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j * s];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] = Add<kExactNaN>(r[j], a[(i + j) * s]);
    }
    T res = Add<kExactNaN>(Add<kExactNaN>(Add<kExactNaN>(r[0], r[1]), Add<kExactNaN>(r[2], r[3])),
                           Add<kExactNaN>(Add<kExactNaN>(r[4], r[5]), Add<kExactNaN>(r[6], r[7])));
    for (; i < n; ++i) res = Add<kExactNaN>(res, a[i * s]);
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  const T left = Pairwise<T, kUnit, kExactNaN>(a, n2, s);
  return Add<kExactNaN>(left, Pairwise<T, kUnit, kExactNaN>(a + n2 * s, n - n2, s));
}

template <typename T>
T PairwiseExact(const T* a, int64_t n, int64_t s) {
  T fast;
  if constexpr (std::is_same_v<T, double>) {
    fast = s == 1 ? PairwiseSumContiguous(a, n) : Pairwise<T, false, false>(a, n, s);
  } else {
    fast = s == 1 ? Pairwise<T, true, false>(a, n, 1) : Pairwise<T, false, false>(a, n, s);
  }
  return std::isnan(fast) ? Pairwise<T, false, true>(a, n, s) : fast;
}

// o[k*os] = f(o[k*os], a[k*s]) for k < n, redoing NaN results with `exact`.
template <typename T, typename Fast, typename Exact>
void Elementwise(T* o, int64_t os, const T* a, int64_t s, int64_t n, Fast fast, Exact exact) {
  auto one = [&](T& out, T in) {
    const T r = fast(out, in);
    out = r != r ? exact(out, in) : r;
  };
  if (os == 1 && s == 1) {
    for (int64_t k = 0; k < n; ++k) one(o[k], a[k]);
  } else {
    for (int64_t k = 0; k < n; ++k) one(o[k * os], a[k * s]);
  }
}

// --- Walking N-D arrays ----------------------------------------------------------------

// Call f(off, len) for each run along the last axis, rows in C order; off[k] is operand k's
// offset, in the units of strides[k]. The run's own stride is strides[k][nd - 1]. A 0-d
// shape is a single run of one element.
template <int kOps, typename F>
void ForEachRow(std::span<const int64_t> shape, const int64_t* const (&strides)[kOps], F&& f) {
  const int nd = static_cast<int>(shape.size());
  int64_t off[kOps] = {};
  if (nd == 0) {
    f(off, int64_t{1});
    return;
  }
  int64_t rows = 1;
  for (int a = 0; a < nd - 1; ++a) rows *= shape[a];
  if (rows == 0 || shape[nd - 1] == 0) return;
  int64_t j[kMaxReduceDims] = {};
  for (int64_t r = 0; r < rows; ++r) {
    f(off, shape[nd - 1]);
    for (int a = nd - 2; a >= 0; --a) {
      for (int k = 0; k < kOps; ++k) off[k] += strides[k][a];
      if (++j[a] < shape[a]) break;
      for (int k = 0; k < kOps; ++k) off[k] -= j[a] * strides[k][a];
      j[a] = 0;
    }
  }
}

// --- Executing a plan ------------------------------------------------------------------

// Run `plan` over `data`, folding into `res` (numpy's result layout, pre-filled with the
// identity). Op::Reduce(acc, a, n, stride) folds a run into one output (a reduce call);
// Op::Fold(o, os, a, s, n) folds a run elementwise. Elements are read as Acc, cast from In
// in the buffer when numpy would cast.
template <typename Acc, typename In, typename Op>
void Execute(const Plan& p, const In* data, Acc* res) {
  if (p.itersize == 0) return;
  // Not std::vector: Acc may be bool.
  std::unique_ptr<Acc[]> buf(p.in_buffered ? new Acc[static_cast<size_t>(p.buffersize)] : nullptr);
  int64_t idx[kMaxReduceDims];
  for (int64_t iterindex = 0; iterindex < p.itersize;) {
    int64_t rest = iterindex, in_off = 0, out_off = 0;
    for (int d = 0; d < p.ndim; ++d) {
      idx[d] = rest % p.shape[d];
      rest /= p.shape[d];
      in_off += idx[d] * p.in[d];
      out_off += idx[d] * p.out[d];
    }
    const int64_t t = std::min({p.buffersize, p.coresize * (p.shape[p.outerdim] - idx[p.outerdim]),
                                p.itersize - iterindex});
    const Acc* src = nullptr;
    int64_t s_inner, s_outer;
    if (p.in_buffered) {
      // npyiter_copy_to_buffers: the next t elements in iteration order, cast.
      int64_t j[kMaxReduceDims];
      std::copy(idx, idx + p.ndim, j);
      int64_t off = in_off;
      const int64_t s0 = p.in[0];
      for (int64_t k = 0; k < t;) {
        const int64_t run = std::min(p.shape[0] - j[0], t - k);
        const In* q = data + off;
        Acc* b = buf.get() + k;
        if (s0 == 1) {
          for (int64_t r = 0; r < run; ++r) b[r] = static_cast<Acc>(q[r]);
        } else {
          for (int64_t r = 0; r < run; ++r) b[r] = static_cast<Acc>(q[r * s0]);
        }
        k += run;
        off += run * s0;
        j[0] += run;
        for (int d = 0; d + 1 < p.ndim && j[d] == p.shape[d]; ++d) {
          off += p.in[d + 1] - j[d] * p.in[d];
          j[d] = 0;
          ++j[d + 1];
        }
      }
      src = buf.get();
      s_inner = 1;
      s_outer = p.coresize;
    } else {
      // MakePlan buffers every cast input, so only same-type inputs are read in place.
      if constexpr (std::is_same_v<Acc, In>) src = data + in_off;
      DN_CHECK(src != nullptr, "a cast input must be buffered");
      s_inner = p.in[0];
      s_outer = p.in[p.outerdim];
    }
    auto call = [&](const Acc* a, Acc* o, int64_t count) {
      if (p.out[0] == 0) {
        *o = Op::Reduce(*o, a, count, s_inner);
      } else {
        Op::Fold(o, p.out[0], a, s_inner, count);
      }
    };
    if (p.reduce) {
      const int64_t outersize = t / p.coresize;
      const int64_t count = outersize > 1 ? p.coresize : t;
      for (int64_t r = 0; r < outersize; ++r) {
        call(src + r * s_outer, res + out_off + r * p.out[p.outerdim], count);
      }
    } else {
      call(src, res + out_off, t);
    }
    iterindex += t;
  }
}

// Reduce `x` with Op into `out` (C order over the kept axes).
template <typename Op, typename Acc, typename In, typename Out>
Status RunReduce(const StridedView<In>& x, AxisMask axes, Out* out) {
  constexpr bool kCast = !std::is_same_v<Acc, In>;
  Plan p;
  DN_RETURN_NOT_OK(MakePlan(x.shape, x.byte_strides, sizeof(In), axes, kCast, &p));
  // When numpy's result layout is C order (the usual case), fill the caller's buffer.
  int64_t c_stride[kMaxReduceDims];
  ReducedCStrides(x.shape, axes, c_stride);
  bool same_layout = true;
  for (size_t a = 0; a < x.shape.size(); ++a) {
    if (x.shape[a] != 1 && p.result_stride[a] != c_stride[a]) same_layout = false;
  }
  if constexpr (std::is_same_v<Acc, Out>) {
    if (same_layout) {
      std::fill(out, out + p.out_size, Op::Identity());
      Execute<Acc, In, Op>(p, x.data, out);
      return Status::OK();
    }
  }
  std::unique_ptr<Acc[]> res(new Acc[static_cast<size_t>(p.out_size)]);
  std::fill(res.get(), res.get() + p.out_size, Op::Identity());
  Execute<Acc, In, Op>(p, x.data, res.get());
  // Copy numpy's layout into C order, walking the kept axes.
  int64_t kept_shape[kMaxReduceDims], kept_rs[kMaxReduceDims], kept_cs[kMaxReduceDims];
  int nk = 0;
  for (size_t a = 0; a < x.shape.size(); ++a) {
    if ((axes >> a) & 1) continue;
    kept_shape[nk] = x.shape[a];
    kept_rs[nk] = p.result_stride[a];
    kept_cs[nk++] = c_stride[a];
  }
  const int64_t* strides[2] = {kept_rs, kept_cs};
  const int64_t rs = InnerStride(kept_rs, nk), cs = InnerStride(kept_cs, nk);
  ForEachRow<2>(Span(kept_shape, nk), strides, [&](const int64_t* off, int64_t len) {
    for (int64_t i = 0; i < len; ++i) out[off[1] + i * cs] = static_cast<Out>(res[off[0] + i * rs]);
  });
  return Status::OK();
}

// --- The operations --------------------------------------------------------------------

template <typename T>
struct SumOp {
  static T Identity() { return T(0); }
  static T Reduce(T acc, const T* a, int64_t n, int64_t s) {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;  // numpy's integer add wraps
      U sum = static_cast<U>(acc);
      for (int64_t i = 0; i < n; ++i) sum += static_cast<U>(a[i * s]);
      return static_cast<T>(sum);
    } else {
      const T pw = PairwiseExact(a, n, s);
      const T r = acc + pw;
      return std::isnan(r) ? Add<true>(acc, pw) : r;
    }
  }
  static void Fold(T* o, int64_t os, const T* a, int64_t s, int64_t n) {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      for (int64_t k = 0; k < n; ++k) {
        o[k * os] = static_cast<T>(static_cast<U>(o[k * os]) + static_cast<U>(a[k * s]));
      }
    } else {
      Elementwise(o, os, a, s, n, [](T x, T y) { return x + y; }, Add<true, T>);
    }
  }
};

// DOUBLE_multiply's reduce branch: a plain left-to-right product from the identity.
template <typename T>
struct ProdOp {
  static T Identity() { return T(1); }
  static T Reduce(T acc, const T* a, int64_t n, int64_t s) {
    T r = acc;
    for (int64_t i = 0; i < n; ++i) r *= a[i * s];
    if (!std::isnan(r)) return r;  // a NaN anywhere stays to the end: replay only then
    r = acc;
    for (int64_t i = 0; i < n; ++i) r = Mul<true>(r, a[i * s]);
    return r;
  }
  static void Fold(T* o, int64_t os, const T* a, int64_t s, int64_t n) {
    Elementwise(o, os, a, s, n, [](T x, T y) { return x * y; }, Mul<true, T>);
  }
};

// numpy's x86 scalar_max/scalar_min: a NaN `a` sticks, a NaN `b` replaces `a`, and a tie
// keeps `b` (maxsd returns its second operand), so the later of +0.0/-0.0 wins.
template <typename T, bool kIsMax>
struct ExtremeOp {
  static constexpr bool kFloat = std::is_floating_point_v<T>;
  static T Identity() {
    if constexpr (kFloat) {
      return kIsMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    } else {
      return kIsMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    }
  }
  static bool Better(T v, T best) { return kIsMax ? v > best : v < best; }
  static T Combine(T a, T b) {
    if constexpr (kFloat) {
      if (std::isnan(a)) return a;
    }
    return Better(a, b) ? a : b;
  }
  static T Reduce(T acc, const T* a, int64_t n, int64_t s) {
    if constexpr (kFloat) {
      if (std::isnan(acc)) return acc;
    }
    if (n >= 16) {
      // 8 independent lanes. Without NaNs the extreme value is order-free, and equal
      // non-zero values have equal bits; NaNs and a zero result replay the exact loop.
      T m[8];
      [[maybe_unused]] bool nan = false;
      for (int j = 0; j < 8; ++j) m[j] = a[j * s];
      int64_t i = 8;
      for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; ++j) {
          const T v = a[(i + j) * s];
          m[j] = Better(v, m[j]) ? v : m[j];
          if constexpr (kFloat) nan |= v != v;
        }
      }
      for (; i < n; ++i) {
        const T v = a[i * s];
        m[0] = Better(v, m[0]) ? v : m[0];
        if constexpr (kFloat) nan |= v != v;
      }
      T best = m[0];
      for (int j = 0; j < 8; ++j) {
        if constexpr (kFloat) nan |= m[j] != m[j];
        best = Better(m[j], best) ? m[j] : best;
      }
      if (!nan && (!kFloat || best != 0)) return Combine(acc, best);
    }
    for (int64_t i = 0; i < n; ++i) acc = Combine(acc, a[i * s]);
    return acc;
  }
  static void Fold(T* o, int64_t os, const T* a, int64_t s, int64_t n) {
    for (int64_t k = 0; k < n; ++k) o[k * os] = Combine(o[k * os], a[k * s]);
  }
};

template <bool kIsAny>
struct LogicalOp {
  static bool Identity() { return !kIsAny; }
  static bool Reduce(bool acc, const bool* a, int64_t n, int64_t s) {
    for (int64_t i = 0; i < n && acc != kIsAny; ++i) acc = a[i * s];
    return acc;
  }
  static void Fold(bool* o, int64_t os, const bool* a, int64_t s, int64_t n) {
    for (int64_t k = 0; k < n; ++k) {
      o[k * os] = kIsAny ? (o[k * os] || a[k * s]) : (o[k * os] && a[k * s]);
    }
  }
};

Status CheckNonEmptyAxes(std::span<const int64_t> shape, AxisMask axes, const char* name) {
  for (size_t a = 0; a < shape.size(); ++a) {
    if (((axes >> a) & 1) && shape[a] == 0) {
      return Status::Invalid(std::string("zero-size array to reduction operation ") + name +
                             " which has no identity");
    }
  }
  return Status::OK();
}

// numpy's C/F contiguity flags: length-1 axes do not count; any empty axis makes it true.
bool IsContiguous(std::span<const int64_t> shape, std::span<const int64_t> strides,
                  int64_t itemsize, bool fortran) {
  const int nd = static_cast<int>(shape.size());
  int64_t expected = itemsize;
  for (int i = 0; i < nd; ++i) {
    const int a = fortran ? i : nd - 1 - i;
    if (shape[a] == 0) return true;
    if (shape[a] != 1) {
      if (strides[a] != expected) return false;
      expected *= shape[a];
    }
  }
  return true;
}

// Element strides of `np.empty_like(x, order='K')` (PyArray_NewLikeArrayWithShape).
void KeepOrderStrides(std::span<const int64_t> shape, std::span<const int64_t> strides,
                      int64_t itemsize, int64_t* out) {
  const int nd = static_cast<int>(shape.size());
  int order[kMaxReduceDims];  // outermost first
  for (int a = 0; a < nd; ++a) order[a] = a;
  if (nd > 1 && !IsContiguous(shape, strides, itemsize, false)) {
    if (IsContiguous(shape, strides, itemsize, true)) {
      std::reverse(order, order + nd);
    } else {
      // PyArray_CreateSortedStridePerm: |stride| descending, ties in axis order.
      std::stable_sort(order, order + nd,
                       [&](int a, int b) { return std::abs(strides[a]) > std::abs(strides[b]); });
    }
  }
  int64_t running = 1;
  for (int i = nd - 1; i >= 0; --i) {
    out[order[i]] = running;
    running *= shape[order[i]];
  }
}

template <typename T>
Status SumSquaredDeviationsImpl(const StridedView<T>& x, AxisMask axes, const double* u,
                                double* out) {
  // dask moment_chunk: total = x.sum(axis, keepdims, dtype=f8); n = numel(...) (a C-order
  // int64 array); u = total / n; d = x - u; M = (d**2).sum(axis, dtype=f8). The layout
  // numpy allocates for d (iterator order over x and u, order K) fixes the summation order,
  // so replay the three allocations: total, u, then d.
  DN_RETURN_NOT_OK(CheckView(x.shape, x.byte_strides, sizeof(T), axes));
  const int nd = static_cast<int>(x.shape.size());
  int64_t xs[kMaxReduceDims], ts[kMaxReduceDims], ns[kMaxReduceDims], us[kMaxReduceDims],
      ds[kMaxReduceDims], keep_shape[kMaxReduceDims], uc[kMaxReduceDims];
  int order[kMaxReduceDims];
  for (int a = 0; a < nd; ++a) {
    xs[a] = x.shape[a] == 1 ? 0 : x.byte_strides[a] / static_cast<int64_t>(sizeof(T));
    keep_shape[a] = ((axes >> a) & 1) ? 1 : x.shape[a];
  }
  ReducedCStrides(Span(keep_shape, nd), 0, ns);
  for (int a = 0; a < nd; ++a) ns[a] = keep_shape[a] == 1 ? 0 : ns[a];
  const int64_t* x_only[1] = {xs};
  SortAxes(nd, 1, x_only, order);
  ContiguousInOrder(nd, order, x.shape.data(), axes, ts);  // np.sum's allocated result
  const int64_t* tn[2] = {ts, ns};
  SortAxes(nd, 2, tn, order);  // u = total / n over the keepdims shape
  ContiguousInOrder(nd, order, keep_shape, 0, us);
  const int64_t* xu[2] = {xs, us};  // u broadcasts: its reduced axes have stride 0 already
  SortAxes(nd, 2, xu, order);
  ContiguousInOrder(nd, order, x.shape.data(), 0, ds);

  // d = (x - u)**2 in that layout; `u` arrives in C order over the kept axes.
  ReducedCStrides(x.shape, axes, uc);
  std::vector<double> d(static_cast<size_t>(ViewSize(x.shape)));
  const int64_t* strides[3] = {xs, ds, uc};
  const int64_t xi = InnerStride(xs, nd), di = InnerStride(ds, nd), ui = InnerStride(uc, nd);
  ForEachRow<3>(x.shape, strides, [&](const int64_t* off, int64_t len) {
    const T* xp = x.data + off[0];
    double* dp = d.data() + off[1];
    const double* up = u + off[2];
    for (int64_t i = 0; i < len; ++i) {
      const double diff = static_cast<double>(xp[i * xi]) - up[i * ui];
      dp[i * di] = diff * diff;
    }
  });
  int64_t bytes[kMaxReduceDims];
  for (int a = 0; a < nd; ++a) bytes[a] = ds[a] * static_cast<int64_t>(sizeof(double));
  return Sum(StridedView<double>{d.data(), x.shape, Span(bytes, nd)}, axes, out);
}

// numpy's @TYPE@_argmax: the first element that is not <= the best so far (so a NaN wins
// and stops the scan); argmin uses >=.
template <typename T, bool kIsMax>
Status ArgExtreme(const StridedView<T>& x, int axis, int64_t* out) {
  const int nd = static_cast<int>(x.shape.size());
  DN_RETURN_NOT_OK(CheckView(x.shape, x.byte_strides, sizeof(T), 0));
  if (axis < -1 || axis >= std::max(nd, 1)) return Status::Invalid("argmax axis out of range");
  const bool flat = axis == -1 || nd == 0;
  if (flat ? ViewSize(x.shape) == 0 : x.shape[axis] == 0) {
    return Status::Invalid("attempt to get argmax of an empty sequence");
  }
  auto better = [](T v, T best) { return kIsMax ? !(v <= best) : !(v >= best); };
  auto is_nan = [](T v) { return v != v; };
  const char* base = reinterpret_cast<const char*>(x.data);
  if (flat) {
    T best = *x.data;
    int64_t bi = 0, k = 0;
    const int64_t* strides[1] = {x.byte_strides.data()};
    const int64_t inner = InnerStride(x.byte_strides.data(), nd);
    ForEachRow<1>(x.shape, strides, [&](const int64_t* off, int64_t len) {
      for (int64_t i = 0; i < len && !is_nan(best); ++i) {
        const T v = *reinterpret_cast<const T*>(base + off[0] + i * inner);
        if (better(v, best)) {
          best = v;
          bi = k + i;
        }
      }
      k += len;
    });
    *out = bi;
    return Status::OK();
  }
  // The other axes in C order; scan `axis` for each.
  int64_t rest_shape[kMaxReduceDims], rest_strides[kMaxReduceDims];
  int rn = 0;
  for (int a = 0; a < nd; ++a) {
    if (a == axis) continue;
    rest_shape[rn] = x.shape[a];
    rest_strides[rn++] = x.byte_strides[a];
  }
  const int64_t len = x.shape[axis], step = x.byte_strides[axis];
  const int64_t inner = InnerStride(rest_strides, rn);
  const int64_t* strides[1] = {rest_strides};
  int64_t k = 0;
  ForEachRow<1>(Span(rest_shape, rn), strides, [&](const int64_t* off, int64_t rows) {
    for (int64_t r = 0; r < rows; ++r) {
      const char* p = base + off[0] + r * inner;
      T best = *reinterpret_cast<const T*>(p);
      int64_t bi = 0;
      for (int64_t i = 1; i < len && !is_nan(best); ++i) {
        const T v = *reinterpret_cast<const T*>(p + i * step);
        if (better(v, best)) {
          best = v;
          bi = i;
        }
      }
      out[k++] = bi;
    }
  });
  return Status::OK();
}

}  // namespace

int64_t ReducedSize(std::span<const int64_t> shape, AxisMask axes) {
  int64_t n = 1;
  for (size_t a = 0; a < shape.size(); ++a) {
    if (!((axes >> a) & 1)) n *= shape[a];
  }
  return n;
}

int64_t ReductionCount(std::span<const int64_t> shape, AxisMask axes) {
  int64_t n = 1;
  for (size_t a = 0; a < shape.size(); ++a) {
    if ((axes >> a) & 1) n *= shape[a];
  }
  return n;
}

double PairwiseSum(const double* a, int64_t n, int64_t stride_elems) {
  return PairwiseExact(a, n, stride_elems);
}

float PairwiseSum(const float* a, int64_t n, int64_t stride_elems) {
  return PairwiseExact(a, n, stride_elems);
}

Status Sum(const StridedView<double>& x, AxisMask axes, double* out) {
  return RunReduce<SumOp<double>, double>(x, axes, out);
}
Status Sum(const StridedView<float>& x, AxisMask axes, double* out) {
  return RunReduce<SumOp<double>, double>(x, axes, out);
}
Status Sum(const StridedView<float>& x, AxisMask axes, float* out) {
  return RunReduce<SumOp<float>, float>(x, axes, out);
}
Status Sum(const StridedView<int64_t>& x, AxisMask axes, double* out) {
  return RunReduce<SumOp<double>, double>(x, axes, out);
}
Status Sum(const StridedView<int64_t>& x, AxisMask axes, int64_t* out) {
  return RunReduce<SumOp<int64_t>, int64_t>(x, axes, out);
}
Status Sum(const StridedView<bool>& x, AxisMask axes, int64_t* out) {
  return RunReduce<SumOp<int64_t>, int64_t>(x, axes, out);
}

Status NanSum(const StridedView<double>& x, AxisMask axes, double* out) {
  // nanfunctions._replace_nan: np.array(x, copy=True) (order K), NaN -> 0, then np.sum.
  DN_RETURN_NOT_OK(CheckView(x.shape, x.byte_strides, sizeof(double), axes));
  const int nd = static_cast<int>(x.shape.size());
  int64_t xs[kMaxReduceDims], cs[kMaxReduceDims], bytes[kMaxReduceDims];
  KeepOrderStrides(x.shape, x.byte_strides, sizeof(double), cs);
  for (int a = 0; a < nd; ++a) {
    xs[a] = x.byte_strides[a] / static_cast<int64_t>(sizeof(double));
    bytes[a] = cs[a] * static_cast<int64_t>(sizeof(double));
  }
  std::vector<double> copy(static_cast<size_t>(ViewSize(x.shape)));
  const int64_t* strides[2] = {xs, cs};
  const int64_t xi = InnerStride(xs, nd), ci = InnerStride(cs, nd);
  ForEachRow<2>(x.shape, strides, [&](const int64_t* off, int64_t len) {
    const double* src = x.data + off[0];
    double* dst = copy.data() + off[1];
    for (int64_t i = 0; i < len; ++i) {
      const double v = src[i * xi];
      dst[i * ci] = std::isnan(v) ? 0.0 : v;  // np.copyto(a, 0, where=mask)
    }
  });
  return Sum(StridedView<double>{copy.data(), x.shape, Span(bytes, nd)}, axes, out);
}

Status Prod(const StridedView<double>& x, AxisMask axes, double* out) {
  return RunReduce<ProdOp<double>, double>(x, axes, out);
}

Status Mean(const StridedView<double>& x, AxisMask axes, double* out) {
  DN_RETURN_NOT_OK(Sum(x, axes, out));
  // _methods._mean: true_divide(sum, count) with the Python int count as a double.
  const double count = static_cast<double>(ReductionCount(x.shape, axes));
  const int64_t n = ReducedSize(x.shape, axes);
  for (int64_t i = 0; i < n; ++i) out[i] = out[i] / count;
  return Status::OK();
}

Status Mean(const StridedView<float>& x, AxisMask axes, float* out) {
  DN_RETURN_NOT_OK(Sum(x, axes, out));
  // float32 stays float32 (NEP 50): the count is converted like a Python int to float32.
  const float count = static_cast<float>(static_cast<double>(ReductionCount(x.shape, axes)));
  const int64_t n = ReducedSize(x.shape, axes);
  for (int64_t i = 0; i < n; ++i) out[i] = out[i] / count;
  return Status::OK();
}

Status SumSquaredDeviations(const StridedView<double>& x, AxisMask axes, const double* u,
                            double* out) {
  return SumSquaredDeviationsImpl(x, axes, u, out);
}
Status SumSquaredDeviations(const StridedView<float>& x, AxisMask axes, const double* u,
                            double* out) {
  return SumSquaredDeviationsImpl(x, axes, u, out);
}

template <typename T>
Status Max(const StridedView<T>& x, AxisMask axes, T* out) {
  DN_RETURN_NOT_OK(CheckNonEmptyAxes(x.shape, axes, "maximum"));
  return RunReduce<ExtremeOp<T, true>, T>(x, axes, out);
}
template <typename T>
Status Min(const StridedView<T>& x, AxisMask axes, T* out) {
  DN_RETURN_NOT_OK(CheckNonEmptyAxes(x.shape, axes, "minimum"));
  return RunReduce<ExtremeOp<T, false>, T>(x, axes, out);
}
template <typename T>
Status Any(const StridedView<T>& x, AxisMask axes, bool* out) {
  return RunReduce<LogicalOp<true>, bool>(x, axes, out);  // the cast to bool is x != 0
}
template <typename T>
Status All(const StridedView<T>& x, AxisMask axes, bool* out) {
  return RunReduce<LogicalOp<false>, bool>(x, axes, out);
}
template <typename T>
Status ArgMax(const StridedView<T>& x, int axis, int64_t* out) {
  return ArgExtreme<T, true>(x, axis, out);
}
template <typename T>
Status ArgMin(const StridedView<T>& x, int axis, int64_t* out) {
  return ArgExtreme<T, false>(x, axis, out);
}

#define DN_REDUCE_INSTANTIATE(T)                                   \
  template Status Max<T>(const StridedView<T>&, AxisMask, T*);     \
  template Status Min<T>(const StridedView<T>&, AxisMask, T*);     \
  template Status ArgMax<T>(const StridedView<T>&, int, int64_t*); \
  template Status ArgMin<T>(const StridedView<T>&, int, int64_t*); \
  template Status Any<T>(const StridedView<T>&, AxisMask, bool*);  \
  template Status All<T>(const StridedView<T>&, AxisMask, bool*);
DN_REDUCE_INSTANTIATE(double)
DN_REDUCE_INSTANTIATE(float)
DN_REDUCE_INSTANTIATE(int64_t)
#undef DN_REDUCE_INSTANTIATE
template Status Any<bool>(const StridedView<bool>&, AxisMask, bool*);
template Status All<bool>(const StridedView<bool>&, AxisMask, bool*);

}  // namespace dn::native
