#include "worker/native/ndarray.h"

#include <cstring>

namespace dn::native {

int64_t ItemSize(DType t) {
  switch (t) {
    case DType::kBool: return 1;
    case DType::kInt32:
    case DType::kUInt32:
    case DType::kFloat32: return 4;
    case DType::kInt64:
    case DType::kFloat64: return 8;
  }
  return 8;
}

std::string_view DTypeStr(DType t) {
  switch (t) {
    case DType::kBool: return "|b1";
    case DType::kInt32: return "<i4";
    case DType::kInt64: return "<i8";
    case DType::kUInt32: return "<u4";
    case DType::kFloat32: return "<f4";
    case DType::kFloat64: return "<f8";
  }
  return "<f8";
}

std::string_view DTypeCode(DType t) { return DTypeStr(t).substr(1); }

std::string_view DTypeScalarName(DType t) {
  switch (t) {
    case DType::kBool: return "bool";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kUInt32: return "uint32";
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
  }
  return "float64";
}

Result<DType> ParseDType(std::string_view s) {
  if (!s.empty() && (s[0] == '<' || s[0] == '|' || s[0] == '=')) s.remove_prefix(1);
  if (s == "f8" || s == "float64" || s == "d") return DType::kFloat64;
  if (s == "f4" || s == "float32" || s == "f") return DType::kFloat32;
  if (s == "i8" || s == "int64" || s == "q" || s == "l") return DType::kInt64;
  if (s == "i4" || s == "int32" || s == "i") return DType::kInt32;
  if (s == "u4" || s == "uint32" || s == "I") return DType::kUInt32;
  if (s == "b1" || s == "bool" || s == "?") return DType::kBool;
  return Status::NotImplemented("dtype " + std::string(s));
}

int64_t NdArray::size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t NdArray::Sizeof() const {
  if (scalar) return 32;
  int64_t n = ItemSize(dtype);
  for (int i = 0; i < ndim(); ++i) n *= strides[i] == 0 ? std::min<int64_t>(shape[i], 1) : shape[i];
  return n;
}

bool NdArray::IsCContiguous() const {
  int64_t expect = ItemSize(dtype);
  for (int i = ndim() - 1; i >= 0; --i) {
    if (shape[i] != 1 && strides[i] != expect) return false;
    expect *= shape[i];
  }
  return true;
}

std::vector<int64_t> NdArray::CStrides(const std::vector<int64_t>& shape, int64_t itemsize) {
  std::vector<int64_t> s(shape.size());
  int64_t step = itemsize;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    s[i] = step;
    step *= shape[i];
  }
  return s;
}

NdArray NdArray::Allocate(DType dtype, std::vector<int64_t> shape, uint8_t** out) {
  NdArray a;
  a.dtype = dtype;
  a.strides = CStrides(shape, ItemSize(dtype));
  a.shape = std::move(shape);
  a.data = Buffer::Allocate(static_cast<size_t>(a.nbytes()), out);
  return a;
}

NdArray AsCContiguous(const NdArray& a) {
  if (a.IsCContiguous()) {
    // Same bytes; the strides of length-1 axes become the C ones too. They address
    // nothing, but a slice leaves whatever they were (x[-1:-2:-1] a negative one), and
    // numpy on the far side of the wire or of a Python view checks them.
    NdArray c = a;
    c.strides = NdArray::CStrides(a.shape, ItemSize(a.dtype));
    return c;
  }
  uint8_t* out = nullptr;
  NdArray c = NdArray::Allocate(a.dtype, a.shape, &out);
  c.scalar = a.scalar;
  const int64_t item = ItemSize(a.dtype);
  const int nd = a.ndim();
  std::vector<int64_t> idx(nd, 0);
  for (int64_t n = 0, total = a.size(); n < total; ++n) {
    int64_t off = 0;
    for (int i = 0; i < nd; ++i) off += idx[i] * a.strides[i];
    std::memcpy(out + n * item, a.data.data() + off, item);
    for (int i = nd - 1; i >= 0; --i) {
      if (++idx[i] < a.shape[i]) break;
      idx[i] = 0;
    }
  }
  return c;
}

}  // namespace dn::native
