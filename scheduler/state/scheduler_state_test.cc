#include "scheduler/state/scheduler_state.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include "protocol/messages/message_codec.h"

namespace dn {
namespace {

const Stimulus kStim{"test-stimulus", 0};

Key K(const std::string& s) { return Key(s); }

GraphTask T(const std::string& key, std::vector<std::string> deps = {}, int64_t order = 0) {
  GraphTask t;
  t.key = K(key);
  for (auto& d : deps) t.dependencies.push_back(K(d));
  t.order = order;
  t.run_spec.header = {{Value("pickled-obj"), Value(Bin{Buffer::CopyFrom("p")})},
                       {Value("num-sub-frames"), Value(0)}};
  return t;
}

std::unique_ptr<WorkerState> W(const std::string& addr, int nthreads = 1) {
  auto ws = std::make_unique<WorkerState>();
  ws->address = addr;
  ws->name = Value(addr);
  ws->nthreads = nthreads;
  ws->status = "running";
  return ws;
}

// Ops of the messages sent to one recipient.
std::vector<std::string> Ops(const Array& msgs) {
  std::vector<std::string> out;
  for (const Value& m : msgs) out.emplace_back(OpOf(m));
  return out;
}

class SchedulerStateTest : public ::testing::Test {
 protected:
  SchedulerStateTest() : state_(SchedulerConfig{1.1, 3, /*validate=*/true}) {}
  SchedulerState state_;
};

TEST_F(SchedulerStateTest, ChainRunsAndReportsToClient) {
  ASSERT_TRUE(state_.AddWorker(W("tcp://w1:1"), kStim).ok());
  state_.AddClient("c", kStim);
  std::vector<GraphTask> g;
  g.push_back(T("a"));
  g.push_back(T("b", {"a"}));
  state_.UpdateGraph("c", std::move(g), {K("b")}, kStim);
  Outbox out = state_.TakeOutbox();
  ASSERT_EQ(Ops(out.to_workers["tcp://w1:1"]), std::vector<std::string>{"compute-task"});
  const Value& ct = out.to_workers["tcp://w1:1"][0];
  EXPECT_EQ(*ct.Find("key"), Value("a"));
  EXPECT_EQ(state_.task(K("b"))->status, TaskStatus::kWaiting);

  state_.TaskFinished("tcp://w1:1", K("a"), ct.Find("run_id")->get_if<int64_t>()[0], 8, {}, "int",
                      kStim);
  out = state_.TakeOutbox();
  ASSERT_EQ(Ops(out.to_workers["tcp://w1:1"]), std::vector<std::string>{"compute-task"});
  const Value& ct2 = out.to_workers["tcp://w1:1"][0];
  EXPECT_EQ(*ct2.Find("key"), Value("b"));
  EXPECT_EQ(ct2.Find("who_has")->map()->size(), 1u);

  state_.TaskFinished("tcp://w1:1", K("b"), *ct2.Find("run_id")->get_if<int64_t>(), 8, {}, "int",
                      kStim);
  out = state_.TakeOutbox();
  EXPECT_EQ(Ops(out.to_clients["c"]), std::vector<std::string>{"key-in-memory"});
  // "a" is no longer needed once "b" is in memory.
  EXPECT_EQ(Ops(out.to_workers["tcp://w1:1"]), std::vector<std::string>{"free-keys"});
  // It stays released (not forgotten) while "b" may need it recomputed.
  EXPECT_EQ(state_.task(K("a"))->status, TaskStatus::kReleased);

  state_.ClientReleasesKeys("c", {K("b")}, kStim);
  out = state_.TakeOutbox();
  EXPECT_EQ(Ops(out.to_workers["tcp://w1:1"]), std::vector<std::string>{"free-keys"});
  EXPECT_EQ(state_.num_tasks(), 0u);
}

TEST_F(SchedulerStateTest, RootTasksAreQueuedByWorkerSaturation) {
  ASSERT_TRUE(state_.AddWorker(W("tcp://w1:1"), kStim).ok());
  std::vector<GraphTask> g;
  std::vector<Key> wanted;
  for (int i = 0; i < 10; ++i) {
    g.push_back(T("r" + std::to_string(i), {}, i));
    wanted.push_back(K("r" + std::to_string(i)));
  }
  state_.UpdateGraph("c", std::move(g), wanted, kStim);
  Outbox out = state_.TakeOutbox();
  EXPECT_EQ(out.to_workers["tcp://w1:1"].size(), 2u);  // ceil(1.1 * 1)
  EXPECT_EQ(state_.StatusCounts()[static_cast<int>(TaskStatus::kQueued)], 8);
  // Highest priority first.
  EXPECT_EQ(*out.to_workers["tcp://w1:1"][0].Find("key"), Value("r0"));
  int64_t run = *out.to_workers["tcp://w1:1"][0].Find("run_id")->get_if<int64_t>();
  state_.TaskFinished("tcp://w1:1", K("r0"), run, 8, {}, "int", kStim);
  out = state_.TakeOutbox();
  EXPECT_EQ(Ops(out.to_workers["tcp://w1:1"]), std::vector<std::string>{"compute-task"});
  EXPECT_EQ(*out.to_workers["tcp://w1:1"][0].Find("key"), Value("r2"));
}

TEST_F(SchedulerStateTest, WorkerLossRecomputesLostResults) {
  ASSERT_TRUE(state_.AddWorker(W("tcp://w1:1"), kStim).ok());
  std::vector<GraphTask> g;
  g.push_back(T("a"));
  g.push_back(T("b", {"a"}));
  state_.UpdateGraph("c", std::move(g), {K("a"), K("b")}, kStim);
  Outbox out = state_.TakeOutbox();
  int64_t run = *out.to_workers["tcp://w1:1"][0].Find("run_id")->get_if<int64_t>();
  state_.TaskFinished("tcp://w1:1", K("a"), run, 8, {}, "int", kStim);
  out = state_.TakeOutbox();  // b is now processing on w1
  ASSERT_TRUE(state_.AddWorker(W("tcp://w2:1"), kStim).ok());
  state_.RemoveWorker("tcp://w1:1", "died", kStim);
  out = state_.TakeOutbox();
  // a was lost and is recomputed on w2; b waits for it again.
  ASSERT_EQ(Ops(out.to_workers["tcp://w2:1"]),
            (std::vector<std::string>{"remove-worker", "compute-task"}));
  EXPECT_EQ(*out.to_workers["tcp://w2:1"][1].Find("key"), Value("a"));
  EXPECT_EQ(Ops(out.to_clients["c"]), std::vector<std::string>{"lost-data"});
  EXPECT_EQ(state_.task(K("b"))->status, TaskStatus::kWaiting);
}

TEST_F(SchedulerStateTest, ErrorsPropagateToDependents) {
  ASSERT_TRUE(state_.AddWorker(W("tcp://w1:1"), kStim).ok());
  std::vector<GraphTask> g;
  g.push_back(T("a"));
  g.push_back(T("b", {"a"}));
  state_.UpdateGraph("c", std::move(g), {K("b")}, kStim);
  Outbox out = state_.TakeOutbox();
  int64_t run = *out.to_workers["tcp://w1:1"][0].Find("run_id")->get_if<int64_t>();
  state_.TaskErred("tcp://w1:1", K("a"), run, Value("boom"), Value(), kStim);
  out = state_.TakeOutbox();
  ASSERT_EQ(Ops(out.to_clients["c"]), std::vector<std::string>{"task-erred"});
  EXPECT_EQ(*out.to_clients["c"][0].Find("key"), Value("b"));
  EXPECT_EQ(*out.to_clients["c"][0].Find("exception"), Value("boom"));
  EXPECT_EQ(state_.task(K("b"))->status, TaskStatus::kErred);
}

TEST_F(SchedulerStateTest, KilledWorkerAfterAllowedFailures) {
  state_.UpdateGraph("c", {T("x")}, {K("x")}, kStim);
  for (int i = 0; i < 4; ++i) {
    std::string addr = "tcp://w" + std::to_string(i) + ":1";
    ASSERT_TRUE(state_.AddWorker(W(addr), kStim).ok());
    state_.TakeOutbox();
    state_.RemoveWorker(addr, "died", kStim);
  }
  Outbox out = state_.TakeOutbox();
  ASSERT_EQ(Ops(out.to_clients["c"]), std::vector<std::string>{"task-erred"});
  const Serialized* exc = out.to_clients["c"][0].Find("exception")->get_if<Serialized>();
  ASSERT_NE(exc, nullptr);  // a pickled distributed.scheduler.KilledWorker
  EXPECT_NE(exc->frames[0].view().find("KilledWorker"), std::string_view::npos);
}

TEST_F(SchedulerStateTest, SharedKeysAreReferenceCounted) {
  ASSERT_TRUE(state_.AddWorker(W("tcp://w1:1"), kStim).ok());
  state_.UpdateGraph("c1", {T("x")}, {K("x")}, kStim);
  state_.UpdateGraph("c2", {T("x")}, {K("x")}, kStim);
  Outbox out = state_.TakeOutbox();
  int64_t run = *out.to_workers["tcp://w1:1"][0].Find("run_id")->get_if<int64_t>();
  state_.TaskFinished("tcp://w1:1", K("x"), run, 8, {}, "int", kStim);
  out = state_.TakeOutbox();
  EXPECT_EQ(out.to_clients.size(), 2u);
  state_.ClientReleasesKeys("c1", {K("x")}, kStim);
  EXPECT_EQ(state_.task(K("x"))->status, TaskStatus::kMemory);
  state_.ClientReleasesKeys("c2", {K("x")}, kStim);
  EXPECT_EQ(state_.task(K("x")), nullptr);
}

// A tree (four leaves, two partials, a total) cut off half way: a leaf has finished, the
// others run or wait, and the partials and the total wait.
std::vector<GraphTask> HalfFinishedTree() {
  std::vector<GraphTask> g;
  for (int i = 0; i < 4; ++i) g.push_back(T("leaf-" + std::to_string(i), {}, i));
  g.push_back(T("part-0", {"leaf-0", "leaf-1"}, 4));
  g.push_back(T("part-1", {"leaf-2", "leaf-3"}, 5));
  g.push_back(T("total", {"part-0", "part-1"}, 6));
  return g;
}

// A client that cancels a graph still running, or leaves while it runs, leaves nothing
// behind: every task of the graph is forgotten, however far it got. (The tasks that wait
// are released before the ones they wait on, and each must still find its way out.)
TEST_F(SchedulerStateTest, CancellingARunningGraphForgetsAllOfIt) {
  for (bool leave : {false, true}) {
    SCOPED_TRACE(leave ? "client leaves" : "client cancels");
    SchedulerState state(SchedulerConfig{1.1, 3, /*validate=*/true});
    ASSERT_TRUE(state.AddWorker(W("tcp://w1:1", 2), kStim).ok());
    state.AddClient("c", kStim);
    state.UpdateGraph("c", HalfFinishedTree(), {K("total")}, kStim);
    Outbox out = state.TakeOutbox();
    const Value& first = out.to_workers["tcp://w1:1"].at(0);
    state.TaskFinished("tcp://w1:1", *Key::FromValue(*first.Find("key")),
                       *first.Find("run_id")->get_if<int64_t>(), 8, {}, "int", kStim);
    ASSERT_GT(state.num_tasks(), 6u);
    if (leave) {
      state.RemoveClient("c", kStim);
    } else {
      state.CancelKeys("c", {K("total")}, kStim);
    }
    EXPECT_EQ(state.num_tasks(), 0u);
  }
}

TEST_F(SchedulerStateTest, NoWorkerUntilOneArrives) {
  state_.UpdateGraph("c", {T("x")}, {K("x")}, kStim);
  EXPECT_EQ(state_.task(K("x"))->status, TaskStatus::kNoWorker);
  ASSERT_TRUE(state_.AddWorker(W("tcp://w1:1"), kStim).ok());
  EXPECT_EQ(state_.task(K("x"))->status, TaskStatus::kProcessing);
  EXPECT_FALSE(state_.AddWorker(W("tcp://w1:1"), kStim).ok());
}

TEST(SchedulerStateLostDepsTest, UnknownDependencyCancelsInsteadOfRunning) {
  SchedulerState state(SchedulerConfig{1.1, 3, true});
  ASSERT_TRUE(state.AddWorker(W("tcp://w:1"), kStim).ok());
  GraphTask t;
  t.key = Key(std::string("sum"));
  t.dependencies = {Key(std::string("never-defined"))};
  GraphTask u;
  u.key = Key(std::string("after"));
  u.dependencies = {Key(std::string("sum"))};
  std::vector<GraphTask> g;
  g.push_back(t);
  g.push_back(u);
  state.UpdateGraph("c", std::move(g), {Key(std::string("after"))}, kStim);
  Outbox out = state.TakeOutbox();
  EXPECT_TRUE(out.to_workers.empty());  // nothing runs without its inputs
  ASSERT_EQ(out.to_clients["c"].size(), 1u);
  EXPECT_EQ(OpOf(out.to_clients["c"][0]), "cancelled-keys");
  EXPECT_EQ(out.to_clients["c"][0].Find("keys")->array()->size(), 2u);
  EXPECT_EQ(state.num_tasks(), 0u);
}

TEST(SchedulerStateRestrictionsTest, RestrictedRootTasksNeverLandElsewhere) {
  SchedulerState state(SchedulerConfig{1.1, 3, true});
  for (const char* a : {"tcp://w1:1", "tcp://w2:1"}) ASSERT_TRUE(state.AddWorker(W(a), kStim).ok());
  std::vector<GraphTask> g;
  std::vector<Key> wanted;
  for (int i = 0; i < 6; ++i) {
    GraphTask t;
    t.key = Key("r" + std::to_string(i));
    t.annotations = {{Value("workers"), Value(Array{Value("tcp://w2:1")})}};
    g.push_back(std::move(t));
    wanted.push_back(Key("r" + std::to_string(i)));
  }
  state.UpdateGraph("c", std::move(g), wanted, kStim);
  Outbox out = state.TakeOutbox();
  EXPECT_EQ(out.to_workers.count("tcp://w1:1"), 0u);
  EXPECT_EQ(out.to_workers["tcp://w2:1"].size(), 6u);
  EXPECT_EQ(state.StatusCounts()[static_cast<int>(TaskStatus::kQueued)], 0);
}

TEST(SchedulerStateReportTest, DesiringAnErredKeyReportsTheError) {
  SchedulerState state(SchedulerConfig{1.1, 3, true});
  ASSERT_TRUE(state.AddWorker(W("tcp://w:1"), kStim).ok());
  GraphTask t;
  t.key = Key(std::string("x"));
  state.UpdateGraph("c", {t}, {t.key}, kStim);
  Outbox out = state.TakeOutbox();
  int64_t run = *out.to_workers["tcp://w:1"][0].Find("run_id")->get_if<int64_t>();
  state.TaskErred("tcp://w:1", t.key, run, Value("boom"), Value(), kStim);
  state.TakeOutbox();
  // What a client's report-key (after gather said the key failed) leads to.
  state.ClientDesiresKeys("c", {t.key}, kStim);
  out = state.TakeOutbox();
  ASSERT_EQ(out.to_clients["c"].size(), 1u);
  EXPECT_EQ(OpOf(out.to_clients["c"][0]), "task-erred");
  EXPECT_EQ(*out.to_clients["c"][0].Find("exception"), Value("boom"));
}

// Workers w1 and w2; `a` (pinned to w1) is in memory there, and `b`, which needs `a`
// and is pinned to w2, is processing on w2: the only copy of its input is on w1.
void ProcessingDependentOfW1sResult(SchedulerState& state, GraphTask& a, GraphTask& b) {
  for (const char* w : {"tcp://w1:1", "tcp://w2:1"}) ASSERT_TRUE(state.AddWorker(W(w), kStim).ok());
  a.key = Key(std::string("a"));
  a.annotations = {{Value("workers"), Value(Array{Value("tcp://w1:1")})}};
  b.key = Key(std::string("b"));
  b.dependencies = {a.key};
  b.annotations = {{Value("workers"), Value(Array{Value("tcp://w2:1")})}};
  state.UpdateGraph("c", {a, b}, {b.key}, kStim);
  Outbox out = state.TakeOutbox();
  int64_t run = *out.to_workers["tcp://w1:1"][0].Find("run_id")->get_if<int64_t>();
  state.TaskFinished("tcp://w1:1", a.key, run, 8, {}, "int", kStim);
  state.TakeOutbox();
}

TEST(SchedulerStateLossTest, ProcessingDependentOfLostDataWaitsForTheRecompute) {
  SchedulerState state(SchedulerConfig{1.1, 3, true});
  GraphTask a, b;
  ASSERT_NO_FATAL_FAILURE(ProcessingDependentOfW1sResult(state, a, b));
  Outbox out;
  ASSERT_EQ(state.task(b.key)->status, TaskStatus::kProcessing);  // on w2, fetching a
  // w1 dies: a is lost; b cannot fetch it any more.
  state.RemoveWorker("tcp://w1:1", "died", kStim);
  out = state.TakeOutbox();
  // b was taken back from w2 and waits for a again; a cannot run (its only allowed
  // worker is gone), so it waits for one.
  bool freed = false;
  for (const Value& m : out.to_workers["tcp://w2:1"]) freed = freed || OpOf(m) == "free-keys";
  EXPECT_TRUE(freed);
  EXPECT_EQ(state.task(b.key)->status, TaskStatus::kWaiting);
  EXPECT_EQ(state.task(a.key)->status, TaskStatus::kNoWorker);
}

// A task processing on a survivor loses one input with a dead worker; its other input,
// on the survivor, must stay there: it still needs it. Releasing the task used to let go
// of all its inputs, so the survivor freed that one and it was computed again.
TEST(SchedulerStateLossTest, InputsASurvivorHoldsAreKeptForTheTaskThatRunsAgain) {
  SchedulerState state(SchedulerConfig{1.1, 3, true});
  for (const char* w : {"tcp://w1:1", "tcp://w2:1"}) ASSERT_TRUE(state.AddWorker(W(w), kStim).ok());
  auto on = [](GraphTask t, const char* worker) {
    t.annotations = {{Value("workers"), Value(Array{Value(worker)})}};
    return t;
  };
  std::vector<GraphTask> g{on(T("a"), "tcp://w1:1"), on(T("b"), "tcp://w2:1"),
                           on(T("c", {"a", "b"}), "tcp://w2:1")};
  state.UpdateGraph("client", std::move(g), {K("c")}, kStim);
  Outbox out = state.TakeOutbox();
  for (const auto& [worker, msgs] : out.to_workers) {
    for (const Value& m : msgs) {
      auto key = Key::FromValue(*m.Find("key"));
      state.TaskFinished(worker, *key, *m.Find("run_id")->get_if<int64_t>(), 8, {}, "int", kStim);
    }
  }
  state.TakeOutbox();
  ASSERT_EQ(state.task(K("c"))->status, TaskStatus::kProcessing);  // on w2, fetching a
  state.RemoveWorker("tcp://w1:1", "died", {"remove-worker-1", 1});
  out = state.TakeOutbox();
  for (const Value& m : out.to_workers["tcp://w2:1"]) {
    if (OpOf(m) != "free-keys") continue;
    for (const Key& k : KeysFromValue(m.Find("keys"))) EXPECT_NE(k, K("b")) << "b freed";
  }
  EXPECT_EQ(state.task(K("b"))->status, TaskStatus::kMemory);
  EXPECT_EQ(state.task(K("c"))->status, TaskStatus::kWaiting);
  EXPECT_EQ(state.task(K("a"))->status, TaskStatus::kNoWorker);  // only w1 may run it
}

// A worker died holding the only copy of an input of a task processing
// elsewhere. Taking that task back (TransitionToReleased) fills free slots while the
// dead worker is still registered and, its processing just emptied, the roomiest: a
// queued root task was sent to it, its compute-task dropped with its outbox, and it
// stayed processing on a worker that no longer existed (the graph hung).
TEST(SchedulerStateLossTest, QueuedTasksNeverLandOnTheWorkerBeingRemoved) {
  SchedulerState state(SchedulerConfig{1.1, 3, true});
  GraphTask a, b;
  ASSERT_NO_FATAL_FAILURE(ProcessingDependentOfW1sResult(state, a, b));
  Outbox out;
  ASSERT_EQ(state.task(b.key)->status, TaskStatus::kProcessing);  // on w2
  // Enough root tasks to fill both workers and leave some queued.
  std::vector<GraphTask> roots;
  std::vector<Key> wanted;
  for (int i = 0; i < 10; ++i) {
    roots.push_back(T("r" + std::to_string(i), {}, i));
    wanted.push_back(K("r" + std::to_string(i)));
  }
  state.UpdateGraph("c", std::move(roots), wanted, kStim);
  out = state.TakeOutbox();
  ASSERT_GT(state.StatusCounts()[static_cast<int>(TaskStatus::kQueued)], 0);

  state.RemoveWorker("tcp://w1:1", "died", kStim);
  out = state.TakeOutbox();
  EXPECT_EQ(state.worker("tcp://w1:1"), nullptr);
  for (int i = 0; i < 10; ++i) {
    const TaskState* ts = state.task(K("r" + std::to_string(i)));
    ASSERT_NE(ts, nullptr);
    if (ts->status != TaskStatus::kProcessing) continue;
    ASSERT_NE(ts->processing_on, nullptr);
    EXPECT_EQ(ts->processing_on->address, "tcp://w2:1") << "r" << i;
    EXPECT_EQ(state.worker(ts->processing_on->address), ts->processing_on) << "r" << i;
  }
}

// Root tasks among workers that share a host's cores (WaitsForNeighbours).
class CoLocatedRootTasksTest : public ::testing::Test {
 protected:
  CoLocatedRootTasksTest() : state_(SchedulerConfig{1.1, 3, /*validate=*/true}) {}

  void AddWorkers(const std::vector<std::string>& hosts, int64_t cpus) {
    for (size_t i = 0; i < hosts.size(); ++i) {
      auto ws = W("tcp://" + hosts[i] + ":" + std::to_string(i + 1));
      ws->host = hosts[i];
      ws->cpus = cpus;
      addresses_.push_back(ws->address);
      ASSERT_TRUE(state_.AddWorker(std::move(ws), kStim).ok());
    }
  }

  std::vector<Key> SubmitRootTasks(int n, const std::string& prefix = "r") {
    std::vector<GraphTask> g;
    std::vector<Key> wanted;
    for (int i = 0; i < n; ++i) {
      g.push_back(T(prefix + std::to_string(i), {}, i));
      wanted.push_back(K(prefix + std::to_string(i)));
    }
    state_.UpdateGraph("c", std::move(g), wanted, kStim);
    pending_ = state_.TakeOutbox();
    return wanted;
  }

  size_t Held(size_t i) { return state_.worker(addresses_[i])->has_what.size(); }

  // Finishes the tasks sent to worker `i`, and those it is sent next, until it is sent
  // no more; the other workers' tasks keep running. Returns how many it finished.
  int RunOnly(size_t i, int64_t nbytes = 8) {
    int finished = 0;
    Array sent = std::move(pending_.to_workers[addresses_[i]]);
    while (!sent.empty()) {
      for (const Value& ct : sent) {
        state_.TaskFinished(addresses_[i], *Key::FromValue(*ct.Find("key")),
                            *ct.Find("run_id")->get_if<int64_t>(), nbytes, {}, "float", kStim);
        ++finished;
      }
      Outbox out = state_.TakeOutbox();
      sent = std::move(out.to_workers[addresses_[i]]);
      for (auto& [addr, msgs] : out.to_workers) {
        if (addr != addresses_[i]) {
          for (Value& m : msgs) pending_.to_workers[addr].push_back(std::move(m));
        }
      }
    }
    return finished;
  }

  int Queued() { return state_.StatusCounts()[static_cast<int>(TaskStatus::kQueued)]; }

  SchedulerState state_;
  std::vector<std::string> addresses_;
  Outbox pending_;
};

TEST_F(CoLocatedRootTasksTest, AWorkerWithACoreOfItsOwnTakesOnlyItsShareMore) {
  AddWorkers({"h", "h", "h"}, /*cpus=*/2);
  SubmitRootTasks(30);
  // The other two keep both cores busy with 2 tasks each, so the first worker stops
  // taking root tasks once it holds more than 1 above them.
  EXPECT_EQ(RunOnly(0), 4);
  EXPECT_EQ(Queued(), 30 - 4 - 4);
  // While the first waits a core is free, so the second takes tasks (the third is stuck
  // on its two) until it holds more than 1 above the first, which has room: the first
  // then takes two, and with it and the third busy the rest wait for a core.
  EXPECT_EQ(RunOnly(1), 6);
  EXPECT_EQ(pending_.to_workers[addresses_[0]].size(), 2u);
  EXPECT_EQ(Queued(), 30 - 4 - 6 - 2 - 2);
}

TEST_F(CoLocatedRootTasksTest, WorkersTakingTurnsShareTheQueueEvenly) {
  AddWorkers({"h", "h", "h"}, /*cpus=*/2);
  SubmitRootTasks(60);
  // The third worker is stuck on its first two tasks; the other two finish theirs in
  // turns. Without the rule that a neighbour with room takes the task, the one that
  // waited first sat out the rest (5 against 53).
  int finished[2] = {0, 0};
  for (int turn = 0; Queued() > 0 && turn < 200; ++turn) finished[turn % 2] += RunOnly(turn % 2);
  finished[0] += RunOnly(0);
  finished[1] += RunOnly(1);
  EXPECT_EQ(Queued(), 0);
  EXPECT_EQ(finished[0] + finished[1], 58);
  EXPECT_LE(std::abs(finished[0] - finished[1]), 4) << finished[0] << " against " << finished[1];
}

TEST_F(CoLocatedRootTasksTest, LargeChunksLandWhereTheirWorkersHeldAsMuchBefore) {
  AddWorkers({"h", "h", "h"}, /*cpus=*/2);
  constexpr int64_t kChunk = 32 << 20;
  // A first array: the workers finish their chunks in an uneven order.
  std::vector<Key> first = SubmitRootTasks(60, "a");
  for (size_t turn : {0, 0, 1, 0, 2, 1, 0, 0, 2, 1, 1, 1, 2, 0, 0, 1, 2, 2, 0, 1, 2, 0, 1, 2})
    RunOnly(turn, kChunk);
  for (int round = 0; round < 20 && Queued() + pending_.to_workers.size() > 0; ++round) {
    for (size_t w = 0; w < 3; ++w) RunOnly(w, kChunk);
  }
  ASSERT_EQ(Queued(), 0);
  const size_t shares[3] = {Held(0), Held(1), Held(2)};
  ASSERT_EQ(shares[0] + shares[1] + shares[2], 60u);
  state_.ClientReleasesKeys("c", first, kStim);
  pending_ = state_.TakeOutbox();
  ASSERT_EQ(Held(0) + Held(1) + Held(2), 0u);
  // The same array again, finished in another order: each worker ends up holding what
  // it held before, so none needs memory it did not have (its page pool's).
  SubmitRootTasks(60, "b");
  for (size_t turn : {2, 2, 2, 1, 2, 1, 2, 0, 2, 2, 1, 2, 1, 1, 2, 0, 2, 1, 2, 2, 0, 2})
    RunOnly(turn, kChunk);
  for (int round = 0; round < 20 && Queued() + pending_.to_workers.size() > 0; ++round) {
    for (size_t w = 0; w < 3; ++w) RunOnly(w, kChunk);
  }
  ASSERT_EQ(Queued(), 0);
  EXPECT_EQ(Held(0), shares[0]);
  EXPECT_EQ(Held(1), shares[1]);
  EXPECT_EQ(Held(2), shares[2]);
}

TEST_F(CoLocatedRootTasksTest, NoWorkerWaitsWhileACoreIsFree) {
  AddWorkers({"h", "h", "h"}, /*cpus=*/3);
  SubmitRootTasks(30);
  EXPECT_EQ(RunOnly(0), 30 - 4);
  EXPECT_EQ(Queued(), 0);
}

TEST_F(CoLocatedRootTasksTest, WorkersOnTheirOwnHostsOrWithoutCpusNeverWait) {
  AddWorkers({"h1", "h2", "h3"}, /*cpus=*/1);
  SubmitRootTasks(30);
  EXPECT_EQ(RunOnly(0), 30 - 4);
}

TEST_F(CoLocatedRootTasksTest, StockWorkersWhichDoNotReportCpusNeverWait) {
  AddWorkers({"h", "h", "h"}, /*cpus=*/0);
  SubmitRootTasks(30);
  EXPECT_EQ(RunOnly(0), 30 - 4);
}

}  // namespace
}  // namespace dn

namespace dn {
namespace {

// --- transition table, stimulus ids, story ---------------------------------------

class SchedulerTransitionsTest : public ::testing::Test {
 protected:
  SchedulerTransitionsTest() : state_(SchedulerConfig{1.1, 3, /*validate=*/true}) {
    EXPECT_TRUE(state_.AddWorker(W("tcp://w1:1"), {"add-worker-1", 1}).ok());
  }
  // Runs "a" then "b" (b depends on a) with the stimulus ids a worker would send.
  int64_t RunChain() {
    std::vector<GraphTask> g;
    g.push_back(T("a"));
    g.push_back(T("b", {"a"}));
    state_.UpdateGraph("c", std::move(g), {K("b")}, {"update-graph-1", 2});
    Outbox out = state_.TakeOutbox();
    const Value& ct = out.to_workers["tcp://w1:1"].at(0);
    EXPECT_EQ(*ct.Find("stimulus_id"), Value("update-graph-1"));
    state_.TaskFinished("tcp://w1:1", K("a"), *ct.Find("run_id")->get_if<int64_t>(), 8, {}, "int",
                        {"task-finished-a", 3});
    out = state_.TakeOutbox();
    const Value& ct2 = out.to_workers["tcp://w1:1"].at(0);
    // The compute-task the finished task caused carries the finished task's stimulus id.
    EXPECT_EQ(*ct2.Find("stimulus_id"), Value("task-finished-a"));
    return *ct2.Find("run_id")->get_if<int64_t>();
  }
  SchedulerState state_;
};

std::vector<std::string> Steps(const std::vector<const TransitionRecord*>& story, const Key& key) {
  std::vector<std::string> out;
  for (const TransitionRecord* r : story) {
    if (r->key == key) {
      out.push_back(std::string(ToString(r->start)) + ">" + std::string(ToString(r->finish)) + "@" +
                    *r->stimulus_id);
    }
  }
  return out;
}

TEST_F(SchedulerTransitionsTest, EveryTransitionIsLoggedWithTheStimulusThatCausedIt) {
  int64_t run_b = RunChain();
  state_.TaskFinished("tcp://w1:1", K("b"), run_b, 8, {}, "int", {"task-finished-b", 4});
  Outbox out = state_.TakeOutbox();
  // The free-keys for "a", no longer needed, carries the stimulus that made it so.
  ASSERT_EQ(Ops(out.to_workers["tcp://w1:1"]), std::vector<std::string>{"free-keys"});
  EXPECT_EQ(*out.to_workers["tcp://w1:1"][0].Find("stimulus_id"), Value("task-finished-b"));

  auto story = state_.Story({K("a")});
  EXPECT_EQ(Steps(story, K("a")),
            (std::vector<std::string>{
                "released>waiting@update-graph-1", "waiting>processing@update-graph-1",
                "processing>memory@task-finished-a", "memory>released@task-finished-b"}));
  // b's transitions that recommended something for "a" belong to a's story too: its
  // wait asked for "a" to wait, its finishing for "a" to be released.
  EXPECT_EQ(Steps(story, K("b")), (std::vector<std::string>{"released>waiting@update-graph-1",
                                                            "processing>memory@task-finished-b"}));
  for (const TransitionRecord* r : story) {
    if (*r->stimulus_id == "task-finished-a") EXPECT_EQ(r->timestamp, 3);
  }
  // A stimulus id selects every transition it caused.
  auto by_stimulus = state_.Story({K("task-finished-b")});
  EXPECT_EQ(Steps(by_stimulus, K("b")),
            std::vector<std::string>{"processing>memory@task-finished-b"});
  EXPECT_EQ(Steps(by_stimulus, K("a")),
            std::vector<std::string>{"memory>released@task-finished-b"});
}

TEST_F(SchedulerTransitionsTest, APairOutsideTheTableIsAnInvalidTransitionAndChangesNothing) {
  RunChain();
  ASSERT_EQ(state_.task(K("a"))->status, TaskStatus::kMemory);
  // memory -> processing: through released, released -> processing is not in the table.
  Status st = state_.TransitionKey(K("a"), TaskStatus::kProcessing, {"test-invalid", 5});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("InvalidTransition"), std::string::npos) << st.ToString();
  EXPECT_EQ(state_.task(K("a"))->status, TaskStatus::kMemory);
  st = state_.TransitionKey(K("b"), TaskStatus::kQueued, {"test-invalid", 5});
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(state_.task(K("b"))->status, TaskStatus::kProcessing);
  EXPECT_TRUE(state_.Validate().ok());
}

TEST_F(SchedulerTransitionsTest, PairsStockBridgesGoThroughReleased) {
  RunChain();
  // processing -> waiting is processing -> released -> waiting, as stock's _transition.
  ASSERT_TRUE(state_.TransitionKey(K("b"), TaskStatus::kWaiting, {"test-bridge", 6}).ok());
  Outbox out = state_.TakeOutbox();
  EXPECT_EQ(state_.task(K("b"))->status, TaskStatus::kProcessing);  // sent again
  auto ops = Ops(out.to_workers["tcp://w1:1"]);
  EXPECT_EQ(ops, (std::vector<std::string>{"free-keys", "compute-task"}));
  auto steps = Steps(state_.Story({K("test-bridge")}), K("b"));
  EXPECT_EQ(steps.front(), "processing>waiting@test-bridge");
}

TEST_F(SchedulerTransitionsTest, TheLogKeepsTheLastTransitionsOnly) {
  SchedulerConfig config{1.1, 3, true};
  config.transition_log_length = 3;
  SchedulerState small(config);
  ASSERT_TRUE(small.AddWorker(W("tcp://w1:1"), kStim).ok());
  std::vector<GraphTask> g;
  g.push_back(T("a"));
  g.push_back(T("b", {"a"}));
  small.UpdateGraph("c", std::move(g), {K("b")}, {"update-graph-1", 2});
  // b: released>waiting; a: released>waiting, waiting>processing. The oldest ages out
  // once more arrive.
  EXPECT_EQ(Steps(small.Story({K("b")}), K("b")),
            std::vector<std::string>{"released>waiting@update-graph-1"});
  Outbox out = small.TakeOutbox();
  const Value& ct = out.to_workers["tcp://w1:1"].at(0);
  small.TaskFinished("tcp://w1:1", K("a"), *ct.Find("run_id")->get_if<int64_t>(), 8, {}, "int",
                     {"task-finished-a", 3});
  auto story = small.Story({K("a"), K("b")});
  ASSERT_EQ(story.size(), 3u);
  EXPECT_EQ(Steps(story, K("a")), (std::vector<std::string>{"waiting>processing@update-graph-1",
                                                            "processing>memory@task-finished-a"}));
  EXPECT_EQ(Steps(story, K("b")), std::vector<std::string>{"waiting>processing@task-finished-a"});
}

TEST(SchedulerTtlTest, SilentWorkersGoAfterTheEffectiveTtl) {
  SchedulerState state(SchedulerConfig{1.1, 3, true});
  ASSERT_TRUE(state.AddWorker(W("tcp://w1:1"), {"add-worker-1", 100}).ok());
  ASSERT_TRUE(state.AddWorker(W("tcp://w2:1"), {"add-worker-2", 100}).ok());
  ASSERT_TRUE(state.WorkerHeartbeat("tcp://w2:1", nullptr, {"heartbeat-1", 104}));
  EXPECT_FALSE(state.WorkerHeartbeat("tcp://nobody:1", nullptr, {"heartbeat-2", 104}));
  // Stock's rule: max(worker-ttl, 10 heartbeat intervals), 5 s for 2 workers.
  EXPECT_TRUE(state.WorkersPastTtl(1, 104.9).empty());
  EXPECT_EQ(state.WorkersPastTtl(1, 105.5), std::vector<std::string>{"tcp://w1:1"});
  EXPECT_TRUE(state.WorkersPastTtl(300, 200).empty());
  EXPECT_EQ(state.WorkersPastTtl(300, 405).size(), 2u);
  EXPECT_DOUBLE_EQ(SchedulerState::HeartbeatInterval(11), 1);
  EXPECT_DOUBLE_EQ(SchedulerState::HeartbeatInterval(400), 3);
}

TEST(SchedulerRetireTest, ResultsOnlyARetiringWorkerHoldsAreCopiedToTheLeastFullWorker) {
  SchedulerState state(SchedulerConfig{1.1, 3, true});
  for (const char* w : {"tcp://w1:1", "tcp://w2:1", "tcp://w3:1"}) {
    ASSERT_TRUE(state.AddWorker(W(w), kStim).ok());
  }
  state.UpdateData("c", "tcp://w1:1", {{K("x"), 100}}, kStim);
  state.UpdateData("c", "tcp://w2:1", {{K("big"), 1000}}, kStim);
  state.TakeOutbox();
  EXPECT_TRUE(state.ReplicateFromRetiring({"tcp://w1:1"}, true, {"retire-workers-1", 1}));
  Outbox out = state.TakeOutbox();
  ASSERT_EQ(out.to_workers.size(), 1u);
  const Array& msgs = out.to_workers["tcp://w3:1"];  // w2 holds more
  ASSERT_EQ(Ops(msgs), std::vector<std::string>{"acquire-replicas"});
  EXPECT_EQ(*msgs[0].Find("stimulus_id"), Value("retire-workers-1"));
  // Asked again only when told to send.
  EXPECT_TRUE(state.ReplicateFromRetiring({"tcp://w1:1"}, false, {"retire-workers-1", 1}));
  EXPECT_TRUE(state.TakeOutbox().empty());
  state.AddKeys("tcp://w3:1", {K("x")}, {"gather-dep-success-1", 2});
  EXPECT_FALSE(state.ReplicateFromRetiring({"tcp://w1:1"}, true, {"retire-workers-1", 3}));
}

}  // namespace
}  // namespace dn
