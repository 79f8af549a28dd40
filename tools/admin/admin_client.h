// A librdkafka handle used for its admin API, and helpers to wait for
// results. Every command of kgw-admin talks to the gateway (or any Kafka
// cluster) through it, over the Kafka protocol.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>

namespace kgw::admin {

struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using Event = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

class AdminClient {
 public:
  // bootstrap: HOST:PORT[,...]; command_config: a file of librdkafka
  // properties (key=value lines, # comments), or "". nullptr and one line
  // in `error` if the client cannot be made.
  static std::unique_ptr<AdminClient> create(const std::string& bootstrap,
                                             const std::string& command_config, std::string& error);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  rd_kafka_t* rk() const { return rk_; }
  rd_kafka_queue_t* queue() const { return queue_; }
  // Admin options for `op` with the request timeout set.
  rd_kafka_AdminOptions_t* options(rd_kafka_admin_op_t op) const;
  // Waits for the result of the admin call just made. nullptr (and
  // `error`) on timeout or when the whole request failed.
  Event wait(rd_kafka_event_type_t type, std::string& error) const;
  // Every topic with its partitions. nullptr and `error` on failure.
  Metadata metadata(std::string& error) const;

  static constexpr int kTimeoutMs = 30000;

 private:
  AdminClient() = default;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_queue_t* queue_ = nullptr;
};

}  // namespace kgw::admin
