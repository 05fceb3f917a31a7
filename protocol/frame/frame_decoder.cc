#include "protocol/frame/frame_decoder.h"

#include <cstring>
#include <string>

namespace dn {

namespace {

// Framing integers are struct "Q": native order, little endian on every platform dask
// runs on (docs/protocol.md#framing).
uint64_t LoadU64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

Status FrameDecoder::Fail(Status st) {
  error_ = st;
  return st;
}

std::span<uint8_t> FrameDecoder::WritableRegion() {
  if (!error_.ok()) return {};
  if (state_ == State::kBody) return {body_data_ + filled_, body_size_ - filled_};
  size_t want = state_ == State::kLengths ? 8 * nframes_ : 8;
  if (header_.size() != want) header_.resize(want);
  return {header_.data() + filled_, want - filled_};
}

uint64_t FrameDecoder::next_required_size() const {
  switch (state_) {
    case State::kLength:
    case State::kCount: return 8 - filled_;
    case State::kLengths: return 8 * nframes_ - filled_;
    case State::kBody: return body_size_ - filled_;
  }
  return 0;
}

Status FrameDecoder::Commit(size_t n) {
  if (!error_.ok()) return error_;
  if (n > next_required_size()) {
    return Fail(Status::Invalid("Commit of more bytes than WritableRegion() offered"));
  }
  filled_ += n;
  while (next_required_size() == 0) {
    if (state_ == State::kBody) {
      FinishMessage();
    } else {
      DN_RETURN_NOT_OK(OnHeaderPart());
    }
  }
  return Status::OK();
}

Status FrameDecoder::Consume(const uint8_t* data, size_t size) {
  while (size > 0) {
    if (!error_.ok()) return error_;
    std::span<uint8_t> region = WritableRegion();
    size_t n = std::min(region.size(), size);
    std::memcpy(region.data(), data, n);
    data += n;
    size -= n;
    DN_RETURN_NOT_OK(Commit(n));
  }
  return error_;
}

Status FrameDecoder::OnHeaderPart() {
  filled_ = 0;
  switch (state_) {
    case State::kLength:
      nosplit_ = LoadU64(header_.data());
      // The nosplit part begins with the frame count and at least one length; refuse a
      // shorter one now rather than wait for bytes that a well-formed peer never sends.
      if (nosplit_ < 16) {
        return Fail(Status::ProtocolError("nosplit length " + std::to_string(nosplit_) +
                                          " cannot hold a frame count and a frame length"));
      }
      state_ = State::kCount;
      return Status::OK();
    case State::kCount: {
      nframes_ = LoadU64(header_.data());
      if (nframes_ == 0) return Fail(Status::ProtocolError("message with zero frames"));
      if (nframes_ > limits_.max_frames) {
        return Fail(Status::OutOfMemory("message claims " + std::to_string(nframes_) +
                                        " frames; limit is " + std::to_string(limits_.max_frames)));
      }
      state_ = State::kLengths;
      return Status::OK();
    }
    case State::kLengths: {
      lengths_.resize(nframes_);
      uint64_t total = 0;
      for (uint64_t i = 0; i < nframes_; ++i) {
        uint64_t len = LoadU64(header_.data() + 8 * i);
        if (len > limits_.max_frame_bytes) {
          return Fail(Status::OutOfMemory("frame " + std::to_string(i) + " claims " +
                                          std::to_string(len) + " bytes; limit is " +
                                          std::to_string(limits_.max_frame_bytes)));
        }
        total += len;  // cannot overflow: each term < 2^34 and count < 2^21 by the limits
        if (total > limits_.max_message_bytes) {
          return Fail(Status::OutOfMemory("message exceeds " +
                                          std::to_string(limits_.max_message_bytes) + " bytes"));
        }
        lengths_[i] = len;
      }
      // nosplit = prelude + a whole number k of leading frames (docs/protocol.md#nosplit).
      uint64_t covered = 8 * (1 + nframes_);
      uint64_t k = 0;
      while (covered < nosplit_ && k < nframes_) covered += lengths_[k++];
      if (covered != nosplit_) {
        return Fail(Status::ProtocolError("nosplit length " + std::to_string(nosplit_) +
                                          " does not end on a frame boundary"));
      }
      nosplit_frames_k_ = k;
      header_.clear();
      header_.shrink_to_fit();
      body_size_ = total;
      body_ = Buffer::Allocate(total, &body_data_);
      state_ = State::kBody;
      return Status::OK();
    }
    case State::kBody: break;
  }
  return Fail(Status::Internal("frame decoder in a bad state"));
}

void FrameDecoder::FinishMessage() {
  FramedMessage msg;
  msg.frames.reserve(nframes_);
  uint64_t offset = 0;
  for (uint64_t len : lengths_) {
    msg.frames.push_back(body_.Slice(offset, len));
    offset += len;
  }
  msg.nosplit_frames = nosplit_frames_k_;
  ready_.push_back(std::move(msg));
  body_ = Buffer();
  body_data_ = nullptr;
  body_size_ = 0;
  filled_ = 0;
  lengths_.clear();
  state_ = State::kLength;
}

FramedMessage FrameDecoder::Pop() {
  FramedMessage m = std::move(ready_.front());
  ready_.pop_front();
  return m;
}

}  // namespace dn
