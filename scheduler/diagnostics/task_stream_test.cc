#include "scheduler/diagnostics/task_stream.h"

#include <gtest/gtest.h>

namespace dn {
namespace {

Value StartStops(double start, double stop) {
  return Value(Array{Value(Map{{Value("action"), Value("compute")},
                               {Value("start"), Value(start)},
                               {Value("stop"), Value(stop)}})});
}

Value Finished(const std::string& key, double start, double stop) {
  return Value(Map{{Value("key"), Value(key)},
                   {Value("run_id"), Value(7)},
                   {Value("nbytes"), Value(28)},
                   {Value("type"), Value(Bin{Buffer::CopyFrom("pickled-int")})},
                   {Value("typename"), Value("int")},
                   {Value("metadata"), Value(Map{})},
                   {Value("thread"), Value(123)},
                   {Value("startstops"), StartStops(start, stop)},
                   {Value("op"), Value("task-finished")},
                   {Value("stimulus_id"), Value("task-finished-1.0")},
                   {Value("status"), Value("OK")}});
}

std::vector<std::string> FieldNames(const Value& record) {
  std::vector<std::string> out;
  for (const MapEntry& e : *record.map()) out.push_back(*e.key.str());
  return out;
}

std::vector<std::string> KeysOf(const Value& records) {
  std::vector<std::string> out;
  for (const Value& r : *records.array()) out.push_back(*r.Find("key")->str());
  return out;
}

TEST(TaskStreamTest, RecordsHaveTheFieldsStocksPluginSees) {
  Value r = TaskStream::Record(Finished("x", 1, 2), "tcp://w:1", "task-finished-1.0");
  EXPECT_EQ(FieldNames(r),
            (std::vector<std::string>{"stimulus_id", "worker", "metadata", "nbytes", "type",
                                      "typename", "thread", "startstops", "status", "key"}));
  EXPECT_EQ(*r.Find("worker"), Value("tcp://w:1"));
  EXPECT_EQ(*r.Find("key"), Value("x"));

  Value erred(Map{{Value("key"), Value("y")},
                  {Value("run_id"), Value(1)},
                  {Value("exception"), Value(Bin{Buffer::CopyFrom("exc")})},
                  {Value("traceback"), Value()},
                  {Value("exception_text"), Value("ValueError()")},
                  {Value("traceback_text"), Value("")},
                  {Value("thread"), Value(1)},
                  {Value("startstops"), StartStops(1, 2)},
                  {Value("op"), Value("task-erred")},
                  {Value("stimulus_id"), Value("s")},
                  {Value("status"), Value("error")}});
  r = TaskStream::Record(erred, "tcp://w:1", "s");
  EXPECT_EQ(FieldNames(r),
            (std::vector<std::string>{"stimulus_id", "cause", "worker", "exception", "traceback",
                                      "exception_text", "traceback_text", "thread", "startstops",
                                      "status", "key"}));
  EXPECT_EQ(*r.Find("cause"), Value("y"));
}

TEST(TaskStreamTest, TheIndexCountsEveryRecordAndTheBufferKeepsTheLast) {
  TaskStream s(3);
  for (int i = 0; i < 5; ++i) {
    s.Append(TaskStream::Record(Finished("k" + std::to_string(i), i, i + 0.5), "w", "s"));
  }
  EXPECT_EQ(s.index(), 5);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(KeysOf(s.Collect({})), (std::vector<std::string>{"k2", "k3", "k4"}));
  // start_index: what came after a cursor; one older than the buffer gives all it holds.
  EXPECT_EQ(KeysOf(s.Collect({.start_index = 4})), (std::vector<std::string>{"k4"}));
  EXPECT_EQ(KeysOf(s.Collect({.start_index = 0})), (std::vector<std::string>{"k2", "k3", "k4"}));
  EXPECT_EQ(KeysOf(s.Collect({.start_index = 9})), (std::vector<std::string>{}));
}

TEST(TaskStreamTest, TimeBoundsAndCountSelectAsStockDoes) {
  TaskStream s(100);
  for (int i = 0; i < 5; ++i) {
    s.Append(TaskStream::Record(Finished("k" + std::to_string(i), i, i + 0.5), "w", "s"));
  }
  EXPECT_EQ(KeysOf(s.Collect({.start = 2.0})), (std::vector<std::string>{"k2", "k3", "k4"}));
  EXPECT_EQ(KeysOf(s.Collect({.start = 1.0, .stop = 3.0})), (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(KeysOf(s.Collect({.count = 2})), (std::vector<std::string>{"k3", "k4"}));
  EXPECT_EQ(KeysOf(s.Collect({.start = 1.0, .count = 2})), (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(KeysOf(s.Collect({.stop = 2.0, .count = 5})), (std::vector<std::string>{"k0", "k1"}));
}

}  // namespace
}  // namespace dn
