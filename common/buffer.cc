#include "common/buffer.h"

#include <sys/mman.h>

#include "common/check.h"

namespace dn {

Buffer Buffer::Allocate(size_t size, uint8_t** out) {
  // Large buffers (array chunks, about to be filled) are mapped with MAP_POPULATE: the
  // kernel provides every page in one call instead of one fault per 4 KiB page as the
  // filling loop first touches it, which cost about as much as generating the chunk.
  constexpr size_t kPopulateAbove = size_t{4} << 20;
  if (size >= kPopulateAbove) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p != MAP_FAILED) {
      *out = static_cast<uint8_t*>(p);
      std::shared_ptr<const void> owner(p, [size](const void* q) { munmap(const_cast<void*>(q), size); });
      return Buffer(std::move(owner), static_cast<const uint8_t*>(p), size);
    }
  }
  // make_shared_for_overwrite avoids zero-filling bytes that are about to be overwritten.
  std::shared_ptr<uint8_t[]> mem = std::make_shared_for_overwrite<uint8_t[]>(size ? size : 1);
  *out = mem.get();
  const uint8_t* data = mem.get();
  return Buffer(std::shared_ptr<const void>(std::move(mem), data), data, size);
}

Buffer Buffer::CopyFrom(std::string_view bytes) {
  uint8_t* out = nullptr;
  Buffer b = Allocate(bytes.size(), &out);
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
  return b;
}

Buffer Buffer::FromVector(std::vector<uint8_t> bytes) {
  auto owner = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  const uint8_t* data = owner->data();
  size_t size = owner->size();
  return Buffer(std::move(owner), data, size);
}

Buffer Buffer::FromString(std::string bytes) {
  auto owner = std::make_shared<std::string>(std::move(bytes));
  const auto* data = reinterpret_cast<const uint8_t*>(owner->data());
  size_t size = owner->size();
  return Buffer(std::move(owner), data, size);
}

Buffer Buffer::Slice(size_t offset, size_t length) const {
  DN_CHECK(offset <= size_ && length <= size_ - offset, "Buffer::Slice out of range");
  return Buffer(owner_, data_ + offset, length);
}

}  // namespace dn
