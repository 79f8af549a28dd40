// kgw-admin topics (and bin/kafka-topics.sh): create, list, describe,
// alter (partitions) and delete topics, with kafka-topics.sh's flags and
// output. --topic takes a regular expression for describe, alter and
// delete, as Kafka's does.
#include <regex.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "describe_topic_partitions.h"
#include "tools/admin/admin_client.h"
#include "tools/admin/args.h"
#include "tools/admin/commands.h"
#include "tools/admin/kafka_call.h"

namespace kgw::admin {

namespace {

constexpr const char* kWhat = "Error while executing topic command :";

constexpr const char* kUsage =
    "Usage: kgw-admin topics ACTION --bootstrap-server HOST:PORT [options]\n"
    "       (bin/kafka-topics.sh takes the same flags, the action as --create, --list, ...)\n"
    "Actions:\n"
    "  create     --topic T [--partitions N] [--replication-factor N] [--config K=V ...]\n"
    "             [--if-not-exists]\n"
    "  list       [--topic REGEX] [--exclude-internal]\n"
    "  describe   [--topic REGEX] [--exclude-internal] [--if-exists]\n"
    "             [--under-replicated-partitions] [--unavailable-partitions]\n"
    "  alter      --topic REGEX --partitions N [--if-exists]\n"
    "  delete     --topic REGEX [--if-exists]\n"
    "Other options: --command-config FILE (librdkafka properties), --help\n";

struct TopicView {
  std::string name;
  int partitions = 0;
  int replication = 0;
};

// Topics from metadata, sorted, optionally matching a regex.
bool list_topics(const AdminClient& c, const std::optional<std::string>& pattern,
                 bool exclude_internal, std::vector<TopicView>& out, std::string& error) {
  Metadata md = c.metadata(error);
  if (!md) return false;
  // POSIX extended regular expressions (regex.h), matched against the
  // whole name as Kafka matches its Java pattern. (std::regex trips GCC 12's
  // -Wmaybe-uninitialized in the sanitizer build.)
  regex_t re{};
  const bool has_re = pattern.has_value();
  if (has_re && regcomp(&re, ("^(" + *pattern + ")$").c_str(), REG_EXTENDED | REG_NOSUB) != 0) {
    error = "--topic '" + *pattern + "' is not a valid regular expression";
    return false;
  }
  struct Free {
    regex_t* r;
    ~Free() {
      if (r != nullptr) regfree(r);
    }
  } free_re{has_re ? &re : nullptr};
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    std::string name = t.topic;
    if (exclude_internal && name.rfind("__", 0) == 0) continue;
    if (has_re && regexec(&re, name.c_str(), 0, nullptr, 0) != 0) continue;
    TopicView v;
    v.name = name;
    v.partitions = t.partition_cnt;
    v.replication = t.partition_cnt > 0 ? t.partitions[0].replica_cnt : 0;
    out.push_back(v);
  }
  std::sort(out.begin(), out.end(),
            [](const TopicView& a, const TopicView& b) { return a.name < b.name; });
  return true;
}

// The topic's overrides ("k=v,k2=v2"), as kafka-topics --describe prints.
std::string overrides_of(const AdminClient& c, const std::string& topic, std::string& error) {
  rd_kafka_ConfigResource_t* res =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_AdminOptions_t* o = c.options(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_DescribeConfigs(c.rk(), &res, 1, o, c.queue());
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_ConfigResource_destroy(res);
  Event ev = c.wait(RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, error);
  if (!ev) return "";
  size_t n = 0;
  const rd_kafka_ConfigResource_t** rs = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConfigResource_error(rs[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      error = rd_kafka_ConfigResource_error_string(rs[i]);
      return "";
    }
    size_t cnt = 0;
    const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(rs[i], &cnt);
    for (size_t j = 0; j < cnt; ++j) {
      if (rd_kafka_ConfigEntry_source(entries[j]) != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG)
        continue;
      if (!out.empty()) out += ",";
      const char* v = rd_kafka_ConfigEntry_value(entries[j]);
      out += std::string(rd_kafka_ConfigEntry_name(entries[j])) + "=" + (v ? v : "null");
    }
  }
  return out;
}

int create(const AdminClient& c, const Args& a) {
  auto topic = a.get("topic");
  if (!topic) return fail(kWhat, "--topic is required to create a topic", 2);
  long long partitions = -1, replication = -1;
  if (auto p = a.get("partitions"); p && !parse_long(*p, partitions)) {
    return fail(kWhat, "--partitions '" + *p + "' is not a number", 2);
  }
  if (auto r = a.get("replication-factor"); r && !parse_long(*r, replication)) {
    return fail(kWhat, "--replication-factor '" + *r + "' is not a number", 2);
  }
  char errstr[512];
  rd_kafka_NewTopic_t* nt =
      rd_kafka_NewTopic_new(topic->c_str(), static_cast<int>(partitions),
                            static_cast<int>(replication), errstr, sizeof errstr);
  if (nt == nullptr) return fail(kWhat, errstr, 2);
  for (const std::string& kv : a.all("config")) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) {
      rd_kafka_NewTopic_destroy(nt);
      return fail(kWhat, "--config '" + kv + "' is not NAME=VALUE", 2);
    }
    rd_kafka_NewTopic_set_config(nt, kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str());
  }
  rd_kafka_AdminOptions_t* o = c.options(RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_CreateTopics(c.rk(), &nt, 1, o, c.queue());
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_NewTopic_destroy(nt);
  std::string error;
  Event ev = c.wait(RD_KAFKA_EVENT_CREATETOPICS_RESULT, error);
  if (!ev) return fail(kWhat, error);
  size_t n = 0;
  const rd_kafka_topic_result_t** rs =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(rs[i]);
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && a.has("if-not-exists")) continue;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* s = rd_kafka_topic_result_error_string(rs[i]);
      return fail(kWhat, s != nullptr && *s ? s : rd_kafka_err2str(err));
    }
    std::printf("Created topic %s.\n", rd_kafka_topic_result_name(rs[i]));
  }
  return 0;
}

// A partition's eligible leader replicas and last known ELR (KIP-966).
struct ElrView {
  std::vector<int32_t> elr;
  std::vector<int32_t> last_known;
};
using ElrMap = std::map<std::pair<std::string, int32_t>, ElrView>;

// The ELRs of `topics`' partitions, from DescribeTopicPartitions over
// kgw's own codec (what kafka-topics.sh of Kafka 4.x asks; librdkafka
// 2.0's Metadata carries neither), following its cursor. Empty when that
// cannot be asked (--command-config: a TLS or SASL listener KafkaCall does
// not speak) or is not answered: the columns are then left out.
ElrMap elrs_of(const Args& a, const std::vector<TopicView>& topics) {
  ElrMap out;
  auto bootstrap = a.get("bootstrap-server");
  if (!bootstrap || a.has("command-config") || topics.empty()) return out;
  KafkaCall call;
  std::string error;
  if (!call.connect(*bootstrap, AdminClient::kTimeoutMs, error)) return out;
  DescribeTopicPartitionsRequest req;
  for (const TopicView& t : topics) {
    DescribeTopicPartitionsRequest::TopicRequest r;
    r.name = t.name;
    req.topics.push_back(r);
  }
  std::string cursor_topic;  // the cursor's name outlives the answer it came in
  for (std::size_t pages = 0; pages < 100000; ++pages) {
    DescribeTopicPartitionsResponse resp;
    if (!call.call(req, 0, resp, error)) return {};
    for (const auto& t : resp.topics) {
      if (t.error_code != 0 || !t.name) continue;
      for (const auto& p : t.partitions) {
        ElrView& v = out[{std::string(*t.name), p.partition_index}];
        if (p.eligible_leader_replicas) v.elr = *p.eligible_leader_replicas;
        if (p.last_known_elr) v.last_known = *p.last_known_elr;
      }
    }
    if (!resp.next_cursor) break;
    cursor_topic = std::string(resp.next_cursor->topic_name);
    DescribeTopicPartitionsRequest::Cursor next;
    next.topic_name = cursor_topic;
    next.partition_index = resp.next_cursor->partition_index;
    req.cursor = next;
  }
  return out;
}

int describe(const AdminClient& c, const Args& a) {
  std::vector<TopicView> topics;
  std::string error;
  if (!list_topics(c, a.get("topic"), a.has("exclude-internal"), topics, error))
    return fail(kWhat, error);
  if (topics.empty() && a.get("topic") && !a.has("if-exists")) {
    return fail(kWhat, "Topic '" + *a.get("topic") + "' does not exist as expected");
  }
  Metadata md = c.metadata(error);
  if (!md) return fail(kWhat, error);
  // Metadata lists the live (unfenced) brokers; a replica on any other is
  // offline, what Metadata v5+'s offline_replicas carries (librdkafka 2.0
  // does not expose that field).
  std::set<int32_t> live;
  for (int b = 0; b < md->broker_cnt; ++b) live.insert(md->brokers[b].id);
  // As kafka-topics.sh: with a partition filter, only the matching
  // partitions' lines, without the topic lines.
  const bool under_replicated = a.has("under-replicated-partitions");
  const bool unavailable = a.has("unavailable-partitions");
  const bool filtered = under_replicated || unavailable;
  // As kafka-topics.sh of Kafka 4.x, "Elr:" and "LastKnownElr:" after the
  // ISR, on every partition line, but only when some described partition
  // has either (the lines stay those of Kafka 3.x otherwise).
  const ElrMap elrs = elrs_of(a, topics);
  const bool show_elr = std::any_of(elrs.begin(), elrs.end(), [](const auto& e) {
    return !e.second.elr.empty() || !e.second.last_known.empty();
  });
  for (const TopicView& t : topics) {
    if (!filtered) {
      std::string configs = overrides_of(c, t.name, error);
      if (!error.empty()) return fail(kWhat, error);
      std::printf("Topic: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
                  t.name.c_str(), t.partitions, t.replication, configs.c_str());
    }
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (t.name != md->topics[i].topic) continue;
      std::map<int, const rd_kafka_metadata_partition_t*> parts;
      for (int p = 0; p < md->topics[i].partition_cnt; ++p) {
        parts[md->topics[i].partitions[p].id] = &md->topics[i].partitions[p];
      }
      for (const auto& [id, p] : parts) {
        auto list = [](const std::vector<int32_t>& v) {
          std::string s;
          // Appended piecewise: `"," + std::to_string(...)` draws GCC 12's
          // false -Wrestrict at -O3 (bug 105329).
          for (std::size_t k = 0; k < v.size(); ++k) {
            if (k) s += ',';
            s += std::to_string(v[k]);
          }
          return s;
        };
        const std::vector<int32_t> replicas(p->replicas, p->replicas + p->replica_cnt);
        const std::vector<int32_t> isr(p->isrs, p->isrs + p->isr_cnt);
        std::vector<int32_t> offline;
        for (int32_t r : replicas)
          if (live.count(r) == 0) offline.push_back(r);
        const bool is_under = isr.size() < replicas.size();
        const bool is_unavailable = p->leader < 0 || live.count(p->leader) == 0;
        if (filtered && !((under_replicated && is_under) || (unavailable && is_unavailable)))
          continue;
        std::string elr_columns;
        if (show_elr) {
          auto e = elrs.find({t.name, id});
          const ElrView none;
          const ElrView& v = e == elrs.end() ? none : e->second;
          elr_columns = "\tElr: ";
          elr_columns += list(v.elr);
          elr_columns += "\tLastKnownElr: ";
          elr_columns += list(v.last_known);
        }
        std::printf("\tTopic: %s\tPartition: %d\tLeader: %d\tReplicas: %s\tIsr: %s%s%s%s\n",
                    t.name.c_str(), id, p->leader, list(replicas).c_str(), list(isr).c_str(),
                    elr_columns.c_str(),
                    offline.empty() ? "" : "\tOffline: ", list(offline).c_str());
      }
    }
  }
  return 0;
}

int alter(const AdminClient& c, const Args& a) {
  auto topic = a.get("topic");
  if (!topic) return fail(kWhat, "--topic is required to alter a topic", 2);
  auto p = a.get("partitions");
  long long partitions = 0;
  if (!p) {
    return fail(kWhat,
                "only --partitions can be altered here; change configs with kgw-admin configs "
                "(kafka-configs.sh)",
                2);
  }
  if (!parse_long(*p, partitions))
    return fail(kWhat, "--partitions '" + *p + "' is not a number", 2);
  std::vector<TopicView> topics;
  std::string error;
  if (!list_topics(c, topic, false, topics, error)) return fail(kWhat, error);
  if (topics.empty()) {
    if (a.has("if-exists")) return 0;
    return fail(kWhat, "Topic '" + *topic + "' does not exist as expected");
  }
  for (const TopicView& t : topics) {
    char errstr[512];
    rd_kafka_NewPartitions_t* np = rd_kafka_NewPartitions_new(
        t.name.c_str(), static_cast<size_t>(partitions), errstr, sizeof errstr);
    if (np == nullptr) return fail(kWhat, errstr, 2);
    rd_kafka_AdminOptions_t* o = c.options(RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_CreatePartitions(c.rk(), &np, 1, o, c.queue());
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewPartitions_destroy(np);
    Event ev = c.wait(RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT, error);
    if (!ev) return fail(kWhat, error);
    size_t n = 0;
    const rd_kafka_topic_result_t** rs = rd_kafka_CreatePartitions_result_topics(
        rd_kafka_event_CreatePartitions_result(ev.get()), &n);
    for (size_t i = 0; i < n; ++i) {
      if (rd_kafka_topic_result_error(rs[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return fail(kWhat, rd_kafka_topic_result_error_string(rs[i]));
      }
    }
  }
  return 0;
}

int remove(const AdminClient& c, const Args& a) {
  auto topic = a.get("topic");
  if (!topic) return fail(kWhat, "--topic is required to delete a topic", 2);
  std::vector<TopicView> topics;
  std::string error;
  if (!list_topics(c, topic, false, topics, error)) return fail(kWhat, error);
  if (topics.empty()) {
    if (a.has("if-exists")) return 0;
    return fail(kWhat, "Topic '" + *topic + "' does not exist as expected");
  }
  std::vector<rd_kafka_DeleteTopic_t*> dels;
  for (const TopicView& t : topics) dels.push_back(rd_kafka_DeleteTopic_new(t.name.c_str()));
  rd_kafka_AdminOptions_t* o = c.options(RD_KAFKA_ADMIN_OP_DELETETOPICS);
  rd_kafka_DeleteTopics(c.rk(), dels.data(), dels.size(), o, c.queue());
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_DeleteTopic_destroy_array(dels.data(), dels.size());
  Event ev = c.wait(RD_KAFKA_EVENT_DELETETOPICS_RESULT, error);
  if (!ev) return fail(kWhat, error);
  size_t n = 0;
  const rd_kafka_topic_result_t** rs =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev.get()), &n);
  int status = 0;
  for (size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(rs[i]);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && a.has("if-exists")) continue;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* s = rd_kafka_topic_result_error_string(rs[i]);
      status = fail(kWhat, std::string(rd_kafka_topic_result_name(rs[i])) + ": " +
                               (s != nullptr && *s ? s : rd_kafka_err2str(err)));
    }
  }
  return status;
}

}  // namespace

int topics_command(const std::vector<std::string>& raw) {
  const auto args = with_action_flag(raw, {"create", "list", "describe", "alter", "delete"});
  Args a;
  std::string error;
  if (!a.parse(args,
               {"bootstrap-server", "command-config", "topic", "partitions", "replication-factor",
                "config", "replica-assignment"},
               {"create", "list", "describe", "alter", "delete", "if-exists", "if-not-exists",
                "exclude-internal", "help", "under-replicated-partitions", "unavailable-partitions",
                "topics-with-overrides"},
               error)) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(kWhat, error, 2);
  }
  if (a.has("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const std::string action = a.one_of({"create", "list", "describe", "alter", "delete"});
  if (action.empty()) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(kWhat, "exactly one of create, list, describe, alter or delete is needed", 2);
  }
  auto bootstrap = a.get("bootstrap-server");
  if (!bootstrap) return fail(kWhat, "--bootstrap-server HOST:PORT is required", 2);
  auto client = AdminClient::create(*bootstrap, a.get("command-config").value_or(""), error);
  if (!client) return fail(kWhat, error);
  if (action == "create") return create(*client, a);
  if (action == "describe") return describe(*client, a);
  if (action == "alter") return alter(*client, a);
  if (action == "delete") return remove(*client, a);
  std::vector<TopicView> topics;
  if (!list_topics(*client, a.get("topic"), a.has("exclude-internal"), topics, error)) {
    return fail(kWhat, error);
  }
  for (const TopicView& t : topics) std::printf("%s\n", t.name.c_str());
  return 0;
}

}  // namespace kgw::admin
