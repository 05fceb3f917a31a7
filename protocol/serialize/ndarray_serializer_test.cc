#include "protocol/serialize/ndarray_serializer.h"

#include <gtest/gtest.h>

#include "protocol/frame/frame_decoder.h"
#include "protocol/messages/message_codec.h"
#include "tests/testing/test_util.h"

namespace dn {
namespace {

Value DecodeVectorFile(const char* name) {
  Buffer wire = testing::ReadFile(testing::SharedDir() / "vectors" / name);
  FrameDecoder d;
  EXPECT_TRUE(d.Consume(wire.data(), wire.size()).ok());
  FramedMessage m = d.Pop();
  auto v = DecodeMessage(m.frames);
  EXPECT_TRUE(v.ok());
  return *v;
}

TEST(NdarraySerializerTest, ReproducesStockWorkerHeader) {
  Value reply = DecodeVectorFile("wire/get_data_reply_worker_to_worker.bin");
  for (const MapEntry& e : *reply.Find("data")->map()) {
    const Serialized& stock = *e.value.get_if<Serialized>();
    ASSERT_OK_AND_ASSIGN(NdarrayView view, DeserializeNdarray(stock));
    EXPECT_EQ(view.meta.dtype, "<f8");
    EXPECT_EQ(view.meta.shape, (std::vector<int64_t>{1, 1}));
    EXPECT_EQ(view.meta.strides, (std::vector<int64_t>{8, 8}));
    EXPECT_EQ(view.data.size(), 8u);
    ASSERT_OK_AND_ASSIGN(Serialized ours, SerializeNdarray(view.meta, view.data));
    EXPECT_EQ(Value(ours), Value(stock));
  }
}

TEST(NdarraySerializerTest, ShardsAndMergesWithoutCopy) {
  std::vector<double> values(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = i * 0.5;
  Buffer data = Buffer::CopyFrom(
      std::string_view(reinterpret_cast<const char*>(values.data()), values.size() * 8));
  NdarrayMeta meta{"<f8", std::nullopt, {10, 100}, {800, 8}, true, std::nullopt};
  ASSERT_OK_AND_ASSIGN(Serialized s, SerializeNdarray(meta, data, 1000));
  EXPECT_EQ(s.frames.size(), 8u);  // 8000 bytes in 1000-byte shards
  EXPECT_EQ(*FindKey(s.header, "split-num-sub-frames"), Value(Array{Value(8)}));
  // Through the wire encoding and back.
  ASSERT_OK_AND_ASSIGN(auto frames, EncodeMessage(Value(Map{{Value("x"), Value(s)}})));
  ASSERT_OK_AND_ASSIGN(Value back, DecodeMessage(frames));
  ASSERT_OK_AND_ASSIGN(NdarrayView view, DeserializeNdarray(*back.Find("x")->get_if<Serialized>()));
  EXPECT_EQ(view.meta, meta);
  EXPECT_TRUE(view.data.Equals(data));
  EXPECT_EQ(view.data.data(), data.data());  // shards were adjacent: no copy
}

TEST(NdarraySerializerTest, ShardedSyntheticVector) {
  Value msg = DecodeVectorFile("synthetic/sharded_frame_split_size_1000.bin");
  ASSERT_OK_AND_ASSIGN(NdarrayView view,
                       DeserializeNdarray(*msg.Find("data")->get_if<Serialized>()));
  EXPECT_EQ(view.meta.shape, (std::vector<int64_t>{500}));
  EXPECT_EQ(view.data.size(), 4000u);
}

TEST(NdarraySerializerTest, Lz4SyntheticVector) {
  Value msg = DecodeVectorFile("synthetic/lz4_compressed_ndarray.bin");
  const Value* data = msg.Find("data");
  ASSERT_NE(data, nullptr);
  const Serialized* s = data->map()->front().value.get_if<Serialized>();
  ASSERT_NE(s, nullptr);
  ASSERT_OK_AND_ASSIGN(NdarrayView view, DeserializeNdarray(*s));
  EXPECT_EQ(view.meta.dtype, "|u1");
  ASSERT_EQ(view.data.size(), 65536u);
  for (size_t i = 0; i < 64; ++i) EXPECT_EQ(view.data.data()[i], i % 16);
}

TEST(NdarraySerializerTest, RejectsInconsistentHeaders) {
  NdarrayMeta meta{"<f8", std::nullopt, {4}, {8}, true, std::nullopt};
  EXPECT_FALSE(SerializeNdarray(meta, Buffer::CopyFrom("short")).ok());
  ASSERT_OK_AND_ASSIGN(Serialized s,
                       SerializeNdarray(meta, Buffer::CopyFrom(std::string(32, 'x'))));
  s.frames[0] = s.frames[0].Slice(0, 16);
  EXPECT_EQ(DeserializeNdarray(s).status().code(), StatusCode::kProtocolError);
  EXPECT_EQ(DtypeItemSize("<U3").ValueOrDie(), 12);
  EXPECT_EQ(DtypeItemSize("<M8[ns]").ValueOrDie(), 8);
  EXPECT_FALSE(DtypeItemSize("|O").ok());
}

}  // namespace
}  // namespace dn

namespace dn {
namespace {

TEST(FrameSplitTest, SixtyFourMiBShardsBothWays) {
  // 70 MB, as a 73.6 MB array travels in the captured big transfer: shards of exactly
  // 64 MiB plus the rest, sharing memory; merging them back copies nothing.
  uint8_t* out = nullptr;
  Buffer big = Buffer::Allocate(70'000'000, &out);
  out[0] = 1;
  out[69'999'999] = 2;
  std::vector<Buffer> shards = SplitFrame(big);
  ASSERT_EQ(shards.size(), 2u);
  EXPECT_EQ(shards[0].size(), kShardBytes);
  EXPECT_EQ(shards[1].size(), 70'000'000 - kShardBytes);
  Buffer merged = MergeFrames(shards);
  EXPECT_EQ(merged.data(), big.data());
  EXPECT_EQ(merged.size(), big.size());
  // Shards from different allocations are copied into one buffer.
  std::vector<Buffer> parts = {Buffer::CopyFrom("abc"), Buffer::CopyFrom("def")};
  EXPECT_EQ(MergeFrames(parts).view(), "abcdef");
  // Item size is respected (numpy.py splits a memoryview of u8 items).
  EXPECT_EQ(SplitFrame(Buffer::CopyFrom(std::string(100, 'x')), 20, 8)[0].size(), 16u);
}

}  // namespace
}  // namespace dn
