#include "worker/config/worker_environ.h"

#include <gtest/gtest.h>

#include <map>

namespace dn {
namespace {

using Vars = std::vector<std::pair<std::string, std::string>>;

EnvReader From(std::map<std::string, std::string> values) {
  return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

TEST(WorkerEnvironTest, StockDefaultsLimitBlasThreadsAndTrimMemory) {
  Result<Vars> env = WorkerEnviron(From({}), From({}));
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(*env, (Vars{{"MALLOC_TRIM_THRESHOLD_", "65536"},
                        {"OMP_NUM_THREADS", "1"},
                        {"MKL_NUM_THREADS", "1"},
                        {"OPENBLAS_NUM_THREADS", "1"},
                        {"PYTHONHASHSEED", "6640"}}));
}

TEST(WorkerEnvironTest, TheProcessEnvironmentWinsOverTheConfig) {
  Result<Vars> env =
      WorkerEnviron(From({{"OMP_NUM_THREADS", "4"}, {"PYTHONHASHSEED", "1"}}), From({}));
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(*env, (Vars{{"MALLOC_TRIM_THRESHOLD_", "65536"},
                        {"MKL_NUM_THREADS", "1"},
                        {"OPENBLAS_NUM_THREADS", "1"},
                        {"PYTHONHASHSEED", "6640"}}));  // as stock: only the config names a seed
}

TEST(WorkerEnvironTest, ConfigReplacesRemovesAndAddsEntries) {
  Result<Vars> env = WorkerEnviron(
      From({}), From({{"distributed.nanny.pre-spawn-environ",
                       "{'OMP_NUM_THREADS': 2, 'MKL_NUM_THREADS': None, 'PYTHONHASHSEED': 7}"},
                      {"distributed.nanny.environ", "{\"MY_VAR\": \"x\"}"}}));
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(*env, (Vars{{"MALLOC_TRIM_THRESHOLD_", "65536"},
                        {"OMP_NUM_THREADS", "2"},
                        {"OPENBLAS_NUM_THREADS", "1"},
                        {"PYTHONHASHSEED", "7"},
                        {"MY_VAR", "x"}}));
}

TEST(WorkerEnvironTest, AMalformedMappingIsAnErrorNamingTheKey) {
  Result<Vars> env =
      WorkerEnviron(From({}), From({{"distributed.nanny.environ", "OMP_NUM_THREADS=2"}}));
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().ToString().find("distributed.nanny.environ"), std::string::npos);
}

}  // namespace
}  // namespace dn
