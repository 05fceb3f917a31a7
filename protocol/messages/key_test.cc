#include "protocol/messages/key.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <unordered_set>

namespace dn {
namespace {

TEST(KeyTest, PythonEqualityAndHash) {
  EXPECT_EQ(Key(int64_t{1}), Key(1.0));
  EXPECT_EQ(Key(int64_t{1}).Hash(), Key(1.0).Hash());
  EXPECT_NE(Key(int64_t{1}), Key(1.5));
  EXPECT_NE(Key(std::string("1")), Key(int64_t{1}));
  Key t1(Key::Tuple{Key(std::string("x")), Key(int64_t{0})});
  Key t2(Key::Tuple{Key(std::string("x")), Key(0.0)});
  EXPECT_EQ(t1, t2);
  EXPECT_EQ(t1.Hash(), t2.Hash());
  EXPECT_NE(t1, Key(std::string("x")));
  std::unordered_set<Key, KeyHash> set{t1, Key(std::string("a"))};
  EXPECT_EQ(set.count(t2), 1u);
  EXPECT_EQ(t1.Repr(), "('x', 0)");
  EXPECT_EQ(Key(Key::Tuple{Key(std::string("y"))}).Repr(), "('y',)");
}

TEST(KeyTest, FromWireValue) {
  Value v(Array{Value("sum-abc"), Value(1), Value(2)});
  auto k = Key::FromValue(v);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->ToValue(), v);
  EXPECT_FALSE(Key::FromValue(Value()).ok());
  EXPECT_FALSE(Key::FromValue(Value(Map{})).ok());
}

// pickle.dumps(value, protocol=5) of numpy 2 scalars, as the stock scheduler's msgpack
// fallback sends them inside keys.
constexpr std::string_view kInt64One =
    "8005956a000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c6172949394"
    "8c056e756d7079948c0564747970659493948c02693894898887945294284b038c013c944e4e4e4affffffff4affff"
    "ffff4b007494624308010000000000000094869452942e";
constexpr std::string_view kInt16MinusThree =
    "80059564000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c6172949394"
    "8c056e756d7079948c0564747970659493948c02693294898887945294284b038c013c944e4e4e4affffffff4affff"
    "ffff4b007494624302fdff94869452942e";
constexpr std::string_view kUint8Seven =
    "80059563000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c6172949394"
    "8c056e756d7079948c0564747970659493948c02753194898887945294284b038c017c944e4e4e4affffffff4affff"
    "ffff4b0074946243010794869452942e";
constexpr std::string_view kFloat64TwoAndAHalf =
    "8005956a000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c6172949394"
    "8c056e756d7079948c0564747970659493948c02663894898887945294284b038c013c944e4e4e4affffffff4affff"
    "ffff4b007494624308000000000000044094869452942e";
constexpr std::string_view kComplex128I =
    "80059573000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c6172949394"
    "8c056e756d7079948c0564747970659493948c0363313694898887945294284b038c013c944e4e4e4affffffff4aff"
    "ffffff4b0074946243100000000000000000000000000000f03f94869452942e";

Value PickledHex(std::string_view hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    bytes.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  Pickled p;
  p.header.push_back(MapEntry{Value("pickled-obj"), Value(Bin{Buffer::FromString(bytes)})});
  return Value(std::move(p));
}

TEST(KeyTest, PickledNumpyScalarsAreThePythonNumbersTheyEqual) {
  Value key(Array{Value("array-abc"), PickledHex(kInt64One), Value(0)});
  auto k = Key::FromValue(key);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(*k, Key(Key::Tuple{Key(std::string("array-abc")), Key(int64_t{1}), Key(int64_t{0})}));
  // Replies carry the plain numbers, which the stock scheduler's dict finds.
  EXPECT_EQ(k->ToValue(), Value(Array{Value("array-abc"), Value(1), Value(0)}));

  EXPECT_EQ(*Key::FromValue(PickledHex(kInt16MinusThree)), Key(int64_t{-3}));
  EXPECT_EQ(*Key::FromValue(PickledHex(kUint8Seven)), Key(int64_t{7}));
  EXPECT_EQ(*Key::FromValue(PickledHex(kFloat64TwoAndAHalf)), Key(2.5));
  // Not a number a key can hold (Python would allow it; dask keys never do).
  EXPECT_FALSE(Key::FromValue(PickledHex(kComplex128I)).ok());
  // Truncated pickles are an error, never a crash.
  EXPECT_FALSE(Key::FromValue(PickledHex(kInt64One.substr(0, 60))).ok());
}

TEST(KeyTest, KeySplitDocExamples) {
  // The doctests of dask/utils.py:key_split; tests/protocol checks many more keys
  // against the pinned dask itself.
  EXPECT_EQ(KeySplit("x"), "x");
  EXPECT_EQ(KeySplit("x-1"), "x");
  EXPECT_EQ(KeySplit("x-1-2-3"), "x");
  EXPECT_EQ(KeySplit(Key(Key::Tuple{Key(std::string("x-2")), Key(int64_t{1})})), "x");
  EXPECT_EQ(KeySplit("('x-2', 1)"), "x");
  EXPECT_EQ(KeySplit("('x', 1)"), "x");
  EXPECT_EQ(KeySplit("hello-world-1"), "hello-world");
  EXPECT_EQ(KeySplit("ae05086432ca935f6eba409a8ecd4896"), "data");
  EXPECT_EQ(KeySplit("<module.submodule.myclass object at 0xdaf372"), "myclass");
  EXPECT_EQ(KeySplit("x-abcdefab"), "x");
  EXPECT_EQ(KeySplit("_(x)"), "x");
  EXPECT_EQ(KeySplit(Key(int64_t{5})), "Other");
  EXPECT_EQ(KeySplit(""), "Other");
  EXPECT_EQ(KeySplit("random_sample-630a3c1d2f0b4b5e8c3e6f1a2b3c4d5e"), "random_sample");
}

}  // namespace
}  // namespace dn
