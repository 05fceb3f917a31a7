#pragma once

// Shared by the files that implement SchedulerServer (scheduler_server.cc and
// scheduler_rpcs.cc); not for other code.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>

#include "protocol/msgpack/value.h"

namespace dn {

// Ops the comm loops handle themselves, before the dispatch tables (and listed with
// them by the handler inventory): HandleComm's, then the streams'.
inline constexpr std::string_view kRegisterClientOp = "register-client";
inline constexpr std::string_view kRegisterWorkerOp = "register-worker";
inline constexpr std::string_view kCloseCommOp = "close";
/// Ends a client or worker stream.
inline constexpr std::string_view kCloseStreamOp = "close-stream";
/// Awaited by the client's stream loop (SchedulerServer::UpdateGraph).
inline constexpr std::string_view kUpdateGraphOp = "update-graph";

/// The scheduler->client BatchedSend interval of stock distributed.
inline constexpr auto kClientBatchInterval = std::chrono::milliseconds(2);

inline const std::string* StrField(const Value& msg, std::string_view name) {
  const Value* v = msg.Find(name);
  return v ? v->str() : nullptr;
}

inline int64_t IntField(const Value& msg, std::string_view name, int64_t def) {
  const Value* v = msg.Find(name);
  const int64_t* i = v ? v->get_if<int64_t>() : nullptr;
  return i ? *i : def;
}

/// The CPUs a native worker reports in its metrics (`dask_native.cpus`); 0 if absent.
inline int64_t ReportedCpus(const Value& metrics) {
  const Value* ours = metrics.Find("dask_native");
  return ours ? IntField(*ours, "cpus", 0) : 0;
}

inline Value Field(const Value& msg, std::string_view name) {
  const Value* v = msg.Find(name);
  return v ? *v : Value();
}

inline std::string NewId(std::string_view prefix) {
  static std::mt19937_64 rng(std::random_device{}());
  char buf[64];
  uint64_t a = rng(), b = rng();
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>(a >> 16) & 0xffff, static_cast<unsigned>(a) & 0xffff,
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return std::string(prefix) + "-" + buf;
}

}  // namespace dn
