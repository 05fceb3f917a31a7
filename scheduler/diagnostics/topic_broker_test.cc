#include "scheduler/diagnostics/topic_broker.h"

#include <gtest/gtest.h>

namespace dn {
namespace {

Value Event(double ts, Value msg) { return Value(Array{Value(ts), std::move(msg)}); }

TEST(TopicBrokerTest, EventsAreLoggedPerTopicAndPushedToSubscribers) {
  TopicBroker broker(10);
  broker.Subscribe("t", "c1");
  broker.Subscribe("t", "c2");
  broker.Subscribe("other", "c3");
  std::vector<EventDelivery> out = broker.Publish({"t"}, Value("hello"), 1.5);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].client, "c1");
  EXPECT_EQ(out[0].message, Value(Map{{Value("op"), Value("event")},
                                      {Value("topic"), Value("t")},
                                      {Value("event"), Event(1.5, Value("hello"))}}));
  EXPECT_EQ(broker.Events("t"), Value(Array{Event(1.5, Value("hello"))}));
  EXPECT_EQ(broker.Events("unknown"), Value(Array{}));

  broker.Unsubscribe("t", "c1");
  out = broker.Publish({"t", "other"}, Value(1), 2.0);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].client, "c2");
  EXPECT_EQ(out[1].client, "c3");
  broker.RemoveSubscriber("c2");
  EXPECT_EQ(broker.Publish({"t"}, Value(2), 3.0).size(), 0u);
}

TEST(TopicBrokerTest, EachTopicKeepsItsLastEventsOnly) {
  TopicBroker broker(3);
  for (int i = 0; i < 5; ++i) broker.Publish({"t"}, Value(i), i);
  EXPECT_EQ(broker.Events("t"),
            Value(Array{Event(2, Value(2)), Event(3, Value(3)), Event(4, Value(4))}));
}

TEST(TopicBrokerTest, AllEventsListsTheTopicsWithEventsInFirstUseOrder) {
  TopicBroker broker(10);
  broker.Subscribe("quiet", "c");  // a topic without events is left out
  broker.Publish({"b"}, Value("x"), 1);
  broker.Publish({"a", "b"}, Value("y"), 2);
  EXPECT_EQ(broker.AllEvents(),
            Value(Map{{Value("b"), Value(Array{Event(1, Value("x")), Event(2, Value("y"))})},
                      {Value("a"), Value(Array{Event(2, Value("y"))})}}));
}

TEST(TopicBrokerTest, AnEventOwnsItsBytes) {
  TopicBroker broker(10);
  auto frame = std::make_shared<std::string>("0123456789");
  {
    Buffer slice(frame, reinterpret_cast<const uint8_t*>(frame->data()) + 2, 3);
    broker.Publish({"t"}, Value(Map{{Value("b"), Value(Bin{slice})}}), 1);
  }
  EXPECT_EQ(frame.use_count(), 1);  // the received frame is not kept alive
  const Value events = broker.Events("t");
  const Value& msg = (*(*events.array())[0].array())[1];
  EXPECT_EQ(msg.Find("b")->get_if<Bin>()->data.view(), "234");
}

}  // namespace
}  // namespace dn
