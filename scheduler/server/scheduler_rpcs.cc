// SchedulerServer: the RPCs (handlers of non-stream ops: identity, heartbeat_worker,
// gather, scatter, broadcast, retire and the rest) and what they report.
#include "scheduler/server/scheduler_server.h"

#include <algorithm>
#include <map>
#include <unordered_set>

#include "scheduler/server/scheduler_refusals.h"
#include "scheduler/server/scheduler_server_internal.h"

namespace dn {

// --- RPCs ----------------------------------------------------------------------------

Value SchedulerServer::WorkerInfo(const WorkerState& ws) const {
  Map m{{Value("type"), Value("Worker")},
        {Value("id"), ws.name},
        {Value("host"), Value(ws.host)},
        {Value("resources"), ws.resources},
        {Value("local_directory"), Value(ws.local_directory)},
        {Value("name"), ws.name},
        {Value("nthreads"), Value(ws.nthreads)},
        {Value("memory_limit"), ws.memory_limit},
        {Value("last_seen"), Value(ws.last_seen)},
        {Value("services"), ws.services},
        {Value("metrics"), ws.metrics},
        {Value("status"), Value(ws.status)},
        {Value("nanny"), ws.nanny}};
  if (const Map* extra = ws.extra.map()) {
    for (const MapEntry& e : *extra) m.push_back(e);
  }
  return Value(std::move(m));
}

std::optional<std::vector<std::string>> SchedulerServer::RequestedWorkers(const Value& msg) const {
  const Value* w = msg.Find("workers");
  if (w == nullptr || w->array() == nullptr) return std::nullopt;
  std::vector<std::string> out;
  for (const Value& entry : *w->array()) {
    const WorkerState* named = nullptr;
    for (const auto& ws : state_.workers()) {
      if (ws->name == entry) named = ws.get();
    }
    if (named != nullptr) {
      out.push_back(named->address);
    } else if (const std::string* s = entry.str()) {
      out.push_back(*s);
    }
  }
  return out;
}

Value SchedulerServer::Identity(int64_t n_workers) const {
  int64_t total_memory = 0;
  for (const auto& ws : state_.workers()) {
    if (const int64_t* m = ws->memory_limit.get_if<int64_t>()) total_memory += *m;
  }
  Map workers;
  int64_t i = 0;
  for (const auto& ws : state_.workers()) {
    if (n_workers >= 0 && i >= n_workers) break;
    workers.push_back({Value(ws->address), WorkerInfo(*ws)});
    ++i;
  }
  return Value(
      Map{{Value("type"), Value("Scheduler")},
          {Value("id"), Value(id_)},
          {Value("address"), Value(address_)},
          {Value("services"),
           Value(Map{{Value("dashboard"), Value(static_cast<int64_t>(config_.dashboard_port))}})},
          {Value("started"), Value(started_)},
          {Value("n_workers"), Value(static_cast<int64_t>(state_.workers().size()))},
          {Value("total_threads"), Value(state_.total_threads())},
          {Value("total_memory"), Value(total_memory)},
          {Value("workers"), Value(std::move(workers))}});
}

Value SchedulerServer::HeartbeatWorker(const Value& msg) {
  const std::string* addr = StrField(msg, "address");
  WorkerState* ws = addr ? state_.worker(*addr) : nullptr;
  if (ws == nullptr) return Value(Map{{Value("status"), Value("missing")}});
  state_.WorkerHeartbeat(*addr, msg.Find("metrics"), MakeStimulus(msg, "heartbeat-worker"));
  const double interval = SchedulerState::HeartbeatInterval(state_.workers().size());
  return Value(Map{{Value("status"), Value("OK")},
                   {Value("time"), Value(Now())},
                   {Value("heartbeat-interval"), Value(interval)}});
}

awaitable<Result<Value>> SchedulerServer::WorkerRpc(const std::string& address,
                                                    const Value& request, bool get_data_ack) {
  std::shared_ptr<Connection> conn;
  auto& pool = rpc_pool_[address];
  while (!pool.empty() && !conn) {
    conn = pool.back();
    pool.pop_back();
    if (conn->closed()) conn.reset();
  }
  if (!conn) {
    auto hp = ParseTcpAddress(address);
    if (!hp.ok()) co_return hp.status();
    auto dialed = co_await Connection::Dial(hp->first, hp->second, config_.limits);
    if (!dialed.ok()) co_return dialed.status();
    conn = *dialed;
    Handshake local;
    local.pickle_protocol = 4;  // as the stock scheduler dials (handshake_overrides)
    auto hs = co_await conn->DoHandshake(local);
    if (!hs.ok()) co_return hs.status();
  }
  Result<Value> reply = co_await conn->Request(request);
  if (!reply.ok()) co_return reply;
  if (get_data_ack) {
    const std::string* st = StrField(*reply, "status");
    if (st && *st == "OK") conn->Send(Value("OK"));  // get_data's second step
  }
  if (!conn->closed() && !stopping_) rpc_pool_[address].push_back(conn);
  co_return reply;
}

awaitable<Value> SchedulerServer::Gather(const Value& msg) {
  std::vector<Key> keys = KeysFromValue(msg.Find("keys"));
  Array missing;
  std::unordered_map<std::string, Array> by_worker;
  for (const Key& k : keys) {
    TaskState* ts = state_.task(k);
    if (ts == nullptr || ts->status != TaskStatus::kMemory || ts->who_has.empty()) {
      missing.push_back(k.ToValue());
      continue;
    }
    by_worker[(*ts->who_has.begin())->address].push_back(k.ToValue());
  }
  Map data;
  for (auto& [addr, wanted] : by_worker) {
    Value req(Map{{Value("op"), Value("get_data")},
                  {Value("keys"), Value(wanted)},
                  {Value("who"), Value()},
                  {Value("reply"), Value(true)}});
    Result<Value> reply = co_await WorkerRpc(addr, req, /*get_data_ack=*/true);
    const Value* d = reply.ok() ? reply->Find("data") : nullptr;
    const Map* got = d ? d->map() : nullptr;
    for (const Value& k : wanted) {
      const Value* v = got ? FindKeyValue(*got, k) : nullptr;
      if (v == nullptr) {
        missing.push_back(k);
      } else {
        data.push_back({k, *v});
      }
    }
  }
  if (!missing.empty()) {
    co_return Value(
        Map{{Value("status"), Value("error")}, {Value("keys"), Value(std::move(missing))}});
  }
  co_return Value(Map{{Value("status"), Value("OK")}, {Value("data"), Value(std::move(data))}});
}

awaitable<Value> SchedulerServer::Scatter(const Value& msg) {
  const Value* data = msg.Find("data");
  const Map* items = data ? data->map() : nullptr;
  const std::string* client = StrField(msg, "client");
  if (items == nullptr || client == nullptr)
    co_return ErrorMessage("scatter needs data and client");
  std::vector<std::string> targets;
  if (const Value* w = msg.Find("workers"); w && w->array()) {
    for (const Value& x : *w->array()) {
      if (const std::string* s = x.str(); s && state_.worker(*s)) targets.push_back(*s);
    }
  }
  if (targets.empty()) {
    for (const auto& ws : state_.workers()) {
      if (ws->running()) targets.push_back(ws->address);
    }
  }
  if (targets.empty()) co_return ErrorMessage("TimeoutError: No valid workers found");
  const Value* bc = msg.Find("broadcast");
  bool broadcast = bc && bc->is<bool>() && *bc->get_if<bool>();
  std::unordered_map<std::string, Map> per_worker;
  size_t i = 0;
  for (const MapEntry& e : *items) {
    if (broadcast) {
      for (const std::string& t : targets) per_worker[t].push_back(e);
    } else {
      per_worker[targets[i++ % targets.size()]].push_back(e);
    }
  }
  Array keys;
  for (const MapEntry& e : *items) keys.push_back(e.key);
  for (auto& [addr, part] : per_worker) {
    Value req(Map{{Value("op"), Value("update_data")},
                  {Value("data"), Value(part)},
                  {Value("reply"), Value(true)}});
    Result<Value> reply = co_await WorkerRpc(addr, req);
    if (!reply.ok())
      co_return ErrorMessage("scatter to " + addr + " failed: " + reply.status().ToString());
    std::vector<std::pair<Key, int64_t>> stored;
    const Value* nb = reply->Find("nbytes");
    for (const MapEntry& e : part) {
      auto k = Key::FromValue(e.key);
      if (!k.ok()) continue;
      int64_t n = 0;
      if (nb && nb->map()) {
        if (const Value* v = FindKeyValue(*nb->map(), e.key); v && v->get_if<int64_t>())
          n = *v->get_if<int64_t>();
      }
      stored.emplace_back(*k, n);
    }
    state_.UpdateData(*client, addr, stored, MakeStimulus(msg, "update-data"));
  }
  Flush();
  co_return Value(std::move(keys));
}

// Client.call_stack, as stock's Scheduler.get_call_stack: with keys, the tasks among
// them being processed, and for each waiting one the processing tasks it waits on,
// asked of the workers running them; without, every worker about all it runs. Workers
// with nothing running are left out.
awaitable<Value> SchedulerServer::CallStack(const Value& msg) {
  std::vector<std::pair<std::string, Value>> asks;  // worker, its `keys` argument
  const Value* keys = msg.Find("keys");
  if (keys != nullptr && keys->array() != nullptr) {
    std::vector<TaskState*> stack;
    for (const Value& v : *keys->array()) {
      auto k = Key::FromValue(v);
      if (!k.ok()) continue;
      if (TaskState* ts = state_.task(*k)) stack.push_back(ts);
    }
    std::unordered_set<TaskState*> seen;
    std::map<std::string, Array> per_worker;
    while (!stack.empty()) {
      TaskState* ts = stack.back();
      stack.pop_back();
      if (!seen.insert(ts).second) continue;
      if (ts->status == TaskStatus::kWaiting) {
        stack.insert(stack.end(), ts->dependencies.begin(), ts->dependencies.end());
      } else if (ts->status == TaskStatus::kProcessing && ts->processing_on != nullptr) {
        per_worker[ts->processing_on->address].push_back(ts->key.ToValue());
      }
    }
    for (auto& [addr, ks] : per_worker) asks.emplace_back(addr, Value(std::move(ks)));
  } else {
    for (const auto& ws : state_.workers()) asks.emplace_back(ws->address, Value());
  }
  Map out;
  for (auto& [addr, ks] : asks) {
    Value req(Map{{Value("op"), Value("call_stack")}, {Value("keys"), std::move(ks)}});
    Result<Value> reply = co_await WorkerRpc(addr, req);
    if (!reply.ok())
      co_return ErrorMessage("call_stack on " + addr + " failed: " + reply.status().ToString());
    const std::string* status = StrField(*reply, "status");
    if (reply->map() && status && *status == "uncaught-error") co_return *reply;
    if (reply->map() && !reply->map()->empty()) out.push_back({Value(addr), *reply});
  }
  co_return Value(std::move(out));
}

awaitable<Value> SchedulerServer::Broadcast(const Value& msg) {
  const Value* inner = msg.Find("msg");
  if (inner == nullptr || inner->map() == nullptr) co_return ErrorMessage("broadcast needs msg");
  std::vector<std::string> targets;
  if (const Value* w = msg.Find("workers"); w && w->array()) {
    for (const Value& x : *w->array()) {
      if (const std::string* s = x.str()) targets.push_back(*s);
    }
  } else {
    for (const auto& ws : state_.workers()) targets.push_back(ws->address);
  }
  // on_error as stock's Scheduler.broadcast: "raise" fails the whole call with the
  // worker's error, "return" puts the error in that worker's place, "ignore" leaves the
  // worker out.
  const std::string* on_error_p = StrField(msg, "on_error");
  const std::string on_error = on_error_p ? *on_error_p : "raise";
  Map out;
  for (const std::string& addr : targets) {
    Result<Value> reply = co_await WorkerRpc(addr, *inner);
    if (!reply.ok()) {
      if (on_error == "ignore") continue;
      Value error = ErrorMessage("broadcast to " + addr + " failed: " + reply.status().ToString());
      if (on_error == "return") {
        out.push_back({Value(addr), Field(error, "exception")});
        continue;
      }
      co_return error;
    }
    const std::string* status = StrField(*reply, "status");
    if (reply->map() && status && *status == "uncaught-error") {  // core.py:send_recv raises
      if (on_error == "ignore") continue;
      if (on_error == "return") {
        out.push_back({Value(addr), Field(*reply, "exception")});
        continue;
      }
      co_return *reply;
    }
    out.push_back({Value(addr), *reply});
  }
  co_return Value(std::move(out));
}

Value SchedulerServer::Ncores(const Value& msg, bool running_only) const {
  std::optional<std::vector<std::string>> only = RequestedWorkers(msg);
  Map out;
  for (const auto& ws : state_.workers()) {
    if (running_only && !ws->running()) continue;
    if (only && std::find(only->begin(), only->end(), ws->address) == only->end()) continue;
    out.push_back({Value(ws->address), Value(ws->nthreads)});
  }
  return Value(std::move(out));
}

awaitable<std::optional<Value>> SchedulerServer::CoordinationRpc(std::shared_ptr<Connection> conn,
                                                                 const Value& msg) {
  co_return co_await coordination_->HandleRpc(std::move(conn), msg);
}

// scheduler.py:add_nanny: plugins now, then wait while the nanny starts its worker (it
// writes {"status": "ok"|"error"}), then the ordinary nil reply.
awaitable<std::optional<Value>> SchedulerServer::RegisterNanny(std::shared_ptr<Connection> conn,
                                                               const Value&) {
  conn->Send(Value(Map{{Value("status"), Value("OK")}, {Value("nanny-plugins"), Value(Map{})}}));
  Result<Value> started = co_await conn->Read();
  (void)started;
  co_return Value();
}

awaitable<std::optional<Value>> SchedulerServer::Terminate(std::shared_ptr<Connection>,
                                                           const Value&) {
  Stop(/*close_workers=*/true);
  co_return std::nullopt;
}

awaitable<Value> SchedulerServer::PublishDeleteRpc(const Value& msg) {
  co_await WaitForFlush(Field(msg, "uid"));
  co_return PublishDelete(msg);
}

const std::unordered_map<std::string_view, SchedulerServer::RpcRoute>&
SchedulerServer::RpcRoutes() {
  using S = SchedulerServer;
  static const auto* routes = [] {
    auto* r = new std::unordered_map<std::string_view, RpcRoute>{
        {"identity",
         {.sync = [](S& s,
                     const Value& msg) { return s.Identity(IntField(msg, "n_workers", -1)); }}},
        {"heartbeat_worker",
         {.sync = [](S& s, const Value& msg) { return s.HeartbeatWorker(msg); }}},
        {"gather", {.async = &S::Gather}},
        {"scatter", {.async = &S::Scatter}},
        {"broadcast", {.async = &S::Broadcast}},
        {"call_stack", {.async = &S::CallStack}},
        {"echo", {.sync = [](S&, const Value& msg) { return Field(msg, "data"); }}},
        {"get_story",
         {.sync =
              [](S& s, const Value& msg) {
                // Client.story: the transitions touching keys or stimuli. Each record as
                // stock's Transition namedtuple travels: (key, start, finish, {key:
                // recommended state}, stimulus_id, timestamp).
                Array out;
                for (const TransitionRecord* r :
                     s.state_.Story(KeysFromValue(msg.Find("keys_or_stimuli")))) {
                  Map recs;
                  for (const auto& [k, finish] : r->recommendations) {
                    recs.push_back({k.ToValue(), Value(std::string(ToString(finish)))});
                  }
                  out.push_back(
                      Value(Array{r->key.ToValue(), Value(std::string(ToString(r->start))),
                                  Value(std::string(ToString(r->finish))), Value(std::move(recs)),
                                  Value(*r->stimulus_id), Value(r->timestamp)}));
                }
                return Value(std::move(out));
              }}},
        {"who_has",
         {.sync =
              [](S& s, const Value& msg) {  // keys nil: every task the scheduler knows
                Map out;
                auto add = [&out](const Key& k, const TaskState* ts) {
                  Array holders;
                  if (ts != nullptr) {
                    for (WorkerState* ws : ts->who_has) holders.emplace_back(ws->address);
                  }
                  out.push_back({k.ToValue(), Value(std::move(holders))});
                };
                if (const Value* keys = msg.Find("keys"); keys == nullptr || keys->is_nil()) {
                  for (const auto& [k, ts] : s.state_.tasks()) add(k, ts.get());
                } else {
                  for (const Key& k : KeysFromValue(keys)) add(k, s.state_.task(k));
                }
                return Value(std::move(out));
              }}},
        {"has_what",
         {.sync =
              [](S& s, const Value& msg) {  // a requested worker that is not here holds nothing
                std::optional<std::vector<std::string>> only = s.RequestedWorkers(msg);
                std::vector<std::string> addresses;
                if (only) {
                  addresses = std::move(*only);
                } else {
                  for (const auto& ws : s.state_.workers()) addresses.push_back(ws->address);
                }
                Map out;
                for (const std::string& addr : addresses) {
                  Array keys;
                  if (const WorkerState* ws = s.state_.worker(addr)) {
                    for (TaskState* ts : ws->has_what) keys.push_back(ts->key.ToValue());
                  }
                  out.push_back({Value(addr), Value(std::move(keys))});
                }
                return Value(std::move(out));
              }}},
        {"unregister",
         {.sync =
              [](S& s, const Value& msg) {
                // A nanny whose worker process died (Nanny._on_worker_exit), before its
                // stream closes: forget the worker now, as Scheduler.remove_worker.
                const std::string* addr = StrField(msg, "address");
                if (addr == nullptr || s.state_.worker(*addr) == nullptr) {
                  return Value("already-removed");
                }
                std::string address = *addr;
                s.state_.RemoveWorker(address, "unregister", s.MakeStimulus(msg, "unregister"));
                if (auto it = s.worker_streams_.find(address); it != s.worker_streams_.end()) {
                  it->second->Close();
                }
                s.Flush();
                return Value("OK");
              }}},
        {"processing",
         {.sync =
              [](S& s, const Value& msg) {  // {worker: [keys being computed there]}
                std::optional<std::vector<std::string>> only = s.RequestedWorkers(msg);
                Map out;
                for (const auto& ws : s.state_.workers()) {
                  if (only && std::find(only->begin(), only->end(), ws->address) == only->end())
                    continue;
                  Array keys;
                  for (TaskState* ts : ws->processing) keys.push_back(ts->key.ToValue());
                  out.push_back({Value(ws->address), Value(std::move(keys))});
                }
                return Value(std::move(out));
              }}},
        {"ncores", {.sync = [](S& s, const Value& msg) { return s.Ncores(msg, false); }}},
        {"ncores_running", {.sync = [](S& s, const Value& msg) { return s.Ncores(msg, true); }}},
        {"publish_put", {.async = &S::PublishPut}},
        {"publish_delete", {.async = &S::PublishDeleteRpc}},
        {"publish_get",
         {.sync =
              [](S& s, const Value& msg) {
                Array out;
                if (const Value* names = msg.Find("names"); names && names->array()) {
                  for (const Value& n : *names->array()) {
                    auto k = Key::FromValue(n);
                    auto it = k.ok() ? s.datasets_.find(*k) : s.datasets_.end();
                    out.push_back(it == s.datasets_.end()
                                      ? Value()
                                      : Value(Map{{Value("data"), it->second.data},
                                                  {Value("keys"), it->second.keys}}));
                  }
                }
                return Value(std::move(out));
              }}},
        {"publish_list",
         {.sync =
              [](S& s, const Value&) {
                std::vector<std::pair<std::string, Value>> names;
                for (const auto& [k, d] : s.datasets_)
                  names.emplace_back(k.str() ? *k.str() : k.Repr(), k.ToValue());
                std::sort(names.begin(), names.end(),
                          [](const auto& a, const auto& b) { return a.first < b.first; });
                Array out;
                for (auto& n : names) out.push_back(std::move(n.second));
                return Value(std::move(out));
              }}},
        {"retire_workers", {.async = &S::RetireWorkers}},
        {"register_nanny", {.on_comm = &S::RegisterNanny}},
        {"versions", {.sync = [](S& s, const Value&) { return s.ingestor_->versions(); }}},
        {"terminate", {.on_comm = &S::Terminate}},
    };
    for (std::string_view op : Coordination::RpcOps())
      r->emplace(op, RpcRoute{.on_comm = &S::CoordinationRpc});
    for (const auto& [op, route] : DiagnosticsRoutes()) r->emplace(op, route);
    return r;
  }();
  return *routes;
}

awaitable<std::optional<Value>> SchedulerServer::HandleRpc(std::shared_ptr<Connection> conn,
                                                           const Value& msg) {
  std::string_view op = OpOf(msg);
  const auto& routes = RpcRoutes();
  if (auto it = routes.find(op); it != routes.end()) {
    const RpcRoute& route = it->second;
    if (route.sync != nullptr) co_return route.sync(*this, msg);
    if (route.async != nullptr) co_return co_await (this->*route.async)(msg);
    co_return co_await (this->*route.on_comm)(std::move(conn), msg);
  }
  if (const RefusedOp* refused = FindRefusedOp(SchedulerRefusedRpcs(), op)) {
    co_return RefusalReply(*refused, "dask-native-scheduler");
  }
  std::fprintf(stderr, "dask-native-scheduler: unknown RPC op '%.*s' from %s\n",
               static_cast<int>(op.size()), op.data(), conn->peer().c_str());
  // Stock replies None to an op it lacks (and logs it); an error that names the op tells
  // the caller more than a silent None.
  co_return ErrorMessage("No handler " + std::string(op) + " found in Scheduler");
}

}  // namespace dn
