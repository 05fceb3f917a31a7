// Micro-benchmarks of the protocol hot paths on real captured bytes:
// framing, decoding a compute-task batch, and parsing the seed chunk task's run_spec.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "protocol/frame/frame_decoder.h"
#include "protocol/frame/frame_encoder.h"
#include "protocol/messages/message_codec.h"
#include "protocol/pickle/pickle_reader.h"
#include "protocol/pickle/pickle_writer.h"

namespace dn {
namespace {

std::filesystem::path Shared() {
  const char* env = std::getenv("DN_SHARED_DIR");
  return env ? env : DN_SHARED_DIR;
}

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "missing %s\n", p.c_str());
    std::abort();
  }
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void BM_DecodeFrame(benchmark::State& state) {
  std::string wire = ReadAll(Shared() / "vectors/wire/compute_task_with_dependencies.bin");
  for (auto _ : state) {
    FrameDecoder d;
    benchmark::DoNotOptimize(d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()));
    FramedMessage m = d.Pop();
    benchmark::DoNotOptimize(m.frames.data());
  }
  state.SetBytesProcessed(state.iterations() * wire.size());
}
BENCHMARK(BM_DecodeFrame);

// A batch of 10 compute-task messages (tuple keys, who_has, nbytes, pickled run_specs).
void BM_DecodeComputeTaskBatch(benchmark::State& state) {
  std::string wire = ReadAll(Shared() / "vectors/wire/compute_task_with_dependencies.bin");
  for (auto _ : state) {
    FrameDecoder d;
    benchmark::DoNotOptimize(d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()));
    FramedMessage m = d.Pop();
    auto v = DecodeMessage(m.frames);
    benchmark::DoNotOptimize(v.ok());
  }
  state.SetItemsProcessed(state.iterations() * 10);
}
BENCHMARK(BM_DecodeComputeTaskBatch);

void BM_DecodeComputeTask(benchmark::State& state) {
  std::string wire = ReadAll(Shared() / "vectors/wire/compute_task.bin");
  for (auto _ : state) {
    FrameDecoder d;
    benchmark::DoNotOptimize(d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()));
    FramedMessage m = d.Pop();
    auto v = DecodeMessage(m.frames);
    benchmark::DoNotOptimize(v.ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeComputeTask);

void BM_EncodeComputeTaskBatch(benchmark::State& state) {
  std::string wire = ReadAll(Shared() / "vectors/wire/compute_task_with_dependencies.bin");
  FrameDecoder d;
  (void)d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  Value v = DecodeMessage(d.Pop().frames).ValueOrDie();
  for (auto _ : state) {
    auto frames = EncodeMessage(v);
    benchmark::DoNotOptimize(frames.ok());
  }
  state.SetItemsProcessed(state.iterations() * 10);
}
BENCHMARK(BM_EncodeComputeTaskBatch);

// The seed workload's chunk task: _execute_subgraph{_apply_random, partial(np.sum)}.
void BM_ParseSeedChunkRunSpec(benchmark::State& state) {
  auto base = Shared() / "vectors/pickles/wire/compute-task__random_sample-sum__0.runspec";
  Buffer pkl = Buffer::FromString(ReadAll(base.string() + ".pkl"));
  Buffer buf0 = Buffer::FromString(ReadAll(base.string() + ".buf0"));
  for (auto _ : state) {
    auto tree = ReadPickle(pkl, {&buf0, 1});
    benchmark::DoNotOptimize(tree.ok());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * pkl.size());
}
BENCHMARK(BM_ParseSeedChunkRunSpec);

void BM_WriteSeedChunkRunSpec(benchmark::State& state) {
  auto base = Shared() / "vectors/pickles/wire/compute-task__random_sample-sum__0.runspec";
  Buffer pkl = Buffer::FromString(ReadAll(base.string() + ".pkl"));
  Buffer buf0 = Buffer::FromString(ReadAll(base.string() + ".buf0"));
  PickleTree tree = ReadPickle(pkl, {&buf0, 1}).ValueOrDie();
  for (auto _ : state) {
    std::vector<Buffer> oob;
    auto out = WritePickle(tree, 5, &oob);
    benchmark::DoNotOptimize(out.ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WriteSeedChunkRunSpec);

}  // namespace
}  // namespace dn

BENCHMARK_MAIN();
