// What a topic's configs (its overrides over the broker's) ask of a
// Produce append: the ReplicaManager's AppendPolicy, resolved from
// BrokerConfig, so the replica layer never reads configs itself.
#pragma once

#include <map>
#include <string>

#include "src/replica/replica_manager.h"

namespace kgw {

class BrokerConfig;

AppendPolicy append_policy(const BrokerConfig& config,
                           const std::map<std::string, std::string>& overrides);

}  // namespace kgw
