#include "scheduler/diagnostics/topic_broker.h"

#include "scheduler/diagnostics/owned_value.h"

namespace dn {

TopicBroker::Topic& TopicBroker::Get(const std::string& name) {
  auto [it, inserted] = topics_.try_emplace(name);
  if (inserted) order_.push_back(name);
  return it->second;
}

void TopicBroker::Subscribe(const std::string& topic, const std::string& client) {
  Get(topic).subscribers.insert(client);
}

void TopicBroker::Unsubscribe(const std::string& topic, const std::string& client) {
  if (auto it = topics_.find(topic); it != topics_.end()) it->second.subscribers.erase(client);
}

void TopicBroker::RemoveSubscriber(const std::string& client) {
  for (auto& [name, topic] : topics_) topic.subscribers.erase(client);
}

std::vector<EventDelivery> TopicBroker::Publish(const std::vector<std::string>& topics,
                                                const Value& msg, double now) {
  std::vector<EventDelivery> out;
  if (topics.empty()) return out;
  // One event shared by every topic, as stock appends the same (time, msg) tuple.
  const Value event(Array{Value(now), OwnedValue(msg)});
  for (const std::string& name : topics) {
    Topic& topic = Get(name);
    if (maxlen_ > 0) {
      if (topic.events.size() == maxlen_) topic.events.pop_front();
      topic.events.push_back(event);
    }
    for (const std::string& client : topic.subscribers) {
      out.push_back({client, Value(Map{{Value("op"), Value("event")},
                                       {Value("topic"), Value(name)},
                                       {Value("event"), event}})});
    }
  }
  return out;
}

Value TopicBroker::Events(const std::string& topic) const {
  Array out;
  if (auto it = topics_.find(topic); it != topics_.end()) {
    out.assign(it->second.events.begin(), it->second.events.end());
  }
  return Value(std::move(out));
}

Value TopicBroker::AllEvents() const {
  Map out;
  for (const std::string& name : order_) {
    const Topic& topic = topics_.at(name);
    if (topic.events.empty()) continue;
    out.push_back({Value(name), Value(Array(topic.events.begin(), topic.events.end()))});
  }
  return Value(std::move(out));
}

}  // namespace dn
