// The refusal tables of dask-native-scheduler. Keep docs/known-gaps.md ("Refused on
// purpose") in step: the inventory test checks every entry is there.
#include "scheduler/server/scheduler_refusals.h"

namespace dn {
namespace {

constexpr std::string_view kUserCode =
    "user code on the scheduler (scheduler plugins, run_on_scheduler, get_task_metadata)";
constexpr std::string_view kUserCodeWhy =
    "dask-native's scheduler runs no user code; an opt-in switch is issue 19";
constexpr std::string_view kPlugins = "worker and nanny plugins (register_plugin, upload_file)";
constexpr std::string_view kPluginsWhy =
    "plugins are not stored or forwarded to workers yet (issue 19)";
constexpr std::string_view kLogs = "scheduler and worker logs";
constexpr std::string_view kLogsWhy = "the binaries keep no log deque to serve (issue 19)";
constexpr std::string_view kAdaptive = "adaptive scaling";
constexpr std::string_view kAdaptiveWhy =
    "no adaptive_target or workers_to_close policy yet (issue 19)";
constexpr std::string_view kDumps = "cluster state dumps";
constexpr std::string_view kDumpsWhy = "no stock-shaped state dump yet";
constexpr std::string_view kShuffle = "P2P shuffle and rechunk";
constexpr std::string_view kShuffleWhy =
    "no shuffle plugin on the scheduler (issue 20); method=\"tasks\" works";

constexpr RefusedOp kRpcs[] = {
    {"restart", "restart",
     "restarting needs the nanny RPCs, which the native nanny lacks (issue 19)"},
    {"restart_workers", "restart",
     "restarting needs the nanny RPCs, which the native nanny lacks (issue 19)"},
    {"feed", "progress feeds (progress(), the stock progress bars)",
     "a feed runs pickled functions on the scheduler; a native feed is issue 19"},
    {"performance_report", "performance_report",
     "stock builds Bokeh HTML on the scheduler; a native report is issue 19"},
    {"run_function", kUserCode, kUserCodeWhy},
    {"register_scheduler_plugin", kUserCode, kUserCodeWhy},
    {"unregister_scheduler_plugin", kUserCode, kUserCodeWhy},
    {"start_task_metadata", kUserCode, kUserCodeWhy},
    {"stop_task_metadata", kUserCode, kUserCodeWhy},
    {"register_worker_plugin", kPlugins, kPluginsWhy},
    {"unregister_worker_plugin", kPlugins, kPluginsWhy},
    {"register_nanny_plugin", kPlugins, kPluginsWhy},
    {"unregister_nanny_plugin", kPlugins, kPluginsWhy},
    {"rebalance", "rebalance and replicate", "no memory rebalancing yet (issue 19)"},
    {"replicate", "rebalance and replicate", "no memory rebalancing yet (issue 19)"},
    {"amm_handler", "the active memory manager", "there is no active memory manager (issue 19)"},
    {"profile", "profiling", "no statistical profiler on the scheduler or the workers (issue 19)"},
    {"get_logs", kLogs, kLogsWhy},
    {"logs", kLogs, kLogsWhy},
    {"worker_logs", kLogs, kLogsWhy},
    {"adaptive_target", kAdaptive, kAdaptiveWhy},
    {"workers_to_close", kAdaptive, kAdaptiveWhy},
    {"check_idle", kAdaptive, kAdaptiveWhy},
    {"benchmark_hardware", "benchmark_hardware", "the workers serve no benchmark RPCs (issue 19)"},
    {"memory_sampler_start", "MemorySampler", "no memory sampler extension (issue 19)"},
    {"memory_sampler_stop", "MemorySampler", "no memory sampler extension (issue 19)"},
    {"get_runspec", "recreate_error_locally and recreate_task_locally",
     "no replay-tasks extension (issue 19)"},
    {"get_error_cause", "recreate_error_locally and recreate_task_locally",
     "no replay-tasks extension (issue 19)"},
    {"proxy", "actors", "actors are not supported (issue 19)"},
    {"get_cluster_state", kDumps, kDumpsWhy},
    {"dump_cluster_state_to_url", kDumps, kDumpsWhy},
    {"dump_state", kDumps, kDumpsWhy},
    {"get_task_prefix_states", "the dashboard's task-prefix states",
     "there is no dashboard yet (issue 21)"},
    {"set_resources", "Worker.set_resources", "resources are fixed when a worker registers"},
    {"update_data", "scatter(direct=True)",
     "registering data placed on workers directly is not implemented; scatter without "
     "direct=True works"},
    {"add_keys", "the add_keys RPC",
     "stock distributed no longer calls it; workers report keys with the add-keys stream "
     "op, which is served"},
    {"subscribe_worker_status", "deploy.Cluster's worker status feed",
     "no live worker-status comm yet (issue 19)"},
    {"connection_stream", "connection_stream", "a raw batched stream; only stock's tests open one"},
    {"shuffle_barrier", kShuffle, kShuffleWhy},
    {"shuffle_get", kShuffle, kShuffleWhy},
    {"shuffle_get_or_create", kShuffle, kShuffleWhy},
    {"shuffle_restrict_task", kShuffle, kShuffleWhy},
};

constexpr RefusedOp kClientOps[] = {
    {"update-data", "the update-data stream op",
     "stock distributed never sends it; scatter goes through the scatter RPC"},
};

constexpr RefusedOp kWorkerOps[] = {
    {"steal-response", "work stealing", "the scheduler does not steal work yet (issue 19)"},
    {"long-running", "secede() and long-running tasks",
     "a seceded task keeps counting towards its worker's occupancy"},
    {"reschedule", "distributed.Reschedule",
     "a task that raises Reschedule is not moved to another worker"},
};

}  // namespace

std::span<const RefusedOp> SchedulerRefusedRpcs() { return kRpcs; }
std::span<const RefusedOp> SchedulerRefusedClientOps() { return kClientOps; }
std::span<const RefusedOp> SchedulerRefusedWorkerOps() { return kWorkerOps; }

}  // namespace dn
