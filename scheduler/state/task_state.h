#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "protocol/messages/key.h"
#include "protocol/msgpack/value.h"

namespace dn {

struct WorkerState;
struct ClientState;

/// dask's task states (distributed/scheduler.py), spelled as dask spells them.
enum class TaskStatus : uint8_t {
  kReleased,
  kWaiting,
  kNoWorker,
  kQueued,
  kProcessing,
  kMemory,
  kErred,
  kForgotten,
};

/// Return dask's spelling, e.g. "no-worker".
std::string_view ToString(TaskStatus s);

/// Scheduling priority: (-annotated priority, generation, graph order); lower runs first.
struct Priority {
  double user = 0;
  double generation = 0;
  int64_t order = 0;
  auto operator<=>(const Priority&) const = default;
  Value ToValue() const;
};

/// What the scheduler knows about one key (mirrors scheduler.py:TaskState).
struct TaskState {
  Key key;
  std::string prefix;  ///< key_split(key)
  TaskStatus status = TaskStatus::kReleased;
  /// The pickled GraphNode; nullopt for keys that exist only as data (scatter).
  std::optional<Pickled> run_spec;
  Priority priority;
  Map annotations;

  std::vector<TaskState*> dependencies;
  std::unordered_set<TaskState*> dependents;
  /// Dependencies not yet in memory (waiting tasks only).
  std::unordered_set<TaskState*> waiting_on;
  /// Dependents that still need this task's result.
  std::unordered_set<TaskState*> waiters;
  std::unordered_set<WorkerState*> who_has;
  std::unordered_set<ClientState*> who_wants;
  WorkerState* processing_on = nullptr;

  int64_t run_id = 0;
  int64_t nbytes = -1;
  Buffer type;  ///< pickled type from task-finished, forwarded to clients
  std::string type_name;

  /// Restrictions from the `workers` annotation (addresses or hosts).
  std::vector<std::string> worker_restrictions;
  bool loose_restrictions = false;  ///< `allow_other_workers`
  int retries = 0;
  int suspicious = 0;  ///< times a worker died while running it

  /// For erred tasks: the worker's exception and traceback blobs (or a str exception).
  Value exception;
  Value traceback;
  TaskState* exception_blame = nullptr;
  /// Workers where it erred: they still hold its error and get free-keys when it is
  /// released (scheduler.py:TaskState.erred_on).
  std::vector<std::string> erred_on;

  bool root_ish() const { return dependencies.empty(); }
};

}  // namespace dn
