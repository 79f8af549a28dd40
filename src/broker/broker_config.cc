#include "src/broker/broker_config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace kgw {

namespace {

using T = ConfigType;

constexpr const char* kLongMax = "9223372036854775807";
constexpr double kLongMaxD = 9223372036854775807.0;

// Broker configs. `dynamic` ones may be changed by AlterConfigs at run
// time (Kafka's per-broker and cluster-wide dynamic configs); the rest
// only by --set or the config file, before start.
const std::vector<ConfigDef> kBrokerDefs = {
    {"node.id", T::kInt, "1", "The id of this node in the cluster."},
    {"broker.id", T::kInt, "1", "Synonym of node.id."},
    {"num.partitions",
     T::kInt,
     "1",
     "Partitions of an auto-created topic.",
     {},
     Check::kRange,
     1,
     2147483647},
    {"default.replication.factor", T::kInt, "1", "Replication factor of an auto-created topic."},
    {"auto.create.topics.enable", T::kBoolean, "true",
     "Create a topic when a client asks Metadata for one that does not exist."},
    {"delete.topic.enable", T::kBoolean, "true", "Allow DeleteTopics."},
    // kgw's own limits (Kafka has none: its controller tries and runs out
    // of memory); more is INVALID_PARTITIONS naming the limit.
    {"kgw.max.partitions.per.request",
     T::kInt,
     "10000",
     "kgw only: most partitions one CreateTopics, CreatePartitions or auto-creating Metadata "
     "request may add.",
     {},
     Check::kRange,
     1,
     2147483647},
    {"kgw.max.partitions",
     T::kInt,
     "200000",
     "kgw only: most partitions this broker holds.",
     {},
     Check::kRange,
     1,
     2147483647},
    {"socket.request.max.bytes",
     T::kInt,
     "104857600",
     "Largest request frame; a larger one closes the connection.",
     {},
     Check::kRange,
     1,
     2147483647},
    // Kafka's default is -1 (no byte bound; queued.max.requests=500 bounds
    // its request queue instead); kgw bounds the bytes of Produce requests
    // in progress, so producers wait rather than exhaust memory.
    {"queued.max.request.bytes",
     T::kLong,
     "67108864",
     "Bytes of Produce requests taken in and not yet answered above which kgw stops reading "
     "from producing connections until half of it is done; -1 for no bound.",
     {},
     Check::kRange,
     -1,
     kLongMaxD},
    {"message.max.bytes",
     T::kInt,
     "1048588",
     "Largest record batch a topic accepts by default.",
     {},
     Check::kRange,
     0,
     2147483647,
     nullptr,
     true},
    // Connections and fetch responses (the net layer's limits).
    {"connections.max.idle.ms",
     T::kLong,
     "600000",
     "Close a connection with no bytes read or written for this long, a half-sent request "
     "included; -1: never.",
     {},
     Check::kRange,
     -1,
     kLongMaxD},
    {"max.connections",
     T::kInt,
     "2147483647",
     "Connections open at once; a new one over it is closed at once.",
     {},
     Check::kRange,
     0,
     2147483647},
    {"max.connections.per.ip",
     T::kInt,
     "2147483647",
     "Connections open at once from one IP address; a new one over it is closed at once.",
     {},
     Check::kRange,
     0,
     2147483647},
    {"max.connections.per.ip.overrides", T::kString, "",
     "Per-address exceptions to max.connections.per.ip: IP:COUNT,IP:COUNT (IP literals only)."},
    {"fetch.max.bytes",
     T::kInt,
     "57671680",
     "Most record bytes one Fetch response carries, whatever the request asks (the first batch "
     "is always whole).",
     {},
     Check::kRange,
     1024,
     2147483647},
    // Retention.
    {"log.retention.ms",
     T::kLong,
     nullptr,
     "How long a partition keeps data by default; -1: forever. Overrides log.retention.minutes "
     "and log.retention.hours.",
     {},
     Check::kRange,
     -1,
     kLongMaxD,
     nullptr,
     true},
    {"log.retention.minutes",
     T::kInt,
     nullptr,
     "How long a partition keeps data by default, in minutes; used when log.retention.ms is not "
     "set.",
     {},
     Check::kNone,
     0,
     0,
     nullptr,
     true},
    {"log.retention.hours",
     T::kInt,
     "168",
     "How long a partition keeps data by default, in hours; used when neither log.retention.ms "
     "nor log.retention.minutes is set.",
     {},
     Check::kNone,
     0,
     0,
     nullptr,
     true},
    {"log.retention.bytes",
     T::kLong,
     "-1",
     "Bytes a partition keeps by default; -1: no limit.",
     {},
     Check::kNone,
     0,
     0,
     nullptr,
     true},
    {"log.retention.check.interval.ms",
     T::kLong,
     "300000",
     "How often the broker looks for data to delete by retention.",
     {},
     Check::kRange,
     1,
     kLongMaxD},
    {"log.cleanup.policy",
     T::kList,
     "delete",
     "Default cleanup policy: delete, compact, or both.",
     {},
     Check::kListOf,
     0,
     0,
     "compact|delete",
     true},
    {"log.segment.bytes",
     T::kInt,
     "1073741824",
     "Default size at which the active segment rolls; only rolled segments are compacted.",
     {},
     Check::kRange,
     14,
     2147483647,
     nullptr,
     true},
    {"log.roll.ms",
     T::kLong,
     nullptr,
     "Default age at which the active segment rolls.",
     {},
     Check::kRange,
     1,
     kLongMaxD,
     nullptr,
     true},
    {"log.roll.hours",
     T::kInt,
     "168",
     "Default age at which the active segment rolls, in hours (when log.roll.ms is not set).",
     {},
     Check::kRange,
     1,
     2147483647,
     nullptr,
     true},
    {"log.roll.jitter.ms",
     T::kLong,
     nullptr,
     "Accepted for compatibility; kgw does not jitter rolls.",
     {},
     Check::kRange,
     0,
     kLongMaxD,
     nullptr,
     true},
    {"log.roll.jitter.hours",
     T::kInt,
     "0",
     "Accepted for compatibility; kgw does not jitter rolls.",
     {},
     Check::kRange,
     0,
     2147483647,
     nullptr,
     true},
    {"log.segment.delete.delay.ms",
     T::kLong,
     "60000",
     "Accepted for compatibility; kgw deletes at once (RocksDB reclaims the space).",
     {},
     Check::kRange,
     0,
     kLongMaxD,
     nullptr,
     true},
    {"log.flush.interval.messages",
     T::kLong,
     kLongMax,
     "Accepted for compatibility; durability is set by --fsync.",
     {},
     Check::kRange,
     1,
     kLongMaxD,
     nullptr,
     true},
    {"log.flush.interval.ms",
     T::kLong,
     nullptr,
     "Accepted for compatibility; durability is set by --fsync.",
     {},
     Check::kNone,
     0,
     0,
     nullptr,
     true},
    {"log.index.interval.bytes",
     T::kInt,
     "4096",
     "Accepted for compatibility; kgw has no index files.",
     {},
     Check::kRange,
     0,
     2147483647,
     nullptr,
     true},
    {"log.index.size.max.bytes",
     T::kInt,
     "10485760",
     "Accepted for compatibility; kgw has no index files.",
     {},
     Check::kRange,
     4,
     2147483647,
     nullptr,
     true},
    {"log.local.retention.bytes",
     T::kLong,
     "-2",
     "Tiered storage (not supported): -2.",
     {},
     Check::kRange,
     -2,
     kLongMaxD,
     nullptr,
     true},
    {"log.local.retention.ms",
     T::kLong,
     "-2",
     "Tiered storage (not supported): -2.",
     {},
     Check::kRange,
     -2,
     kLongMaxD,
     nullptr,
     true},
    {"log.message.downconversion.enable",
     T::kBoolean,
     "true",
     "Accepted for compatibility; kgw never down-converts.",
     {},
     Check::kNone,
     0,
     0,
     nullptr,
     true},
    {"log.message.format.version",
     T::kString,
     "3.0-IV1",
     "Ignored as by Kafka 3: batches are always stored in format v2.",
     {},
     Check::kVersion},
    {"log.message.timestamp.type",
     T::kString,
     "CreateTime",
     "Default timestamp type: CreateTime (the producer's) or LogAppendTime (the broker's).",
     {},
     Check::kOneOf,
     0,
     0,
     "CreateTime|LogAppendTime",
     true},
    {"log.message.timestamp.difference.max.ms",
     T::kLong,
     kLongMax,
     "Largest accepted difference between a CreateTime timestamp and the broker's clock.",
     {},
     Check::kRange,
     0,
     kLongMaxD,
     nullptr,
     true},
    {"compression.type",
     T::kString,
     "producer",
     "Default compression of stored batches: producer keeps the producer's; a codec makes the "
     "broker recompress.",
     {},
     Check::kOneOf,
     0,
     0,
     "uncompressed|zstd|lz4|snappy|gzip|producer",
     true},
    {"min.insync.replicas",
     T::kInt,
     "1",
     "In-sync replicas an acks=all produce needs (this node is the only replica).",
     {},
     Check::kRange,
     1,
     2147483647,
     nullptr,
     true},
    {"unclean.leader.election.enable",
     T::kBoolean,
     "false",
     "Accepted for compatibility; one node has no unclean elections.",
     {},
     Check::kNone,
     0,
     0,
     nullptr,
     true},
    {"log.preallocate",
     T::kBoolean,
     "false",
     "Accepted for compatibility; kgw has no segment files.",
     {},
     Check::kNone,
     0,
     0,
     nullptr,
     true},
    // The log cleaner (compaction).
    {"log.cleaner.enable", T::kBoolean, "true", "Run the log cleaner for compacted topics."},
    {"log.cleaner.backoff.ms",
     T::kLong,
     "15000",
     "How often the log cleaner looks for work.",
     {},
     Check::kRange,
     0,
     kLongMaxD,
     nullptr,
     true},
    {"log.cleaner.dedupe.buffer.size",
     T::kLong,
     "134217728",
     "Memory of the cleaner's key -> offset map; a dirty section with more keys is cleaned in "
     "several passes.",
     {},
     Check::kRange,
     1048576,
     kLongMaxD,
     nullptr,
     true},
    {"log.cleaner.threads",
     T::kInt,
     "1",
     "Log cleaner threads (kgw runs one).",
     {},
     Check::kRange,
     1,
     1},
    {"log.cleaner.delete.retention.ms",
     T::kLong,
     "86400000",
     "How long tombstones and transaction markers survive after the cleaning that first saw them.",
     {},
     Check::kRange,
     0,
     kLongMaxD,
     nullptr,
     true},
    {"log.cleaner.min.compaction.lag.ms",
     T::kLong,
     "0",
     "Records younger than this are not compacted.",
     {},
     Check::kRange,
     0,
     kLongMaxD,
     nullptr,
     true},
    {"log.cleaner.max.compaction.lag.ms",
     T::kLong,
     kLongMax,
     "A dirty log older than this is compacted whatever its dirty ratio.",
     {},
     Check::kRange,
     1,
     kLongMaxD,
     nullptr,
     true},
    {"log.cleaner.min.cleanable.ratio",
     T::kDouble,
     "0.5",
     "Dirty bytes / all bytes above which a log is compacted.",
     {},
     Check::kRange,
     0,
     1,
     nullptr,
     true},
    // SASL/Kerberos, per-broker dynamic in Kafka: accepted and kept so
    // that tools setting them work; SASL comes with the security work.
    {"sasl.kerberos.min.time.before.relogin",
     T::kLong,
     "60000",
     "Accepted for compatibility; kgw has no SASL listener yet.",
     {},
     Check::kNone,
     0,
     0,
     nullptr,
     true},
    {"sasl.kerberos.ticket.renew.jitter",
     T::kDouble,
     "0.05",
     "Accepted for compatibility; kgw has no SASL listener yet.",
     {},
     Check::kNone,
     0,
     0,
     nullptr,
     true},
    {"sasl.kerberos.ticket.renew.window.factor",
     T::kDouble,
     "0.8",
     "Accepted for compatibility; kgw has no SASL listener yet.",
     {},
     Check::kNone,
     0,
     0,
     nullptr,
     true},
    {"sasl.kerberos.kinit.cmd",
     T::kString,
     "/usr/bin/kinit",
     "Accepted for compatibility; kgw has no SASL listener yet.",
     {},
     Check::kNone,
     0,
     0,
     nullptr,
     true},
    // Consumer groups and transactions.
    {"group.initial.rebalance.delay.ms",
     T::kInt,
     "3000",
     "Delay before the first rebalance of a new group.",
     {},
     Check::kRange,
     0,
     2147483647},
    {"group.min.session.timeout.ms",
     T::kInt,
     "6000",
     "Smallest session timeout a group member may ask for.",
     {},
     Check::kRange,
     0,
     2147483647},
    {"group.max.session.timeout.ms",
     T::kInt,
     "1800000",
     "Largest session timeout a group member may ask for.",
     {},
     Check::kRange,
     0,
     2147483647},
    {"group.max.size",
     T::kInt,
     "2147483647",
     "Most members in one consumer group.",
     {},
     Check::kRange,
     1,
     2147483647},
    {"offsets.retention.minutes",
     T::kInt,
     "10080",
     "How long offsets of an empty group (or of a group that only stores offsets) are kept.",
     {},
     Check::kRange,
     1,
     2147483647},
    {"offsets.retention.check.interval.ms",
     T::kLong,
     "600000",
     "How often expired offsets are looked for.",
     {},
     Check::kRange,
     1,
     kLongMaxD},
    {"offset.metadata.max.bytes",
     T::kInt,
     "4096",
     "Longest metadata of a committed offset.",
     {},
     Check::kRange,
     0,
     2147483647},
    {"transactional.id.expiration.ms",
     T::kInt,
     "604800000",
     "A transactional id with no transaction for this long is forgotten.",
     {},
     Check::kRange,
     1,
     2147483647},
    {"transaction.remove.expired.transaction.cleanup.interval.ms",
     T::kInt,
     "3600000",
     "How often expired transactional ids are removed.",
     {},
     Check::kRange,
     1,
     2147483647},
    {"producer.id.expiration.ms",
     T::kInt,
     "86400000",
     "A partition forgets an idempotent producer id whose last write is this old (and that has "
     "no open transaction there).",
     {},
     Check::kRange,
     1,
     2147483647},
    {"producer.id.expiration.check.interval.ms",
     T::kInt,
     "600000",
     "How often expired producer ids are removed.",
     {},
     Check::kRange,
     1,
     2147483647},
    {"transaction.max.timeout.ms",
     T::kInt,
     "900000",
     "Largest transaction timeout.",
     {},
     Check::kRange,
     1,
     2147483647},
};

const std::vector<ConfigDef> kTopicDefs = {
    {"cleanup.policy",
     T::kList,
     "delete",
     "delete (retention by time and size), compact (keep the latest record per key), or both.",
     {{"log.cleanup.policy"}},
     Check::kListOf,
     0,
     0,
     "compact|delete"},
    {"compression.type",
     T::kString,
     "producer",
     "Compression of stored batches: producer keeps the producer's codec; a codec (or "
     "uncompressed) makes the broker recompress.",
     {{"compression.type"}},
     Check::kOneOf,
     0,
     0,
     "uncompressed|zstd|lz4|snappy|gzip|producer"},
    {"delete.retention.ms",
     T::kLong,
     "86400000",
     "How long tombstones and transaction markers of a compacted topic survive after the "
     "cleaning that first saw them.",
     {{"log.cleaner.delete.retention.ms"}},
     Check::kRange,
     0,
     kLongMaxD},
    {"file.delete.delay.ms",
     T::kLong,
     "60000",
     "Accepted for compatibility; kgw deletes at once (RocksDB reclaims the space).",
     {{"log.segment.delete.delay.ms"}},
     Check::kRange,
     0,
     kLongMaxD},
    {"flush.messages",
     T::kLong,
     kLongMax,
     "Accepted for compatibility; durability is set by --fsync.",
     {{"log.flush.interval.messages"}},
     Check::kRange,
     1,
     kLongMaxD},
    {"flush.ms",
     T::kLong,
     kLongMax,
     "Accepted for compatibility; durability is set by --fsync.",
     {{"log.flush.interval.ms"}},
     Check::kRange,
     0,
     kLongMaxD},
    {"follower.replication.throttled.replicas",
     T::kList,
     "",
     "Accepted for compatibility; one node has no followers.",
     {},
     Check::kReplicaList},
    {"index.interval.bytes",
     T::kInt,
     "4096",
     "Accepted for compatibility; kgw has no index files.",
     {{"log.index.interval.bytes"}},
     Check::kRange,
     0,
     2147483647},
    {"leader.replication.throttled.replicas",
     T::kList,
     "",
     "Accepted for compatibility; one node has no followers.",
     {},
     Check::kReplicaList},
    {"local.retention.bytes",
     T::kLong,
     "-2",
     "Tiered storage (not supported): -2.",
     {{"log.local.retention.bytes"}},
     Check::kRange,
     -2,
     kLongMaxD},
    {"local.retention.ms",
     T::kLong,
     "-2",
     "Tiered storage (not supported): -2.",
     {{"log.local.retention.ms"}},
     Check::kRange,
     -2,
     kLongMaxD},
    {"max.compaction.lag.ms",
     T::kLong,
     kLongMax,
     "A dirty log older than this is compacted whatever its dirty ratio.",
     {{"log.cleaner.max.compaction.lag.ms"}},
     Check::kRange,
     1,
     kLongMaxD},
    {"max.message.bytes",
     T::kInt,
     "1048588",
     "Largest record batch the topic accepts.",
     {{"message.max.bytes"}},
     Check::kRange,
     0,
     2147483647},
    {"message.downconversion.enable",
     T::kBoolean,
     "true",
     "Accepted for compatibility; kgw never down-converts.",
     {{"log.message.downconversion.enable"}}},
    {"message.format.version",
     T::kString,
     "3.0-IV1",
     "Ignored as by Kafka 3: batches are always stored in format v2.",
     {{"log.message.format.version"}},
     Check::kVersion},
    {"message.timestamp.difference.max.ms",
     T::kLong,
     kLongMax,
     "Largest accepted difference between a CreateTime timestamp and the broker's clock; "
     "batches outside it are refused (INVALID_TIMESTAMP).",
     {{"log.message.timestamp.difference.max.ms"}},
     Check::kRange,
     0,
     kLongMaxD},
    {"message.timestamp.type",
     T::kString,
     "CreateTime",
     "CreateTime (the producer's timestamp) or LogAppendTime (the broker's, at append).",
     {{"log.message.timestamp.type"}},
     Check::kOneOf,
     0,
     0,
     "CreateTime|LogAppendTime"},
    {"min.cleanable.dirty.ratio",
     T::kDouble,
     "0.5",
     "Dirty bytes / all bytes above which the log is compacted.",
     {{"log.cleaner.min.cleanable.ratio"}},
     Check::kRange,
     0,
     1},
    {"min.compaction.lag.ms",
     T::kLong,
     "0",
     "Records younger than this are not compacted.",
     {{"log.cleaner.min.compaction.lag.ms"}},
     Check::kRange,
     0,
     kLongMaxD},
    {"min.insync.replicas",
     T::kInt,
     "1",
     "In-sync replicas an acks=all produce needs; above 1 such produces fail with "
     "NOT_ENOUGH_REPLICAS (this node is the only replica).",
     {{"min.insync.replicas"}},
     Check::kRange,
     1,
     2147483647},
    {"preallocate",
     T::kBoolean,
     "false",
     "Accepted for compatibility; kgw has no segment files.",
     {{"log.preallocate"}}},
    {"remote.storage.enable",
     T::kBoolean,
     "false",
     "Tiered storage: not supported.",
     {},
     Check::kNotSupported,
     0,
     0,
     "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with "
     "remote log storage."},
    {"retention.bytes",
     T::kLong,
     "-1",
     "Bytes a partition keeps; older segments beyond it are deleted. -1: no limit.",
     {{"log.retention.bytes"}}},
    {"retention.ms",
     T::kLong,
     "604800000",
     "How long the topic keeps data before deleting it; -1: forever.",
     {{"log.retention.ms"}, {"log.retention.minutes", 60000}, {"log.retention.hours", 3600000}},
     Check::kRange,
     -1,
     kLongMaxD},
    {"segment.bytes",
     T::kInt,
     "1073741824",
     "Size at which the active segment rolls. Retention deletes and the cleaner compacts only "
     "whole rolled segments, as in Kafka; kgw's segments are ranges of batches in RocksDB.",
     {{"log.segment.bytes"}},
     Check::kRange,
     14,
     2147483647},
    {"segment.index.bytes",
     T::kInt,
     "10485760",
     "Accepted for compatibility; kgw has no index files.",
     {{"log.index.size.max.bytes"}},
     Check::kRange,
     4,
     2147483647},
    {"segment.jitter.ms",
     T::kLong,
     "0",
     "Accepted for compatibility; kgw does not jitter rolls.",
     {{"log.roll.jitter.ms"}, {"log.roll.jitter.hours", 3600000}},
     Check::kRange,
     0,
     kLongMaxD},
    {"segment.ms",
     T::kLong,
     "604800000",
     "Age at which the active segment rolls.",
     {{"log.roll.ms"}, {"log.roll.hours", 3600000}},
     Check::kRange,
     1,
     kLongMaxD},
    {"unclean.leader.election.enable",
     T::kBoolean,
     "false",
     "Accepted for compatibility; one node has no unclean elections.",
     {{"unclean.leader.election.enable"}}},
};

const ConfigDef* find_in(const std::vector<ConfigDef>& defs, std::string_view name) {
  for (const auto& d : defs) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_int(std::string_view s, std::int64_t& out) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

bool parse_double(std::string_view s, double& out) {
  std::string t(trim(s));
  if (t.empty()) return false;
  char* end = nullptr;
  out = std::strtod(t.c_str(), &end);
  return *end == '\0' && std::isfinite(out);
}

// Java's Number.toString for the bounds in messages: 0 for integers, 0.0
// for doubles.
std::string bound_text(const ConfigDef& def, double v) {
  if (def.type == T::kDouble) {
    std::string s = std::to_string(v);
    while (s.size() > 1 && s.back() == '0' && s[s.size() - 2] != '.') s.pop_back();
    return s;
  }
  if (v >= kLongMaxD) return kLongMax;
  return std::to_string(static_cast<std::int64_t>(v));
}

std::string invalid(const ConfigDef& def, std::string_view value, const std::string& why) {
  return "Invalid value " + std::string(value) + " for configuration " + def.name + ": " + why;
}

std::vector<std::string_view> allowed_values(const char* allowed) {
  std::vector<std::string_view> out;
  std::string_view rest = allowed;
  while (!rest.empty()) {
    auto bar = rest.find('|');
    out.push_back(rest.substr(0, bar));
    if (bar == std::string_view::npos) break;
    rest.remove_prefix(bar + 1);
  }
  return out;
}

std::string one_of_message(const char* allowed) {
  std::string list;
  for (auto v : allowed_values(allowed)) {
    if (!list.empty()) list += ", ";
    list += v;
  }
  return "String must be one of: " + list;
}

bool is_allowed(const char* allowed, std::string_view v) {
  for (auto a : allowed_values(allowed)) {
    if (a == v) return true;
  }
  return false;
}

// "0.10.0.0", "2.8", "3.0-IV1", "3.0-IV1-something": digits and dots, an
// optional -IVn.
bool looks_like_version(std::string_view v) {
  v = trim(v);
  auto dash = v.find('-');
  std::string_view nums = v.substr(0, dash);
  if (nums.empty() || nums.front() == '.' || nums.back() == '.') return false;
  int dots = 0;
  for (char c : nums) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  if (dots < 1) return false;
  if (dash == std::string_view::npos) return true;
  std::string_view iv = v.substr(dash + 1);
  return iv.size() > 2 && iv.substr(0, 2) == "IV";
}

bool valid_replica_list(std::string_view v) {
  v = trim(v);
  if (v.empty() || v == "*") return true;
  for (const std::string& e : split_config_list(v)) {
    auto colon = e.find(':');
    std::int64_t a = 0, b = 0;
    if (colon == std::string::npos || !parse_int(std::string_view(e).substr(0, colon), a) ||
        !parse_int(std::string_view(e).substr(colon + 1), b)) {
      return false;
    }
  }
  return true;
}

}  // namespace

const std::vector<ConfigDef>& broker_config_defs() {
  return kBrokerDefs;
}
const std::vector<ConfigDef>& topic_config_defs() {
  return kTopicDefs;
}
const ConfigDef* find_broker_config(std::string_view name) {
  return find_in(kBrokerDefs, name);
}
const ConfigDef* find_topic_config(std::string_view name) {
  return find_in(kTopicDefs, name);
}

std::vector<std::string> split_config_list(std::string_view value) {
  std::vector<std::string> out;
  value = trim(value);
  if (value.empty()) return out;
  for (;;) {
    auto comma = value.find(',');
    out.emplace_back(trim(value.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

std::string validate_config_value(const ConfigDef& def, std::string_view value) {
  std::int64_t n = 0;
  double d = 0;
  switch (def.type) {
    case T::kBoolean: {
      std::string lower(trim(value));
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower != "true" && lower != "false") {
        return invalid(def, value, "Expected value to be either true or false");
      }
      break;
    }
    case T::kShort:
      if (!parse_int(value, n) || n < INT16_MIN || n > INT16_MAX) {
        return invalid(def, value, "Not a number of type SHORT");
      }
      d = static_cast<double>(n);
      break;
    case T::kInt:
      if (!parse_int(value, n) || n < INT32_MIN || n > INT32_MAX) {
        return invalid(def, value, "Not a number of type INT");
      }
      d = static_cast<double>(n);
      break;
    case T::kLong:
      if (!parse_int(value, n)) return invalid(def, value, "Not a number of type LONG");
      d = static_cast<double>(n);
      break;
    case T::kDouble:
      if (!parse_double(value, d)) return invalid(def, value, "Not a number of type DOUBLE");
      break;
    default:
      break;
  }
  switch (def.check) {
    case Check::kNone:
      break;
    case Check::kRange:
      if (d < def.min)
        return invalid(def, value, "Value must be at least " + bound_text(def, def.min));
      if (d > def.max) {
        return invalid(def, value, "Value must be no more than " + bound_text(def, def.max));
      }
      break;
    case Check::kOneOf:
      if (!is_allowed(def.allowed, trim(value)))
        return invalid(def, value, one_of_message(def.allowed));
      break;
    case Check::kListOf:
      for (const std::string& e : split_config_list(value)) {
        if (!is_allowed(def.allowed, e)) return invalid(def, e, one_of_message(def.allowed));
      }
      break;
    case Check::kReplicaList:
      if (!valid_replica_list(value)) {
        return invalid(def, value,
                       "must be the literal '*' or a list of replicas in the following format: "
                       "[partitionId]:[brokerId],[partitionId]:[brokerId],...");
      }
      break;
    case Check::kVersion:
      if (!looks_like_version(value)) {
        return invalid(def, value, "Version " + std::string(value) + " is not a valid version");
      }
      break;
    case Check::kNotSupported: {
      std::string lower(trim(value));
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (def.default_value != nullptr && lower != def.default_value) return def.allowed;
      break;
    }
  }
  return "";
}

std::string BrokerConfig::set(std::string_view name, std::string_view value) {
  const ConfigDef* def = find_broker_config(name);
  if (def == nullptr) {
    return "unknown broker config '" + std::string(name) +
           "' (kgw --help lists them; topic configs go to CreateTopics or AlterConfigs)";
  }
  std::string err = validate_config_value(*def, value);
  if (!err.empty()) return err;
  static_[std::string(name)] = std::string(trim(value));
  if (name == "node.id") static_["broker.id"] = std::string(trim(value));
  if (name == "broker.id") static_["node.id"] = std::string(trim(value));
  return "";
}

std::string BrokerConfig::validate_dynamic(const std::map<std::string, std::string>& configs) {
  std::string fixed;
  for (const auto& [name, value] : configs) {
    const ConfigDef* def = find_broker_config(name);
    if (def == nullptr) return "Unknown broker config name: " + name;
    if (!def->dynamic) {
      if (!fixed.empty()) fixed += ", ";
      fixed += name;
      continue;
    }
    if (std::string err = validate_config_value(*def, value); !err.empty()) return err;
  }
  if (!fixed.empty()) return "Cannot update these configs dynamically: Set(" + fixed + ")";
  return "";
}

void BrokerConfig::set_dynamic(DynamicLayer layer, std::map<std::string, std::string> configs) {
  (layer == DynamicLayer::kBroker ? dynamic_broker_ : dynamic_default_) = std::move(configs);
}

std::optional<std::pair<std::string, ConfigSource>> BrokerConfig::broker_value(
    std::string_view name) const {
  const std::string key(name);
  if (auto it = dynamic_broker_.find(key); it != dynamic_broker_.end()) {
    return std::make_pair(it->second, ConfigSource::kDynamicBroker);
  }
  if (auto it = dynamic_default_.find(key); it != dynamic_default_.end()) {
    return std::make_pair(it->second, ConfigSource::kDynamicDefaultBroker);
  }
  if (auto it = static_.find(name); it != static_.end()) {
    return std::make_pair(it->second, ConfigSource::kStaticBroker);
  }
  const ConfigDef* def = find_broker_config(name);
  if (def == nullptr || def->default_value == nullptr) return std::nullopt;
  return std::make_pair(std::string(def->default_value), ConfigSource::kDefault);
}

std::optional<std::string> BrokerConfig::get(std::string_view name) const {
  auto v = broker_value(name);
  if (!v) return std::nullopt;
  return v->first;
}

std::int64_t BrokerConfig::get_long(std::string_view name) const {
  std::int64_t n = 0;
  auto v = get(name);
  if (v) parse_int(*v, n);
  return n;
}

bool BrokerConfig::get_bool(std::string_view name) const {
  auto v = get(name);
  if (!v) return false;
  std::string lower(trim(*v));
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "true";
}

std::vector<ConfigValue> BrokerConfig::describe_broker() const {
  std::vector<ConfigValue> out;
  for (const auto& d : kBrokerDefs) {
    ConfigValue v;
    v.name = d.name;
    v.type = d.type;
    v.doc = d.doc;
    v.read_only = !d.dynamic;
    const std::string key = d.name;
    if (auto it = dynamic_broker_.find(key); it != dynamic_broker_.end()) {
      v.synonyms.push_back({key, it->second, ConfigSource::kDynamicBroker});
    }
    if (auto it = dynamic_default_.find(key); it != dynamic_default_.end()) {
      v.synonyms.push_back({key, it->second, ConfigSource::kDynamicDefaultBroker});
    }
    if (auto it = static_.find(key); it != static_.end()) {
      v.synonyms.push_back({key, it->second, ConfigSource::kStaticBroker});
    }
    if (d.default_value) v.synonyms.push_back({key, d.default_value, ConfigSource::kDefault});
    if (!v.synonyms.empty()) {
      v.value = v.synonyms.front().value;
      v.source = v.synonyms.front().source;
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<ConfigValue> BrokerConfig::describe_topic(
    const std::map<std::string, std::string>& overrides) const {
  std::vector<ConfigValue> out;
  for (const auto& d : kTopicDefs) {
    ConfigValue v;
    v.name = d.name;
    v.type = d.type;
    v.doc = d.doc;
    if (auto it = overrides.find(d.name); it != overrides.end()) {
      v.value = it->second;
      v.source = ConfigSource::kDynamicTopic;
      v.synonyms.push_back({d.name, it->second, ConfigSource::kDynamicTopic});
    }
    for (const BrokerSynonym& s : d.synonyms) {
      const std::string key = s.name;
      std::vector<ConfigSynonymValue> layers;
      if (auto it = dynamic_broker_.find(key); it != dynamic_broker_.end()) {
        layers.push_back({key, it->second, ConfigSource::kDynamicBroker});
      }
      if (auto it = dynamic_default_.find(key); it != dynamic_default_.end()) {
        layers.push_back({key, it->second, ConfigSource::kDynamicDefaultBroker});
      }
      if (auto it = static_.find(key); it != static_.end()) {
        layers.push_back({key, it->second, ConfigSource::kStaticBroker});
      }
      const ConfigDef* bd = find_broker_config(key);
      if (bd != nullptr && bd->default_value != nullptr) {
        layers.push_back({key, bd->default_value, ConfigSource::kDefault});
      }
      for (auto& l : layers) {
        if (!v.value && l.value) {
          std::int64_t n = 0;
          if (s.unit != 1 && parse_int(*l.value, n)) {
            v.value = std::to_string(n * s.unit);
          } else {
            v.value = std::string(trim(*l.value));
          }
          v.source = l.source;
        }
        v.synonyms.push_back(std::move(l));
      }
    }
    if (!v.value) {
      v.value = d.default_value ? std::optional<std::string>(d.default_value) : std::nullopt;
      v.source = ConfigSource::kDefault;
      if (d.synonyms.empty() && d.default_value) {
        v.synonyms.push_back({d.name, d.default_value, ConfigSource::kDefault});
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::optional<std::string> BrokerConfig::topic_value(
    const std::map<std::string, std::string>& overrides, std::string_view name) const {
  auto it = overrides.find(std::string(name));
  if (it != overrides.end()) return std::string(trim(it->second));
  const ConfigDef* d = find_topic_config(name);
  if (d == nullptr) return std::nullopt;
  for (const BrokerSynonym& s : d->synonyms) {
    auto v = broker_value(s.name);
    if (!v) continue;
    std::int64_t n = 0;
    if (s.unit != 1 && parse_int(v->first, n)) return std::to_string(n * s.unit);
    return std::string(trim(v->first));
  }
  return d->default_value ? std::optional<std::string>(d->default_value) : std::nullopt;
}

std::int64_t BrokerConfig::topic_long(const std::map<std::string, std::string>& overrides,
                                      std::string_view name) const {
  std::int64_t n = 0;
  auto v = topic_value(overrides, name);
  if (v) parse_int(*v, n);
  return n;
}

std::string BrokerConfig::validate_topic_overrides(
    const std::map<std::string, std::string>& overrides) {
  for (const auto& [key, value] : overrides) {
    const ConfigDef* def = find_topic_config(key);
    if (def == nullptr) return "Unknown topic config name: " + key;
    if (std::string err = validate_config_value(*def, value); !err.empty()) return err;
  }
  return "";
}

LogPolicy BrokerConfig::log_policy(const std::map<std::string, std::string>& overrides) const {
  LogPolicy p;
  const auto policy = split_config_list(topic_value(overrides, "cleanup.policy").value_or(""));
  p.delete_enabled = std::find(policy.begin(), policy.end(), "delete") != policy.end();
  p.compact = std::find(policy.begin(), policy.end(), "compact") != policy.end();
  p.retention_ms = topic_long(overrides, "retention.ms");
  p.retention_bytes = topic_long(overrides, "retention.bytes");
  p.segment_bytes = topic_long(overrides, "segment.bytes");
  p.segment_ms = topic_long(overrides, "segment.ms");
  p.delete_retention_ms = topic_long(overrides, "delete.retention.ms");
  p.min_compaction_lag_ms = topic_long(overrides, "min.compaction.lag.ms");
  p.max_compaction_lag_ms = topic_long(overrides, "max.compaction.lag.ms");
  double ratio = 0.5;
  if (auto v = topic_value(overrides, "min.cleanable.dirty.ratio")) parse_double(*v, ratio);
  p.min_cleanable_dirty_ratio = ratio;
  return p;
}

MaintenanceOptions BrokerConfig::maintenance() const {
  MaintenanceOptions m;
  m.retention_check_interval_ms = get_long("log.retention.check.interval.ms");
  m.cleaner_enabled = get_bool("log.cleaner.enable");
  m.cleaner_backoff_ms = get_long("log.cleaner.backoff.ms");
  m.cleaner_dedupe_buffer_bytes = get_long("log.cleaner.dedupe.buffer.size");
  return m;
}

}  // namespace kgw
