#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "protocol/msgpack/value.h"

namespace dn {

/// Which records TaskStream::Collect returns (stock's TaskStreamPlugin.collect).
struct TaskStreamQuery {
  std::optional<double> start;  ///< the first record whose last stop is at or after this
  std::optional<double> stop;   ///< up to the first record whose last stop is at or after this
  std::optional<int64_t> count;
  /// The index (TaskStream::index) from which on to return every record; when set, the
  /// other fields are ignored.
  std::optional<int64_t> start_index;
};

/// The task stream (distributed/diagnostics/task_stream.py:TaskStreamPlugin): one record
/// per task that went from processing to memory or erred, in that order, for
/// `Client.get_task_stream` and the `get_task_stream()` context manager.
///
/// A record is what stock's plugin receives: the worker's task-finished or task-erred
/// message without its op and run_id, plus the scheduler's worker, stimulus_id and key
/// (Record). Keeps the last `maxlen` records
/// (`distributed.scheduler.dashboard.{status,tasks}.task-stream-length`, the larger).
/// Pure; owned by the scheduler's event loop.
class TaskStream {
 public:
  explicit TaskStream(size_t maxlen) : maxlen_(maxlen) {}

  /// Build the record of a task-finished or task-erred message from `worker` that
  /// moved its task out of processing; the record owns its bytes (OwnedValue). Fields
  /// in stock's order: stimulus_id, [cause,] worker, [metadata,] the message's other
  /// fields, key.
  static Value Record(const Value& msg, const std::string& worker, const std::string& stimulus_id);

  /// Append a record (from Record), dropping the oldest past `maxlen`.
  void Append(Value record);
  /// How many records were ever appended: the cursor `get_task_stream_index` returns.
  int64_t index() const { return index_; }
  size_t size() const { return buffer_.size(); }
  /// The records `query` selects, oldest first, as an array of maps.
  Value Collect(const TaskStreamQuery& query) const;

 private:
  struct Entry {
    Value record;
    double stop;  ///< the latest "stop" of its startstops
  };
  /// The first position in [left, right) whose stop is at or after `target`.
  size_t Bisect(double target, size_t left, size_t right) const;

  size_t maxlen_;
  std::deque<Entry> buffer_;
  int64_t index_ = 0;
};

}  // namespace dn
