#pragma once

#include <cstdint>

namespace dn {

/// Bounds on one framed message from an untrusted peer (docs/protocol.md#limits). Everything is
/// checked against these before any allocation sized by a peer-supplied number.
struct FrameLimits {
  /// Frames per message. A batch of 10k compute-tasks with one buffer each is ~20k.
  uint64_t max_frames = uint64_t{1} << 20;
  /// Bytes in any one frame. Stock senders shard data at 64 MiB, but frame 0 and
  /// pickle out-of-band buffers are never split, so allow large ones.
  uint64_t max_frame_bytes = uint64_t{8} << 30;
  /// Bytes in all frames of one message together.
  uint64_t max_message_bytes = uint64_t{16} << 30;
};

}  // namespace dn
