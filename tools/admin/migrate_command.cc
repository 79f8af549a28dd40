// kgw-admin migrate start|status (issue 17): moving topics off a legacy
// Kafka cluster that kgw proxies (kgw --upstream). Only Kafka APIs, sent
// with kgw's own codec (KafkaCall), so that every step is a request any
// Kafka tool could make:
//  - start: CreateTopics of the topic on kgw with the topic config
//    kgw.migration.state=mirroring (kgw gives the local copy the legacy
//    topic's id and partition count, and starts mirroring it; clients
//    still go to the legacy cluster);
//  - status: per partition, the state (DescribeConfigs of
//    kgw.migration.state; `upstream` when kgw has no local copy), the
//    legacy high watermark (ListOffsets LATEST through kgw, which forwards
//    it while the topic is not local) and the mirrored offset (ListOffsets
//    LATEST from Kafka's debugging replica id -2, which kgw answers from its
//    own copy). --json prints one JSON object per partition.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "all_messages.h"
#include "src/proxy/legacy_end.h"
#include "tools/admin/admin_client.h"
#include "tools/admin/args.h"
#include "tools/admin/commands.h"
#include "tools/admin/kafka_call.h"

namespace kgw::admin {

namespace {

constexpr const char* kWhat = "Error while executing migrate:";
constexpr const char* kStateConfig = "kgw.migration.state";
constexpr const char* kFinalizedConfig = "kgw.migration.finalized";
constexpr const char* kLegacyEndConfig = "kgw.migration.legacy.end";  // src/proxy/legacy_end.h
constexpr const char* kDivergedConfig = "kgw.migration.diverged";
constexpr std::int8_t kTopicResource = 2;
constexpr std::int16_t kUnknownTopicOrPartition = 3;
constexpr std::int16_t kTopicAlreadyExists = 36;

constexpr const char* kUsage =
    "Usage: kgw-admin migrate (start | status | cutover | rollback | finalize)\n"
    "                 --bootstrap-server HOST:PORT --topic TOPIC [--topic TOPIC ...] [--json]\n"
    "                 [--interval MS] [--watch] [--timeout S]\n"
    "Moves topics off the legacy Kafka cluster kgw proxies (kgw --upstream):\n"
    "  start     kgw copies every partition of the topic from the legacy cluster, with the same\n"
    "            offsets (state mirroring); clients still read and write the legacy cluster.\n"
    "  status    per partition: state, legacy high watermark, mirrored offset, offsets behind,\n"
    "            and while copying offsets/s, bytes/s and ETA over --interval MS (default 1000;\n"
    "            0: no rates); --watch: again every interval until caught up;\n"
    "            --json: one JSON object per partition).\n"
    "  cutover   fences produce (at most migration.cutover.max.pause.ms), lets the copy catch\n"
    "            up, and switches the topic to kgw (state local): same offsets, same producer\n"
    "            sequences; if it cannot within the pause, the topic stays mirroring.\n"
    "  rollback  before the cutover: kgw drops its copy, the legacy cluster serves the topic;\n"
    "            after it (until finalize): kgw copies what it took since back to the legacy\n"
    "            cluster at the same offsets (state rollback, kgw serving meanwhile), then\n"
    "            holds produce (at most migration.cutover.max.pause.ms) for the last records\n"
    "            and hands the topic back; it waits at most --timeout S (default 600).\n"
    "  finalize  after the cutover: the legacy copy is no longer kept as a fallback.\n";

struct PartitionStatus {
  std::string topic;
  std::int32_t partition = 0;
  std::string state;
  long long legacy_high_watermark = -1;
  long long mirrored_offset = -1;
  long long copy_bytes = -1;  // kgw's copy (DescribeLogDirs), while copying
  double offsets_per_s = -1;  // -1: not measured
  double bytes_per_s = -1;
  double eta_s = -1;
  bool finalized = true;
  std::string diverged;
};

// The topic's partition count as kgw's Metadata gives it (legacy topics
// included in proxy mode); -1 and `error` if unknown.
int partition_count(KafkaCall& call, const std::string& topic, std::string& error) {
  MetadataRequest req;
  req.topics = std::vector<MetadataRequest::MetadataRequestTopic>(1);
  (*req.topics)[0].name = topic;
  req.allow_auto_topic_creation = false;
  MetadataResponse resp;
  if (!call.call(req, 4, resp, error)) return -1;
  for (const auto& t : resp.topics) {
    if (!t.name || *t.name != topic) continue;
    if (t.error_code != 0) {
      error = "topic '" + topic + "': Metadata error " + std::to_string(t.error_code) +
              (t.error_code == kUnknownTopicOrPartition ? " (unknown topic)" : "");
      return -1;
    }
    return static_cast<int>(t.partitions.size());
  }
  error = "topic '" + topic + "' is not in kgw's Metadata answer";
  return -1;
}

// The topic's migration state: kgw.migration.state of its local copy, or
// "upstream" if kgw has none.
struct MigrationExtras {
  bool finalized = true;
  std::string legacy_end;  // "PARTITION:OFFSET,..." (set by the cutover)
  std::string diverged;    // set when the legacy log moved after it
};

bool migration_state(KafkaCall& call, const std::string& topic, std::string& state,
                     std::string& error, bool* finalized = nullptr,
                     MigrationExtras* extras = nullptr) {
  DescribeConfigsRequest req;
  auto& r = req.resources.emplace_back();
  r.resource_type = kTopicResource;
  r.resource_name = topic;
  r.configuration_keys = std::vector<std::string_view>{kStateConfig, kFinalizedConfig,
                                                       kLegacyEndConfig, kDivergedConfig};
  DescribeConfigsResponse resp;
  if (!call.call(req, 1, resp, error)) return false;
  if (resp.results.size() != 1) {
    error = "DescribeConfigs answered " + std::to_string(resp.results.size()) + " resources";
    return false;
  }
  const auto& res = resp.results[0];
  if (res.error_code == kUnknownTopicOrPartition) {
    state = "upstream";
    return true;
  }
  if (res.error_code != 0) {
    error = "topic '" + topic + "': DescribeConfigs error " + std::to_string(res.error_code) +
            (res.error_message ? ": " + std::string(*res.error_message) : "");
    return false;
  }
  state = "local";
  if (finalized != nullptr) *finalized = true;
  for (const auto& c : res.configs) {
    if (c.name == kStateConfig && c.value) state = std::string(*c.value);
    if (c.name == kFinalizedConfig && c.value && finalized != nullptr) {
      *finalized = *c.value != "false";
    }
    if (extras != nullptr && c.value) {
      if (c.name == kLegacyEndConfig) extras->legacy_end = std::string(*c.value);
      if (c.name == kDivergedConfig) extras->diverged = std::string(*c.value);
    }
  }
  return true;
}

// IncrementalAlterConfigs SET of one config of `topic`: "" or kgw's error.
std::string set_topic_config(KafkaCall& call, const std::string& topic, const char* name,
                             const char* value) {
  IncrementalAlterConfigsRequest req;
  auto& r = req.resources.emplace_back();
  r.resource_type = kTopicResource;
  r.resource_name = topic;
  auto& c = r.configs.emplace_back();
  c.name = name;
  c.config_operation = 0;  // SET
  c.value = value;
  IncrementalAlterConfigsResponse resp;
  std::string error;
  if (!call.call(req, 1, resp, error)) return error;
  if (resp.responses.size() != 1) return "IncrementalAlterConfigs answered no result";
  const auto& res = resp.responses[0];
  if (res.error_code == 0) return "";
  return "error " + std::to_string(res.error_code) +
         (res.error_message ? ": " + std::string(*res.error_message) : "");
}

// Waits (polling DescribeConfigs) until the topic's state is one of
// `wanted`; false (and `error`) past `timeout_ms`. `state` is the last
// seen.
bool wait_state(KafkaCall& call, const std::string& topic, const std::vector<std::string>& wanted,
                std::chrono::milliseconds timeout, std::string& state, std::string& error) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (!migration_state(call, topic, state, error)) return false;
    if (std::find(wanted.begin(), wanted.end(), state) != wanted.end()) return true;
    if (std::chrono::steady_clock::now() > deadline) {
      error = "topic '" + topic + "' is still " + state + " after " +
              std::to_string(timeout.count()) + " ms";
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int cutover(KafkaCall& call, const std::vector<std::string>& topics) {
  int failed = 0;
  for (const std::string& topic : topics) {
    std::string state, error;
    bool finalized = true;
    if (!migration_state(call, topic, state, error, &finalized)) return fail(kWhat, error);
    if (state == "local" && !finalized) {
      std::printf("Topic %s is kgw's already (not finalized).\n", topic.c_str());
      continue;
    }
    if (state == "rollback") {
      std::fprintf(stderr,
                   "%s %s: the topic is rolling back to the legacy cluster (kgw-admin migrate "
                   "status shows how far); once it is upstream again, kgw-admin migrate start "
                   "mirrors it anew and a cutover can follow\n",
                   kWhat, topic.c_str());
      ++failed;
      continue;
    }
    if (state != "mirroring" && state != "cutover") {
      std::fprintf(stderr,
                   "%s %s: the topic is %s; a cutover needs it mirroring (kgw-admin "
                   "migrate start)\n",
                   kWhat, topic.c_str(), state.c_str());
      ++failed;
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (state == "mirroring") {
      if (std::string err = set_topic_config(call, topic, kStateConfig, "cutover"); !err.empty()) {
        std::fprintf(stderr, "%s %s: %s\n", kWhat, topic.c_str(), err.c_str());
        ++failed;
        continue;
      }
    }
    std::printf("Cutover of %s: produce fenced, kgw catching up with the legacy cluster...\n",
                topic.c_str());
    std::fflush(stdout);
    // kgw gives up by itself past migration.cutover.max.pause.ms (going
    // back to mirroring): this wait only guards against a kgw gone away.
    if (!wait_state(call, topic, {"local", "mirroring", "upstream"}, std::chrono::seconds(60),
                    state, error)) {
      std::fprintf(stderr, "%s %s\n", kWhat, error.c_str());
      ++failed;
      continue;
    }
    const long long ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (state == "local") {
      std::printf(
          "Cutover of %s: done in %lld ms; kgw serves the topic at the same offsets. "
          "The legacy copy is kept until kgw-admin migrate finalize.\n",
          topic.c_str(), ms);
    } else {
      std::fprintf(stderr,
                   "%s %s: the cutover was abandoned after %lld ms (the topic is %s again; "
                   "kgw's log says which partition held it up: an open transaction, a legacy "
                   "broker not answering, or a copy behind); run it again, or raise "
                   "migration.cutover.max.pause.ms\n",
                   kWhat, topic.c_str(), ms, state.c_str());
      ++failed;
    }
  }
  return failed == 0 ? 0 : 1;
}

bool latest_offsets(KafkaCall& call, const std::string& topic, int partitions,
                    std::int32_t replica_id, std::vector<long long>& out, std::string& error);

// After the switch: kgw copies its records back, then hands the topic
// over (src/proxy/copy_back.h). Progress every second from
// kgw.migration.legacy.end (how far the copy is) against kgw's log end.
bool roll_back_after_switch(KafkaCall& call, const std::string& topic, std::string state,
                            int timeout_s) {
  std::string error;
  if (state == "local") {
    if (std::string err = set_topic_config(call, topic, kStateConfig, "rollback"); !err.empty()) {
      std::fprintf(stderr, "%s %s: %s\n", kWhat, topic.c_str(), err.c_str());
      return false;
    }
  }
  std::printf(
      "Rollback of %s: kgw copies what it took since the cutover back to the legacy cluster "
      "(kgw serves the topic meanwhile)...\n",
      topic.c_str());
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  auto last_print = t0;
  const int n = partition_count(call, topic, error);
  while (true) {
    bool finalized = true;
    MigrationExtras extras;
    if (!migration_state(call, topic, state, error, &finalized, &extras)) {
      std::fprintf(stderr, "%s %s\n", kWhat, error.c_str());
      return false;
    }
    if (state == "upstream") break;
    if (state != "rollback") {
      std::fprintf(stderr, "%s %s: the topic is %s, not rolling back\n", kWhat, topic.c_str(),
                   state.c_str());
      return false;
    }
    if (extras.diverged.rfind("rollback stopped", 0) == 0) {
      std::fprintf(stderr,
                   "%s %s: %s. kgw keeps serving the topic; nothing was lost. See kgw's log.\n",
                   kWhat, topic.c_str(), extras.diverged.c_str());
      return false;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - t0 > std::chrono::seconds(timeout_s)) {
      std::fprintf(stderr,
                   "%s %s: still rolling back after %d s (kgw goes on by itself; follow it with "
                   "kgw-admin migrate status)\n",
                   kWhat, topic.c_str(), timeout_s);
      return false;
    }
    if (now - last_print >= std::chrono::seconds(1) && n > 0) {
      last_print = now;
      std::vector<long long> ends;
      long long left = 0;
      const auto copied = parse_legacy_end(extras.legacy_end);
      if (latest_offsets(call, topic, n, -2, ends, error)) {
        for (int p = 0; p < n; ++p) {
          auto c = copied.find(p);
          if (c != copied.end() && ends[static_cast<std::size_t>(p)] > c->second) {
            left += ends[static_cast<std::size_t>(p)] - c->second;
          }
        }
        std::printf("  %lld offset(s) left to copy back\n", left);
        std::fflush(stdout);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const long long ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf(
      "Rolled back %s in %lld ms: the legacy cluster serves the topic again, with every record "
      "kgw took, at the same offsets.\n",
      topic.c_str(), ms);
  return true;
}

int rollback(KafkaCall& call, const std::vector<std::string>& topics, int timeout_s) {
  int failed = 0;
  for (const std::string& topic : topics) {
    std::string state, error;
    bool finalized = true;
    if (!migration_state(call, topic, state, error, &finalized)) return fail(kWhat, error);
    if (state == "upstream") {
      std::printf("Topic %s is the legacy cluster's already.\n", topic.c_str());
      continue;
    }
    if (state == "local" && finalized) {
      std::fprintf(stderr,
                   "%s %s: the topic is kgw's and finalized: the legacy copy was written off, "
                   "there is nothing to roll back to\n",
                   kWhat, topic.c_str());
      ++failed;
      continue;
    }
    if (state == "local" || state == "rollback") {
      if (!roll_back_after_switch(call, topic, state, timeout_s)) ++failed;
      continue;
    }
    if (std::string err = set_topic_config(call, topic, kStateConfig, "upstream"); !err.empty()) {
      std::fprintf(stderr, "%s %s: %s\n", kWhat, topic.c_str(), err.c_str());
      ++failed;
      continue;
    }
    if (!wait_state(call, topic, {"upstream"}, std::chrono::seconds(60), state, error)) {
      std::fprintf(stderr, "%s %s\n", kWhat, error.c_str());
      ++failed;
      continue;
    }
    std::printf("Rolled back %s: kgw dropped its copy; the legacy cluster serves the topic.\n",
                topic.c_str());
  }
  return failed == 0 ? 0 : 1;
}

int finalize(KafkaCall& call, const std::vector<std::string>& topics) {
  int failed = 0;
  for (const std::string& topic : topics) {
    std::string state, error;
    bool finalized = true;
    if (!migration_state(call, topic, state, error, &finalized)) return fail(kWhat, error);
    if (state == "local" && finalized) {
      std::printf("Topic %s is finalized already.\n", topic.c_str());
      continue;
    }
    if (state != "local") {
      std::fprintf(stderr, "%s %s: the topic is %s; finalize comes after the cutover\n", kWhat,
                   topic.c_str(), state.c_str());
      ++failed;
      continue;
    }
    if (std::string err = set_topic_config(call, topic, kFinalizedConfig, "true"); !err.empty()) {
      std::fprintf(stderr, "%s %s: %s\n", kWhat, topic.c_str(), err.c_str());
      ++failed;
      continue;
    }
    std::printf("Finalized %s: kgw owns the topic; the legacy copy is no longer its fallback.\n",
                topic.c_str());
  }
  return failed == 0 ? 0 : 1;
}

// LATEST offsets of the topic's partitions, as `replica_id` asks (-1 a
// consumer: the legacy high watermark while the topic routes upstream;
// -2 the debugging replica: kgw's own copy).
bool latest_offsets(KafkaCall& call, const std::string& topic, int partitions,
                    std::int32_t replica_id, std::vector<long long>& out, std::string& error) {
  ListOffsetsRequest req;
  req.replica_id = replica_id;
  auto& t = req.topics.emplace_back();
  t.name = topic;
  for (int p = 0; p < partitions; ++p) {
    auto& part = t.partitions.emplace_back();
    part.partition_index = p;
    part.timestamp = -1;  // LATEST
  }
  ListOffsetsResponse resp;
  if (!call.call(req, 2, resp, error)) return false;
  out.assign(static_cast<std::size_t>(partitions), -1);
  for (const auto& rt : resp.topics) {
    for (const auto& rp : rt.partitions) {
      if (rp.partition_index < 0 || rp.partition_index >= partitions) continue;
      if (rp.error_code == 0) out[static_cast<std::size_t>(rp.partition_index)] = rp.offset;
    }
  }
  return true;
}

int start(KafkaCall& call, const std::vector<std::string>& topics) {
  int failed = 0;
  for (const std::string& topic : topics) {
    CreateTopicsRequest req;
    auto& t = req.topics.emplace_back();
    t.name = topic;
    t.num_partitions = -1;  // the legacy topic's
    t.replication_factor = -1;
    auto& c = t.configs.emplace_back();
    c.name = kStateConfig;
    c.value = "mirroring";
    CreateTopicsResponse resp;
    std::string error;
    if (!call.call(req, 4, resp, error)) return fail(kWhat, error);
    const std::int16_t ec = resp.topics.size() == 1 ? resp.topics[0].error_code : -1;
    if (ec == 0) {
      // Answers before CreateTopics v5 carry no partition count.
      int partitions = resp.topics[0].num_partitions;
      if (partitions <= 0) partitions = partition_count(call, topic, error);
      std::printf("Mirroring topic %s (%d partitions) from the legacy cluster.\n", topic.c_str(),
                  partitions);
      continue;
    }
    std::string state;
    if (ec == kTopicAlreadyExists && migration_state(call, topic, state, error) &&
        state == "mirroring") {
      std::printf("Topic %s is already mirroring.\n", topic.c_str());
      continue;
    }
    if (ec == kTopicAlreadyExists && state == "upstream") {
      // Rolled back after a cutover: kgw kept a stub that mirrors on.
      if (std::string err = set_topic_config(call, topic, kStateConfig, "mirroring");
          !err.empty()) {
        std::fprintf(stderr, "%s %s: %s\n", kWhat, topic.c_str(), err.c_str());
        ++failed;
        continue;
      }
      std::printf(
          "Mirroring topic %s again from the legacy cluster, from where its rollback "
          "left kgw's copy.\n",
          topic.c_str());
      continue;
    }
    std::string message = resp.topics.size() == 1 && resp.topics[0].error_message
                              ? std::string(*resp.topics[0].error_message)
                              : "error " + std::to_string(ec);
    if (ec == kTopicAlreadyExists && !state.empty()) {
      message = "topic '" + topic + "' is already kgw's (state " + state + ")";
    }
    std::fprintf(stderr, "%s %s: %s\n", kWhat, topic.c_str(), message.c_str());
    ++failed;
  }
  return failed == 0 ? 0 : 1;
}

// The size of each partition of kgw's copy of `topic` (DescribeLogDirs
// to kgw); -1 where not known.
std::vector<long long> copy_sizes(KafkaCall& call, const std::string& topic, int partitions) {
  std::vector<long long> out(static_cast<std::size_t>(partitions), -1);
  DescribeLogDirsRequest req;
  req.topics.emplace();
  auto& t = req.topics->emplace_back();
  t.topic = topic;
  for (int p = 0; p < partitions; ++p) t.partitions.push_back(p);
  DescribeLogDirsResponse resp;
  std::string error;
  if (!call.call(req, 1, resp, error)) return out;
  for (const auto& r : resp.results) {
    for (const auto& rt : r.topics) {
      if (rt.name != topic) continue;
      for (const auto& p : rt.partitions) {
        if (p.partition_index >= 0 && p.partition_index < partitions) {
          out[static_cast<std::size_t>(p.partition_index)] = p.partition_size;
        }
      }
    }
  }
  return out;
}

// One look at every partition of `topics`; false and `error` if kgw
// cannot be asked.
bool collect(KafkaCall& call, const std::vector<std::string>& topics,
             std::vector<PartitionStatus>& rows, std::map<std::string, std::string>& diverged,
             std::string& error) {
  rows.clear();
  diverged.clear();
  for (const std::string& topic : topics) {
    std::string state;
    const int n = partition_count(call, topic, error);
    if (n < 0) return false;
    bool finalized = true;
    MigrationExtras extras;
    if (!migration_state(call, topic, state, error, &finalized, &extras)) return false;
    std::vector<long long> legacy, mirrored;
    if (!latest_offsets(call, topic, n, -1, legacy, error)) return false;
    if ((state == "local" && !finalized) || state == "rollback") {
      // kgw serves the topic: the legacy log's end is where it was at the
      // cutover (kgw watches it until finalize; `diverged` if it moved),
      // or while rolling back how far kgw's records are copied back.
      legacy.assign(static_cast<std::size_t>(n), -1);
      for (const auto& [p, offset] : parse_legacy_end(extras.legacy_end)) {
        if (p < n) legacy[static_cast<std::size_t>(p)] = offset;
      }
    }
    if (!extras.diverged.empty()) diverged[topic] = extras.diverged;
    if (state != "upstream" && !latest_offsets(call, topic, n, -2, mirrored, error)) {
      return false;
    }
    std::vector<long long> sizes;
    if (state == "mirroring" || state == "cutover") sizes = copy_sizes(call, topic, n);
    for (int p = 0; p < n; ++p) {
      PartitionStatus s;
      s.topic = topic;
      s.partition = p;
      s.state = state;
      s.finalized = finalized;
      s.diverged = extras.diverged;
      s.legacy_high_watermark = legacy[static_cast<std::size_t>(p)];
      if (!mirrored.empty()) s.mirrored_offset = mirrored[static_cast<std::size_t>(p)];
      if (!sizes.empty()) s.copy_bytes = sizes[static_cast<std::size_t>(p)];
      rows.push_back(std::move(s));
    }
  }
  return true;
}

bool copying(const PartitionStatus& s) {
  return (s.state == "mirroring" || s.state == "cutover") && s.mirrored_offset >= 0 &&
         s.legacy_high_watermark >= 0;
}

// Rates between two looks `seconds` apart, and the time left at that rate.
void add_rates(const std::vector<PartitionStatus>& before, std::vector<PartitionStatus>& after,
               double seconds) {
  for (PartitionStatus& s : after) {
    if (!copying(s) || seconds <= 0) continue;
    for (const PartitionStatus& b : before) {
      if (b.topic != s.topic || b.partition != s.partition || b.mirrored_offset < 0) continue;
      s.offsets_per_s = static_cast<double>(s.mirrored_offset - b.mirrored_offset) / seconds;
      if (s.copy_bytes >= 0 && b.copy_bytes >= 0) {
        s.bytes_per_s = static_cast<double>(s.copy_bytes - b.copy_bytes) / seconds;
      }
      const long long behind = s.legacy_high_watermark - s.mirrored_offset;
      if (behind <= 0) {
        s.eta_s = 0;
      } else if (s.offsets_per_s > 0) {
        s.eta_s = static_cast<double>(behind) / s.offsets_per_s;
      }
    }
  }
}

std::string rate_text(double v, const char* unit) {
  if (v < 0) return "-";
  char buf[64];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fM%s", v / 1e6, unit);
  } else if (v >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1fk%s", v / 1e3, unit);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f%s", v, unit);
  }
  return buf;
}

std::string eta_text(double s) {
  if (s < 0) return "-";
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%.0fh%02.0fm", std::floor(s / 3600),
                  std::floor(std::fmod(s, 3600) / 60));
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%.0fm%02.0fs", std::floor(s / 60), std::fmod(s, 60));
  } else {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  }
  return buf;
}

void print_status(const std::vector<PartitionStatus>& rows,
                  const std::map<std::string, std::string>& diverged, bool json) {
  if (json) {
    for (const PartitionStatus& s : rows) {
      nlohmann::json j = {
          {"topic", s.topic},
          {"partition", s.partition},
          {"state", s.state},
          {"legacy_high_watermark", s.legacy_high_watermark},
          {"mirrored_offset", s.mirrored_offset},
          {"finalized", s.finalized},
          {"diverged", s.diverged.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.diverged)}};
      if (s.mirrored_offset >= 0 && s.legacy_high_watermark >= 0 && s.state != "local") {
        // Rolling back the copy runs the other way: the legacy log behind.
        j["behind"] = s.state == "rollback" ? s.mirrored_offset - s.legacy_high_watermark
                                            : s.legacy_high_watermark - s.mirrored_offset;
      }
      if (s.offsets_per_s >= 0) j["offsets_per_s"] = s.offsets_per_s;
      if (s.bytes_per_s >= 0) j["bytes_per_s"] = s.bytes_per_s;
      if (s.eta_s >= 0) j["eta_s"] = s.eta_s;
      std::printf("%s\n", j.dump().c_str());
    }
    std::fflush(stdout);
    return;
  }
  std::printf("%-30s %9s %-10s %14s %14s %10s %10s %10s %8s\n", "TOPIC", "PARTITION", "STATE",
              "LEGACY-HW", "MIRRORED", "BEHIND", "OFFSETS/S", "BYTES/S", "ETA");
  for (const PartitionStatus& s : rows) {
    // Once kgw serves the topic its log runs ahead of the legacy one.
    const std::string behind =
        s.mirrored_offset >= 0 && s.legacy_high_watermark >= 0 && s.state != "local"
            ? std::to_string(s.state == "rollback" ? s.mirrored_offset - s.legacy_high_watermark
                                                   : s.legacy_high_watermark - s.mirrored_offset)
            : "-";
    const std::string mirrored =
        s.mirrored_offset >= 0 ? std::to_string(s.mirrored_offset) : std::string("-");
    const std::string state = s.finalized ? s.state : s.state + " (not finalized)";
    std::printf("%-30s %9d %-10s %14lld %14s %10s %10s %10s %8s\n", s.topic.c_str(), s.partition,
                state.c_str(), s.legacy_high_watermark, mirrored.c_str(), behind.c_str(),
                rate_text(s.offsets_per_s, "").c_str(), rate_text(s.bytes_per_s, "B").c_str(),
                eta_text(s.eta_s).c_str());
  }
  for (const auto& [topic, why] : diverged) {
    if (why.rfind("rollback stopped", 0) == 0) {
      std::fprintf(stderr, "ERROR: %s: %s. kgw keeps serving the topic; see kgw's log.\n",
                   topic.c_str(), why.c_str());
      continue;
    }
    std::fprintf(stderr,
                 "WARNING: %s: records reached the legacy cluster after the cutover, around kgw "
                 "(%s); the two logs have diverged. Find the client still bootstrapped to the "
                 "legacy cluster; those records are not in kgw's log.\n",
                 topic.c_str(), why.c_str());
  }
  std::fflush(stdout);
}

int status(KafkaCall& call, const std::vector<std::string>& topics, bool json, int interval_ms,
           bool watch) {
  std::vector<PartitionStatus> rows, before;
  std::map<std::string, std::string> diverged;
  std::string error;
  for (bool first = true;; first = false) {
    if (!collect(call, topics, rows, diverged, error)) return fail(kWhat, error);
    const bool any_copying = std::any_of(rows.begin(), rows.end(), copying);
    // Rates need a second look: taken `interval_ms` later while a copy runs.
    if (first && any_copying && interval_ms > 0) {
      const auto t0 = std::chrono::steady_clock::now();
      before = rows;
      std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
      if (!collect(call, topics, rows, diverged, error)) return fail(kWhat, error);
      add_rates(before, rows,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    } else if (!first) {
      add_rates(before, rows, interval_ms / 1000.0);
    }
    print_status(rows, diverged, json);
    const bool caught_up = std::all_of(rows.begin(), rows.end(), [](const PartitionStatus& s) {
      return !copying(s) || s.legacy_high_watermark - s.mirrored_offset <= 0;
    });
    if (!watch || caught_up) return 0;
    before = rows;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::max(interval_ms, 100)));
  }
}

}  // namespace

int migrate_command(const std::vector<std::string>& raw) {
  Args a;
  std::string error;
  std::vector<std::string> args = raw;
  std::string action;
  if (!args.empty() && args[0].rfind("--", 0) != 0) {
    action = args[0];
    args.erase(args.begin());
  }
  if (!a.parse(args, {"bootstrap-server", "topic", "interval", "timeout"},
               {"json", "watch", "help"}, error)) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(kWhat, error, 2);
  }
  if (a.has("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const std::vector<std::string> actions = {"start", "status", "cutover", "rollback", "finalize"};
  if (std::find(actions.begin(), actions.end(), action) == actions.end()) {
    std::fprintf(stderr, "%s", kUsage);
    const char* list = "(start, status, cutover, rollback, finalize)";
    return fail(kWhat,
                action.empty() ? std::string("an action ") + list + " is required"
                               : "unknown action '" + action + "' " + list,
                2);
  }
  auto bootstrap = a.get("bootstrap-server");
  if (!bootstrap) return fail(kWhat, "--bootstrap-server HOST:PORT is required", 2);
  const std::vector<std::string>& topics = a.all("topic");
  if (topics.empty()) return fail(kWhat, "--topic TOPIC is required", 2);
  KafkaCall call;
  if (!call.connect(*bootstrap, AdminClient::kTimeoutMs, error)) return fail(kWhat, error);
  if (action == "start") return start(call, topics);
  if (action == "cutover") return cutover(call, topics);
  if (action == "rollback") {
    int timeout_s = 600;
    if (auto v = a.get("timeout")) {
      char* end = nullptr;
      const long t = std::strtol(v->c_str(), &end, 10);
      if (end == v->c_str() || *end != '\0' || t <= 0 || t > 86400) {
        return fail(kWhat, "--timeout takes seconds, 1..86400", 2);
      }
      timeout_s = static_cast<int>(t);
    }
    return rollback(call, topics, timeout_s);
  }
  if (action == "finalize") return finalize(call, topics);
  int interval_ms = 1000;
  if (auto v = a.get("interval")) {
    char* end = nullptr;
    const long ms = std::strtol(v->c_str(), &end, 10);
    if (end == v->c_str() || *end != '\0' || ms < 0 || ms > 3600000) {
      return fail(kWhat, "--interval takes milliseconds, 0..3600000 (0: no rates)", 2);
    }
    interval_ms = static_cast<int>(ms);
  }
  return status(call, topics, a.has("json"), interval_ms, a.has("watch"));
}

}  // namespace kgw::admin
