// A migrated topic's state (issue 17), as its topic configs carry it:
// kgw.migration.state (local, mirroring, cutover, upstream) and
// kgw.migration.finalized (false from the cutover until finalize). The
// steps a user may take (kgw-admin migrate sends each as an
// IncrementalAlterConfigs) and those only kgw takes (src/proxy/cutover.h):
//
//   (no copy) --start (CreateTopics)--> mirroring
//   mirroring --cutover--> cutover          (user)
//   cutover   --switch--> local, finalized=false   (kgw, fenced)
//   cutover   --abandon--> mirroring               (kgw, past the pause)
//   mirroring | cutover --rollback--> upstream     (user; kgw then drops
//                                                   its copy)
//   local, finalized=false --finalize--> local, finalized=true   (user)
//   local, finalized=false --rollback--> rollback  (user; kgw copies its
//                                                   records back:
//                                                   src/proxy/copy_back.h)
//   rollback --switch--> upstream                  (kgw, fenced; kgw keeps
//                                                   a stub of its copy)
//   upstream (a stub) --start--> mirroring         (user: migrating again)
//
// Anything else is refused, so that no AlterConfigs hands clients a copy
// that is not caught up or mirrors into a topic kgw owns. Pure.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <tuple>

#include "src/cluster/metadata_image.h"
#include "src/replica/partition_resolver.h"

namespace kgw {

struct MigrationStep {
  std::string state;  // "local" when the topic has none
  bool finalized = true;
  std::string leader_epoch;  // kgw.migration.leader.epoch, "" if unset
  std::string legacy_end;    // kgw.migration.legacy.end
  std::string diverged;      // kgw.migration.diverged
  bool operator==(const MigrationStep&) const = default;
};

// Every config of a migration starts so; a full AlterConfigs keeps them.
inline constexpr std::string_view kMigrationConfigPrefix = "kgw.migration.";

// Set by kgw only (src/proxy/cutover.h): where the legacy log ended at
// the switch ("PARTITION:OFFSET,..."), and what reached the legacy cluster
// around kgw since.
inline constexpr std::string_view kMigrationLegacyEnd = "kgw.migration.legacy.end";
inline constexpr std::string_view kMigrationDiverged = "kgw.migration.diverged";

inline MigrationStep migration_step(const std::map<std::string, std::string>& configs) {
  MigrationStep s;
  s.state = std::string(PartitionResolver::migration_state(configs));
  auto f = configs.find(std::string(PartitionResolver::kMigrationFinalized));
  s.finalized = f == configs.end() || f->second != "false";
  // 0, the default DescribeConfigs shows (and a full AlterConfigs built
  // from it sends back), is no epoch: the cutover sets one above 0.
  auto e = configs.find(std::string(kMigrationLeaderEpoch));
  if (e != configs.end() && e->second != "0") s.leader_epoch = e->second;
  if (auto l = configs.find(std::string(kMigrationLegacyEnd)); l != configs.end()) {
    s.legacy_end = l->second;
  }
  if (auto d = configs.find(std::string(kMigrationDiverged)); d != configs.end()) {
    s.diverged = d->second;
  }
  return s;
}

// "" if a user may go from `was` to `now`, else why not (for the client).
inline std::string migration_step_error(const MigrationStep& was, const MigrationStep& now) {
  if (was == now) return "";
  for (const auto& [name, before, after] :
       {std::tuple{kMigrationLeaderEpoch, &was.leader_epoch, &now.leader_epoch},
        std::tuple{kMigrationLegacyEnd, &was.legacy_end, &now.legacy_end},
        std::tuple{kMigrationDiverged, &was.diverged, &now.diverged}}) {
    if (*before != *after) return std::string(name) + " is set by kgw's migration steps only";
  }
  const std::string_view from = was.state;
  const std::string_view to = now.state;
  const bool same_final = was.finalized == now.finalized;
  if (from == PartitionResolver::kMirroring && to == PartitionResolver::kCutover && same_final) {
    return "";
  }
  if ((from == PartitionResolver::kMirroring || from == PartitionResolver::kCutover) &&
      to == PartitionResolver::kUpstreamState && same_final) {
    return "";
  }
  if (from == PartitionResolver::kLocal && to == PartitionResolver::kLocal && !was.finalized &&
      now.finalized) {
    return "";
  }
  if (from == PartitionResolver::kLocal && !was.finalized && to == PartitionResolver::kRollback &&
      same_final) {
    return "";
  }
  // Migrating again a topic rolled back after its cutover: kgw's stub
  // (its leader epoch kept) mirrors on from where the rollback left it.
  if (from == PartitionResolver::kUpstreamState && !was.leader_epoch.empty() &&
      to == PartitionResolver::kMirroring && same_final) {
    return "";
  }
  std::string why = std::string(PartitionResolver::kMigrationState) + " is " + was.state;
  if (!was.finalized) why += " (not finalized)";
  why += "; it changes only along kgw-admin migrate's steps (start, cutover, rollback, finalize)";
  if (from == PartitionResolver::kLocal && !was.finalized &&
      to == PartitionResolver::kUpstreamState) {
    why +=
        ": after the cutover a rollback goes through kgw.migration.state=rollback, which "
        "copies kgw's records back to the legacy cluster first";
  }
  if (from == PartitionResolver::kRollback) {
    why +=
        ": kgw switches the topic to the legacy cluster itself once its records are copied "
        "back (kgw-admin migrate status shows how far)";
  }
  if (from == PartitionResolver::kLocal && was.finalized && to == PartitionResolver::kRollback) {
    why += ": finalized, the legacy copy is written off";
  }
  return why;
}

}  // namespace kgw
