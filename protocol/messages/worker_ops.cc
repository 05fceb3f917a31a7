#include "protocol/messages/worker_ops.h"

namespace dn {

namespace {

Result<const Value*> Required(const Value& msg, std::string_view field) {
  const Value* v = msg.Find(field);
  if (v == nullptr) {
    return Status::ProtocolError("compute-task lacks '" + std::string(field) + "'");
  }
  return v;
}

Value StartStops(const std::vector<StartStop>& ss) {
  Array out;
  for (const StartStop& s : ss) {
    out.push_back(Value(Map{{Value("action"), Value(s.action)},
                            {Value("start"), Value(s.start)},
                            {Value("stop"), Value(s.stop)}}));
  }
  return Value(std::move(out));
}

}  // namespace

Result<ComputeTask> ComputeTask::FromValue(const Value& msg) {
  if (msg.map() == nullptr) return Status::ProtocolError("compute-task is not a map");
  ComputeTask t;
  DN_ASSIGN_OR_RETURN(const Value* key, Required(msg, "key"));
  DN_ASSIGN_OR_RETURN(t.key, Key::FromValue(*key));
  DN_ASSIGN_OR_RETURN(const Value* run_id, Required(msg, "run_id"));
  if (!run_id->is<int64_t>()) return Status::ProtocolError("compute-task run_id is not an int");
  t.run_id = *run_id->get_if<int64_t>();
  DN_ASSIGN_OR_RETURN(const Value* priority, Required(msg, "priority"));
  t.priority = *priority;
  DN_ASSIGN_OR_RETURN(const Value* sid, Required(msg, "stimulus_id"));
  if (sid->str()) t.stimulus_id = *sid->str();
  DN_ASSIGN_OR_RETURN(const Value* who_has, Required(msg, "who_has"));
  if (const Map* m = who_has->map()) {
    for (const MapEntry& e : *m) {
      DN_ASSIGN_OR_RETURN(Key k, Key::FromValue(e.key));
      std::vector<std::string> addrs;
      if (const Array* a = e.value.array()) {
        for (const Value& x : *a) {
          if (const std::string* s = x.str()) addrs.push_back(*s);
        }
      }
      t.who_has.emplace_back(std::move(k), std::move(addrs));
    }
  }
  DN_ASSIGN_OR_RETURN(const Value* nbytes, Required(msg, "nbytes"));
  if (const Map* m = nbytes->map()) {
    for (const MapEntry& e : *m) {
      DN_ASSIGN_OR_RETURN(Key k, Key::FromValue(e.key));
      const int64_t* n = e.value.get_if<int64_t>();
      t.nbytes.emplace_back(std::move(k), n ? *n : 0);
    }
  }
  DN_ASSIGN_OR_RETURN(const Value* run_spec, Required(msg, "run_spec"));
  if (const Pickled* p = run_spec->get_if<Pickled>()) {
    t.run_spec = *p;
  } else if (!run_spec->is_nil()) {
    return Status::ProtocolError("compute-task run_spec is neither pickled nor nil");
  }
  DN_ASSIGN_OR_RETURN(const Value* rr, Required(msg, "resource_restrictions"));
  t.resource_restrictions = *rr;
  DN_ASSIGN_OR_RETURN(const Value* actor, Required(msg, "actor"));
  t.actor = actor->is<bool>() && *actor->get_if<bool>();
  DN_ASSIGN_OR_RETURN(const Value* ann, Required(msg, "annotations"));
  if (const Map* m = ann->map()) t.annotations = *m;
  DN_ASSIGN_OR_RETURN(const Value* span, Required(msg, "span_id"));
  t.span_id = *span;
  return t;
}

Value ComputeTask::ToValue() const {
  Map who, sizes;
  for (const auto& [k, addrs] : who_has) {
    Array a;
    for (const std::string& s : addrs) a.emplace_back(s);
    who.push_back({k.ToValue(), Value(std::move(a))});
  }
  for (const auto& [k, n] : nbytes) sizes.push_back({k.ToValue(), Value(n)});
  return Value(Map{{Value("op"), Value(kOp)},
                   {Value("key"), key.ToValue()},
                   {Value("run_id"), Value(run_id)},
                   {Value("priority"), priority},
                   {Value("stimulus_id"), Value(stimulus_id)},
                   {Value("who_has"), Value(std::move(who))},
                   {Value("nbytes"), Value(std::move(sizes))},
                   {Value("run_spec"), run_spec ? Value(*run_spec) : Value()},
                   {Value("resource_restrictions"), resource_restrictions},
                   {Value("actor"), Value(actor)},
                   {Value("annotations"), Value(annotations)},
                   {Value("span_id"), span_id}});
}

Value TaskFinished::ToValue() const {
  return Value(Map{{Value("key"), key.ToValue()},
                   {Value("run_id"), Value(run_id)},
                   {Value("nbytes"), Value(nbytes)},
                   {Value("type"), Value(Bin{type})},
                   {Value("typename"), Value(type_name)},
                   {Value("metadata"), Value(metadata)},
                   {Value("thread"), thread},
                   {Value("startstops"), StartStops(startstops)},
                   {Value("op"), Value(kOp)},
                   {Value("stimulus_id"), Value(stimulus_id)},
                   {Value("status"), Value("OK")}});
}

Value TaskErred::ToValue() const {
  return Value(Map{{Value("key"), key.ToValue()},
                   {Value("run_id"), Value(run_id)},
                   {Value("exception"), exception},
                   {Value("traceback"), traceback},
                   {Value("exception_text"), Value(exception_text)},
                   {Value("traceback_text"), Value(traceback_text)},
                   {Value("thread"), thread},
                   {Value("startstops"), StartStops(startstops)},
                   {Value("op"), Value(kOp)},
                   {Value("stimulus_id"), Value(stimulus_id)},
                   {Value("status"), Value("error")}});
}

}  // namespace dn
