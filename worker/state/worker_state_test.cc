// WorkerState without sockets: events in, instructions and states out, in the manner of
// distributed/tests/test_worker_state_machine.py and test_cancelled_state.py. Every test
// validates the whole state after each event (options.validate aborts on a violation).
#include "worker/state/worker_state.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dn::worker {
namespace {

constexpr const char* kSelf = "tcp://127.0.0.1:1000";
constexpr const char* kA = "tcp://127.0.0.1:2000";
constexpr const char* kB = "tcp://127.0.0.2:3000";

Key K(const char* s) { return Key(std::string(s)); }

template <typename E>
E WithStimulus(E e, std::string stimulus) {
  e.stimulus_id = std::move(stimulus);
  e.timestamp = 1.0;
  return e;
}

ComputeTaskEvent Compute(const char* key,
                         std::vector<std::pair<const char*, std::vector<std::string>>> deps = {},
                         int64_t priority = 0, int64_t run_id = 1,
                         std::string stimulus = "compute") {
  ComputeTaskEvent ev;
  ev.task.key = K(key);
  ev.task.run_id = run_id;
  ev.task.priority = Value(Array{Value(0), Value(0), Value(priority)});
  ev.task.stimulus_id = stimulus;
  ev.task.run_spec = Pickled{};
  for (auto& [dep, holders] : deps) {
    ev.task.who_has.emplace_back(K(dep), holders);
    ev.task.nbytes.emplace_back(K(dep), 100);
  }
  return WithStimulus(std::move(ev), stimulus);
}

ExecuteSuccessEvent Success(const char* key, std::string stimulus = "task-finished") {
  ExecuteSuccessEvent ev;
  ev.key = K(key);
  ev.nbytes = 8;
  ev.type_name = "numpy.ndarray";
  ev.start = 1;
  ev.stop = 2;
  return WithStimulus(std::move(ev), stimulus);
}

ExecuteFailureEvent Failure(const char* key) {
  ExecuteFailureEvent ev;
  ev.key = K(key);
  ev.error.exception = Value("ZeroDivisionError()");
  ev.error.exception_text = "ZeroDivisionError()";
  return WithStimulus(std::move(ev), "task-erred");
}

GatherDepSuccessEvent Gathered(const std::string& worker, std::vector<const char*> keys,
                               int64_t total_nbytes) {
  GatherDepSuccessEvent ev;
  ev.worker = worker;
  ev.total_nbytes = total_nbytes;
  for (const char* k : keys) ev.data.emplace_back(K(k), 100);
  return WithStimulus(std::move(ev), "gather-dep-success");
}

FreeKeysEvent Free(std::vector<const char*> keys, std::string stimulus = "free") {
  FreeKeysEvent ev;
  for (const char* k : keys) ev.keys.push_back(K(k));
  return WithStimulus(std::move(ev), stimulus);
}

template <typename T>
std::vector<const T*> Of(const Instructions& out) {
  std::vector<const T*> found;
  for (const Instruction& i : out) {
    if (const T* t = std::get_if<T>(&i)) found.push_back(t);
  }
  return found;
}

class WorkerStateTest : public ::testing::Test {
 protected:
  WorkerStateOptions Options(int nthreads = 1) {
    WorkerStateOptions o;
    o.address = kSelf;
    o.nthreads = nthreads;
    o.validate = true;
    return o;
  }
  TaskStatus State(const WorkerState& ws, const char* key) {
    const TaskState* ts = ws.task(K(key));
    return ts ? ts->state : TaskStatus::kForgotten;
  }
};

TEST_F(WorkerStateTest, ComputeWithoutDependenciesExecutesAndFinishes) {
  WorkerState ws(Options());
  Instructions out = ws.Handle(Compute("x"));
  ASSERT_EQ(Of<Execute>(out).size(), 1u);
  EXPECT_EQ(Of<Execute>(out)[0]->key, K("x"));
  EXPECT_EQ(Of<Execute>(out)[0]->stimulus_id, "compute");
  EXPECT_EQ(State(ws, "x"), TaskStatus::kExecuting);

  out = ws.Handle(Success("x"));
  auto finished = Of<TaskFinishedMsg>(out);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0]->key, K("x"));
  EXPECT_EQ(finished[0]->run_id, 1);
  EXPECT_EQ(finished[0]->nbytes, 8);
  EXPECT_EQ(finished[0]->stimulus_id, "task-finished");
  EXPECT_EQ(State(ws, "x"), TaskStatus::kMemory);

  out = ws.Handle(Free({"x"}, "free-x"));
  auto released = Of<ReleaseWorkerDataMsg>(out);
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0]->stimulus_id, "free-x");
  EXPECT_EQ(ws.task(K("x")), nullptr);  // forgotten
}

TEST_F(WorkerStateTest, ComputeWithLocalDependencyRunsAtOnce) {
  WorkerState ws(Options());
  ws.Handle(Compute("a"));
  ws.Handle(Success("a"));
  Instructions out = ws.Handle(Compute("b", {{"a", {kSelf}}}));
  ASSERT_EQ(Of<Execute>(out).size(), 1u);
  EXPECT_TRUE(Of<GatherDep>(out).empty());
  out = ws.Handle(Success("b"));
  EXPECT_EQ(Of<TaskFinishedMsg>(out).size(), 1u);
  // Freeing the dependent forgets it; the input stays until it is freed too.
  ws.Handle(Free({"b"}));
  EXPECT_EQ(State(ws, "a"), TaskStatus::kMemory);
  ws.Handle(Free({"a"}));
  EXPECT_EQ(ws.task_count(), 0u);
}

TEST_F(WorkerStateTest, ComputeWithRemoteDependenciesBatchesOneGatherPerPeer) {
  WorkerState ws(Options());
  Instructions out = ws.Handle(Compute("c", {{"a", {kA}}, {"b", {kA}}}));
  auto gathers = Of<GatherDep>(out);
  ASSERT_EQ(gathers.size(), 1u);
  EXPECT_EQ(gathers[0]->worker, kA);
  EXPECT_EQ(gathers[0]->keys.size(), 2u);
  EXPECT_EQ(gathers[0]->total_nbytes, 200);
  EXPECT_EQ(State(ws, "a"), TaskStatus::kFlight);
  EXPECT_EQ(State(ws, "c"), TaskStatus::kWaiting);

  out = ws.Handle(Gathered(kA, {"a", "b"}, 200));
  auto added = Of<AddKeysMsg>(out);
  EXPECT_EQ(added.size(), 2u);
  EXPECT_EQ(added[0]->stimulus_id, "gather-dep-success");
  ASSERT_EQ(Of<Execute>(out).size(), 1u);
  EXPECT_EQ(State(ws, "c"), TaskStatus::kExecuting);
}

TEST_F(WorkerStateTest, OneTransferPerPeerAtATime) {
  WorkerState ws(Options());
  EXPECT_EQ(Of<GatherDep>(ws.Handle(Compute("x", {{"a", {kA}}}))).size(), 1u);
  // A second key from the same peer waits for the first transfer to end...
  EXPECT_TRUE(Of<GatherDep>(ws.Handle(Compute("y", {{"b", {kA}}}))).empty());
  EXPECT_EQ(State(ws, "b"), TaskStatus::kFetch);
  // ...and goes as soon as it does.
  Instructions out = ws.Handle(Gathered(kA, {"a"}, 100));
  ASSERT_EQ(Of<GatherDep>(out).size(), 1u);
  EXPECT_EQ(Of<GatherDep>(out)[0]->keys, std::vector<Key>{K("b")});
}

TEST_F(WorkerStateTest, BatchOfEventsSharesOneGather) {
  WorkerState ws(Options());
  std::vector<Event> batch;
  batch.push_back(Compute("x", {{"a", {kA}}}));
  batch.push_back(Compute("y", {{"b", {kA}}}));
  auto gathers = Of<GatherDep>(ws.HandleAll(std::move(batch)));
  ASSERT_EQ(gathers.size(), 1u);
  EXPECT_EQ(gathers[0]->keys.size(), 2u);
}

TEST_F(WorkerStateTest, ErrorIsReported) {
  WorkerState ws(Options());
  ws.Handle(Compute("x"));
  Instructions out = ws.Handle(Failure("x"));
  auto erred = Of<TaskErredMsg>(out);
  ASSERT_EQ(erred.size(), 1u);
  EXPECT_EQ(erred[0]->exception_text, "ZeroDivisionError()");
  EXPECT_EQ(erred[0]->stimulus_id, "task-erred");
  EXPECT_EQ(State(ws, "x"), TaskStatus::kError);
  // Computed again on request.
  out = ws.Handle(Compute("x", {}, 0, 2));
  EXPECT_EQ(Of<Execute>(out).size(), 1u);
}

TEST_F(WorkerStateTest, ReadyTasksRunInPriorityOrderOnFreeThreads) {
  WorkerState ws(Options(1));
  ws.Handle(Compute("first"));
  ws.Handle(Compute("low", {}, 5));
  ws.Handle(Compute("high", {}, 1));
  EXPECT_EQ(ws.ready_count(), 2u);
  Instructions out = ws.Handle(Success("first"));
  ASSERT_EQ(Of<Execute>(out).size(), 1u);
  EXPECT_EQ(Of<Execute>(out)[0]->key, K("high"));
  // task-finished goes out before the next task starts.
  EXPECT_TRUE(std::holds_alternative<TaskFinishedMsg>(out.front()));
}

TEST_F(WorkerStateTest, PauseStopsExecutionAndTransfers) {
  WorkerState ws(Options());
  ws.Handle(WithStimulus(PauseEvent{}, "pause"));
  EXPECT_TRUE(ws.Handle(Compute("x")).empty());
  EXPECT_TRUE(Of<GatherDep>(ws.Handle(Compute("y", {{"a", {kA}}}))).empty());
  Instructions out = ws.Handle(WithStimulus(UnpauseEvent{}, "unpause"));
  EXPECT_EQ(Of<Execute>(out).size(), 1u);
  EXPECT_EQ(Of<GatherDep>(out).size(), 1u);
}

// A dependency lost while in flight: the peer answers without it, no holder is left,
// the scheduler is asked, and names another holder.
TEST_F(WorkerStateTest, DependencyLostInFlightGoesMissingThenFetchedAgain) {
  WorkerState ws(Options());
  ws.Handle(Compute("x", {{"a", {kA}}}));
  EXPECT_EQ(State(ws, "a"), TaskStatus::kFlight);
  Instructions out = ws.Handle(Gathered(kA, {}, 100));
  EXPECT_EQ(State(ws, "a"), TaskStatus::kMissing);
  auto refresh = Of<RequestRefreshWhoHasMsg>(out);
  ASSERT_EQ(refresh.size(), 1u);
  EXPECT_EQ(refresh[0]->keys, std::vector<Key>{K("a")});
  EXPECT_EQ(refresh[0]->stimulus_id, "gather-dep-success");
  // Asked again every second while missing.
  out = ws.Handle(WithStimulus(FindMissingEvent{}, "find-missing"));
  EXPECT_EQ(Of<RequestRefreshWhoHasMsg>(out).size(), 1u);
  // The scheduler knows no holder yet: still missing.
  RefreshWhoHasEvent none;
  none.who_has = {{K("a"), {}}};
  EXPECT_TRUE(Of<GatherDep>(ws.Handle(WithStimulus(none, "refresh-1"))).empty());
  EXPECT_EQ(State(ws, "a"), TaskStatus::kMissing);
  RefreshWhoHasEvent refreshed;
  refreshed.who_has = {{K("a"), {kB}}};
  out = ws.Handle(WithStimulus(refreshed, "refresh-2"));
  auto gathers = Of<GatherDep>(out);
  ASSERT_EQ(gathers.size(), 1u);
  EXPECT_EQ(gathers[0]->worker, kB);
  EXPECT_EQ(gathers[0]->stimulus_id, "refresh-2");
  out = ws.Handle(Gathered(kB, {"a"}, 100));
  EXPECT_EQ(Of<Execute>(out).size(), 1u);
}

// An input arrives but cannot be deserialized: fetching it again would bring the same
// bytes, so the input and the task waiting for it err, and nothing is fetched again.
TEST_F(WorkerStateTest, UnreadableInputErrsItAndItsWaiter) {
  WorkerState ws(Options());
  ws.Handle(Compute("x", {{"a", {kA, kB}}, {"b", {kA}}}, 0, 7));
  ASSERT_EQ(State(ws, "a"), TaskStatus::kFlight);
  GatherDepSuccessEvent ev = Gathered(kA, {"b"}, 200);
  TaskError e;
  e.exception = Value("ValueError()");
  e.exception_text = "Cannot convert fill_value 999999 to dtype int16";
  ev.unreadable.emplace_back(K("a"), e);
  Instructions out = ws.Handle(std::move(ev));
  EXPECT_EQ(State(ws, "a"), TaskStatus::kError);
  EXPECT_EQ(State(ws, "b"), TaskStatus::kMemory);
  EXPECT_EQ(State(ws, "x"), TaskStatus::kError);
  EXPECT_TRUE(Of<GatherDep>(out).empty());
  EXPECT_TRUE(Of<Execute>(out).empty());
  auto erred = Of<TaskErredMsg>(out);
  ASSERT_EQ(erred.size(), 2u);  // stock also reports the input, which its scheduler ignores
  const TaskErredMsg* for_x = erred[0]->key == K("x") ? erred[0] : erred[1];
  EXPECT_EQ(for_x->key, K("x"));
  EXPECT_EQ(for_x->run_id, 7);
  EXPECT_EQ(for_x->exception_text,
            "input 'a' failed to deserialize: Cannot convert fill_value 999999 to dtype int16");
  // The scheduler frees the erred task, then the replicas it was told of.
  ws.Handle(Free({"x"}));
  EXPECT_EQ(State(ws, "x"), TaskStatus::kForgotten);
  EXPECT_EQ(State(ws, "b"), TaskStatus::kMemory);
  ws.Handle(Free({"a", "b"}));
  EXPECT_EQ(State(ws, "a"), TaskStatus::kForgotten);
  EXPECT_EQ(State(ws, "b"), TaskStatus::kForgotten);
}

// A peer dies mid-transfer: its keys come from another holder, or go missing.
TEST_F(WorkerStateTest, PeerDyingMidTransferTriesOtherHolderOrGoesMissing) {
  WorkerState ws(Options());
  ws.Handle(Compute("x", {{"a", {kA, kB}}, {"b", {kA}}}));
  const TaskState* a = ws.task(K("a"));
  ASSERT_EQ(a->state, TaskStatus::kFlight);
  const std::string first = a->coming_from;
  GatherDepNetworkFailureEvent failed;
  failed.worker = first;
  failed.total_nbytes = first == kA ? 200 : 100;
  Instructions out = ws.Handle(WithStimulus(failed, "gather-dep-network-failure"));
  // The dead peer is forgotten as a holder of everything.
  for (const char* k : {"a", "b"}) {
    for (const std::string& w : ws.task(K(k))->who_has) EXPECT_NE(w, first);
  }
  // kA went first: same host as this worker, and it holds both keys.
  ASSERT_EQ(first, kA);
  EXPECT_EQ(State(ws, "b"), TaskStatus::kMissing);
  EXPECT_EQ(State(ws, "a"), TaskStatus::kFlight);  // from kB now
  ASSERT_EQ(Of<GatherDep>(out).size(), 1u);
  EXPECT_EQ(Of<GatherDep>(out)[0]->worker, kB);
}

TEST_F(WorkerStateTest, RemoveWorkerStrikesHolder) {
  WorkerState ws(Options());
  ws.Handle(Compute("x", {{"a", {kA}}}));
  ws.Handle(Compute("y", {{"b", {kA}}}));  // waits behind the transfer of a
  RemoveWorkerEvent gone;
  gone.worker = kA;
  ws.Handle(WithStimulus(gone, "remove-worker"));
  EXPECT_EQ(State(ws, "b"), TaskStatus::kMissing);
}

TEST_F(WorkerStateTest, BusyPeerIsRetriedLater) {
  WorkerState ws(Options());
  ws.Handle(Compute("x", {{"a", {kA}}}));
  GatherDepBusyEvent busy;
  busy.worker = kA;
  busy.total_nbytes = 100;
  Instructions out = ws.Handle(WithStimulus(busy, "busy"));
  EXPECT_EQ(Of<RetryBusyWorkerLater>(out).size(), 1u);
  EXPECT_EQ(Of<RequestRefreshWhoHasMsg>(out).size(), 1u);
  EXPECT_TRUE(Of<GatherDep>(out).empty());
  EXPECT_EQ(State(ws, "a"), TaskStatus::kFetch);
  RetryBusyWorkerEvent retry;
  retry.worker = kA;
  out = ws.Handle(WithStimulus(retry, "retry"));
  EXPECT_EQ(Of<GatherDep>(out).size(), 1u);
}

// Steal-request while executing: the task stays, and the reply says so.
TEST_F(WorkerStateTest, StealDuringExecutionKeepsTheTask) {
  WorkerState ws(Options());
  ws.Handle(Compute("x"));
  StealRequestEvent steal;
  steal.key = K("x");
  Instructions out = ws.Handle(WithStimulus(steal, "steal-1"));
  auto replies = Of<StealResponseMsg>(out);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0]->state, TaskStatus::kExecuting);
  EXPECT_EQ(replies[0]->stimulus_id, "steal-1");
  EXPECT_EQ(replies[0]->ToValue().Find("state")->str() != nullptr, true);
  EXPECT_EQ(State(ws, "x"), TaskStatus::kExecuting);
}

TEST_F(WorkerStateTest, StealOfReadyTaskReleasesIt) {
  WorkerState ws(Options(1));
  ws.Handle(Compute("busy"));
  ws.Handle(Compute("x"));
  StealRequestEvent steal;
  steal.key = K("x");
  Instructions out = ws.Handle(WithStimulus(steal, "steal-2"));
  EXPECT_EQ(Of<StealResponseMsg>(out)[0]->state, TaskStatus::kReady);
  EXPECT_EQ(ws.task(K("x")), nullptr);
  // An unknown key: nil.
  steal.key = K("nope");
  out = ws.Handle(WithStimulus(steal, "steal-3"));
  EXPECT_FALSE(Of<StealResponseMsg>(out)[0]->state.has_value());
  EXPECT_TRUE(Of<StealResponseMsg>(out)[0]->ToValue().Find("state")->is_nil());
}

// free-keys racing with task-finished: the task is cancelled while it runs; its result
// is dropped silently when it ends (stock: cancelled -> released, no task-finished).
TEST_F(WorkerStateTest, FreeKeysWhileExecutingCancelsAndDropsResult) {
  WorkerState ws(Options());
  ws.Handle(Compute("x"));
  EXPECT_TRUE(ws.Handle(Free({"x"})).empty());
  EXPECT_EQ(State(ws, "x"), TaskStatus::kCancelled);
  EXPECT_EQ(ws.executing_count(), 1);  // it still holds its thread
  Instructions out = ws.Handle(Success("x"));
  EXPECT_TRUE(Of<TaskFinishedMsg>(out).empty());
  EXPECT_TRUE(Of<ReleaseWorkerDataMsg>(out).empty());
  EXPECT_EQ(ws.task(K("x")), nullptr);
  EXPECT_FALSE(ws.InMemory(K("x")));
  EXPECT_EQ(ws.executing_count(), 0);
}

TEST_F(WorkerStateTest, FreeKeysWhileExecutingThenFailureIsSilent) {
  WorkerState ws(Options());
  ws.Handle(Compute("x"));
  ws.Handle(Free({"x"}));
  EXPECT_TRUE(Of<TaskErredMsg>(ws.Handle(Failure("x"))).empty());
  EXPECT_EQ(ws.task(K("x")), nullptr);
}

// compute-task arriving for a cancelled key: it executes again, reported under the new
// run_id once it ends.
TEST_F(WorkerStateTest, ComputeTaskForCancelledKeyResumesExecution) {
  WorkerState ws(Options());
  ws.Handle(Compute("x", {}, 0, 1));
  ws.Handle(Free({"x"}));
  ASSERT_EQ(State(ws, "x"), TaskStatus::kCancelled);
  Instructions out = ws.Handle(Compute("x", {}, 0, 7, "compute-again"));
  EXPECT_TRUE(Of<Execute>(out).empty());  // it never stopped
  EXPECT_EQ(State(ws, "x"), TaskStatus::kExecuting);
  out = ws.Handle(Success("x"));
  auto finished = Of<TaskFinishedMsg>(out);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0]->run_id, 7);
}

// A cancelled run whose key the scheduler then wants fetched (computed elsewhere):
// resumed; the result computed here becomes a replica (add-keys).
TEST_F(WorkerStateTest, CancelledExecutionThenFetchIsResumed) {
  WorkerState ws(Options());
  ws.Handle(Compute("x"));
  ws.Handle(Free({"x"}));
  Instructions out = ws.Handle(Compute("y", {{"x", {kA}}}));
  EXPECT_EQ(State(ws, "x"), TaskStatus::kResumed);
  EXPECT_TRUE(Of<GatherDep>(out).empty());
  out = ws.Handle(Success("x"));
  EXPECT_EQ(Of<AddKeysMsg>(out).size(), 1u);
  EXPECT_TRUE(Of<TaskFinishedMsg>(out).empty());
  EXPECT_EQ(State(ws, "x"), TaskStatus::kMemory);
  EXPECT_EQ(Of<Execute>(out).size(), 1u);  // y
}

TEST_F(WorkerStateTest, ResumedExecutionThatFailsIsFetchedInstead) {
  WorkerState ws(Options());
  ws.Handle(Compute("x"));
  ws.Handle(Free({"x"}));
  ws.Handle(Compute("y", {{"x", {kA}}}));
  Instructions out = ws.Handle(Failure("x"));
  EXPECT_TRUE(Of<TaskErredMsg>(out).empty());
  ASSERT_EQ(Of<GatherDep>(out).size(), 1u);
  EXPECT_EQ(State(ws, "x"), TaskStatus::kFlight);
}

// A transfer cancelled by free-keys, then the key is wanted computed here: resumed
// (flight -> waiting); the value arriving is reported as task-finished.
TEST_F(WorkerStateTest, CancelledFlightThenComputeTaskIsResumed) {
  WorkerState ws(Options());
  ws.Handle(Compute("x", {{"a", {kA}}}));
  ws.Handle(Free({"x"}));
  EXPECT_EQ(State(ws, "a"), TaskStatus::kCancelled);
  ws.Handle(Compute("a", {}, 0, 3));
  EXPECT_EQ(State(ws, "a"), TaskStatus::kResumed);
  Instructions out = ws.Handle(Gathered(kA, {"a"}, 100));
  auto finished = Of<TaskFinishedMsg>(out);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0]->run_id, 3);
}

TEST_F(WorkerStateTest, CancelledFlightIsDroppedWhenItArrives) {
  WorkerState ws(Options());
  ws.Handle(Compute("x", {{"a", {kA}}}));
  ws.Handle(Free({"x"}));
  Instructions out = ws.Handle(Gathered(kA, {"a"}, 100));
  EXPECT_TRUE(Of<AddKeysMsg>(out).empty());
  EXPECT_FALSE(ws.InMemory(K("a")));
  EXPECT_EQ(ws.task_count(), 0u);
}

TEST_F(WorkerStateTest, ComputeTaskForStoredKeyReportsFinished) {
  WorkerState ws(Options());
  ws.Handle(Compute("x"));
  ws.Handle(Success("x"));
  Instructions out = ws.Handle(Compute("x", {}, 0, 9));
  auto finished = Of<TaskFinishedMsg>(out);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0]->run_id, 9);
  EXPECT_EQ(finished[0]->type_name, "numpy.ndarray");
}

TEST_F(WorkerStateTest, CancelComputeDropsOnlyTasksNotStarted) {
  WorkerState ws(Options(1));
  ws.Handle(Compute("running"));
  ws.Handle(Compute("queued"));
  CancelComputeEvent cancel;
  cancel.key = K("running");
  ws.Handle(WithStimulus(cancel, "cancel-1"));
  EXPECT_EQ(State(ws, "running"), TaskStatus::kExecuting);
  cancel.key = K("queued");
  ws.Handle(WithStimulus(cancel, "cancel-2"));
  EXPECT_EQ(ws.task(K("queued")), nullptr);
}

TEST_F(WorkerStateTest, RemoveReplicasKeepsNeededOnes) {
  WorkerState ws(Options(1));
  ws.Handle(Compute("a"));
  ws.Handle(Success("a"));
  ws.Handle(Compute("b"));
  ws.Handle(Success("b"));
  ws.Handle(Compute("busy"));
  ws.Handle(Compute("c", {{"a", {kSelf}}}));  // ready, waits for the thread
  RemoveReplicasEvent remove;
  remove.keys = {K("a"), K("b")};
  Instructions out = ws.Handle(WithStimulus(remove, "remove-replicas"));
  auto kept = Of<AddKeysMsg>(out);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0]->keys, std::vector<Key>{K("a")});
  EXPECT_EQ(Of<ReleaseWorkerDataMsg>(out).size(), 1u);
  EXPECT_TRUE(ws.InMemory(K("a")));
  EXPECT_FALSE(ws.InMemory(K("b")));
}

TEST_F(WorkerStateTest, AcquireReplicasFetchesAndAnnounces) {
  WorkerState ws(Options());
  AcquireReplicasEvent acquire;
  acquire.who_has = {{K("a"), {kA}}};
  acquire.nbytes = {{K("a"), 100}};
  Instructions out = ws.Handle(WithStimulus(acquire, "retire-workers"));
  ASSERT_EQ(Of<GatherDep>(out).size(), 1u);
  out = ws.Handle(Gathered(kA, {"a"}, 100));
  EXPECT_EQ(Of<AddKeysMsg>(out).size(), 1u);
  EXPECT_TRUE(ws.InMemory(K("a")));
}

TEST_F(WorkerStateTest, UpdateDataStoresWithoutMessages) {
  WorkerState ws(Options());
  UpdateDataEvent update;
  update.data = {{K("s"), 10}};
  EXPECT_TRUE(ws.Handle(WithStimulus(update, "update-data")).empty());
  EXPECT_TRUE(ws.InMemory(K("s")));
}

TEST_F(WorkerStateTest, RunAheadStartsOneMoreApprovedTask) {
  WorkerStateOptions o = Options(1);
  o.run_ahead = 1;
  bool approve = true;
  o.may_run_ahead = [&approve](const TaskState&) { return approve; };
  WorkerState ws(o);
  ws.Handle(Compute("a", {}, 1));
  Instructions out = ws.Handle(Compute("b", {}, 2));
  EXPECT_EQ(Of<Execute>(out).size(), 1u);  // b runs ahead
  EXPECT_EQ(ws.executing_count(), 2);
  approve = false;
  EXPECT_TRUE(Of<Execute>(ws.Handle(Compute("c", {}, 3))).empty());
  // The native evaluator declines b, which ran ahead: back to ready, later in Python.
  NativeDeclinedEvent declined;
  declined.key = K("b");
  out = ws.Handle(WithStimulus(declined, "declined"));
  EXPECT_TRUE(Of<Execute>(out).empty());
  EXPECT_EQ(State(ws, "b"), TaskStatus::kReady);
  EXPECT_TRUE(ws.task(K("b"))->native_declined);
  out = ws.Handle(Success("a"));
  ASSERT_EQ(Of<Execute>(out).size(), 1u);
  EXPECT_EQ(Of<Execute>(out)[0]->key, K("b"));
  // Declined on a thread of its own: runs in Python there.
  declined.key = K("c");
  ws.Handle(Success("b"));
  out = ws.Handle(WithStimulus(declined, "declined-2"));
  ASSERT_EQ(Of<Execute>(out).size(), 1u);
  EXPECT_EQ(State(ws, "c"), TaskStatus::kExecuting);
}

TEST_F(WorkerStateTest, TransferLimitsSplitLargeMessages) {
  WorkerStateOptions o = Options();
  o.transfer_message_bytes_limit = 150;
  WorkerState ws(o);
  Instructions out = ws.Handle(Compute("x", {{"a", {kA}}, {"b", {kA}}}));
  ASSERT_EQ(Of<GatherDep>(out).size(), 1u);
  EXPECT_EQ(Of<GatherDep>(out)[0]->keys.size(), 1u);
}

TEST_F(WorkerStateTest, StoryRecordsTransitionsWithStimulusIds) {
  WorkerState ws(Options());
  ws.Handle(Compute("x", {}, 0, 1, "compute-x"));
  ws.Handle(Success("x", "done-x"));
  auto story = ws.Story({K("x")}, {});
  ASSERT_FALSE(story.empty());
  bool saw_executing_memory = false;
  for (const StoryRecord* r : story) {
    if (r->event.empty() && r->start == TaskStatus::kExecuting &&
        r->finish == TaskStatus::kMemory) {
      saw_executing_memory = true;
      EXPECT_EQ(r->stimulus_id, "done-x");
      const Array* tuple = r->ToValue().array();
      ASSERT_NE(tuple, nullptr);
      EXPECT_EQ(tuple->size(), 7u);
    }
  }
  EXPECT_TRUE(saw_executing_memory);
  EXPECT_FALSE(ws.Story({}, {"compute-x"}).empty());
}

TEST_F(WorkerStateTest, StoryIsABoundedRing) {
  WorkerStateOptions o = Options();
  o.story_length = 8;
  WorkerState ws(o);
  for (int i = 0; i < 20; ++i) {
    std::string k = "t" + std::to_string(i);
    ws.Handle(Compute(k.c_str()));
    ws.Handle(Success(k.c_str()));
    ws.Handle(Free({k.c_str()}));
  }
  EXPECT_TRUE(ws.Story({K("t0")}, {}).empty());
  EXPECT_FALSE(ws.Story({K("t19")}, {}).empty());
}

TEST_F(WorkerStateTest, InvalidTransitionAbortsUnderValidation) {
  WorkerState ws(Options());
  ws.Handle(Compute("x"));
  // A result for a task that is not running is a bug in the server.
  EXPECT_DEATH(ws.Handle(Success("nope")), "not executing");
}

TEST_F(WorkerStateTest, TaskCountsUseDaskSpelling) {
  WorkerState ws(Options(1));
  ws.Handle(Compute("a"));
  ws.Handle(Compute("b"));
  auto counts = ws.TaskCounts();
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(ToString(TaskStatus::kExecuting), "executing");
}

}  // namespace
}  // namespace dn::worker
