#pragma once

#include <cstddef>
#include <deque>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/msgpack/value.h"

namespace dn {

/// One `event` message to push to one subscribed client.
struct EventDelivery {
  std::string client;
  Value message;  ///< {"op": "event", "topic": t, "event": [ts, msg]}
};

/// Structured event topics (distributed/broker.py): `log_event` appends `(time, msg)`
/// to each named topic's bounded log and pushes it to the clients subscribed to that
/// topic; `events` reads the logs back.
///
/// Pure: the caller gives the time and sends the deliveries. Each topic keeps its last
/// `maxlen` events (`distributed.admin.low-level-log-length`). Unlike stock, a client's
/// subscriptions end when it leaves (RemoveSubscriber), so they stay bounded too.
/// Owned by the scheduler's event loop.
class TopicBroker {
 public:
  explicit TopicBroker(size_t maxlen) : maxlen_(maxlen) {}

  void Subscribe(const std::string& topic, const std::string& client);
  void Unsubscribe(const std::string& topic, const std::string& client);
  /// Drop every subscription of `client` (its stream closed).
  void RemoveSubscriber(const std::string& client);

  /// Log `msg` at `now` under each of `topics`; return the messages for subscribers.
  /// The event keeps its own copy of `msg`'s bytes (OwnedValue).
  std::vector<EventDelivery> Publish(const std::vector<std::string>& topics, const Value& msg,
                                     double now);

  /// The events of one topic, oldest first, as [[ts, msg], ...] (empty if unknown).
  Value Events(const std::string& topic) const;
  /// {topic: [[ts, msg], ...]} for every topic with events, in the order topics were
  /// first used (stock's get_events(None)).
  Value AllEvents() const;

 private:
  struct Topic {
    std::deque<Value> events;  ///< each [ts, msg]
    std::set<std::string> subscribers;
  };
  Topic& Get(const std::string& name);

  size_t maxlen_;
  std::unordered_map<std::string, Topic> topics_;
  std::vector<std::string> order_;  ///< topic names, first use first
};

}  // namespace dn
