// The handler inventory's pure pieces: refusal lookup, the refusal reply and the JSON
// listing of `--list-handlers`.
#include "protocol/messages/handler_inventory.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "protocol/messages/message_codec.h"

namespace dn {

const RefusedOp* FindRefusedOp(std::span<const RefusedOp> table, std::string_view op) {
  for (const RefusedOp& r : table) {
    if (r.op == op) return &r;
  }
  return nullptr;
}

std::string RefusalText(const RefusedOp& refused, std::string_view server) {
  std::string text;
  text.append(refused.feature)
      .append(" is not available on ")
      .append(server)
      .append(" (op '")
      .append(refused.op)
      .append("'): ")
      .append(refused.reason);
  if (!text.empty() && text.back() != '.') text.push_back('.');
  text.append(" Refused on purpose; see docs/known-gaps.md.");
  return text;
}

Value RefusalReply(const RefusedOp& refused, std::string_view server) {
  return TypedErrorMessage("NotImplementedError", RefusalText(refused, server));
}

std::vector<std::string> DispatchInventory::Conflicts() const {
  std::vector<std::string> out;
  for (const RefusedOp& r : refused) {
    if (std::find(served.begin(), served.end(), r.op) != served.end()) out.emplace_back(r.op);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string JsonObject(std::span<const std::pair<std::string_view, std::string>> members) {
  std::string out = "{";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out += ", ";
    out += JsonString(members[i].first) + ": " + members[i].second;
  }
  return out + "}";
}

std::string DispatchInventory::ToJson() const {
  std::vector<std::string> names = served;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string list = "[";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) list += ", ";
    list += JsonString(names[i]);
  }
  list += "]";
  std::map<std::string_view, const RefusedOp*> by_op;
  for (const RefusedOp& r : refused) by_op.emplace(r.op, &r);
  std::vector<std::pair<std::string_view, std::string>> entries;
  for (const auto& [op, r] : by_op) {
    const std::pair<std::string_view, std::string> fields[] = {{"feature", JsonString(r->feature)},
                                                               {"reason", JsonString(r->reason)}};
    entries.emplace_back(op, JsonObject(fields));
  }
  const std::pair<std::string_view, std::string> members[] = {{"served", list},
                                                              {"refused", JsonObject(entries)}};
  return JsonObject(members);
}

bool RefusalLog::FirstTime(std::string_view op) {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_.emplace(op).second;
}

}  // namespace dn
