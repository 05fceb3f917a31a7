#include "worker/config/memory_limit.h"

#include <gtest/gtest.h>

#include <thread>

namespace dn {
namespace {

TEST(ParseBytesTest, DaskDocExamples) {
  EXPECT_EQ(*ParseBytes("100"), 100);
  EXPECT_EQ(*ParseBytes("100 MB"), 100000000);
  EXPECT_EQ(*ParseBytes("100M"), 100000000);
  EXPECT_EQ(*ParseBytes("5kB"), 5000);
  EXPECT_EQ(*ParseBytes("5.4 kB"), 5400);
  EXPECT_EQ(*ParseBytes("1kiB"), 1024);
  EXPECT_EQ(*ParseBytes("1e6"), 1000000);
  EXPECT_EQ(*ParseBytes("1e6 kB"), 1000000000);
  EXPECT_EQ(*ParseBytes("MB"), 1000000);
  EXPECT_EQ(*ParseBytes("4GiB"), int64_t{4} << 30);
  EXPECT_EQ(*ParseBytes("7G"), 7000000000);
  EXPECT_FALSE(ParseBytes("5 foos").ok());
  EXPECT_FALSE(ParseBytes("0x10").ok());
}

TEST(ParseMemoryLimitTest, AutoFractionsBytesAndZero) {
  const int64_t sys = int64_t{24} << 30;
  EXPECT_EQ(**ParseMemoryLimit("auto", 1, 2, sys), sys / 2);
  EXPECT_EQ(**ParseMemoryLimit("auto", 4, 2, sys), sys);
  EXPECT_EQ(**ParseMemoryLimit("0.25", 1, 2, sys), sys / 4);
  EXPECT_EQ(**ParseMemoryLimit("1", 1, 2, sys), sys);  // 1 is a fraction, as in dask
  EXPECT_EQ(**ParseMemoryLimit("4GiB", 1, 2, sys), int64_t{4} << 30);
  EXPECT_EQ(**ParseMemoryLimit("2000000000", 1, 2, sys), 2000000000);
  EXPECT_FALSE(ParseMemoryLimit("0", 1, 2, sys)->has_value());
  EXPECT_EQ(**ParseMemoryLimit("100TB", 1, 2, sys), sys);  // clamped to the machine
  EXPECT_FALSE(ParseMemoryLimit("-2GB", 1, 2, sys).ok());
  EXPECT_FALSE(ParseMemoryLimit("lots", 1, 2, sys).ok());
  EXPECT_GT(SystemMemoryLimit(), 0);
}

}  // namespace
}  // namespace dn

namespace dn {
namespace {

TEST(CpuLimitTest, WithinTheMachine) {
  int cpus = CpuLimit();
  EXPECT_GE(cpus, 1);
  EXPECT_LE(cpus, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace
}  // namespace dn
