#include "worker/native/executor.h"

#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <algorithm>

namespace dn::native {

struct NativeExecutor::Impl {
  explicit Impl(int threads) : arena(threads, /*reserved_for_masters=*/0) {}
  tbb::task_arena arena;
  tbb::task_group group;
};

NativeExecutor::NativeExecutor(int threads) : threads_(std::max(1, threads)) {
  impl_ = std::make_unique<Impl>(threads_);
}

NativeExecutor::~NativeExecutor() {
  impl_->arena.execute([this] { impl_->group.wait(); });
}

void NativeExecutor::Post(std::function<void()> job) {
  impl_->arena.enqueue(impl_->group.defer(std::move(job)));
}

}  // namespace dn::native
