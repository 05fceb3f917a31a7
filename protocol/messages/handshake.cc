#include "protocol/messages/handshake.h"

#include <algorithm>

namespace dn {

Value Handshake::ToValue() const {
  Array py;
  for (int64_t v : python) py.emplace_back(v);
  Map m;
  m.push_back({Value("compression"), compression ? Value(*compression) : Value()});
  m.push_back({Value("python"), Value(std::move(py))});
  m.push_back({Value("pickle-protocol"), Value(pickle_protocol)});
  return Value(std::move(m));
}

Result<Handshake> Handshake::FromValue(const Value& v) {
  if (v.map() == nullptr) return Status::ProtocolError("handshake is not a map");
  Handshake h;
  const Value* comp = v.Find("compression");
  if (comp == nullptr) return Status::ProtocolError("handshake lacks 'compression'");
  if (const std::string* s = comp->str()) {
    h.compression = *s;
  } else if (!comp->is_nil()) {
    return Status::ProtocolError("handshake 'compression' is neither str nor nil");
  }
  const Value* proto = v.Find("pickle-protocol");
  const int64_t* p = proto ? proto->get_if<int64_t>() : nullptr;
  if (p == nullptr) {
    return Status::ProtocolError(
        "handshake lacks an int 'pickle-protocol' (dask versions may not be in sync)");
  }
  h.pickle_protocol = *p;
  h.python.clear();
  if (const Value* py = v.Find("python"); py && py->array()) {
    for (const Value& x : *py->array()) {
      if (const int64_t* i = x.get_if<int64_t>()) h.python.push_back(*i);
    }
  }
  return h;
}

CommSettings Negotiate(const Handshake& local, const Handshake& remote) {
  CommSettings s;
  s.pickle_protocol = std::min(local.pickle_protocol, remote.pickle_protocol);
  if (local.compression == remote.compression) s.compression = local.compression;
  return s;
}

}  // namespace dn
