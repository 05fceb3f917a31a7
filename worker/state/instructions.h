#pragma once

// What WorkerState asks its server to do, named after worker_state_machine.py's
// Instruction subclasses. Each carries the stimulus_id of the event that produced it.
// The scheduler messages encode (ToValue) to exactly the maps docs/protocol.md lists.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "protocol/messages/worker_ops.h"
#include "worker/state/task_state.h"

namespace dn::worker {

/// Run the task: its run_spec and dependencies are in WorkerState::task(key). The
/// server answers with ExecuteSuccessEvent, ExecuteFailureEvent or NativeDeclinedEvent.
struct Execute {
  Key key;
  std::string stimulus_id;
};
/// Fetch `keys` from `worker` with one get_data. The server stores what arrives and
/// answers with a GatherDep*Event carrying the same worker and total_nbytes.
struct GatherDep {
  std::string worker;
  std::vector<Key> keys;
  int64_t total_nbytes = 0;
  std::string stimulus_id;
};
/// After a short delay (stock: 0.15 s), send RetryBusyWorkerEvent for `worker`.
struct RetryBusyWorkerLater {
  std::string worker;
  std::string stimulus_id;
};

/// `task-finished` (TaskFinishedMsg) and `task-erred` (TaskErredMsg) are the protocol's
/// TaskFinished and TaskErred.
using TaskFinishedMsg = TaskFinished;
using TaskErredMsg = TaskErred;

/// `release-worker-data`: this worker dropped its value of `key`. The server drops the
/// value from its store when it sends this.
struct ReleaseWorkerDataMsg {
  static constexpr std::string_view kOp = "release-worker-data";
  Key key;
  std::string stimulus_id;
  Value ToValue() const;
};
/// `add-keys`: this worker now holds replicas of `keys`.
struct AddKeysMsg {
  static constexpr std::string_view kOp = "add-keys";
  std::vector<Key> keys;
  std::string stimulus_id;
  Value ToValue() const;
};
/// `request-refresh-who-has`: ask the scheduler who holds `keys` now.
struct RequestRefreshWhoHasMsg {
  static constexpr std::string_view kOp = "request-refresh-who-has";
  std::vector<Key> keys;
  std::string stimulus_id;
  Value ToValue() const;
};
/// `steal-response`: the task's state when the steal-request arrived (nil: unknown).
struct StealResponseMsg {
  static constexpr std::string_view kOp = "steal-response";
  Key key;
  std::optional<TaskStatus> state;
  std::string stimulus_id;
  Value ToValue() const;
};

using Instruction =
    std::variant<Execute, GatherDep, RetryBusyWorkerLater, TaskFinishedMsg, TaskErredMsg,
                 ReleaseWorkerDataMsg, AddKeysMsg, RequestRefreshWhoHasMsg, StealResponseMsg>;
using Instructions = std::vector<Instruction>;

}  // namespace dn::worker
