#include "scheduler/state/task_metadata.h"

#include <gtest/gtest.h>

namespace dn {
namespace {

Value Get(const TaskMetadata& m, const Array& keys, const Value* def = nullptr) {
  auto got = m.Get(keys, def);
  if (const PyException* e = std::get_if<PyException>(&got)) {
    ADD_FAILURE() << e->type << ": " << e->text;
    return Value();
  }
  return std::get<Value>(got);
}

PyException Error(const TaskMetadata& m, const Array& keys, const Value* def = nullptr) {
  auto got = m.Get(keys, def);
  if (const PyException* e = std::get_if<PyException>(&got)) return *e;
  ADD_FAILURE() << "no error: " << std::get<Value>(got).ToDebugString();
  return {};
}

// The docstring example of Client.set_metadata.
TEST(TaskMetadataTest, NestedDictsAreMadeOnDemand) {
  TaskMetadata m;
  EXPECT_FALSE(m.Set({Value("x"), Value("y")}, Value(123)).has_value());
  EXPECT_EQ(Get(m, {Value("x")}), Value(Map{{Value("y"), Value(123)}}));
  EXPECT_FALSE(m.Set({Value("x"), Value("w"), Value("z")}, Value(456)).has_value());
  EXPECT_EQ(Get(m, {Value("x")}), Value(Map{{Value("y"), Value(123)},
                                            {Value("w"), Value(Map{{Value("z"), Value(456)}})}}));
  EXPECT_EQ(Get(m, {Value("x"), Value("w")}), Value(Map{{Value("z"), Value(456)}}));
  EXPECT_EQ(Get(m, {}), Value(Map{{Value("x"), Get(m, {Value("x")})}}));
}

TEST(TaskMetadataTest, SettingThroughAScalarReplacesItWithADict) {
  TaskMetadata m;
  ASSERT_FALSE(m.Set({Value("a")}, Value(1)).has_value());
  ASSERT_FALSE(m.Set({Value("a"), Value("b")}, Value(2)).has_value());
  EXPECT_EQ(Get(m, {Value("a")}), Value(Map{{Value("b"), Value(2)}}));
  // A dict set as a value is walked into and extended in place.
  ASSERT_FALSE(m.Set({Value("d")}, Value(Map{{Value("k"), Value(1)}})).has_value());
  ASSERT_FALSE(m.Set({Value("d"), Value("j")}, Value(2)).has_value());
  EXPECT_EQ(Get(m, {Value("d"), Value("k")}), Value(1));
  EXPECT_EQ(Get(m, {Value("d"), Value("j")}), Value(2));
}

TEST(TaskMetadataTest, MissingKeysAreKeyErrorsUnlessADefaultIsGiven) {
  TaskMetadata m;
  ASSERT_FALSE(m.Set({Value("a"), Value("b")}, Value(1)).has_value());
  PyException e = Error(m, {Value("a"), Value("c")});
  EXPECT_EQ(e.type, "KeyError");
  EXPECT_EQ(e.text, "c");
  const Value def("fallback");
  EXPECT_EQ(Get(m, {Value("a"), Value("c")}, &def), def);
  EXPECT_EQ(Get(m, {Value("zz")}, &def), def);
}

TEST(TaskMetadataTest, TuplesAreIndexedAndOtherValuesAreNotSubscriptable) {
  TaskMetadata m;
  ASSERT_FALSE(m.Set({Value("t")}, Value(Array{Value(10), Value(20)})).has_value());
  EXPECT_EQ(Get(m, {Value("t"), Value(-1)}), Value(20));
  const Value def(0);
  // Only a KeyError falls back to the default, as in stock.
  EXPECT_EQ(Error(m, {Value("t"), Value(2)}, &def).type, "IndexError");
  EXPECT_EQ(Error(m, {Value("t"), Value("x")}, &def).type, "TypeError");
  ASSERT_FALSE(m.Set({Value("n")}, Value(5)).has_value());
  PyException e = Error(m, {Value("n"), Value("x")}, &def);
  EXPECT_EQ(e.type, "TypeError");
  EXPECT_EQ(e.text, "'int' object is not subscriptable");
}

TEST(TaskMetadataTest, KeysCompareAsPythonDictKeys) {
  TaskMetadata m;
  ASSERT_FALSE(m.Set({Value(Array{Value("x"), Value(1)})}, Value("tuple")).has_value());
  ASSERT_FALSE(m.Set({Value(1)}, Value("int")).has_value());
  EXPECT_EQ(Get(m, {Value(Array{Value("x"), Value(1)})}), Value("tuple"));
  EXPECT_EQ(Get(m, {Value(1.0)}), Value("int"));  // 1 == 1.0
  EXPECT_EQ(m.Set({}, Value(1))->type, "IndexError");
}

TEST(TaskMetadataTest, ForgetDropsOnlyThatTopLevelEntry) {
  TaskMetadata m;
  ASSERT_FALSE(m.Set({Value("x"), Value("a")}, Value(1)).has_value());
  ASSERT_FALSE(m.Set({Value("y")}, Value(2)).has_value());
  m.Forget(Key("x"));
  m.Forget(Key("never-set"));
  EXPECT_EQ(Error(m, {Value("x")}).type, "KeyError");
  EXPECT_EQ(Get(m, {Value("y")}), Value(2));
  m.Forget(Key("y"));
  EXPECT_TRUE(m.empty());
}

}  // namespace
}  // namespace dn
