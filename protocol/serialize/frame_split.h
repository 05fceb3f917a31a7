#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/buffer.h"

namespace dn {

/// dask's `distributed.comm.shard`: the largest data frame a stock sender emits.
inline constexpr uint64_t kShardBytes = uint64_t{64} << 20;

/// Split `frame` into shards of at most `shard_bytes` (rounded down to a multiple of
/// `itemsize`), as `protocol/utils.py:frame_split_size` does. Shards share `frame`'s
/// memory; a frame that fits is returned whole.
std::vector<Buffer> SplitFrame(const Buffer& frame, uint64_t shard_bytes = kShardBytes,
                               uint64_t itemsize = 1);

/// Join shards back into one buffer. When they are adjacent slices of one allocation
/// (as a received message's frames are) the result is a slice of it, with no copy.
Buffer MergeFrames(std::span<const Buffer> shards);

}  // namespace dn
