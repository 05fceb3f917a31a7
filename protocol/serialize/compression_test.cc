#include "protocol/serialize/compression.h"

#include <gtest/gtest.h>

#include <zstd.h>

#include "tests/testing/test_util.h"

namespace dn {
namespace {

TEST(CompressionTest, RoundTripBothCodecs) {
  std::string data;
  for (int i = 0; i < 50000; ++i) data += static_cast<char>('a' + i % 7);
  Buffer in = Buffer::FromString(data);
  for (const char* codec : {"lz4", "zstd"}) {
    ASSERT_OK_AND_ASSIGN(Buffer c, Compress(codec, in));
    EXPECT_LT(c.size(), in.size() / 4) << codec;
    ASSERT_OK_AND_ASSIGN(Buffer d, Decompress(codec, c));
    EXPECT_TRUE(d.Equals(in)) << codec;
  }
  EXPECT_EQ(Decompress("snappy", in).status().code(), StatusCode::kInvalid);
}

TEST(CompressionTest, ZstdBombRefusedBeforeAllocating) {
  // 256 MiB of zeros compresses to a few KiB; its header declares the full size.
  size_t big = size_t{256} << 20;
  std::vector<uint8_t> zeros(big, 0);
  std::vector<uint8_t> c(ZSTD_compressBound(big));
  size_t n = ZSTD_compress(c.data(), c.size(), zeros.data(), big, 3);
  ASSERT_FALSE(ZSTD_isError(n));
  c.resize(n);
  ASSERT_LT(n, 16u * 1024);
  zeros = {};
  Status st = Decompress("zstd", Buffer::FromVector(c)).status();
  EXPECT_EQ(st.code(), StatusCode::kOutOfMemory) << st.ToString();
}

TEST(CompressionTest, ZstdWithoutDeclaredSizeIsCapped) {
  // A streamed frame has no content size; the output may grow only to the limit.
  std::vector<uint8_t> zeros(1 << 20, 0);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<uint8_t> out(ZSTD_compressBound(zeros.size()));
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  ZSTD_inBuffer ib{zeros.data(), zeros.size(), 0};
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  ASSERT_EQ(ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(cctx);
  out.resize(ob.pos);
  Buffer frame = Buffer::FromVector(out);
  EXPECT_EQ(Decompress("zstd", frame, 1000).status().code(), StatusCode::kOutOfMemory);
  ASSERT_OK_AND_ASSIGN(Buffer full, Decompress("zstd", frame, 1 << 21));
  EXPECT_EQ(full.size(), size_t{1} << 20);
}

TEST(CompressionTest, Lz4ClaimedSizeChecked) {
  std::string bomb("\xff\xff\xff\x7f", 4);
  bomb += std::string(100, '\0');
  EXPECT_EQ(Decompress("lz4", Buffer::FromString(bomb)).status().code(), StatusCode::kOutOfMemory);
  std::string corrupt("\x10\x00\x00\x00\xff\xff", 6);
  EXPECT_EQ(Decompress("lz4", Buffer::FromString(corrupt)).status().code(),
            StatusCode::kProtocolError);
  EXPECT_FALSE(Decompress("zstd", Buffer::FromString("not zstd")).ok());
}

}  // namespace
}  // namespace dn
