// dn-kernels-benchmark: the native kernels behind the seed workload, one 2000x2000
// float64 chunk at a time, on one core: what a worker's task costs before any
// scheduling. Compare with bench/array_bench.py's per-chunk share of the wall time.
#include <benchmark/benchmark.h>

#include <numeric>
#include <vector>

#include "common/page_pool.h"
#include "worker/native/kernels.h"
#include "worker/native/random.h"
#include "worker/native/reduce.h"

namespace {

constexpr int64_t kSide = 2000;

std::vector<uint32_t> Key() {
  std::vector<uint32_t> key(624);
  std::iota(key.begin(), key.end(), 7u);
  return key;
}

// The whole random chunk task: seeding from dask's 624-word key, a buffer from the
// page pool, the fill.
void BM_RandomChunk(benchmark::State& state) {
  std::vector<uint32_t> key = Key();
  for (auto _ : state) {
    auto chunk = dn::native::RandomChunk("random_sample", key.data(), 624, {kSide, kSide}, {});
    benchmark::DoNotOptimize(chunk->data.data());
  }
  state.SetBytesProcessed(state.iterations() * kSide * kSide * 8);
}
BENCHMARK(BM_RandomChunk)->Unit(benchmark::kMillisecond);

// numpy's pairwise summation of one chunk, as `chunk.sum(keepdims=True)` does it.
void BM_PairwiseSum(benchmark::State& state) {
  std::vector<double> a(kSide * kSide, 0.5);
  for (auto _ : state) {
    benchmark::DoNotOptimize(dn::native::PairwiseSum(a.data(), kSide * kSide, 1));
  }
  state.SetBytesProcessed(state.iterations() * kSide * kSide * 8);
}
BENCHMARK(BM_PairwiseSum)->Unit(benchmark::kMillisecond);

// The reduction kernel on an NdArray (axis=None, keepdims=True), as the evaluator
// calls it.
void BM_ReduceSum(benchmark::State& state) {
  std::vector<uint32_t> key = Key();
  dn::native::NdArray x =
      *dn::native::RandomChunk("random_sample", key.data(), 624, {kSide, kSide}, {});
  dn::native::ReduceSpec spec{"sum", {0, 1}, true, std::nullopt};
  for (auto _ : state) {
    auto r = dn::native::Reduce(x, spec);
    benchmark::DoNotOptimize(r->data.data());
  }
  state.SetBytesProcessed(state.iterations() * kSide * kSide * 8);
}
BENCHMARK(BM_ReduceSum)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  // As in a worker: freed chunk pages are pooled for the next chunk.
  dn::PagePool::Global().SetCapacity(size_t{1} << 30);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
