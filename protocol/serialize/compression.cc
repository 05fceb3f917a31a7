#include "protocol/serialize/compression.h"

#include <lz4.h>
#include <zstd.h>

#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace dn {

namespace {

Status TooLarge(uint64_t claimed, uint64_t max_output) {
  return Status::OutOfMemory("compressed frame expands to " + std::to_string(claimed) +
                             " bytes; limit is " + std::to_string(max_output));
}

Result<Buffer> DecompressLz4(const Buffer& input, uint64_t max_output) {
  if (input.size() < 4) return Status::ProtocolError("lz4 frame shorter than its size prefix");
  uint32_t size;
  std::memcpy(&size, input.data(), 4);
  if (size > max_output) return TooLarge(size, max_output);
  if (input.size() - 4 > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      size > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
    return Status::ProtocolError("lz4 block larger than 2 GiB");
  }
  uint8_t* out = nullptr;
  Buffer result = Buffer::Allocate(size, &out);
  int n = LZ4_decompress_safe(reinterpret_cast<const char*>(input.data() + 4),
                              reinterpret_cast<char*>(out), static_cast<int>(input.size() - 4),
                              static_cast<int>(size));
  if (n < 0 || static_cast<uint32_t>(n) != size) {
    return Status::ProtocolError("corrupt lz4 block");
  }
  return result;
}

struct DctxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

// Sum the declared content sizes of the concatenated frames (stable API only), so the
// total is checked before anything is allocated; UNKNOWN if any frame omits its size.
unsigned long long DeclaredZstdSize(const Buffer& input) {
  const uint8_t* p = input.data();
  size_t left = input.size();
  unsigned long long total = 0;
  while (left > 0) {
    unsigned long long n = ZSTD_getFrameContentSize(p, left);
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN) return n;
    size_t frame = ZSTD_findFrameCompressedSize(p, left);
    if (ZSTD_isError(frame)) return ZSTD_CONTENTSIZE_ERROR;
    if (total + n < total) return ZSTD_CONTENTSIZE_ERROR;
    total += n;
    p += frame;
    left -= frame;
  }
  return total;
}

Result<Buffer> DecompressZstd(const Buffer& input, uint64_t max_output) {
  unsigned long long declared = DeclaredZstdSize(input);
  if (declared == ZSTD_CONTENTSIZE_ERROR || input.empty()) {
    return Status::ProtocolError("corrupt zstd frame");
  }
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN) {
    if (declared > max_output) return TooLarge(declared, max_output);
    uint8_t* out = nullptr;
    Buffer result = Buffer::Allocate(declared, &out);
    size_t n = ZSTD_decompress(out, declared, input.data(), input.size());
    if (ZSTD_isError(n) || n != declared) {
      return Status::ProtocolError(std::string("corrupt zstd frame: ") +
                                   (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch"));
    }
    return result;
  }
  // No declared size: stream, growing the output only up to max_output.
  std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx(ZSTD_createDCtx());
  if (!dctx) return Status::OutOfMemory("ZSTD_createDCtx failed");
  std::vector<uint8_t> out;
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  size_t chunk = ZSTD_DStreamOutSize();
  size_t ret = 1;
  while (in.pos < in.size || ret != 0) {
    size_t old = out.size();
    if (old >= max_output) return TooLarge(old + 1, max_output);
    out.resize(std::min<uint64_t>(old + chunk, max_output));
    ZSTD_outBuffer ob{out.data() + old, out.size() - old, 0};
    ret = ZSTD_decompressStream(dctx.get(), &ob, &in);
    if (ZSTD_isError(ret)) {
      return Status::ProtocolError(std::string("corrupt zstd stream: ") + ZSTD_getErrorName(ret));
    }
    out.resize(old + ob.pos);
    if (in.pos == in.size && ret != 0 && ob.pos == 0) {
      return Status::ProtocolError("truncated zstd stream");
    }
  }
  return Buffer::FromVector(std::move(out));
}

}  // namespace

Result<Buffer> Decompress(std::string_view codec, const Buffer& input, uint64_t max_output) {
  if (codec == "lz4") return DecompressLz4(input, max_output);
  if (codec == "zstd") return DecompressZstd(input, max_output);
  return Status::Invalid("unsupported compression codec '" + std::string(codec) + "'");
}

Result<Buffer> Compress(std::string_view codec, const Buffer& input, int zstd_level) {
  if (codec == "lz4") {
    if (input.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) {
      return Status::Invalid("lz4 input larger than LZ4_MAX_INPUT_SIZE");
    }
    int bound = LZ4_compressBound(static_cast<int>(input.size()));
    std::vector<uint8_t> out(4 + static_cast<size_t>(bound));
    uint32_t size = static_cast<uint32_t>(input.size());
    std::memcpy(out.data(), &size, 4);
    int n = LZ4_compress_default(reinterpret_cast<const char*>(input.data()),
                                 reinterpret_cast<char*>(out.data() + 4),
                                 static_cast<int>(input.size()), bound);
    if (n <= 0) return Status::Internal("LZ4_compress_default failed");
    out.resize(4 + static_cast<size_t>(n));
    return Buffer::FromVector(std::move(out));
  }
  if (codec == "zstd") {
    std::vector<uint8_t> out(ZSTD_compressBound(input.size()));
    size_t n = ZSTD_compress(out.data(), out.size(), input.data(), input.size(), zstd_level);
    if (ZSTD_isError(n)) return Status::Internal(ZSTD_getErrorName(n));
    out.resize(n);
    return Buffer::FromVector(std::move(out));
  }
  return Status::Invalid("unsupported compression codec '" + std::string(codec) + "'");
}

}  // namespace dn
