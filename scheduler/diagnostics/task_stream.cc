#include "scheduler/diagnostics/task_stream.h"

#include <algorithm>
#include <limits>
#include <string_view>
#include <utility>

#include "scheduler/diagnostics/owned_value.h"

namespace dn {
namespace {

double LastStop(const Value& record) {
  double stop = -std::numeric_limits<double>::infinity();
  const Value* ss = record.Find("startstops");
  if (ss == nullptr || ss->array() == nullptr) return stop;
  for (const Value& s : *ss->array()) {
    const Value* v = s.Find("stop");
    if (v == nullptr) continue;
    if (const double* d = v->get_if<double>()) stop = std::max(stop, *d);
    if (const int64_t* i = v->get_if<int64_t>()) stop = std::max(stop, static_cast<double>(*i));
  }
  return stop;
}

}  // namespace

// As scheduler.py passes them on to SchedulerPlugin.transition: stimulus_task_finished
// and stimulus_task_erred take key, run_id and (finished) metadata by name and hand the
// other message fields through as keyword arguments, after worker (and cause=key for
// an error); TaskStreamPlugin then adds the key.
Value TaskStream::Record(const Value& msg, const std::string& worker,
                         const std::string& stimulus_id) {
  const Map* fields = msg.map();
  const Value* key = msg.Find("key");
  const bool erred = [&] {
    const Value* op = msg.Find("op");
    return op != nullptr && op->str() != nullptr && *op->str() == "task-erred";
  }();
  Map out{{Value("stimulus_id"), Value(stimulus_id)}};
  if (erred) out.push_back({Value("cause"), key ? OwnedValue(*key) : Value()});
  out.push_back({Value("worker"), Value(worker)});
  if (!erred) {
    const Value* metadata = msg.Find("metadata");
    out.push_back({Value("metadata"), metadata ? OwnedValue(*metadata) : Value(Map{})});
  }
  if (fields != nullptr) {
    for (const MapEntry& e : *fields) {
      const std::string* name = e.key.str();
      if (name != nullptr &&
          (*name == "op" || *name == "key" || *name == "run_id" || *name == "stimulus_id" ||
           *name == "worker" || (!erred && *name == "metadata"))) {
        continue;
      }
      out.push_back({OwnedValue(e.key), OwnedValue(e.value)});
    }
  }
  out.push_back({Value("key"), key ? OwnedValue(*key) : Value()});
  return Value(std::move(out));
}

void TaskStream::Append(Value record) {
  ++index_;
  if (maxlen_ == 0) return;
  if (buffer_.size() == maxlen_) buffer_.pop_front();
  const double stop = LastStop(record);
  buffer_.push_back(Entry{std::move(record), stop});
}

size_t TaskStream::Bisect(double target, size_t left, size_t right) const {
  while (left != right) {
    size_t mid = (left + right) / 2;
    if (buffer_[mid].stop < target) {
      left = mid + 1;
    } else {
      right = mid;
    }
  }
  return left;
}

Value TaskStream::Collect(const TaskStreamQuery& query) const {
  const int64_t n = static_cast<int64_t>(buffer_.size());
  int64_t first = 0;
  int64_t last = n;
  if (query.start_index) {
    // Positions count every record ever appended; the buffer holds the last n.
    first = std::clamp<int64_t>(*query.start_index - (index_ - n), 0, n);
  } else {
    std::optional<int64_t> start, stop;
    if (query.start) start = static_cast<int64_t>(Bisect(*query.start, 0, buffer_.size()));
    if (query.stop) stop = static_cast<int64_t>(Bisect(*query.stop, 0, buffer_.size()));
    if (query.count) {
      if (!start && !stop) {
        stop = n;
        start = n - *query.count;
      } else if (!start) {
        start = *stop - *query.count;
      } else if (!stop) {
        stop = *start + *query.count;
      }
    }
    first = std::max<int64_t>(0, start.value_or(0));
    last = std::min<int64_t>(n, stop.value_or(n));
  }
  Array out;
  for (int64_t i = first; i < last; ++i) out.push_back(buffer_[static_cast<size_t>(i)].record);
  return Value(std::move(out));
}

}  // namespace dn
