#include <gtest/gtest.h>

#include <algorithm>

#include "scheduler/server/scheduler_refusals.h"
#include "scheduler/server/scheduler_server.h"

namespace dn {
namespace {

bool Has(const std::vector<std::string>& ops, std::string_view op) {
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

TEST(SchedulerInventoryTest, NoOpIsBothServedAndRefused) {
  EXPECT_EQ(SchedulerServer::RpcInventory().Conflicts(), std::vector<std::string>{});
  EXPECT_EQ(SchedulerServer::StreamInventory().Conflicts(), std::vector<std::string>{});
}

TEST(SchedulerInventoryTest, ServedOpsComeFromEveryDispatcher) {
  DispatchInventory rpc = SchedulerServer::RpcInventory();
  for (std::string_view op :
       {"identity", "gather", "register_nanny", "semaphore_acquire", "variable_get", "log_event",
        "set_restrictions", "register-client", "close"}) {
    EXPECT_TRUE(Has(rpc.served, op)) << op;
  }
  DispatchInventory stream = SchedulerServer::StreamInventory();
  for (std::string_view op : {"task-finished", "keep-alive", "update-graph", "close-stream",
                              "queue_release", "subscribe-topic"}) {
    EXPECT_TRUE(Has(stream.served, op)) << op;
  }
}

TEST(SchedulerInventoryTest, EveryRefusalNamesAFeatureAndAReason) {
  for (auto table :
       {SchedulerRefusedRpcs(), SchedulerRefusedClientOps(), SchedulerRefusedWorkerOps()}) {
    for (const RefusedOp& r : table) {
      EXPECT_FALSE(r.feature.empty()) << r.op;
      EXPECT_FALSE(r.reason.empty()) << r.op;
    }
  }
  ASSERT_NE(FindRefusedOp(SchedulerRefusedRpcs(), "feed"), nullptr);
  EXPECT_EQ(FindRefusedOp(SchedulerRefusedRpcs(), "identity"), nullptr);
}

TEST(SchedulerInventoryTest, ListingIsJsonWithRpcAndStream) {
  std::string json = SchedulerServer::HandlersJson();
  EXPECT_EQ(json.rfind("{\"rpc\": {\"served\": [", 0), 0u) << json.substr(0, 40);
  EXPECT_NE(json.find("\"stream\": {\"served\": ["), std::string::npos);
  EXPECT_NE(json.find("\"restart\": {\"feature\": \"restart\""), std::string::npos);
}

}  // namespace
}  // namespace dn
