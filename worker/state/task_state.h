#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/buffer.h"
#include "protocol/messages/key.h"
#include "protocol/msgpack/value.h"

namespace dn::worker {

/// The worker's task states, spelled as distributed/worker_state_machine.py spells them
/// (`TaskStateState`). There is no `constrained` (resources are not honoured), no
/// `long-running` (no secede) and no `rescheduled`.
enum class TaskStatus : uint8_t {
  kReleased,
  kWaiting,
  kReady,
  kExecuting,
  kFetch,
  kFlight,
  kMissing,
  kMemory,
  kError,
  kCancelled,
  kResumed,
  kForgotten,
};
inline constexpr int kNumTaskStatuses = 12;

/// Return dask's spelling, e.g. "flight".
std::string_view ToString(TaskStatus s);

/// A task's run order: the scheduler's priority tuple with this worker's generation
/// appended (lower runs first), compared lexicographically as Python compares tuples.
using Priority = std::vector<double>;

/// What one task's failure carried (ExecuteFailureEvent), kept while it is in `error`.
struct TaskError {
  Value exception;  ///< Serialized pickled exception, or a str
  Value traceback;  ///< Serialized pickled traceback, or nil
  std::string exception_text;
  std::string traceback_text;
  Value thread;
  double start = 0;
  double stop = 0;
};

/// What the worker knows about one key (mirrors worker_state_machine.py:TaskState).
/// Owned by WorkerState; the pointers link tasks of the same WorkerState.
struct TaskState {
  Key key;
  /// Creation order: breaks priority ties in the ordered sets deterministically.
  uint64_t seq = 0;
  TaskStatus state = TaskStatus::kReleased;
  /// Set only in `cancelled` and `resumed`: what the task was doing when it was
  /// cancelled (`executing` or `flight`).
  std::optional<TaskStatus> previous;
  /// Set only in `resumed`: `fetch` (it was executing) or `waiting` (it was in flight).
  std::optional<TaskStatus> next;
  int64_t run_id = -1;
  /// nullopt for a key this worker only fetches (a dependency).
  std::optional<Pickled> run_spec;
  Priority priority;

  std::vector<TaskState*> dependencies;
  std::unordered_set<TaskState*> dependents;
  /// Dependencies not in memory yet (tasks in `waiting`, or resumed to it).
  std::unordered_set<TaskState*> waiting_for_data;
  /// Dependents waiting for this one (the inverse of waiting_for_data).
  std::unordered_set<TaskState*> waiters;

  /// Peers believed to hold the value (never this worker), in the order learnt.
  std::vector<std::string> who_has;
  /// The peer a transfer of this key is coming from (`flight` and its cancellations).
  std::string coming_from;
  /// Size in bytes: the scheduler's estimate until the value is here, then the real one.
  std::optional<int64_t> nbytes;
  /// The execution or transfer serving this task has ended (its done-event arrived);
  /// changes what leaving `executing`, `flight`, `cancelled` and `resumed` means.
  bool done = false;
  /// Started beyond nthreads (WorkerStateOptions::run_ahead).
  bool ran_ahead = false;
  /// The native evaluator declined the run_spec: run it in Python from now on.
  bool native_declined = false;

  /// The result's pickled type and its name, the thread and compute times of its run,
  /// reported in task-finished.
  Buffer type;
  std::string type_name;
  Value thread;
  double start = 0;
  double stop = 0;
  std::optional<TaskError> error;

  /// nbytes, or distributed's default-data-size (1 KiB) when unknown.
  int64_t get_nbytes() const { return nbytes.value_or(1024); }
};

/// Lower priority first, then creation order: the order of `ready` and `data_needed`.
struct PriorityLess {
  bool operator()(const TaskState* a, const TaskState* b) const {
    if (a->priority != b->priority) return a->priority < b->priority;
    return a->seq < b->seq;
  }
};

}  // namespace dn::worker
