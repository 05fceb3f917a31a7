#include <algorithm>

#include <gtest/gtest.h>

#include "protocol/messages/message_codec.h"
#include "scheduler/state/scheduler_state.h"

namespace dn {
namespace {

const Stimulus kStim{"test-stimulus", 0};
const std::string kWorker = "tcp://w1:1";

GraphTask T(const std::string& key, std::vector<std::string> deps = {}) {
  GraphTask t;
  t.key = Key(key);
  for (auto& d : deps) t.dependencies.push_back(Key(d));
  t.run_spec.header = {{Value("pickled-obj"), Value(Bin{Buffer::CopyFrom("p")})},
                       {Value("num-sub-frames"), Value(0)}};
  return t;
}

std::unique_ptr<WorkerState> W(const std::string& addr) {
  auto ws = std::make_unique<WorkerState>();
  ws->address = addr;
  ws->name = Value(addr);
  ws->nthreads = 1;
  ws->status = "running";
  return ws;
}

// The messages of `out` to `to` with op `op`, by key.
std::vector<Value> Keys(const Array& msgs, std::string_view op) {
  std::vector<Value> keys;
  for (const Value& m : msgs) {
    if (OpOf(m) == op) keys.push_back(*m.Find("key"));
  }
  return keys;
}

int64_t RunId(const Outbox& out, const std::string& key) {
  for (const Value& m : out.to_workers.at(kWorker)) {
    if (OpOf(m) == "compute-task" && *m.Find("key") == Value(key)) {
      return *m.Find("run_id")->get_if<int64_t>();
    }
  }
  ADD_FAILURE() << "no compute-task for " << key;
  return -1;
}

// a -> b, both wanted by client "c"; a fails, so both are erred.
class RetryTest : public ::testing::Test {
 protected:
  RetryTest() : state_(SchedulerConfig{1.1, 3, /*validate=*/true}) {
    EXPECT_TRUE(state_.AddWorker(W(kWorker), kStim).ok());
    state_.AddClient("c", kStim);
    state_.UpdateGraph("c", {T("a"), T("b", {"a"})}, {Key("a"), Key("b")}, kStim);
    int64_t run = RunId(state_.TakeOutbox(), "a");
    EXPECT_TRUE(state_.TaskErred(kWorker, Key("a"), run, Value("boom"), Value(), kStim));
    state_.TakeOutbox();
  }
  SchedulerState state_;
};

TEST_F(RetryTest, RetryingADependentRunsTheErredInputAgainAndReportsBothAsRetried) {
  ASSERT_EQ(state_.task(Key("b"))->status, TaskStatus::kErred);
  auto seen = state_.Retry({Key("b")}, kStim);
  ASSERT_TRUE(seen.ok());
  std::vector<Key> keys = *seen;
  ASSERT_EQ(keys.size(), 2u);  // stock returns every key it walked
  EXPECT_NE(std::find(keys.begin(), keys.end(), Key("a")), keys.end());
  EXPECT_NE(std::find(keys.begin(), keys.end(), Key("b")), keys.end());

  Outbox out = state_.TakeOutbox();
  std::vector<Value> retried = Keys(out.to_clients["c"], "task-retried");
  EXPECT_EQ(retried.size(), 2u);
  EXPECT_EQ(state_.task(Key("a"))->status, TaskStatus::kProcessing);
  EXPECT_EQ(state_.task(Key("b"))->status, TaskStatus::kWaiting);
  EXPECT_EQ(state_.task(Key("a"))->exception_blame, nullptr);
  EXPECT_EQ(state_.task(Key("b"))->exception_blame, nullptr);

  // This time it works: b runs and both reach memory.
  EXPECT_TRUE(state_.TaskFinished(kWorker, Key("a"), RunId(out, "a"), 8, {}, "int", kStim));
  out = state_.TakeOutbox();
  EXPECT_TRUE(state_.TaskFinished(kWorker, Key("b"), RunId(out, "b"), 8, {}, "int", kStim));
  EXPECT_EQ(state_.task(Key("b"))->status, TaskStatus::kMemory);
  EXPECT_TRUE(state_.Validate().ok());
}

TEST_F(RetryTest, AnUnknownKeyIsNotFoundAndChangesNothing) {
  auto seen = state_.Retry({Key("b"), Key("nope")}, kStim);
  ASSERT_FALSE(seen.ok());
  EXPECT_EQ(seen.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(seen.status().message(), "nope");
  EXPECT_EQ(state_.task(Key("a"))->status, TaskStatus::kErred);
  EXPECT_TRUE(state_.TakeOutbox().empty());
}

TEST_F(RetryTest, FailingAgainErrsAgain) {
  ASSERT_TRUE(state_.Retry({Key("a")}, kStim).ok());
  Outbox out = state_.TakeOutbox();
  // Retrying the input alone brings its erred dependent back too.
  EXPECT_EQ(state_.task(Key("b"))->status, TaskStatus::kWaiting);
  EXPECT_TRUE(state_.TaskErred(kWorker, Key("a"), RunId(out, "a"), Value("again"), Value(), kStim));
  out = state_.TakeOutbox();
  EXPECT_EQ(Keys(out.to_clients["c"], "task-erred").size(), 2u);
  EXPECT_EQ(state_.task(Key("b"))->status, TaskStatus::kErred);
}

TEST(TaskReportsTest, StaleReportsAreNotTransitions) {
  SchedulerState state(SchedulerConfig{1.1, 3, true});
  ASSERT_TRUE(state.AddWorker(W(kWorker), kStim).ok());
  state.UpdateGraph("c", {T("x")}, {Key("x")}, kStim);
  int64_t run = RunId(state.TakeOutbox(), "x");
  EXPECT_FALSE(state.TaskFinished(kWorker, Key("x"), run + 1, 8, {}, "int", kStim));
  EXPECT_FALSE(state.TaskErred(kWorker, Key("x"), run + 1, Value("e"), Value(), kStim));
  EXPECT_TRUE(state.TaskFinished(kWorker, Key("x"), run, 8, {}, "int", kStim));
  EXPECT_FALSE(state.TaskFinished(kWorker, Key("x"), run, 8, {}, "int", kStim));
}

TEST(SetRestrictionsTest, RestrictionsApplyAtTheNextPlacementAndUnknownKeysAreNotFound) {
  SchedulerState state(SchedulerConfig{1.1, 3, true});
  state.UpdateGraph("c", {T("x")}, {Key("x")}, kStim);  // no worker yet: no-worker
  ASSERT_TRUE(state.SetRestrictions({{Key("x"), {"tcp://w2:1"}}}).ok());
  ASSERT_TRUE(state.AddWorker(W("tcp://w1:1"), kStim).ok());
  EXPECT_EQ(state.task(Key("x"))->status, TaskStatus::kNoWorker);
  ASSERT_TRUE(state.AddWorker(W("tcp://w2:1"), kStim).ok());
  EXPECT_EQ(state.task(Key("x"))->processing_on->address, "tcp://w2:1");

  Status st = state.SetRestrictions({{Key("x"), {}}, {Key("y"), {"w"}}});
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_TRUE(state.task(Key("x"))->worker_restrictions.empty());  // set before the error
}

TEST(TaskMetadataLifetimeTest, ATasksEntryGoesWhenTheTaskIsForgotten) {
  SchedulerState state(SchedulerConfig{1.1, 3, true});
  ASSERT_TRUE(state.AddWorker(W(kWorker), kStim).ok());
  state.UpdateGraph("c", {T("x")}, {Key("x")}, kStim);
  ASSERT_FALSE(state.task_metadata().Set({Value("x"), Value("note")}, Value(1)).has_value());
  ASSERT_FALSE(state.task_metadata().Set({Value("other")}, Value(2)).has_value());
  state.ClientReleasesKeys("c", {Key("x")}, kStim);
  EXPECT_EQ(state.task(Key("x")), nullptr);
  auto gone = state.task_metadata().Get({Value("x")}, nullptr);
  EXPECT_EQ(std::get<PyException>(gone).type, "KeyError");
  EXPECT_EQ(std::get<Value>(state.task_metadata().Get({Value("other")}, nullptr)), Value(2));
}

}  // namespace
}  // namespace dn
