// dn-machine-limits: what this machine can do at best for the seed workload, measured
// rather than assumed, so bench/array_bench.py can say how far a run is from the limit.
//
// Prints one JSON object:
//   mt19937_doubles_per_s   one core generating RandomState.random_sample doubles
//   read_gb_per_s           memory read bandwidth, all cores (summing a 1 GiB array)
//   write_gb_per_s          memory write bandwidth, all cores (filling fresh pages)
//   cores                   hardware threads TBB sees
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <vector>

#include "worker/native/random.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double Mt19937Rate() {
  std::vector<uint32_t> key(624);
  std::iota(key.begin(), key.end(), 1u);
  const int64_t n = 4'000'000;  // one 2000x2000 chunk
  std::vector<double> out(n);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    dn::native::Mt19937 rng;
    rng.InitByArray(key.data(), key.size());
    auto t0 = std::chrono::steady_clock::now();
    rng.FillRandomSample(out.data(), n);
    best = std::max(best, n / Seconds(t0));
  }
  return best + out[n / 2] * 0;  // keep the fill observable
}

}  // namespace

int main() {
  const int cores = tbb::info::default_concurrency();
  const size_t bytes = size_t{1} << 30;
  const size_t n = bytes / sizeof(double);

  double mt = Mt19937Rate();

  // Write bandwidth on fresh pages (page faults included, as a new chunk pays them).
  double write_gbs = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::unique_ptr<double[]> fresh(new double[n]);
    auto t0 = std::chrono::steady_clock::now();
    tbb::parallel_for(tbb::blocked_range<size_t>(0, n, 1 << 16), [&](const tbb::blocked_range<size_t>& r) {
      std::memset(fresh.get() + r.begin(), 0, (r.end() - r.begin()) * sizeof(double));
    });
    write_gbs = std::max(write_gbs, bytes / Seconds(t0) / 1e9);
    if (rep == 2) {
      double read_gbs = 0;
      for (int k = 0; k < 3; ++k) {
        auto t1 = std::chrono::steady_clock::now();
        double s = tbb::parallel_reduce(
            tbb::blocked_range<size_t>(0, n, 1 << 16), 0.0,
            [&](const tbb::blocked_range<size_t>& r, double acc) {
              for (size_t i = r.begin(); i < r.end(); ++i) acc += fresh[i];
              return acc;
            },
            [](double a, double b) { return a + b; });
        read_gbs = std::max(read_gbs, bytes / Seconds(t1) / 1e9 + s * 0);
      }
      std::printf("{\"mt19937_doubles_per_s\": %.0f, \"read_gb_per_s\": %.2f, \"write_gb_per_s\": %.2f, "
                  "\"cores\": %d}\n", mt, read_gbs, write_gbs, cores);
    }
  }
  return 0;
}
