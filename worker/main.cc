// dask-native-worker SCHEDULER_ADDRESS: the flags of `dask worker` -> WorkerConfig ->
// PythonRuntime + WorkerServer on one event loop.
#include <utility>

#include <boost/asio.hpp>
#include <boost/program_options.hpp>

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/dask_config.h"
#include "worker/config/memory_limit.h"
#include "worker/config/worker_environ.h"
#include "worker/server/worker_server.h"

namespace po = boost::program_options;

namespace {

// A worker that cannot start its Python environment exits with this (sysexits'
// EX_CONFIG), and its nanny gives up instead of restarting it: a restart cannot help.
constexpr int kExitBadEnvironment = 78;

volatile sig_atomic_t g_stop_signal = 0;
void OnStopSignal(int sig) { g_stop_signal = sig; }

// The nanny: run the worker as a child process and start a new one when it dies
// unexpectedly (a task that calls os._exit, a segfault), as `dask worker`'s Nanny does,
// so the scheduler sees each death and ends such tasks with KilledWorker. A clean exit
// (status 0: the scheduler closed it, or a signal we forwarded) ends the nanny too.
int RunNanny(int argc, char** argv) {
  // No SA_RESTART: waitpid must return on a signal so it can be forwarded.
  struct sigaction sa{};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::vector<char*> child_argv(argv, argv + argc);
  char no_nanny[] = "--no-nanny";
  child_argv.push_back(no_nanny);
  child_argv.push_back(nullptr);
  while (true) {
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("dask-native-worker: fork");
      return 1;
    }
    if (pid == 0) {
      execv("/proc/self/exe", child_argv.data());
      std::perror("dask-native-worker: exec");
      _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
      if (g_stop_signal) kill(pid, SIGTERM);
    }
    if (g_stop_signal) return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == dn::WorkerServer::kExitGaveUp) return 1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == kExitBadEnvironment) return 1;
    std::fprintf(stderr, "dask-native-worker (nanny): worker process died (%s %d); restarting\n",
                 WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    if (g_stop_signal) return 0;
  }
}

// The environment stock's Nanny gives its worker (distributed.nanny.pre-spawn-environ
// and .environ), set before anything reads it: the embedded Python and the BLAS numpy
// loads read it at start-up, and the nanny's worker process inherits it. Set with or
// without a nanny: a worker process is what needs it. False on a malformed config.
bool ApplyWorkerEnviron() {
  auto getenv = [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  auto config = [](std::string_view key) { return dn::DaskConfigFromEnv(key); };
  dn::Result<std::vector<std::pair<std::string, std::string>>> vars =
      dn::WorkerEnviron(getenv, config);
  if (!vars.ok()) {
    std::fprintf(stderr, "dask-native-worker: %s\n", vars.status().ToString().c_str());
    return false;
  }
  for (const auto& [name, value] : *vars) setenv(name.c_str(), value.c_str(), 1);
  // glibc reads MALLOC_TRIM_THRESHOLD_ only when the process starts: a worker without
  // a nanny applies it itself. Freed memory goes back to the OS promptly; without it
  // glibc keeps freed chunk-sized blocks, process memory never falls after spilling,
  // and a paused worker stays paused.
  int64_t trim = 0;
  if (const char* t = std::getenv("MALLOC_TRIM_THRESHOLD_");
      t != nullptr && dn::ParseConfigInt(t, &trim) && trim >= 0 &&
      trim <= std::numeric_limits<int>::max()) {
    mallopt(M_TRIM_THRESHOLD, static_cast<int>(trim));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (!ApplyWorkerEnviron()) return 2;
  po::options_description opts("dask-native-worker options (a subset of `dask worker`)");
  opts.add_options()("help,h", "show this help")("scheduler", po::value<std::string>(),
                                                 "scheduler address, e.g. tcp://host:8786")(
      "nthreads", po::value<int>()->default_value(1), "threads for tasks")(
      "memory-limit", po::value<std::string>()->default_value("auto"),
      "bytes, fraction, 'auto' or 0")("name", po::value<std::string>(),
                                      "worker name (default: its address)")(
      "host", po::value<std::string>(), "address to listen on and advertise")(
      "listen-address", po::value<std::string>(), "tcp://host:port to listen on")(
      "contact-address", po::value<std::string>(), "tcp://host:port to advertise")(
      "dashboard-address", po::value<std::string>(), "accepted; no worker dashboard yet")(
      "no-dashboard", "no worker dashboard")("dashboard", "accepted; no worker dashboard yet")(
      "death-timeout", po::value<double>(), "seconds to keep trying to reach the scheduler")(
      "local-directory", po::value<std::string>()->default_value("/tmp"), "scratch space")(
      "nanny", "restart the worker process when it dies (the default)")(
      "no-nanny", "run the worker in this process, without a restarting parent")(
      "resources", po::value<std::string>(), "e.g. 'GPU=2 MEM=10e9'")(
      "python", po::value<std::string>(),
      "the Python environment's interpreter to embed (default: $DN_PYTHON, the active "
      "venv or conda env, python3 beside this binary, python3 on PATH)")(
      "validate", "check every task state machine invariant after each event (tests)")(
      "list-handlers",
      "print the RPC and stream ops served and refused on purpose (the worker's and its "
      "nanny's), as JSON, and exit");
  po::positional_options_description pos;
  pos.add("scheduler", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dask-native-worker: %s\n(unsupported flags are refused; see --help)\n",
                 e.what());
    return 2;
  }
  if (vm.count("list-handlers")) {
    std::cout << dn::WorkerServer::HandlersJson() << "\n";
    return 0;
  }
  if (vm.count("help") || !vm.count("scheduler")) {
    std::cout << "usage: dask-native-worker SCHEDULER_ADDRESS [options]\n" << opts << "\n";
    return vm.count("help") ? 0 : 2;
  }
  if (!vm.count("no-nanny")) return RunNanny(argc, argv);

  dn::WorkerConfig config;
  config.scheduler_address = vm["scheduler"].as<std::string>();
  if (config.scheduler_address.find("://") == std::string::npos) {
    config.scheduler_address = "tcp://" + config.scheduler_address;
  }
  config.nthreads = std::max(1, vm["nthreads"].as<int>());
  config.cpu_limit = dn::CpuLimit();
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  auto limit = dn::ParseMemoryLimit(vm["memory-limit"].as<std::string>(), config.nthreads, cores,
                                    dn::SystemMemoryLimit());
  if (!limit.ok()) {
    std::fprintf(stderr, "dask-native-worker: --memory-limit: %s\n",
                 limit.status().message().c_str());
    return 2;
  }
  config.memory_limit = *limit;
  if (vm.count("name")) config.name = dn::Value(vm["name"].as<std::string>());
  if (vm.count("host")) config.listen_host = config.contact_host = vm["host"].as<std::string>();
  for (const char* flag : {"listen-address", "contact-address"}) {
    if (!vm.count(flag)) continue;
    auto hp = dn::ParseTcpAddress(vm[flag].as<std::string>());
    if (!hp.ok()) {
      std::fprintf(stderr, "dask-native-worker: --%s: %s\n", flag, hp.status().message().c_str());
      return 2;
    }
    if (std::string(flag) == "listen-address") {
      config.listen_host = hp->first;
      config.listen_port = hp->second;
    } else {
      config.contact_host = hp->first;
    }
  }
  if (vm.count("death-timeout")) config.death_timeout_s = vm["death-timeout"].as<double>();
  config.validate = vm.count("validate") > 0 || std::getenv("DN_VALIDATE") != nullptr;
  config.local_directory = vm["local-directory"].as<std::string>();
  if (vm.count("resources")) {
    std::string spec = vm["resources"].as<std::string>();
    size_t pos = 0;
    while (pos < spec.size()) {
      size_t end = spec.find_first_of(" ,", pos);
      std::string item = spec.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? spec.size() : end + 1;
      if (item.empty()) continue;
      size_t eq = item.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "dask-native-worker: bad --resources item '%s'\n", item.c_str());
        return 2;
      }
      config.resources.push_back(
          {dn::Value(item.substr(0, eq)), dn::Value(std::stod(item.substr(eq + 1)))});
    }
  }
  auto env = dn::ResolvePythonEnvironment(vm.count("python") ? vm["python"].as<std::string>() : "");
  if (!env.ok()) {
    std::fprintf(stderr, "dask-native-worker: %s\n", env.status().message().c_str());
    return kExitBadEnvironment;
  }
  auto python = dn::PythonRuntime::Start(*env, config.nthreads);
  if (!python.ok()) {
    std::fprintf(stderr, "dask-native-worker: %s\n", python.status().message().c_str());
    return kExitBadEnvironment;
  }
  boost::asio::io_context io(1);
  dn::WorkerServer server(io, config, python.MoveValueUnsafe());
  dn::Status st = server.Start();
  if (!st.ok()) {
    std::fprintf(stderr, "dask-native-worker: %s\n", st.ToString().c_str());
    return 1;
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) { server.CloseGracefully(); });
  io.run();
  return server.exit_code();
}
