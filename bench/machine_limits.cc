// dn-machine-limits: what this machine can do at best for the seed workload, measured
// rather than assumed, so bench/array_bench.py can say how far a run is from the limit.
//
// Prints one JSON object:
//   mt19937_doubles_per_s   one core generating RandomState.random_sample doubles
//   read_gb_per_s           memory read bandwidth, all cores, summing 1 GiB as numpy's
//                           pairwise sum does (the seed's reduction)
//   write_fresh_gb_per_s    memory write bandwidth, all cores, on pages new to the process
//   write_reused_gb_per_s   the same on pages the process already maps (a pooled chunk)
//   seed_generate_s         the seed's 100 chunks of 2000^2 generated on all cores into
//                           already-mapped buffers, as a worker with pooled pages does
//   seed_sum_s              then summed, chunk by chunk, on all cores
//   cores                   hardware threads TBB sees
//
// seed_generate_s + seed_sum_s is the seed workload's floor here: no scheduling, no
// messages, every core busy, no page ever faulted in.
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <vector>

#include "worker/native/pairwise_sum.h"
#include "worker/native/random.h"

namespace {

using dn::native::Mt19937;
using dn::native::PairwiseSumContiguous;

constexpr int64_t kChunk = 2000 * 2000;
constexpr int kSeedChunks = 100;

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <typename F>
double BestOf(int reps, F f) {
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, Seconds(t0));
  }
  return best;
}

std::vector<uint32_t> KeyFor(int chunk) {
  std::vector<uint32_t> key(624);  // dask's random_state_data gives each chunk 624 words
  std::iota(key.begin(), key.end(), static_cast<uint32_t>(chunk) * 624u + 1u);
  return key;
}

void Fill(double* out, int chunk) {
  Mt19937 rng;
  std::vector<uint32_t> key = KeyFor(chunk);
  rng.InitByArray(key.data(), key.size());
  rng.FillRandomSample(out, kChunk);
}

double SumAll(const std::vector<double*>& chunks, int64_t n) {
  return tbb::parallel_reduce(
      tbb::blocked_range<size_t>(0, chunks.size(), 1), 0.0,
      [&](const tbb::blocked_range<size_t>& r, double acc) {
        for (size_t i = r.begin(); i < r.end(); ++i) acc += PairwiseSumContiguous(chunks[i], n);
        return acc;
      },
      [](double a, double b) { return a + b; });
}

}  // namespace

int main() {
  const int cores = tbb::info::default_concurrency();
  volatile double sink = 0;

  std::vector<double> one(kChunk);
  const double mt = kChunk / BestOf(5, [&] { Fill(one.data(), 0); });

  // Bandwidths over 1 GiB in 32 MB pieces, one piece per task.
  const int pieces = 32;
  const size_t bytes = size_t{pieces} * kChunk * sizeof(double);
  double write_fresh = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::unique_ptr<double[]> fresh(new double[size_t{pieces} * kChunk]);
    auto t0 = std::chrono::steady_clock::now();
    tbb::parallel_for(0, pieces, [&](int p) {
      std::memset(fresh.get() + p * kChunk, 0, kChunk * sizeof(double));
    });
    write_fresh = std::max(write_fresh, bytes / Seconds(t0) / 1e9);
  }
  // Page-aligned, as the worker's chunk buffers are: its fill streams aligned output
  // past the caches (random.cc), which an unaligned malloc block would not get.
  std::vector<std::unique_ptr<double, decltype(&std::free)>> seed;
  std::vector<double*> chunks;
  for (int i = 0; i < kSeedChunks; ++i) {
    auto& c = seed.emplace_back(
        static_cast<double*>(std::aligned_alloc(4096, kChunk * sizeof(double))), &std::free);
    std::memset(c.get(), 0, kChunk * sizeof(double));  // mapped once, as pooled pages are
    chunks.push_back(c.get());
  }
  const double write_reused = bytes / 1e9 / BestOf(3, [&] {
                                tbb::parallel_for(0, pieces, [&](int p) {
                                  std::memset(chunks[p], 1, kChunk * sizeof(double));
                                });
                              });
  std::vector<double*> gib(chunks.begin(), chunks.begin() + pieces);
  const double read = bytes / 1e9 / BestOf(3, [&] { sink = sink + SumAll(gib, kChunk); });

  const double generate_s =
      BestOf(3, [&] { tbb::parallel_for(0, kSeedChunks, [&](int c) { Fill(chunks[c], c); }); });
  const double sum_s = BestOf(3, [&] { sink = sink + SumAll(chunks, kChunk); });

  std::printf(
      "{\"mt19937_doubles_per_s\": %.0f, \"read_gb_per_s\": %.2f, \"write_fresh_gb_per_s\": %.2f, "
      "\"write_reused_gb_per_s\": %.2f, \"seed_generate_s\": %.3f, \"seed_sum_s\": %.3f, "
      "\"cores\": %d}\n",
      mt, read, write_fresh, write_reused, generate_s, sum_s, cores);
  return 0;
}
