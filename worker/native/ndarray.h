#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/buffer.h"
#include "common/result.h"

namespace dn::native {

/// The numpy dtypes the native kernels handle; anything else runs in Python.
enum class DType : uint8_t { kBool, kInt32, kInt64, kUInt32, kFloat32, kFloat64 };

int64_t ItemSize(DType t);
/// numpy `dtype.str`, e.g. "<f8", "|b1".
std::string_view DTypeStr(DType t);
/// numpy's short name, as `numpy.dtype(name)` is pickled: "f8", "b1", "i8".
std::string_view DTypeCode(DType t);
/// numpy scalar type name, e.g. "float64", "bool" (numpy.bool in numpy 2).
std::string_view DTypeScalarName(DType t);
/// Parse "<f8", "f8", "float64", "|b1", "bool", ... ; NotImplemented for others.
Result<DType> ParseDType(std::string_view s);

/// An n-dimensional array in native memory, laid out as numpy's: `data` points at the
/// first element and `strides` are in bytes (0 for broadcast axes).
///
/// Arrays are immutable once built and share their bytes (copying an NdArray copies a
/// reference), so a result can be handed to peers, spilled and viewed from Python
/// without copies. `scalar` marks a numpy scalar (e.g. numpy.float64, what a full
/// reduction returns) as opposed to a 0-d ndarray.
struct NdArray {
  DType dtype = DType::kFloat64;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  Buffer data;
  bool scalar = false;
  bool writeable = true;

  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t size() const;
  /// Bytes of the elements (size * itemsize): dask.sizeof of an ndarray, except that
  /// sizeof counts one element along 0-stride axes (see Sizeof()).
  int64_t nbytes() const { return size() * ItemSize(dtype); }
  /// What dask.sizeof reports: numpy scalars are 32 bytes (sys.getsizeof of a
  /// numpy.float64), arrays their nbytes counting 0-stride axes once.
  int64_t Sizeof() const;
  bool IsCContiguous() const;
  template <typename T>
  const T* ptr() const {
    return reinterpret_cast<const T*>(data.data());
  }

  /// A new C-contiguous array of `shape`, uninitialised; `*out` is its writable bytes.
  static NdArray Allocate(DType dtype, std::vector<int64_t> shape, uint8_t** out);
  /// C-order strides for `shape`.
  static std::vector<int64_t> CStrides(const std::vector<int64_t>& shape, int64_t itemsize);
};

/// A task result held natively: an array, a dict of named arrays (dask's mean chunks
/// return {"n": ..., "total": ...}), in the dict's order, or a numpy structured array
/// (dask's arg reductions pass dtype [("vals", ...), ("arg", "<i8")] between tasks).
///
/// A structured array (`records`) keeps one C-contiguous array of the full shape per
/// field in `fields`, in the dtype's field order; worker/native/records.h packs them
/// into numpy's record layout when the value leaves native code.
struct NativeValue {
  NdArray array;
  std::vector<std::pair<std::string, NdArray>> fields;
  bool records = false;
  bool is_dict() const { return !fields.empty() && !records; }
  /// dask.sizeof: the array's; for a dict its arrays' plus 320 bytes, about what
  /// sys.getsizeof gives for a two-entry dict and its key/value lists; for a
  /// structured array its nbytes (every field's bytes: the records are packed).
  int64_t Sizeof() const {
    if (records) {
      int64_t n = 0;
      for (const auto& [k, a] : fields) n += a.nbytes();
      return n;
    }
    if (!is_dict()) return array.Sizeof();
    int64_t n = 320;
    for (const auto& [k, a] : fields) n += a.Sizeof();
    return n;
  }
};

/// A C-contiguous copy of `a` (or `a` itself when it already is).
NdArray AsCContiguous(const NdArray& a);

}  // namespace dn::native
