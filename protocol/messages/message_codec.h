#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/buffer.h"
#include "common/result.h"
#include "protocol/msgpack/msgpack_codec.h"
#include "protocol/msgpack/value.h"
#include "protocol/serialize/compression.h"

namespace dn {

/// Bounds for decoding one message's frames (see protocol/README.md).
struct MessageLimits {
  MsgpackLimits msgpack;
  uint64_t max_decompressed_bytes = kDefaultMaxDecompressedBytes;
};

/// Decode frames into a message value (docs/protocol.md#placeholders, `protocol/core.py:loads` with
/// deserialize=False): frame 0 is msgpack; `{"__Serialized__": k}` and
/// `{"__Pickled__": k}` become Serialized / Pickled holding sub-header k and the
/// `num-sub-frames` frames after it, still compressed; `__Set__` maps become Set.
/// Frames are shared, never copied.
Result<Value> DecodeMessage(std::span<const Buffer> frames, const MessageLimits& limits = {});

/// Encode a message value into frames (`protocol/core.py:dumps` for values that are
/// already Serialized/Pickled). Each placeholder's sub-header is re-emitted with its
/// keys in their original order and `num-sub-frames` set to its frame count.
Result<std::vector<Buffer>> EncodeMessage(const Value& message);

/// Return the data frames of a Serialized or Pickled sub-header with each frame's
/// `compression` entry undone (nil entries are shared, not copied). The total output
/// is bounded by `limits.max_decompressed_bytes` per frame.
Result<std::vector<Buffer>> DecompressSubFrames(const Map& header, std::span<const Buffer> frames,
                                                const MessageLimits& limits = {});

/// Compress each data frame as `distributed.protocol.compression.maybe_compress` does
/// with `codec` ("lz4" or "zstd"), and record the codec per frame in the header's
/// `compression` list (nil where a frame stays raw). Frames under 10,000 bytes or over
/// 2 GiB stay raw, and a compressed frame is kept only at <= 70% of its size. (Python
/// first tries five 10 kB samples to skip hopeless frames quickly; that is a speed
/// heuristic, so here the whole frame decides.)
Status CompressSubFrames(std::string_view codec, Map* header, std::vector<Buffer>* frames);

/// Return the error reply core.py:error_message builds, with the exception as a str
/// (which clean_exception accepts): status "uncaught-error" for a failed RPC, or
/// "error" where a handler returns the error as a value (e.g. the run RPC).
Value ErrorMessage(std::string_view text, std::string_view status = "uncaught-error");
/// The same reply with the exception pickled as `builtins.<type>(text)` (e.g.
/// "TimeoutError", "KeyError", "ValueError"), so the client raises that type, as it
/// would from a stock handler; exception_text is "<type>: <text>".
Value TypedErrorMessage(std::string_view type, std::string_view text,
                        std::string_view status = "uncaught-error");

/// Return the "op" of a message map, or "" if there is none.
std::string_view OpOf(const Value& message);

}  // namespace dn
