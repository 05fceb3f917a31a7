#include "scheduler/state/scheduler_state.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "protocol/messages/worker_ops.h"
#include "protocol/pickle/pickle_writer.h"
#include "protocol/serialize/bytes_serializer.h"

namespace dn {

std::string_view ToString(TaskStatus s) {
  switch (s) {
    case TaskStatus::kReleased: return "released";
    case TaskStatus::kWaiting: return "waiting";
    case TaskStatus::kNoWorker: return "no-worker";
    case TaskStatus::kQueued: return "queued";
    case TaskStatus::kProcessing: return "processing";
    case TaskStatus::kMemory: return "memory";
    case TaskStatus::kErred: return "erred";
    case TaskStatus::kForgotten: return "forgotten";
  }
  return "?";
}

Value Priority::ToValue() const {
  // Stock sends ints where the values are integral (msgpack keeps the distinction).
  auto num = [](double d) {
    return d == std::floor(d) ? Value(static_cast<int64_t>(d)) : Value(d);
  };
  return Value(Array{num(user), num(generation), Value(order)});
}

SchedulerState::SchedulerState(SchedulerConfig config) : config_(config) {}
SchedulerState::~SchedulerState() = default;

TaskState* SchedulerState::task(const Key& key) const {
  auto it = tasks_.find(key);
  return it == tasks_.end() ? nullptr : it->second.get();
}

WorkerState* SchedulerState::worker(const std::string& address) const {
  auto it = workers_by_address_.find(address);
  return it == workers_by_address_.end() ? nullptr : it->second;
}

ClientState* SchedulerState::client(const std::string& id) const {
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : it->second.get();
}

std::vector<int64_t> SchedulerState::StatusCounts() const {
  std::vector<int64_t> counts(8, 0);
  for (const auto& [k, ts] : tasks_) counts[static_cast<size_t>(ts->status)]++;
  return counts;
}

int64_t SchedulerState::total_threads() const {
  int64_t n = 0;
  for (const auto& ws : workers_) n += ws->nthreads;
  return n;
}

Outbox SchedulerState::TakeOutbox() { return std::exchange(outbox_, Outbox{}); }

void SchedulerState::SendToWorker(const std::string& address, Value message) {
  outbox_.to_workers[address].push_back(std::move(message));
}

void SchedulerState::SendToClient(const std::string& id, Value message) {
  outbox_.to_clients[id].push_back(std::move(message));
}

void SchedulerState::ReportToClients(TaskState* ts, Value message) {
  for (ClientState* cs : ts->who_wants) SendToClient(cs->id, message);
}

void SchedulerState::SetStatus(TaskState* ts, TaskStatus s) { ts->status = s; }

bool SchedulerState::Needed(const TaskState* ts) const {
  return !ts->who_wants.empty() || !ts->waiters.empty();
}

namespace {

NodeId AddKeyNode(PickleTree& t, const Key& key) {
  if (const std::string* s = key.str()) return t.AddStr(*s);
  if (const Key::Tuple* tup = key.tuple()) {
    std::vector<NodeId> items;
    for (const Key& k : *tup) items.push_back(AddKeyNode(t, k));
    return t.AddTuple(std::move(items));
  }
  Value v = key.ToValue();
  if (const int64_t* i = v.get_if<int64_t>()) return t.AddInt(*i);
  return t.AddFloat(*v.get_if<double>());
}

}  // namespace

// The exception stock raises after allowed-failures worker deaths, pickled as the
// client expects it: distributed.scheduler.KilledWorker(task, last_worker, allowed).
// `last_worker` is a WorkerState on the stock side; its __str__ reads `.address`, so a
// types.SimpleNamespace(address=...) stands in for it.
Value KilledWorkerException(const Key& key, const std::string& last_worker, int allowed) {
  PickleTree t;
  NodeId ns = t.AddReduce(t.AddGlobal("types", "SimpleNamespace"), t.AddTuple({}),
                          t.AddDict({t.AddStr("address"), t.AddStr(last_worker)}));
  NodeId args = t.AddTuple({AddKeyNode(t, key), ns, t.AddInt(allowed)});
  t.set_root(t.AddReduce(t.AddGlobal("distributed.scheduler", "KilledWorker"), args));
  return Value(SerializeBytes(Buffer::FromString(WritePickle(t, 5).ValueOrDie())));
}

// --- stimuli ---------------------------------------------------------------------

void SchedulerState::AddClient(const std::string& id, const Stimulus& stim) {
  auto& cs = clients_[id];
  if (!cs) {
    cs = std::make_unique<ClientState>();
    cs->id = id;
  }
  cs->last_seen = stim.now;
}

void SchedulerState::ClientHeartbeat(const std::string& id, const Stimulus& stim) {
  if (ClientState* cs = client(id)) cs->last_seen = stim.now;
}

void SchedulerState::RemoveClient(const std::string& id, const Stimulus& stim) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  OpenStimulus(stim);
  ClientState* cs = it->second.get();
  std::vector<TaskState*> wanted(cs->wants_what.begin(), cs->wants_what.end());
  for (TaskState* ts : wanted) {
    ts->who_wants.erase(cs);
    ReleaseIfUnneeded(ts);
  }
  cs->wants_what.clear();
  RunTransitions();
  clients_.erase(it);
  CloseStimulus();
}

void SchedulerState::UpdateGraph(const std::string& client, std::vector<GraphTask> tasks,
                                 const std::vector<Key>& wanted, const Stimulus& stim) {
  OpenStimulus(stim);
  AddClient(client, stim);
  ClientState* cs = clients_[client].get();
  generation_ += 1;
  std::vector<TaskState*> touched;
  // Create task states; a key that already has a run_spec keeps it (stock behaviour).
  for (GraphTask& gt : tasks) {
    auto& slot = tasks_[gt.key];
    if (!slot) {
      slot = std::make_unique<TaskState>();
      slot->key = gt.key;
      slot->prefix = KeySplit(gt.key);
    }
    TaskState* ts = slot.get();
    if (!ts->run_spec) {
      ts->run_spec = std::move(gt.run_spec);
      ts->annotations = std::move(gt.annotations);
      double prio = 0;  // the `priority` annotation; stock clients never send user_priority
      if (const Value* p = FindKey(ts->annotations, "priority")) {
        if (const int64_t* i = p->get_if<int64_t>()) prio = static_cast<double>(*i);
        if (const double* d = p->get_if<double>()) prio = *d;
      }
      ts->priority = Priority{-prio, generation_, gt.order};
      if (const Value* r = FindKey(ts->annotations, "retries")) {
        if (const int64_t* i = r->get_if<int64_t>()) ts->retries = static_cast<int>(*i);
      }
      ts->worker_restrictions.clear();
      if (const Value* w = FindKey(ts->annotations, "workers")) {
        if (const std::string* s = w->str()) ts->worker_restrictions.push_back(*s);
        if (const Array* a = w->array()) {
          for (const Value& x : *a) {
            if (const std::string* s = x.str()) ts->worker_restrictions.push_back(*s);
          }
        }
      }
      if (const Value* a = FindKey(ts->annotations, "allow_other_workers")) {
        ts->loose_restrictions = a->is<bool>() && *a->get_if<bool>();
      }
      touched.push_back(ts);
    }
  }
  // Wire dependencies of the new tasks (dependencies may be older keys).
  std::vector<TaskState*> lost;
  for (GraphTask& gt : tasks) {
    TaskState* ts = task(gt.key);
    if (std::find(touched.begin(), touched.end(), ts) == touched.end()) continue;
    ts->dependencies.clear();
    for (const Key& dk : gt.dependencies) {
      TaskState* dep = task(dk);
      if (dep == nullptr) {
        lost.push_back(ts);
        continue;
      }
      ts->dependencies.push_back(dep);
      dep->dependents.insert(ts);
    }
  }
  // A task whose dependency nobody defines can never run; it and everything new that
  // depends on it are cancelled with "lost dependencies" (scheduler.py
  // _find_lost_dependencies) instead of running without inputs.
  std::unordered_set<TaskState*> cancelled;
  while (!lost.empty()) {
    TaskState* ts = lost.back();
    lost.pop_back();
    if (!cancelled.insert(ts).second) continue;
    for (TaskState* dts : ts->dependents) {
      if (std::find(touched.begin(), touched.end(), dts) != touched.end()) lost.push_back(dts);
    }
  }
  if (!cancelled.empty()) {
    Array keys;
    for (TaskState* ts : cancelled) keys.push_back(ts->key.ToValue());
    SendToClient(client, Value(Map{{Value("op"), Value("cancelled-keys")},
                                   {Value("keys"), Value(std::move(keys))},
                                   {Value("reason"), Value("lost dependencies")}}));
    std::erase_if(touched, [&](TaskState* ts) { return cancelled.count(ts) > 0; });
    for (TaskState* ts : cancelled) Recommend(ts, TaskStatus::kForgotten);
  }
  for (const Key& k : wanted) {
    TaskState* ts = task(k);
    if (ts == nullptr || cancelled.count(ts)) continue;
    ts->who_wants.insert(cs);
    cs->wants_what.insert(ts);
    ReportState(client, ts);
    if (ts->status == TaskStatus::kReleased) Recommend(ts, TaskStatus::kWaiting);
  }
  // New tasks that something needs start waiting; others were culled client-side.
  for (TaskState* ts : touched) {
    if (ts->status == TaskStatus::kReleased) Recommend(ts, TaskStatus::kWaiting);
  }
  CloseStimulus();
}

void SchedulerState::UpdateGraphFailed(const std::string& client, const std::vector<Key>& wanted,
                                       const Value& exception, const Value& traceback,
                                       const Stimulus& stim) {
  OpenStimulus(stim);
  for (const Key& k : wanted) {
    SendToClient(client, Value(Map{{Value("op"), Value("task-erred")},
                                   {Value("key"), k.ToValue()},
                                   {Value("exception"), exception},
                                   {Value("traceback"), traceback}}));
  }
  CloseStimulus();
}

void SchedulerState::ClientReleasesKeys(const std::string& client, const std::vector<Key>& keys,
                                        const Stimulus& stim) {
  ClientState* cs = this->client(client);
  if (cs == nullptr) return;
  OpenStimulus(stim);
  for (const Key& k : keys) {
    TaskState* ts = task(k);
    if (ts == nullptr) continue;
    ts->who_wants.erase(cs);
    cs->wants_what.erase(ts);
    ReleaseIfUnneeded(ts);
  }
  CloseStimulus();
}

void SchedulerState::ClientDesiresKeys(const std::string& client, const std::vector<Key>& keys,
                                       const Stimulus& stim) {
  OpenStimulus(stim);
  AddClient(client, stim);
  ClientState* cs = clients_[client].get();
  for (const Key& k : keys) {
    TaskState* ts = task(k);
    if (ts == nullptr) continue;
    ts->who_wants.insert(cs);
    cs->wants_what.insert(ts);
    ReportState(client, ts);
    if (ts->status == TaskStatus::kReleased) Recommend(ts, TaskStatus::kWaiting);
  }
  CloseStimulus();
}

void SchedulerState::ReportState(const std::string& client, TaskState* ts) {
  // scheduler.py:report_on_key: tell a client where a key stands.
  if (ts->status == TaskStatus::kMemory) {
    Map msg{{Value("op"), Value("key-in-memory")}, {Value("key"), ts->key.ToValue()}};
    if (!ts->type.empty()) msg.push_back({Value("type"), Value(Bin{ts->type})});
    SendToClient(client, Value(std::move(msg)));
  } else if (ts->status == TaskStatus::kErred) {
    SendToClient(client, Value(Map{{Value("op"), Value("task-erred")},
                                   {Value("key"), ts->key.ToValue()},
                                   {Value("exception"), ts->exception},
                                   {Value("traceback"), ts->traceback}}));
  }
}

void SchedulerState::CancelKeys(const std::string& client, const std::vector<Key>& keys,
                                const Stimulus& stim) {
  OpenStimulus(stim);
  Array cancelled;
  for (const Key& k : keys) {
    TaskState* ts = task(k);
    if (ts == nullptr) continue;
    cancelled.push_back(k.ToValue());
    std::vector<ClientState*> wanting(ts->who_wants.begin(), ts->who_wants.end());
    for (ClientState* cs : wanting) {
      cs->wants_what.erase(ts);
      SendToClient(cs->id, Value(Map{{Value("op"), Value("cancelled-keys")},
                                     {Value("keys"), Value(Array{k.ToValue()})}}));
    }
    ts->who_wants.clear();
    ReleaseIfUnneeded(ts);
  }
  CloseStimulus();
}

void SchedulerState::UpdateData(const std::string& client, const std::string& worker_address,
                                const std::vector<std::pair<Key, int64_t>>& keys,
                                const Stimulus& stim) {
  WorkerState* ws = worker(worker_address);
  if (ws == nullptr) return;
  OpenStimulus(stim);
  AddClient(client, stim);
  ClientState* cs = clients_[client].get();
  for (const auto& [k, nbytes] : keys) {
    auto& slot = tasks_[k];
    if (!slot) {
      slot = std::make_unique<TaskState>();
      slot->key = k;
      slot->prefix = KeySplit(k);
    }
    TaskState* ts = slot.get();
    if (ts->status == TaskStatus::kReleased) {
      TransitionArgs args;
      args.worker = ws;
      args.nbytes = nbytes;
      Status st = Transition(ts, TaskStatus::kMemory, args);
      DN_CHECK(st.ok(), st.ToString());
    } else if (ts->status == TaskStatus::kMemory && ts->who_has.insert(ws).second) {
      ws->has_what.insert(ts);  // another replica
      ws->AddBytes(nbytes);
    }
    ts->who_wants.insert(cs);
    cs->wants_what.insert(ts);
  }
  CloseStimulus();
}

Status SchedulerState::AddWorker(std::unique_ptr<WorkerState> ws, const Stimulus& stim) {
  if (workers_by_address_.count(ws->address)) {
    return Status::Invalid("worker address already registered: " + ws->address);
  }
  for (const auto& other : workers_) {
    if (other->name == ws->name) {
      return Status::Invalid("name taken, " + ws->name.ToDebugString());
    }
  }
  OpenStimulus(stim);
  WorkerState* raw = ws.get();
  raw->last_seen = stim.now;
  workers_by_address_[raw->address] = raw;
  workers_by_host_[raw->host].push_back(raw);
  workers_.push_back(std::move(ws));
  if (raw->running()) {
    for (TaskState* ts : unrunnable_) Recommend(ts, TaskStatus::kProcessing);
  }
  CloseStimulus();
  return Status::OK();
}

void SchedulerState::WorkerStatusChange(const std::string& address, const std::string& status,
                                        const Stimulus& stim) {
  WorkerState* ws = worker(address);
  if (ws == nullptr) return;
  OpenStimulus(stim);
  ws->status = status;
  if (ws->running()) {
    for (TaskState* ts : unrunnable_) Recommend(ts, TaskStatus::kProcessing);
  }
  CloseStimulus();
}

bool SchedulerState::WorkerHeartbeat(const std::string& address, const Value* metrics,
                                     const Stimulus& stim) {
  WorkerState* ws = worker(address);
  if (ws == nullptr) return false;
  ws->last_seen = stim.now;
  if (metrics != nullptr && metrics->map()) ws->metrics = *metrics;
  return true;
}

double SchedulerState::HeartbeatInterval(size_t n) {
  if (n <= 10) return 0.5;
  if (n < 50) return 1;
  if (n < 200) return 2;
  return static_cast<double>(n) / 200 + 1;  // no more than 200 heartbeats a second
}

std::vector<std::string> SchedulerState::WorkersPastTtl(double ttl, double now) const {
  const double effective = std::max(ttl, 10 * HeartbeatInterval(workers_.size()));
  std::vector<std::string> out;
  for (const auto& ws : workers_) {
    if (now - ws->last_seen > effective) out.push_back(ws->address);
  }
  return out;
}

void SchedulerState::RemoveWorker(const std::string& address, std::string_view reason,
                                  const Stimulus& stim) {
  WorkerState* ws = worker(address);
  if (ws == nullptr) return;
  OpenStimulus(stim);
  // No longer a candidate for anything: the transitions below run while it is still
  // registered, and a task they sent here would stay processing on a worker that is
  // gone, with its compute-task dropped (stock's remove_worker takes the worker out of
  // `running` first).
  ws->status = "closed";
  // Tasks it was running go back to waiting; after too many deaths they err.
  for (TaskState* ts : std::vector<TaskState*>(ws->processing.begin(), ws->processing.end())) {
    ts->suspicious++;
    Status st;
    if (ts->suspicious > config_.allowed_failures) {
      ts->exception = KilledWorkerException(ts->key, address, config_.allowed_failures);
      ts->traceback = Value();
      ts->exception_blame = ts;
      st = Transition(ts, TaskStatus::kErred);
    } else {
      st = Transition(ts, TaskStatus::kReleased);  // then waiting, if still needed
    }
    DN_CHECK(st.ok(), st.ToString());
  }
  // Results only it held are lost: recompute the ones still needed.
  for (TaskState* ts : std::vector<TaskState*>(ws->has_what.begin(), ws->has_what.end())) {
    ts->who_has.erase(ws);
    ws->has_what.erase(ts);
    if (ts->who_has.empty() && ts->status == TaskStatus::kMemory) {
      Status st = Transition(ts, TaskStatus::kReleased);
      DN_CHECK(st.ok(), st.ToString());
    }
  }
  ws->has_what.clear();
  // Other workers hear that it left (RemoveWorkerEvent), as stock sends.
  for (const auto& other : workers_) {
    if (other.get() == ws) continue;
    SendToWorker(other->address, Value(Map{{Value("op"), Value("remove-worker")},
                                           {Value("worker"), Value(address)},
                                           {Value("stimulus_id"), Value(StimulusId())}}));
  }
  workers_by_address_.erase(address);
  std::vector<WorkerState*>& neighbours = workers_by_host_[ws->host];
  std::erase(neighbours, ws);
  if (neighbours.empty()) workers_by_host_.erase(ws->host);
  auto it =
      std::find_if(workers_.begin(), workers_.end(), [ws](const auto& p) { return p.get() == ws; });
  std::unique_ptr<WorkerState> dead = std::move(*it);
  workers_.erase(it);
  outbox_.to_workers.erase(address);
  CloseStimulus();
  outbox_.to_workers.erase(address);
  (void)reason;
}

bool SchedulerState::TaskFinished(const std::string& worker_address, const Key& key, int64_t run_id,
                                  int64_t nbytes, Buffer type, std::string type_name,
                                  const Stimulus& stim) {
  TaskState* ts = task(key);
  WorkerState* ws = worker(worker_address);
  if (ws == nullptr) return false;
  OpenStimulus(stim);
  bool finished = false;
  if (ts == nullptr) {
    SendToWorker(worker_address, Value(Map{{Value("op"), Value("free-keys")},
                                           {Value("keys"), Value(Array{key.ToValue()})},
                                           {Value("stimulus_id"), Value(StimulusId())}}));
  } else if (ts->status == TaskStatus::kMemory) {
    // A second replica, e.g. computed twice after a steal; keep it.
    if (ts->who_has.insert(ws).second) {
      ws->has_what.insert(ts);
      ws->AddBytes(ts->nbytes);
    }
  } else if (ts->status != TaskStatus::kProcessing || ts->processing_on != ws ||
             ts->run_id != run_id) {
    // Stale: the task was released or rescheduled meanwhile.
    SendToWorker(worker_address, FreeKeysMessage(ts));
  } else {
    TransitionArgs args;
    args.worker = ws;
    args.nbytes = nbytes;
    args.type = std::move(type);
    args.type_name = std::move(type_name);
    Status st = Transition(ts, TaskStatus::kMemory, args);
    DN_CHECK(st.ok(), st.ToString());
    finished = true;
  }
  CloseStimulus();
  return finished;
}

bool SchedulerState::TaskErred(const std::string& worker_address, const Key& key, int64_t run_id,
                               Value exception, Value traceback, const Stimulus& stim) {
  TaskState* ts = task(key);
  WorkerState* ws = worker(worker_address);
  if (ts == nullptr || ws == nullptr || ts->status != TaskStatus::kProcessing ||
      ts->processing_on != ws || ts->run_id != run_id) {
    return false;
  }
  OpenStimulus(stim);
  Status st;
  const bool retried = ts->retries > 0;
  if (retried) {
    ts->retries--;
    st = Transition(ts, TaskStatus::kReleased);  // then waiting again
  } else {
    ts->exception = std::move(exception);
    ts->traceback = std::move(traceback);
    ts->exception_blame = ts;
    ts->erred_on.push_back(worker_address);
    st = Transition(ts, TaskStatus::kErred);
  }
  DN_CHECK(st.ok(), st.ToString());
  CloseStimulus();
  return !retried;
}

void SchedulerState::RequestRefreshWhoHas(const std::string& worker_address,
                                          const std::vector<Key>& keys, const Stimulus& stim) {
  if (worker(worker_address) == nullptr) return;
  OpenStimulus(stim);
  Map who_has;
  for (const Key& k : keys) {
    Array holders;
    if (TaskState* ts = task(k); ts != nullptr && ts->status == TaskStatus::kMemory) {
      for (WorkerState* ws : ts->who_has) holders.push_back(Value(ws->address));
    }
    who_has.push_back(MapEntry{k.ToValue(), Value(std::move(holders))});
  }
  SendToWorker(worker_address, Value(Map{{Value("op"), Value("refresh-who-has")},
                                         {Value("who_has"), Value(std::move(who_has))},
                                         {Value("stimulus_id"), Value(StimulusId())}}));
  CloseStimulus();
}

void SchedulerState::AddKeys(const std::string& worker_address, const std::vector<Key>& keys,
                             const Stimulus& stim) {
  WorkerState* ws = worker(worker_address);
  if (ws == nullptr) return;
  OpenStimulus(stim);
  Array redundant;
  for (const Key& k : keys) {
    TaskState* ts = task(k);
    if (ts != nullptr && ts->status == TaskStatus::kMemory) {
      if (ts->who_has.insert(ws).second) {
        ws->has_what.insert(ts);
        ws->AddBytes(ts->nbytes);
      }
    } else {
      redundant.push_back(k.ToValue());
    }
  }
  if (!redundant.empty()) {
    SendToWorker(worker_address, Value(Map{{Value("op"), Value("remove-replicas")},
                                           {Value("keys"), Value(std::move(redundant))},
                                           {Value("stimulus_id"), Value(StimulusId())}}));
  }
  CloseStimulus();
}

bool SchedulerState::ReplicateFromRetiring(const std::vector<std::string>& retiring, bool send,
                                           const Stimulus& stim) {
  OpenStimulus(stim);
  auto is_retiring = [&](const WorkerState* ws) {
    return std::find(retiring.begin(), retiring.end(), ws->address) != retiring.end();
  };
  std::unordered_map<WorkerState*, std::vector<TaskState*>> copies;
  bool pending = false;
  for (const std::string& address : retiring) {
    WorkerState* ws = worker(address);
    if (ws == nullptr) continue;
    pending = pending || !ws->processing.empty();
    for (TaskState* ts : ws->has_what) {
      bool elsewhere = false;
      for (WorkerState* h : ts->who_has) elsewhere = elsewhere || !is_retiring(h);
      if (elsewhere || !Needed(ts)) continue;
      pending = true;
      WorkerState* dest = nullptr;
      for (const auto& other : workers_) {
        if (other->running() && !is_retiring(other.get()) &&
            (dest == nullptr || other->nbytes < dest->nbytes)) {
          dest = other.get();
        }
      }
      if (dest != nullptr && send) copies[dest].push_back(ts);
    }
  }
  for (auto& [dest, keys] : copies) {
    Map who_has, nbytes;
    for (TaskState* ts : keys) {
      Array holders;
      for (WorkerState* h : ts->who_has) holders.emplace_back(h->address);
      who_has.push_back({ts->key.ToValue(), Value(std::move(holders))});
      nbytes.push_back({ts->key.ToValue(), Value(std::max<int64_t>(ts->nbytes, 0))});
    }
    SendToWorker(dest->address, Value(Map{{Value("op"), Value("acquire-replicas")},
                                          {Value("who_has"), Value(std::move(who_has))},
                                          {Value("nbytes"), Value(std::move(nbytes))},
                                          {Value("stimulus_id"), Value(StimulusId())}}));
  }
  CloseStimulus();
  return pending;
}

void SchedulerState::CloseWorker(const std::string& worker_address, std::string_view reason,
                                 const Stimulus& stim) {
  OpenStimulus(stim);
  SendToWorker(worker_address, Value(Map{{Value("op"), Value("close")},
                                         {Value("reason"), Value(std::string(reason))}}));
  CloseStimulus();
}

void SchedulerState::ReleaseWorkerData(const std::string& worker_address, const Key& key,
                                       const Stimulus& stim) {
  WorkerState* ws = worker(worker_address);
  TaskState* ts = task(key);
  if (ws == nullptr || ts == nullptr) return;
  OpenStimulus(stim);
  if (ts->who_has.erase(ws)) {
    ws->has_what.erase(ts);
    ws->nbytes -= std::max<int64_t>(ts->nbytes, 0);
  }
  if (ts->status == TaskStatus::kMemory && ts->who_has.empty()) {
    Status st = Transition(ts, TaskStatus::kReleased);
    DN_CHECK(st.ok(), st.ToString());
  }
  CloseStimulus();
}

}  // namespace dn
