// WorkerState's invariants (stock's validate_task and validate_state). Run after every
// transition (the task) and every event (everything) when options.validate is on.
#include <algorithm>
#include <unordered_set>

#include "worker/state/worker_state.h"

namespace dn::worker {

using S = TaskStatus;

#define DN_EXPECT(cond)                            \
  do {                                             \
    if (!(cond)) Fail(ts, "check failed: " #cond); \
  } while (0)

void WorkerState::ValidateTask(const TaskState* ts) const {
  auto it = tasks_.find(ts->key);
  DN_EXPECT(it != tasks_.end() && it->second.get() == ts);
  const bool in_executing = executing_.count(const_cast<TaskState*>(ts)) > 0;
  const bool in_flight = in_flight_tasks_.count(const_cast<TaskState*>(ts)) > 0;
  auto no_dependent_ready = [&] {
    for (const TaskState* d : ts->dependents) {
      if (ready_.count(const_cast<TaskState*>(d))) return false;
    }
    return true;
  };
  auto executing_like = [&] {
    DN_EXPECT(in_executing);
    DN_EXPECT(ts->run_spec.has_value());
    DN_EXPECT(ts->waiting_for_data.empty());
    DN_EXPECT(no_dependent_ready());
  };
  auto flight_like = [&] {
    DN_EXPECT(in_flight);
    DN_EXPECT(!ts->coming_from.empty());
    auto w = in_flight_workers_.find(ts->coming_from);
    DN_EXPECT(w != in_flight_workers_.end() &&
              std::find(w->second.begin(), w->second.end(), ts) != w->second.end());
    DN_EXPECT(no_dependent_ready());
  };
  if (ts->state != S::kCancelled && ts->state != S::kResumed) {
    DN_EXPECT(!ts->previous && !ts->next);
  }
  switch (ts->state) {
    case S::kMemory:
      DN_EXPECT(ts->nbytes.has_value());
      DN_EXPECT(ts->waiting_for_data.empty());
      DN_EXPECT(!in_executing && !in_flight);
      break;
    case S::kWaiting: {
      DN_EXPECT(waiting_.count(const_cast<TaskState*>(ts)));
      DN_EXPECT(!ts->done);
      DN_EXPECT(!ts->waiting_for_data.empty());
      size_t not_in_memory = 0;
      for (const TaskState* d : ts->dependencies) {
        if (d->state != S::kMemory) {
          ++not_in_memory;
          DN_EXPECT(ts->waiting_for_data.count(const_cast<TaskState*>(d)));
        }
      }
      DN_EXPECT(not_in_memory == ts->waiting_for_data.size());
      DN_EXPECT(no_dependent_ready());
      break;
    }
    case S::kReady:
      // In `ready_`, or just taken from it by EnsureComputing (then `executing_`).
      DN_EXPECT(ready_.count(const_cast<TaskState*>(ts)) || in_executing);
      DN_EXPECT(!ts->done);
      DN_EXPECT(ts->waiting_for_data.empty());
      for (const TaskState* d : ts->dependencies) DN_EXPECT(d->state == S::kMemory);
      break;
    case S::kExecuting: executing_like(); break;
    case S::kFetch:
      DN_EXPECT(!ts->done);
      DN_EXPECT(!ts->who_has.empty());
      DN_EXPECT(std::find(ts->who_has.begin(), ts->who_has.end(), options_.address) ==
                ts->who_has.end());
      for (const std::string& w : ts->who_has) {
        auto h = has_what_.find(w);
        DN_EXPECT(h != has_what_.end() && h->second.count(const_cast<TaskState*>(ts)));
        // In every holder's queue, unless EnsureCommunicating just took it out.
        auto d = data_needed_.find(w);
        DN_EXPECT((d != data_needed_.end() && d->second.count(const_cast<TaskState*>(ts))) ||
                  !ts->coming_from.empty());
      }
      DN_EXPECT(no_dependent_ready());
      break;
    case S::kFlight: flight_like(); break;
    case S::kMissing:
      DN_EXPECT(ts->who_has.empty());
      DN_EXPECT(!ts->done);
      DN_EXPECT(missing_dep_flight_.count(const_cast<TaskState*>(ts)));
      DN_EXPECT(no_dependent_ready());
      break;
    case S::kCancelled:
      DN_EXPECT(!ts->next);
      DN_EXPECT(ts->previous == S::kExecuting || ts->previous == S::kFlight);
      if (ts->previous == S::kExecuting) {
        executing_like();
      } else {
        flight_like();
      }
      break;
    case S::kResumed:
      if (ts->previous == S::kExecuting) {
        DN_EXPECT(ts->next == S::kFetch);
        executing_like();
      } else {
        DN_EXPECT(ts->previous == S::kFlight);
        DN_EXPECT(ts->next == S::kWaiting);
        flight_like();
      }
      break;
    case S::kReleased:
      DN_EXPECT(!in_executing && !in_flight);
      DN_EXPECT(!missing_dep_flight_.count(const_cast<TaskState*>(ts)));
      DN_EXPECT(ts->waiting_for_data.empty());
      DN_EXPECT(!ts->done);
      DN_EXPECT(!ts->error);
      break;
    case S::kError: DN_EXPECT(ts->error.has_value()); break;
    case S::kForgotten: DN_EXPECT(false); break;
  }
}

void WorkerState::Validate() const {
  const TaskState* ts = nullptr;
  int64_t expect_nbytes = 0;
  for (const auto& [key, owned] : tasks_) {
    ts = owned.get();
    DN_EXPECT(ts->key == key);
    for (const std::string& w : ts->who_has) {
      DN_EXPECT(w != options_.address);
      auto h = has_what_.find(w);
      DN_EXPECT(h != has_what_.end() && h->second.count(const_cast<TaskState*>(ts)));
    }
    for (const TaskState* dep : ts->dependencies) {
      auto d = tasks_.find(dep->key);
      DN_EXPECT(d != tasks_.end() && d->second.get() == dep);
      DN_EXPECT(dep->dependents.count(const_cast<TaskState*>(ts)));
    }
    for (const TaskState* dep : ts->dependents) {
      DN_EXPECT(std::find(dep->dependencies.begin(), dep->dependencies.end(), ts) !=
                dep->dependencies.end());
    }
    for (const TaskState* w : ts->waiting_for_data) {
      DN_EXPECT(w->waiters.count(const_cast<TaskState*>(ts)));
      DN_EXPECT(w->state != S::kMemory);
    }
    if (ts->state == S::kMemory) expect_nbytes += ts->get_nbytes();
    ValidateTask(ts);
  }
  ts = nullptr;
  DN_EXPECT(expect_nbytes == nbytes_in_memory_);
  for (const auto& [w, tasks] : has_what_) {
    DN_EXPECT(w != options_.address);
    DN_EXPECT(!tasks.empty());
    for (const TaskState* t : tasks) {
      DN_EXPECT(tasks_.count(t->key));
      DN_EXPECT(std::find(t->who_has.begin(), t->who_has.end(), w) != t->who_has.end());
    }
  }
  std::unordered_set<const TaskState*> fetch;
  for (const auto& [w, tasks] : data_needed_) {
    for (const TaskState* t : tasks) {
      fetch.insert(t);
      if (t->state != S::kFetch) Fail(t, "in data_needed but not in fetch");
      if (std::find(t->who_has.begin(), t->who_has.end(), w) == t->who_has.end())
        Fail(t, "in data_needed of a peer not holding it");
    }
  }
  int64_t fetch_tasks = 0;
  for (const auto& [key, owned] : tasks_) fetch_tasks += owned->state == S::kFetch;
  DN_EXPECT(fetch_tasks == fetch_count_);
  DN_EXPECT(static_cast<int64_t>(fetch.size()) == fetch_count_);
  for (const TaskState* t : missing_dep_flight_) {
    if (t->state != S::kMissing) Fail(t, "in missing_dep_flight but not missing");
  }
  for (const TaskState* t : ready_) {
    if (t->state != S::kReady) Fail(t, "in ready but not ready");
  }
  for (const TaskState* t : waiting_) {
    if (t->state != S::kWaiting) Fail(t, "in waiting but not waiting");
  }
  for (const TaskState* t : executing_) {
    const bool ok =
        t->state == S::kExecuting ||
        ((t->state == S::kCancelled || t->state == S::kResumed) && t->previous == S::kExecuting);
    if (!ok) Fail(t, "in executing but neither executing nor cancelled/resumed from it");
  }
  for (const TaskState* t : in_flight_tasks_) {
    const bool ok =
        t->state == S::kFlight ||
        ((t->state == S::kCancelled || t->state == S::kResumed) && t->previous == S::kFlight);
    if (!ok) Fail(t, "in flight but neither flight nor cancelled/resumed from it");
  }
  size_t in_flight = 0;
  for (const auto& [w, tasks] : in_flight_workers_) in_flight += tasks.size();
  DN_EXPECT(in_flight == in_flight_tasks_.size());
  DN_EXPECT(executing_.size() <=
            static_cast<size_t>(options_.nthreads + std::max(0, options_.run_ahead)));
  DN_EXPECT(transfer_incoming_bytes_ >= 0);
  DN_EXPECT(!in_flight_workers_.empty() || transfer_incoming_bytes_ == 0);
}

#undef DN_EXPECT

}  // namespace dn::worker
