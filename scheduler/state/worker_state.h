#pragma once

#include <algorithm>

#include <cstdint>
#include <string>
#include <unordered_set>

#include "protocol/msgpack/value.h"
#include "scheduler/state/task_state.h"

namespace dn {

/// What the scheduler knows about one worker (mirrors scheduler.py:WorkerState).
struct WorkerState {
  std::string address;
  Value name;
  std::string host;
  int64_t nthreads = 1;
  Value memory_limit;
  std::string local_directory;
  Value services = Value(Map{});
  Value nanny;
  Value resources = Value(Map{});
  Value metrics = Value(Map{});
  Value extra = Value(Map{});
  int64_t pid = 0;
  /// CPUs the worker may use (its affinity and cgroup quota), as native workers report
  /// in their metrics; 0 when unknown (stock workers).
  int64_t cpus = 0;
  std::string status = "init";  ///< "running", "paused", "closing_gracefully", ...
  double last_seen = 0;

  std::unordered_set<TaskState*> processing;
  std::unordered_set<TaskState*> has_what;
  int64_t nbytes = 0;
  /// The most bytes of results it has held at once (SchedulerState::AtHighWater).
  int64_t nbytes_high_water = 0;

  void AddBytes(int64_t n) {
    nbytes += std::max<int64_t>(n, 0);
    nbytes_high_water = std::max(nbytes_high_water, nbytes);
  }

  bool running() const { return status == "running"; }
};

/// A connected client (mirrors scheduler.py:ClientState).
struct ClientState {
  std::string id;
  std::unordered_set<TaskState*> wants_what;
  double last_seen = 0;
};

}  // namespace dn
