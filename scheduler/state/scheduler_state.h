#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.h"
#include "protocol/messages/key.h"
#include "scheduler/state/task_metadata.h"
#include "scheduler/state/task_state.h"
#include "scheduler/state/worker_state.h"

namespace dn {

/// One task of a newly submitted graph, as ingestion produced it.
struct GraphTask {
  Key key;
  std::vector<Key> dependencies;
  int64_t order = 0;
  Map annotations;
  Pickled run_spec;
};

/// Messages the state machine wants sent, grouped per recipient (one batch each).
struct Outbox {
  std::unordered_map<std::string, Array> to_workers;  ///< by worker address
  std::unordered_map<std::string, Array> to_clients;  ///< by client id
  bool empty() const { return to_workers.empty() && to_clients.empty(); }
};

/// The stimulus being handled: the id of the message that caused it (its
/// `stimulus_id`, or one the server made up as stock does, "<op>-<time>") and the time
/// it arrived. Every transition it causes, and every message those send, carry the id.
struct Stimulus {
  std::string id;
  double now = 0;
};

/// One entry of the transition log (scheduler.py:Transition), what `get_story` returns.
struct TransitionRecord {
  Key key;
  TaskStatus start;
  TaskStatus finish;  ///< where the task actually ended
  std::vector<std::pair<Key, TaskStatus>> recommendations;
  /// Shared by the records of one stimulus: a stimulus runs many transitions.
  std::shared_ptr<const std::string> stimulus_id;
  double timestamp;
};

struct SchedulerConfig {
  /// `distributed.scheduler.worker-saturation`: root tasks are queued once every worker
  /// runs ceil(saturation * nthreads) tasks.
  double worker_saturation = 1.1;
  /// `distributed.scheduler.allowed-failures`: worker deaths a task may survive.
  int allowed_failures = 3;
  /// Check the task after each transition and every invariant after each stimulus
  /// (tests); aborts on a violation or an InvalidTransition.
  bool validate = false;
  /// `distributed.admin.low-level-log-length`: transitions kept for `get_story`.
  size_t transition_log_length = 1000;
};

/// The scheduler's task state machine: pure, single-threaded, no I/O.
///
/// Mirrors distributed/scheduler.py:SchedulerState: each public method is a stimulus
/// that runs transitions to completion and leaves the messages to send in outbox().
/// Owned and called by the event loop thread only.
class SchedulerState {
 public:
  explicit SchedulerState(SchedulerConfig config = {});
  ~SchedulerState();

  // --- clients -----------------------------------------------------------------
  void AddClient(const std::string& id, const Stimulus& stim);
  void RemoveClient(const std::string& id, const Stimulus& stim);
  /// Add the tasks of a graph and make `client` want `wanted`.
  void UpdateGraph(const std::string& client, std::vector<GraphTask> tasks,
                   const std::vector<Key>& wanted, const Stimulus& stim);
  /// Report a failed materialization to `client` as task-erred for each wanted key.
  void UpdateGraphFailed(const std::string& client, const std::vector<Key>& wanted,
                         const Value& exception, const Value& traceback, const Stimulus& stim);
  void ClientReleasesKeys(const std::string& client, const std::vector<Key>& keys,
                          const Stimulus& stim);
  void ClientDesiresKeys(const std::string& client, const std::vector<Key>& keys,
                         const Stimulus& stim);
  /// Cancel keys: forget them for every client and report cancelled-keys.
  void CancelKeys(const std::string& client, const std::vector<Key>& keys, const Stimulus& stim);
  /// Record scattered data: `keys` now live on `worker` with their sizes.
  void UpdateData(const std::string& client, const std::string& worker,
                  const std::vector<std::pair<Key, int64_t>>& keys, const Stimulus& stim);
  /// A client is alive (any message on its stream).
  void ClientHeartbeat(const std::string& client, const Stimulus& stim);

  // --- workers -----------------------------------------------------------------
  Status AddWorker(std::unique_ptr<WorkerState> ws, const Stimulus& stim);
  void RemoveWorker(const std::string& address, std::string_view reason, const Stimulus& stim);
  void WorkerStatusChange(const std::string& address, const std::string& status,
                          const Stimulus& stim);
  /// A heartbeat: the worker is alive and reports `metrics` (nullptr: none). False
  /// if the worker is unknown.
  bool WorkerHeartbeat(const std::string& address, const Value* metrics, const Stimulus& stim);
  /// Returns true when the report moved the task from processing to memory (what the
  /// task stream records); false for a stale or unknown one.
  bool TaskFinished(const std::string& worker, const Key& key, int64_t run_id, int64_t nbytes,
                    Buffer type, std::string type_name, const Stimulus& stim);
  /// Returns true when the task went from processing to erred (no retries left).
  bool TaskErred(const std::string& worker, const Key& key, int64_t run_id, Value exception,
                 Value traceback, const Stimulus& stim);
  void AddKeys(const std::string& worker, const std::vector<Key>& keys, const Stimulus& stim);
  /// One round of retire_workers: for each result only the `retiring` workers hold
  /// and something still needs, choose a running worker (the one holding the fewest
  /// bytes) and, if `send`, ask it to fetch a copy (acquire-replicas). Returns true
  /// while a retiring worker still runs a task or holds such a result.
  bool ReplicateFromRetiring(const std::vector<std::string>& retiring, bool send,
                             const Stimulus& stim);
  /// Tell `worker` to shut down (the `close` stream op).
  void CloseWorker(const std::string& worker, std::string_view reason, const Stimulus& stim);
  void ReleaseWorkerData(const std::string& worker, const Key& key, const Stimulus& stim);
  /// A worker could not fetch `keys` from the holders it knew: send it the current
  /// holders (refresh-who-has; an empty list for keys no longer in memory).
  void RequestRefreshWhoHas(const std::string& worker, const std::vector<Key>& keys,
                            const Stimulus& stim);

  // --- client requests (client_requests.cc) ----------------------------------------
  /// Client.retry (scheduler.py:stimulus_retry): from each of `keys`, follow erred
  /// dependencies down to the tasks with none, and recommend those to waiting; their
  /// release sends `task-retried` to the clients wanting them and recommends their
  /// erred dependents to waiting in turn. Returns every key visited, or NotFound
  /// (message: the key's repr, stock's KeyError) for an unknown key, changing nothing.
  Result<std::vector<Key>> Retry(const std::vector<Key>& keys, const Stimulus& stim);
  /// scheduler.py:set_restrictions: each task may run only on the workers named (by
  /// address, host or name; an empty list lifts the restriction). Takes effect at the
  /// next placement. NotFound (the key's repr) at the first unknown key; the ones
  /// before it are set, as stock's loop leaves them.
  Status SetRestrictions(const std::vector<std::pair<Key, std::vector<std::string>>>& restrictions);
  /// Client.set_metadata / get_metadata: the nested dict stock keeps as
  /// `task_metadata`; a task's top-level entry goes when the task is forgotten.
  TaskMetadata& task_metadata() { return task_metadata_; }
  const TaskMetadata& task_metadata() const { return task_metadata_; }

  // --- queries -----------------------------------------------------------------
  TaskState* task(const Key& key) const;
  WorkerState* worker(const std::string& address) const;
  ClientState* client(const std::string& id) const;
  const std::vector<std::unique_ptr<WorkerState>>& workers() const { return workers_; }
  size_t num_tasks() const { return tasks_.size(); }
  const std::unordered_map<Key, std::unique_ptr<TaskState>, KeyHash>& tasks() const {
    return tasks_;
  }
  /// Count of tasks per status, indexed by TaskStatus.
  std::vector<int64_t> StatusCounts() const;
  int64_t total_threads() const;

  /// The workers not heard from for longer than the effective TTL: stock's rule,
  /// max(`ttl`, 10 heartbeat intervals for this many workers).
  std::vector<std::string> WorkersPastTtl(double ttl, double now) const;
  /// The heartbeat interval stock asks of `n` workers (scheduler.py:heartbeat_interval).
  static double HeartbeatInterval(size_t n);

  /// The logged transitions that touch one of `keys_or_stimuli`: as the key, as a key
  /// recommended, or (a string) as the stimulus id (stock's scheduler_story).
  std::vector<const TransitionRecord*> Story(const std::vector<Key>& keys_or_stimuli) const;
  /// Transition one key now, as stock's `_transition` (tests). A pair outside the
  /// transition table returns an InvalidTransition error and changes nothing.
  Status TransitionKey(const Key& key, TaskStatus finish, const Stimulus& stim);

  /// Move out the messages produced so far.
  Outbox TakeOutbox();
  /// Check every invariant; returns the first violation.
  Status Validate() const;

 private:
  /// A recommended transition. It is void if the task has left `start` by the time it
  /// runs (a later transition decided for it), or, when `unless_needed`, if something
  /// needs the task again by then (e.g. a dependent went back to waiting on it).
  struct Rec {
    TaskState* ts;
    TaskStatus start;
    TaskStatus finish;
    bool unless_needed;
  };
  /// What some transitions need besides the task (stock passes them as kwargs).
  struct TransitionArgs {
    WorkerState* worker = nullptr;  ///< processing: where to run; memory: the holder
    int64_t nbytes = -1;            ///< memory: the result's size
    Buffer type;                    ///< processing-memory: the result's pickled type
    std::string type_name;
  };
  using TransitionFn = void (SchedulerState::*)(TaskState*, TransitionArgs&);
  static constexpr size_t kNumStatus = static_cast<size_t>(TaskStatus::kForgotten) + 1;
  /// scheduler.py's _TRANSITIONS_TABLE, indexed by (start, finish); defined in
  /// transitions.cc.
  static const std::array<std::array<TransitionFn, kNumStatus>, kNumStatus> kTransitions;

  /// Open a stimulus: messages and transitions carry its id until CloseStimulus.
  void OpenStimulus(const Stimulus& stim);
  /// Run the recommendations, hand queued root tasks to free threads, forget forgotten
  /// tasks and, with validation, check every invariant.
  void CloseStimulus();
  void Recommend(TaskState* ts, TaskStatus finish, bool unless_needed = false) {
    recs_.push_back(Rec{ts, ts->status, finish, unless_needed});
  }
  void RunTransitions();
  /// Move `ts` to `finish` through the table (two steps through released for pairs
  /// stock also bridges that way); InvalidTransition for any other pair.
  Status Transition(TaskState* ts, TaskStatus finish, TransitionArgs& args);
  Status Transition(TaskState* ts, TaskStatus finish) {
    TransitionArgs none;
    return Transition(ts, finish, none);
  }
  void LogTransition(TaskState* ts, TaskStatus start, size_t first_rec);
  /// Check one task's invariants (after each of its transitions, with validation).
  Status ValidateTask(const TaskState& ts) const;

  // Transitions, named after scheduler.py's _transition_<start>_<finish>.
  void TransitionReleasedWaiting(TaskState* ts, TransitionArgs& args);
  void TransitionWaitingProcessing(TaskState* ts, TransitionArgs& args);
  void TransitionProcessingMemory(TaskState* ts, TransitionArgs& args);
  void TransitionReleasedMemory(TaskState* ts, TransitionArgs& args);
  void TransitionWaitingReleased(TaskState* ts, TransitionArgs& args);
  void TransitionProcessingReleased(TaskState* ts, TransitionArgs& args);
  void TransitionMemoryReleased(TaskState* ts, TransitionArgs& args);
  void TransitionErredReleased(TaskState* ts, TransitionArgs& args);
  /// Any unfinished state to erred; the caller has set ts->exception, traceback and
  /// exception_blame (ErrTask).
  void TransitionToErred(TaskState* ts, TransitionArgs& args);
  void TransitionReleasedForgotten(TaskState* ts, TransitionArgs& args);
  /// Record why `ts` fails and recommend erred.
  void ErrTask(TaskState* ts, TaskState* blame, Value exception, Value traceback);
  /// Common tail of the releases of unfinished tasks.
  void ReleaseUnfinished(TaskState* ts);
  /// After a release: wait again if needed, else forget if nothing refers to it.
  void AfterRelease(TaskState* ts);

  WorkerState* DecideWorker(TaskState* ts) const;
  bool HasRoom(const WorkerState* ws) const;
  void FillFreeSlots();
  /// What the running workers of one host hold and run (see WaitsForNeighbours).
  struct HostLoad {
    int64_t busy_threads = 0;                                ///< threads with a task to run
    double least = std::numeric_limits<double>::infinity();  ///< fewest tasks per thread
    /// Fewest tasks per thread among the workers with room for another task.
    double least_with_room = std::numeric_limits<double>::infinity();
    /// Fewest tasks per thread among the workers reporting their CPUs that run a task
    /// and whose next root task would stay under their high water.
    double least_busy_below_high_water = std::numeric_limits<double>::infinity();
  };
  using HostLoads = std::unordered_map<std::string_view, HostLoad>;
  /// The loads of the hosts that have two or more workers.
  HostLoads LoadsOfSharedHosts() const;
  /// True when `ws` should leave a queued root task to a co-located worker (see
  /// transitions.cc).
  bool WaitsForNeighbours(const WorkerState* ws, const HostLoads& loads) const;
  /// True when another root task's result would take a co-located worker past the
  /// most bytes it has held before (see transitions.cc).
  bool AtHighWater(const WorkerState* ws, const HostLoads& loads) const;
  bool PastHighWater(const WorkerState* ws) const;
  /// A running worker below its saturation limit that need not wait for its
  /// neighbours, the least busy one, preferring one below its high water; or nullptr.
  WorkerState* RoomiestWorker(const HostLoads& loads) const;
  bool Needed(const TaskState* ts) const;
  void ReleaseIfUnneeded(TaskState* ts);
  void ReportToClients(TaskState* ts, Value message);
  Value FreeKeysMessage(const TaskState* ts) const;
  /// Send `client` the key's current outcome (key-in-memory or task-erred), if any.
  void ReportState(const std::string& client, TaskState* ts);
  void SendToWorker(const std::string& address, Value message);
  void SendToClient(const std::string& id, Value message);
  void SetStatus(TaskState* ts, TaskStatus s);
  /// The id of the stimulus being handled.
  const std::string& StimulusId() const { return *stimulus_id_; }

  SchedulerConfig config_;
  std::unordered_map<Key, std::unique_ptr<TaskState>, KeyHash> tasks_;
  std::vector<std::unique_ptr<WorkerState>> workers_;
  std::unordered_map<std::string, WorkerState*> workers_by_address_;
  std::unordered_map<std::string, std::vector<WorkerState*>> workers_by_host_;
  std::unordered_map<std::string, std::unique_ptr<ClientState>> clients_;
  struct QueueOrder {
    bool operator()(const TaskState* a, const TaskState* b) const {
      if (a->priority != b->priority) return a->priority < b->priority;
      return a < b;
    }
  };
  std::set<TaskState*, QueueOrder> queued_;
  std::set<TaskState*, QueueOrder> unrunnable_;  ///< no-worker
  std::deque<Rec> recs_;
  std::vector<TaskState*> forgotten_;
  Outbox outbox_;
  double generation_ = 0;
  int64_t next_run_id_ = 1;
  std::shared_ptr<const std::string> stimulus_id_;
  double now_ = 0;  ///< the time of the stimulus being handled
  std::deque<TransitionRecord> transition_log_;
  TaskMetadata task_metadata_;
  /// With validation: the whole state is checked at least once per this many tasks'
  /// worth of stimuli (CloseStimulus).
  static constexpr size_t kFullValidationTasks = 100;
  size_t stimuli_since_validation_ = 0;
  size_t round_robin_ = 0;
  int64_t last_root_nbytes_ = 0;  ///< the size of the last root task's result
};

}  // namespace dn
