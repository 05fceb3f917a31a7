// WorkerServer: the RPC and scheduler stream dispatch tables, the ops refused on
// purpose, and the handler inventory read from the tables (`--list-handlers`).
#include <cstdio>

#include "protocol/messages/message_codec.h"
#include "worker/server/worker_refusals.h"
#include "worker/server/worker_server.h"
#include "worker/server/worker_server_internal.h"

namespace dn {

awaitable<WorkerServer::RpcOutcome> WorkerServer::GetDataRpc(std::shared_ptr<Connection> conn,
                                                             const Value& msg) {
  Value reply = co_await GetDataReply(msg);
  conn->Send(reply);
  Result<Value> ack = co_await conn->Read();  // the caller's "OK"
  co_return RpcOutcome{.reply = std::nullopt, .close_comm = !ack.ok()};
}

awaitable<WorkerServer::RpcOutcome> WorkerServer::TerminateRpc(std::shared_ptr<Connection> conn,
                                                               const Value&) {
  conn->Send(Value("OK"));
  CloseGracefully();
  co_return RpcOutcome{.reply = std::nullopt, .close_comm = true};
}

const std::unordered_map<std::string_view, WorkerServer::RpcRoute>& WorkerServer::RpcRoutes() {
  using W = WorkerServer;
  static const auto* routes = new std::unordered_map<std::string_view, RpcRoute>{
      {"get_data", {.on_comm = &W::GetDataRpc}},
      {"update_data", {.async = &W::UpdateData}},
      {"gather", {.async = &W::GatherRpc}},
      {"run", {.async = &W::RunFunction}},
      {"call_stack", {.async = &W::CallStack}},
      {"terminate", {.on_comm = &W::TerminateRpc}},
      {"versions", {.sync = [](W& w, const Value&) { return w.python_->versions(); }}},
      {"identity",
       {.sync =
            [](W& w, const Value&) {
              return Value(
                  Map{{Value("type"), Value("Worker")},
                      {Value("id"), Value(w.server_id_)},
                      {Value("address"), Value(w.address_)},
                      {Value("nthreads"), Value(static_cast<int64_t>(w.config_.nthreads))},
                      {Value("memory_limit"),
                       w.config_.memory_limit ? Value(*w.config_.memory_limit) : Value()}});
            }}},
      {"keys",
       {.sync =
            [](W& w, const Value&) {
              Array keys;
              for (const Key& k : w.store_.Keys()) keys.push_back(k.ToValue());
              return Value(std::move(keys));
            }}},
      {"free_keys",
       {.sync =
            [](W& w, const Value& msg) {
              worker::FreeKeysEvent ev;
              ev.keys = KeysFromValue(msg.Find("keys"));
              w.Feed(WithStimulus(std::move(ev), StimulusOf(msg, "free-keys")));
              return Value("OK");
            }}},
      {"get_story", {.sync = [](W& w, const Value& msg) { return w.GetStory(msg); }}},
      // core.py's Server.echo and Worker's ping (benchmark_network and health checks).
      {"echo",
       {.sync =
            [](W&, const Value& msg) {
              const Value* data = msg.Find("data");
              return data ? *data : Value();
            }}},
      {"ping", {.sync = [](W&, const Value&) { return Value(Bin{Buffer::FromString("pong")}); }}},
  };
  return *routes;
}

awaitable<WorkerServer::RpcOutcome> WorkerServer::HandleRpc(std::shared_ptr<Connection> conn,
                                                            const Value& msg) {
  std::string_view op = OpOf(msg);
  const auto& routes = RpcRoutes();
  if (auto it = routes.find(op); it != routes.end()) {
    const RpcRoute& route = it->second;
    if (route.sync != nullptr) co_return RpcOutcome{.reply = route.sync(*this, msg)};
    if (route.async != nullptr) {
      // Awaited into a local first: GCC 12 miscompiles co_await inside a braced
      // initializer (the worker crashed on update_data).
      Value reply = co_await (this->*route.async)(msg);
      co_return RpcOutcome{.reply = std::move(reply)};
    }
    co_return co_await (this->*route.on_comm)(std::move(conn), msg);
  }
  if (const RefusedOp* refused = FindRefusedOp(WorkerRefusedRpcs(), op)) {
    co_return RpcOutcome{.reply = RefusalReply(*refused, "dask-native-worker")};
  }
  co_return RpcOutcome{.reply = ErrorMessage("No handler found: " + std::string(op), "error")};
}

const std::unordered_map<std::string_view, WorkerServer::StreamOpHandler>&
WorkerServer::StreamOpRoutes() {
  using W = WorkerServer;
  using Events = std::vector<worker::Event>;
  static const auto* routes = new std::unordered_map<std::string_view, StreamOpHandler>{
      {ComputeTask::kOp,
       [](W& w, const Value& m, Events& events) {
         auto spec = ComputeTask::FromValue(m);
         if (!spec.ok()) {
           w.RejectComputeTask(m, spec.status());
           return;
         }
         worker::ComputeTaskEvent ev;
         ev.task = spec.MoveValueUnsafe();
         std::string sid = ev.task.stimulus_id;
         events.push_back(WithStimulus(std::move(ev), std::move(sid)));
       }},
      {"free-keys",
       [](W&, const Value& m, Events& events) {
         worker::FreeKeysEvent ev;
         ev.keys = KeysFromValue(m.Find("keys"));
         events.push_back(WithStimulus(std::move(ev), StimulusOf(m, "free-keys")));
       }},
      {"steal-request",
       [](W&, const Value& m, Events& events) {
         auto key = Key::FromValue(m.Find("key") ? *m.Find("key") : Value());
         if (!key.ok()) return;
         worker::StealRequestEvent ev;
         ev.key = key.MoveValueUnsafe();
         events.push_back(WithStimulus(std::move(ev), StimulusOf(m, "steal")));
       }},
      {"cancel-compute",
       [](W&, const Value& m, Events& events) {
         auto key = Key::FromValue(m.Find("key") ? *m.Find("key") : Value());
         if (!key.ok()) return;
         worker::CancelComputeEvent ev;
         ev.key = key.MoveValueUnsafe();
         events.push_back(WithStimulus(std::move(ev), StimulusOf(m, "cancel-compute")));
       }},
      {"acquire-replicas",
       [](W&, const Value& m, Events& events) {
         // Copy keys from their holders (the scheduler retiring a worker).
         worker::AcquireReplicasEvent ev;
         ev.who_has = WhoHasFrom(m.Find("who_has"));
         if (const Value* nb = m.Find("nbytes"); nb && nb->map()) {
           for (const MapEntry& e : *nb->map()) {
             auto k = Key::FromValue(e.key);
             const int64_t* n = e.value.get_if<int64_t>();
             if (k.ok()) ev.nbytes.emplace_back(k.MoveValueUnsafe(), n ? *n : 0);
           }
         } else {
           for (const auto& [k, holders] : ev.who_has) ev.nbytes.emplace_back(k, 0);
         }
         events.push_back(WithStimulus(std::move(ev), StimulusOf(m, "acquire-replicas")));
       }},
      {"refresh-who-has",
       [](W&, const Value& m, Events& events) {
         worker::RefreshWhoHasEvent ev;
         ev.who_has = WhoHasFrom(m.Find("who_has"));
         events.push_back(WithStimulus(std::move(ev), StimulusOf(m, "refresh-who-has")));
       }},
      {"remove-replicas",
       [](W& w, const Value& m, Events& events) {
         worker::RemoveReplicasEvent ev;
         ev.keys = KeysFromValue(m.Find("keys"));
         for (const Key& k : ev.keys) {
           if (w.Pinned(k)) ev.in_use.push_back(k);
         }
         events.push_back(WithStimulus(std::move(ev), StimulusOf(m, "remove-replicas")));
       }},
      {"remove-worker",
       [](W&, const Value& m, Events& events) {
         // A peer left: never fetch from it again.
         if (const Value* w = m.Find("worker"); w && w->str()) {
           worker::RemoveWorkerEvent ev;
           ev.worker = *w->str();
           events.push_back(WithStimulus(std::move(ev), StimulusOf(m, "remove-worker")));
         }
       }},
      // closing_gracefully during retirement: the scheduler stops sending work itself.
      {"worker-status-change", [](W&, const Value&, Events&) {}},
      {"close", [](W& w, const Value&, Events&) { w.Stop(); }},
      {kCloseStreamOp, [](W& w, const Value&, Events&) { w.Stop(); }},
  };
  return *routes;
}

void WorkerServer::HandleStreamOp(const Value& m, std::vector<worker::Event>& events) {
  std::string_view op = OpOf(m);
  const auto& routes = StreamOpRoutes();
  if (auto it = routes.find(op); it != routes.end()) {
    it->second(*this, m, events);
    return;
  }
  // An op stock has and we refuse is logged once; an unknown one is ignored, as before.
  if (const RefusedOp* refused = FindRefusedOp(WorkerRefusedStreamOps(), op)) {
    static RefusalLog logged;
    if (logged.FirstTime(op)) {
      std::fprintf(stderr, "dask-native-worker: ignoring stream op: %s\n",
                   RefusalText(*refused, "dask-native-worker").c_str());
    }
  }
}

DispatchInventory WorkerServer::RpcInventory() {
  DispatchInventory inv;
  for (const auto& [op, route] : RpcRoutes()) inv.served.emplace_back(op);
  inv.served.emplace_back(kCloseCommOp);
  inv.Refuse(WorkerRefusedRpcs());
  return inv;
}

DispatchInventory WorkerServer::StreamInventory() {
  DispatchInventory inv;
  for (const auto& [op, handler] : StreamOpRoutes()) inv.served.emplace_back(op);
  inv.Refuse(WorkerRefusedStreamOps());
  return inv;
}

std::string WorkerServer::HandlersJson() {
  DispatchInventory nanny_rpc;
  nanny_rpc.Refuse(NannyRefusedRpcs());
  const std::pair<std::string_view, std::string> nanny[] = {
      {"rpc", nanny_rpc.ToJson()}, {"stream", DispatchInventory{}.ToJson()}};
  const std::pair<std::string_view, std::string> members[] = {
      {"rpc", RpcInventory().ToJson()},
      {"stream", StreamInventory().ToJson()},
      {"nanny", JsonObject(nanny)}};
  return JsonObject(members);
}

}  // namespace dn
