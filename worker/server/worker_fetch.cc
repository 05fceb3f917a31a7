// WorkerServer: carrying out the state machine's GatherDep instructions (stock's
// gather_dep): one get_data per instruction over pooled peer connections.
#include "worker/server/worker_server.h"

#include <cstdio>
#include "worker/server/worker_server_internal.h"

namespace dn {

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

// Carry out a GatherDep: one get_data, store what arrives, and tell the state machine.
awaitable<void> WorkerServer::Fetch(std::string peer, std::vector<Key> keys, int64_t total_nbytes) {
  Result<Value> reply = co_await GetData(peer, keys);
  if (!reply.ok()) {
    std::fprintf(stderr, "dask-native-worker: get_data from %s failed: %s\n", peer.c_str(),
                 reply.status().ToString().c_str());
    worker::GatherDepNetworkFailureEvent ev;
    ev.worker = peer;
    ev.total_nbytes = total_nbytes;
    Feed(WithStimulus(std::move(ev), Stimulus("gather-dep-network-failure")));
    co_return;
  }
  if (const Value* st = reply->Find("status"); st && st->str() && *st->str() == "busy") {
    worker::GatherDepBusyEvent ev;  // a stock peer over its outgoing transfer limit
    ev.worker = peer;
    ev.total_nbytes = total_nbytes;
    Feed(WithStimulus(std::move(ev), Stimulus("gather-dep-busy")));
    co_return;
  }
  const Value* d = reply->Find("data");
  const Map* data = d != nullptr ? d->map() : nullptr;
  std::vector<std::pair<Key, int64_t>> stored;
  std::vector<std::pair<Key, worker::TaskError>> unreadable;
  for (const Key& k : keys) {
    const Value* v = data ? FindKeyValue(*data, k.ToValue()) : nullptr;
    const Serialized* s = v ? v->get_if<Serialized>() : nullptr;
    if (s == nullptr) continue;  // the peer lacks it: the state machine tries another holder
    Result<int64_t> n = co_await StoreReceived(k, *s);
    if (!n.ok()) {
      std::fprintf(stderr, "dask-native-worker: cannot store %s: %s\n", k.Repr().c_str(),
                   n.status().ToString().c_str());
      worker::TaskError e;
      e.exception_text = n.status().message();
      e.exception =
          WorkerException("RuntimeError", "cannot deserialize " + k.Repr() + " received from " +
                                              peer + ": " + e.exception_text);
      unreadable.emplace_back(k, std::move(e));
      continue;
    }
    stored.emplace_back(k, *n);
  }
  worker::GatherDepSuccessEvent ev;
  ev.worker = peer;
  ev.total_nbytes = total_nbytes;
  ev.data = stored;
  ev.unreadable = std::move(unreadable);
  worker::Instructions instructions =
      state_.Handle(WithStimulus(std::move(ev), Stimulus("gather-dep-success")));
  SettleStored(stored);  // a key cancelled meanwhile is dropped
  Carry(std::move(instructions));
  MaybeSpill(0);
}

}  // namespace dn
