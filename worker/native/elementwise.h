#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "worker/native/ndarray.h"

namespace dn::native {

/// An operand of an elementwise operation: an array, or a Python scalar (numpy 2
/// treats those as "weak": they take the array's dtype, NEP 50).
struct Operand {
  const NdArray* array = nullptr;
  enum class Scalar : uint8_t { kNone, kBool, kInt, kFloat } scalar = Scalar::kNone;
  double f = 0;
  int64_t i = 0;
};

/// `_operator.<op>(a, b)` on numpy arrays with broadcasting, exactly as numpy computes it
/// (each element is one IEEE operation in the result dtype, so results are bit-identical):
/// add, sub, mul, truediv, and the comparisons gt, ge, lt, le, eq, ne (bool results).
/// Supported dtypes: float64, float32 (with float64 promoting to float64), int64 and
/// bool for comparisons; other combinations are NotImplemented.
Result<NdArray> Binary(std::string_view op, const Operand& a, const Operand& b);

/// `np.where(cond, if_true, otherwise)` for a bool condition and a float64 array of
/// the same shape (dask's moment_agg); a 0-d result is a numpy scalar.
Result<NdArray> Where(const NdArray& cond, double if_true, const NdArray& otherwise);

/// `np.sqrt(x)` for float64 (correctly rounded, as IEEE and numpy require).
Result<NdArray> Sqrt(const NdArray& x);

/// `numpy.transpose(x, axes)`: a view with permuted shape and strides (no copy).
Result<NdArray> Transpose(const NdArray& x, const std::vector<int>& axes);

/// One entry of a basic index: a slice (start/stop/step as Python gives them, nullopt
/// for None) or an integer.
struct IndexEntry {
  bool is_int = false;
  int64_t index = 0;
  std::optional<int64_t> start, stop, step;
};

/// `dask.array.chunk.getitem(x, index)` for basic indexing: numpy's view `x[index]`,
/// copied to a C-contiguous array when it holds at most half of x's elements, as dask
/// does (the layout decides the order of later sums, so it must match).
Result<NdArray> GetItem(const NdArray& x, const std::vector<IndexEntry>& index);

/// `x.astype(dtype)`: numpy's C casts (float64 -> float32 rounds to nearest, floats ->
/// integers truncate toward zero, bool is `!= 0`). Always a new C-contiguous array.
Result<NdArray> AsType(const NdArray& x, DType dtype);

}  // namespace dn::native
