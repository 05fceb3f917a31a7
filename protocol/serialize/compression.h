#pragma once

#include <cstdint>
#include <string_view>

#include "common/buffer.h"
#include "common/result.h"

namespace dn {

/// Most bytes one compressed frame may expand to. Stock senders compress data frames
/// after sharding them at 64 MiB (docs/protocol.md#compression), so twice that is generous; a
/// frame that claims more is refused before anything is allocated.
inline constexpr uint64_t kDefaultMaxDecompressedBytes = uint64_t{128} << 20;

/// Decompress one frame encoded with dask codec `codec` ("lz4" or "zstd").
///
/// "lz4" is python-lz4's block format: a 4-byte little-endian uncompressed size, then an
/// LZ4 block. "zstd" is a zstd frame (several concatenated frames are accepted, as
/// python-zstandard does). The declared size is checked against `max_output` before
/// allocating; a zstd frame without a declared size is streamed into a buffer that may
/// grow only up to `max_output`. Other codecs ("snappy", "zlib") are Invalid.
Result<Buffer> Decompress(std::string_view codec, const Buffer& input,
                          uint64_t max_output = kDefaultMaxDecompressedBytes);

/// Compress `input` with `codec` ("lz4" or "zstd", level `zstd_level`, dask's default
/// 3) in the same format the Python side writes.
Result<Buffer> Compress(std::string_view codec, const Buffer& input, int zstd_level = 3);

}  // namespace dn
