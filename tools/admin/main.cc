// kgw-admin: the command-line admin tool for kgw (and any Kafka cluster),
// talking the Kafka protocol through librdkafka's admin API. Its command
// groups follow Kafka's scripts; bin/kafka-*.sh run it with Kafka's flags.
#include <cstdio>
#include <string>
#include <vector>

#include "tools/admin/commands.h"

namespace kgw::admin {

std::vector<std::string> with_action_flag(const std::vector<std::string>& args,
                                          const std::vector<std::string>& actions) {
  std::vector<std::string> out = args;
  if (!out.empty() && out[0].rfind("--", 0) != 0) {
    for (const auto& a : actions) {
      if (out[0] == a) {
        out[0] = "--" + a;
        break;
      }
    }
  }
  return out;
}

int fail(const std::string& what, const std::string& message, int status) {
  std::fprintf(stderr, "%s %s\n", what.c_str(), message.c_str());
  return status;
}

}  // namespace kgw::admin

namespace {

constexpr const char* kUsage =
    "Usage: kgw-admin GROUP ACTION --bootstrap-server HOST:PORT [options]\n"
    "\n"
    "Groups and actions (flags as in Kafka's scripts; GROUP --help lists them):\n"
    "  topics    create | list | describe | alter | delete        (kafka-topics.sh)\n"
    "  configs   describe | alter                                  (kafka-configs.sh)\n"
    "  groups    list | describe | reset-offsets | delete          (kafka-consumer-groups.sh)\n"
    "  records   delete                                            (kafka-delete-records.sh)\n"
    "  acls      add | list | remove                               (kafka-acls.sh)\n"
    "  cluster   [describe] [--etcd HOST:PORT,...]                 (brokers, controller, etcd)\n"
    "  cluster   unregister --id N                                 (kafka-cluster.sh)\n"
    "  reassign  execute | verify | cancel | list                  (kafka-reassign-partitions.sh)\n"
    "  migrate   start | status | cutover | rollback | finalize --topic T [--json]\n"
    "                                                              (off a legacy cluster, kgw "
    "--upstream)\n"
    "\n"
    "Examples:\n"
    "  kgw-admin topics create --bootstrap-server 127.0.0.1:9092 --topic t --partitions 3 \\\n"
    "      --config cleanup.policy=compact\n"
    "  kgw-admin configs alter --bootstrap-server 127.0.0.1:9092 --entity-type topics \\\n"
    "      --entity-name t --add-config retention.ms=3600000\n"
    "  kgw-admin records delete --bootstrap-server 127.0.0.1:9092 --topic t --partition 0 --offset "
    "100\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace kgw::admin;
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string group = argv[1];
  std::vector<std::string> rest(argv + 2, argv + argc);
  if (group == "topics") return topics_command(rest);
  if (group == "configs") return configs_command(rest);
  if (group == "groups" || group == "consumer-groups") return groups_command(rest);
  if (group == "records" || group == "delete-records") return records_command(rest);
  if (group == "acls") return acls_command(rest);
  if (group == "cluster") return cluster_command(rest);
  if (group == "reassign" || group == "reassign-partitions") return reassign_command(rest);
  if (group == "migrate") return migrate_command(rest);
  std::fprintf(stderr,
               "kgw-admin: unknown command group '%s' (topics, configs, groups, records, acls, "
               "cluster, reassign, migrate)\n",
               group.c_str());
  return 2;
}
