// WorkerServer: fetching task inputs from peers (gather_dep): requests batched per
// peer, pooled peer connections, retries on other holders.
#include "worker/server/worker_server.h"

#include <cstdio>
#include "worker/server/worker_server_internal.h"

namespace dn {

void WorkerServer::ScheduleFetch(const Key& key, const std::vector<std::string>& holders) {
  const auto& failed = failed_peers_[key];
  for (const std::string& peer : holders) {
    if (peer == address_ || failed.count(peer)) continue;
    fetching_.insert(key);
    pending_fetches_[peer].push_back(key);
    if (!fetch_flush_posted_) {
      fetch_flush_posted_ = true;
      asio::post(io_, [this] { FlushFetches(); });
    }
    return;
  }
  // Every known holder failed: ask the scheduler who else has it (it answers with
  // refresh-who-has, or frees the dependents if the data is gone).
  SendToScheduler(Value(Map{{Value("op"), Value("request-refresh-who-has")},
                            {Value("keys"), Value(Array{key.ToValue()})},
                            {Value("stimulus_id"), Value(Stimulus("gather-dep-failed"))}}));
}

void WorkerServer::FlushFetches() {
  fetch_flush_posted_ = false;
  for (auto& [peer, keys] : std::exchange(pending_fetches_, {})) {
    asio::co_spawn(io_, Fetch(peer, std::move(keys)), asio::detached);
  }
}

awaitable<std::shared_ptr<Connection>> WorkerServer::PeerConnection(const std::string& peer) {
  auto& idle = idle_peers_[peer];
  while (!idle.empty()) {
    std::shared_ptr<Connection> c = std::move(idle.back());
    idle.pop_back();
    if (!c->closed()) co_return c;
  }
  auto hp = ParseTcpAddress(peer);
  if (!hp.ok()) co_return nullptr;
  auto dialed = co_await Connection::Dial(hp->first, hp->second, config_.limits);
  if (!dialed.ok()) co_return nullptr;
  std::shared_ptr<Connection> conn = *dialed;
  Handshake local;
  if (!(co_await conn->DoHandshake(local)).ok()) co_return nullptr;
  co_return conn;
}

void WorkerServer::ReturnPeerConnection(const std::string& peer, std::shared_ptr<Connection> conn) {
  auto& idle = idle_peers_[peer];
  if (conn->closed() || idle.size() >= 4) {
    conn->CloseAfterFlush();  // the get_data "OK" ack may still be queued
    return;
  }
  idle.push_back(std::move(conn));
}

awaitable<Result<Value>> WorkerServer::GetData(const std::string& peer,
                                               const std::vector<Key>& keys) {
  std::shared_ptr<Connection> conn = co_await PeerConnection(peer);
  if (!conn) co_return Status::IOError("cannot connect to " + peer);
  Array wanted;
  for (const Key& k : keys) wanted.push_back(k.ToValue());
  Value request(Map{{Value("op"), Value("get_data")},
                    {Value("keys"), Value(std::move(wanted))},
                    {Value("who"), Value(address_)},
                    {Value("reply"), Value(true)}});
  Result<Value> reply = co_await conn->Request(request);
  if (!reply.ok()) {
    conn->Close();
    co_return reply;
  }
  conn->Send(Value("OK"));  // get_data's second step
  ReturnPeerConnection(peer, std::move(conn));
  co_return reply;
}

awaitable<void> WorkerServer::Fetch(std::string peer, std::vector<Key> keys) {
  Result<Value> reply = co_await GetData(peer, keys);
  const Map* data = nullptr;
  if (reply.ok()) {
    const Value* d = reply->Find("data");
    if (d != nullptr) data = d->map();
  } else {
    std::fprintf(stderr, "dask-native-worker: get_data from %s failed: %s\n", peer.c_str(),
                 reply.status().ToString().c_str());
  }
  Array added;
  for (const Key& k : keys) {
    const Value* v = data ? FindKeyValue(*data, k.ToValue()) : nullptr;
    const Serialized* s = v ? v->get_if<Serialized>() : nullptr;
    fetching_.erase(k);
    if (s == nullptr || store_.Contains(k)) {
      if (s == nullptr) {
        // Try another holder named by a task that needs it.
        failed_peers_[k].insert(peer);
        std::vector<std::string> holders;
        std::vector<Task*> waiting = TasksWaitingFor(k);
        bool needed = !waiting.empty();
        for (Task* task : waiting) {
          for (auto& [dep, h] : task->spec.who_has) {
            if (dep == k) holders.insert(holders.end(), h.begin(), h.end());
          }
        }
        if (needed && !fetching_.count(k)) ScheduleFetch(k, holders);
      }
      continue;
    }
    Result<int64_t> stored = co_await StoreReceived(k, *s);
    if (!stored.ok()) {
      std::fprintf(stderr, "dask-native-worker: cannot store %s: %s\n", k.Repr().c_str(),
                   stored.status().ToString().c_str());
      continue;
    }
    failed_peers_.erase(k);
    added.push_back(k.ToValue());
    OnStored(k, *stored);
  }
  if (!added.empty()) {
    SendToScheduler(Value(Map{{Value("op"), Value("add-keys")},
                              {Value("keys"), Value(std::move(added))},
                              {Value("stimulus_id"), Value(Stimulus("gather-dep-success"))}}));
  }
}

}  // namespace dn
