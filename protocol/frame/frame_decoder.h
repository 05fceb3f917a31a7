#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "common/buffer.h"
#include "common/result.h"
#include "protocol/frame/frame_limits.h"

namespace dn {

/// One framed message: its frames, plus how many leading frames the sender put under
/// its "nosplit" length (kept so captured bytes can be re-encoded exactly).
struct FramedMessage {
  std::vector<Buffer> frames;
  uint64_t nosplit_frames = 0;
};

/// Decode the TCP framing of docs/protocol.md#framing from bytes pushed in at any split point.
///
/// Sans-I/O (Arrow's MessageDecoder): it owns no socket. Either copy bytes in with
/// Consume(), or read from a socket straight into WritableRegion() and report the count
/// with Commit(); the second way lands payload bytes in their final buffer with no copy.
/// All frames of a message are slices of one body allocation, so shards of one array
/// stay contiguous. After an error the decoder is poisoned: the stream cannot resync.
/// Not thread-safe; one decoder per connection.
class FrameDecoder {
 public:
  explicit FrameDecoder(FrameLimits limits = {}) : limits_(limits) {}

  /// Copy `size` bytes in; complete messages become available through Pop().
  Status Consume(const uint8_t* data, size_t size);

  /// Return the region the next bytes must be written to (never empty unless poisoned).
  std::span<uint8_t> WritableRegion();
  /// Record that the first `n` bytes of WritableRegion() were filled.
  Status Commit(size_t n);

  /// Bytes still needed to finish the current header or message (for read sizing).
  uint64_t next_required_size() const;

  bool HasMessage() const { return !ready_.empty(); }
  /// Remove and return the oldest complete message. Requires HasMessage().
  FramedMessage Pop();

  /// True if nothing of a partial message is buffered (a clean place to close).
  bool idle() const { return state_ == State::kLength && filled_ == 0; }
  /// The error that poisoned the decoder, or OK.
  const Status& error() const { return error_; }

 private:
  enum class State : uint8_t { kLength, kCount, kLengths, kBody };

  Status OnHeaderPart();
  Status Fail(Status st);
  void FinishMessage();

  FrameLimits limits_;
  State state_ = State::kLength;
  // Scratch for the fixed-size header parts, sized per state.
  std::vector<uint8_t> header_;
  size_t filled_ = 0;  // bytes filled in the current part (header_ or body_)
  uint64_t nosplit_ = 0;
  uint64_t nframes_ = 0;
  uint64_t nosplit_frames_k_ = 0;
  std::vector<uint64_t> lengths_;
  Buffer body_;
  uint8_t* body_data_ = nullptr;
  uint64_t body_size_ = 0;
  std::deque<FramedMessage> ready_;
  Status error_;
};

}  // namespace dn
