#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dn {

/// Describe an immutable run of bytes with shared ownership (Arrow's `Buffer`).
///
/// Frames of a received message are `Buffer`s that slice one receive allocation, so a
/// 32 MB array payload travels from the socket to a kernel without a copy. Copying a
/// Buffer copies a pointer and bumps a reference count; the bytes stay where they are.
class Buffer {
 public:
  /// Construct an empty buffer.
  Buffer() = default;

  /// Wrap `size` bytes at `data`, kept alive by `owner`.
  Buffer(std::shared_ptr<const void> owner, const uint8_t* data, size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  /// Allocate `size` bytes (uninitialised) and return a writable pointer via `out`.
  static Buffer Allocate(size_t size, uint8_t** out);
  /// Copy `bytes` into a new buffer.
  static Buffer CopyFrom(std::string_view bytes);
  /// Take ownership of `bytes` without copying.
  static Buffer FromVector(std::vector<uint8_t> bytes);
  static Buffer FromString(std::string bytes);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }
  const std::shared_ptr<const void>& owner() const { return owner_; }

  /// Return bytes [offset, offset + length) sharing this buffer's owner. The range must
  /// lie inside the buffer.
  Buffer Slice(size_t offset, size_t length) const;

  /// Compare contents, not identity.
  bool Equals(const Buffer& other) const {
    return size_ == other.size_ && (size_ == 0 || std::memcmp(data_, other.data_, size_) == 0);
  }

 private:
  std::shared_ptr<const void> owner_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace dn
