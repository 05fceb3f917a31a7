#include "common/dask_config.h"

#include <gtest/gtest.h>

namespace dn {
namespace {

TEST(DaskConfigTest, ReadsNestedKeysAsDaskSpellsTheirVariables) {
  const char* env[] = {"PATH=/bin", "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=10",
                       "DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL='5s'", nullptr};
  EXPECT_EQ(DaskConfigFromEnviron("distributed.scheduler.allowed-failures", env), "10");
  EXPECT_EQ(DaskConfigFromEnviron("distributed.scheduler.worker-ttl", env), "5s");
  EXPECT_EQ(DaskConfigFromEnviron("distributed.scheduler.worker-saturation", env), std::nullopt);
  // One level is not two: "__" separates levels, "_" is a hyphen.
  EXPECT_EQ(DaskConfigFromEnviron("distributed.scheduler.allowed.failures", env), std::nullopt);
}

TEST(DaskConfigTest, CaseAndHyphensDoNotMatter) {
  const char* env[] = {"DASK_distributed__admin__low-level-log-length=50", nullptr};
  EXPECT_EQ(DaskConfigFromEnviron("distributed.admin.low-level-log-length", env), "50");
}

TEST(DaskConfigTest, DurationsAndIntegersParseAsDaskDoes) {
  double s = 0;
  EXPECT_TRUE(ParseDuration("300s", &s));
  EXPECT_DOUBLE_EQ(s, 300);
  EXPECT_TRUE(ParseDuration("500ms", &s));
  EXPECT_DOUBLE_EQ(s, 0.5);
  EXPECT_TRUE(ParseDuration("5 minutes", &s));
  EXPECT_DOUBLE_EQ(s, 300);
  EXPECT_TRUE(ParseDuration("2", &s));
  EXPECT_DOUBLE_EQ(s, 2);
  EXPECT_FALSE(ParseDuration("soon", &s));
  EXPECT_FALSE(ParseDuration("5 fortnights", &s));
  EXPECT_FALSE(ParseDuration("-1s", &s));
  int64_t n = 0;
  EXPECT_TRUE(ParseConfigInt(" 1000 ", &n));
  EXPECT_EQ(n, 1000);
  EXPECT_FALSE(ParseConfigInt("10x", &n));
  EXPECT_FALSE(ParseConfigInt("", &n));
}

TEST(DaskConfigTest, MappingsReadAsLiteralEvalAndYamlFlowDo) {
  std::vector<ConfigEntry> m;
  ASSERT_TRUE(ParseConfigMapping(R"({"OMP_NUM_THREADS": 4, 'MKL_NUM_THREADS': '2', X: None,
                                    FLAG: True, RATIO: 0.5,})",
                                 &m));
  EXPECT_EQ(m, (std::vector<ConfigEntry>{{"OMP_NUM_THREADS", "4"},
                                         {"MKL_NUM_THREADS", "2"},
                                         {"X", std::nullopt},
                                         {"FLAG", "True"},
                                         {"RATIO", "0.5"}}));
  ASSERT_TRUE(ParseConfigMapping("{a: null, b: ~, c: false}", &m));
  EXPECT_EQ(m,
            (std::vector<ConfigEntry>{{"a", std::nullopt}, {"b", std::nullopt}, {"c", "False"}}));
  ASSERT_TRUE(ParseConfigMapping(" { } ", &m));
  EXPECT_TRUE(m.empty());
  for (const char* bad : {"", "OMP=1", "{a: 1", "{a 1}", "{a: [1]}", "{a: {b: 1}}", "{a: 1} x",
                          "{a: two words}", "{'a: 1}", "{a: 1,, b: 2}", "{: 1}"}) {
    EXPECT_FALSE(ParseConfigMapping(bad, &m)) << bad;
  }
}

}  // namespace
}  // namespace dn
