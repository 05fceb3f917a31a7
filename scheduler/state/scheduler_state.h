#pragma once

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

struct SchedulerConfig {
  /// `distributed.scheduler.worker-saturation`: root tasks are queued once every worker
  /// runs ceil(saturation * nthreads) tasks.
  double worker_saturation = 1.1;
  /// `distributed.scheduler.allowed-failures`: worker deaths a task may survive.
  int allowed_failures = 3;
  /// Check every invariant after each stimulus (tests); aborts on violation.
  bool validate = false;
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
  void AddClient(const std::string& id, double now);
  void RemoveClient(const std::string& id);
  /// Add the tasks of a graph and make `client` want `wanted`.
  void UpdateGraph(const std::string& client, std::vector<GraphTask> tasks,
                   const std::vector<Key>& wanted);
  /// Report a failed materialization to `client` as task-erred for each wanted key.
  void UpdateGraphFailed(const std::string& client, const std::vector<Key>& wanted,
                         const Value& exception, const Value& traceback);
  void ClientReleasesKeys(const std::string& client, const std::vector<Key>& keys);
  void ClientDesiresKeys(const std::string& client, const std::vector<Key>& keys);
  /// Cancel keys: forget them for every client and report cancelled-keys.
  void CancelKeys(const std::string& client, const std::vector<Key>& keys);
  /// Record scattered data: `keys` now live on `worker` with their sizes.
  void UpdateData(const std::string& client, const std::string& worker,
                  const std::vector<std::pair<Key, int64_t>>& keys);

  // --- workers -----------------------------------------------------------------
  Status AddWorker(std::unique_ptr<WorkerState> ws);
  void RemoveWorker(const std::string& address, std::string_view reason);
  void WorkerStatusChange(const std::string& address, const std::string& status);
  void TaskFinished(const std::string& worker, const Key& key, int64_t run_id, int64_t nbytes,
                    Buffer type, std::string type_name);
  void TaskErred(const std::string& worker, const Key& key, int64_t run_id, Value exception,
                 Value traceback);
  void AddKeys(const std::string& worker, const std::vector<Key>& keys);
  /// Ask `worker` to fetch copies of `keys` from their holders (acquire-replicas).
  void AcquireReplicas(const std::string& worker, const std::vector<TaskState*>& keys);
  /// Tell `worker` to shut down (the `close` stream op).
  void CloseWorker(const std::string& worker, std::string_view reason);
  void ReleaseWorkerData(const std::string& worker, const Key& key);
  /// A worker could not fetch `keys` from the holders it knew: send it the current
  /// holders (refresh-who-has; an empty list for keys no longer in memory).
  void RequestRefreshWhoHas(const std::string& worker, const std::vector<Key>& keys);

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

  /// Move out the messages produced so far.
  Outbox TakeOutbox();
  /// Check every invariant; returns the first violation.
  Status Validate() const;

 private:
  using Rec = std::pair<TaskState*, TaskStatus>;

  void Recommend(TaskState* ts, TaskStatus finish) { recs_.emplace_back(ts, finish); }
  void RunTransitions();
  void Transition(TaskState* ts, TaskStatus finish);
  void AfterStimulus();

  // Transitions, named after scheduler.py's _transition_<start>_<finish>.
  void TransitionReleasedWaiting(TaskState* ts);
  void TransitionWaitingProcessing(TaskState* ts);
  void TransitionProcessingReleased(TaskState* ts);
  void TransitionMemoryReleased(TaskState* ts);
  void TransitionToReleased(TaskState* ts);
  void TransitionToErred(TaskState* ts, TaskState* blame, Value exception, Value traceback);
  void TransitionReleasedForgotten(TaskState* ts);

  WorkerState* DecideWorker(TaskState* ts) const;
  bool HasRoom(const WorkerState* ws) const;
  void SendCompute(TaskState* ts, WorkerState* ws);
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
  /// Send `client` the key's current outcome (key-in-memory or task-erred), if any.
  void ReportState(const std::string& client, TaskState* ts);
  void SendToWorker(const std::string& address, Value message);
  void SendToClient(const std::string& id, Value message);
  void SetStatus(TaskState* ts, TaskStatus s);
  std::string StimulusId(std::string_view prefix);

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
  int64_t stimulus_counter_ = 0;
  size_t round_robin_ = 0;
  int64_t last_root_nbytes_ = 0;  ///< the size of the last root task's result
};

}  // namespace dn
