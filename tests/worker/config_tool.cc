// dn-worker-config-tool: reads "spec|nthreads|total_cores|system_limit" lines on stdin
// and prints ParseMemoryLimit's answer per line ("None", a number, or "ERR ...") for
// tests/worker/test_memory_limit.py to compare with distributed's parse_memory_limit.
#include <iostream>
#include <sstream>
#include <string>

#include "worker/config/memory_limit.h"

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::stringstream ss(line);
    std::string spec, nthreads, cores, sys;
    std::getline(ss, spec, '|');
    std::getline(ss, nthreads, '|');
    std::getline(ss, cores, '|');
    std::getline(ss, sys, '|');
    auto r = dn::ParseMemoryLimit(spec, std::stoll(nthreads), std::stoll(cores), std::stoll(sys));
    if (!r.ok()) {
      std::cout << "ERR " << r.status().message() << "\n";
    } else if (!r->has_value()) {
      std::cout << "None\n";
    } else {
      std::cout << **r << "\n";
    }
  }
  return 0;
}
