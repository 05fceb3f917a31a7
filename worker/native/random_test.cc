#include "worker/native/random.h"

#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

// Every expected value below was printed by numpy 2.4.6 (/work/main/.venv) and is
// compared bit for bit, as the uint64 pattern of the double. The generating script:
//
//   rs = np.random.RandomState(key)            # key: uint32 array, see MakeKey
//   rs.get_state()[1][i]                       # kStateAt
//   rs.random_sample(10**6)                    # [0:8] and [999999]
//   rs.normal(10, 0.1, 10**6)                  # fresh RandomState(key) each time
//   rs.uniform(-2, 3, 10**6)
//   rs.standard_normal(10**6)
//   rs.standard_normal(3); rs.random_sample(); rs.standard_normal(); rs.random_sample()
//   np.frombuffer(rs.bytes(16), "<u4")         # raw tempered words
//
//   ss = np.random.SeedSequence(42).spawn(3)[1]  (and SeedSequence(12345))
//   ss.pool; PCG64(ss).state; PCG64(ss).random_raw(4); Generator(PCG64(ss)).random(10**6)

namespace dn::native {
namespace {

uint64_t Bits(double d) { return std::bit_cast<uint64_t>(d); }

constexpr int64_t kMillion = 1000000;

enum class KeyKind { k624, kSmall, k700 };

// The seeds: 624 words (dask's per-chunk size), a 3-word key (the first mixing loop
// wraps the key), and 700 words (longer than the state, so that loop runs 700 times).
std::vector<uint32_t> MakeKey(KeyKind kind) {
  std::vector<uint32_t> key;
  switch (kind) {
    case KeyKind::k624:  // np.arange(624) * 2654435761 % 2**32
      for (uint32_t i = 0; i < 624; ++i) key.push_back(i * 2654435761u);
      break;
    case KeyKind::kSmall:  // [0x12345678, 0xdeadbeef, 7]
      key = {0x12345678u, 0xdeadbeefu, 7u};
      break;
    case KeyKind::k700:  // np.arange(700) * 0x9e3779b9 % 2**32 ^ 0x5bd1e995
      for (uint32_t i = 0; i < 700; ++i) key.push_back((i * 0x9e3779b9u) ^ 0x5bd1e995u);
      break;
  }
  return key;
}

Mt19937 Seeded(KeyKind kind) {
  const std::vector<uint32_t> key = MakeKey(kind);
  Mt19937 mt;
  mt.InitByArray(key.data(), key.size());
  return mt;
}

using Doubles8 = std::array<uint64_t, 8>;

struct MtCase {
  const char* name;
  KeyKind kind;
  std::array<uint32_t, 6> state_at;  // get_state()[1] at kStateIndex
  std::array<uint32_t, 4> raw32;
  Doubles8 sample;
  uint64_t sample_1m;
  Doubles8 normal;  // normal(10, 0.1)
  uint64_t normal_1m;
  Doubles8 uniform;  // uniform(-2, 3)
  uint64_t uniform_1m;
  Doubles8 std_normal;
  uint64_t std_normal_1m;
  std::array<uint64_t, 6> mixed;  // standard_normal(3), random_sample(), gauss, sample
};

constexpr std::array<int, 6> kStateIndex = {0, 1, 2, 311, 396, 623};

const MtCase kMtCases[] = {
    {"k624",
     KeyKind::k624,
     {0x80000000, 0xa351b246, 0xece22c57, 0x375cebbe, 0x1f224435, 0x6168d133},
     {0x47a52909, 0x680d0859, 0xaa92b680, 0x12b21a59},
     {0x3fd1e94a43406842, 0x3fe55256d04ac869, 0x3fe2ae68e5cf3b79, 0x3fd2ed49f710a9f8,
      0x3feea81455074fbb, 0x3fb751cb93bb48a0, 0x3fe124454396b025, 0x3feaecd58732a88d},
     0x3fd0d73d13581de6,
     {0x40242f98920caa59, 0x4023c0ff0ba644c6, 0x4023aa5857190a4f, 0x40242322b791c465,
      0x40243e7544fb3011, 0x40240686e2fc2e10, 0x4023fc4ac868409a, 0x40241b4b7e4c3d5c},
     0x402434c2431b0587,
     {0xbfe338c657defb5c, 0x3ff54dd908baf506, 0x3fed680c7d0c295c, 0xbfe0aec716565714,
      0x400652196a4923aa, 0xbff8b67061d5794e, 0x3fe5b55a51f170b8, 0x4001a80ae8ff52b0},
     0xbfe5e5e74fa3b540,
     {0x3fedbf5b47ea77bf, 0xbff3b04c5c0a8231, 0xbffac464c82cc73d, 0x3fe5f5b2bb1abefd,
      0x3ff384a58e7f0570, 0x3fc051377673292b, 0xbfb28a15f6bcff90, 0x3fe10f2eefa6596a},
     0x3ff07cb4f871ba57,
     {0x3fedbf5b47ea77bf, 0xbff3b04c5c0a8231, 0xbffac464c82cc73d, 0x3feea81455074fbb,
      0x3fe5f5b2bb1abefd, 0x3fb751cb93bb48a0}},
    {"small",
     KeyKind::kSmall,
     {0x80000000, 0x689c7c61, 0xfeb3f366, 0x1930c42a, 0xc9ba6378, 0x2e615217},
     {0x27e6189e, 0xa32d1ec6, 0xcfe48b92, 0x124fd69e},
     {0x3fc3f30c4a32d1ec, 0x3fe9fc9170493f5a, 0x3fecda6ac05c971e, 0x3fc6158456d8e418,
      0x3fd154e149bf812c, 0x3fdba090b61bf772, 0x3fe6681746acfc7c, 0x3fcd3ab9a420ec90},
     0x3fd6b673f3553114,
     {0x402412a59a213eaf, 0x4023eb6ff1677cd4, 0x4023e6e0b378f3ca, 0x4023abba582fa583,
      0x4023cc4fe6671d57, 0x402426183e021555, 0x4024245210302add, 0x40240503ba82390b},
     0x40243f86dc394d3c,
     {0xbff3881851a03ccc, 0x40007bb5cc5b8f30, 0x400411057073bce6, 0xbff2328d49b87171,
      0xbfe4abccc7a13d12, 0x3fc445a71d17aa70, 0x3ff8043a30b07736, 0xbfeb7697f2d6d84c},
     0xbfccdf787eac1538,
     {0x3fd74f00a98e5a35, 0xbfd9b4123ea3f720, 0xbfdf671fa8cf42eb, 0xbffa55c4711c472e,
      0xbff02707ffc6d4c6, 0x3fe7cf26c14d54e4, 0x3fe6b34a1e1aca21, 0x3fb912a48b1d380d},
     0x3ff3da24d1e822b4,
     {0x3fd74f00a98e5a35, 0xbfd9b4123ea3f720, 0xbfdf671fa8cf42eb, 0x3fe6681746acfc7c,
      0xbffa55c4711c472e, 0x3fcd3ab9a420ec90}},
    {"k700",
     KeyKind::k700,
     {0x80000000, 0x316c3c8a, 0xa849967e, 0x3c15a946, 0x240a8580, 0xdfa03bf0},
     {0xab961745, 0xca80b269, 0x3d16ed27, 0xef187942},
     {0x3fe572c2eb2a02c9, 0x3fce8b769ef18794, 0x3fe60450205b058b, 0x3fe7c8252dbe2596,
      0x3fc3052b8c9486cc, 0x3fe4636c89ac5234, 0x3fee3997a085981c, 0x3fe020f7c10bfc58},
     0x3fe01c4266777937,
     {0x4023c510539b750a, 0x402426644c476422, 0x402438809474eea5, 0x40242bafe9ea413f,
      0x402413c3073a2a26, 0x4023cd5c8a1aafbe, 0x402400515d118242, 0x4024231b581d48b2},
     0x4023fffbf2c52a3a,
     {0x3ff59ee74be906f6, 0xbfe9d1abb9521688, 0x3ff70ac850e38ddc, 0x3ffb745cf25b5df8,
      0xbff41cc4c8232bc0, 0x3ff2f88f582ecd82, 0x4005c7fd88a6fe24, 0x3fe0a4d6c53bedb8},
     0x3fe08d4c00555e14,
     {0xbff26ae5df6b6ce6, 0x3fe7feafac9e9517, 0x3ff1a82e648a93b2, 0x3feb4df23268c71f,
      0x3fd8b3c908b4af25, 0xbfefa629af522907, 0x3f796d1578b48a11, 0x3fe5f117124d6f63},
     0xbf3442262cdf45da,
     {0xbff26ae5df6b6ce6, 0x3fe7feafac9e9517, 0x3ff1a82e648a93b2, 0x3fc3052b8c9486cc,
      0x3feb4df23268c71f, 0x3fe4636c89ac5234}},
};

class Mt19937NumpyTest : public ::testing::TestWithParam<MtCase> {
 protected:
  // Checks out[0:8] and out[999999] of a million-value fill against numpy.
  static void ExpectFirst8AndMillionth(const std::vector<double>& out, const Doubles8& first,
                                       uint64_t millionth) {
    for (int i = 0; i < 8; ++i) EXPECT_EQ(Bits(out[i]), first[i]) << "index " << i;
    EXPECT_EQ(Bits(out[kMillion - 1]), millionth) << "index 999999";
  }
};

TEST_P(Mt19937NumpyTest, InitByArrayMatchesGetState) {
  const MtCase& c = GetParam();
  Mt19937 mt = Seeded(c.kind);
  for (size_t i = 0; i < kStateIndex.size(); ++i) {
    EXPECT_EQ(mt.key()[kStateIndex[i]], c.state_at[i]) << "mt[" << kStateIndex[i] << "]";
  }
  EXPECT_EQ(mt.pos(), 624);
  EXPECT_FALSE(mt.has_gauss());
}

TEST_P(Mt19937NumpyTest, Next32MatchesBytes) {
  const MtCase& c = GetParam();
  Mt19937 mt = Seeded(c.kind);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(mt.Next32(), c.raw32[i]) << "word " << i;
}

TEST_P(Mt19937NumpyTest, RandomSample) {
  const MtCase& c = GetParam();
  Mt19937 mt = Seeded(c.kind);
  std::vector<double> out(kMillion);
  mt.FillRandomSample(out.data(), kMillion);
  ExpectFirst8AndMillionth(out, c.sample, c.sample_1m);
}

TEST_P(Mt19937NumpyTest, Normal) {
  const MtCase& c = GetParam();
  Mt19937 mt = Seeded(c.kind);
  std::vector<double> out(kMillion);
  mt.FillNormal(out.data(), kMillion, 10.0, 0.1);
  ExpectFirst8AndMillionth(out, c.normal, c.normal_1m);
}

TEST_P(Mt19937NumpyTest, Uniform) {
  const MtCase& c = GetParam();
  Mt19937 mt = Seeded(c.kind);
  std::vector<double> out(kMillion);
  mt.FillUniform(out.data(), kMillion, -2.0, 3.0);
  ExpectFirst8AndMillionth(out, c.uniform, c.uniform_1m);
}

TEST_P(Mt19937NumpyTest, StandardNormal) {
  const MtCase& c = GetParam();
  Mt19937 mt = Seeded(c.kind);
  std::vector<double> out(kMillion);
  mt.FillStandardNormal(out.data(), kMillion);
  ExpectFirst8AndMillionth(out, c.std_normal, c.std_normal_1m);
}

// The Gaussian cache survives a random_sample call in between, as in numpy.
TEST_P(Mt19937NumpyTest, GaussCacheAcrossCalls) {
  const MtCase& c = GetParam();
  Mt19937 mt = Seeded(c.kind);
  double g3[3];
  mt.FillStandardNormal(g3, 3);
  EXPECT_TRUE(mt.has_gauss());
  const double u = mt.NextDouble();
  const double g1 = mt.NextGauss();
  EXPECT_FALSE(mt.has_gauss());
  const double u2 = mt.NextDouble();
  const double got[6] = {g3[0], g3[1], g3[2], u, g1, u2};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Bits(got[i]), c.mixed[i]) << "step " << i;
}

INSTANTIATE_TEST_SUITE_P(Keys, Mt19937NumpyTest, ::testing::ValuesIn(kMtCases),
                         [](const ::testing::TestParamInfo<MtCase>& info) {
                           return std::string(info.param.name);
                         });

// One odd word first (rs.randint(0, 2**32, dtype=np.uint32)) puts every later double
// across a word pair boundary, and double 311 across a regeneration.
TEST(Mt19937Test, OddWordThenRandomSampleMatchesNumpy) {
  Mt19937 mt = Seeded(KeyKind::k624);
  EXPECT_EQ(mt.Next32(), 0x47a52909u);
  std::vector<double> out(700);
  mt.FillRandomSample(out.data(), 700);
  EXPECT_EQ(Bits(out[0]), 0x3fda0342155495b4u);
  EXPECT_EQ(Bits(out[310]), 0x3fd8dedf7e6766c4u);
  EXPECT_EQ(Bits(out[311]), 0x3fcbf7e11252b000u);
  EXPECT_EQ(Bits(out[312]), 0x3fe26c9bfc5dc7e1u);
  EXPECT_EQ(Bits(out[699]), 0x3fd727682117f30au);
  EXPECT_EQ(mt.pos(), 153);
}

TEST(Mt19937Test, FillRandomSampleEqualsNextDouble) {
  constexpr int64_t kN = 5000;
  Mt19937 bulk = Seeded(KeyKind::k624);
  Mt19937 single = bulk;
  std::vector<double> out(kN);
  bulk.FillRandomSample(out.data(), kN);
  for (int64_t i = 0; i < kN; ++i) {
    ASSERT_EQ(Bits(out[i]), Bits(single.NextDouble())) << "index " << i;
  }
  EXPECT_EQ(bulk.pos(), single.pos());
}

// Split points on and off block boundaries (312 doubles per 624-word block), and an
// odd word in between, must give the same stream as one fill.
TEST(Mt19937Test, FillInPiecesEqualsOneFill) {
  constexpr int64_t kN = 10000;
  Mt19937 whole = Seeded(KeyKind::kSmall);
  std::vector<double> expected(kN);
  whole.FillRandomSample(expected.data(), kN);
  for (int64_t split :
       {int64_t{0}, int64_t{1}, int64_t{311}, int64_t{312}, int64_t{313}, int64_t{4999}, kN}) {
    Mt19937 pieces = Seeded(KeyKind::kSmall);
    std::vector<double> got(kN);
    pieces.FillRandomSample(got.data(), split);
    pieces.FillRandomSample(got.data() + split, kN - split);
    for (int64_t i = 0; i < kN; ++i) {
      ASSERT_EQ(Bits(got[i]), Bits(expected[i])) << "split " << split << " index " << i;
    }
  }

  Mt19937 words = Seeded(KeyKind::kSmall);
  Mt19937 bulk = words;
  words.Next32();
  bulk.Next32();
  std::vector<double> got(kN);
  bulk.FillRandomSample(got.data(), 100);
  bulk.FillRandomSample(got.data() + 100, kN - 100);
  for (int64_t i = 0; i < kN; ++i) {
    ASSERT_EQ(Bits(got[i]), Bits(words.NextDouble())) << "odd offset, index " << i;
  }
}

TEST(Mt19937Test, NormalInPiecesKeepsGaussCache) {
  constexpr int64_t kN = 1001;
  Mt19937 whole = Seeded(KeyKind::k700);
  std::vector<double> expected(kN);
  whole.FillNormal(expected.data(), kN, 10.0, 0.1);
  Mt19937 pieces = Seeded(KeyKind::k700);
  std::vector<double> got(kN);
  pieces.FillNormal(got.data(), 333, 10.0, 0.1);  // odd: leaves a cached value
  EXPECT_TRUE(pieces.has_gauss());
  pieces.FillNormal(got.data() + 333, kN - 333, 10.0, 0.1);
  for (int64_t i = 0; i < kN; ++i) ASSERT_EQ(Bits(got[i]), Bits(expected[i])) << i;
}

// A textbook MT19937 (modulo indexing, one word at a time), independent of the
// Mt19937 kernels, started from a copy of a generator's state.
class ReferenceMt {
 public:
  explicit ReferenceMt(const Mt19937& g) : pos_(g.pos()) {
    for (int i = 0; i < 624; ++i) mt_[i] = g.key()[i];
  }
  uint32_t Next32() {
    if (pos_ == 624) Generate();
    uint32_t y = mt_[pos_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }
  double NextDouble() {
    const uint32_t a = Next32() >> 5;
    const uint32_t b = Next32() >> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }
  const uint32_t* key() const { return mt_; }
  int pos() const { return pos_; }

 private:
  void Generate() {
    for (int i = 0; i < 624; ++i) {
      const uint32_t y = (mt_[i] & 0x80000000u) | (mt_[(i + 1) % 624] & 0x7fffffffu);
      mt_[i] = mt_[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    pos_ = 0;
  }
  uint32_t mt_[624];
  int pos_;
};

using Kernel = Mt19937::Kernel;

const char* KernelName(Kernel k) {
  switch (k) {
    case Kernel::kScalar: return "scalar";
    case Kernel::kAvx2: return "avx2";
    case Kernel::kAvx512: return "avx512";
  }
  return "?";
}

// Checks g against ref: same pos, same 624 state words, same next raw word.
void ExpectSameState(Mt19937& g, ReferenceMt& ref) {
  ASSERT_EQ(g.pos(), ref.pos());
  for (int i = 0; i < 624; ++i) ASSERT_EQ(g.key()[i], ref.key()[i]) << "mt[" << i << "]";
  ASSERT_EQ(g.Next32(), ref.Next32());
}

class Mt19937KernelTest : public ::testing::TestWithParam<Kernel> {
 protected:
  void SetUp() override {
    if (!Mt19937::KernelSupported(GetParam())) {
      GTEST_SKIP() << KernelName(GetParam()) << " is not supported on this CPU";
    }
  }
};

TEST(Mt19937KernelTest, ScalarAlwaysSupported) {
  EXPECT_TRUE(Mt19937::KernelSupported(Kernel::kScalar));
  EXPECT_TRUE(Mt19937::KernelSupported(Mt19937::BestKernel()));
  std::printf("[ info     ] Mt19937::BestKernel() = %s\n", KernelName(Mt19937::BestKernel()));
}

// A few million values per seed, from an even and from an odd word offset, against
// the reference: every double's bits, then the state the fill leaves behind.
TEST_P(Mt19937KernelTest, FillMatchesReferenceOnMillions) {
  constexpr int64_t kN = 2000003;
  std::vector<double> storage(kN + 8);
  // A 64-byte aligned start (large fills stream their stores there) and one 8 bytes off.
  double* const aligned =
      storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64 / 8;
  for (KeyKind kind : {KeyKind::k624, KeyKind::kSmall, KeyKind::k700}) {
    for (int odd = 0; odd < 2; ++odd) {
      SCOPED_TRACE(::testing::Message() << "key " << static_cast<int>(kind) << " odd " << odd);
      Mt19937 g = Seeded(kind);
      ReferenceMt ref(g);
      if (odd) {
        ASSERT_EQ(g.Next32(), ref.Next32());
      }
      double* const out = aligned + odd;
      g.FillRandomSampleWith(GetParam(), out, kN);
      for (int64_t i = 0; i < kN; ++i) {
        ASSERT_EQ(Bits(out[i]), Bits(ref.NextDouble())) << "index " << i;
      }
      ExpectSameState(g, ref);
    }
  }
}

// Every entry offset pos = 1..624 (0 happens only inside a fill, right after a
// regeneration; 624 is "regenerate first"), hence both word parities, twice (in the
// first and in the second block of the stream), with fill lengths that end at varying
// offsets and straddle one or more regenerations, split into two calls.
TEST_P(Mt19937KernelTest, EveryStartOffsetMatchesReference) {
  const Mt19937 seeded = Seeded(KeyKind::kSmall);
  std::vector<double> out(2000);
  for (int skip = 0; skip <= 2 * 624; ++skip) {
    SCOPED_TRACE(::testing::Message() << "skip " << skip);
    Mt19937 g = seeded;
    ReferenceMt ref(g);
    for (int i = 0; i < skip; ++i) ASSERT_EQ(g.Next32(), ref.Next32()) << "word " << i;
    const int64_t n1 = 1 + skip % 331;
    const int64_t n2 = 620 + (skip * 7) % 700;
    g.FillRandomSampleWith(GetParam(), out.data(), n1);
    g.FillRandomSampleWith(GetParam(), out.data() + n1, n2);
    for (int64_t i = 0; i < n1 + n2; ++i) {
      ASSERT_EQ(Bits(out[i]), Bits(ref.NextDouble())) << "index " << i;
    }
    ExpectSameState(g, ref);
  }
}

// FillRandomSample (the best kernel) and Next32's regeneration agree with the
// reference over many blocks.
TEST(Mt19937KernelTest, BestKernelNext32MatchesReference) {
  Mt19937 g = Seeded(KeyKind::k700);
  ReferenceMt ref(g);
  for (int i = 0; i < 624 * 20 + 5; ++i) ASSERT_EQ(g.Next32(), ref.Next32()) << "word " << i;
  std::vector<double> out(10007);
  g.FillRandomSample(out.data(), 10007);
  for (double d : out) ASSERT_EQ(Bits(d), Bits(ref.NextDouble()));
  ExpectSameState(g, ref);
}

INSTANTIATE_TEST_SUITE_P(Kernels, Mt19937KernelTest,
                         ::testing::Values(Kernel::kScalar, Kernel::kAvx2, Kernel::kAvx512),
                         [](const ::testing::TestParamInfo<Kernel>& info) {
                           return std::string(KernelName(info.param));
                         });

struct PcgCase {
  const char* name;
  std::array<uint32_t, 4> pool;
  uint64_t state_hi, state_lo, inc_hi, inc_lo;  // PCG64(ss).state after seeding
  std::array<uint64_t, 4> raw64;
  Doubles8 random;
  uint64_t random_1m;
};

const PcgCase kPcgCases[] = {
    {"SeedSequence(42).spawn(3)[1]",
     {0xf2936661, 0x90e5a60a, 0x76f09215, 0xfc683ed9},
     0xe73f80822bbcd476,
     0x2014439187d74780,
     0x7c5beea5b7a642fe,
     0x53a2b47239efce2f,
     {0x77ad79cb131f4097, 0x0be4132b2eb1f48e, 0x9873580fa7f3399f, 0x1b76640f643aab55},
     {0x3fddeb5e72c4c7d0, 0x3fa7c826565d63e0, 0x3fe30e6b01f4fe67, 0x3fbb76640f643aa8,
      0x3fef325a1cf6e076, 0x3fddd006ed011840, 0x3feab8c723c2855c, 0x3fb542204c7096a0},
     0x3fe8b2ad0c91807c},
    {"SeedSequence(12345)",
     {0xf293d734, 0xfd668225, 0xf94ff895, 0x872090a0},
     0x1905e0335aae9634,
     0x9199b0d09775add5,
     0xc9c7353e6e2b1f28,
     0x7d761f2d4027fae7,
     {0x3a32b18db2ffc19d, 0x51171315c9e4c4de, 0xcc2024823444efd9, 0xad1f06aea486e910},
     {0x3fcd1958c6d97fe0, 0x3fd445c4c5727930, 0x3fe984049046889d, 0x3fe5a3e0d5d490dd,
      0x3fd907f05a3f42de, 0x3fd54cd2c9f5b922, 0x3fe32558663228fc, 0x3fc7e6e7e21b4844},
     0x3fe38e00ad772205},
};

TEST(Pcg64Test, SeedMatchesNumpyState) {
  for (const PcgCase& c : kPcgCases) {
    SCOPED_TRACE(c.name);
    const Pcg64 g = Pcg64::FromSeedSequencePool(c.pool.data());
    EXPECT_EQ(g.state_hi(), c.state_hi);
    EXPECT_EQ(g.state_lo(), c.state_lo);
    EXPECT_EQ(g.inc_hi(), c.inc_hi);
    EXPECT_EQ(g.inc_lo(), c.inc_lo);
  }
}

TEST(Pcg64Test, Next64MatchesRandomRaw) {
  for (const PcgCase& c : kPcgCases) {
    SCOPED_TRACE(c.name);
    Pcg64 g = Pcg64::FromSeedSequencePool(c.pool.data());
    for (int i = 0; i < 4; ++i) EXPECT_EQ(g.Next64(), c.raw64[i]) << "draw " << i;
  }
}

TEST(Pcg64Test, GeneratorRandomMatchesNumpy) {
  for (const PcgCase& c : kPcgCases) {
    SCOPED_TRACE(c.name);
    Pcg64 g = Pcg64::FromSeedSequencePool(c.pool.data());
    std::vector<double> out(kMillion);
    g.FillRandom(out.data(), kMillion);
    for (int i = 0; i < 8; ++i) EXPECT_EQ(Bits(out[i]), c.random[i]) << "index " << i;
    EXPECT_EQ(Bits(out[kMillion - 1]), c.random_1m) << "index 999999";
  }
}

TEST(Pcg64Test, FillInPiecesEqualsOneFill) {
  const PcgCase& c = kPcgCases[0];
  Pcg64 whole = Pcg64::FromSeedSequencePool(c.pool.data());
  Pcg64 pieces = whole;
  std::vector<double> expected(1000), got(1000);
  whole.FillRandom(expected.data(), 1000);
  pieces.FillRandom(got.data(), 377);
  pieces.FillRandom(got.data() + 377, 623);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(Bits(got[i]), Bits(expected[i])) << i;
}

// Not a correctness test: prints throughput (no assertion on time). The checksum keeps
// the fills from being optimised away.
TEST(RandomThroughput, Report) {
  constexpr int64_t kN = 4000000;  // one 2000x2000 chunk
  std::vector<double> out(kN);
  auto time = [&](const char* what, auto&& fill) {
    fill();  // warm-up: page in `out`
    constexpr int kReps = 5;
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < kReps; ++r) fill();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / kReps;
    double sum = 0;
    for (int64_t i = 0; i < kN; i += 4096) sum += out[i];
    std::printf("[ perf     ] %-34s %8.1f M doubles/s  (%.2f ms per 4e6; checksum %.3f)\n", what,
                kN / secs / 1e6, secs * 1e3, sum);
  };
  Mt19937 mt = Seeded(KeyKind::k624);
  time("Mt19937::FillRandomSample", [&] { mt.FillRandomSample(out.data(), kN); });
  for (Mt19937::Kernel k :
       {Mt19937::Kernel::kScalar, Mt19937::Kernel::kAvx2, Mt19937::Kernel::kAvx512}) {
    if (!Mt19937::KernelSupported(k)) continue;
    const std::string what = std::string("  FillRandomSampleWith(") + KernelName(k) + ")";
    time(what.c_str(), [&] { mt.FillRandomSampleWith(k, out.data(), kN); });
  }
  time("Mt19937::NextDouble loop", [&] {
    for (int64_t i = 0; i < kN; ++i) out[i] = mt.NextDouble();
  });
  time("Mt19937::FillUniform", [&] { mt.FillUniform(out.data(), kN, -2.0, 3.0); });
  time("Mt19937::FillNormal", [&] { mt.FillNormal(out.data(), kN, 10.0, 0.1); });
  Pcg64 pcg = Pcg64::FromSeedSequencePool(kPcgCases[0].pool.data());
  time("Pcg64::FillRandom", [&] { pcg.FillRandom(out.data(), kN); });
}

}  // namespace
}  // namespace dn::native
