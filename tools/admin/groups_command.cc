// kgw-admin groups (and bin/kafka-consumer-groups.sh): list, describe,
// reset-offsets and delete consumer groups, with kafka-consumer-groups.sh's
// flags and output, through librdkafka's group admin API
// (ListConsumerGroups, DescribeConsumerGroups, ListConsumerGroupOffsets,
// AlterConsumerGroupOffsets, DeleteGroups).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include "tools/admin/admin_client.h"
#include "tools/admin/args.h"
#include "tools/admin/commands.h"

namespace kgw::admin {

namespace {

constexpr const char* kWhat = "Error:";

constexpr const char* kUsage =
    "Usage: kgw-admin groups ACTION --bootstrap-server HOST:PORT [options]\n"
    "       (bin/kafka-consumer-groups.sh takes the same flags, the action as --list, ...)\n"
    "Actions:\n"
    "  list            [--state]\n"
    "  describe        --group G | --all-groups  [--members | --state | --offsets]\n"
    "  reset-offsets   --group G (--topic T[:P,P...] ... | --all-topics)\n"
    "                  (--to-earliest | --to-latest | --to-current | --to-offset N | --shift-by N\n"
    "                   | --to-datetime YYYY-MM-DDTHH:mm:SS.sss | --by-duration PnDTnHnMnS)\n"
    "                  (--dry-run | --execute)\n"
    "  delete          --group G ... | --all-groups\n"
    "Other options: --command-config FILE (librdkafka properties), --help\n";

struct TP {
  std::string topic;
  int partition;
  bool operator<(const TP& o) const {
    return std::tie(topic, partition) < std::tie(o.topic, o.partition);
  }
};

struct Member {
  std::string id, host, client;
  std::vector<TP> assignment;
};

struct GroupInfo {
  std::string id;
  std::string state;
  std::string assignor;
  std::vector<Member> members;
};

std::string error_text(const rd_kafka_error_t* e) {
  return e == nullptr ? "" : rd_kafka_error_string(e);
}

bool list_groups(const AdminClient& c, std::vector<std::pair<std::string, std::string>>& out,
                 std::string& error) {
  rd_kafka_AdminOptions_t* o = c.options(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
  rd_kafka_ListConsumerGroups(c.rk(), o, c.queue());
  rd_kafka_AdminOptions_destroy(o);
  Event ev = c.wait(RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, error);
  if (!ev) return false;
  const auto* res = rd_kafka_event_ListConsumerGroups_result(ev.get());
  size_t n = 0;
  const rd_kafka_ConsumerGroupListing_t** groups =
      rd_kafka_ListConsumerGroups_result_valid(res, &n);
  for (size_t i = 0; i < n; ++i) {
    out.emplace_back(
        rd_kafka_ConsumerGroupListing_group_id(groups[i]),
        rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(groups[i])));
  }
  size_t ne = 0;
  const rd_kafka_error_t** errors = rd_kafka_ListConsumerGroups_result_errors(res, &ne);
  if (ne > 0 && n == 0) {
    error = error_text(errors[0]);
    return false;
  }
  std::sort(out.begin(), out.end());
  return true;
}

bool describe_groups(const AdminClient& c, const std::vector<std::string>& ids,
                     std::vector<GroupInfo>& out, std::string& error) {
  std::vector<const char*> names;
  for (const auto& id : ids) names.push_back(id.c_str());
  rd_kafka_AdminOptions_t* o = c.options(RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
  rd_kafka_DescribeConsumerGroups(c.rk(), names.data(), names.size(), o, c.queue());
  rd_kafka_AdminOptions_destroy(o);
  Event ev = c.wait(RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, error);
  if (!ev) return false;
  size_t n = 0;
  const rd_kafka_ConsumerGroupDescription_t** groups =
      rd_kafka_DescribeConsumerGroups_result_groups(
          rd_kafka_event_DescribeConsumerGroups_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (const rd_kafka_error_t* e = rd_kafka_ConsumerGroupDescription_error(groups[i])) {
      error = std::string("Consumer group '") +
              rd_kafka_ConsumerGroupDescription_group_id(groups[i]) + "': " + error_text(e);
      return false;
    }
    GroupInfo g;
    g.id = rd_kafka_ConsumerGroupDescription_group_id(groups[i]);
    g.state =
        rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(groups[i]));
    const char* assignor = rd_kafka_ConsumerGroupDescription_partition_assignor(groups[i]);
    g.assignor = assignor ? assignor : "";
    for (size_t m = 0; m < rd_kafka_ConsumerGroupDescription_member_count(groups[i]); ++m) {
      const rd_kafka_MemberDescription_t* md =
          rd_kafka_ConsumerGroupDescription_member(groups[i], m);
      Member mem;
      mem.id = rd_kafka_MemberDescription_consumer_id(md);
      mem.host = rd_kafka_MemberDescription_host(md);
      mem.client = rd_kafka_MemberDescription_client_id(md);
      const rd_kafka_topic_partition_list_t* parts =
          rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
      for (int p = 0; parts != nullptr && p < parts->cnt; ++p) {
        mem.assignment.push_back({parts->elems[p].topic, parts->elems[p].partition});
      }
      g.members.push_back(std::move(mem));
    }
    out.push_back(std::move(g));
  }
  return true;
}

// Committed offsets of a group: all of them (`want` empty) or those asked.
bool committed_offsets(const AdminClient& c, const std::string& group, const std::vector<TP>& want,
                       std::map<TP, long long>& out, std::string& error) {
  PartitionList parts;
  if (!want.empty()) {
    parts.reset(rd_kafka_topic_partition_list_new(static_cast<int>(want.size())));
    for (const TP& tp : want)
      rd_kafka_topic_partition_list_add(parts.get(), tp.topic.c_str(), tp.partition);
  }
  rd_kafka_ListConsumerGroupOffsets_t* req =
      rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), parts.get());
  rd_kafka_AdminOptions_t* o = c.options(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
  rd_kafka_ListConsumerGroupOffsets(c.rk(), &req, 1, o, c.queue());
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_ListConsumerGroupOffsets_destroy(req);
  Event ev = c.wait(RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT, error);
  if (!ev) return false;
  size_t n = 0;
  const rd_kafka_group_result_t** groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
      rd_kafka_event_ListConsumerGroupOffsets_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (const rd_kafka_error_t* e = rd_kafka_group_result_error(groups[i])) {
      error = error_text(e);
      return false;
    }
    const rd_kafka_topic_partition_list_t* l = rd_kafka_group_result_partitions(groups[i]);
    for (int p = 0; l != nullptr && p < l->cnt; ++p) {
      if (l->elems[p].err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      out[{l->elems[p].topic, l->elems[p].partition}] = l->elems[p].offset;
    }
  }
  return true;
}

std::string dash_if_empty(const std::string& s) {
  return s.empty() ? "-" : s;
}

int describe(const AdminClient& c, const Args& a) {
  std::vector<std::string> ids = a.all("group");
  std::string error;
  if (a.has("all-groups")) {
    std::vector<std::pair<std::string, std::string>> all;
    if (!list_groups(c, all, error)) return fail(kWhat, error);
    ids.clear();
    for (const auto& g : all) ids.push_back(g.first);
  }
  if (ids.empty()) return fail(kWhat, "--group or --all-groups is required to describe", 2);
  std::vector<GroupInfo> groups;
  if (!describe_groups(c, ids, groups, error)) return fail(kWhat, error);
  for (const GroupInfo& g : groups) {
    if (g.state == "Dead") {
      std::printf("Consumer group '%s' does not exist.\n", g.id.c_str());
      continue;
    }
    if (a.has("state")) {
      std::printf("\n%-30s %-25s %-10s %s\n", "GROUP", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS");
      std::printf("%-30s %-25s %-10s %zu\n", g.id.c_str(), dash_if_empty(g.assignor).c_str(),
                  g.state.c_str(), g.members.size());
      continue;
    }
    if (g.members.empty())
      std::printf("\nConsumer group '%s' has no active members.\n", g.id.c_str());
    if (a.has("members")) {
      std::printf("\n%-30s %-50s %-20s %-30s %s\n", "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID",
                  "#PARTITIONS");
      for (const Member& m : g.members) {
        std::printf("%-30s %-50s %-20s %-30s %zu\n", g.id.c_str(), m.id.c_str(), m.host.c_str(),
                    m.client.c_str(), m.assignment.size());
      }
      continue;
    }
    std::map<TP, long long> committed;
    if (!committed_offsets(c, g.id, {}, committed, error)) return fail(kWhat, error);
    std::map<TP, const Member*> owner;
    for (const Member& m : g.members) {
      for (const TP& tp : m.assignment) {
        owner[tp] = &m;
        committed.emplace(tp, RD_KAFKA_OFFSET_INVALID);
      }
    }
    std::printf("\n%-30s %-30s %-10s %-15s %-15s %-10s %-50s %-20s %s\n", "GROUP", "TOPIC",
                "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST",
                "CLIENT-ID");
    for (const auto& [tp, offset] : committed) {
      int64_t low = 0, high = 0;
      std::string leo = "-", lag = "-", current = offset >= 0 ? std::to_string(offset) : "-";
      if (rd_kafka_query_watermark_offsets(c.rk(), tp.topic.c_str(), tp.partition, &low, &high,
                                           AdminClient::kTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        leo = std::to_string(high);
        if (offset >= 0) lag = std::to_string(high - offset);
      }
      auto o = owner.find(tp);
      std::printf("%-30s %-30s %-10d %-15s %-15s %-10s %-50s %-20s %s\n", g.id.c_str(),
                  tp.topic.c_str(), tp.partition, current.c_str(), leo.c_str(), lag.c_str(),
                  o == owner.end() ? "-" : o->second->id.c_str(),
                  o == owner.end() ? "-" : o->second->host.c_str(),
                  o == owner.end() ? "-" : o->second->client.c_str());
    }
  }
  return 0;
}

// "P1DT2H3M4.5S" -> milliseconds; -1 if not an ISO-8601 duration.
long long parse_duration_ms(const std::string& s) {
  if (s.size() < 2 || (s[0] != 'P' && s[0] != 'p')) return -1;
  double total = 0;
  bool time = false;
  std::string num;
  for (std::size_t i = 1; i < s.size(); ++i) {
    char ch = s[i];
    if (ch == 'T' || ch == 't') {
      time = true;
      continue;
    }
    if ((ch >= '0' && ch <= '9') || ch == '.') {
      num += ch;
      continue;
    }
    if (num.empty()) return -1;
    double v = std::atof(num.c_str());
    num.clear();
    switch (ch) {
      case 'D':
      case 'd':
        total += v * 86400000.0;
        break;
      case 'H':
      case 'h':
        if (!time) return -1;
        total += v * 3600000.0;
        break;
      case 'M':
      case 'm':
        if (!time) return -1;
        total += v * 60000.0;
        break;
      case 'S':
      case 's':
        if (!time) return -1;
        total += v * 1000.0;
        break;
      default:
        return -1;
    }
  }
  return num.empty() ? static_cast<long long>(total) : -1;
}

// "2024-01-02T03:04:05.678" (local time, as Kafka's tool) or with a
// trailing Z / +HH:MM -> ms since the epoch; -1 if malformed.
long long parse_datetime_ms(const std::string& s) {
  std::tm tm{};
  int ms = 0;
  char rest[16] = {0};
  int n = std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%15s", &tm.tm_year, &tm.tm_mon,
                      &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, rest);
  if (n < 6) return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::string zone = rest;
  long long t;
  if (zone.empty()) {
    tm.tm_isdst = -1;
    t = static_cast<long long>(std::mktime(&tm));
  } else {
    t = static_cast<long long>(timegm(&tm));
    if (zone != "Z") {
      int hh = 0, mm = 0;
      if (std::sscanf(zone.c_str() + 1, "%2d:%2d", &hh, &mm) < 1) return -1;
      long long off = (hh * 3600LL + mm * 60LL) * (zone[0] == '-' ? -1 : 1);
      t -= off;
    }
  }
  return t * 1000 + ms;
}

int reset_offsets(const AdminClient& c, const Args& a) {
  auto group = a.get("group");
  if (!group) return fail(kWhat, "--group is required to reset offsets", 2);
  const std::string how = a.one_of({"to-earliest", "to-latest", "to-current", "to-offset",
                                    "shift-by", "to-datetime", "by-duration"});
  if (how.empty()) {
    return fail(kWhat,
                "exactly one of --to-earliest, --to-latest, --to-current, --to-offset, --shift-by, "
                "--to-datetime or --by-duration is needed",
                2);
  }
  const bool execute = a.has("execute");
  if (!execute && !a.has("dry-run")) {
    std::printf(
        "WARN: No action will be performed as the --execute option is missing. In a future "
        "major release, the default behavior of this command will be to prompt the user "
        "before executing the reset rather than doing a dry run. You should add the "
        "--dry-run option explicitly if you are scripting this command and want to keep "
        "the current default behavior without prompting.\n");
  }
  std::string error;
  std::vector<GroupInfo> info;
  if (!describe_groups(c, {*group}, info, error)) return fail(kWhat, error);
  if (!info.empty() && info[0].state != "Empty" && info[0].state != "Dead") {
    return fail(kWhat, "Assignments can only be reset if the group '" + *group +
                           "' is inactive, but the current state is " + info[0].state + ".");
  }
  // The partitions: named ones, or every committed one.
  std::vector<TP> targets;
  std::map<TP, long long> committed;
  if (a.has("all-topics")) {
    if (!committed_offsets(c, *group, {}, committed, error)) return fail(kWhat, error);
    for (const auto& [tp, o] : committed) targets.push_back(tp);
  } else {
    if (a.all("topic").empty()) return fail(kWhat, "--topic or --all-topics is required", 2);
    Metadata md = c.metadata(error);
    if (!md) return fail(kWhat, error);
    for (const std::string& spec : a.all("topic")) {
      auto colon = spec.find(':');
      const std::string topic = spec.substr(0, colon);
      if (colon != std::string::npos) {
        std::string list = spec.substr(colon + 1);
        std::size_t i = 0;
        while (i <= list.size()) {
          auto comma = list.find(',', i);
          long long p = 0;
          if (!parse_long(
                  list.substr(i, comma == std::string::npos ? std::string::npos : comma - i), p)) {
            return fail(kWhat, "--topic '" + spec + "': partitions must be numbers", 2);
          }
          targets.push_back({topic, static_cast<int>(p)});
          if (comma == std::string::npos) break;
          i = comma + 1;
        }
        continue;
      }
      bool found = false;
      for (int t = 0; t < md->topic_cnt; ++t) {
        if (topic != md->topics[t].topic || md->topics[t].err) continue;
        found = true;
        for (int p = 0; p < md->topics[t].partition_cnt; ++p) {
          targets.push_back({topic, md->topics[t].partitions[p].id});
        }
      }
      if (!found) return fail(kWhat, "Topic '" + topic + "' does not exist");
    }
    std::sort(targets.begin(), targets.end());
    if (!committed_offsets(c, *group, targets, committed, error)) return fail(kWhat, error);
  }

  // Timestamps for --to-datetime / --by-duration.
  long long when = -1;
  if (how == "to-datetime") {
    when = parse_datetime_ms(*a.get("to-datetime"));
    if (when < 0)
      return fail(
          kWhat, "--to-datetime '" + *a.get("to-datetime") + "' is not YYYY-MM-DDTHH:mm:SS.sss", 2);
  } else if (how == "by-duration") {
    long long d = parse_duration_ms(*a.get("by-duration"));
    if (d < 0)
      return fail(kWhat, "--by-duration '" + *a.get("by-duration") + "' is not PnDTnHnMnS", 2);
    when = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() -
           d;
  }
  std::map<TP, long long> by_time;
  if (when >= 0) {
    PartitionList l(rd_kafka_topic_partition_list_new(static_cast<int>(targets.size())));
    for (const TP& tp : targets) {
      rd_kafka_topic_partition_list_add(l.get(), tp.topic.c_str(), tp.partition)->offset = when;
    }
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(c.rk(), l.get(), AdminClient::kTimeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return fail(kWhat, rd_kafka_err2str(err));
    for (int i = 0; i < l->cnt; ++i)
      by_time[{l->elems[i].topic, l->elems[i].partition}] = l->elems[i].offset;
  }

  PartitionList result(rd_kafka_topic_partition_list_new(static_cast<int>(targets.size())));
  for (const TP& tp : targets) {
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        c.rk(), tp.topic.c_str(), tp.partition, &low, &high, AdminClient::kTimeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return fail(kWhat,
                  tp.topic + "-" + std::to_string(tp.partition) + ": " + rd_kafka_err2str(err));
    }
    auto cur = committed.find(tp);
    const long long current = cur != committed.end() && cur->second >= 0 ? cur->second : -1;
    long long target = 0;
    long long n = 0;
    if (how == "to-earliest") {
      target = low;
    } else if (how == "to-latest") {
      target = high;
    } else if (how == "to-current") {
      target = current >= 0 ? current : high;
    } else if (how == "to-offset") {
      if (!parse_long(*a.get("to-offset"), n))
        return fail(kWhat, "--to-offset must be a number", 2);
      target = n;
    } else if (how == "shift-by") {
      if (!parse_long(*a.get("shift-by"), n)) return fail(kWhat, "--shift-by must be a number", 2);
      target = (current >= 0 ? current : high) + n;
    } else {
      auto t = by_time.find(tp);
      target = t != by_time.end() && t->second >= 0 ? t->second : high;
    }
    // As Kafka's tool: out-of-range targets move to the nearest end.
    target = std::clamp<long long>(target, low, high);
    rd_kafka_topic_partition_list_add(result.get(), tp.topic.c_str(), tp.partition)->offset =
        target;
  }

  if (execute && result->cnt > 0) {
    rd_kafka_AlterConsumerGroupOffsets_t* req =
        rd_kafka_AlterConsumerGroupOffsets_new(group->c_str(), result.get());
    rd_kafka_AdminOptions_t* o = c.options(RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AlterConsumerGroupOffsets(c.rk(), &req, 1, o, c.queue());
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    Event ev = c.wait(RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT, error);
    if (!ev) return fail(kWhat, error);
    size_t n = 0;
    const rd_kafka_group_result_t** groups = rd_kafka_AlterConsumerGroupOffsets_result_groups(
        rd_kafka_event_AlterConsumerGroupOffsets_result(ev.get()), &n);
    for (size_t i = 0; i < n; ++i) {
      if (const rd_kafka_error_t* e = rd_kafka_group_result_error(groups[i])) {
        return fail(kWhat, error_text(e));
      }
      const rd_kafka_topic_partition_list_t* l = rd_kafka_group_result_partitions(groups[i]);
      for (int p = 0; l != nullptr && p < l->cnt; ++p) {
        if (l->elems[p].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          return fail(kWhat, std::string(l->elems[p].topic) + "-" +
                                 std::to_string(l->elems[p].partition) + ": " +
                                 rd_kafka_err2str(l->elems[p].err));
        }
      }
    }
  }
  std::printf("\n%-30s %-30s %-10s %-15s\n", "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET");
  for (int i = 0; i < result->cnt; ++i) {
    std::printf("%-30s %-30s %-10d %-15lld\n", group->c_str(), result->elems[i].topic,
                result->elems[i].partition, static_cast<long long>(result->elems[i].offset));
  }
  return 0;
}

int remove(const AdminClient& c, const Args& a) {
  std::vector<std::string> ids = a.all("group");
  std::string error;
  if (a.has("all-groups")) {
    std::vector<std::pair<std::string, std::string>> all;
    if (!list_groups(c, all, error)) return fail(kWhat, error);
    ids.clear();
    for (const auto& g : all) ids.push_back(g.first);
  }
  if (ids.empty()) return fail(kWhat, "--group or --all-groups is required to delete", 2);
  std::vector<rd_kafka_DeleteGroup_t*> dels;
  for (const auto& id : ids) dels.push_back(rd_kafka_DeleteGroup_new(id.c_str()));
  rd_kafka_AdminOptions_t* o = c.options(RD_KAFKA_ADMIN_OP_DELETEGROUPS);
  rd_kafka_DeleteGroups(c.rk(), dels.data(), dels.size(), o, c.queue());
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_DeleteGroup_destroy_array(dels.data(), dels.size());
  Event ev = c.wait(RD_KAFKA_EVENT_DELETEGROUPS_RESULT, error);
  if (!ev) return fail(kWhat, error);
  size_t n = 0;
  const rd_kafka_group_result_t** groups =
      rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev.get()), &n);
  std::string ok, failed;
  for (size_t i = 0; i < n; ++i) {
    const std::string name = rd_kafka_group_result_name(groups[i]);
    if (const rd_kafka_error_t* e = rd_kafka_group_result_error(groups[i])) {
      failed += "* Group '" + name + "' could not be deleted due to: " + error_text(e) + "\n";
    } else {
      ok += (ok.empty() ? "'" : ", '") + name + "'";
    }
  }
  if (!ok.empty())
    std::printf("Deletion of requested consumer groups (%s) was successful.\n", ok.c_str());
  if (!failed.empty()) {
    std::printf("Deletion of some consumer groups failed:\n%s", failed.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int groups_command(const std::vector<std::string>& raw) {
  const auto args = with_action_flag(raw, {"list", "describe", "reset-offsets", "delete"});
  Args a;
  std::string error;
  if (!a.parse(args,
               {"bootstrap-server", "command-config", "group", "topic", "to-offset", "shift-by",
                "to-datetime", "by-duration", "timeout"},
               {"list", "describe", "reset-offsets", "delete", "all-groups", "all-topics",
                "members", "state", "offsets", "verbose", "to-earliest", "to-latest", "to-current",
                "dry-run", "execute", "help"},
               error)) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(kWhat, error, 2);
  }
  if (a.has("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const std::string action = a.one_of({"list", "describe", "reset-offsets", "delete"});
  if (action.empty()) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(kWhat, "exactly one of list, describe, reset-offsets or delete is needed", 2);
  }
  auto bootstrap = a.get("bootstrap-server");
  if (!bootstrap) return fail(kWhat, "--bootstrap-server HOST:PORT is required", 2);
  auto client = AdminClient::create(*bootstrap, a.get("command-config").value_or(""), error);
  if (!client) return fail(kWhat, error);
  if (action == "describe") return describe(*client, a);
  if (action == "reset-offsets") return reset_offsets(*client, a);
  if (action == "delete") return remove(*client, a);
  std::vector<std::pair<std::string, std::string>> groups;
  if (!list_groups(*client, groups, error)) return fail(kWhat, error);
  if (a.has("state")) std::printf("%-30s %s\n", "GROUP", "STATE");
  for (const auto& [id, state] : groups) {
    if (a.has("state")) {
      std::printf("%-30s %s\n", id.c_str(), state.c_str());
    } else {
      std::printf("%s\n", id.c_str());
    }
  }
  return 0;
}

}  // namespace kgw::admin
