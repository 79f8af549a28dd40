// kgw-admin records delete (and bin/kafka-delete-records.sh): DeleteRecords
// for the partitions of an --offset-json-file in Kafka's format
//   {"partitions": [{"topic": "t", "partition": 0, "offset": 5}], "version": 1}
// (offset -1: up to the high watermark), or for one partition given as
// --topic T --partition P --offset O.
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tools/admin/admin_client.h"
#include "tools/admin/args.h"
#include "tools/admin/commands.h"

namespace kgw::admin {

namespace {

constexpr const char* kWhat = "Error while executing records delete:";

constexpr const char* kUsage =
    "Usage: kgw-admin records delete --bootstrap-server HOST:PORT\n"
    "                 (--offset-json-file FILE | --topic T --partition P --offset O)\n"
    "       (bin/kafka-delete-records.sh takes the same flags)\n"
    "Deletes the records of each partition below the offset (-1: all of them) by moving its\n"
    "log start offset. Other options: --command-config FILE, --help\n";

bool read_json(const std::string& path, rd_kafka_topic_partition_list_t* out, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "--offset-json-file " + path + ": cannot read the file";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!j.is_object() || !j.contains("partitions") || !j["partitions"].is_array()) {
    error = "--offset-json-file " + path +
            ": not {\"partitions\": [{\"topic\": ..., \"partition\": ..., \"offset\": ...}]}";
    return false;
  }
  for (const auto& p : j["partitions"]) {
    if (!p.is_object() || !p.contains("topic") || !p["topic"].is_string() ||
        !p.contains("partition") || !p["partition"].is_number_integer() || !p.contains("offset") ||
        !p["offset"].is_number_integer()) {
      error = "--offset-json-file " + path +
              ": each partition needs a string topic and integer partition and offset";
      return false;
    }
    rd_kafka_topic_partition_list_add(out, p["topic"].get<std::string>().c_str(),
                                      p["partition"].get<int>())
        ->offset = p["offset"].get<long long>();
  }
  return true;
}

}  // namespace

int records_command(const std::vector<std::string>& raw) {
  const auto args = with_action_flag(raw, {"delete"});
  Args a;
  std::string error;
  if (!a.parse(args,
               {"bootstrap-server", "command-config", "offset-json-file", "topic", "partition",
                "offset"},
               {"delete", "help"}, error)) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(kWhat, error, 2);
  }
  if (a.has("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  auto bootstrap = a.get("bootstrap-server");
  if (!bootstrap) return fail(kWhat, "--bootstrap-server HOST:PORT is required", 2);
  PartitionList parts(rd_kafka_topic_partition_list_new(4));
  if (auto file = a.get("offset-json-file")) {
    if (!read_json(*file, parts.get(), error)) return fail(kWhat, error, 2);
  } else {
    auto topic = a.get("topic");
    long long partition = 0, offset = 0;
    if (!topic || !a.get("partition") || !a.get("offset") ||
        !parse_long(*a.get("partition"), partition) || !parse_long(*a.get("offset"), offset)) {
      std::fprintf(stderr, "%s", kUsage);
      return fail(
          kWhat, "--offset-json-file, or --topic, --partition and --offset (numbers), are required",
          2);
    }
    rd_kafka_topic_partition_list_add(parts.get(), topic->c_str(), static_cast<int>(partition))
        ->offset = offset == -1 ? RD_KAFKA_OFFSET_END : offset;
  }
  for (int i = 0; i < parts->cnt; ++i) {
    if (parts->elems[i].offset == -1) parts->elems[i].offset = RD_KAFKA_OFFSET_END;
  }
  auto client = AdminClient::create(*bootstrap, a.get("command-config").value_or(""), error);
  if (!client) return fail(kWhat, error);
  std::printf("Executing records delete operation\n");
  rd_kafka_DeleteRecords_t* del = rd_kafka_DeleteRecords_new(parts.get());
  rd_kafka_AdminOptions_t* o = client->options(RD_KAFKA_ADMIN_OP_DELETERECORDS);
  rd_kafka_DeleteRecords(client->rk(), &del, 1, o, client->queue());
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_DeleteRecords_destroy(del);
  Event ev = client->wait(RD_KAFKA_EVENT_DELETERECORDS_RESULT, error);
  if (!ev) return fail(kWhat, error);
  const rd_kafka_topic_partition_list_t* res =
      rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev.get()));
  std::printf("Records delete operation completed:\n");
  int failed = 0;
  for (int i = 0; res != nullptr && i < res->cnt; ++i) {
    const auto& e = res->elems[i];
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::printf("partition: %s-%d\terror: %s\n", e.topic, e.partition, rd_kafka_err2str(e.err));
      ++failed;
    } else {
      std::printf("partition: %s-%d\tlow_watermark: %lld\n", e.topic, e.partition,
                  static_cast<long long>(e.offset));
    }
  }
  if (failed > 0) return fail(kWhat, std::to_string(failed) + " partition(s) failed (see above)");
  return 0;
}

}  // namespace kgw::admin
