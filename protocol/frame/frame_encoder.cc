#include "protocol/frame/frame_encoder.h"

#include <algorithm>
#include <cstring>

namespace dn {

namespace {

void AppendU64(uint64_t v, std::string* out) {
  char buf[8];
  std::memcpy(buf, &v, 8);  // little endian, as struct "Q" on every dask platform
  out->append(buf, 8);
}

}  // namespace

std::string EncodeFrameHeader(std::span<const Buffer> frames,
                              std::optional<uint64_t> nosplit_frames) {
  uint64_t n = frames.size();
  uint64_t k = std::min<uint64_t>(nosplit_frames.value_or(n), n);
  uint64_t nosplit = 8 * (1 + n);
  for (uint64_t i = 0; i < k; ++i) nosplit += frames[i].size();
  std::string out;
  out.reserve(16 + 8 * n);
  AppendU64(nosplit, &out);
  AppendU64(n, &out);
  for (const Buffer& f : frames) AppendU64(f.size(), &out);
  return out;
}

uint64_t NosplitFrames(std::span<const Buffer> frames) {
  for (size_t i = 1; i < frames.size(); ++i) {
    if (frames[i].size() >= kSeparateFrameBytes) return i;
  }
  return frames.size();
}

std::string EncodeFramedMessage(std::span<const Buffer> frames,
                                std::optional<uint64_t> nosplit_frames) {
  std::string out = EncodeFrameHeader(frames, nosplit_frames);
  for (const Buffer& f : frames) out.append(f.view());
  return out;
}

}  // namespace dn
