#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/buffer.h"

namespace dn {

/// Return the prelude of docs/protocol.md#framing for `frames`: u64 nosplit, u64 count and one
/// u64 length per frame. `nosplit_frames` is how many leading frames the nosplit length
/// covers; the default (all of them) is valid for every reader, old or new.
std::string EncodeFrameHeader(std::span<const Buffer> frames,
                              std::optional<uint64_t> nosplit_frames = std::nullopt);

/// Frames at least this large are left out of the nosplit length, with every frame after
/// them, so that a reader receives each into a buffer of its own.
inline constexpr uint64_t kSeparateFrameBytes = uint64_t{64} << 10;

/// How many leading frames a writer should put under the nosplit length: all of them up
/// to the first one (after the first frame, the message header) of kSeparateFrameBytes
/// or more. Stock readers receive the nosplit part into one buffer and each later frame
/// into its own, freshly allocated and so aligned. Inside the shared buffer an array lands
/// at whatever offset the header lengths give it, and numpy sums an unaligned float64
/// array of more than 8192 elements through its buffered loop, in another order than
/// an aligned one: a chunk fetched that way summed 1 ulp away from the same chunk
/// computed in place (pinned by FrameEncoderTest.LargeFramesAreLeftOutOfTheNosplitLength
/// and the compat test test_arrays_fetched_from_native_workers_arrive_aligned).
uint64_t NosplitFrames(std::span<const Buffer> frames);

/// Return the header followed by every frame, as one string (tests, small messages;
/// the comm layer writes header and frames with gather I/O instead).
std::string EncodeFramedMessage(std::span<const Buffer> frames,
                                std::optional<uint64_t> nosplit_frames = std::nullopt);

}  // namespace dn
