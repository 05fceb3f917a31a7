#include "scheduler/state/scheduler_state.h"

namespace dn {

namespace {

Status Broken(const TaskState& ts, std::string_view what) {
  return Status::Internal("invariant broken for " + ts.key.Repr() + " (" +
                          std::string(ToString(ts.status)) + "): " + std::string(what));
}

}  // namespace

// Mirrors scheduler.py:validate_task_state for the states we keep: what must hold of a
// task after each of its transitions.
Status SchedulerState::ValidateTask(const TaskState& ts) const {
  for (const TaskState* dep : ts.dependencies) {
    if (!dep->dependents.count(const_cast<TaskState*>(&ts))) {
      return Broken(ts, "dependency does not list it as a dependent");
    }
    if (task(dep->key) != dep) return Broken(ts, "dependency is not in the task map");
  }
  switch (ts.status) {
    case TaskStatus::kMemory:
      if (ts.who_has.empty()) return Broken(ts, "in memory nowhere");
      for (const WorkerState* ws : ts.who_has) {
        if (!ws->has_what.count(const_cast<TaskState*>(&ts))) {
          return Broken(ts, "holder does not list it in has_what");
        }
      }
      if (ts.processing_on) return Broken(ts, "in memory but processing");
      break;
    case TaskStatus::kProcessing:
      if (ts.processing_on == nullptr) return Broken(ts, "processing nowhere");
      if (worker(ts.processing_on->address) != ts.processing_on) {
        return Broken(ts, "processing on a worker that is not registered");
      }
      if (!ts.processing_on->processing.count(const_cast<TaskState*>(&ts))) {
        return Broken(ts, "worker does not list it as processing");
      }
      for (const TaskState* dep : ts.dependencies) {
        if (dep->status != TaskStatus::kMemory) return Broken(ts, "processing before its inputs");
      }
      break;
    case TaskStatus::kWaiting:
      for (const TaskState* dep : ts.waiting_on) {
        if (dep->status == TaskStatus::kMemory) return Broken(ts, "waits on a task in memory");
      }
      for (const TaskState* dep : ts.dependencies) {
        if (dep->status != TaskStatus::kMemory &&
            !ts.waiting_on.count(const_cast<TaskState*>(dep))) {
          return Broken(ts, "does not wait on an unfinished dependency");
        }
      }
      break;
    case TaskStatus::kQueued:
      if (!queued_.count(const_cast<TaskState*>(&ts))) return Broken(ts, "not in the queue");
      break;
    case TaskStatus::kNoWorker:
      if (!unrunnable_.count(const_cast<TaskState*>(&ts))) return Broken(ts, "not in unrunnable");
      break;
    default: break;
  }
  if (ts.status != TaskStatus::kMemory && !ts.who_has.empty()) {
    return Broken(ts, "has holders but is not in memory");
  }
  for (const ClientState* cs : ts.who_wants) {
    if (!cs->wants_what.count(const_cast<TaskState*>(&ts))) {
      return Broken(ts, "client does not list it in wants_what");
    }
  }
  return Status::OK();
}

// Mirrors scheduler.py:validate_state: what must hold between stimuli.
Status SchedulerState::Validate() const {
  for (const auto& [key, owned] : tasks_) {
    const TaskState& ts = *owned;
    if (!(ts.key == key)) return Broken(ts, "stored under another key");
    DN_RETURN_NOT_OK(ValidateTask(ts));
    if (ts.status == TaskStatus::kForgotten) return Broken(ts, "forgotten but still stored");
    // Within a stimulus it may, until its recommendation to run is carried out.
    if (ts.status == TaskStatus::kWaiting && ts.waiting_on.empty()) {
      return Broken(ts, "waiting on nothing");
    }
    // Nothing would ever ask for it again: it leaks.
    if (ts.status == TaskStatus::kReleased && ts.dependents.empty() && ts.who_wants.empty()) {
      return Broken(ts, "released, with no dependents and no client, yet stored");
    }
  }
  for (const auto& ws : workers_) {
    for (const TaskState* ts : ws->processing) {
      if (ts->processing_on != ws.get()) return Broken(*ts, "listed as processing elsewhere");
    }
    for (const TaskState* ts : ws->has_what) {
      if (!ts->who_has.count(ws.get())) return Broken(*ts, "listed in has_what of a non-holder");
    }
  }
  return Status::OK();
}

}  // namespace dn
