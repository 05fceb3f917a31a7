#include "protocol/msgpack/msgpack_codec.h"

#include <gtest/gtest.h>

#include <limits>

#include "tests/testing/test_util.h"

namespace dn {
namespace {

Buffer Bytes(std::initializer_list<uint8_t> b) {
  return Buffer::CopyFrom(std::string(b.begin(), b.end()));
}

std::string Encode(const Value& v) {
  std::string out;
  EXPECT_TRUE(EncodeMsgpack(v, &out).ok());
  return out;
}

TEST(MsgpackTest, IntegersUsePythonsMinimalForms) {
  EXPECT_EQ(Encode(Value(5)), "\x05");
  EXPECT_EQ(Encode(Value(200)), std::string("\xcc\xc8", 2));
  EXPECT_EQ(Encode(Value(-1)), "\xff");
  EXPECT_EQ(Encode(Value(-33)), std::string("\xd0\xdf", 2));
  EXPECT_EQ(Encode(Value(std::numeric_limits<uint64_t>::max())),
            std::string("\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9));
  EXPECT_EQ(Encode(Value(std::numeric_limits<int64_t>::min())),
            std::string("\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9));
  // 1.0 stays a float64 (0xcb), never an int.
  EXPECT_EQ(Encode(Value(1.0)).substr(0, 1), "\xcb");
  // Same value across int64/uint64.
  EXPECT_EQ(Value(uint64_t{7}), Value(int64_t{7}));
}

TEST(MsgpackTest, StrAndBinStayDistinct) {
  ASSERT_OK_AND_ASSIGN(Value s, DecodeMsgpack(Bytes({0xa2, 'h', 'i'})));
  ASSERT_OK_AND_ASSIGN(Value b, DecodeMsgpack(Bytes({0xc4, 0x02, 'h', 'i'})));
  EXPECT_TRUE(s.is<std::string>());
  EXPECT_TRUE(b.is<Bin>());
  EXPECT_FALSE(s == b);
  EXPECT_EQ(Encode(s), std::string("\xa2hi"));
  EXPECT_EQ(Encode(b), std::string("\xc4\x02hi", 4));
  // str8 is used for 32..255 bytes, as Python's use_bin_type packer does.
  EXPECT_EQ(Encode(Value(std::string(40, 'a'))).substr(0, 2), std::string("\xd9\x28", 2));
}

TEST(MsgpackTest, MapsKeepOrderAndNonStringKeys) {
  Map m;
  m.push_back({Value(Array{Value("x"), Value(0)}), Value(1)});
  m.push_back({Value(3), Value()});
  Value v(std::move(m));
  std::string bytes = Encode(v);
  ASSERT_OK_AND_ASSIGN(Value back, DecodeMsgpack(Buffer::FromString(bytes)));
  EXPECT_EQ(back, v);
  EXPECT_EQ(Encode(back), bytes);
}

TEST(MsgpackTest, SetConvention) {
  Value v(Set{{Value("a"), Value(1)}});
  std::string bytes = Encode(v);
  ASSERT_OK_AND_ASSIGN(Value plain,
                       DecodeMsgpack(Buffer::FromString(bytes), MapConvention::kPlain));
  EXPECT_TRUE(plain.is<Map>());
  ASSERT_OK_AND_ASSIGN(Value set, DecodeMsgpack(Buffer::FromString(bytes)));
  ASSERT_TRUE(set.is<Set>());
  EXPECT_EQ(set.get_if<Set>()->items.size(), 2u);
  EXPECT_EQ(Encode(set), bytes);
}

TEST(MsgpackTest, RejectsMalformedInput) {
  EXPECT_FALSE(DecodeMsgpack(Bytes({0x92, 0x01})).ok());        // truncated array
  EXPECT_FALSE(DecodeMsgpack(Bytes({0x01, 0x02})).ok());        // trailing bytes
  EXPECT_FALSE(DecodeMsgpack(Bytes({0xa2, 0xc3, 0x28})).ok());  // invalid UTF-8
  EXPECT_FALSE(DecodeMsgpack(Bytes({0xd4, 0x01, 0x00})).ok());  // ext
  EXPECT_FALSE(DecodeMsgpack(Bytes({0xc1})).ok());              // never-used byte
  EXPECT_FALSE(DecodeMsgpack(Buffer()).ok());
  // A 5-byte header claiming 4 billion elements allocates nothing big.
  EXPECT_FALSE(DecodeMsgpack(Bytes({0xdd, 0xff, 0xff, 0xff, 0xff})).ok());
}

TEST(MsgpackTest, DepthAndSizeLimits) {
  std::string deep(1000, '\x91');
  deep.push_back('\xc0');
  Status st = DecodeMsgpack(Buffer::FromString(deep)).status();
  EXPECT_EQ(st.code(), StatusCode::kProtocolError) << st.ToString();
  MsgpackLimits limits;
  limits.max_values = 3;
  EXPECT_EQ(DecodeMsgpack(Bytes({0x93, 1, 2, 3}), MapConvention::kSets, limits).status().code(),
            StatusCode::kOutOfMemory);
  EXPECT_TRUE(DecodeMsgpack(Bytes({0x92, 1, 2}), MapConvention::kSets, limits).ok());
}

TEST(MsgpackTest, BinsShareTheInputBuffer) {
  Buffer in = Bytes({0xc4, 0x03, 'a', 'b', 'c'});
  ASSERT_OK_AND_ASSIGN(Value v, DecodeMsgpack(in));
  EXPECT_EQ(v.get_if<Bin>()->data.data(), in.data() + 2);
}

TEST(Utf8Test, PythonStrictRules) {
  EXPECT_TRUE(IsValidUtf8("h\xc3\xa9llo \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
}

}  // namespace
}  // namespace dn
