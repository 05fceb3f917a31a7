#pragma once

#include "protocol/comm/connection.h"

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "protocol/messages/worker_ops.h"
#include "worker/python/python_runtime.h"

namespace dn {

/// Settings from the command line (main.cc).
struct WorkerConfig {
  std::string scheduler_address;
  std::string listen_host = "0.0.0.0";
  uint16_t listen_port = 0;
  std::string contact_host;          ///< empty: the local address facing the scheduler
  int nthreads = 1;
  std::optional<int64_t> memory_limit;
  Value name;                        ///< nil: the contact address
  std::string local_directory = "/tmp";
  Map resources;
  double death_timeout_s = 0;        ///< 0: keep retrying to reach the scheduler
  ConnectionLimits limits;
};

/// dask-native-worker's network side and task bookkeeping (issue 4, first slice).
///
/// One Asio thread owns all state. Tasks run in the PythonRuntime's threads (one per
/// --nthreads) and post their outcome back. Dependencies missing locally are fetched
/// from the holders named in compute-task with get_data, batched per peer.
class WorkerServer {
 public:
  WorkerServer(asio::io_context& io, WorkerConfig config, std::unique_ptr<PythonRuntime> python);
  ~WorkerServer();

  /// Listen and start connecting to the scheduler.
  Status Start();
  /// Leave the scheduler (close-stream) and stop the loop.
  void Stop();
  /// On SIGTERM: ask the scheduler to retire this worker (so its results are copied
  /// elsewhere first), then stop, as Worker.close_gracefully does.
  void CloseGracefully();
  const std::string& address() const { return address_; }

 private:
  enum class State : uint8_t { kFetching, kReady, kExecuting, kMemory, kError };
  struct Task {
    ComputeTask spec;
    State state = State::kFetching;
    std::unordered_set<Key, KeyHash> missing;
  };

  awaitable<void> ServeComm(std::shared_ptr<Connection> conn);
  awaitable<void> ConnectToScheduler();
  awaitable<void> StreamLoop();
  awaitable<void> HeartbeatLoop();
  awaitable<void> RetireSelf();
  awaitable<void> Fetch(std::string peer, std::vector<Key> keys);
  awaitable<Result<Value>> GetData(const std::string& peer, const std::vector<Key>& keys);
  awaitable<Result<int64_t>> StoreInPython(Key key, Serialized value);
  awaitable<Value> GetDataReply(Value msg);
  awaitable<Value> UpdateData(Value msg);
  awaitable<Value> RunFunction(Value msg);

  void OnComputeTask(ComputeTask spec);
  void OnFreeKeys(const std::vector<Key>& keys);
  void Dispatch();
  void OnExecuted(Key key, int64_t run_id, PyTaskOutcome outcome);
  void OnStored(const Key& key);
  void SendToScheduler(Value op);

  Value RegisterMessage() const;
  Value Metrics() const;
  template <typename T>
  awaitable<T> InPython(std::function<T()> fn);

  asio::io_context& io_;
  WorkerConfig config_;
  std::unique_ptr<PythonRuntime> python_;
  tcp::acceptor acceptor_;
  std::string address_;
  std::string server_id_;
  std::shared_ptr<Connection> stream_;
  Array stream_batch_;
  bool stream_flush_posted_ = false;
  std::unordered_map<Key, std::unique_ptr<Task>, KeyHash> tasks_;
  std::unordered_set<Key, KeyHash> data_;       ///< keys held in Python's store
  std::unordered_map<Key, int64_t, KeyHash> nbytes_;
  std::unordered_set<Key, KeyHash> fetching_;
  /// Tasks whose inputs are all here. The scheduler sends only ~nthreads at a time
  /// (worker-saturation), so a scan for the best priority is cheap.
  std::vector<Key> ready_;
  int executing_ = 0;
  bool stopping_ = false;
};

}  // namespace dn
