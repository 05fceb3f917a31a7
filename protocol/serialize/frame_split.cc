#include "protocol/serialize/frame_split.h"

#include <cstring>

namespace dn {

std::vector<Buffer> SplitFrame(const Buffer& frame, uint64_t shard_bytes, uint64_t itemsize) {
  if (itemsize == 0) itemsize = 1;
  uint64_t step = shard_bytes - shard_bytes % itemsize;
  if (frame.size() <= shard_bytes || step == 0) return {frame};
  std::vector<Buffer> out;
  out.reserve((frame.size() + step - 1) / step);
  for (uint64_t off = 0; off < frame.size(); off += step) {
    out.push_back(frame.Slice(off, std::min<uint64_t>(step, frame.size() - off)));
  }
  return out;
}

Buffer MergeFrames(std::span<const Buffer> shards) {
  if (shards.empty()) return Buffer();
  if (shards.size() == 1) return shards[0];
  bool contiguous = true;
  uint64_t total = shards[0].size();
  for (size_t i = 1; i < shards.size(); ++i) {
    const Buffer& prev = shards[i - 1];
    contiguous = contiguous && shards[i].owner() == prev.owner() && prev.owner() != nullptr &&
                 shards[i].data() == prev.data() + prev.size();
    total += shards[i].size();
  }
  if (contiguous) {
    return Buffer(shards[0].owner(), shards[0].data(), total);
  }
  uint8_t* out = nullptr;
  Buffer merged = Buffer::Allocate(total, &out);
  for (const Buffer& s : shards) {
    if (!s.empty()) std::memcpy(out, s.data(), s.size());
    out += s.size();
  }
  return merged;
}

}  // namespace dn
