// dask-native-scheduler: the flags of `dask scheduler` that users and the dask Helm
// chart pass -> ServerConfig -> GraphIngestor + SchedulerServer on one event loop.
#include <algorithm>
#include <utility>

#include <boost/asio.hpp>
#include <boost/program_options.hpp>

#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "common/dask_config.h"
#include "scheduler/server/scheduler_server.h"

namespace po = boost::program_options;

namespace {

// "host:port", ":port" or "port" (as dask's --dashboard-address accepts).
bool ParsePortSpec(const std::string& spec, uint16_t* port) {
  std::string p = spec.substr(spec.rfind(':') == std::string::npos ? 0 : spec.rfind(':') + 1);
  try {
    int v = std::stoi(p);
    if (v < 0 || v > 65535) return false;
    *port = static_cast<uint16_t>(v);
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("dask-native-scheduler options (a subset of `dask scheduler`)");
  opts.add_options()("help,h", "show this help")(
      "host", po::value<std::string>()->default_value("0.0.0.0"), "address to listen on")(
      "port", po::value<int>()->default_value(8786), "port to listen on (0: any)")(
      "dashboard-address", po::value<std::string>()->default_value(":8787"), "dashboard address")(
      "dashboard", "serve the dashboard (default)")("no-dashboard", "do not serve the dashboard")(
      "scheduler-file", po::value<std::string>(), "write scheduler info to this JSON file")(
      "idle-timeout", po::value<std::string>(),
      "close after this long with no clients and no work (e.g. 1h)")(
      "pid-file", po::value<std::string>(), "write the process id to this file")(
      "protocol", po::value<std::string>(), "only tcp is supported")(
      "python", po::value<std::string>(),
      "the Python environment's interpreter to embed (default: $DN_PYTHON, the active "
      "venv or conda env, python3 beside this binary, python3 on PATH)")(
      "validate", "check every state machine invariant after each stimulus (tests)")(
      "list-handlers",
      "print the RPC and stream ops served and refused on purpose, as JSON, and exit");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::fprintf(
        stderr,
        "dask-native-scheduler: %s\n(unsupported flags are refused, not ignored; see --help)\n",
        e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  if (vm.count("list-handlers")) {
    std::cout << dn::SchedulerServer::HandlersJson() << "\n";
    return 0;
  }
  if (vm.count("protocol") && vm["protocol"].as<std::string>() != "tcp") {
    std::fprintf(stderr, "dask-native-scheduler: --protocol %s is not supported (tcp only)\n",
                 vm["protocol"].as<std::string>().c_str());
    return 2;
  }
  dn::ServerConfig config;
  config.host = vm["host"].as<std::string>();
  int port = vm["port"].as<int>();
  if (port < 0 || port > 65535) {
    std::fprintf(stderr, "dask-native-scheduler: bad --port %d\n", port);
    return 2;
  }
  config.port = static_cast<uint16_t>(port);
  if (!ParsePortSpec(vm["dashboard-address"].as<std::string>(), &config.dashboard_port)) {
    std::fprintf(stderr, "dask-native-scheduler: bad --dashboard-address\n");
    return 2;
  }
  if (vm.count("scheduler-file")) config.scheduler_file = vm["scheduler-file"].as<std::string>();
  if (vm.count("idle-timeout")) {
    double secs = 0;
    if (!dn::ParseDuration(vm["idle-timeout"].as<std::string>(), &secs)) {
      std::fprintf(stderr, "dask-native-scheduler: bad --idle-timeout '%s' (e.g. 3600, 30s, 1h)\n",
                   vm["idle-timeout"].as<std::string>().c_str());
      return 2;
    }
    config.idle_timeout_s = secs;
  }
  config.state.validate = vm.count("validate") > 0 || std::getenv("DN_VALIDATE") != nullptr;
  // dask config keys, set as stock reads them from DASK_* variables.
  auto count = [](const char* key, int64_t* out) {
    auto v = dn::DaskConfigFromEnv(key);
    if (!v) return true;
    if (dn::ParseConfigInt(*v, out) && *out >= 0) return true;
    std::fprintf(stderr, "dask-native-scheduler: bad %s '%s'\n", key, v->c_str());
    return false;
  };
  int64_t allowed_failures = config.state.allowed_failures;
  int64_t log_length = static_cast<int64_t>(config.state.transition_log_length);
  if (!count("distributed.scheduler.allowed-failures", &allowed_failures) ||
      !count("distributed.admin.low-level-log-length", &log_length)) {
    return 2;
  }
  config.state.allowed_failures = static_cast<int>(allowed_failures);
  config.state.transition_log_length = static_cast<size_t>(log_length);
  // The task stream keeps as many records as stock's TaskStreamPlugin: the larger of
  // the dashboard's two task-stream lengths.
  int64_t stream_status = 1000, stream_tasks = 100000;
  if (!count("distributed.scheduler.dashboard.status.task-stream-length", &stream_status) ||
      !count("distributed.scheduler.dashboard.tasks.task-stream-length", &stream_tasks)) {
    return 2;
  }
  config.task_stream_length = static_cast<size_t>(std::max(stream_status, stream_tasks));
  if (auto v = dn::DaskConfigFromEnv("distributed.scheduler.worker-ttl")) {
    double secs = 0;
    if (*v == "None" || *v == "null" || v->empty()) {
      config.worker_ttl_s = 0;  // never time out
    } else if (dn::ParseDuration(*v, &secs)) {
      config.worker_ttl_s = secs;
    } else {
      std::fprintf(stderr, "dask-native-scheduler: bad distributed.scheduler.worker-ttl '%s'\n",
                   v->c_str());
      return 2;
    }
  }
  if (dn::Status st = dn::ReadLocksConfig(&config.locks); !st.ok()) {
    std::fprintf(stderr, "dask-native-scheduler: %s\n", st.message().c_str());
    return 2;
  }
  if (vm.count("pid-file")) std::ofstream(vm["pid-file"].as<std::string>()) << getpid() << "\n";

  auto env = dn::ResolvePythonEnvironment(vm.count("python") ? vm["python"].as<std::string>() : "");
  if (!env.ok()) {
    std::fprintf(stderr, "dask-native-scheduler: %s\n", env.status().message().c_str());
    return 1;
  }
  auto ingestor = dn::GraphIngestor::Start(*env);
  if (!ingestor.ok()) {
    std::fprintf(stderr, "dask-native-scheduler: %s\n", ingestor.status().message().c_str());
    return 1;
  }
  boost::asio::io_context io(1);
  dn::SchedulerServer server(io, config, ingestor.MoveValueUnsafe());
  dn::Status st = server.Start();
  if (!st.ok()) {
    std::fprintf(stderr, "dask-native-scheduler: %s\n", st.ToString().c_str());
    return 1;
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) { server.Stop(); });
  std::fprintf(stderr, "dask-native-scheduler: Scheduler at: %s\n", server.address().c_str());
  std::fprintf(stderr, "dask-native-scheduler: dashboard at: :%d\n", config.dashboard_port);
  io.run();
  return 0;
}
