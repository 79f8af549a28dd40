// The embedded "consumer" protocol of classic groups: the subscription a
// Kafka consumer puts in its JoinGroup protocol metadata. The coordinator
// treats metadata as opaque except for the subscribed topics, which it
// needs for OffsetDelete (GROUP_SUBSCRIBED_TO_TOPIC) and offset expiry.
//
// ConsumerProtocolSubscription (every version starts the same way):
//   version int16, topics [int32 count] of (int16 length, bytes), ...
// The fields after the topics (user data, owned partitions, generation,
// rack) differ by version and are not needed here.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace kgw {

inline constexpr std::string_view kConsumerProtocolType = "consumer";

// The topics of a subscription; nullopt if the bytes are not one.
std::optional<std::set<std::string>> parse_subscription_topics(std::string_view metadata);

}  // namespace kgw
