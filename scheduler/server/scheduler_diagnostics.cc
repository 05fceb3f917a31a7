// SchedulerServer: event topics (log_event, events, subscribe-topic, the workers'
// log-event), task metadata, Client.retry, the task stream and the small task queries
// (nbytes, get_task_status, set_restrictions). The logic lives in the pure units
// (diagnostics/TopicBroker, diagnostics/TaskStream, state/TaskMetadata, and the
// SchedulerState stimuli); this file reads the requests and writes the replies.
#include <string>
#include <variant>

#include "common/dask_config.h"
#include "protocol/messages/message_codec.h"
#include "scheduler/server/scheduler_server.h"
#include "scheduler/server/scheduler_server_internal.h"

namespace dn {
namespace {

// The topics of a log_event: one name or a list of names (broker.py:publish).
bool TopicsOf(const Value* v, std::vector<std::string>* out) {
  if (v == nullptr) return false;
  if (const std::string* s = v->str()) {
    out->push_back(*s);
    return true;
  }
  const Array* names = v->array();
  if (names == nullptr) return false;
  for (const Value& n : *names) {
    const std::string* s = n.str();
    if (s == nullptr) return false;
    out->push_back(*s);
  }
  return true;
}

// get_metadata's `default`: absent, or dask's `no_default` sentinel when none was given.
// That is an Enum, which distributed's msgpack encodes as {"__Enum__": True, "name":
// "no_default", "__module__": "dask.typing", "__name__": "_NoDefault"}.
bool IsNoDefault(const Value* v) {
  if (v == nullptr) return true;
  if (v->map() == nullptr || v->Find("__Enum__") == nullptr) return false;
  const std::string* type = StrField(*v, "__name__");
  return type != nullptr && *type == "_NoDefault";
}

Array PathOf(const Value* keys) {
  if (keys == nullptr || keys->is_nil()) return {};
  if (const Array* a = keys->array()) return *a;
  return {*keys};
}

// A get_task_stream bound: a time, or a duration before now ("60s"), as stock reads it.
std::optional<double> TimeBound(const Value* v, double now) {
  if (v == nullptr || v->is_nil()) return std::nullopt;
  if (const double* d = v->get_if<double>()) return *d;
  if (const int64_t* i = v->get_if<int64_t>()) return static_cast<double>(*i);
  double seconds = 0;
  if (const std::string* s = v->str(); s && ParseDuration(*s, &seconds)) return now - seconds;
  return std::nullopt;
}

std::optional<int64_t> IntBound(const Value* v) {
  if (v == nullptr) return std::nullopt;
  if (const int64_t* i = v->get_if<int64_t>()) return *i;
  return std::nullopt;
}

Value KeyErrorReply(const Status& st) { return TypedErrorMessage("KeyError", st.message()); }

}  // namespace

void SchedulerServer::LogEvent(const std::vector<std::string>& topics, const Value& msg) {
  for (EventDelivery& d : broker_.Publish(topics, msg, Now())) {
    if (client_streams_.count(d.client) == 0) continue;
    client_batches_[d.client].push_back(std::move(d.message));
  }
  ScheduleClientFlush();
}

void SchedulerServer::SubscribeTopic(const std::string& client, const Value& msg, bool subscribe) {
  const std::string* topic = StrField(msg, "topic");
  const std::string* who = StrField(msg, "client");
  if (topic == nullptr) return;
  if (subscribe) {
    broker_.Subscribe(*topic, who ? *who : client);
  } else {
    broker_.Unsubscribe(*topic, who ? *who : client);
  }
}

// scheduler.py:log_worker_event: a dict message says which worker logged it, unless
// the topic is that worker's own.
void SchedulerServer::LogWorkerEvent(const std::string& worker, const Value& msg) {
  std::vector<std::string> topics;
  const Value* topic = msg.Find("topic");
  if (!TopicsOf(topic, &topics)) return;
  Value event = Field(msg, "msg");
  const bool own_topic = topic->str() != nullptr && *topic->str() == worker;
  if (Map* m = event.map(); m != nullptr && !own_topic) {
    if (Value* w = FindKey(*m, "worker")) {
      *w = Value(worker);
    } else {
      m->push_back({Value("worker"), Value(worker)});
    }
  }
  LogEvent(topics, event);
}

void SchedulerServer::RecordTaskStream(const std::string& worker, const Value& msg,
                                       const Stimulus& stim) {
  if (!task_stream_) return;  // not asked for yet (stock adds its plugin on first use)
  task_stream_->Append(TaskStream::Record(msg, worker, stim.id));
}

TaskStream& SchedulerServer::StartedTaskStream() {
  if (!task_stream_) task_stream_.emplace(config_.task_stream_length);
  return *task_stream_;
}

std::span<const std::pair<std::string_view, SchedulerServer::RpcRoute>>
SchedulerServer::DiagnosticsRoutes() {
  using S = SchedulerServer;
  static const std::pair<std::string_view, RpcRoute> kRoutes[] = {
      {"log_event", {.sync = [](S& srv, const Value& msg) -> Value {
         std::vector<std::string> topics;
         if (!TopicsOf(msg.Find("topic"), &topics)) {
           return TypedErrorMessage("TypeError", "topic must be a str or a list of str");
         }
         srv.LogEvent(topics, Field(msg, "msg"));
         return Value();
       }}},
      {"events", {.sync = [](S& srv, const Value& msg) -> Value {
         const std::string* topic = StrField(msg, "topic");
         return topic ? srv.broker_.Events(*topic) : srv.broker_.AllEvents();
       }}},
      {"set_metadata", {.sync = [](S& srv, const Value& msg) -> Value {
         if (auto err =
                 srv.state_.task_metadata().Set(PathOf(msg.Find("keys")), Field(msg, "value"))) {
           return TypedErrorMessage(err->type, err->text);
         }
         return Value();
       }}},
      {"get_metadata", {.sync = [](S& srv, const Value& msg) -> Value {
         const Value* def = msg.Find("default");
         auto got = srv.state_.task_metadata().Get(PathOf(msg.Find("keys")),
                                                   IsNoDefault(def) ? nullptr : def);
         if (const PyException* err = std::get_if<PyException>(&got)) {
           return TypedErrorMessage(err->type, err->text);
         }
         return std::get<Value>(std::move(got));
       }}},
      {"retry", {.sync = [](S& srv, const Value& msg) -> Value {  // scheduler.py:stimulus_retry
         std::vector<Key> keys = KeysFromValue(msg.Find("keys"));
         const std::string* client = StrField(msg, "client");
         if (client != nullptr && !client->empty()) {
           srv.LogEvent({*client},
                        Value(Map{{Value("action"), Value("retry")},
                                  {Value("count"), Value(static_cast<int64_t>(keys.size()))}}));
         }
         char id[48];
         std::snprintf(id, sizeof id, "stimulus-retry-%.6f", srv.Now());
         Result<std::vector<Key>> seen = srv.state_.Retry(keys, Stimulus{id, srv.Now()});
         if (!seen.ok()) return KeyErrorReply(seen.status());
         srv.Flush();
         Array out;
         for (const Key& k : *seen) out.push_back(k.ToValue());
         return Value(std::move(out));
       }}},
      {"get_task_stream", {.sync = [](S& srv, const Value& msg) -> Value {
         const double now = srv.Now();
         TaskStreamQuery q;
         q.start = TimeBound(msg.Find("start"), now);
         q.stop = TimeBound(msg.Find("stop"), now);
         q.count = IntBound(msg.Find("count"));
         q.start_index = IntBound(msg.Find("start_index"));
         return srv.StartedTaskStream().Collect(q);
       }}},
      {"get_task_stream_index", {.sync = [](S& srv, const Value&) -> Value {
         return Value(srv.StartedTaskStream().index());
       }}},
      {"nbytes", {.sync = [](S& srv, const Value& msg) -> Value {  // scheduler.py:get_nbytes
         std::vector<std::pair<const TaskState*, Value>> sizes;
         if (const Value* keys = msg.Find("keys"); keys != nullptr && !keys->is_nil()) {
           for (const Key& k : KeysFromValue(keys)) {
             const TaskState* ts = srv.state_.task(k);
             if (ts == nullptr) {
               return TypedErrorMessage("KeyError", k.str() ? *k.str() : k.Repr());
             }
             sizes.emplace_back(ts, k.ToValue());
           }
         } else {
           for (const auto& [k, ts] : srv.state_.tasks()) {
             if (ts->nbytes >= 0) sizes.emplace_back(ts.get(), k.ToValue());
           }
         }
         const Value* summary = msg.Find("summary");
         Map out;
         if (summary == nullptr || !summary->is<bool>() || *summary->get_if<bool>()) {
           for (const auto& [ts, key] : sizes) {
             if (Value* total = FindKey(out, ts->prefix)) {
               *total = Value(*total->get_if<int64_t>() + ts->nbytes);
             } else {
               out.push_back({Value(ts->prefix), Value(ts->nbytes)});
             }
           }
         } else {
           for (const auto& [ts, key] : sizes) out.push_back({key, Value(ts->nbytes)});
         }
         return Value(std::move(out));
       }}},
      {"get_task_status", {.sync = [](S& srv, const Value& msg) -> Value {
         Map out;
         for (const Key& k : KeysFromValue(msg.Find("keys"))) {
           const TaskState* ts = srv.state_.task(k);
           out.push_back({k.ToValue(), ts ? Value(std::string(ToString(ts->status))) : Value()});
         }
         return Value(std::move(out));
       }}},
      {"set_restrictions",
       {.sync = [](S& srv, const Value& msg) -> Value {  // {key: worker | [workers] | None}
         std::vector<std::pair<Key, std::vector<std::string>>> restrictions;
         const Value* w = msg.Find("worker");
         if (w != nullptr && w->map() != nullptr) {
           for (const MapEntry& e : *w->map()) {
             auto k = Key::FromValue(e.key);
             if (!k.ok()) return TypedErrorMessage("KeyError", e.key.ToDebugString());
             std::vector<std::string> names;
             if (const std::string* s = e.value.str()) names.push_back(*s);
             if (const Array* a = e.value.array()) {
               for (const Value& x : *a) {
                 if (const std::string* s = x.str()) names.push_back(*s);
               }
             }
             restrictions.emplace_back(std::move(*k), std::move(names));
           }
         }
         if (Status st = srv.state_.SetRestrictions(restrictions); !st.ok()) {
           return KeyErrorReply(st);
         }
         return Value();
       }}},
  };
  return kRoutes;
}
}  // namespace dn
