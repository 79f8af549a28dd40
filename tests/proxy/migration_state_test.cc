// The steps a user may take through a migration's states
// (src/proxy/migration_state.h), table-driven: every allowed step passes,
// everything else is refused with a reason that names kgw-admin migrate.
#include "src/proxy/migration_state.h"

#include "src/proxy/legacy_end.h"

#include <doctest/doctest.h>

#include <map>
#include <string>

namespace kgw {
namespace {

using Configs = std::map<std::string, std::string>;

Configs state(const std::string& s, const char* finalized = nullptr, const char* epoch = nullptr) {
  Configs c;
  if (!s.empty()) c["kgw.migration.state"] = s;
  if (finalized != nullptr) c["kgw.migration.finalized"] = finalized;
  if (epoch != nullptr) c["kgw.migration.leader.epoch"] = epoch;
  return c;
}

std::string step(const Configs& from, const Configs& to) {
  return migration_step_error(migration_step(from), migration_step(to));
}

TEST_CASE("a topic without the configs is local and finalized") {
  const MigrationStep s = migration_step({});
  CHECK(s.state == "local");
  CHECK(s.finalized);
  CHECK(s.leader_epoch.empty());
}

TEST_CASE("the user's steps are allowed") {
  CHECK(step(state("mirroring"), state("cutover")).empty());
  CHECK(step(state("mirroring"), state("upstream")).empty());
  CHECK(step(state("cutover"), state("upstream")).empty());
  CHECK(step(state("local", "false", "3"), state("local", "true", "3")).empty());
  // A rollback after the switch: kgw copies its records back first.
  CHECK(step(state("local", "false", "3"), state("rollback", "false", "3")).empty());
  // Migrating again after such a rollback: kgw's stub mirrors on.
  CHECK(step(state("upstream", "false", "3"), state("mirroring", "false", "3")).empty());
  // Nothing changes: always fine (an AlterConfigs of other configs).
  CHECK(step(state("mirroring"), state("mirroring")).empty());
  CHECK(step(state(""), state("")).empty());
}

TEST_CASE("a full AlterConfigs that sends back the described defaults is no step") {
  // librdkafka's test_AlterConfigs_simple (its suite's 0092) describes a
  // topic and sends every config back, kgw's own defaults included.
  const Configs defaults = {{"kgw.migration.state", "local"},
                            {"kgw.migration.finalized", "true"},
                            {"kgw.migration.leader.epoch", "0"},
                            {"kgw.migration.legacy.end", ""},
                            {"kgw.migration.diverged", ""}};
  CHECK(step(state(""), defaults).empty());
  CHECK(step(defaults, state("")).empty());
  CHECK(migration_step(defaults).leader_epoch.empty());
}

TEST_CASE("kgw's own steps and steps out of order are refused") {
  struct Case {
    Configs from, to;
  };
  const Case refused[] = {
      {state("mirroring"), state("local")},              // a switch without the fence
      {state("cutover"), state("local", "false", "2")},  // kgw's switch
      {state("cutover"), state("mirroring")},            // kgw's abandon
      {state(""), state("mirroring")},                   // mirroring into a topic kgw owns
      {state(""), state("cutover")},
      {state("local"), state("local", "false")},                        // un-finalizing
      {state("local", "false", "2"), state("upstream", "false", "2")},  // skipping the copy back
      {state("local", "false", "2"), state("local", "false", "5")},     // the epoch
      {state("upstream"), state("mirroring")},
      {state("local", "true", "2"), state("rollback", "true", "2")},       // finalized: written off
      {state("rollback", "false", "2"), state("upstream", "false", "2")},  // kgw's switch back
      {state("rollback", "false", "2"), state("local", "false", "2")},
      {state(""), state("rollback")},
  };
  for (const Case& c : refused) {
    const std::string why = step(c.from, c.to);
    CHECK_FALSE(why.empty());
    if (why.find("leader.epoch") == std::string::npos) {
      CHECK(why.find("kgw-admin migrate") != std::string::npos);
    }
  }
  // The refusals say what to do instead.
  CHECK(step(state("local", "false", "2"), state("upstream", "false", "2"))
            .find("kgw.migration.state=rollback") != std::string::npos);
  CHECK(
      step(state("rollback", "false", "2"), state("upstream", "false", "2")).find("copied back") !=
      std::string::npos);
  CHECK(step(state("local", "true", "2"), state("rollback", "true", "2")).find("written off") !=
        std::string::npos);
}

TEST_CASE("kgw.migration.legacy.end round-trips and skips damaged items") {
  const std::map<std::int32_t, std::int64_t> ends{{0, 12}, {1, 0}, {10, 9000000000LL}};
  CHECK(format_legacy_end(ends) == "0:12,1:0,10:9000000000");
  CHECK(parse_legacy_end(format_legacy_end(ends)) == ends);
  CHECK(format_legacy_end({}).empty());
  CHECK(parse_legacy_end("").empty());
  // Damaged items go, the rest stays.
  CHECK(parse_legacy_end("0:5,x:3,1:,2:7y,-1:4,:8,3:9,") ==
        std::map<std::int32_t, std::int64_t>{{0, 5}, {3, 9}});
}

}  // namespace
}  // namespace kgw
