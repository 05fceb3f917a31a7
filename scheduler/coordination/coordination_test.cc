#include "scheduler/coordination/coordination.h"

#include <gtest/gtest.h>

namespace dn {
namespace {

// A request map from field/value pairs.
Value Msg(std::initializer_list<std::pair<const char*, Value>> fields) {
  Map m;
  for (const auto& [k, v] : fields) m.push_back({Value(k), v});
  return Value(std::move(m));
}

Value Keys(std::initializer_list<const char*> names) {
  Array a;
  for (const char* n : names) a.emplace_back(n);
  return Value(std::move(a));
}

class CoordinationTest : public ::testing::Test {
 protected:
  std::optional<CoordinationReply> Rpc(std::string_view op, const Value& msg, WaiterId w = 0,
                                       double now = 0) {
    return c_.HandleRpc(op, msg, w, now);
  }
  // The reply of a request that must answer at once, and succeed.
  Value Now(std::string_view op, const Value& msg, double now = 0) {
    auto r = Rpc(op, msg, 0, now);
    EXPECT_TRUE(r.has_value()) << op;
    if (!r) return Value();
    EXPECT_TRUE(r->ok()) << op << ": " << r->error_type << " " << r->error_text;
    return r->value;
  }
  // The wake-ups produced so far, as waiter -> reply.
  std::vector<Wakeup> Wakeups() { return c_.TakeOutbox().wakeups; }

  Coordination c_;
};

bool IsTrue(const Value& v) { return v.is<bool>() && *v.get_if<bool>(); }
bool IsFalse(const Value& v) { return v.is<bool>() && !*v.get_if<bool>(); }

TEST(ReadTimeoutTest, NilNumbersAndDurations) {
  std::optional<double> s;
  ASSERT_TRUE(ReadTimeout(nullptr, &s));
  EXPECT_FALSE(s.has_value());
  Value nil;
  ASSERT_TRUE(ReadTimeout(&nil, &s));
  EXPECT_FALSE(s.has_value());
  Value half(0.5), thirty("30 s"), negative(-1.0), bad("soon");
  ASSERT_TRUE(ReadTimeout(&half, &s));
  EXPECT_DOUBLE_EQ(*s, 0.5);
  ASSERT_TRUE(ReadTimeout(&thirty, &s));
  EXPECT_DOUBLE_EQ(*s, 30);
  ASSERT_TRUE(ReadTimeout(&negative, &s));
  EXPECT_DOUBLE_EQ(*s, 0);
  EXPECT_FALSE(ReadTimeout(&bad, &s));
}

TEST_F(CoordinationTest, SemaphoreGrantsMaxLeasesThenWaitsForARelease) {
  Now("semaphore_register", Msg({{"name", "s"}, {"max_leases", 2}, {"lease_timeout", 30.0}}));
  EXPECT_TRUE(IsTrue(Now("semaphore_acquire", Msg({{"name", "s"}, {"lease_id", "a"}}))));
  EXPECT_TRUE(IsTrue(Now("semaphore_acquire", Msg({{"name", "s"}, {"lease_id", "b"}}))));
  // The same lease again is granted (the client retries acquires).
  EXPECT_TRUE(IsTrue(Now("semaphore_acquire", Msg({{"name", "s"}, {"lease_id", "b"}}))));
  EXPECT_FALSE(Rpc("semaphore_acquire", Msg({{"name", "s"}, {"lease_id", "c"}}), 7).has_value());
  EXPECT_EQ(Now("semaphore_value", Msg({{"name", "s"}})), Value(2));
  Now("semaphore_release", Msg({{"name", "s"}, {"lease_id", "a"}}));
  auto w = Wakeups();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].waiter, 7u);
  EXPECT_TRUE(IsTrue(w[0].reply.value));
  EXPECT_EQ(Now("semaphore_value", Msg({{"name", "s"}})), Value(2));
  // Releasing twice, or an unknown semaphore, is only ignored.
  Now("semaphore_release", Msg({{"name", "s"}, {"lease_id", "a"}}));
  Now("semaphore_release", Msg({{"name", "t"}, {"lease_id", "a"}}));
  EXPECT_EQ(Now("semaphore_value", Msg({{"name", "t"}})), Value(0));
}

TEST_F(CoordinationTest, SemaphoreErrorsAreStocks) {
  auto r = Rpc("semaphore_acquire", Msg({{"name", "nope"}, {"lease_id", "a"}}));
  ASSERT_TRUE(r && !r->ok());
  EXPECT_EQ(r->error_type, "RuntimeError");
  EXPECT_EQ(r->error_text, "Semaphore or Lock `nope` not known.");
  Now("semaphore_register", Msg({{"name", "s"}, {"max_leases", 2}, {"lease_timeout", Value()}}));
  Now("semaphore_register", Msg({{"name", "s"}, {"max_leases", 2}, {"lease_timeout", Value()}}));
  r = Rpc("semaphore_register", Msg({{"name", "s"}, {"max_leases", 3}}));
  ASSERT_TRUE(r && !r->ok());
  EXPECT_EQ(r->error_type, "ValueError");
  EXPECT_EQ(r->error_text, "Inconsistent max leases: 3, expected: 2");
}

TEST_F(CoordinationTest, SemaphoreTimeoutAnswersFalseAndCancelForgets) {
  Now("semaphore_register", Msg({{"name", "l"}, {"max_leases", 1}}));
  Now("semaphore_acquire", Msg({{"name", "l"}, {"lease_id", "a"}}));
  EXPECT_FALSE(Rpc("semaphore_acquire", Msg({{"name", "l"}, {"lease_id", "b"}}), 1));
  EXPECT_FALSE(Rpc("semaphore_acquire", Msg({{"name", "l"}, {"lease_id", "c"}}), 2));
  c_.Timeout(1);
  auto w = Wakeups();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(IsFalse(w[0].reply.value));
  c_.Cancel(2);
  Now("semaphore_release", Msg({{"name", "l"}, {"lease_id", "a"}}));
  EXPECT_TRUE(Wakeups().empty());
  EXPECT_EQ(Now("semaphore_value", Msg({{"name", "l"}})), Value(0));
}

TEST_F(CoordinationTest, LeasesExpireUnlessRefreshed) {
  Now("semaphore_register", Msg({{"name", "s"}, {"max_leases", 1}, {"lease_timeout", 30.0}}));
  Now("semaphore_acquire", Msg({{"name", "s"}, {"lease_id", "a"}}), /*now=*/0);
  EXPECT_FALSE(Rpc("semaphore_acquire", Msg({{"name", "s"}, {"lease_id", "b"}}), 5, 1));
  Now("semaphore_refresh_leases", Msg({{"name", "s"}, {"lease_ids", Keys({"a"})}}), 20);
  c_.ValidateLeases(40);
  EXPECT_TRUE(Wakeups().empty());
  c_.ValidateLeases(51);
  auto w = Wakeups();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].waiter, 5u);
  // A semaphore without a lease timeout keeps its leases.
  Now("semaphore_register",
      Msg({{"name", "forever"}, {"max_leases", 1}, {"lease_timeout", Value()}}));
  Now("semaphore_acquire", Msg({{"name", "forever"}, {"lease_id", "a"}}));
  c_.ValidateLeases(1e9);
  EXPECT_EQ(Now("semaphore_value", Msg({{"name", "forever"}})), Value(1));
}

TEST_F(CoordinationTest, ClosedSemaphoreWaitersEndAtTheirTimeout) {
  Now("semaphore_register", Msg({{"name", "s"}, {"max_leases", 1}}));
  Now("semaphore_acquire", Msg({{"name", "s"}, {"lease_id", "a"}}));
  EXPECT_FALSE(Rpc("semaphore_acquire", Msg({{"name", "s"}, {"lease_id", "b"}}), 3));
  Now("semaphore_close", Msg({{"name", "s"}}));
  EXPECT_EQ(c_.semaphores().size(), 0u);
  c_.Timeout(3);
  auto w = Wakeups();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(IsFalse(w[0].reply.value));
}

TEST_F(CoordinationTest, MultiLockWaitsForEveryLockAndHandsThemOn) {
  EXPECT_TRUE(IsTrue(Now("multi_lock_acquire", Msg({{"locks", Keys({"x", "y"})}, {"id", "A"}}))));
  EXPECT_FALSE(Rpc("multi_lock_acquire", Msg({{"locks", Keys({"y", "z"})}, {"id", "B"}}), 1));
  // One of several is enough with num_locks=1: "w" is free.
  EXPECT_TRUE(IsTrue(Now("multi_lock_acquire",
                         Msg({{"locks", Keys({"x", "w"})}, {"id", "C"}, {"num_locks", 1}}))));
  Now("multi_lock_release", Msg({{"id", "A"}}));
  auto w = Wakeups();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].waiter, 1u);
  auto r = Rpc("multi_lock_release", Msg({{"id", "A"}}));
  ASSERT_TRUE(r && !r->ok());
  EXPECT_EQ(r->error_type, "KeyError");
  Now("multi_lock_release", Msg({{"id", "B"}}));
  Now("multi_lock_release", Msg({{"id", "C"}}));
  EXPECT_EQ(c_.multi_locks().num_locks(), 0u);
}

TEST_F(CoordinationTest, MultiLockTimeoutLeavesEveryQueue) {
  Now("multi_lock_acquire", Msg({{"locks", Keys({"x"})}, {"id", "A"}}));
  EXPECT_FALSE(Rpc("multi_lock_acquire", Msg({{"locks", Keys({"x", "y"})}, {"id", "B"}}), 1));
  c_.Timeout(1);
  auto w = Wakeups();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(IsFalse(w[0].reply.value));
  // "y" is free again, and B may ask anew.
  EXPECT_TRUE(IsTrue(Now("multi_lock_acquire", Msg({{"locks", Keys({"y"})}, {"id", "B"}}))));
  auto again = Rpc("multi_lock_acquire", Msg({{"locks", Keys({"y"})}, {"id", "B"}}));
  ASSERT_TRUE(again && !again->ok());
  EXPECT_EQ(again->error_type, "AssertionError");
}

TEST_F(CoordinationTest, EventWakesWaitersAndForgetsClearEvents) {
  EXPECT_FALSE(Rpc("event_wait", Msg({{"name", "e"}}), 1));
  EXPECT_FALSE(Rpc("event_wait", Msg({{"name", "e"}}), 2));
  c_.Timeout(2);
  EXPECT_TRUE(IsFalse(Wakeups().at(0).reply.value));
  EXPECT_TRUE(IsFalse(Now("event_is_set", Msg({{"name", "e"}}))));
  Now("event_set", Msg({{"name", "e"}}));
  auto w = Wakeups();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].waiter, 1u);
  EXPECT_TRUE(IsTrue(Now("event_wait", Msg({{"name", "e"}}))));
  EXPECT_TRUE(IsTrue(Now("event_is_set", Msg({{"name", "e"}}))));
  Now("event_clear", Msg({{"name", "e"}}));
  EXPECT_EQ(c_.events().size(), 0u);
  EXPECT_FALSE(Rpc("event_wait", Msg({{"name", "e"}}), 3));
  c_.Cancel(3);
  EXPECT_EQ(c_.events().size(), 0u);
}

Value Record(const Value& reply, const char* field) {
  const Value* v = reply.Find(field);
  return v ? *v : Value("<absent>");
}

TEST_F(CoordinationTest, QueueHandsOutValuesInOrderAndWaits) {
  Now("queue_create", Msg({{"name", "q"}, {"maxsize", 1}}));
  Now("queue_put", Msg({{"name", "q"}, {"data", 1}}));
  EXPECT_FALSE(Rpc("queue_put", Msg({{"name", "q"}, {"data", 2}}), 1));  // full
  EXPECT_EQ(Now("queue_qsize", Msg({{"name", "q"}})), Value(1));
  Value got = Now("queue_get", Msg({{"name", "q"}}));
  EXPECT_EQ(Record(got, "type"), Value("msgpack"));
  EXPECT_EQ(Record(got, "value"), Value(1));
  auto w = Wakeups();  // the waiting put got room
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].waiter, 1u);
  Value all = Now("queue_get", Msg({{"name", "q"}, {"batch", true}}));
  ASSERT_EQ(all.array()->size(), 1u);
  EXPECT_EQ(Record((*all.array())[0], "value"), Value(2));
  EXPECT_TRUE(Now("queue_get", Msg({{"name", "q"}, {"batch", true}})).array()->empty());
  // A get waits for a put; a batch of two waits for both.
  EXPECT_FALSE(Rpc("queue_get", Msg({{"name", "q"}, {"batch", 2}}), 2));
  Now("queue_put", Msg({{"name", "q"}, {"data", 3}}));
  EXPECT_TRUE(Wakeups().empty());
  Now("queue_put", Msg({{"name", "q"}, {"data", 4}}));
  w = Wakeups();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].reply.value.array()->size(), 2u);
}

TEST_F(CoordinationTest, QueueErrorsAreStocks) {
  auto r = Rpc("queue_get", Msg({{"name", "nope"}}));
  ASSERT_TRUE(r && !r->ok());
  EXPECT_EQ(r->error_type, "KeyError");
  EXPECT_EQ(r->error_text, "nope");
  Now("queue_create", Msg({{"name", "q"}, {"maxsize", 0}}));
  r = Rpc("queue_get", Msg({{"name", "q"}, {"batch", 2}, {"timeout", 1.0}}));
  ASSERT_TRUE(r && !r->ok());
  EXPECT_EQ(r->error_type, "NotImplementedError");
  EXPECT_FALSE(Rpc("queue_get", Msg({{"name", "q"}, {"timeout", 0.1}}), 4));
  c_.Timeout(4);
  auto w = Wakeups();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].reply.error_type, "TimeoutError");
}

TEST_F(CoordinationTest, QueueHoldsFuturesUntilTheGetterWantsThem) {
  using K = KeyChange::Kind;
  Now("queue_create", Msg({{"name", "q"}}));
  Now("queue_create", Msg({{"name", "q"}}));  // a second user
  Now("queue_put", Msg({{"name", "q"}, {"key", "f"}}));
  Now("queue_put", Msg({{"name", "q"}, {"key", "g"}}));
  auto out = c_.TakeOutbox();
  ASSERT_EQ(out.key_changes.size(), 2u);
  EXPECT_EQ(out.key_changes[0].kind, K::kDesire);
  EXPECT_EQ(out.key_changes[0].client, "queue-q");
  Value got = Now("queue_get", Msg({{"name", "q"}}));
  EXPECT_EQ(Record(got, "type"), Value("Future"));
  EXPECT_EQ(Record(got, "value"), Value("f"));
  EXPECT_TRUE(c_.TakeOutbox().key_changes.empty());
  c_.HandleStreamOp("queue-future-release", Msg({{"name", "q"}, {"key", "f"}}), "client-1");
  out = c_.TakeOutbox();
  ASSERT_EQ(out.key_changes.size(), 2u);
  EXPECT_EQ(out.key_changes[0].kind, K::kDesire);
  EXPECT_EQ(out.key_changes[0].client, "client-1");
  EXPECT_EQ(out.key_changes[1].kind, K::kRelease);
  EXPECT_EQ(out.key_changes[1].client, "queue-q");
  // The last user's release lets go of "g", still queued, and of the pseudo-client.
  c_.HandleStreamOp("queue_release", Msg({{"name", "q"}}), "client-1");
  EXPECT_TRUE(c_.TakeOutbox().key_changes.empty());
  c_.HandleStreamOp("queue_release", Msg({{"name", "q"}}), "client-1");
  out = c_.TakeOutbox();
  ASSERT_EQ(out.key_changes.size(), 2u);
  EXPECT_EQ(out.key_changes[0].kind, K::kRelease);
  EXPECT_EQ(out.key_changes[0].keys, std::vector<Key>{Key("g")});
  EXPECT_EQ(out.key_changes[1].kind, K::kRemoveClient);
  EXPECT_EQ(c_.queues().size(), 0u);
}

TEST_F(CoordinationTest, QueuePutThatTimesOutLetsGoOfItsFuture) {
  Now("queue_create", Msg({{"name", "q"}, {"maxsize", 1}}));
  Now("queue_put", Msg({{"name", "q"}, {"data", 0}}));
  EXPECT_FALSE(Rpc("queue_put", Msg({{"name", "q"}, {"key", "f"}, {"timeout", 0.1}}), 9));
  c_.TakeOutbox();
  c_.Timeout(9);
  auto out = c_.TakeOutbox();
  ASSERT_EQ(out.wakeups.size(), 1u);
  EXPECT_EQ(out.wakeups[0].reply.error_type, "TimeoutError");
  ASSERT_EQ(out.key_changes.size(), 1u);
  EXPECT_EQ(out.key_changes[0].kind, KeyChange::Kind::kRelease);
}

TEST_F(CoordinationTest, VariableGetWaitsForTheFirstSet) {
  EXPECT_FALSE(Rpc("variable_get", Msg({{"name", "v"}, {"client", "c"}}), 1));
  EXPECT_FALSE(Rpc("variable_get", Msg({{"name", "v"}, {"client", "c"}, {"timeout", 0.0}}), 2));
  c_.Timeout(2);
  EXPECT_EQ(Wakeups().at(0).reply.error_type, "TimeoutError");
  Now("variable_set", Msg({{"name", "v"}, {"data", 5}, {"timeout", "30 s"}}));
  auto w = Wakeups();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(Record(w[0].reply.value, "value"), Value(5));
  EXPECT_EQ(Record(Now("variable_get", Msg({{"name", "v"}, {"client", "c"}})), "value"), Value(5));
}

TEST_F(CoordinationTest, VariableLetsGoOfAnOldFutureOnceItsGettersConfirm) {
  using K = KeyChange::Kind;
  Now("variable_set", Msg({{"name", "v"}, {"key", "f"}}));
  auto out = c_.TakeOutbox();
  ASSERT_EQ(out.key_changes.size(), 1u);
  EXPECT_EQ(out.key_changes[0].client, "variable-v");
  Value got = Now("variable_get", Msg({{"name", "v"}, {"client", "c1"}}));
  Value token = Record(got, "token");
  ASSERT_TRUE(token.str());
  Now("variable_get", Msg({{"name", "v"}, {"client", "c2"}}));
  Now("variable_set", Msg({{"name", "v"}, {"data", 1}}));
  EXPECT_TRUE(c_.TakeOutbox().key_changes.empty());  // two tokens out
  c_.HandleStreamOp("variable-future-received-confirm",
                    Msg({{"name", "v"}, {"key", "f"}, {"token", token}}), "c1");
  out = c_.TakeOutbox();
  ASSERT_EQ(out.key_changes.size(), 1u);
  EXPECT_EQ(out.key_changes[0].kind, K::kDesire);
  EXPECT_EQ(out.key_changes[0].client, "c1");
  c_.RemoveClient("c2");  // gone without confirming
  out = c_.TakeOutbox();
  ASSERT_EQ(out.key_changes.size(), 1u);
  EXPECT_EQ(out.key_changes[0].kind, K::kRelease);
  EXPECT_EQ(out.key_changes[0].client, "variable-v");
}

TEST_F(CoordinationTest, VariableDeleteLetsGoOfItsFutureAndPseudoClient) {
  using K = KeyChange::Kind;
  Now("variable_set", Msg({{"name", "v"}, {"key", "f"}}));
  c_.TakeOutbox();
  c_.HandleStreamOp("variable_delete", Msg({{"name", "v"}}), "c");
  auto out = c_.TakeOutbox();
  ASSERT_EQ(out.key_changes.size(), 2u);
  EXPECT_EQ(out.key_changes[0].kind, K::kRelease);
  EXPECT_EQ(out.key_changes[1].kind, K::kRemoveClient);
  EXPECT_EQ(out.key_changes[1].client, "variable-v");
  EXPECT_EQ(c_.variables().size(), 0u);
}

TEST_F(CoordinationTest, TupleNamesAreKeys) {
  Value name(Array{Value("x"), Value(1)});
  Now("event_set", Msg({{"name", name}}));
  EXPECT_TRUE(IsTrue(Now("event_is_set", Msg({{"name", name}}))));
  Now("queue_create", Msg({{"name", name}}));
  Now("queue_put", Msg({{"name", name}, {"key", "f"}}));
  EXPECT_EQ(c_.TakeOutbox().key_changes.at(0).client, "queue-('x', 1)");
}

}  // namespace
}  // namespace dn
