// SchedulerServer: the stream op dispatch tables (client and worker streams), the ops
// refused on purpose, and the handler inventory read from the tables (`--list-handlers`).
// The RPC table is in scheduler_rpcs.cc.
#include <cstdio>

#include "scheduler/server/scheduler_refusals.h"
#include "scheduler/server/scheduler_server.h"
#include "scheduler/server/scheduler_server_internal.h"

namespace dn {

const std::unordered_map<std::string_view, SchedulerServer::StreamOpHandler>&
SchedulerServer::ClientOpRoutes() {
  using S = SchedulerServer;
  static const auto* routes = [] {
    auto* r = new std::unordered_map<std::string_view, StreamOpHandler>{
        {"client-releases-keys",
         [](S& srv, const std::string& client, const Value& msg, const Stimulus& stim) {
           srv.state_.ClientReleasesKeys(client, KeysFromValue(msg.Find("keys")), stim);
         }},
        {"client-desires-keys",
         [](S& srv, const std::string& client, const Value& msg, const Stimulus& stim) {
           const std::string* c = StrField(msg, "client");
           srv.state_.ClientDesiresKeys(c ? *c : client, KeysFromValue(msg.Find("keys")), stim);
         }},
        {"heartbeat-client",
         [](S& srv, const std::string& client, const Value&, const Stimulus& stim) {
           srv.state_.ClientHeartbeat(client, stim);
           auto it = srv.client_streams_.find(client);
           if (it != srv.client_streams_.end()) {
             it->second->Send(
                 Value(Array{Value(Map{{Value("op"), Value("adjust-heartbeat-interval")},
                                       {Value("interval"), Value(5.0)}})}));
           }
         }},
        {"cancel-keys",
         [](S& srv, const std::string& client, const Value& msg, const Stimulus& stim) {
           srv.state_.CancelKeys(client, KeysFromValue(msg.Find("keys")), stim);
         }},
        {"report-key",
         [](S& srv, const std::string& client, const Value& msg, const Stimulus& stim) {
           srv.state_.ClientDesiresKeys(client, KeysFromValue(msg.Find("key")), stim);
         }},
        {"close-client", [](S& srv, const std::string& client, const Value&,
                            const Stimulus& stim) { srv.state_.RemoveClient(client, stim); }},
        {"publish_flush_batched_send", [](S& srv, const std::string&, const Value& msg,
                                          const Stimulus&) { srv.OnFlush(Field(msg, "uid")); }},
        {"subscribe-topic",
         [](S& srv, const std::string& client, const Value& msg, const Stimulus&) {
           srv.SubscribeTopic(client, msg, /*subscribe=*/true);
         }},
        {"unsubscribe-topic",
         [](S& srv, const std::string& client, const Value& msg, const Stimulus&) {
           srv.SubscribeTopic(client, msg, /*subscribe=*/false);
         }},
    };
    for (std::string_view op : Coordination::StreamOps()) {
      r->emplace(op, [](S& srv, const std::string& client, const Value& msg, const Stimulus&) {
        srv.coordination_->HandleClientOp(client, msg);
      });
    }
    return r;
  }();
  return *routes;
}

const std::unordered_map<std::string_view, SchedulerServer::StreamOpHandler>&
SchedulerServer::WorkerOpRoutes() {
  using S = SchedulerServer;
  static const auto* routes = new std::unordered_map<std::string_view, StreamOpHandler>{
      {"task-finished",
       [](S& srv, const std::string& worker, const Value& msg, const Stimulus& stim) {
         auto key = Key::FromValue(Field(msg, "key"));
         if (!key.ok()) return;
         Buffer type;
         if (const Value* t = msg.Find("type"); t && t->is<Bin>()) {
           type = srv.OwnedTaskType(t->get_if<Bin>()->data);
         }
         const std::string* tn = StrField(msg, "typename");
         if (srv.state_.TaskFinished(worker, *key, IntField(msg, "run_id", -1),
                                     IntField(msg, "nbytes", 0), std::move(type), tn ? *tn : "",
                                     stim)) {
           srv.RecordTaskStream(worker, msg, stim);
         }
       }},
      {"task-erred",
       [](S& srv, const std::string& worker, const Value& msg, const Stimulus& stim) {
         auto key = Key::FromValue(Field(msg, "key"));
         if (!key.ok()) return;
         if (srv.state_.TaskErred(worker, *key, IntField(msg, "run_id", -1),
                                  Field(msg, "exception"), Field(msg, "traceback"), stim)) {
           srv.RecordTaskStream(worker, msg, stim);
         }
       }},
      {"add-keys",
       [](S& srv, const std::string& worker, const Value& msg, const Stimulus& stim) {
         srv.state_.AddKeys(worker, KeysFromValue(msg.Find("keys")), stim);
       }},
      {"release-worker-data",
       [](S& srv, const std::string& worker, const Value& msg, const Stimulus& stim) {
         if (auto key = Key::FromValue(Field(msg, "key")); key.ok()) {
           srv.state_.ReleaseWorkerData(worker, *key, stim);
         }
       }},
      {"worker-status-change",
       [](S& srv, const std::string& worker, const Value& msg, const Stimulus& stim) {
         if (const std::string* s = StrField(msg, "status")) {
           srv.state_.WorkerStatusChange(worker, *s, stim);
         }
       }},
      {"request-refresh-who-has",
       [](S& srv, const std::string& worker, const Value& msg, const Stimulus& stim) {
         srv.state_.RequestRefreshWhoHas(worker, KeysFromValue(msg.Find("keys")), stim);
       }},
      {"log-event", [](S& srv, const std::string& worker, const Value& msg,
                       const Stimulus&) { srv.LogWorkerEvent(worker, msg); }},
      // Nothing to do, as in stock: the message itself shows the worker is alive.
      {"keep-alive", [](S&, const std::string&, const Value&, const Stimulus&) {}},
  };
  return *routes;
}

bool SchedulerServer::IgnoreRefusedStreamOp(std::span<const RefusedOp> table, std::string_view op) {
  const RefusedOp* refused = FindRefusedOp(table, op);
  if (refused == nullptr) return false;
  static RefusalLog logged;
  if (logged.FirstTime(op)) {
    std::fprintf(stderr, "dask-native-scheduler: ignoring stream op: %s\n",
                 RefusalText(*refused, "dask-native-scheduler").c_str());
  }
  return true;
}

void SchedulerServer::HandleClientOp(const std::string& client, const Value& msg) {
  std::string_view op = OpOf(msg);
  const auto& routes = ClientOpRoutes();
  if (auto it = routes.find(op); it != routes.end()) {
    it->second(*this, client, msg, MakeStimulus(msg, op));
  } else if (!IgnoreRefusedStreamOp(SchedulerRefusedClientOps(), op)) {
    std::fprintf(stderr, "dask-native-scheduler: unknown client stream op '%.*s'\n",
                 static_cast<int>(op.size()), op.data());
  }
}

void SchedulerServer::HandleWorkerOp(const std::string& worker, const Value& msg) {
  std::string_view op = OpOf(msg);
  const auto& routes = WorkerOpRoutes();
  if (auto it = routes.find(op); it != routes.end()) {
    it->second(*this, worker, msg, MakeStimulus(msg, op));
  } else if (!IgnoreRefusedStreamOp(SchedulerRefusedWorkerOps(), op)) {
    std::fprintf(stderr, "dask-native-scheduler: unknown worker stream op '%.*s'\n",
                 static_cast<int>(op.size()), op.data());
  }
}

DispatchInventory SchedulerServer::RpcInventory() {
  DispatchInventory inv;
  for (const auto& [op, route] : RpcRoutes()) inv.served.emplace_back(op);
  for (std::string_view op : {kRegisterClientOp, kRegisterWorkerOp, kCloseCommOp}) {
    inv.served.emplace_back(op);
  }
  inv.Refuse(SchedulerRefusedRpcs());
  return inv;
}

DispatchInventory SchedulerServer::StreamInventory() {
  DispatchInventory inv;
  for (const auto& [op, handler] : ClientOpRoutes()) inv.served.emplace_back(op);
  for (const auto& [op, handler] : WorkerOpRoutes()) inv.served.emplace_back(op);
  for (std::string_view op : {kUpdateGraphOp, kCloseStreamOp}) inv.served.emplace_back(op);
  inv.Refuse(SchedulerRefusedClientOps());
  inv.Refuse(SchedulerRefusedWorkerOps());
  return inv;
}

std::string SchedulerServer::HandlersJson() {
  const std::pair<std::string_view, std::string> members[] = {
      {"rpc", RpcInventory().ToJson()}, {"stream", StreamInventory().ToJson()}};
  return JsonObject(members);
}

}  // namespace dn
