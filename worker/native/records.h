#pragma once

// numpy structured arrays held natively (NativeValue::records), and their two ways out
// of native code: the wire form distributed's `serialize_numpy_ndarray` gives them,
// and the bytes plus dtype text the worker's embedded Python views without a copy.
//
// Only packed, little-endian dtypes of named fields are handled, which is what
// `np.dtype([(name, dtype), ...])` builds and what dask's arg reductions use
// (`[("vals", x.dtype), ("arg", "<i8")]`: itemsize 16 for float64, 12 for float32).
// Anything else (aligned or padded structs, titles, sub-arrays, big-endian fields,
// dtypes the kernels do not know) is left to Python.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/buffer.h"
#include "common/result.h"
#include "protocol/msgpack/value.h"
#include "worker/native/ndarray.h"

namespace dn::native {

/// One field of a packed structured dtype.
struct RecordField {
  std::string name;
  DType dtype;
};

/// Return the fields of a structured value, in order.
std::vector<RecordField> RecordFields(const NativeValue& v);

/// Return the item size of the packed dtype: the sum of the fields' sizes.
int64_t RecordSize(const std::vector<RecordField>& fields);

/// Build a structured value from one array per field. Each array is made C-contiguous;
/// all must have one shape. Invalid otherwise.
Result<NativeValue> MakeRecords(std::vector<std::pair<std::string, NdArray>> fields);

/// Return the records' bytes in C order, as numpy lays out the structured array
/// (field i of element k at k * RecordSize + the sizes of fields 0..i-1).
Buffer PackRecords(const NativeValue& v);

/// Return the dtype as Python literal text, "[('vals', '<f8'), ('arg', '<i8')]"
/// (`dtype.descr`), for the worker's Python side to rebuild with np.dtype.
std::string RecordsDescr(const std::vector<RecordField>& fields);

/// Return `pickle.dumps(np.dtype(descr), protocol)` byte for byte as numpy pickles a
/// packed structured dtype (protocol 4 or 5), e.g. for a float64/int64 pair
/// `numpy.dtype('V16', False, True)` with state
/// `(3, '|', None, ('vals', 'arg'), {'vals': (dtype('f8'), 0), 'arg': (dtype('i8'), 8)},
///   16, 1, 16)`, sharing memo entries where numpy's objects are shared.
std::string PickleRecordsDtype(const std::vector<RecordField>& fields, int protocol);

/// Read a dtype pickled as above back into its fields; NotImplemented for any other
/// dtype pickle (aligned, padded, titled, big-endian, unknown field dtypes).
Result<std::vector<RecordField>> ParseRecordsDtype(const Buffer& pickle);

/// The 'dask'-serializer form of the structured array, as a stock worker sends it:
/// the dtype travels pickled (`[1, <pickle>]`, protocol 5, as the worker's scalars),
/// then C-order shape and strides and the packed records as one frame.
Result<Serialized> SerializeRecords(const NativeValue& v);

/// A structured array received in that form, unpacked into one array per field, if
/// ParseRecordsDtype knows its dtype and no frame is compressed beyond what
/// DeserializeNdarray handles; nullopt otherwise (the value then goes to Python).
std::optional<NativeValue> RecordsFrom(const Serialized& value);

}  // namespace dn::native
