// BrokerConfig: Kafka's validation messages and the precedence of topic
// overrides, dynamic and static broker configs and defaults.
#include <doctest/doctest.h>

#include <algorithm>

#include "src/broker/broker_config.h"

using namespace kgw;

namespace {
std::string check(const char* name, const char* value) {
  const ConfigDef* d = find_topic_config(name);
  REQUIRE(d != nullptr);
  return validate_config_value(*d, value);
}
}  // namespace

TEST_CASE("topic config values are checked with Kafka's messages") {
  CHECK(check("retention.ms", "-1") == "");
  CHECK(check("retention.ms", "-2") ==
        "Invalid value -2 for configuration retention.ms: Value must be at least -1");
  CHECK(check("retention.ms", "1h") ==
        "Invalid value 1h for configuration retention.ms: Not a number of type LONG");
  CHECK(check("segment.bytes", "3000000000") ==
        "Invalid value 3000000000 for configuration segment.bytes: Not a number of type INT");
  CHECK(check("min.cleanable.dirty.ratio", "1.5") ==
        "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more "
        "than 1.0");
  CHECK(check("cleanup.policy", "compact,delete") == "");
  CHECK(check("cleanup.policy", "compact, wipe") ==
        "Invalid value wipe for configuration cleanup.policy: String must be one of: compact, "
        "delete");
  CHECK(check("preallocate", "TRUE") == "");
  CHECK(check("preallocate", "yes") ==
        "Invalid value yes for configuration preallocate: Expected value to be either true or "
        "false");
  CHECK(check("message.format.version", "0.10.0.0") == "");
  CHECK(check("message.format.version", "ten") != "");
  CHECK(check("remote.storage.enable", "true").find("Tiered Storage") != std::string::npos);
  CHECK(check("follower.replication.throttled.replicas", "0:1,1:1") == "");
  CHECK(BrokerConfig::validate_topic_overrides({{"retention.mss", "1"}}) ==
        "Unknown topic config name: retention.mss");
}

TEST_CASE("a topic config resolves through overrides, dynamic, static and default layers") {
  BrokerConfig c;
  std::map<std::string, std::string> none;
  CHECK(c.topic_value(none, "retention.ms") == "604800000");
  REQUIRE(c.set("log.retention.hours", "1") == "");
  CHECK(c.topic_value(none, "retention.ms") == "3600000");
  REQUIRE(c.set("log.retention.minutes", "2") == "");
  CHECK(c.topic_value(none, "retention.ms") == "120000");
  c.set_dynamic(DynamicLayer::kDefault, {{"log.retention.ms", "5000"}});
  CHECK(c.topic_value(none, "retention.ms") == "5000");
  c.set_dynamic(DynamicLayer::kBroker, {{"log.retention.ms", "6000"}});
  CHECK(c.topic_value(none, "retention.ms") == "6000");
  CHECK(c.topic_value({{"retention.ms", "7000"}}, "retention.ms") == "7000");

  auto described = c.describe_topic(none);
  auto it = std::find_if(described.begin(), described.end(),
                         [](const ConfigValue& v) { return v.name == "retention.ms"; });
  REQUIRE(it != described.end());
  CHECK(it->source == ConfigSource::kDynamicBroker);
  // Every layer behind it, highest first.
  REQUIRE(it->synonyms.size() == 5);
  CHECK(it->synonyms[0].source == ConfigSource::kDynamicBroker);
  CHECK(it->synonyms[1].source == ConfigSource::kDynamicDefaultBroker);
  CHECK(it->synonyms[2].name == "log.retention.minutes");
  CHECK(it->synonyms[3].name == "log.retention.hours");
  CHECK(it->synonyms[4].source == ConfigSource::kDefault);

  CHECK(BrokerConfig::validate_dynamic({{"num.partitions", "2"}}) ==
        "Cannot update these configs dynamically: Set(num.partitions)");
  CHECK(BrokerConfig::validate_dynamic({{"log.retention.ms", "x"}}).find("Not a number") !=
        std::string::npos);

  LogPolicy p = c.log_policy({{"cleanup.policy", "compact"}, {"min.cleanable.dirty.ratio", "0.2"}});
  CHECK(p.compact);
  CHECK(!p.delete_enabled);
  CHECK(p.retention_ms == 6000);
  CHECK(p.min_cleanable_dirty_ratio == doctest::Approx(0.2));
}
