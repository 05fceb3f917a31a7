#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/buffer.h"

namespace dn {

/// Return the prelude of protocol.md §1.1 for `frames`: u64 nosplit, u64 count and one
/// u64 length per frame. `nosplit_frames` is how many leading frames the nosplit length
/// covers; the default (all of them) is valid for every reader, old or new.
std::string EncodeFrameHeader(std::span<const Buffer> frames,
                              std::optional<uint64_t> nosplit_frames = std::nullopt);

/// Return the header followed by every frame, as one string (tests, small messages;
/// the comm layer writes header and frames with gather I/O instead).
std::string EncodeFramedMessage(std::span<const Buffer> frames,
                                std::optional<uint64_t> nosplit_frames = std::nullopt);

}  // namespace dn
