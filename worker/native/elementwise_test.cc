#include "worker/native/elementwise.h"

#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <cstring>
#include <random>

namespace dn::native {
namespace {

NdArray Random(std::vector<int64_t> shape, uint64_t seed) {
  uint8_t* out = nullptr;
  NdArray a = NdArray::Allocate(DType::kFloat64, std::move(shape), &out);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  auto* d = reinterpret_cast<double*>(out);
  for (int64_t i = 0; i < a.size(); ++i) d[i] = u(rng);
  return a;
}

double At(const NdArray& a, int64_t i, int64_t j) {
  double v;
  std::memcpy(&v, a.data.data() + i * a.strides[0] + j * a.strides[1], sizeof v);
  return v;
}

// Large enough that the rows are split across threads: whatever the arena, every
// element is the one IEEE operation numpy does.
TEST(ElementwiseTest, LargeBroadcastTransposedOperationsMatchElementByElement) {
  const int64_t n = 1500;
  NdArray x = Random({n, n}, 1);
  NdArray row = Random({1, n}, 2);
  NdArray xt = *Transpose(x, {1, 0});
  for (int threads : {1, 2, 4}) {
    tbb::task_arena arena(threads);
    arena.execute([&] {
      NdArray sum = *Binary("add", Operand{&x}, Operand{&xt});
      NdArray diff = *Binary("sub", Operand{&sum}, Operand{&row});
      Operand half;
      half.scalar = Operand::Scalar::kFloat;
      half.f = 0.5;
      NdArray gt = *Binary("gt", Operand{&x}, half);
      ASSERT_EQ(diff.shape, (std::vector<int64_t>{n, n}));
      ASSERT_EQ(gt.dtype, DType::kBool);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          const double expect = (At(x, i, j) + At(x, j, i)) - At(row, 0, j);
          ASSERT_EQ(At(diff, i, j), expect) << i << "," << j << " threads=" << threads;
          ASSERT_EQ(gt.data.data()[i * n + j] != 0, At(x, i, j) > 0.5);
        }
      }
    });
  }
}

TEST(ElementwiseTest, MismatchedShapesAreAnError) {
  NdArray a = Random({3, 4}, 1);
  NdArray b = Random({3, 5}, 2);
  EXPECT_FALSE(Binary("add", Operand{&a}, Operand{&b}).ok());
  EXPECT_EQ(Binary("pow", Operand{&a}, Operand{&a}).status().code(), StatusCode::kNotImplemented);
}

// map_overlap's reflect boundary slices one row backwards, x[-1:-2:-1]: a view whose
// length-1 axis keeps a negative stride. The view is C-contiguous, so it is not
// copied, but what leaves native code (the wire, a numpy view) must carry C strides:
// numpy refuses a negative stride over a buffer's start, and the worker failed to
// send such values forever.
TEST(ElementwiseTest, ReversedLengthOneSliceGetsCStrides) {
  NdArray x = Random({4, 5}, 3);
  IndexEntry row;
  row.start = -1;
  row.stop = -2;
  row.step = -1;
  NdArray v = *GetItem(x, {row});
  ASSERT_EQ(v.shape, (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(v.strides, (std::vector<int64_t>{40, 8}));
  for (int64_t j = 0; j < 5; ++j) EXPECT_EQ(At(v, 0, j), At(x, 3, j));
  // A backwards view too long to copy keeps its negative stride; AsCContiguous copies it.
  IndexEntry all_reversed;
  all_reversed.step = -1;
  NdArray r = *GetItem(x, {all_reversed});
  EXPECT_LT(r.strides[0], 0);
  NdArray c = AsCContiguous(r);
  EXPECT_EQ(c.strides, (std::vector<int64_t>{40, 8}));
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 5; ++j) EXPECT_EQ(At(c, i, j), At(x, 3 - i, j));
  }
}

// numpy: int64 / int64 is float64. The operands share the result's item size, and the
// kernel read their bits as doubles (values like 9e164 where 1.0 was due).
TEST(ElementwiseTest, Int64TrueDivisionConvertsBothOperands) {
  uint8_t* pa = nullptr;
  uint8_t* pb = nullptr;
  NdArray a = NdArray::Allocate(DType::kInt64, {2, 3}, &pa);
  NdArray b = NdArray::Allocate(DType::kInt64, {2, 3}, &pb);
  const int64_t x[] = {1, -7, 1000000007, 4, 0, int64_t{1} << 60};
  const int64_t y[] = {1, 2, 3, -8, 5, 3};
  std::memcpy(pa, x, sizeof x);
  std::memcpy(pb, y, sizeof y);
  NdArray q = *Binary("truediv", Operand{&a}, Operand{&b});
  ASSERT_EQ(q.dtype, DType::kFloat64);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(q.ptr<double>()[i], static_cast<double>(x[i]) / static_cast<double>(y[i])) << i;
  }
}

// numpy: x[4, -5] is a numpy scalar; x[4] a 1-d array.
TEST(ElementwiseTest, IndexingEveryAxisWithAnIntegerGivesAScalar) {
  NdArray x = Random({6, 7}, 4);
  IndexEntry row, col;
  row.is_int = true;
  row.index = 4;
  col.is_int = true;
  col.index = -5;
  NdArray s = *GetItem(x, {row, col});
  EXPECT_TRUE(s.scalar);
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(*s.ptr<double>(), At(x, 4, 2));
  NdArray r = *GetItem(x, {row});
  EXPECT_FALSE(r.scalar);
  EXPECT_EQ(r.shape, (std::vector<int64_t>{7}));
}

}  // namespace
}  // namespace dn::native
