// WorkerState's story (stock's WorkerState.log and story()), the spelling of states and
// the wire form of the scheduler messages.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "worker/state/worker_state.h"

namespace dn::worker {

std::string_view ToString(TaskStatus s) {
  switch (s) {
    case TaskStatus::kReleased: return "released";
    case TaskStatus::kWaiting: return "waiting";
    case TaskStatus::kReady: return "ready";
    case TaskStatus::kExecuting: return "executing";
    case TaskStatus::kFetch: return "fetch";
    case TaskStatus::kFlight: return "flight";
    case TaskStatus::kMissing: return "missing";
    case TaskStatus::kMemory: return "memory";
    case TaskStatus::kError: return "error";
    case TaskStatus::kCancelled: return "cancelled";
    case TaskStatus::kResumed: return "resumed";
    case TaskStatus::kForgotten: return "forgotten";
  }
  return "?";
}

namespace {

Value KeysValue(const std::vector<Key>& keys) {
  Array out;
  out.reserve(keys.size());
  for (const Key& k : keys) out.push_back(k.ToValue());
  return Value(std::move(out));
}

}  // namespace

Value ReleaseWorkerDataMsg::ToValue() const {
  return Value(Map{{Value("op"), Value(kOp)},
                   {Value("key"), key.ToValue()},
                   {Value("stimulus_id"), Value(stimulus_id)}});
}

Value AddKeysMsg::ToValue() const {
  return Value(Map{{Value("op"), Value(kOp)},
                   {Value("keys"), KeysValue(keys)},
                   {Value("stimulus_id"), Value(stimulus_id)}});
}

Value RequestRefreshWhoHasMsg::ToValue() const {
  return Value(Map{{Value("op"), Value(kOp)},
                   {Value("keys"), KeysValue(keys)},
                   {Value("stimulus_id"), Value(stimulus_id)}});
}

Value StealResponseMsg::ToValue() const {
  return Value(Map{{Value("op"), Value(kOp)},
                   {Value("key"), key.ToValue()},
                   {Value("state"), state ? Value(ToString(*state)) : Value()},
                   {Value("stimulus_id"), Value(stimulus_id)}});
}

Value StoryRecord::ToValue() const {
  if (!event.empty()) {
    return Value(Array{key.ToValue(), Value(event), Value(ToString(start)), Value(stimulus_id),
                       Value(timestamp)});
  }
  Map recs;
  for (const auto& [k, s] : recommendations)
    recs.push_back(MapEntry{k.ToValue(), Value(ToString(s))});
  return Value(Array{key.ToValue(), Value(ToString(start)), Value(ToString(finish)),
                     Value(ToString(final)), Value(std::move(recs)), Value(stimulus_id),
                     Value(timestamp)});
}

// Records are assigned into the ring's slots, so once it is full their strings and
// vectors reuse their capacity instead of allocating.
StoryRecord& WorkerState::NextRecord() {
  StoryRecord* rec;
  if (story_.size() < options_.story_length) {
    rec = &story_.emplace_back();
  } else {
    rec = &story_[story_next_];
    story_next_ = (story_next_ + 1) % story_.size();
  }
  rec->stimulus_id = stimulus_id_;
  rec->timestamp = now_;
  return *rec;
}

void WorkerState::Log(const TaskState* ts, std::string_view event) {
  StoryRecord& rec = NextRecord();
  rec.key = ts->key;
  rec.event = event;
  rec.start = ts->state;
  rec.recommendations.clear();
}

std::vector<const StoryRecord*> WorkerState::Story(
    const std::vector<Key>& keys, const std::vector<std::string>& stimulus_ids) const {
  std::vector<const StoryRecord*> out;
  const size_t n = story_.size();
  const size_t first = n < options_.story_length ? 0 : story_next_;
  for (size_t i = 0; i < n; ++i) {
    const StoryRecord& rec = story_[(first + i) % n];
    const bool match =
        std::find(keys.begin(), keys.end(), rec.key) != keys.end() ||
        std::find(stimulus_ids.begin(), stimulus_ids.end(), rec.stimulus_id) != stimulus_ids.end();
    if (match) out.push_back(&rec);
  }
  return out;
}

void WorkerState::Fail(const TaskState* ts, const std::string& what) const {
  std::fprintf(stderr, "dask-native-worker: WorkerState invariant violated: %s\n", what.c_str());
  if (ts != nullptr) {
    std::fprintf(stderr, "  task %s in state %s; story:\n", ts->key.Repr().c_str(),
                 std::string(ToString(ts->state)).c_str());
    for (const StoryRecord* rec : Story({ts->key}, {})) {
      std::fprintf(stderr, "    %s\n", rec->ToValue().ToDebugString().c_str());
    }
  }
  std::fprintf(stderr, "  while handling stimulus %s\n", stimulus_id_.c_str());
  std::abort();
}

}  // namespace dn::worker
