#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/buffer.h"
#include "common/result.h"
#include "protocol/msgpack/value.h"
#include "protocol/serialize/compression.h"
#include "protocol/serialize/frame_split.h"

namespace dn {

/// The numpy sub-header of dask's 'dask' serializer family
/// (`distributed/protocol/numpy.py:serialize_numpy_ndarray`).
struct NdarrayMeta {
  /// numpy `dtype.str`, e.g. "<f8", "|b1", "<M8[ns]"; empty when `dtype_pickle` is set.
  std::string dtype;
  /// A pickled dtype (structured/void dtypes travel as `[1, <pickle>]`).
  std::optional<Buffer> dtype_pickle;
  std::vector<int64_t> shape;
  /// Byte strides of the data frame as sent (C or F order, or 0 for broadcast axes).
  std::vector<int64_t> strides;
  bool writeable = true;
  /// Set for arrays with zero strides: the frame holds one element along those axes.
  std::optional<std::vector<int64_t>> broadcast_to;

  bool operator==(const NdarrayMeta&) const;
};

/// Return the item size of a simple numpy dtype string ("<f8" -> 8, "<U3" -> 12), or an
/// error for strings it cannot size (object dtype, malformed).
Result<int64_t> DtypeItemSize(std::string_view dtype);

/// Build the Serialized value a stock worker sends for an ndarray: header keys in the
/// stock order (sub-header, type, type-serialized, serializer, split-num-sub-frames,
/// split-offsets, compression, num-sub-frames) and the data split into shards of at most
/// `shard_bytes`, sharing `data`'s memory. `data` must be exactly the bytes the strides
/// address (C- or F-contiguous, as numpy's `ravel(order="K")` gives).
Result<Serialized> SerializeNdarray(const NdarrayMeta& meta, const Buffer& data,
                                    uint64_t shard_bytes = kShardBytes);

/// An array decoded from a Serialized value: its metadata and one buffer of its bytes.
struct NdarrayView {
  NdarrayMeta meta;
  Buffer data;
};

/// Decode a 'dask'-family numpy Serialized value (as sent by stock workers, clients or
/// SerializeNdarray): decompress its frames, merge the shards (without copying when they
/// are adjacent), and check that shape, strides and item size fit the bytes. Object
/// arrays (`{"pickle": true}`) are Invalid: they need Python.
Result<NdarrayView> DeserializeNdarray(
    const Serialized& value, uint64_t max_decompressed_bytes = kDefaultMaxDecompressedBytes);

}  // namespace dn
