// WorkerServer: carrying out the state machine's Execute instructions, natively or in
// the embedded Python, and feeding their outcomes back to it.
#include "worker/server/worker_server.h"

#include <cstdio>

#include "protocol/pickle/pickle_reader.h"
#include "protocol/pickle/pickle_writer.h"
#include "protocol/serialize/bytes_serializer.h"
#include "worker/native/evaluator.h"
#include "worker/native/records.h"
#include "worker/server/worker_server_internal.h"

namespace dn {

void WorkerServer::OnStored(const Key& key, int64_t nbytes) {
  store_.PutInMemory(key, nbytes);
  MaybeSpill(0);
}

// Only while short native tasks run, only a task all of whose inputs are held natively
// in memory (so the native executor queues it), and never beside a Python task (the
// executor would start it at once, one thread too many).
bool WorkerServer::MayRunAhead(const worker::TaskState& ts) const {
  if (last_native_seconds_ >= kLookaheadBelowSeconds || python_running_ > 0) return false;
  if (!ts.run_spec.has_value()) return false;
  for (const worker::TaskState* dep : ts.dependencies) {
    if (!native_.count(dep->key) || store_.residence(dep->key) != Residence::kMemory) return false;
  }
  return true;
}

void WorkerServer::StartExecute(const Key& key) {
  const worker::TaskState* ts = state_.task(key);
  if (ts == nullptr) return;
  auto [it, fresh] = running_.try_emplace(key);
  Running& run = it->second;
  if (fresh) {
    // Inputs stay in memory while the task reads them.
    for (const worker::TaskState* dep : ts->dependencies) {
      run.deps.push_back(dep->key);
      Pin(dep->key);
    }
  }
  // A task whose inputs are on disk waits for them to be read back (started here),
  // holding its slot, as a stock worker's thread would while reading them.
  bool inputs_in_memory = true;
  bool lost = false;
  for (const Key& dep : run.deps) {
    std::optional<Residence> r = store_.residence(dep);
    if (r == Residence::kMemory) continue;
    inputs_in_memory = false;
    lost = lost || !r;
    if (r == Residence::kDisk) Unspill(dep);
  }
  if (!inputs_in_memory) {
    if (std::find(awaiting_inputs_.begin(), awaiting_inputs_.end(), key) ==
        awaiting_inputs_.end()) {
      awaiting_inputs_.push_back(key);
    }
    // An input already gone fails the task, from the loop (not inside Carry).
    if (lost) asio::post(io_, [this] { RetryAwaitingInputs(); });
    return;
  }
  bool all_native = ts->run_spec.has_value() && !ts->native_declined;
  for (const Key& dep : run.deps) {
    all_native = all_native && native_.count(dep);
    store_.Touch(dep);
  }
  run.started = true;
  run.started_at = WallTime();
  run.python = !all_native;
  if (all_native) {
    RunNative(key);
  } else {
    RunPython(key);
  }
}

void WorkerServer::RetryAwaitingInputs() {
  if (awaiting_inputs_.empty()) return;
  std::vector<Key> keys = std::exchange(awaiting_inputs_, {});
  for (const Key& key : keys) {
    auto it = running_.find(key);
    if (it == running_.end()) continue;
    bool lost = false;
    for (const Key& dep : it->second.deps) lost = lost || !store_.Contains(dep);
    if (!lost) {
      StartExecute(key);
      continue;
    }
    // An input was freed (or its spill file lost) before the task could start.
    EndRun(key);
    worker::ExecuteFailureEvent ev;
    ev.key = key;
    constexpr std::string_view kLost = "an input of this task is no longer held by the worker";
    ev.error.exception = WorkerException("RuntimeError", kLost);
    ev.error.exception_text = std::string("RuntimeError('") + std::string(kLost) + "')";
    Feed(WithStimulus(std::move(ev), Stimulus("task-erred")));
  }
}

void WorkerServer::EndRun(const Key& key) {
  auto it = running_.find(key);
  if (it == running_.end()) return;
  for (const Key& d : it->second.deps) Unpin(d);
  if (it->second.started && it->second.python) --python_running_;
  running_.erase(it);
}

// Native first: the run_spec is read by the protocol's pickle reader and evaluated in
// C++ on the executor; a task it does not recognise goes to Python unchanged.
void WorkerServer::RunNative(const Key& key) {
  const worker::TaskState& task = *state_.task(key);
  auto values = std::make_shared<std::unordered_map<Key, native::NativeValue, KeyHash>>();
  for (const Key& dep : running_.at(key).deps) values->emplace(dep, native_.at(dep));
  Pickled run_spec = *task.run_spec;
  executor_->Post([this, key, run_spec, values] {
    double start = WallTime();
    Result<native::NativeValue> out = Status::NotImplemented("unparsed");
    Result<PickleTree> tree = ReadPickle(run_spec.pickled_obj(), run_spec.frames);
    if (tree.ok()) {
      out = native::EvaluateRunSpec(*tree, [&values](const Key& k) -> const native::NativeValue* {
        auto it = values->find(k);
        return it == values->end() ? nullptr : &it->second;
      });
    }
    double stop = WallTime();
    if (TraceNative())
      std::fprintf(stderr, "native %s %.2f ms at %.4f\n", key.Repr().c_str(), (stop - start) * 1e3,
                   stop);
    asio::post(io_, [this, key, out = std::move(out), start, stop]() mutable {
      if (out.ok()) {
        OnNativeExecuted(key, out.MoveValueUnsafe(), start, stop);
        return;
      }
      if (TraceNative()) {
        std::fprintf(stderr, "python %s: %s\n", key.Repr().c_str(),
                     out.status().ToString().c_str());
      }
      if (out.status().code() != StatusCode::kNotImplemented) {
        std::fprintf(
            stderr,
            "dask-native-worker: native evaluation of %s failed (%s); running it in Python\n",
            key.Repr().c_str(), out.status().ToString().c_str());
      }
      // The state machine runs it in Python on its thread (another Execute), or, if it
      // ran ahead of the threads, puts it back in the ready queue.
      EndRun(key);
      worker::NativeDeclinedEvent ev;
      ev.key = key;
      Feed(WithStimulus(std::move(ev), Stimulus("native-declined")));
    });
  });
}

void WorkerServer::RunPython(const Key& key) {
  const worker::TaskState& task = *state_.task(key);
  std::vector<Key> deps = running_.at(key).deps;
  native_only_.erase(key);  // Python makes this value
  // Native inputs Python needs to see: one unnamed array, or a dict's named arrays.
  std::vector<std::pair<Key, std::vector<std::pair<std::string, PyArrayView>>>> exports;
  for (const Key& dep : deps) {
    if (auto it = native_.find(dep); it != native_.end()) {
      native_only_.erase(dep);  // Python will hold a view of it
      auto view = [](const native::NdArray& a) {
        // numpy views a buffer from its start, so an array read backwards (a negative
        // stride, from a reversed slice) is handed over as a C-ordered copy.
        bool backwards = false;
        for (int64_t st : a.strides) backwards = backwards || st < 0;
        const native::NdArray& c = backwards ? native::AsCContiguous(a) : a;
        return PyArrayView{c.data, std::string(native::DTypeStr(c.dtype)), c.shape, c.strides,
                           c.scalar};
      };
      if (it->second.records) {
        // A structured array: numpy views its packed records with the dtype rebuilt
        // from the descr text (worker_runtime.put_array).
        const std::vector<native::RecordField> fields = native::RecordFields(it->second);
        const std::vector<int64_t>& shape = it->second.fields[0].second.shape;
        PyArrayView records{native::PackRecords(it->second), native::RecordsDescr(fields), shape,
                            native::NdArray::CStrides(shape, native::RecordSize(fields)), false};
        exports.emplace_back(
            dep, std::vector<std::pair<std::string, PyArrayView>>{{"", std::move(records)}});
      } else if (!it->second.is_dict()) {
        exports.emplace_back(
            dep, std::vector<std::pair<std::string, PyArrayView>>{{"", view(it->second.array)}});
      } else {
        std::vector<std::pair<std::string, PyArrayView>> fields;
        for (const auto& [name, a] : it->second.fields) fields.emplace_back(name, view(a));
        exports.emplace_back(dep, std::move(fields));
      }
    }
  }
  Pickled run_spec = task.run_spec.value_or(Pickled{});
  ++python_running_;
  // The inputs are made visible to Python on the service thread, behind every store
  // and delete of a Python value posted before (a delete of a stale copy of an input,
  // or of this task's own key, must not land after the task put it there); then the
  // task runs on a task thread.
  auto done = [this, key](PyTaskOutcome outcome, std::optional<PyArrayView> array) {
    asio::post(io_, [this, key, outcome = std::move(outcome), array = std::move(array)]() mutable {
      if (array && outcome.ok) {
        Result<native::DType> dt = native::ParseDType(array->dtype);
        if (dt.ok()) {
          native::NdArray a;
          a.dtype = *dt;
          a.shape = std::move(array->shape);
          a.strides = std::move(array->strides);
          a.data = std::move(array->data);
          native_[key] = native::NativeValue{std::move(a), {}};  // dropped if not wanted
        }
      }
      OnExecuted(key, std::move(outcome));
    });
  };
  python_->Post([this, key, run_spec, deps, exports, done] {
    for (const auto& [k, fields] : exports) {
      Status exported = fields.size() == 1 && fields[0].first.empty()
                            ? python_->PutArray(k, fields[0].second)
                            : python_->PutDict(k, fields);
      if (!exported.ok()) {
        PyTaskOutcome outcome;
        outcome.exception_text = exported.ToString();
        return done(std::move(outcome), std::nullopt);
      }
    }
    python_->PostTask([this, key, run_spec, deps, done] {
      PyTaskOutcome outcome = python_->Execute(key, run_spec, deps);
      // A plain ndarray result is shared with the native side (no copy), so native
      // tasks downstream of a Python task still run natively.
      std::optional<PyArrayView> array;
      if (outcome.ok) {
        Result<PyArrayView> v = python_->ExportArray(key);
        if (v.ok()) array = v.MoveValueUnsafe();
      }
      done(std::move(outcome), std::move(array));
    });
  });
}

void WorkerServer::OnNativeExecuted(Key key, native::NativeValue value, double start, double stop) {
  EndRun(key);
  last_native_seconds_ = stop - start;
  ++native_tasks_;
  worker::ExecuteSuccessEvent ev;
  ev.key = key;
  ev.nbytes = value.Sizeof();
  if (value.is_dict()) {
    ev.type = Buffer::FromString(PickleGlobalRef("builtins", "dict"));
    ev.type_name = "dict";
  } else {
    std::string type_name =
        value.array.scalar ? std::string(native::DTypeScalarName(value.array.dtype)) : "ndarray";
    ev.type = Buffer::FromString(PickleGlobalRef("numpy", type_name));
    ev.type_name = "numpy." + type_name;
  }
  ev.thread = Value(int64_t{0});
  ev.start = start;
  ev.stop = stop;
  const int64_t nbytes = ev.nbytes;
  native_[key] = std::move(value);
  native_only_.insert(key);
  worker::Instructions instructions =
      state_.Handle(WithStimulus(std::move(ev), Stimulus("task-finished")));
  // Cancelled while it ran: nobody wants the result.
  SettleStored({{key, nbytes}});
  Carry(std::move(instructions));
  MaybeSpill(0);
}

void WorkerServer::OnExecuted(Key key, PyTaskOutcome outcome) {
  EndRun(key);
  ++python_tasks_;
  if (outcome.ok) {
    worker::ExecuteSuccessEvent ev;
    ev.key = key;
    ev.nbytes = outcome.nbytes;
    ev.type = outcome.type_pickle;
    ev.type_name = outcome.type_name;
    ev.thread = Value(outcome.thread);
    ev.start = outcome.start;
    ev.stop = outcome.stop;
    worker::Instructions instructions =
        state_.Handle(WithStimulus(std::move(ev), Stimulus("task-finished")));
    SettleStored({{key, outcome.nbytes}});
    Carry(std::move(instructions));
    MaybeSpill(0);
    return;
  }
  worker::ExecuteFailureEvent ev;
  ev.key = key;
  ev.error.exception = outcome.exception_pickle.empty()
                           ? Value(outcome.exception_text)
                           : Value(SerializeBytes(outcome.exception_pickle));
  ev.error.traceback =
      outcome.traceback_pickle.empty() ? Value() : Value(SerializeBytes(outcome.traceback_pickle));
  ev.error.exception_text = outcome.exception_text;
  ev.error.traceback_text = outcome.traceback_text;
  ev.error.thread = Value(outcome.thread);
  ev.error.start = outcome.start;
  ev.error.stop = outcome.stop;
  Feed(WithStimulus(std::move(ev), Stimulus("task-erred")));
}

}  // namespace dn
