// SchedulerState: the stimuli of client requests that change tasks in place, Client.retry
// and set_restrictions (scheduler.py:stimulus_retry, set_restrictions).
#include <unordered_set>

#include "scheduler/state/scheduler_state.h"

namespace dn {

Result<std::vector<Key>> SchedulerState::Retry(const std::vector<Key>& keys, const Stimulus& stim) {
  // Walk first, change nothing until every key is known: stock raises KeyError from
  // the walk, before any transition.
  std::vector<TaskState*> stack;
  for (const Key& k : keys) {
    TaskState* ts = task(k);
    if (ts == nullptr) return Status::NotFound(k.str() ? *k.str() : k.Repr());
    stack.push_back(ts);
  }
  std::vector<Key> seen;
  std::unordered_set<TaskState*> visited;
  std::vector<TaskState*> roots;
  while (!stack.empty()) {
    TaskState* ts = stack.back();
    stack.pop_back();
    if (!visited.insert(ts).second) continue;
    seen.push_back(ts->key);
    bool erred_deps = false;
    for (TaskState* dep : ts->dependencies) {
      if (dep->status == TaskStatus::kErred) {
        erred_deps = true;
        stack.push_back(dep);
      }
    }
    if (!erred_deps) roots.push_back(ts);
  }
  OpenStimulus(stim);
  // erred -> waiting goes through released (TransitionErredReleased), which reports
  // task-retried and recommends the erred dependents; a task in another state is
  // recommended to waiting as stock does too (e.g. memory: computed again).
  for (TaskState* ts : roots) Recommend(ts, TaskStatus::kWaiting);
  CloseStimulus();
  return seen;
}

Status SchedulerState::SetRestrictions(
    const std::vector<std::pair<Key, std::vector<std::string>>>& restrictions) {
  for (const auto& [key, workers] : restrictions) {
    TaskState* ts = task(key);
    if (ts == nullptr) return Status::NotFound(key.str() ? *key.str() : key.Repr());
    ts->worker_restrictions = workers;
  }
  return Status::OK();
}

}  // namespace dn
