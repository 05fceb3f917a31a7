// WorkerState's transitions, one function per (start, finish) pair of stock's
// _TRANSITIONS_TABLE (distributed/worker_state_machine.py), minus the states we do not
// have (constrained, long-running, rescheduled), plus executing -> ready (a task the
// native evaluator declined that ran ahead of the threads; see NativeDeclinedEvent) and
// waiting -> error (an input that arrived but cannot be deserialized; see
// GatherDepSuccessEvent::unreadable).
#include <algorithm>
#include <array>

#include "common/check.h"
#include "worker/state/worker_state.h"

namespace dn::worker {

using S = TaskStatus;

namespace {

constexpr size_t Idx(TaskStatus s) { return static_cast<size_t>(s); }

}  // namespace

struct TransitionTable {
  using Fn = WorkerState::TransitionFn;
  std::array<std::array<Fn, kNumTaskStatuses>, kNumTaskStatuses> fns{};

  constexpr TransitionTable() {
    auto set = [this](S start, S finish, Fn fn) { fns[Idx(start)][Idx(finish)] = fn; };
    using W = WorkerState;
    set(S::kCancelled, S::kError, &W::TransitionCancelledReleased);
    set(S::kCancelled, S::kFetch, &W::TransitionCancelledFetch);
    set(S::kCancelled, S::kMemory, &W::TransitionCancelledReleased);
    set(S::kCancelled, S::kMissing, &W::TransitionCancelledReleased);
    set(S::kCancelled, S::kReleased, &W::TransitionCancelledReleased);
    set(S::kCancelled, S::kWaiting, &W::TransitionCancelledWaiting);
    set(S::kResumed, S::kError, &W::TransitionResumedError);
    set(S::kResumed, S::kFetch, &W::TransitionResumedFetch);
    set(S::kResumed, S::kMemory, &W::TransitionResumedMemory);
    set(S::kResumed, S::kMissing, &W::TransitionResumedMissing);
    set(S::kResumed, S::kReleased, &W::TransitionResumedReleased);
    set(S::kError, S::kReleased, &W::TransitionGenericReleased);
    set(S::kExecuting, S::kError, &W::TransitionGenericError);
    set(S::kExecuting, S::kMemory, &W::TransitionExecutingMemory);
    set(S::kExecuting, S::kReleased, &W::TransitionExecutingReleased);
    set(S::kExecuting, S::kReady, &W::TransitionExecutingReady);
    set(S::kFetch, S::kFlight, &W::TransitionFetchFlight);
    set(S::kFetch, S::kMissing, &W::TransitionFetchMissing);
    set(S::kFetch, S::kReleased, &W::TransitionFetchReleased);
    set(S::kFlight, S::kError, &W::TransitionGenericError);
    set(S::kFlight, S::kFetch, &W::TransitionFlightFetch);
    set(S::kFlight, S::kMemory, &W::TransitionFlightMemory);
    set(S::kFlight, S::kMissing, &W::TransitionFlightMissing);
    set(S::kFlight, S::kReleased, &W::TransitionFlightReleased);
    set(S::kMemory, S::kReleased, &W::TransitionMemoryReleased);
    set(S::kMissing, S::kFetch, &W::TransitionMissingFetch);
    set(S::kMissing, S::kReleased, &W::TransitionMissingReleased);
    set(S::kMissing, S::kWaiting, &W::TransitionMissingWaiting);
    set(S::kReady, S::kExecuting, &W::TransitionReadyExecuting);
    set(S::kReady, S::kReleased, &W::TransitionGenericReleased);
    set(S::kReleased, S::kFetch, &W::TransitionReleasedFetch);
    set(S::kReleased, S::kForgotten, &W::TransitionReleasedForgotten);
    set(S::kReleased, S::kMemory, &W::TransitionReleasedMemory);
    set(S::kReleased, S::kMissing, &W::TransitionGenericMissing);
    set(S::kReleased, S::kWaiting, &W::TransitionReleasedWaiting);
    set(S::kWaiting, S::kReady, &W::TransitionWaitingReady);
    set(S::kWaiting, S::kReleased, &W::TransitionGenericReleased);
    set(S::kWaiting, S::kError, &W::TransitionWaitingError);
  }
};

WorkerState::TransitionFn WorkerState::LookUp(TaskStatus start, TaskStatus finish) {
  static constexpr TransitionTable kTable;
  return kTable.fns[Idx(start)][Idx(finish)];
}

void WorkerState::TransitionGenericFetch(TaskState* ts, Recs& recs, Instructions&) {
  if (ts->who_has.empty()) {
    Recommend(recs, ts, S::kMissing);
    return;
  }
  ts->state = S::kFetch;
  ts->done = false;
  ++fetch_count_;
  for (const std::string& w : ts->who_has) data_needed_[w].insert(ts);
}

// Ours: a task enters `missing` and the scheduler is asked at once who else holds it
// (stock waits for the next FindMissingEvent, up to a second; the worker-kill tests
// finish sooner this way). FindMissingEvent still asks again every second.
void WorkerState::TransitionGenericMissing(TaskState* ts, Recs&, Instructions& out) {
  if (options_.validate && !ts->who_has.empty()) Fail(ts, "missing with holders");
  ts->state = S::kMissing;
  missing_dep_flight_.insert(ts);
  ts->done = false;
  out.push_back(RequestRefreshWhoHasMsg{{ts->key}, stimulus_id_});
}

void WorkerState::TransitionGenericReleased(TaskState* ts, Recs& recs, Instructions&) {
  PurgeState(ts);
  for (TaskState* dep : ts->dependencies) {
    const S s = dep->state;
    const bool unreleasable = s == S::kReady || s == S::kExecuting || s == S::kCancelled ||
                              s == S::kResumed || s == S::kMemory;
    if (dep->waiters.empty() && !unreleasable) Recommend(recs, dep, S::kReleased);
  }
  ts->state = S::kReleased;
  if (ts->dependents.empty()) Recommend(recs, ts, S::kForgotten);
}

void WorkerState::TransitionGenericError(TaskState* ts, Recs&, Instructions& out) {
  DN_CHECK(ts->error.has_value(), "error without an exception");
  ts->state = S::kError;
  TaskErredMsg msg;
  msg.key = ts->key;
  msg.run_id = ts->run_id;
  msg.exception = ts->error->exception;
  msg.traceback = ts->error->traceback;
  msg.exception_text = ts->error->exception_text;
  msg.traceback_text = ts->error->traceback_text;
  msg.thread = ts->error->thread;
  msg.startstops = {StartStop{"compute", ts->error->start, ts->error->stop}};
  msg.stimulus_id = stimulus_id_;
  out.push_back(std::move(msg));
}

// Ours: the task will never get its inputs. It stops waiting for the rest, which are
// released with it when the scheduler frees it, and errs.
void WorkerState::TransitionWaitingError(TaskState* ts, Recs& recs, Instructions& out) {
  waiting_.erase(ts);
  for (TaskState* dep : ts->waiting_for_data) dep->waiters.erase(ts);
  ts->waiting_for_data.clear();
  TransitionGenericError(ts, recs, out);
}

void WorkerState::TransitionReleasedWaiting(TaskState* ts, Recs& recs, Instructions&) {
  ts->waiting_for_data.clear();
  for (TaskState* dep : ts->dependencies) {
    if (dep->state == S::kMemory) continue;
    ts->waiting_for_data.insert(dep);
    dep->waiters.insert(ts);
    Recommend(recs, dep, S::kFetch);
  }
  if (ts->waiting_for_data.empty()) Recommend(recs, ts, S::kReady);
  ts->state = S::kWaiting;
  waiting_.insert(ts);
}

void WorkerState::TransitionReleasedFetch(TaskState* ts, Recs& recs, Instructions& out) {
  TransitionGenericFetch(ts, recs, out);
}

void WorkerState::TransitionReleasedMemory(TaskState* ts, Recs& recs, Instructions& out) {
  TransitionToMemory(ts, MemoryMsg::kNone, recs, out);  // scatter: the scheduler knows
}

void WorkerState::TransitionReleasedForgotten(TaskState* ts, Recs& recs, Instructions&) {
  for (TaskState* dep : ts->dependencies) {
    dep->dependents.erase(ts);
    if (dep->state == S::kReleased && dep->dependents.empty()) {
      Recommend(recs, dep, S::kForgotten);
    }
  }
  // Only a task without dependents is recommended `forgotten` (the scheduler releases
  // dependents first).
  DN_CHECK(ts->dependents.empty(), "forgetting a task that has dependents");
  PurgeState(ts);
  ts->state = S::kForgotten;
  auto it = tasks_.find(ts->key);
  if (it != tasks_.end() && it->second.get() == ts) {
    forgotten_.push_back(std::move(it->second));
    tasks_.erase(it);
  }
}

void WorkerState::TransitionMissingWaiting(TaskState* ts, Recs& recs, Instructions& out) {
  missing_dep_flight_.erase(ts);
  PurgeState(ts);
  TransitionReleasedWaiting(ts, recs, out);
}

void WorkerState::TransitionMissingFetch(TaskState* ts, Recs& recs, Instructions& out) {
  if (ts->who_has.empty()) return;
  missing_dep_flight_.erase(ts);
  TransitionGenericFetch(ts, recs, out);
}

void WorkerState::TransitionMissingReleased(TaskState* ts, Recs& recs, Instructions& out) {
  missing_dep_flight_.erase(ts);
  TransitionGenericReleased(ts, recs, out);
}

void WorkerState::TransitionFetchFlight(TaskState* ts, Recs&, Instructions&) {
  // EnsureCommunicating took it out of data_needed and set coming_from.
  ts->done = false;
  ts->state = S::kFlight;
  in_flight_tasks_.insert(ts);
  --fetch_count_;
}

void WorkerState::TransitionFetchMissing(TaskState* ts, Recs& recs, Instructions& out) {
  --fetch_count_;
  for (const std::string& w : ts->who_has) {
    if (auto it = data_needed_.find(w); it != data_needed_.end()) it->second.erase(ts);
  }
  TransitionGenericMissing(ts, recs, out);
}

void WorkerState::TransitionFetchReleased(TaskState* ts, Recs& recs, Instructions& out) {
  --fetch_count_;
  TransitionGenericReleased(ts, recs, out);
}

void WorkerState::TransitionFlightFetch(TaskState* ts, Recs& recs, Instructions& out) {
  // Before the transfer ends this is a no-op; after, fetch again (from another holder).
  if (!ts->done) return;
  TransitionGenericFetch(ts, recs, out);
}

void WorkerState::TransitionFlightMissing(TaskState* ts, Recs& recs, Instructions& out) {
  DN_CHECK(ts->done, "flight -> missing before the transfer ended");
  TransitionGenericMissing(ts, recs, out);
}

void WorkerState::TransitionFlightMemory(TaskState* ts, Recs& recs, Instructions& out) {
  TransitionToMemory(ts, MemoryMsg::kAddKeys, recs, out);
}

// The transfer cannot be stopped: wait for it in `cancelled`.
void WorkerState::TransitionFlightReleased(TaskState* ts, Recs&, Instructions&) {
  DN_CHECK(!ts->done, "flight -> released after the transfer ended");
  ts->previous = S::kFlight;
  ts->next.reset();
  ts->state = S::kCancelled;
}

void WorkerState::TransitionWaitingReady(TaskState* ts, Recs&, Instructions&) {
  ts->state = S::kReady;
  waiting_.erase(ts);
  ready_.insert(ts);  // RunTransitions fills free slots once the recommendations are done
}

void WorkerState::TransitionReadyExecuting(TaskState* ts, Recs&, Instructions& out) {
  // EnsureComputing took it out of `ready` and gave it a slot in `executing_`.
  ts->state = S::kExecuting;
  out.push_back(Execute{ts->key, stimulus_id_});
}

void WorkerState::TransitionExecutingMemory(TaskState* ts, Recs& recs, Instructions& out) {
  TransitionToMemory(ts, MemoryMsg::kTaskFinished, recs, out);
}

// A running task cannot be stopped: wait for it in `cancelled`.
void WorkerState::TransitionExecutingReleased(TaskState* ts, Recs&, Instructions&) {
  DN_CHECK(!ts->done, "executing -> released after the run ended");
  ts->previous = S::kExecuting;
  ts->next.reset();
  ts->state = S::kCancelled;
}

// Ours: a task that ran ahead of the threads was declined by the native evaluator and no
// thread is free for Python: it waits in `ready` again (NativeDeclinedEvent).
void WorkerState::TransitionExecutingReady(TaskState* ts, Recs&, Instructions&) {
  executing_.erase(ts);
  ts->ran_ahead = false;
  ts->done = false;
  ts->state = S::kReady;
  ready_.insert(ts);
}

void WorkerState::TransitionMemoryReleased(TaskState* ts, Recs& recs, Instructions& out) {
  nbytes_in_memory_ -= ts->get_nbytes();
  TransitionGenericReleased(ts, recs, out);
  out.push_back(ReleaseWorkerDataMsg{ts->key, stimulus_id_});
}

void WorkerState::TransitionCancelledFetch(TaskState* ts, Recs& recs, Instructions&) {
  if (ts->previous == S::kFlight) {
    if (ts->done) {
      Recommend(recs, ts, S::kReleased);  // the transfer ended: discard it
    } else {
      ts->state = S::kFlight;  // forget the cancellation
      ts->previous.reset();
    }
    return;
  }
  DN_CHECK(!ts->done, "cancelled(executing) -> fetch after the run ended");
  ts->state = S::kResumed;
  ts->next = S::kFetch;
}

void WorkerState::TransitionCancelledWaiting(TaskState* ts, Recs&, Instructions&) {
  DN_CHECK(!ts->done, "cancelled -> waiting after it ended");
  if (ts->previous == S::kExecuting) {
    // Forget the cancellation; the result is reported under the new run_id (the
    // native scheduler accepts only the current one).
    ts->state = S::kExecuting;
    ts->previous.reset();
    return;
  }
  ts->state = S::kResumed;
  ts->next = S::kWaiting;
}

void WorkerState::TransitionCancelledReleased(TaskState* ts, Recs& recs, Instructions& out) {
  if (!ts->done) return;  // still running or in flight: wait for its end
  ts->previous.reset();
  ts->done = false;
  TransitionGenericReleased(ts, recs, out);
}

// The run or transfer ended badly while the scheduler wanted the other: start that
// instead, without telling the scheduler about the failure.
void WorkerState::TransitionResumedError(TaskState* ts, Recs& recs, Instructions&) {
  DN_CHECK(ts->done, "resumed -> error before it ended");
  Recommend(recs, ts, ts->previous == S::kExecuting ? S::kFetch : S::kWaiting);
  ts->state = S::kReleased;
  ts->done = false;
  ts->previous.reset();
  ts->next.reset();
  ts->error.reset();
}

void WorkerState::TransitionResumedFetch(TaskState* ts, Recs& recs, Instructions&) {
  if (ts->previous != S::kFlight) return;  // executing, to be fetched after: wait
  if (ts->done) {
    // The transfer failed or lacked the key: compute it, as the scheduler asked.
    ts->state = S::kReleased;
    ts->done = false;
    ts->previous.reset();
    ts->next.reset();
    Recommend(recs, ts, S::kWaiting);
  } else {
    ts->state = S::kFlight;  // back where it started: forget the cancellation
    ts->previous.reset();
    ts->next.reset();
  }
}

void WorkerState::TransitionResumedMissing(TaskState* ts, Recs& recs, Instructions&) {
  Recommend(recs, ts, S::kFetch);
}

void WorkerState::TransitionResumedReleased(TaskState* ts, Recs&, Instructions&) {
  DN_CHECK(!ts->done, "resumed -> released after it ended");
  ts->state = S::kCancelled;
  ts->next.reset();
}

// The scheduler expects the opposite of what just completed: a value computed here
// while it wanted a fetch is a replica (add-keys); one fetched while it wanted a run is
// reported as finished.
void WorkerState::TransitionResumedMemory(TaskState* ts, Recs& recs, Instructions& out) {
  const MemoryMsg msg =
      ts->previous == S::kExecuting ? MemoryMsg::kAddKeys : MemoryMsg::kTaskFinished;
  ts->previous.reset();
  ts->next.reset();
  TransitionToMemory(ts, msg, recs, out);
}

void WorkerState::TransitionToMemory(TaskState* ts, MemoryMsg msg, Recs& recs, Instructions& out) {
  ts->state = S::kMemory;
  ts->done = false;
  nbytes_in_memory_ += ts->get_nbytes();
  for (TaskState* dep : ts->dependents) {
    dep->waiting_for_data.erase(ts);
    if (dep->waiting_for_data.empty() && dep->state == S::kWaiting) {
      Recommend(recs, dep, S::kReady);
    }
  }
  Log(ts, "put-in-memory");
  if (msg == MemoryMsg::kAddKeys) {
    out.push_back(AddKeysMsg{{ts->key}, stimulus_id_});
  } else if (msg == MemoryMsg::kTaskFinished) {
    out.push_back(TaskFinishedFor(ts, ts->run_id));
  }
}

}  // namespace dn::worker
