// The refusal tables of dask-native-worker and its nanny. Keep docs/known-gaps.md
// ("Refused on purpose") in step: the inventory test checks every entry is there.
#include "worker/server/worker_refusals.h"

namespace dn {
namespace {

constexpr std::string_view kPlugins = "worker plugins and upload_file";
constexpr std::string_view kPluginsWhy =
    "plugins need a Python Worker object the native worker does not have yet (issue 19)";
constexpr std::string_view kBenchmark = "benchmark_hardware";
constexpr std::string_view kBenchmarkWhy = "no hardware benchmarks on the native worker (issue 19)";
constexpr std::string_view kProfile = "profiling";
constexpr std::string_view kProfileWhy = "no statistical profiler on the native worker (issue 19)";
constexpr std::string_view kActors = "actors";
constexpr std::string_view kActorsWhy = "actors are not supported (issue 19)";

constexpr RefusedOp kRpcs[] = {
    {"actor_execute", kActors, kActorsWhy},
    {"actor_attribute", kActors, kActorsWhy},
    {"plugin-add", kPlugins, kPluginsWhy},
    {"plugin-remove", kPlugins, kPluginsWhy},
    {"upload_file", kPlugins, kPluginsWhy},
    {"get_logs", "scheduler and worker logs", "the binaries keep no log deque to serve (issue 19)"},
    {"profile", kProfile, kProfileWhy},
    {"profile_metadata", kProfile, kProfileWhy},
    {"get_monitor_info", "the worker's system monitor",
     "the native worker keeps no monitor history; its metrics go in heartbeats"},
    {"benchmark_disk", kBenchmark, kBenchmarkWhy},
    {"benchmark_memory", kBenchmark, kBenchmarkWhy},
    {"benchmark_network", kBenchmark, kBenchmarkWhy},
    {"dump_state", "cluster state dumps", "no stock-shaped state dump yet"},
    {"connection_stream", "connection_stream", "a raw batched stream; only stock's tests open one"},
    {"run_coroutine", "run_coroutine", "a legacy op stock distributed no longer calls"},
};

// The native nanny (worker/main.cc RunNanny) only restarts a worker process that died;
// native workers register with nanny=None, so the scheduler never calls it.
constexpr std::string_view kNannyWhy =
    "the native nanny is a process supervisor with no listener (issue 19)";

constexpr RefusedOp kNannyRpcs[] = {
    {"kill", "restart through the nanny", kNannyWhy},
    {"restart", "restart through the nanny", kNannyWhy},
    {"instantiate", "restart through the nanny", kNannyWhy},
    {"plugin_add", "nanny plugins", kNannyWhy},
    {"plugin_remove", "nanny plugins", kNannyWhy},
    {"run", "client.run(nanny=True)", kNannyWhy},
    {"get_logs", "scheduler and worker logs", kNannyWhy},
    {"terminate", "closing a worker through its nanny", kNannyWhy},
    {"close_gracefully", "closing a worker through its nanny", kNannyWhy},
    {"identity", "the nanny's RPC server", kNannyWhy},
    {"echo", "the nanny's RPC server", kNannyWhy},
    {"dump_state", "the nanny's RPC server", kNannyWhy},
    {"connection_stream", "the nanny's RPC server", kNannyWhy},
};

}  // namespace

std::span<const RefusedOp> WorkerRefusedRpcs() { return kRpcs; }
std::span<const RefusedOp> WorkerRefusedStreamOps() { return {}; }
std::span<const RefusedOp> NannyRefusedRpcs() { return kNannyRpcs; }

}  // namespace dn
