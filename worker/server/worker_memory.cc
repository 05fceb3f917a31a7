// WorkerServer: memory limits (distributed.worker_memory): pins, spilling to disk and
// back, pausing, and the page pool's trimming.
#include "worker/server/worker_server.h"

#include <cstdio>

#include "common/page_pool.h"
#include "protocol/serialize/ndarray_serializer.h"
#include "worker/server/worker_server_internal.h"

namespace dn {

void WorkerServer::Unpin(const Key& key) {
  auto it = pins_.find(key);
  if (it != pins_.end() && --it->second <= 0) pins_.erase(it);
}

// --- memory management ------------------------------------------------------------

void WorkerServer::MaybeSpill(int64_t rss) {
  if (!config_.memory_limit || *config_.memory_limit <= 0) return;
  const double limit = static_cast<double>(*config_.memory_limit);
  int64_t target = static_cast<int64_t>(kTargetFraction * limit);
  // Managed data above the target, and process memory above the spill threshold
  // (unmanaged memory counts there, as in stock), both spill down to the target.
  int64_t excess = store_.memory_bytes() - spilling_bytes_ - target;
  if (rss > static_cast<int64_t>(kSpillFraction * limit) && spilling_bytes_ == 0) {
    excess = std::max(excess, rss - target);
  }
  if (excess <= 0) return;
  // Numpy scalars (32 bytes) are never worth a file; nor are the small dicts and
  // structured arrays of reduction partials (Unspill reads back plain arrays only).
  auto keep = [this](const Key& k) {
    auto it = native_.find(k);
    return Pinned(k) ||
           (it != native_.end() && (it->second.array.scalar || !it->second.fields.empty()));
  };
  for (const Key& k : store_.SpillCandidates(excess, keep)) {
    Spill(k);
  }
}

void WorkerServer::Spill(const Key& key) {
  store_.BeginSpill(key);
  int64_t nbytes = store_.nbytes(key).value_or(0);
  spilling_bytes_ += nbytes;
  std::string path = store_.PathFor(key);
  auto done = [this, key, path, nbytes](Result<int64_t> written, bool was_native) {
    asio::post(io_, [this, key, path, nbytes, written, was_native] {
      spilling_bytes_ -= nbytes;
      if (!store_.Contains(key)) {
        std::remove(path.c_str());  // freed meanwhile
      } else if (written.ok()) {
        store_.FinishSpill(key, *written);
        if (was_native) {
          native_.erase(key);
          spilled_native_.insert(key);
          python_->Post([this, key] { python_->Delete(key); });  // an exported result's original
        }
      } else {
        std::fprintf(stderr, "dask-native-worker: cannot spill %s: %s\n", key.Repr().c_str(),
                     written.status().ToString().c_str());
        store_.AbortSpill(key);
        pins_[key] += 1 << 20;  // never try this one again
      }
      RetryAwaitingInputs();
    });
  };
  if (auto it = native_.find(key); it != native_.end()) {
    Result<Serialized> value = SerializeNative(it->second);
    executor_->Post([path, value = std::move(value), done] {
      done(value.ok() ? DataStore::WriteSpillFile(path, *value) : Result<int64_t>(value.status()),
           true);
    });
    return;
  }
  python_->Post([this, key, path, done] {
    Result<int64_t> written = Status::Internal("not serialized");
    Result<PySerialized> s = python_->Serialize(key);
    if (s.ok()) {
      Serialized value{std::move(s->header), std::move(s->frames)};
      python_->WithoutGil([&] { written = DataStore::WriteSpillFile(path, value); });
      if (written.ok()) python_->Delete(key);
    } else {
      written = s.status();
    }
    done(written, false);
  });
}

void WorkerServer::Unspill(const Key& key) {
  store_.BeginUnspill(key);
  std::string path = store_.PathFor(key);
  auto done = [this, key](Status st, std::optional<native::NdArray> array) {
    asio::post(io_, [this, key, st, array = std::move(array)]() mutable {
      if (!store_.Contains(key)) {
        python_->Post([this, key] { python_->Delete(key); });
      } else if (st.ok()) {
        if (array) {
          native_[key] = native::NativeValue{std::move(*array), {}};
          spilled_native_.erase(key);
        }
        store_.FinishUnspill(key);
      } else {
        // The value is gone: the tasks waiting for it fail (RetryAwaitingInputs), as a
        // stock worker's task fails when its input cannot be read back.
        std::fprintf(stderr, "dask-native-worker: lost spilled %s: %s\n", key.Repr().c_str(),
                     st.ToString().c_str());
        store_.AbortUnspill(key);
        store_.Erase(key);
      }
      RetryAwaitingInputs();
    });
  };
  if (spilled_native_.count(key)) {
    executor_->Post([path, done] {
      Result<Serialized> value = DataStore::ReadSpillFile(path);
      if (!value.ok()) return done(value.status(), std::nullopt);
      Result<NdarrayView> view = DeserializeNdarray(*value);
      if (!view.ok()) return done(view.status(), std::nullopt);
      Result<native::DType> dt = native::ParseDType(view->meta.dtype);
      if (!dt.ok()) return done(dt.status(), std::nullopt);
      native::NdArray a;
      a.dtype = *dt;
      a.shape = view->meta.shape;
      a.strides = view->meta.strides;
      a.data = view->data;
      done(Status::OK(), std::move(a));
    });
    return;
  }
  python_->Post([this, key, path, done] {
    Result<Serialized> value = Status::Internal("not read");
    python_->WithoutGil([&] { value = DataStore::ReadSpillFile(path); });
    Status st = value.status();
    if (value.ok()) st = python_->Put(key, *value).status();
    done(st, std::nullopt);
  });
}

// Pausing is decided here (process memory) and carried out by the state machine, which
// starts no task and no transfer while paused.
void WorkerServer::SetPaused(bool paused) {
  if (paused == !state_.running()) return;
  std::fprintf(stderr, "dask-native-worker: %s (process memory %s 80%% of the limit)\n",
               paused ? "paused" : "resumed", paused ? "above" : "below");
  SendToScheduler(Value(Map{{Value("op"), Value("worker-status-change")},
                            {Value("status"), Value(paused ? "paused" : "running")},
                            {Value("stimulus_id"), Value(Stimulus("worker-memory"))}}));
  if (paused) {
    Feed(WithStimulus(worker::PauseEvent{}, Stimulus("worker-memory")));
  } else {
    Feed(WithStimulus(worker::UnpauseEvent{}, Stimulus("worker-memory")));
  }
}

awaitable<void> WorkerServer::MemoryMonitor() {
  const bool limited = config_.memory_limit && *config_.memory_limit > 0;
  const double limit = limited ? static_cast<double>(*config_.memory_limit) : 0;
  PagePool& pool = PagePool::Global();
  while (!stopping_) {
    asio::steady_timer t(io_, std::chrono::milliseconds(100));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    pool.TrimIdle(kPoolIdle);
    if (!limited) continue;
    int64_t rss = RssBytes();
    // Pooled pages are free memory the worker still maps: give them back before they
    // count towards spilling or pausing.
    if (rss > static_cast<int64_t>(kTargetFraction * limit) && pool.pooled_bytes() > 0) {
      pool.Trim(0);
      rss = RssBytes();
    }
    if (stream_) SetPaused(rss > static_cast<int64_t>(kPauseFraction * limit));
    MaybeSpill(rss);
  }
}

}  // namespace dn
