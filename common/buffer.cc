#include "common/buffer.h"

#include "common/check.h"
#include "common/page_pool.h"

namespace dn {

Buffer Buffer::Allocate(size_t size, uint8_t** out) {
  // Large buffers (array chunks, about to be filled) come from the page pool: mapped
  // pages, populated up front, reused across chunks (common/page_pool.h says why).
  constexpr size_t kPoolAbove = size_t{4} << 20;
  if (size >= kPoolAbove) {
    PagePool::Mapping m = PagePool::Global().Acquire(size);
    if (m.data != nullptr) {
      *out = static_cast<uint8_t*>(m.data);
      std::shared_ptr<const void> owner(m.data,
                                        [m](const void*) { PagePool::Global().Release(m); });
      return Buffer(std::move(owner), static_cast<const uint8_t*>(m.data), size);
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
