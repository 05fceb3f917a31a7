#include "protocol/frame/frame_decoder.h"

#include <gtest/gtest.h>

#include <cstring>

#include "protocol/frame/frame_encoder.h"
#include "tests/testing/test_util.h"

namespace dn {
namespace {

std::vector<Buffer> Frames(std::initializer_list<std::string_view> parts) {
  std::vector<Buffer> out;
  for (auto p : parts) out.push_back(Buffer::CopyFrom(p));
  return out;
}

std::string U64(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

TEST(FrameDecoderTest, DecodesHandshakeCapture) {
  Buffer wire =
      testing::ReadFile(testing::SharedDir() / "vectors/wire/handshake_client_to_scheduler.bin");
  ASSERT_EQ(wire.size(), 66u);
  FrameDecoder d;
  ASSERT_OK(d.Consume(wire.data(), wire.size()));
  ASSERT_TRUE(d.HasMessage());
  FramedMessage m = d.Pop();
  ASSERT_EQ(m.frames.size(), 1u);
  EXPECT_EQ(m.frames[0].size(), 42u);
  EXPECT_EQ(m.nosplit_frames, 1u);
  EXPECT_EQ(EncodeFramedMessage(m.frames, m.nosplit_frames), std::string(wire.view()));
  EXPECT_TRUE(d.idle());
}

TEST(FrameDecoderTest, AcceptsEverySplitPoint) {
  auto frames = Frames({"header", "", "payload-one", "x"});
  std::string wire = EncodeFramedMessage(frames, 2) + EncodeFramedMessage(frames);
  for (size_t split = 0; split <= wire.size(); ++split) {
    FrameDecoder d;
    ASSERT_OK(d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), split));
    ASSERT_OK(
        d.Consume(reinterpret_cast<const uint8_t*>(wire.data()) + split, wire.size() - split));
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(d.HasMessage()) << split;
      FramedMessage m = d.Pop();
      ASSERT_EQ(m.frames.size(), 4u);
      EXPECT_EQ(m.frames[2].view(), "payload-one");
      EXPECT_EQ(m.frames[1].size(), 0u);
    }
    EXPECT_FALSE(d.HasMessage());
  }
}

TEST(FrameDecoderTest, ByteAtATimeThroughWritableRegion) {
  auto frames = Frames({"a", "bb", "ccc"});
  std::string wire = EncodeFramedMessage(frames, 0);
  FrameDecoder d;
  for (char c : wire) {
    auto region = d.WritableRegion();
    ASSERT_FALSE(region.empty());
    region[0] = static_cast<uint8_t>(c);
    ASSERT_OK(d.Commit(1));
  }
  ASSERT_TRUE(d.HasMessage());
  FramedMessage m = d.Pop();
  EXPECT_EQ(m.frames[2].view(), "ccc");
  EXPECT_EQ(m.nosplit_frames, 0u);
  // All frames are slices of one allocation.
  EXPECT_EQ(m.frames[0].owner(), m.frames[2].owner());
}

TEST(FrameDecoderTest, RefusesHugeFrameBeforeAllocating) {
  std::string wire = U64(24 + (uint64_t{1} << 63)) + U64(1) + U64(uint64_t{1} << 63);
  FrameDecoder d;
  Status st = d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  EXPECT_EQ(st.code(), StatusCode::kOutOfMemory) << st.ToString();
  // Poisoned: nothing more is accepted.
  EXPECT_FALSE(d.Consume(reinterpret_cast<const uint8_t*>("x"), 1).ok());
  EXPECT_TRUE(d.WritableRegion().empty());
}

TEST(FrameEncoderTest, LargeFramesAreLeftOutOfTheNosplitLength) {
  std::string big(kSeparateFrameBytes, 'a');
  // Small frames only: all under nosplit, as before.
  EXPECT_EQ(NosplitFrames(Frames({"hdr", "sub", "x"})), 3u);
  // The message header stays even when large; the first large frame after it and all
  // that follow are read into buffers of their own.
  std::vector<Buffer> frames = Frames({big, "sub", big, "tail"});
  ASSERT_EQ(NosplitFrames(frames), 2u);
  std::string wire = EncodeFramedMessage(frames, NosplitFrames(frames));
  uint64_t nosplit = 0;
  std::memcpy(&nosplit, wire.data(), 8);
  EXPECT_EQ(nosplit, 8 * (1 + 4) + big.size() + 3);
  // Our decoder (and stock's reader) accepts it and gives back the same frames.
  FrameDecoder d;
  ASSERT_OK(d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()));
  ASSERT_TRUE(d.HasMessage());
  FramedMessage m = d.Pop();
  ASSERT_EQ(m.frames.size(), 4u);
  EXPECT_EQ(m.frames[2].size(), big.size());
  EXPECT_EQ(m.frames[3].view(), "tail");
  EXPECT_EQ(m.nosplit_frames, 2u);
}

TEST(FrameDecoderTest, RefusesTooManyFramesAndBadNosplit) {
  FrameLimits limits;
  limits.max_frames = 4;
  {
    std::string wire = U64(48) + U64(5);
    FrameDecoder d(limits);
    EXPECT_EQ(d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()).code(),
              StatusCode::kOutOfMemory);
  }
  {
    // nosplit 20 is neither the prelude (16) nor prelude + frame 0 (16 + 10).
    std::string wire = U64(20) + U64(1) + U64(10) + std::string(10, 'x');
    FrameDecoder d;
    EXPECT_EQ(d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()).code(),
              StatusCode::kProtocolError);
  }
  for (uint64_t short_nosplit : {0, 1, 8, 15}) {
    // Refused on its first 8 bytes: nothing after them could make it whole.
    std::string wire = U64(short_nosplit);
    FrameDecoder d;
    EXPECT_EQ(d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()).code(),
              StatusCode::kProtocolError)
        << short_nosplit;
  }
  {
    std::string wire = U64(8) + U64(0);
    FrameDecoder d;
    EXPECT_EQ(d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()).code(),
              StatusCode::kProtocolError);
  }
  {
    FrameLimits small;
    small.max_message_bytes = 15;
    std::string wire = U64(32) + U64(2) + U64(8) + U64(8);
    FrameDecoder d(small);
    EXPECT_EQ(d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()).code(),
              StatusCode::kOutOfMemory);
  }
}

}  // namespace
}  // namespace dn
