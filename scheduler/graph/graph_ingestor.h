#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/python/python_env.h"
#include "common/result.h"
#include "protocol/messages/key.h"
#include "protocol/msgpack/value.h"
#include "scheduler/state/scheduler_state.h"

namespace dn {

/// The parts of an `update-graph` message that need Python (docs/protocol.md#update-graph).
struct IngestRequest {
  Serialized expr;          ///< `expr_ser`: the pickled dask expression
  Array keys;               ///< keys the client wants
  Value internal_priority;  ///< map key -> int, or nil (then dask.order runs)
  std::optional<Pickled> annotations;
};

/// What materialization produced: tasks, or the error to report for every key.
struct IngestResult {
  std::vector<GraphTask> tasks;
  bool failed = false;
  Buffer exception_pickle;  ///< pickled RuntimeError (dask `bytes` family payload)
  Buffer traceback_pickle;
  std::string error_text;
};

/// Materialize graphs in an embedded CPython, on threads of its own.
///
/// The only code in the scheduler that includes Python.h (graph_ingestor.cc). Requests
/// are taken in submission order by kThreads threads sharing one interpreter, so a small
/// graph is not stuck behind a large one; a caller that needs ordering waits for its
/// result before submitting more (the server does, per client). `done` is called on an
/// ingestor thread, so callers post the result back to their event loop. The interpreter
/// embeds the Python environment `env` names (common/python/python_env.h), whose
/// site-packages hold the pinned dask and dask_native.
class GraphIngestor {
 public:
  using Callback = std::function<void(Result<IngestResult>)>;

  /// Start the thread and the interpreter; fails if the environment does not match this
  /// build or dask_native.graph_ingest cannot be imported.
  static Result<std::unique_ptr<GraphIngestor>> Start(const PythonEnvironment& env);
  ~GraphIngestor();

  void Submit(IngestRequest request, Callback done);

  /// The embedded interpreter's `distributed.versions.get_versions()`, read at start.
  const Value& versions() const { return versions_; }

 private:
  static constexpr int kThreads = 2;

  GraphIngestor() = default;
  void Run(const PythonEnvironment& env, std::promise<Status>* started);
  void Loop();

  std::thread thread_;  ///< initializes and finalizes the interpreter
  std::vector<std::thread> helpers_;
  void* fn_ = nullptr;  ///< PyObject* graph_ingest.materialize
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<IngestRequest, Callback>> queue_;
  bool stop_ = false;
  Value versions_;
};

}  // namespace dn
