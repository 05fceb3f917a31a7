#include "protocol/messages/handler_inventory.h"

#include <gtest/gtest.h>

#include "protocol/messages/message_codec.h"

namespace dn {
namespace {

constexpr RefusedOp kTable[] = {
    {"restart", "restart", "native workers' nanny has no RPC server yet"},
    {"feed", "progress feeds", "they run pickled functions on the scheduler."},
};

TEST(HandlerInventoryTest, FindsRefusedOpsByName) {
  const RefusedOp* r = FindRefusedOp(kTable, "feed");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->feature, "progress feeds");
  EXPECT_EQ(FindRefusedOp(kTable, "identity"), nullptr);
  EXPECT_EQ(FindRefusedOp({}, "feed"), nullptr);
}

TEST(HandlerInventoryTest, RefusalTextNamesFeatureOpReasonAndTheDocs) {
  std::string text = RefusalText(kTable[0], "dask-native-scheduler");
  EXPECT_EQ(text,
            "restart is not available on dask-native-scheduler (op 'restart'): native workers' "
            "nanny has no RPC server yet. Refused on purpose; see docs/known-gaps.md.");
  // A reason that ends in a full stop gets no second one.
  EXPECT_NE(RefusalText(kTable[1], "x").find("scheduler. Refused"), std::string::npos);
}

TEST(HandlerInventoryTest, RefusalReplyIsATypedNotImplementedError) {
  Value reply = RefusalReply(kTable[0], "dask-native-worker");
  EXPECT_EQ(*reply.Find("status")->str(), "uncaught-error");
  const std::string& shown = *reply.Find("exception_text")->str();
  EXPECT_EQ(shown.rfind("NotImplementedError: restart is not available", 0), 0u) << shown;
  EXPECT_TRUE(reply.Find("exception")->is<Bin>());
}

TEST(HandlerInventoryTest, JsonListsServedSortedAndRefusedByName) {
  DispatchInventory inv;
  inv.served = {"who_has", "identity", "identity"};
  inv.Refuse(kTable);
  EXPECT_EQ(inv.ToJson(),
            "{\"served\": [\"identity\", \"who_has\"], \"refused\": {"
            "\"feed\": {\"feature\": \"progress feeds\", \"reason\": \"they run pickled "
            "functions on the scheduler.\"}, "
            "\"restart\": {\"feature\": \"restart\", \"reason\": \"native workers' nanny has no "
            "RPC server yet\"}}}");
  EXPECT_TRUE(inv.Conflicts().empty());
}

TEST(HandlerInventoryTest, AnOpBothServedAndRefusedIsAConflict) {
  DispatchInventory inv;
  inv.served = {"feed", "identity"};
  inv.Refuse(kTable);
  EXPECT_EQ(inv.Conflicts(), std::vector<std::string>{"feed"});
}

TEST(HandlerInventoryTest, JsonStringEscapes) {
  EXPECT_EQ(JsonString("a\"b\\c\nd\x01"), "\"a\\\"b\\\\c\\nd\\u0001\"");
  const std::pair<std::string_view, std::string> members[] = {{"rpc", "{}"}, {"stream", "[]"}};
  EXPECT_EQ(JsonObject(members), "{\"rpc\": {}, \"stream\": []}");
}

TEST(HandlerInventoryTest, RefusalLogSaysFirstTimeOncePerOp) {
  RefusalLog log;
  EXPECT_TRUE(log.FirstTime("steal-response"));
  EXPECT_FALSE(log.FirstTime("steal-response"));
  EXPECT_TRUE(log.FirstTime("reschedule"));
}

}  // namespace
}  // namespace dn
