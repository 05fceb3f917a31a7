#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/buffer.h"
#include "common/result.h"
#include "protocol/msgpack/value.h"

namespace dn {

/// Bounds applied while decoding msgpack from an untrusted peer.
struct MsgpackLimits {
  /// Deepest nesting of arrays and maps. dask messages nest about 8 deep.
  uint32_t max_depth = 512;
  /// Most values (scalars plus containers) in one decoded object: bounds memory at about
  /// 64 bytes per value, whatever the input claims.
  uint64_t max_values = uint64_t{1} << 24;
};

/// How maps with dask's special keys are decoded (docs/protocol.md#special-maps).
enum class MapConvention : uint8_t {
  kPlain,  ///< Keep every map as is (Python's plain `msgpack.loads`).
  kSets,   ///< Turn `{"__Set__": true, "as-list": [...]}` into Set (`msgpack_decode_default`).
};

/// Resolve a `{"__Serialized__": k}` / `{"__Pickled__": k}` map into a value, or return
/// nullopt-like Nil with ok status to keep it as a plain map. Used by the message decoder.
using PlaceholderResolver = std::function<Result<Value>(bool serialized, uint64_t index)>;

/// Decode exactly one msgpack object that spans all of `data`.
///
/// Bins share `data`'s owner (no copy). Strings must be valid UTF-8, as Python requires.
/// Ext types and trailing bytes are protocol errors. Never throws.
Result<Value> DecodeMsgpack(const Buffer& data, MapConvention convention = MapConvention::kSets,
                            const MsgpackLimits& limits = {},
                            const PlaceholderResolver* resolver = nullptr);

/// Called for each Serialized/Pickled met while encoding; returns the frame index to
/// put in the placeholder map.
using FrameAppender = std::function<Result<uint64_t>(const Value& placeholder_value)>;

/// Append the msgpack encoding of `value` to `out`, choosing the same minimal forms as
/// Python's msgpack (use_bin_type=True). Set becomes the `__Set__` map. Serialized and
/// Pickled need `appender` (they become placeholder maps); without it they are an error.
Status EncodeMsgpack(const Value& value, std::string* out, const FrameAppender* appender = nullptr);

/// Return true if `bytes` is valid UTF-8 as Python's strict decoder defines it (no
/// surrogates, no overlong forms, at most U+10FFFF).
bool IsValidUtf8(std::string_view bytes);

}  // namespace dn
