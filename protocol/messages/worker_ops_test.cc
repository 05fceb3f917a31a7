#include "protocol/messages/worker_ops.h"

#include <gtest/gtest.h>

#include "protocol/frame/frame_decoder.h"
#include "protocol/messages/message_codec.h"
#include "tests/testing/test_util.h"

namespace dn {
namespace {

Array Batch(const char* name) {
  Buffer wire = testing::ReadFile(testing::SharedDir() / "vectors/wire" / name);
  FrameDecoder d;
  EXPECT_TRUE(d.Consume(wire.data(), wire.size()).ok());
  auto v = DecodeMessage(d.Pop().frames);
  EXPECT_TRUE(v.ok());
  return *v->array();
}

std::vector<StartStop> StartStopsOf(const Value& msg) {
  std::vector<StartStop> out;
  for (const Value& s : *msg.Find("startstops")->array()) {
    out.push_back(StartStop{*s.Find("action")->str(), *s.Find("start")->get_if<double>(),
                            *s.Find("stop")->get_if<double>()});
  }
  return out;
}

TEST(WorkerOpsTest, ComputeTaskRoundTripsCaptures) {
  for (const char* name : {"compute_task.bin", "compute_task_with_dependencies.bin"}) {
    for (const Value& msg : Batch(name)) {
      if (OpOf(msg) != ComputeTask::kOp) continue;
      ASSERT_OK_AND_ASSIGN(ComputeTask t, ComputeTask::FromValue(msg));
      EXPECT_EQ(t.ToValue(), msg) << name;
      EXPECT_TRUE(t.run_spec.has_value());
      EXPECT_EQ(t.who_has.size(), t.nbytes.size());
    }
  }
  Array deps = Batch("compute_task_with_dependencies.bin");
  ASSERT_OK_AND_ASSIGN(ComputeTask t, ComputeTask::FromValue(deps[0]));
  ASSERT_FALSE(t.who_has.empty());
  EXPECT_TRUE(t.who_has[0].first.is_tuple());
  EXPECT_EQ(t.who_has[0].second.size(), 1u);
}

TEST(WorkerOpsTest, ComputeTaskMissingFieldIsAnError) {
  Value msg = Batch("compute_task.bin")[0];
  Map* m = msg.map();
  std::erase_if(*m, [](const MapEntry& e) { return e.key == Value("run_id"); });
  EXPECT_EQ(ComputeTask::FromValue(msg).status().code(), StatusCode::kProtocolError);
}

TEST(WorkerOpsTest, TaskFinishedMatchesCapture) {
  Value msg = Batch("task_finished.bin")[0];
  TaskFinished f;
  f.key = *Key::FromValue(*msg.Find("key"));
  f.run_id = *msg.Find("run_id")->get_if<int64_t>();
  f.nbytes = *msg.Find("nbytes")->get_if<int64_t>();
  f.type = msg.Find("type")->get_if<Bin>()->data;
  f.type_name = *msg.Find("typename")->str();
  f.thread = *msg.Find("thread");
  f.startstops = StartStopsOf(msg);
  f.stimulus_id = *msg.Find("stimulus_id")->str();
  EXPECT_EQ(f.ToValue(), msg);
}

TEST(WorkerOpsTest, TaskErredMatchesCapture) {
  Value msg = Batch("task_erred_worker_to_scheduler.bin")[0];
  TaskErred e;
  e.key = *Key::FromValue(*msg.Find("key"));
  e.run_id = *msg.Find("run_id")->get_if<int64_t>();
  e.exception = *msg.Find("exception");
  e.traceback = *msg.Find("traceback");
  e.exception_text = *msg.Find("exception_text")->str();
  e.traceback_text = *msg.Find("traceback_text")->str();
  e.thread = *msg.Find("thread");
  e.startstops = StartStopsOf(msg);
  e.stimulus_id = *msg.Find("stimulus_id")->str();
  EXPECT_EQ(e.ToValue(), msg);
}

}  // namespace
}  // namespace dn
