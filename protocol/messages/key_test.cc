#include "protocol/messages/key.h"

#include <gtest/gtest.h>

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
