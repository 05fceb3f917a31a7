#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "worker/state/events.h"
#include "worker/state/instructions.h"
#include "worker/state/task_state.h"

namespace dn::worker {

/// Settings of one WorkerState; the defaults are stock's (distributed.yaml).
struct WorkerStateOptions {
  /// This worker's address; never fetched from. May be set later (set_address), before
  /// the first event that names holders.
  std::string address;
  int nthreads = 1;  ///< tasks executing at once (plus run_ahead)
  /// Check every invariant after each transition and event; abort on a violation or an
  /// invalid transition, printing the task's story. Tests turn it on.
  bool validate = false;
  /// Ours, not stock's: tasks that may start beyond nthreads while `may_run_ahead`
  /// approves the best ready task. The native executor queues such a task, so its thread
  /// goes from one short task to the next without a round trip through the event loop
  /// (worker_server_internal.h: kNativeLookahead has the measurements). The decision
  /// needs facts only the server has (which values are held natively, whether Python
  /// runs a task, how long native tasks take), hence a hook, like the scheduler's
  /// WorkerSelector; it is asked only about the best ready task, so tasks still start in
  /// priority order.
  int run_ahead = 0;
  std::function<bool(const TaskState&)> may_run_ahead;
  /// distributed.worker.connections.outgoing: peers fetched from at once...
  int transfer_incoming_count_limit = 50;
  /// ...unless fewer than this many bytes are in flight.
  int64_t transfer_incoming_bytes_throttle_threshold = 10'000'000;
  /// distributed.worker.memory.transfer × memory limit: bytes in flight at most.
  int64_t transfer_incoming_bytes_limit = std::numeric_limits<int64_t>::max();
  /// distributed.worker.transfer.message-bytes-limit: bytes per get_data (the first key
  /// always goes).
  int64_t transfer_message_bytes_limit = 50'000'000;
  /// Story records kept (distributed.admin.low-level-log-length, smaller).
  size_t story_length = 20000;
};

/// One record of the story: a transition, or an event about one key.
struct StoryRecord {
  Key key;
  /// Empty for a transition (key, start, finish, final, recommendations); else what
  /// happened ("compute-task", "missing-dep", ...) and the state at the time (`start`).
  std::string_view event;
  TaskStatus start = TaskStatus::kReleased;
  TaskStatus finish = TaskStatus::kReleased;  ///< recommended
  TaskStatus final = TaskStatus::kReleased;   ///< reached
  std::vector<std::pair<Key, TaskStatus>> recommendations;
  std::string stimulus_id;
  double timestamp = 0;
  /// The tuple stock's WorkerState.story returns: (key, start, finish, final, {key:
  /// state}, stimulus_id, timestamp) or (key, event, state, stimulus_id, timestamp).
  Value ToValue() const;
};

/// The worker's task state machine (mirrors distributed/worker_state_machine.py:
/// WorkerState): events in, instructions out. Pure and single-threaded: no I/O, no
/// clock, no Python; the server owns the values and carries out the instructions.
///
/// Transitions are looked up in a (start, finish) table; a pair not in it goes through
/// `released` when neither end is `released`, as stock does, and is otherwise an
/// invalid transition. Not to be confused with the scheduler's dn::WorkerState.
class WorkerState {
 public:
  explicit WorkerState(WorkerStateOptions options);
  ~WorkerState();
  WorkerState(const WorkerState&) = delete;
  WorkerState& operator=(const WorkerState&) = delete;

  /// Handle one event: run its recommendations to completion, start transfers, and
  /// return what the server must do, in order.
  Instructions Handle(Event ev);
  /// Handle several events (one batch read from the scheduler stream); transfers are
  /// chosen once at the end, so keys wanted by several events share a get_data.
  Instructions HandleAll(std::vector<Event> evs);

  /// The task of `key`, or nullptr. Valid until the next event.
  const TaskState* task(const Key& key) const;
  /// Whether `key` is in `memory` (the server holds its value).
  bool InMemory(const Key& key) const;
  void set_address(std::string address) { options_.address = std::move(address); }
  const WorkerStateOptions& options() const { return options_; }
  bool running() const { return running_; }
  /// Tasks holding an execution slot (executing, and cancelled or resumed ones whose
  /// run has not ended).
  int executing_count() const { return static_cast<int>(executing_.size()); }
  size_t ready_count() const { return ready_.size(); }
  size_t task_count() const { return tasks_.size(); }
  /// Tasks per state, by dask's spelling (heartbeat `task_counts`).
  std::vector<std::pair<std::string_view, int64_t>> TaskCounts() const;

  /// The story records that name any of `keys` or `stimulus_ids`, oldest first
  /// (stock's WorkerState.story).
  std::vector<const StoryRecord*> Story(const std::vector<Key>& keys,
                                        const std::vector<std::string>& stimulus_ids) const;
  /// Check every invariant; on a violation print it with the task's story and abort.
  void Validate() const;

 private:
  struct Rec {
    TaskState* ts;
    TaskStatus finish;
  };
  using Recs = std::vector<Rec>;
  using TransitionFn = void (WorkerState::*)(TaskState*, Recs&, Instructions&);
  using TaskSet = std::set<TaskState*, PriorityLess>;
  friend struct TransitionTable;

  // Events (worker_state.cc). Each returns recommendations in `recs`.
  /// One event of a batch: its transitions, without the batch's closing steps.
  void Step(Event& ev, Instructions& out);
  void Dispatch(Event& ev, Recs& recs, Instructions& out);
  void On(ComputeTaskEvent& ev, Recs& recs, Instructions& out);
  void On(FreeKeysEvent& ev, Recs& recs, Instructions& out);
  void On(StealRequestEvent& ev, Recs& recs, Instructions& out);
  void On(CancelComputeEvent& ev, Recs& recs, Instructions& out);
  void On(RemoveReplicasEvent& ev, Recs& recs, Instructions& out);
  void On(AcquireReplicasEvent& ev, Recs& recs, Instructions& out);
  void On(RefreshWhoHasEvent& ev, Recs& recs, Instructions& out);
  void On(RemoveWorkerEvent& ev, Recs& recs, Instructions& out);
  void On(UpdateDataEvent& ev, Recs& recs, Instructions& out);
  void On(ExecuteSuccessEvent& ev, Recs& recs, Instructions& out);
  void On(ExecuteFailureEvent& ev, Recs& recs, Instructions& out);
  void On(NativeDeclinedEvent& ev, Recs& recs, Instructions& out);
  void On(GatherDepSuccessEvent& ev, Recs& recs, Instructions& out);
  void On(GatherDepBusyEvent& ev, Recs& recs, Instructions& out);
  void On(GatherDepNetworkFailureEvent& ev, Recs& recs, Instructions& out);
  void On(RetryBusyWorkerEvent& ev, Recs& recs, Instructions& out);
  void On(PauseEvent& ev, Recs& recs, Instructions& out);
  void On(UnpauseEvent& ev, Recs& recs, Instructions& out);
  void On(FindMissingEvent& ev, Recs& recs, Instructions& out);

  // Helpers shared by events and transitions.
  TaskState* Find(const Key& key) const;
  TaskState* EnsureTask(const Key& key, const Priority& priority);
  void SetPriority(TaskState* ts, Priority priority);
  void UpdateWhoHas(const WhoHas& who_has);
  void PurgeState(TaskState* ts);
  TaskState* ExecuteDoneCommon(const Key& key);
  std::vector<TaskState*> GatherDepDoneCommon(const std::string& worker, int64_t total_nbytes);
  void EnsureComputing(Recs& recs);
  void EnsureCommunicating(Instructions& out);
  bool ShouldThrottleIncomingTransfers() const;
  bool TaskExceedsTransferLimits(const TaskState* ts, int64_t message_nbytes) const;
  TaskFinishedMsg TaskFinishedFor(const TaskState* ts, int64_t run_id) const;
  static void Recommend(Recs& recs, TaskState* ts, TaskStatus finish);
  void RunTransitions(Recs recs, Instructions& out);
  /// Return false for an invalid transition (after aborting in validate mode).
  bool Transition(TaskState* ts, TaskStatus finish, Recs& recs, Instructions& out);
  void BeginEvent(const EventBase& ev);
  void EndEvent();
  void Log(const TaskState* ts, std::string_view event);
  StoryRecord& NextRecord();
  [[noreturn]] void Fail(const TaskState* ts, const std::string& what) const;

  // Transitions (transitions.cc), named after stock's _transition_<start>_<finish>.
  void TransitionGenericFetch(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionGenericMissing(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionGenericReleased(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionGenericError(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionReleasedWaiting(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionReleasedFetch(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionReleasedMemory(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionReleasedForgotten(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionMissingWaiting(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionMissingFetch(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionMissingReleased(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionFetchFlight(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionFetchMissing(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionFetchReleased(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionFlightFetch(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionFlightMissing(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionFlightMemory(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionFlightReleased(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionWaitingReady(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionWaitingError(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionReadyExecuting(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionExecutingMemory(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionExecutingReleased(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionExecutingReady(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionMemoryReleased(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionCancelledFetch(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionCancelledWaiting(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionCancelledReleased(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionResumedError(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionResumedFetch(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionResumedMissing(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionResumedReleased(TaskState* ts, Recs& recs, Instructions& out);
  void TransitionResumedMemory(TaskState* ts, Recs& recs, Instructions& out);
  enum class MemoryMsg : uint8_t { kNone, kAddKeys, kTaskFinished };
  void TransitionToMemory(TaskState* ts, MemoryMsg msg, Recs& recs, Instructions& out);
  static TransitionFn LookUp(TaskStatus start, TaskStatus finish);

  // Validation (validate.cc).
  void ValidateTask(const TaskState* ts) const;

  WorkerStateOptions options_;
  std::unordered_map<Key, std::unique_ptr<TaskState>, KeyHash> tasks_;
  uint64_t next_seq_ = 0;
  /// Decreases with every compute-task: appended to priorities, so that of two tasks
  /// the scheduler ranked equal the later one runs first (stock's `generation`).
  double generation_ = 0;
  bool running_ = true;  ///< false while paused

  TaskSet ready_;
  std::unordered_set<TaskState*> waiting_;
  std::unordered_set<TaskState*> executing_;
  std::unordered_set<TaskState*> in_flight_tasks_;
  std::unordered_set<TaskState*> missing_dep_flight_;
  /// Tasks in `fetch` per peer holding them, best priority first.
  std::unordered_map<std::string, TaskSet> data_needed_;
  int64_t fetch_count_ = 0;
  /// Tasks per peer believed to hold them (the inverse of TaskState::who_has).
  std::unordered_map<std::string, std::unordered_set<TaskState*>> has_what_;
  /// Peers with a get_data under way, and the tasks it fetches.
  std::unordered_map<std::string, std::vector<TaskState*>> in_flight_workers_;
  std::unordered_set<std::string> busy_workers_;
  int64_t transfer_incoming_bytes_ = 0;
  int64_t nbytes_in_memory_ = 0;

  // The event being handled.
  std::string stimulus_id_;
  double now_ = 0;
  std::vector<TaskState*> touched_;
  /// Forgotten tasks, freed when the event ends (recommendations may still name them).
  std::vector<std::unique_ptr<TaskState>> forgotten_;

  /// Ring buffer of story records; `story_next_` is the oldest once it is full.
  std::vector<StoryRecord> story_;
  size_t story_next_ = 0;
};

}  // namespace dn::worker
