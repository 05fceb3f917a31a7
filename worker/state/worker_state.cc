// WorkerState: the event handlers (stock's _handle_<event>), choosing what to run and
// what to fetch (_ensure_computing, _ensure_communicating), and the transition driver.
#include "worker/state/worker_state.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "common/check.h"

namespace dn::worker {

using S = TaskStatus;

namespace {

Priority ParsePriority(const Value& v) {
  Priority p;
  if (const Array* a = v.array()) {
    p.reserve(a->size() + 1);
    for (const Value& x : *a) {
      if (const int64_t* i = x.get_if<int64_t>()) {
        p.push_back(static_cast<double>(*i));
      } else if (const double* d = x.get_if<double>()) {
        p.push_back(*d);
      } else if (const uint64_t* u = x.get_if<uint64_t>()) {
        p.push_back(static_cast<double>(*u));
      } else {
        p.push_back(0);
      }
    }
  }
  return p;
}

// "tcp://host:port" -> "host".
std::string_view HostOf(std::string_view address) {
  if (size_t scheme = address.find("://"); scheme != std::string_view::npos)
    address.remove_prefix(scheme + 3);
  if (size_t colon = address.rfind(':'); colon != std::string_view::npos)
    address = address.substr(0, colon);
  return address;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

WorkerState::WorkerState(WorkerStateOptions options) : options_(std::move(options)) {
  options_.nthreads = std::max(1, options_.nthreads);
  options_.story_length = std::max<size_t>(1, options_.story_length);
}

WorkerState::~WorkerState() = default;

// --- the driver -----------------------------------------------------------------------

Instructions WorkerState::Handle(Event ev) {
  Instructions out;
  Step(ev, out);
  EnsureCommunicating(out);
  EndEvent();
  return out;
}

Instructions WorkerState::HandleAll(std::vector<Event> evs) {
  Instructions out;
  for (Event& ev : evs) Step(ev, out);
  EnsureCommunicating(out);
  EndEvent();
  return out;
}

void WorkerState::Step(Event& ev, Instructions& out) {
  std::visit([this](const auto& e) { BeginEvent(e); }, ev);
  Recs recs;
  Dispatch(ev, recs, out);
  RunTransitions(std::move(recs), out);
}

void WorkerState::Dispatch(Event& ev, Recs& recs, Instructions& out) {
  std::visit([&](auto& e) { On(e, recs, out); }, ev);
}

void WorkerState::BeginEvent(const EventBase& ev) {
  stimulus_id_ = ev.stimulus_id;
  now_ = ev.timestamp;
}

void WorkerState::EndEvent() {
  if (options_.validate) {
    for (const TaskState* ts : touched_) {
      if (ts->state != S::kForgotten) ValidateTask(ts);
    }
    Validate();
  }
  touched_.clear();
  forgotten_.clear();
}

// Recommendations behave as stock's dict: a later recommendation for a task replaces
// the earlier one in place. `recs` must hold pending recommendations only.
void WorkerState::Recommend(Recs& recs, TaskState* ts, TaskStatus finish) {
  for (Rec& r : recs) {
    if (r.ts == ts) {
      r.finish = finish;
      return;
    }
  }
  recs.push_back(Rec{ts, finish});
}

// Run recommendations in order until none is left, then fill free execution slots and
// run what that recommends, and so on (stock's _transitions; stock fills slots from
// inside each transition instead, which can start a task before a better one that the
// same event makes ready).
void WorkerState::RunTransitions(Recs recs, Instructions& out) {
  size_t next = 0;
  Recs produced;
  for (;;) {
    while (next < recs.size()) {
      const Rec r = recs[next++];
      if (r.ts->state == S::kForgotten) continue;
      produced.clear();
      Transition(r.ts, r.finish, produced, out);
      for (const Rec& p : produced) {
        auto pending = std::find_if(recs.begin() + static_cast<std::ptrdiff_t>(next), recs.end(),
                                    [&](const Rec& q) { return q.ts == p.ts; });
        if (pending != recs.end()) {
          pending->finish = p.finish;
        } else {
          recs.push_back(p);
        }
      }
    }
    // Every entry so far is done: what EnsureComputing recommends is appended.
    produced.clear();
    EnsureComputing(produced);
    if (produced.empty()) break;
    recs.insert(recs.end(), produced.begin(), produced.end());
  }
}

bool WorkerState::Transition(TaskState* ts, TaskStatus finish, Recs& recs, Instructions& out) {
  if (ts->state == finish) return true;
  const S start = ts->state;
  Recs new_recs;
  if (TransitionFn fn = LookUp(start, finish)) {
    (this->*fn)(ts, new_recs, out);
  } else if (start != S::kReleased && finish != S::kReleased && start != S::kForgotten &&
             finish != S::kForgotten) {
    // start -> released -> finish, following what `released` recommends for the task
    // itself on the way, except forgetting it.
    bool ok = Transition(ts, S::kReleased, new_recs, out);
    for (;;) {
      if (!ok) break;
      auto own =
          std::find_if(new_recs.begin(), new_recs.end(), [ts](const Rec& r) { return r.ts == ts; });
      if (own == new_recs.end()) break;
      const S v = own->finish;
      new_recs.erase(own);
      if (v != S::kForgotten) ok = Transition(ts, v, new_recs, out);
    }
    if (ok) ok = Transition(ts, finish, new_recs, out);
    if (!ok) {
      if (options_.validate) {
        Fail(ts, "invalid transition " + std::string(ToString(start)) + " -> " +
                     std::string(ToString(finish)));
      }
      return false;
    }
  } else {
    const std::string what = "invalid transition " + std::string(ToString(start)) + " -> " +
                             std::string(ToString(finish));
    if (options_.validate) Fail(ts, what);
    std::fprintf(stderr, "dask-native-worker: %s of %s (stimulus %s); ignored\n", what.c_str(),
                 ts->key.Repr().c_str(), stimulus_id_.c_str());
    return false;
  }
  StoryRecord& rec = NextRecord();
  rec.key = ts->key;
  rec.event = {};
  rec.start = start;
  rec.finish = finish;
  rec.final = ts->state;
  rec.recommendations.clear();
  for (const Rec& r : new_recs) rec.recommendations.emplace_back(r.ts->key, r.finish);
  touched_.push_back(ts);
  for (const Rec& r : new_recs) Recommend(recs, r.ts, r.finish);
  return true;
}

// --- helpers ----------------------------------------------------------------------------

TaskState* WorkerState::Find(const Key& key) const {
  auto it = tasks_.find(key);
  return it == tasks_.end() ? nullptr : it->second.get();
}

const TaskState* WorkerState::task(const Key& key) const { return Find(key); }

bool WorkerState::InMemory(const Key& key) const {
  const TaskState* ts = Find(key);
  return ts != nullptr && ts->state == S::kMemory;
}

TaskState* WorkerState::EnsureTask(const Key& key, const Priority& priority) {
  TaskState* ts = Find(key);
  if (ts == nullptr) {
    auto owned = std::make_unique<TaskState>();
    owned->key = key;
    owned->seq = next_seq_++;
    ts = owned.get();
    tasks_.emplace(key, std::move(owned));
  }
  if (ts->priority.empty()) SetPriority(ts, priority);
  Log(ts, "ensure-task-exists");
  return ts;
}

// The ordered sets key on priority: take the task out while it changes.
void WorkerState::SetPriority(TaskState* ts, Priority priority) {
  const bool in_ready = ready_.erase(ts) > 0;
  std::vector<TaskSet*> needed;
  if (ts->state == S::kFetch) {
    for (const std::string& w : ts->who_has) {
      auto it = data_needed_.find(w);
      if (it != data_needed_.end() && it->second.erase(ts) > 0) needed.push_back(&it->second);
    }
  }
  ts->priority = std::move(priority);
  if (in_ready) ready_.insert(ts);
  for (TaskSet* set : needed) set->insert(ts);
}

void WorkerState::UpdateWhoHas(const WhoHas& who_has) {
  for (const auto& [key, holders] : who_has) {
    TaskState* ts = Find(key);
    if (ts == nullptr) continue;  // forgotten since this worker asked
    std::vector<std::string> workers;
    workers.reserve(holders.size());
    for (const std::string& h : holders) {
      // The scheduler may still name this worker for a key it just released.
      if (h != options_.address && !Contains(workers, h)) workers.push_back(h);
    }
    bool same = workers.size() == ts->who_has.size();
    for (const std::string& w : workers) same = same && Contains(ts->who_has, w);
    if (same) continue;
    for (const std::string& w : ts->who_has) {
      if (Contains(workers, w)) continue;
      if (auto it = has_what_.find(w); it != has_what_.end()) {
        it->second.erase(ts);
        if (it->second.empty()) has_what_.erase(it);
      }
      if (ts->state == S::kFetch) {
        if (auto it = data_needed_.find(w); it != data_needed_.end()) it->second.erase(ts);
      }
    }
    for (const std::string& w : workers) {
      if (Contains(ts->who_has, w)) continue;
      has_what_[w].insert(ts);
      if (ts->state == S::kFetch) data_needed_[w].insert(ts);
    }
    ts->who_has = std::move(workers);
  }
}

// Reset a task to neutral and drop it from every collection (stock's _purge_state).
void WorkerState::PurgeState(TaskState* ts) {
  for (const std::string& w : ts->who_has) {
    if (auto it = has_what_.find(w); it != has_what_.end()) {
      it->second.erase(ts);
      if (it->second.empty()) has_what_.erase(it);
    }
    if (auto it = data_needed_.find(w); it != data_needed_.end()) it->second.erase(ts);
  }
  ts->who_has.clear();
  for (TaskState* dep : ts->dependencies) dep->waiters.erase(ts);
  ts->waiting_for_data.clear();
  ts->nbytes.reset();
  ts->previous.reset();
  ts->next.reset();
  ts->done = false;
  ts->ran_ahead = false;
  ts->coming_from.clear();
  ts->error.reset();
  missing_dep_flight_.erase(ts);
  ready_.erase(ts);
  executing_.erase(ts);
  in_flight_tasks_.erase(ts);
  waiting_.erase(ts);
}

TaskFinishedMsg WorkerState::TaskFinishedFor(const TaskState* ts, int64_t run_id) const {
  TaskFinishedMsg f;
  f.key = ts->key;
  f.run_id = run_id;
  f.nbytes = ts->get_nbytes();
  f.type = ts->type;
  f.type_name = ts->type_name;
  f.thread = ts->thread;
  if (ts->stop > 0) f.startstops = {StartStop{"compute", ts->start, ts->stop}};
  f.stimulus_id = stimulus_id_;
  return f;
}

// Give free execution slots to the best ready tasks (stock's _ensure_computing), then
// let tasks run ahead while the server's hook approves the best one.
void WorkerState::EnsureComputing(Recs& recs) {
  if (!running_) return;
  const size_t slots = static_cast<size_t>(options_.nthreads);
  while (executing_.size() < slots && !ready_.empty()) {
    TaskState* ts = *ready_.begin();
    ready_.erase(ready_.begin());
    executing_.insert(ts);
    Recommend(recs, ts, S::kExecuting);
  }
  const size_t ahead = slots + static_cast<size_t>(std::max(0, options_.run_ahead));
  while (executing_.size() < ahead && !ready_.empty()) {
    TaskState* ts = *ready_.begin();
    if (ts->native_declined || !options_.may_run_ahead || !options_.may_run_ahead(*ts)) break;
    ready_.erase(ready_.begin());
    executing_.insert(ts);
    ts->ran_ahead = true;
    Recommend(recs, ts, S::kExecuting);
  }
}

bool WorkerState::ShouldThrottleIncomingTransfers() const {
  const bool count_limit =
      static_cast<int64_t>(in_flight_workers_.size()) >= options_.transfer_incoming_count_limit;
  const bool throttle =
      transfer_incoming_bytes_ >= options_.transfer_incoming_bytes_throttle_threshold;
  return (count_limit && throttle) ||
         transfer_incoming_bytes_ >= options_.transfer_incoming_bytes_limit;
}

bool WorkerState::TaskExceedsTransferLimits(const TaskState* ts, int64_t message_nbytes) const {
  // With nothing else under way the best task goes, whatever its size, so fetching
  // always progresses.
  if (transfer_incoming_bytes_ == 0 && message_nbytes == 0) return false;
  int64_t allowance = options_.transfer_incoming_bytes_limit - transfer_incoming_bytes_;
  if (message_nbytes != 0) {
    allowance = std::min(allowance, options_.transfer_message_bytes_limit) - message_nbytes;
  }
  return ts->get_nbytes() > allowance;
}

// Start get_data to peers for tasks in `fetch` (stock's _ensure_communicating): one
// transfer at a time per peer, peers ordered by their best task's priority, then local
// before remote, then by how many tasks they could serve; each transfer takes that
// peer's tasks in priority order up to the message limit.
void WorkerState::EnsureCommunicating(Instructions& out) {
  if (!running_ || data_needed_.empty() || ShouldThrottleIncomingTransfers()) return;
  struct Candidate {
    const TaskState* top;
    bool remote;
    size_t ntasks;
    const std::string* worker;
  };
  std::vector<Candidate> candidates;
  const std::string_view host = HostOf(options_.address);
  for (auto it = data_needed_.begin(); it != data_needed_.end();) {
    if (it->second.empty()) {
      it = data_needed_.erase(it);
      continue;
    }
    if (!in_flight_workers_.count(it->first) && !busy_workers_.count(it->first)) {
      candidates.push_back(
          Candidate{*it->second.begin(), HostOf(it->first) != host, it->second.size(), &it->first});
    }
    ++it;
  }
  if (candidates.empty()) return;
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.top != b.top) {
      if (PriorityLess{}(a.top, b.top)) return true;
      if (PriorityLess{}(b.top, a.top)) return false;
    }
    return std::tie(a.remote, b.ntasks, *a.worker) < std::tie(b.remote, a.ntasks, *b.worker);
  });
  Recs recs;
  for (const Candidate& c : candidates) {
    const std::string worker = *c.worker;
    auto it = data_needed_.find(worker);
    if (it == data_needed_.end() || it->second.empty()) continue;  // taken from other peers
    std::vector<TaskState*> to_gather;
    int64_t message_nbytes = 0;
    while (!it->second.empty()) {
      TaskState* ts = *it->second.begin();
      if (TaskExceedsTransferLimits(ts, message_nbytes)) break;
      for (const std::string& w : ts->who_has) {
        if (auto other = data_needed_.find(w); other != data_needed_.end()) other->second.erase(ts);
      }
      to_gather.push_back(ts);
      message_nbytes += ts->get_nbytes();
    }
    if (to_gather.empty()) break;
    GatherDep gather;
    gather.worker = worker;
    gather.total_nbytes = message_nbytes;
    gather.stimulus_id = stimulus_id_;
    for (TaskState* ts : to_gather) {
      ts->coming_from = worker;
      gather.keys.push_back(ts->key);
      Recommend(recs, ts, S::kFlight);
    }
    out.push_back(std::move(gather));
    in_flight_workers_[worker] = std::move(to_gather);
    transfer_incoming_bytes_ += message_nbytes;
    if (ShouldThrottleIncomingTransfers()) break;
  }
  RunTransitions(std::move(recs), out);
}

TaskState* WorkerState::ExecuteDoneCommon(const Key& key) {
  TaskState* ts = Find(key);
  if (ts == nullptr || executing_.count(ts) == 0) {
    if (options_.validate) Fail(ts, "execution ended for a task not executing");
    return nullptr;
  }
  ts->done = true;
  ts->ran_ahead = false;
  executing_.erase(ts);
  return ts;
}

std::vector<TaskState*> WorkerState::GatherDepDoneCommon(const std::string& worker,
                                                         int64_t total_nbytes) {
  transfer_incoming_bytes_ -= total_nbytes;
  auto it = in_flight_workers_.find(worker);
  if (it == in_flight_workers_.end()) {
    if (options_.validate) Fail(nullptr, "transfer ended from a peer not in flight: " + worker);
    return {};
  }
  std::vector<TaskState*> tasks = std::move(it->second);
  in_flight_workers_.erase(it);
  for (TaskState* ts : tasks) {
    ts->done = true;
    ts->coming_from.clear();
    in_flight_tasks_.erase(ts);
  }
  return tasks;
}

// --- events -----------------------------------------------------------------------------

void WorkerState::On(ComputeTaskEvent& ev, Recs& recs, Instructions& out) {
  ComputeTask& spec = ev.task;
  TaskState* ts = Find(spec.key);
  if (ts == nullptr) {
    auto owned = std::make_unique<TaskState>();
    owned->key = spec.key;
    owned->seq = next_seq_++;
    ts = owned.get();
    tasks_.emplace(spec.key, std::move(owned));
  }
  Log(ts, "compute-task");
  ts->run_id = spec.run_id;
  switch (ts->state) {
    case S::kReady:
    case S::kExecuting:
    case S::kWaiting: return;
    case S::kMemory: out.push_back(TaskFinishedFor(ts, spec.run_id)); return;
    default: break;  // released, fetch, flight, missing, cancelled, resumed, error
  }
  Recommend(recs, ts, S::kWaiting);
  ts->run_spec = std::move(spec.run_spec);
  Priority priority = ParsePriority(spec.priority);
  priority.push_back(generation_);
  generation_ -= 1;
  SetPriority(ts, std::move(priority));
  ts->error.reset();
  for (size_t i = 0; i < spec.who_has.size(); ++i) {
    const Key& dep_key = spec.who_has[i].first;
    TaskState* dep = EnsureTask(dep_key, ts->priority);
    if (dep->state != S::kMemory) {
      if (i < spec.nbytes.size() && spec.nbytes[i].first == dep_key) {
        dep->nbytes = spec.nbytes[i].second;
      } else {
        for (const auto& [k, n] : spec.nbytes) {
          if (k == dep_key) dep->nbytes = n;
        }
      }
    }
    if (std::find(ts->dependencies.begin(), ts->dependencies.end(), dep) ==
        ts->dependencies.end()) {
      ts->dependencies.push_back(dep);
    }
    dep->dependents.insert(ts);
  }
  UpdateWhoHas(spec.who_has);
}

void WorkerState::On(FreeKeysEvent& ev, Recs& recs, Instructions&) {
  for (const Key& key : ev.keys) {
    if (TaskState* ts = Find(key)) {
      Log(ts, "free-keys");
      Recommend(recs, ts, S::kReleased);
    }
  }
}

// Work stealing (distributed/stealing.py): a task that has not started is given up;
// the reply names its state so the scheduler knows whether the steal happened.
void WorkerState::On(StealRequestEvent& ev, Recs& recs, Instructions& out) {
  TaskState* ts = Find(ev.key);
  std::optional<S> state;
  if (ts != nullptr) state = ts->state;
  out.push_back(StealResponseMsg{ev.key, state, ev.stimulus_id});
  if (ts != nullptr && (ts->state == S::kReady || ts->state == S::kWaiting)) {
    Recommend(recs, ts, S::kReleased);
  }
}

void WorkerState::On(CancelComputeEvent& ev, Recs& recs, Instructions&) {
  TaskState* ts = Find(ev.key);
  if (ts == nullptr || (ts->state != S::kReady && ts->state != S::kWaiting)) return;
  Log(ts, "cancel-compute");
  Recommend(recs, ts, S::kReleased);
}

// Replicas the scheduler finds superfluous (active memory manager). A replica a task
// here still needs, or that the server is sending to a peer, stays and is announced
// back with add-keys, as stock workers did before the AMM refused such requests.
void WorkerState::On(RemoveReplicasEvent& ev, Recs& recs, Instructions& out) {
  AddKeysMsg kept{{}, ev.stimulus_id};
  for (const Key& key : ev.keys) {
    TaskState* ts = Find(key);
    if (ts == nullptr || ts->state != S::kMemory) continue;
    bool needed = std::find(ev.in_use.begin(), ev.in_use.end(), key) != ev.in_use.end();
    for (const TaskState* d : ts->dependents) {
      needed = needed || d->state == S::kWaiting || d->state == S::kReady ||
               d->state == S::kExecuting || d->state == S::kCancelled || d->state == S::kResumed;
    }
    if (needed) {
      kept.keys.push_back(key);
      continue;
    }
    Log(ts, "remove-replica");
    Recommend(recs, ts, S::kReleased);
  }
  if (!kept.keys.empty()) out.push_back(std::move(kept));
}

void WorkerState::On(AcquireReplicasEvent& ev, Recs& recs, Instructions&) {
  // After the inputs of computations of default or higher priority, before those of
  // negative priority (stock: (1,)).
  const Priority priority{1};
  for (const auto& [key, nbytes] : ev.nbytes) {
    TaskState* ts = EnsureTask(key, priority);
    if (ts->state != S::kMemory) {
      ts->nbytes = nbytes;
      Recommend(recs, ts, S::kFetch);
    }
  }
  UpdateWhoHas(ev.who_has);
}

void WorkerState::On(RefreshWhoHasEvent& ev, Recs& recs, Instructions&) {
  UpdateWhoHas(ev.who_has);
  for (const auto& [key, holders] : ev.who_has) {
    TaskState* ts = Find(key);
    if (ts == nullptr) continue;
    if (!ts->who_has.empty() && ts->state == S::kMissing) {
      Recommend(recs, ts, S::kFetch);
    } else if (ts->who_has.empty() && ts->state == S::kFetch) {
      Recommend(recs, ts, S::kMissing);
    }
    // In `fetch` with new holders, EnsureCommunicating may now reach one.
  }
}

void WorkerState::On(RemoveWorkerEvent& ev, Recs& recs, Instructions&) {
  if (auto it = data_needed_.find(ev.worker); it != data_needed_.end()) {
    for (TaskState* ts : it->second) {
      if (ts->who_has.size() == 1) Recommend(recs, ts, S::kMissing);
    }
    data_needed_.erase(it);
  }
  if (auto it = has_what_.find(ev.worker); it != has_what_.end()) {
    for (TaskState* ts : it->second) std::erase(ts->who_has, ev.worker);
    has_what_.erase(it);
  }
}

void WorkerState::On(UpdateDataEvent& ev, Recs& recs, Instructions&) {
  for (const auto& [key, nbytes] : ev.data) {
    TaskState* ts = Find(key);
    if (ts == nullptr) ts = EnsureTask(key, Priority{});
    Log(ts, "receive-from-scatter");
    if (ts->state == S::kMemory) {
      nbytes_in_memory_ += nbytes - ts->get_nbytes();
      ts->nbytes = nbytes;
      continue;
    }
    // A run or transfer under way keeps its own course; its value replaces this one.
    if (ts->state == S::kExecuting || ts->state == S::kFlight || ts->state == S::kCancelled ||
        ts->state == S::kResumed) {
      continue;
    }
    ts->nbytes = nbytes;
    Recommend(recs, ts, S::kMemory);
  }
}

void WorkerState::On(ExecuteSuccessEvent& ev, Recs& recs, Instructions&) {
  TaskState* ts = ExecuteDoneCommon(ev.key);
  if (ts == nullptr) return;
  ts->nbytes = ev.nbytes;
  ts->type = std::move(ev.type);
  ts->type_name = std::move(ev.type_name);
  ts->thread = std::move(ev.thread);
  ts->start = ev.start;
  ts->stop = ev.stop;
  Recommend(recs, ts, S::kMemory);
}

void WorkerState::On(ExecuteFailureEvent& ev, Recs& recs, Instructions&) {
  TaskState* ts = ExecuteDoneCommon(ev.key);
  if (ts == nullptr) return;
  ts->error = std::move(ev.error);
  Recommend(recs, ts, S::kError);
}

void WorkerState::On(NativeDeclinedEvent& ev, Recs& recs, Instructions& out) {
  TaskState* ts = Find(ev.key);
  if (ts == nullptr || executing_.count(ts) == 0) {
    if (options_.validate) Fail(ts, "native evaluation declined a task not executing");
    return;
  }
  ts->native_declined = true;
  if (ts->state == S::kExecuting) {
    if (executing_.size() <= static_cast<size_t>(options_.nthreads)) {
      ts->ran_ahead = false;  // it holds a thread: run it in Python there
      out.push_back(Execute{ts->key, ev.stimulus_id});
    } else {
      Recommend(recs, ts, S::kReady);
    }
    return;
  }
  // Cancelled or resumed: the run ended without a result. Through `error`, a cancelled
  // task is released and a resumed one fetched, and nothing is reported.
  ExecuteDoneCommon(ev.key);
  Recommend(recs, ts, S::kError);
}

void WorkerState::On(GatherDepSuccessEvent& ev, Recs& recs, Instructions&) {
  for (TaskState* ts : GatherDepDoneCommon(ev.worker, ev.total_nbytes)) {
    auto got = std::find_if(ev.data.begin(), ev.data.end(),
                            [ts](const auto& d) { return d.first == ts->key; });
    if (got != ev.data.end()) {
      ts->nbytes = got->second;
      Recommend(recs, ts, S::kMemory);
      continue;
    }
    auto bad = std::find_if(ev.unreadable.begin(), ev.unreadable.end(),
                            [ts](const auto& d) { return d.first == ts->key; });
    if (bad != ev.unreadable.end()) {
      // Asking again would bring the same bytes: the key and its waiters err instead.
      Log(ts, "gather-dep-failed");
      for (TaskState* waiter : ts->waiters) {
        if (waiter->state != S::kWaiting) continue;
        TaskError e = bad->second;
        e.exception_text =
            "input " + ts->key.Repr() + " failed to deserialize: " + bad->second.exception_text;
        waiter->error = std::move(e);
        Recommend(recs, waiter, S::kError);
      }
      ts->error = std::move(bad->second);
      Recommend(recs, ts, S::kError);
      continue;
    }
    Log(ts, "missing-dep");
    std::erase(ts->who_has, ev.worker);
    if (auto it = has_what_.find(ev.worker); it != has_what_.end()) {
      it->second.erase(ts);
      if (it->second.empty()) has_what_.erase(it);
    }
    Recommend(recs, ts, S::kFetch);
  }
}

void WorkerState::On(GatherDepBusyEvent& ev, Recs& recs, Instructions& out) {
  busy_workers_.insert(ev.worker);
  RequestRefreshWhoHasMsg refresh{{}, ev.stimulus_id};
  for (TaskState* ts : GatherDepDoneCommon(ev.worker, ev.total_nbytes)) {
    Recommend(recs, ts, S::kFetch);
    const bool all_busy =
        std::all_of(ts->who_has.begin(), ts->who_has.end(),
                    [this](const std::string& w) { return busy_workers_.count(w) > 0; });
    if (all_busy) refresh.keys.push_back(ts->key);
  }
  out.push_back(RetryBusyWorkerLater{ev.worker, ev.stimulus_id});
  if (!refresh.keys.empty()) out.push_back(std::move(refresh));
}

// The peer is taken for dead: every key it was believed to hold is looked for
// elsewhere, not only the ones of this transfer (stock's reasoning: a quicker retry).
void WorkerState::On(GatherDepNetworkFailureEvent& ev, Recs& recs, Instructions& out) {
  for (TaskState* ts : GatherDepDoneCommon(ev.worker, ev.total_nbytes)) {
    Log(ts, "missing-dep");
    Recommend(recs, ts, S::kFetch);
  }
  RemoveWorkerEvent gone;
  gone.worker = ev.worker;
  On(gone, recs, out);
}

void WorkerState::On(RetryBusyWorkerEvent& ev, Recs&, Instructions&) {
  busy_workers_.erase(ev.worker);
}

void WorkerState::On(PauseEvent&, Recs&, Instructions&) { running_ = false; }

void WorkerState::On(UnpauseEvent&, Recs&, Instructions&) { running_ = true; }

void WorkerState::On(FindMissingEvent& ev, Recs&, Instructions& out) {
  if (missing_dep_flight_.empty()) return;
  std::vector<const TaskState*> missing(missing_dep_flight_.begin(), missing_dep_flight_.end());
  std::sort(missing.begin(), missing.end(),
            [](const TaskState* a, const TaskState* b) { return a->seq < b->seq; });
  RequestRefreshWhoHasMsg msg{{}, ev.stimulus_id};
  for (const TaskState* ts : missing) msg.keys.push_back(ts->key);
  out.push_back(std::move(msg));
}

std::vector<std::pair<std::string_view, int64_t>> WorkerState::TaskCounts() const {
  int64_t counts[kNumTaskStatuses] = {};
  for (const auto& [key, ts] : tasks_) ++counts[static_cast<int>(ts->state)];
  std::vector<std::pair<std::string_view, int64_t>> out;
  for (int i = 0; i < kNumTaskStatuses; ++i) {
    if (counts[i] > 0) out.emplace_back(ToString(static_cast<S>(i)), counts[i]);
  }
  return out;
}

}  // namespace dn::worker
