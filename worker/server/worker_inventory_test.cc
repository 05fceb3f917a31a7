#include <gtest/gtest.h>

#include <algorithm>

#include "worker/server/worker_refusals.h"
#include "worker/server/worker_server.h"

namespace dn {
namespace {

bool Has(const std::vector<std::string>& ops, std::string_view op) {
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

TEST(WorkerInventoryTest, NoOpIsBothServedAndRefused) {
  EXPECT_EQ(WorkerServer::RpcInventory().Conflicts(), std::vector<std::string>{});
  EXPECT_EQ(WorkerServer::StreamInventory().Conflicts(), std::vector<std::string>{});
}

TEST(WorkerInventoryTest, ServedOpsComeFromTheDispatchTables) {
  DispatchInventory rpc = WorkerServer::RpcInventory();
  for (std::string_view op : {"get_data", "terminate", "identity", "close"}) {
    EXPECT_TRUE(Has(rpc.served, op)) << op;
  }
  DispatchInventory stream = WorkerServer::StreamInventory();
  for (std::string_view op : {"compute-task", "free-keys", "close", "close-stream"}) {
    EXPECT_TRUE(Has(stream.served, op)) << op;
  }
}

TEST(WorkerInventoryTest, EveryRefusalNamesAFeatureAndAReason) {
  for (auto table : {WorkerRefusedRpcs(), WorkerRefusedStreamOps(), NannyRefusedRpcs()}) {
    for (const RefusedOp& r : table) {
      EXPECT_FALSE(r.feature.empty()) << r.op;
      EXPECT_FALSE(r.reason.empty()) << r.op;
    }
  }
  EXPECT_NE(FindRefusedOp(WorkerRefusedRpcs(), "actor_execute"), nullptr);
  EXPECT_NE(FindRefusedOp(NannyRefusedRpcs(), "kill"), nullptr);
}

TEST(WorkerInventoryTest, ListingHasTheNannysOwnSection) {
  std::string json = WorkerServer::HandlersJson();
  EXPECT_EQ(json.rfind("{\"rpc\": {\"served\": [", 0), 0u) << json.substr(0, 40);
  EXPECT_NE(json.find("\"nanny\": {\"rpc\": {\"served\": [], \"refused\": {"), std::string::npos);
}

}  // namespace
}  // namespace dn
