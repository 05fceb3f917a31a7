#include "protocol/messages/message_codec.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "protocol/frame/frame_decoder.h"
#include "protocol/frame/frame_encoder.h"
#include "protocol/messages/handshake.h"
#include "protocol/messages/key.h"
#include "protocol/pickle/pickle_reader.h"
#include "tests/testing/test_util.h"

namespace dn {
namespace {

struct Decoded {
  FramedMessage framed;
  Value value;
};

Decoded DecodeVector(const std::string& name) {
  Buffer wire = testing::ReadFile(testing::SharedDir() / "vectors" / name);
  FrameDecoder d;
  Status st = d.Consume(wire.data(), wire.size());
  EXPECT_TRUE(st.ok()) << name << ": " << st.ToString();
  EXPECT_TRUE(d.HasMessage()) << name;
  Decoded out;
  if (!d.HasMessage()) return out;
  out.framed = d.Pop();
  auto v = DecodeMessage(out.framed.frames);
  EXPECT_TRUE(v.ok()) << name << ": " << v.status().ToString();
  if (v.ok()) out.value = *v;
  return out;
}

TEST(MessageCodecTest, HandshakeFields) {
  Decoded d = DecodeVector("wire/handshake_scheduler_to_client.bin");
  ASSERT_OK_AND_ASSIGN(Handshake h, Handshake::FromValue(d.value));
  EXPECT_FALSE(h.compression.has_value());
  EXPECT_EQ(h.pickle_protocol, 5);
  EXPECT_EQ(h.python, (std::vector<int64_t>{3, 11, 2}));
  // Our encoding of the same handshake is byte-identical to the capture.
  ASSERT_OK_AND_ASSIGN(auto frames, EncodeMessage(h.ToValue()));
  Buffer wire =
      testing::ReadFile(testing::SharedDir() / "vectors/wire/handshake_scheduler_to_client.bin");
  EXPECT_EQ(EncodeFramedMessage(frames), std::string(wire.view()));
}

TEST(MessageCodecTest, HandshakeNegotiation) {
  Handshake a, b;
  b.pickle_protocol = 4;
  a.compression = "lz4";
  CommSettings s = Negotiate(a, b);
  EXPECT_EQ(s.pickle_protocol, 4);
  EXPECT_FALSE(s.compression.has_value());
  b.compression = "lz4";
  EXPECT_EQ(Negotiate(a, b).compression, "lz4");
  Map missing;
  missing.push_back({Value("compression"), Value()});
  EXPECT_FALSE(Handshake::FromValue(Value(missing)).ok());
}

TEST(MessageCodecTest, ComputeTaskWithPickledRunSpec) {
  Decoded d = DecodeVector("wire/compute_task.bin");
  const Array* batch = d.value.array();
  ASSERT_NE(batch, nullptr);
  ASSERT_EQ(batch->size(), 1u);
  const Value& msg = (*batch)[0];
  EXPECT_EQ(OpOf(msg), "compute-task");
  const Value* run_spec = msg.Find("run_spec");
  ASSERT_NE(run_spec, nullptr);
  ASSERT_TRUE(run_spec->is<Pickled>());
  EXPECT_GT(run_spec->get_if<Pickled>()->pickled_obj().size(), 100u);
  for (const char* field : {"key", "run_id", "priority", "stimulus_id", "who_has", "nbytes",
                            "resource_restrictions", "actor", "annotations", "span_id"}) {
    EXPECT_NE(msg.Find(field), nullptr) << field;
  }
}

TEST(MessageCodecTest, GetDataReplyCarriesSerializedArrays) {
  Decoded d = DecodeVector("wire/get_data_reply_worker_to_worker.bin");
  EXPECT_EQ(*d.value.Find("status")->str(), "OK");
  const Map* data = d.value.Find("data")->map();
  ASSERT_NE(data, nullptr);
  ASSERT_EQ(data->size(), 2u);
  for (const MapEntry& e : *data) {
    ASSERT_OK_AND_ASSIGN(Key k, Key::FromValue(e.key));
    EXPECT_TRUE(k.is_tuple());
    ASSERT_TRUE(e.value.is<Serialized>());
    EXPECT_EQ(e.value.get_if<Serialized>()->frames.size(), 1u);
  }
}

TEST(MessageCodecTest, GetDataRequestKeysAreASet) {
  Decoded d = DecodeVector("wire/get_data_request_worker_to_worker.bin");
  EXPECT_EQ(OpOf(d.value), "get_data");
  EXPECT_TRUE(d.value.Find("keys")->is<Set>());
}

// Every capture re-encodes to the same frames, and the same bytes with its nosplit.
TEST(MessageCodecTest, AllCapturesRoundTripByteForByte) {
  int count = 0;
  for (const char* dir : {"wire", "synthetic"}) {
    for (const auto& e :
         std::filesystem::directory_iterator(testing::SharedDir() / "vectors" / dir)) {
      if (e.path().extension() != ".bin") continue;
      std::string name = std::string(dir) + "/" + e.path().filename().string();
      Decoded d = DecodeVector(name);
      ASSERT_OK_AND_ASSIGN(auto frames, EncodeMessage(d.value));
      ASSERT_EQ(frames.size(), d.framed.frames.size()) << name;
      for (size_t i = 0; i < frames.size(); ++i) {
        EXPECT_TRUE(frames[i].Equals(d.framed.frames[i])) << name << " frame " << i;
      }
      Buffer wire = testing::ReadFile(e.path());
      EXPECT_EQ(EncodeFramedMessage(frames, d.framed.nosplit_frames), std::string(wire.view()))
          << name;
      ++count;
    }
  }
  EXPECT_GE(count, 60);
}

TEST(MessageCodecTest, TypedErrorCarriesAPickledBuiltinException) {
  Value reply = TypedErrorMessage("TimeoutError", "Task 'x' unknown to scheduler.");
  EXPECT_EQ(*reply.Find("status")->str(), "uncaught-error");
  EXPECT_EQ(*reply.Find("exception_text")->str(), "TimeoutError: Task 'x' unknown to scheduler.");
  // clean_exception unpickles bin exceptions; the pickle is builtins.TimeoutError(text).
  const Bin* bin = reply.Find("exception")->get_if<Bin>();
  ASSERT_NE(bin, nullptr);
  ASSERT_OK_AND_ASSIGN(PickleTree t, ReadPickle(bin->data));
  const PickleNode& root = t.node(t.root());
  ASSERT_EQ(root.kind, PickleKind::kReduce);
  EXPECT_TRUE(t.IsGlobal(root.items[0], "builtins", "TimeoutError"));
  const PickleNode& args = t.node(root.items[1]);
  ASSERT_EQ(args.items.size(), 1u);
  EXPECT_EQ(t.str(args.items[0]), "Task 'x' unknown to scheduler.");
}

TEST(MessageCodecTest, PlaceholderPastTheEndIsAnError) {
  Map m;
  m.push_back({Value("__Serialized__"), Value(3)});
  std::string f0;
  ASSERT_OK(EncodeMsgpack(Value(m), &f0));
  std::vector<Buffer> frames = {Buffer::FromString(f0)};
  EXPECT_EQ(DecodeMessage(frames).status().code(), StatusCode::kProtocolError);
}

TEST(MessageCodecTest, CompressedFramesDecompress) {
  Decoded d = DecodeVector("synthetic/zstd_compressed_bytes.bin");
  const Serialized* s = d.value.Find("data")->get_if<Serialized>();
  ASSERT_NE(s, nullptr);
  ASSERT_OK_AND_ASSIGN(auto frames, DecompressSubFrames(s->header, s->frames));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].size(), 60000u);
  EXPECT_EQ(frames[0].view().substr(0, 6), "abcabc");
}

}  // namespace
}  // namespace dn
