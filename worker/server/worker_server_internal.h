#pragma once

// Shared by the files that implement WorkerServer (worker_server.cc, worker_dispatch.cc,
// worker_fetch.cc, worker_values.cc, worker_execute.cc, worker_memory.cc); not for
// other code.

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "protocol/pickle/pickle_writer.h"
#include "protocol/serialize/bytes_serializer.h"
#include "worker/server/worker_server.h"

namespace dn {

// distributed.worker.memory defaults: spill managed data above `target`, spill by
// process memory above `spill`, pause above `pause` (the nanny's `terminate` at 95% is
// not implemented: see docs/known-gaps.md).
inline constexpr double kTargetFraction = 0.6;
inline constexpr double kSpillFraction = 0.7;
inline constexpr double kPauseFraction = 0.8;
// Freed chunk pages stay pooled for the next chunks (common/page_pool.h) up to half
// the memory limit (kPoolWithoutLimit for a worker without one), and go back to the
// system after this long unused.
inline constexpr double kPoolFraction = 0.5;
inline constexpr size_t kPoolWithoutLimit = size_t{2} << 30;
inline constexpr auto kPoolIdle = std::chrono::seconds(60);
// Threads that populate a pool miss's fresh pages together (PagePool::SetPopulateThreads).
inline constexpr int kMaxPopulateThreads = 4;

// Native tasks posted to the executor beyond its threads (WorkerStateOptions::run_ahead,
// approved by WorkerServer::MayRunAhead), while
// native tasks are short: the next task waits in the executor's queue, so a thread goes
// from one task to the next without waiting for the event loop to hear of the first and
// post the second, a wake-up each way. With 4-element chunks (~40 us a task) that round
// trip costs as much as the task: a 30k-chunk graph (40k tasks), interleaved pairs
// without/with: 7.05/6.77, 7.14/6.80, 6.99/6.81, 7.18/6.98, 7.59/7.24, 7.23/7.04 s
// (one of 8 pairs the other way). Tasks of milliseconds gain nothing, and a task queued
// ahead delays a better one that arrives meanwhile: with every task run ahead, the
// seed's cycles were ~1.5% slower (6 rounds of 16), and with this bound they are as before.
inline constexpr int kNativeLookahead = 1;
inline constexpr double kLookaheadBelowSeconds = 0.5e-3;

// DN_TRACE_NATIVE=1 logs each native task's duration and why a task ran in Python.
inline bool TraceNative() {
  static const bool trace = std::getenv("DN_TRACE_NATIVE") != nullptr;
  return trace;
}

/// Ends an RPC comm; handled by ServeComm's loop itself.
inline constexpr std::string_view kCloseCommOp = "close";
/// Ends the scheduler stream, like `close`.
inline constexpr std::string_view kCloseStreamOp = "close-stream";

/// "<what>-<wall time>", as stock's stimulus ids (f"{what}-{time()}"). std::to_chars,
/// not std::to_string, which goes through printf: it showed in the event loop's profile
/// (one per finished task).
inline std::string Stimulus(std::string_view what) {
  char digits[40];
  const auto [end, ec] =
      std::to_chars(digits, digits + sizeof digits, WallTime(), std::chars_format::fixed, 6);
  std::string out;
  out.reserve(what.size() + 1 + static_cast<size_t>(end - digits));
  out.append(what).push_back('-');
  out.append(digits, end);
  return out;
}

/// A task exception raised by the worker itself, not by the task's code: a pickled
/// `builtins.<type>(text)` the client raises as it would any task's exception.
inline Value WorkerException(std::string_view type, std::string_view text) {
  return Value(SerializeBytes(Buffer::FromString(PickleBuiltinException(type, text))));
}

/// A message's stimulus_id, or a new "<what>-<time>" one.
inline std::string StimulusOf(const Value& msg, std::string_view what) {
  const Value* sid = msg.Find("stimulus_id");
  if (sid != nullptr && sid->str() != nullptr) return *sid->str();
  return Stimulus(what);
}

/// A who_has map ({key: [addresses]}) as the state machine takes it.
inline worker::WhoHas WhoHasFrom(const Value* v) {
  worker::WhoHas out;
  if (v == nullptr || v->map() == nullptr) return out;
  for (const MapEntry& e : *v->map()) {
    auto k = Key::FromValue(e.key);
    if (!k.ok()) continue;
    std::vector<std::string> holders;
    if (const Array* a = e.value.array()) {
      for (const Value& h : *a) {
        if (const std::string* s = h.str()) holders.push_back(*s);
      }
    }
    out.emplace_back(k.MoveValueUnsafe(), std::move(holders));
  }
  return out;
}

/// A state machine event stamped with its stimulus id and the time it is handled.
template <typename E>
E WithStimulus(E ev, std::string stimulus_id) {
  ev.stimulus_id = std::move(stimulus_id);
  ev.timestamp = WallTime();
  return ev;
}

/// The process's resident memory, from /proc/self/statm.
inline int64_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  int64_t pages = 0, rss = 0;
  in >> pages >> rss;
  return rss * sysconf(_SC_PAGESIZE);
}

/// Run `fn` on the Python thread and resume with its result on the worker's loop.
template <typename T>
awaitable<T> WorkerServer::InPython(std::function<T()> fn) {
  // The job runs on a Python thread; its result is posted here and a timer wakes us.
  auto done = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
  auto slot = std::make_shared<std::optional<T>>();
  python_->Post([this, fn = std::move(fn), done, slot]() mutable {
    T value = fn();
    asio::post(io_, [done, slot, value = std::move(value)]() mutable {
      slot->emplace(std::move(value));
      done->cancel();
    });
  });
  while (!slot->has_value()) {
    boost::system::error_code ec;
    co_await done->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return std::move(**slot);
}

}  // namespace dn
