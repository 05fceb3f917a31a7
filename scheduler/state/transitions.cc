// SchedulerState: the transition engine and the transitions themselves (mirrors
// distributed/scheduler.py's _transition_* functions), worker selection included.
#include "scheduler/state/scheduler_state.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_set>

#include "common/check.h"
#include "protocol/messages/worker_ops.h"

namespace dn {

// --- transition engine -----------------------------------------------------------

namespace {

using TS = TaskStatus;

constexpr size_t I(TaskStatus s) { return static_cast<size_t>(s); }

}  // namespace

// scheduler.py:SchedulerState._TRANSITIONS_TABLE, for the states kept here. Pairs not
// listed go through released when neither end is released (as stock's _transition);
// any other pair is an InvalidTransition.
const std::array<std::array<SchedulerState::TransitionFn, SchedulerState::kNumStatus>,
                 SchedulerState::kNumStatus>
    SchedulerState::kTransitions = [] {
      std::array<std::array<TransitionFn, kNumStatus>, kNumStatus> t{};
      t[I(TS::kReleased)][I(TS::kWaiting)] = &SchedulerState::TransitionReleasedWaiting;
      t[I(TS::kReleased)][I(TS::kMemory)] = &SchedulerState::TransitionReleasedMemory;
      t[I(TS::kReleased)][I(TS::kErred)] = &SchedulerState::TransitionToErred;
      t[I(TS::kReleased)][I(TS::kForgotten)] = &SchedulerState::TransitionReleasedForgotten;
      t[I(TS::kWaiting)][I(TS::kProcessing)] = &SchedulerState::TransitionWaitingProcessing;
      t[I(TS::kWaiting)][I(TS::kReleased)] = &SchedulerState::TransitionWaitingReleased;
      t[I(TS::kWaiting)][I(TS::kErred)] = &SchedulerState::TransitionToErred;
      t[I(TS::kQueued)][I(TS::kProcessing)] = &SchedulerState::TransitionWaitingProcessing;
      t[I(TS::kQueued)][I(TS::kReleased)] = &SchedulerState::TransitionWaitingReleased;
      t[I(TS::kQueued)][I(TS::kErred)] = &SchedulerState::TransitionToErred;
      t[I(TS::kNoWorker)][I(TS::kProcessing)] = &SchedulerState::TransitionWaitingProcessing;
      t[I(TS::kNoWorker)][I(TS::kReleased)] = &SchedulerState::TransitionWaitingReleased;
      t[I(TS::kNoWorker)][I(TS::kErred)] = &SchedulerState::TransitionToErred;
      t[I(TS::kProcessing)][I(TS::kMemory)] = &SchedulerState::TransitionProcessingMemory;
      t[I(TS::kProcessing)][I(TS::kReleased)] = &SchedulerState::TransitionProcessingReleased;
      t[I(TS::kProcessing)][I(TS::kErred)] = &SchedulerState::TransitionToErred;
      t[I(TS::kMemory)][I(TS::kReleased)] = &SchedulerState::TransitionMemoryReleased;
      t[I(TS::kErred)][I(TS::kReleased)] = &SchedulerState::TransitionErredReleased;
      return t;
    }();

void SchedulerState::RunTransitions() {
  while (!recs_.empty()) {
    Rec rec = recs_.front();
    recs_.pop_front();
    TaskState* ts = rec.ts;
    if (ts->status != rec.start || ts->status == TS::kForgotten) continue;  // overtaken
    if (rec.unless_needed && Needed(ts)) continue;
    // A task something needs is never forgotten (it stays released, and waits again).
    if (rec.finish == TS::kForgotten && Needed(ts)) continue;
    Status st = Transition(ts, rec.finish);
    if (!st.ok()) {
      DN_CHECK(!config_.validate, st.ToString());
      std::fprintf(stderr, "dask-native-scheduler: %s\n", st.ToString().c_str());
    }
  }
}

Status SchedulerState::Transition(TaskState* ts, TaskStatus finish, TransitionArgs& args) {
  const TaskStatus start = ts->status;
  if (start == finish) return Status::OK();
  const size_t first_rec = recs_.size();
  if (TransitionFn fn = kTransitions[I(start)][I(finish)]) {
    (this->*fn)(ts, args);
  } else if (start != TS::kReleased && finish != TS::kReleased &&
             kTransitions[I(start)][I(TS::kReleased)] &&
             kTransitions[I(TS::kReleased)][I(finish)]) {
    (this->*kTransitions[I(start)][I(TS::kReleased)])(ts, args);
    if (ts->status == TS::kReleased) {
      // The release may have recommended something else for the task (stock's "inner
      // rec wins"): waiting again when needed; otherwise go on to `finish`.
      TaskStatus next = finish;
      for (size_t i = first_rec; i < recs_.size(); ++i) {
        if (recs_[i].ts == ts) next = recs_[i].finish;
      }
      if (TransitionFn fn = kTransitions[I(TS::kReleased)][I(next)]) (this->*fn)(ts, args);
    }
  } else {
    return Status::Invalid("InvalidTransition: " + ts->key.Repr() + " " +
                           std::string(ToString(start)) + " -> " + std::string(ToString(finish)) +
                           " (stimulus " + StimulusId() + ")");
  }
  LogTransition(ts, start, first_rec);
  if (config_.validate) {
    Status st = ValidateTask(*ts);
    DN_CHECK(st.ok(), st.ToString() + " after " + std::string(ToString(start)) + " -> " +
                          std::string(ToString(finish)) + " (stimulus " + StimulusId() + ")");
  }
  return Status::OK();
}

void SchedulerState::LogTransition(TaskState* ts, TaskStatus start, size_t first_rec) {
  if (config_.transition_log_length == 0) return;
  if (transition_log_.size() >= config_.transition_log_length) transition_log_.pop_front();
  TransitionRecord& r = transition_log_.emplace_back();
  r.key = ts->key;
  r.start = start;
  r.finish = ts->status;
  for (size_t i = first_rec; i < recs_.size(); ++i) {
    r.recommendations.emplace_back(recs_[i].ts->key, recs_[i].finish);
  }
  r.stimulus_id = stimulus_id_;
  r.timestamp = now_;
}

Status SchedulerState::TransitionKey(const Key& key, TaskStatus finish, const Stimulus& stim) {
  TaskState* ts = task(key);
  if (ts == nullptr) return Status::OK();
  OpenStimulus(stim);
  Status st = Transition(ts, finish);
  CloseStimulus();
  return st;
}

std::vector<const TransitionRecord*> SchedulerState::Story(
    const std::vector<Key>& keys_or_stimuli) const {
  std::unordered_set<Key, KeyHash> wanted(keys_or_stimuli.begin(), keys_or_stimuli.end());
  std::unordered_set<std::string_view> stimuli;
  for (const Key& k : keys_or_stimuli) {
    if (const std::string* s = k.str()) stimuli.insert(*s);
  }
  std::vector<const TransitionRecord*> out;
  for (const TransitionRecord& r : transition_log_) {
    bool hit = wanted.count(r.key) || stimuli.count(*r.stimulus_id);
    for (size_t i = 0; !hit && i < r.recommendations.size(); ++i) {
      hit = wanted.count(r.recommendations[i].first) > 0;
    }
    if (hit) out.push_back(&r);
  }
  return out;
}

void SchedulerState::TransitionReleasedWaiting(TaskState* ts, TransitionArgs&) {
  if (!ts->run_spec) {
    // Data that no worker holds any more and that cannot be recomputed.
    ReportToClients(
        ts, Value(Map{{Value("op"), Value("lost-data")}, {Value("key"), ts->key.ToValue()}}));
    return;
  }
  for (TaskState* dep : ts->dependencies) {
    if (dep->status == TS::kErred) {
      ErrTask(ts, dep->exception_blame ? dep->exception_blame : dep, dep->exception,
              dep->traceback);
      return;
    }
  }
  ts->waiting_on.clear();
  for (TaskState* dep : ts->dependencies) {
    if (dep->status != TS::kMemory) {
      ts->waiting_on.insert(dep);
      if (dep->status == TS::kReleased) Recommend(dep, TS::kWaiting);
    }
    dep->waiters.insert(ts);
  }
  SetStatus(ts, TS::kWaiting);
  if (ts->waiting_on.empty()) Recommend(ts, TS::kProcessing);
}

bool SchedulerState::HasRoom(const WorkerState* ws) const {
  double cap = std::ceil(config_.worker_saturation * static_cast<double>(ws->nthreads));
  return static_cast<double>(ws->processing.size()) < std::max(cap, 1.0);
}

WorkerState* SchedulerState::DecideWorker(TaskState* ts) const {
  std::vector<WorkerState*> candidates;
  for (const auto& ws : workers_) {
    if (!ws->running()) continue;
    if (!ts->worker_restrictions.empty() && !ts->loose_restrictions) {
      bool ok = false;
      for (const std::string& r : ts->worker_restrictions) {
        ok = ok || r == ws->address || r == ws->host || Value(r) == ws->name;
      }
      if (!ok) continue;
    }
    candidates.push_back(ws.get());
  }
  if (candidates.empty()) return nullptr;
  // Prefer restricted workers even when others are allowed.
  if (!ts->worker_restrictions.empty() && ts->loose_restrictions) {
    std::vector<WorkerState*> preferred;
    for (WorkerState* ws : candidates) {
      for (const std::string& r : ts->worker_restrictions) {
        if (r == ws->address || r == ws->host) preferred.push_back(ws);
      }
    }
    if (!preferred.empty()) candidates = preferred;
  }
  // Cost = bytes to fetch from elsewhere + queued work; data locality first, as
  // scheduler.py:decide_worker does with its transfer-time estimate.
  WorkerState* best = nullptr;
  double best_cost = 0;
  size_t n = candidates.size();
  for (size_t i = 0; i < n; ++i) {
    WorkerState* ws = candidates[(i + round_robin_) % n];
    double missing = 0;
    for (TaskState* dep : ts->dependencies) {
      if (!dep->who_has.count(ws))
        missing += static_cast<double>(std::max<int64_t>(dep->nbytes, 0));
    }
    double load = static_cast<double>(ws->processing.size()) / static_cast<double>(ws->nthreads);
    double cost = missing / 100e6 + load * 0.01;  // ~100 MB/s transfers, 10 ms per queued task
    if (best == nullptr || cost < best_cost) {
      best = ws;
      best_cost = cost;
    }
  }
  return best;
}

void SchedulerState::TransitionWaitingProcessing(TaskState* ts, TransitionArgs& args) {
  const TaskStatus start = ts->status;
  WorkerState* ws = args.worker;  // FillFreeSlots chose it for a queued task
  if (ws == nullptr) {
    ws = DecideWorker(ts);
    if (ws == nullptr) {
      queued_.erase(ts);
      unrunnable_.insert(ts);
      SetStatus(ts, TS::kNoWorker);
      return;
    }
    // Root tasks wait in the queue until some worker has room (worker-saturation).
    // Tasks with worker restrictions are never queued, as in stock: the queue hands
    // tasks to whichever worker frees up first.
    if (ts->root_ish() && ts->worker_restrictions.empty()) {
      const HostLoads loads = LoadsOfSharedHosts();
      if (!HasRoom(ws) || WaitsForNeighbours(ws, loads) || AtHighWater(ws, loads)) {
        WorkerState* roomy = RoomiestWorker(loads);
        if (roomy == nullptr) {
          unrunnable_.erase(ts);
          queued_.insert(ts);
          SetStatus(ts, TS::kQueued);
          return;
        }
        ws = roomy;
      }
    }
  }
  if (start == TS::kQueued) queued_.erase(ts);
  if (start == TS::kNoWorker) unrunnable_.erase(ts);
  round_robin_++;
  ts->processing_on = ws;
  ws->processing.insert(ts);
  ts->run_id = next_run_id_++;
  SetStatus(ts, TS::kProcessing);
  ComputeTask msg;
  msg.key = ts->key;
  msg.run_id = ts->run_id;
  msg.priority = ts->priority.ToValue();
  msg.stimulus_id = StimulusId();
  for (TaskState* dep : ts->dependencies) {
    std::vector<std::string> holders;
    for (WorkerState* h : dep->who_has) holders.push_back(h->address);
    msg.who_has.emplace_back(dep->key, std::move(holders));
    msg.nbytes.emplace_back(dep->key, std::max<int64_t>(dep->nbytes, 0));
  }
  msg.run_spec = ts->run_spec;
  msg.annotations = ts->annotations;
  SendToWorker(ws->address, msg.ToValue());
}

namespace {

/// Root task results at least this large decide placement by high water: a native
/// worker keeps chunks of 4 MiB and more in its page pool (common/buffer.cc).
constexpr int64_t kPooledResultBytes = int64_t{4} << 20;

/// How many tasks per thread a worker may hold or run beyond its least loaded
/// neighbour before it leaves queued root tasks to its neighbours. 1, not 2: with 2 the
/// seed's shares still ranged 31-35 of 100 chunks from one persist to the next, and
/// each time a worker's share beat its last maximum its page pool missed (~50-70 ms a
/// chunk); with 1, half as many misses in the runs after the first (measured on the
/// seed with 3 one-thread workers sharing 2 cores; bench/RESULTS.md).
constexpr double kRootTaskSlack = 1;

double TasksPerThread(const WorkerState* ws) {
  return static_cast<double>(ws->has_what.size() + ws->processing.size()) /
         static_cast<double>(ws->nthreads);
}

int64_t BusyThreads(const WorkerState* ws) {
  return std::min<int64_t>(static_cast<int64_t>(ws->processing.size()), ws->nthreads);
}

}  // namespace

SchedulerState::HostLoads SchedulerState::LoadsOfSharedHosts() const {
  HostLoads loads;
  for (const auto& [host, workers] : workers_by_host_) {
    if (workers.size() < 2) continue;
    HostLoad& h = loads[host];
    for (const WorkerState* w : workers) {
      if (!w->running()) continue;
      h.busy_threads += BusyThreads(w);
      h.least = std::min(h.least, TasksPerThread(w));
      if (w->cpus > 0 && HasRoom(w))
        h.least_with_room = std::min(h.least_with_room, TasksPerThread(w));
      if (w->cpus > 0 && !w->processing.empty() && !PastHighWater(w)) {
        h.least_busy_below_high_water = std::min(h.least_busy_below_high_water, TasksPerThread(w));
      }
    }
  }
  return loads;
}

// Workers on one host share its cores. While a worker's neighbours keep every core it
// may use busy, which of them takes the next queued root task does not change how fast
// the queue drains (a worker that waits gives its core to a neighbour), but it does
// decide where the results land. Linux gives one of three one-thread workers on two
// cores a core of its own for a while, and plain queuing then hands that worker up to
// twice its share of an array's chunks: the reductions that follow wait on it, and its
// chunk memory grows with every persist whose share is larger than the last. So a
// worker waits while it holds or runs more than kRootTaskSlack tasks per thread above
//  - its least loaded neighbour, while its neighbours keep every core it may use busy;
//  - or a neighbour that has room for the task now (which then takes it). Without this,
//    a neighbour waiting by the first rule sat idle, so the busiest worker, seeing a
//    core free, took the task instead (one worker got 38 of the seed's 100 chunks).
// While a core is free, the worker with room and the fewest tasks per thread never
// waits, so the queue keeps draining. Nobody waits on a host of its own, nor when it
// does not report its CPUs (stock workers).
bool SchedulerState::WaitsForNeighbours(const WorkerState* ws, const HostLoads& loads) const {
  if (ws->cpus <= 0) return false;
  auto it = loads.find(ws->host);
  if (it == loads.end()) return false;
  const HostLoad& host = it->second;
  const double load = TasksPerThread(ws);
  if (load > host.least_with_room + kRootTaskSlack) return true;
  if (load >= host.least_busy_below_high_water && PastHighWater(ws)) return true;
  const int64_t neighbours_busy = host.busy_threads - BusyThreads(ws);
  return neighbours_busy >= ws->cpus && load > host.least + kRootTaskSlack;
}

// A co-located worker whose results would pass the most bytes it has held before goes
// after its neighbours that stay under theirs. Memory a native worker held once stays
// mapped in its page pool, so a chunk under its high water costs no page faults, and a
// chunk above it does: on this VM ~50-70 ms for a 32 MB chunk against ~2 ms to generate
// it. Without this, the seed's shares moved by a few chunks from one persist to the next
// and whoever's share beat its last maximum missed its pool, for several persists after
// the first: bench-like sequences (a first run, then 8), 12 misses in 3 trials; with
// it 1, and every later persist landed exactly as the first. A worker waits only while
// such a neighbour is running a task and holds no more than it does, so a core stays
// idle for at most the rest of that task (~2 ms for the seed's chunks, against a miss),
// and a neighbour with a larger high water from other work (a test suite's earlier
// arrays) cannot draw every root task to itself: without that bound, the compat suite
// ran several times slower. Steady persists were unchanged (3 x 16 cycles:
// 0.145/0.138/0.152 s with, 0.149/0.140/0.147 s without). A result's size is guessed
// from the last root task's.
bool SchedulerState::AtHighWater(const WorkerState* ws, const HostLoads& loads) const {
  return ws->cpus > 0 && loads.count(ws->host) && PastHighWater(ws);
}

bool SchedulerState::PastHighWater(const WorkerState* ws) const {
  if (last_root_nbytes_ < kPooledResultBytes) return false;
  const int64_t coming = static_cast<int64_t>(ws->processing.size()) + 1;
  return ws->nbytes + coming * last_root_nbytes_ > ws->nbytes_high_water;
}

WorkerState* SchedulerState::RoomiestWorker(const HostLoads& loads) const {
  WorkerState* best = nullptr;
  bool best_high = false;
  for (const auto& w : workers_) {
    if (!w->running() || !HasRoom(w.get()) || WaitsForNeighbours(w.get(), loads)) continue;
    const bool high = AtHighWater(w.get(), loads);
    if (best == nullptr || (best_high && !high) ||
        (best_high == high && w->processing.size() < best->processing.size())) {
      best = w.get();
      best_high = high;
    }
  }
  return best;
}

void SchedulerState::FillFreeSlots() {
  while (!queued_.empty()) {
    WorkerState* roomy = RoomiestWorker(LoadsOfSharedHosts());
    if (roomy == nullptr) return;
    TransitionArgs args;
    args.worker = roomy;
    Status st = Transition(*queued_.begin(), TS::kProcessing, args);
    DN_CHECK(st.ok(), st.ToString());
  }
}

void SchedulerState::ReleaseIfUnneeded(TaskState* ts) {
  if (Needed(ts)) return;
  switch (ts->status) {
    case TS::kMemory:
    case TS::kWaiting:
    case TS::kQueued:
    case TS::kNoWorker:
    case TS::kProcessing:
      Recommend(ts, ts->dependents.empty() ? TS::kForgotten : TS::kReleased,
                /*unless_needed=*/true);
      break;
    case TS::kErred:
    case TS::kReleased:
      if (ts->dependents.empty()) Recommend(ts, TS::kForgotten, /*unless_needed=*/true);
      break;
    default: break;
  }
}

Value SchedulerState::FreeKeysMessage(const TaskState* ts) const {
  return Value(Map{{Value("op"), Value("free-keys")},
                   {Value("keys"), Value(Array{ts->key.ToValue()})},
                   {Value("stimulus_id"), Value(StimulusId())}});
}

void SchedulerState::TransitionProcessingMemory(TaskState* ts, TransitionArgs& args) {
  WorkerState* ws = args.worker;
  ws->processing.erase(ts);
  ts->processing_on = nullptr;
  ts->nbytes = args.nbytes;
  ts->type = std::move(args.type);
  ts->type_name = std::move(args.type_name);
  ts->who_has.insert(ws);
  ws->has_what.insert(ts);
  ws->AddBytes(args.nbytes);
  if (ts->root_ish()) last_root_nbytes_ = std::max<int64_t>(args.nbytes, 0);
  SetStatus(ts, TS::kMemory);
  for (TaskState* dts : ts->dependents) {
    if (dts->waiting_on.erase(ts) && dts->waiting_on.empty() && dts->status == TS::kWaiting) {
      Recommend(dts, TS::kProcessing);
    }
  }
  for (TaskState* dep : ts->dependencies) {
    dep->waiters.erase(ts);
    ReleaseIfUnneeded(dep);
  }
  Map msg{{Value("op"), Value("key-in-memory")}, {Value("key"), ts->key.ToValue()}};
  if (!ts->type.empty()) msg.push_back({Value("type"), Value(Bin{ts->type})});
  ReportToClients(ts, Value(std::move(msg)));
  if (!Needed(ts) && ts->dependents.empty()) Recommend(ts, TS::kReleased, true);
}

// Scattered data (update_data): the key now lives on args.worker.
void SchedulerState::TransitionReleasedMemory(TaskState* ts, TransitionArgs& args) {
  ts->nbytes = args.nbytes;
  if (ts->who_has.insert(args.worker).second) {
    args.worker->has_what.insert(ts);
    args.worker->AddBytes(args.nbytes);
  }
  SetStatus(ts, TS::kMemory);
  for (TaskState* dts : ts->dependents) {
    if (dts->waiting_on.erase(ts) && dts->waiting_on.empty() && dts->status == TS::kWaiting) {
      Recommend(dts, TS::kProcessing);
    }
  }
}

void SchedulerState::ReleaseUnfinished(TaskState* ts) {
  queued_.erase(ts);
  unrunnable_.erase(ts);
  ts->waiting_on.clear();
  SetStatus(ts, TS::kReleased);
  if (Needed(ts)) {
    // It runs again (it lost an input, or its worker died): its inputs stay where they
    // are, still awaited by it. Letting go of them here freed inputs that surviving
    // workers held, and recomputed them; stock's _propagate_released keeps them too.
    Recommend(ts, TS::kWaiting);
    return;
  }
  for (TaskState* dep : ts->dependencies) {
    dep->waiters.erase(ts);
    ReleaseIfUnneeded(dep);
  }
  AfterRelease(ts);
}

void SchedulerState::AfterRelease(TaskState* ts) {
  if (Needed(ts)) {
    Recommend(ts, TS::kWaiting);
  } else if (ts->dependents.empty()) {
    // Its last dependent may have been forgotten while this release was still a
    // recommendation (a graph cancelled half way); then nothing else would forget it.
    Recommend(ts, TS::kForgotten);
  }
}

void SchedulerState::TransitionWaitingReleased(TaskState* ts, TransitionArgs&) {
  ReleaseUnfinished(ts);
}

void SchedulerState::TransitionProcessingReleased(TaskState* ts, TransitionArgs&) {
  WorkerState* ws = ts->processing_on;
  ws->processing.erase(ts);
  ts->processing_on = nullptr;
  SendToWorker(ws->address, FreeKeysMessage(ts));
  ReleaseUnfinished(ts);
}

void SchedulerState::TransitionMemoryReleased(TaskState* ts, TransitionArgs&) {
  const bool lost = ts->who_has.empty();  // its last holder left or dropped it
  for (WorkerState* ws : ts->who_has) {
    ws->has_what.erase(ts);
    ws->nbytes -= std::max<int64_t>(ts->nbytes, 0);
    SendToWorker(ws->address, FreeKeysMessage(ts));
  }
  ts->who_has.clear();
  for (TaskState* dts : ts->dependents) {
    if (dts->status == TS::kWaiting) {
      dts->waiting_on.insert(ts);
      ts->waiters.insert(dts);
    } else if (dts->status == TS::kProcessing) {
      // Its worker can no longer fetch this input: take the task back (free-keys) and
      // let it wait for the recomputation, as _transition_memory_released does.
      Recommend(dts, TS::kReleased);
    }
  }
  SetStatus(ts, TS::kReleased);
  if (lost && !ts->who_wants.empty()) {
    ReportToClients(
        ts, Value(Map{{Value("op"), Value("lost-data")}, {Value("key"), ts->key.ToValue()}}));
  }
  if (!ts->run_spec) {
    if (!Needed(ts)) Recommend(ts, TS::kForgotten);
    return;
  }
  AfterRelease(ts);
}

void SchedulerState::TransitionErredReleased(TaskState* ts, TransitionArgs&) {
  for (const std::string& address : ts->erred_on) {
    if (worker(address) != nullptr) SendToWorker(address, FreeKeysMessage(ts));
  }
  ts->erred_on.clear();
  ts->exception = Value();
  ts->traceback = Value();
  ts->exception_blame = nullptr;
  // As stock's _transition_erred_released: the tasks that erred because of this one
  // are tried again with it (Retry), and the clients waiting on it hear it is pending.
  for (TaskState* dts : ts->dependents) {
    if (dts->status == TS::kErred) Recommend(dts, TS::kWaiting);
  }
  ReportToClients(
      ts, Value(Map{{Value("op"), Value("task-retried")}, {Value("key"), ts->key.ToValue()}}));
  SetStatus(ts, TS::kReleased);
  AfterRelease(ts);
}

void SchedulerState::ErrTask(TaskState* ts, TaskState* blame, Value exception, Value traceback) {
  ts->exception = std::move(exception);
  ts->traceback = std::move(traceback);
  ts->exception_blame = blame;
  Recommend(ts, TS::kErred);
}

void SchedulerState::TransitionToErred(TaskState* ts, TransitionArgs&) {
  if (ts->status == TS::kProcessing && ts->processing_on) {
    ts->processing_on->processing.erase(ts);
    ts->processing_on = nullptr;
  }
  queued_.erase(ts);
  unrunnable_.erase(ts);
  for (TaskState* dep : ts->dependencies) {
    dep->waiters.erase(ts);
    ReleaseIfUnneeded(dep);
  }
  ts->waiting_on.clear();
  SetStatus(ts, TS::kErred);
  ReportToClients(ts, Value(Map{{Value("op"), Value("task-erred")},
                                {Value("key"), ts->key.ToValue()},
                                {Value("exception"), ts->exception},
                                {Value("traceback"), ts->traceback}}));
  // Everything downstream errs too, as _transition_processing_erred recommends.
  for (TaskState* dts : ts->dependents) {
    if (dts->status != TS::kErred && dts->status != TS::kMemory) {
      ErrTask(dts, ts->exception_blame ? ts->exception_blame : ts, ts->exception, ts->traceback);
    }
  }
}

void SchedulerState::TransitionReleasedForgotten(TaskState* ts, TransitionArgs&) {
  if (!ts->dependents.empty() || Needed(ts)) return;
  for (TaskState* dep : ts->dependencies) {
    dep->dependents.erase(ts);
    dep->waiters.erase(ts);
    // A task released to run again still awaited its inputs (ReleaseUnfinished).
    ReleaseIfUnneeded(dep);
  }
  ts->dependencies.clear();
  for (ClientState* cs : ts->who_wants) cs->wants_what.erase(ts);
  ts->who_wants.clear();
  SetStatus(ts, TS::kForgotten);
  forgotten_.push_back(ts);
}

void SchedulerState::OpenStimulus(const Stimulus& stim) {
  if (stimulus_id_ == nullptr || *stimulus_id_ != stim.id) {
    stimulus_id_ = std::make_shared<const std::string>(stim.id);
  }
  now_ = stim.now;
}

void SchedulerState::CloseStimulus() {
  RunTransitions();
  FillFreeSlots();
  RunTransitions();
  // Forgotten tasks leave the map only now, when nothing refers to them any more.
  for (TaskState* ts : forgotten_) {
    Key k = ts->key;
    if (!task_metadata_.empty()) task_metadata_.Forget(k);
    tasks_.erase(k);
  }
  forgotten_.clear();
  // Every task was checked after its own transitions; the whole state (holders and
  // has_what agreeing, leaks) after every stimulus while it is small, and after every
  // k-th stimulus for k = tasks / kFullValidationTasks once it is larger, so a check
  // costs about as much per stimulus at any size: after each stimulus, a 10,000-task graph
  // took minutes on 2 cores, and with k = tasks / 1000 two 3,000-task cumsum chains
  // took 16 s instead of 3.6.
  if (config_.validate && ++stimuli_since_validation_ * kFullValidationTasks >= tasks_.size()) {
    stimuli_since_validation_ = 0;
    Status st = Validate();
    DN_CHECK(st.ok(), st.ToString() + " (stimulus " + StimulusId() + ")");
  }
}

}  // namespace dn
