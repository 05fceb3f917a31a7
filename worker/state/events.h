#pragma once

// The stimuli that drive WorkerState, named after distributed/worker_state_machine.py's
// StateMachineEvent subclasses. Each carries the stimulus_id of the message or outcome
// that caused it (every instruction it leads to carries the same id) and the wall time
// it was handled at (the state machine reads no clock; the time only goes to the story).

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/messages/worker_ops.h"
#include "worker/state/task_state.h"

namespace dn::worker {

/// Fields every event has.
struct EventBase {
  std::string stimulus_id;
  double timestamp = 0;  ///< wall time, for the story only
};

/// Holders per key, as compute-task, acquire-replicas and refresh-who-has send them.
using WhoHas = std::vector<std::pair<Key, std::vector<std::string>>>;

/// scheduler `compute-task`. The stimulus_id is the message's (`task.stimulus_id`).
struct ComputeTaskEvent : EventBase {
  ComputeTask task;
};
/// scheduler `free-keys` (and the `free_keys` RPC): the scheduler needs these no more.
struct FreeKeysEvent : EventBase {
  std::vector<Key> keys;
};
/// scheduler `steal-request`: give the task up if it has not started.
struct StealRequestEvent : EventBase {
  Key key;
};
/// scheduler `cancel-compute`: best effort, only a task that has not started.
struct CancelComputeEvent : EventBase {
  Key key;
};
/// scheduler `remove-replicas`: drop these replicas unless a task here still needs them.
struct RemoveReplicasEvent : EventBase {
  std::vector<Key> keys;
  /// Keys the server is still reading (serializing for a peer): kept, like needed ones.
  std::vector<Key> in_use;
};
/// scheduler `acquire-replicas`: copy these keys from their holders.
struct AcquireReplicasEvent : EventBase {
  WhoHas who_has;
  std::vector<std::pair<Key, int64_t>> nbytes;
};
/// scheduler `refresh-who-has`: the current holders of keys this worker asked about.
struct RefreshWhoHasEvent : EventBase {
  WhoHas who_has;
};
/// scheduler `remove-worker`: a peer left; never fetch from it again.
struct RemoveWorkerEvent : EventBase {
  std::string worker;
};
/// Values the server stored outside a transfer or a run (`update_data`, the `gather`
/// RPC, scatter): key and size. They go to memory without telling the scheduler.
struct UpdateDataEvent : EventBase {
  std::vector<std::pair<Key, int64_t>> data;
};

/// An Execute instruction ended with a result, which the server now holds.
struct ExecuteSuccessEvent : EventBase {
  Key key;
  int64_t nbytes = 0;
  Buffer type;  ///< pickle of the result's type
  std::string type_name;
  Value thread;
  double start = 0;
  double stop = 0;
};
/// An Execute instruction ended with the task raising.
struct ExecuteFailureEvent : EventBase {
  Key key;
  TaskError error;
};
/// Ours, not stock's: the native evaluator declined an Execute; the task must run in
/// Python. It keeps its thread if it has one, else goes back to `ready`.
struct NativeDeclinedEvent : EventBase {
  Key key;
};

/// A GatherDep instruction ended with a reply. `data` holds the keys the server stored
/// (with their sizes); keys of the request missing from it were not there.
/// `unreadable` (ours) holds keys that arrived but failed to deserialize: they go to
/// `error`, as stock's GatherDepFailureEvent takes them, and so do the tasks here that
/// wait for them (stock leaves those waiting forever, dask/distributed#6705).
struct GatherDepSuccessEvent : EventBase {
  std::string worker;
  int64_t total_nbytes = 0;
  std::vector<std::pair<Key, int64_t>> data;
  std::vector<std::pair<Key, TaskError>> unreadable;
};
/// A GatherDep instruction ended with the peer answering that it is busy.
struct GatherDepBusyEvent : EventBase {
  std::string worker;
  int64_t total_nbytes = 0;
};
/// A GatherDep instruction ended without a reply (connection refused or lost): the peer
/// is taken for dead, for every key, as stock does.
struct GatherDepNetworkFailureEvent : EventBase {
  std::string worker;
  int64_t total_nbytes = 0;
};
/// The RetryBusyWorkerLater delay ended.
struct RetryBusyWorkerEvent : EventBase {
  std::string worker;
};

/// Process memory passed the pause threshold: start no task and no transfer.
struct PauseEvent : EventBase {};
/// Process memory fell below the pause threshold again.
struct UnpauseEvent : EventBase {};
/// Periodic (every second, as stock): ask the scheduler again about `missing` keys.
struct FindMissingEvent : EventBase {};

using Event =
    std::variant<ComputeTaskEvent, FreeKeysEvent, StealRequestEvent, CancelComputeEvent,
                 RemoveReplicasEvent, AcquireReplicasEvent, RefreshWhoHasEvent, RemoveWorkerEvent,
                 UpdateDataEvent, ExecuteSuccessEvent, ExecuteFailureEvent, NativeDeclinedEvent,
                 GatherDepSuccessEvent, GatherDepBusyEvent, GatherDepNetworkFailureEvent,
                 RetryBusyWorkerEvent, PauseEvent, UnpauseEvent, FindMissingEvent>;

}  // namespace dn::worker
