// The etcd key layout of cluster metadata and its value encodings (see
// docs/ARCHITECTURE.md and the "Key layout" of the cluster design): every
// key kgw writes lives under one prefix P (default "/kgw/") so that several
// clusters can share an etcd; every value is a JSON object with "v":1, so a
// later kgw can change an encoding and still read (or refuse clearly) what
// an older one wrote.
//
//   P cluster                          {"v":1,"cluster_id":"<22-char base64>"}
//   P brokers/<id, 10 digits>          {"v":1,"id","host","port","rack"?,"log_dir_id"?,
//                                       "previous_log_dir_id"?,"listeners":{name:"h:p"}}
//                                      (with the broker's lease; epoch = create_revision)
//   P registered/<id, 10 digits>       {"v":1,"id","host","port","rack"?,"log_dir_id"?} (no lease)
//   P controller                       {"v":1,"id":N} (controller's lease; epoch = create_revision)
//   P topics/<name>                    {"v":1,"id":"<base64>","configs":{..},"partitions":N}
//   P partitions/<topic id base64>/<index, 10 digits>
//                                      {"v":1,"leader","leader_epoch","partition_epoch",
//                                       "replicas":[..],"isr":[..],"elr"?:[..],
//                                       "adding":[..]?,"removing":[..]? (a reassignment)}
//   P configs/default                  {"v":1,"configs":{..}}
//   P configs/broker/<id, 10 digits>   {"v":1,"configs":{..}}
//   P quotas/<entity>                  {"v":1,"entity":[{"type","name"|null}],"values":{k:num}}
//                                      <entity>: "type=name" parts joined by ',' sorted by
//                                      type, name percent-encoded; a default entity "type"
//   P producer-ids                     {"v":1,"next":N}
//   P requests/<node, 10 digits>-<seq, 20 digits>
//                                      a MetadataChange: {"v":1,"type":"CreateTopic",...}
//   P results/<node, 10 digits>-<seq, 20 digits>
//                                      {"v":1,"error":code,"message":"..."}
//
// Numbers are zero-padded so that a range read returns keys in numeric
// order. Uuids (cluster id, topic ids) are written as Kafka prints them:
// URL-safe base64 without padding.
//
// Plain functions, no state, any thread. Decoders never throw: they return
// "" or what is wrong with the value (bad JSON, missing field, unknown
// version), and the output is unspecified on error.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/wire/error_code.h"
#include "protocol/wire/types.h"
#include "src/cluster/client_quotas.h"
#include "src/cluster/metadata_change.h"
#include "src/cluster/metadata_image.h"

namespace kgw::layout {

// --- Uuids as Kafka prints them (22 chars).
std::string uuid_base64(const Uuid& id);
bool parse_uuid_base64(std::string_view text, Uuid& out);

// --- Keys. `p` is the prefix (ends with '/').
std::string cluster_key(std::string_view p);
std::string controller_key(std::string_view p);
std::string producer_ids_key(std::string_view p);
std::string brokers_prefix(std::string_view p);
std::string broker_key(std::string_view p, std::int32_t id);
std::string registered_prefix(std::string_view p);
std::string registered_key(std::string_view p, std::int32_t id);
std::string topics_prefix(std::string_view p);
std::string topic_key(std::string_view p, std::string_view name);
std::string partitions_prefix(std::string_view p);  // every topic's
std::string topic_partitions_prefix(std::string_view p, const Uuid& topic);
std::string partition_key(std::string_view p, const Uuid& topic, std::int32_t index);
std::string configs_prefix(std::string_view p);
std::string default_configs_key(std::string_view p);
std::string broker_configs_key(std::string_view p, std::int32_t id);
std::string quotas_prefix(std::string_view p);
std::string quota_key(std::string_view p, const ClientQuotas::Entity& entity);
std::string requests_prefix(std::string_view p);
std::string request_key(std::string_view p, std::int32_t node, std::uint64_t seq);
std::string results_prefix(std::string_view p);
std::string result_key(std::string_view p, std::int32_t node, std::uint64_t seq);

// What a key under the prefix names.
struct ParsedKey {
  enum Kind {
    kUnknown,
    kCluster,
    kController,
    kProducerIds,
    kBroker,      // id
    kRegistered,  // id
    kTopic,       // name
    kPartition,   // topic, index
    kDefaultConfigs,
    kBrokerConfigs,  // id
    kQuota,          // the entity is in the value
    kRequest,        // id (the node), seq
    kResult,         // id (the node), seq
  };
  Kind kind = kUnknown;
  std::int32_t id = -1;
  std::string name;
  Uuid topic;
  std::int32_t index = -1;
  std::uint64_t seq = 0;
};
ParsedKey parse_key(std::string_view p, std::string_view key);

// --- Values.
struct ClusterRecord {
  std::string cluster_id;
};
std::string encode_cluster(const ClusterRecord& r);
std::string decode_cluster(std::string_view text, ClusterRecord& out);

// P brokers/<id> (with listeners) and P registered/<id> (without).
struct BrokerRegistration {
  std::int32_t id = -1;
  std::string host;
  std::int32_t port = -1;
  std::optional<std::string> rack;
  std::map<std::string, std::string> listeners;  // listener name -> "host:port"
  // The identity of the broker's store (BrokerImage::log_dir_id) and, in
  // P brokers/<id> only, the one P registered/<id> named when this
  // incarnation started. Both optional ("": unknown).
  std::string log_dir_id = {};
  std::string previous_log_dir_id = {};
};
std::string encode_broker(const BrokerRegistration& r, bool with_listeners = true);
std::string decode_broker(std::string_view text, BrokerRegistration& out);

struct ControllerRecord {
  std::int32_t id = -1;
};
std::string encode_controller(const ControllerRecord& r);
std::string decode_controller(std::string_view text, ControllerRecord& out);

// The name is the key's.
struct TopicRecord {
  Uuid id;
  ConfigMap configs;
  std::int32_t partitions = 0;
};
std::string encode_topic(const TopicRecord& r);
std::string decode_topic(std::string_view text, TopicRecord& out);

// The index is the key's: decode leaves out.index as it was.
std::string encode_partition(const PartitionImage& p);
std::string decode_partition(std::string_view text, PartitionImage& out);

std::string encode_configs(const ConfigMap& configs);
std::string decode_configs(std::string_view text, ConfigMap& out);

struct QuotaRecord {
  ClientQuotas::Entity entity;
  ClientQuotas::Values values;
};
std::string encode_quota(const QuotaRecord& r);
std::string decode_quota(std::string_view text, QuotaRecord& out);

struct ProducerIdBlock {
  std::int64_t next = 0;  // the first producer id not yet handed out
};
std::string encode_producer_ids(const ProducerIdBlock& r);
std::string decode_producer_ids(std::string_view text, ProducerIdBlock& out);

std::string encode_change(const MetadataChange& change);
std::string decode_change(std::string_view text, MetadataChange& out);

struct ChangeResult {
  ErrorCode error = ErrorCode::kNone;
  std::string message;
  // ElectLeaders: each partition's outcome ("partitions", absent if none).
  std::vector<ElectionOutcome> partitions;
};
std::string encode_result(const ChangeResult& r);
std::string decode_result(std::string_view text, ChangeResult& out);

}  // namespace kgw::layout
