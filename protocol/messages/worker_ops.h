#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "protocol/messages/key.h"
#include "protocol/msgpack/value.h"

namespace dn {

/// scheduler -> worker `compute-task` (worker_state_machine.py:ComputeTaskEvent; every
/// field required, no others). docs/protocol.md#compute-task.
struct ComputeTask {
  static constexpr std::string_view kOp = "compute-task";
  Key key;
  int64_t run_id = 0;
  Value priority;  ///< array of numbers, compared lexicographically
  std::string stimulus_id;
  std::vector<std::pair<Key, std::vector<std::string>>> who_has;  ///< holders per dependency
  std::vector<std::pair<Key, int64_t>> nbytes;                    ///< size per dependency
  std::optional<Pickled> run_spec;  ///< nullopt when the scheduler sent nil
  Value resource_restrictions;
  bool actor = false;
  Map annotations;
  Value span_id;

  /// Decode one op map; a missing or mistyped required field is a ProtocolError.
  static Result<ComputeTask> FromValue(const Value& msg);
  /// Encode with the stock field order (scheduler.py:_task_to_msg).
  Value ToValue() const;
};

/// One `startstops` entry: {"action": "compute", "start": t0, "stop": t1}.
struct StartStop {
  std::string action = "compute";
  double start = 0;
  double stop = 0;
};

/// worker -> scheduler `task-finished` (worker_state_machine.py:TaskFinishedMsg).
struct TaskFinished {
  static constexpr std::string_view kOp = "task-finished";
  Key key;
  int64_t run_id = 0;
  int64_t nbytes = 0;
  Buffer type;            ///< pickle.dumps(type(result)), protocol 5
  std::string type_name;  ///< dask.utils.typename(type(result))
  Map metadata;
  Value thread;  ///< thread id or nil
  std::vector<StartStop> startstops;
  std::string stimulus_id;

  /// Encode with the stock field order (key, run_id, nbytes, type, typename, metadata,
  /// thread, startstops, op, stimulus_id, status).
  Value ToValue() const;
};

/// worker -> scheduler `task-erred` (worker_state_machine.py:TaskErredMsg).
struct TaskErred {
  static constexpr std::string_view kOp = "task-erred";
  Key key;
  int64_t run_id = 0;
  Value exception;  ///< Serialized bytes of the pickled exception
  Value traceback;  ///< Serialized bytes of the pickled traceback, or nil
  std::string exception_text;
  std::string traceback_text;
  Value thread;
  std::vector<StartStop> startstops;
  std::string stimulus_id;

  /// Encode with the stock field order.
  Value ToValue() const;
};

}  // namespace dn
