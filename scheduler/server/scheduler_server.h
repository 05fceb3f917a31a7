#pragma once

#include "protocol/comm/connection.h"

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/messages/handler_inventory.h"
#include "scheduler/diagnostics/task_stream.h"
#include "scheduler/diagnostics/topic_broker.h"
#include "scheduler/graph/graph_ingestor.h"
#include "scheduler/server/scheduler_coordination.h"
#include "scheduler/state/scheduler_state.h"

namespace dn {

/// Settings from the command line (main.cc).
struct ServerConfig {
  std::string host = "0.0.0.0";
  uint16_t port = 8786;
  uint16_t dashboard_port = 8787;  ///< advertised in identity's services
  std::string scheduler_file;
  double idle_timeout_s = 0;        ///< 0: never close for idleness
  double worker_ttl_s = 300;        ///< `distributed.scheduler.worker-ttl`; 0: none
  double handshake_timeout_s = 10;  ///< a peer must handshake this quickly
  /// An RPC comm with no request for this long is closed (streams heartbeat, so they
  /// are exempt); stock clients reopen pooled comms as needed.
  double idle_comm_timeout_s = 600;
  SchedulerConfig state;
  LocksConfig locks;  ///< `distributed.scheduler.locks.*`
  ConnectionLimits limits;
  /// The larger of `distributed.scheduler.dashboard.{status,tasks}.task-stream-length`:
  /// the task-stream records kept.
  size_t task_stream_length = 100000;
};

/// The scheduler's network side: accepts comms, speaks dask's RPCs and batched
/// streams, and feeds stimuli to SchedulerState, sending its outbox after each one.
///
/// Everything runs on one io_context thread, which alone owns the state. Graph
/// ingestion runs on the GraphIngestor's thread and is posted back here. The RPC
/// handlers are in scheduler_rpcs.cc, the rest in scheduler_server.cc.
class SchedulerServer {
 public:
  SchedulerServer(asio::io_context& io, ServerConfig config,
                  std::unique_ptr<GraphIngestor> ingestor);
  ~SchedulerServer();

  /// Bind and start accepting. The bound address is address() afterwards.
  Status Start();
  /// Close every connection and stop accepting. With `close_workers` (the `terminate`
  /// RPC, i.e. client.shutdown()) workers are told to shut down too; on a signal they are
  /// left running to reconnect to the next scheduler, as stock does.
  void Stop(bool close_workers = false);
  const std::string& address() const { return address_; }

  /// The RPCs served (read from the dispatch tables, so the list cannot drift from what
  /// HandleRpc answers) and refused on purpose (scheduler_refusals.h).
  static DispatchInventory RpcInventory();
  /// The same for stream ops, client and worker streams together (stock keeps one
  /// dict for both).
  static DispatchInventory StreamInventory();
  /// `--list-handlers`: {"rpc": RpcInventory, "stream": StreamInventory} as JSON.
  static std::string HandlersJson();

 private:
  /// How one RPC is answered: exactly one member is set. `sync` answers at once;
  /// `async` waits (on workers, a flush); `on_comm` also uses the comm itself (writes
  /// its own reply, or none: nullopt).
  struct RpcRoute {
    Value (*sync)(SchedulerServer&, const Value& msg) = nullptr;
    awaitable<Value> (SchedulerServer::*async)(const Value& msg) = nullptr;
    awaitable<std::optional<Value>> (SchedulerServer::*on_comm)(std::shared_ptr<Connection> conn,
                                                                const Value& msg) = nullptr;
  };
  /// The RPC dispatch table, op -> route (scheduler_rpcs.cc), built on first use.
  static const std::unordered_map<std::string_view, RpcRoute>& RpcRoutes();
  /// The diagnostics RPCs' routes (scheduler_diagnostics.cc), part of RpcRoutes.
  static std::span<const std::pair<std::string_view, RpcRoute>> DiagnosticsRoutes();
  /// A stream op's handler: `peer` is the stream's client id or worker address.
  using StreamOpHandler = void (*)(SchedulerServer&, const std::string& peer, const Value& msg,
                                   const Stimulus& stim);
  /// The client and worker stream dispatch tables, op -> handler (scheduler_server.cc).
  static const std::unordered_map<std::string_view, StreamOpHandler>& ClientOpRoutes();
  static const std::unordered_map<std::string_view, StreamOpHandler>& WorkerOpRoutes();
  /// A refused stream op: log it the first time, otherwise ignore it (stock would
  /// close the stream on an op it lacks; ours keeps it open). False if not refused.
  static bool IgnoreRefusedStreamOp(std::span<const RefusedOp> table, std::string_view op);

  awaitable<void> HandleComm(std::shared_ptr<Connection> conn);
  awaitable<void> ClientStream(std::shared_ptr<Connection> conn, const Value& first);
  awaitable<void> WorkerStream(std::shared_ptr<Connection> conn, const Value& first);
  /// Run one RPC; returns the reply, or nullopt when the handler wrote its own reply.
  awaitable<std::optional<Value>> HandleRpc(std::shared_ptr<Connection> conn, const Value& msg);

  void HandleClientOp(const std::string& client, const Value& msg);
  void HandleWorkerOp(const std::string& worker, const Value& msg);
  /// Materialize and add a graph. Awaited by the client's stream loop, so later
  /// messages of that client (e.g. releasing a dependency) apply after it, as stock's
  /// handle_stream awaits coroutine handlers.
  awaitable<void> UpdateGraph(const std::string& client, const Value& msg);
  awaitable<Result<IngestResult>> Ingest(IngestRequest request);

  Value Identity(int64_t n_workers) const;
  Value WorkerInfo(const WorkerState& ws) const;
  /// The workers an RPC's "workers" field names, by address or by name (as
  /// scheduler.py:coerce_address), in its order; nullopt when it names none (nil or
  /// absent: every worker). Unknown entries stay as given.
  std::optional<std::vector<std::string>> RequestedWorkers(const Value& msg) const;
  Value HeartbeatWorker(const Value& msg);
  /// ncores / ncores_running: {worker: nthreads}, of the running workers only if asked.
  Value Ncores(const Value& msg, bool running_only) const;
  awaitable<Value> Gather(const Value& msg);
  awaitable<Value> Scatter(const Value& msg);
  awaitable<Value> Broadcast(const Value& msg);
  awaitable<Value> CallStack(const Value& msg);
  /// Retire workers gracefully: no new tasks, unique results copied elsewhere first,
  /// then (with close_workers) the worker is told to close (scheduler.py:retire_workers).
  awaitable<Value> RetireWorkers(const Value& msg);
  // RPC handlers that use the comm (RpcRoute::on_comm).
  awaitable<std::optional<Value>> CoordinationRpc(std::shared_ptr<Connection> conn,
                                                  const Value& msg);
  awaitable<std::optional<Value>> RegisterNanny(std::shared_ptr<Connection> conn, const Value& msg);
  awaitable<std::optional<Value>> Terminate(std::shared_ptr<Connection> conn, const Value& msg);
  awaitable<Value> PublishDeleteRpc(const Value& msg);
  /// Once a second: drop workers silent past the TTL and honour --idle-timeout.
  awaitable<void> Housekeeping();
  awaitable<Result<Value>> WorkerRpc(const std::string& address, const Value& request,
                                     bool get_data_ack = false);

  // --- topics, metadata, retry, task stream (scheduler_diagnostics.cc) -----------
  // log_event, events, set/get_metadata, retry, get_task_stream(_index), nbytes,
  // get_task_status and set_restrictions are DiagnosticsRoutes.
  /// A client stream's subscribe-topic (`subscribe`) or unsubscribe-topic.
  void SubscribeTopic(const std::string& client, const Value& msg, bool subscribe);
  /// A worker stream's log-event (scheduler.py:log_worker_event).
  void LogWorkerEvent(const std::string& worker, const Value& msg);
  /// Log `msg` under `topics` and queue the `event` op for their subscribers.
  void LogEvent(const std::vector<std::string>& topics, const Value& msg);
  /// Record a task-finished or task-erred report that moved its task out of
  /// processing, once the task stream has been asked for.
  void RecordTaskStream(const std::string& worker, const Value& msg, const Stimulus& stim);
  TaskStream& StartedTaskStream();

  /// Send the state machine's pending messages, one batch per recipient.
  void Flush();
  double Now() const;
  /// The stimulus a message causes: its stimulus_id, or "<op>-<now>".
  Stimulus MakeStimulus(const Value& msg, std::string_view op) const;
  void WriteSchedulerFile() const;

  asio::io_context& io_;
  ServerConfig config_;
  std::unique_ptr<GraphIngestor> ingestor_;
  SchedulerState state_;
  /// Lock, Semaphore, MultiLock, Event, Queue and Variable (scheduler_coordination.h).
  std::unique_ptr<CoordinationService> coordination_;
  /// Event topics, each keeping `distributed.admin.low-level-log-length` events.
  TopicBroker broker_{config_.state.transition_log_length};
  /// Started by the first get_task_stream(_index), as stock adds its TaskStreamPlugin.
  std::optional<TaskStream> task_stream_;
  tcp::acceptor acceptor_;
  std::string address_;
  std::string id_;
  double started_ = 0;
  std::unordered_map<std::string, std::shared_ptr<Connection>> client_streams_;
  std::unordered_map<std::string, std::shared_ptr<Connection>> worker_streams_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Connection>>> rpc_pool_;
  std::vector<std::shared_ptr<Connection>> open_comms_;
  struct Dataset {
    Value keys;
    Value data;
  };
  /// publish_* (distributed/publish.py), keyed by dataset name.
  std::unordered_map<Key, Dataset, KeyHash> datasets_;
  /// publish_flush_batched_send: uids seen on a client stream, and RPCs waiting for one.
  std::vector<Value> flushed_uids_;
  std::vector<std::pair<Value, std::shared_ptr<asio::steady_timer>>> flush_waiters_;
  awaitable<void> WaitForFlush(const Value& uid);
  void OnFlush(const Value& uid);
  awaitable<Value> PublishPut(const Value& msg);
  Value PublishDelete(const Value& msg);
  bool stopping_ = false;
  double last_activity_ = 0;
  /// Messages for a client leave as one batch at most every 2 ms, as stock's
  /// BatchedSend paces the scheduler->client stream: a client that got nothing in the
  /// last 2 ms gets its messages at the end of this loop turn, otherwise they wait for
  /// the rest of the interval. Fewer syscalls and client wake-ups under load, no delay
  /// for the last key of a computation.
  std::unordered_map<std::string, Array> client_batches_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> client_next_send_;
  bool client_flush_armed_ = false;
  void ScheduleClientFlush();
  void SendClientBatches();
  /// Messages for workers leave at the end of the current loop turn, so the stimuli
  /// handled in one turn (several workers' task-finished) share one write per worker.
  std::unordered_map<std::string, Array> worker_batches_;
  bool worker_flush_posted_ = false;
  void SendWorkerBatches();

  /// The pickled type a task-finished reports, as an owned buffer shared by every task
  /// of that type. A slice of the message would keep the worker's whole batch frame
  /// alive for as long as the task is remembered: for a 300k-task graph, every frame of
  /// the run (~66 MB, the scheduler's RSS growing 4 MB/s while it ran).
  Buffer OwnedTaskType(const Buffer& type);
  std::unordered_map<std::string, Buffer> task_types_;
};

}  // namespace dn
