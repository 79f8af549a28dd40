// ISR changes of the Controller (controller.h): a partition leader's
// AlterPartition request decided and written (step 4 there), and the
// `unclean.leader.election.enable` its liveness pass elects by.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>
#include <string>

#include "common/log.h"
#include "src/cluster/alter_partition.h"
#include "src/cluster/controller.h"
#include "src/cluster/etcd_layout.h"
#include "src/cluster/leader_election.h"
#include "src/cluster/reassignment.h"

namespace kgw {

// The partition key compared as every request's (not modified since the
// image the decision read); the requester's broker key still the
// registration of the broker epoch it asked with (KIP-903: a leader that
// restarted asks with its new epoch, after reading the image again); each
// added member's broker key present, at the epoch the leader saw it fetch
// with when given. A compare that fails has the request decided again on
// a newer image, which then refuses it with the reason.
Controller::Ops Controller::isr_change_ops(const AlterPartition& change, const MetadataImage& image,
                                           std::int64_t revision) const {
  Ops out;
  TopicPtr topic = image.topic(change.topic);
  const PartitionImage* before = topic == nullptr ? nullptr : topic->partition(change.partition);
  std::optional<PartitionImage> next =
      altered_partition(image, change, before == nullptr ? 1 : min_isr(image, *topic, *before));
  if (!next) return out;  // the ISR it has: only the result is written
  const std::string& p = options_.prefix;
  const PartitionImage& now = *image.topic(change.topic)->partition(change.partition);
  out.changes_image = true;
  const std::string key = layout::partition_key(p, change.topic, change.partition);
  unchanged_since(out.compare, key, revision);
  out.compare.push_back(etcd::Compare{layout::broker_key(p, change.leader), etcd::Compare::kCreate,
                                      etcd::Compare::kEqual, change.broker_epoch, ""});
  for (const IsrMember& m : change.isr) {
    if (std::find(now.isr.begin(), now.isr.end(), m.id) != now.isr.end()) continue;
    const std::string broker = layout::broker_key(p, m.id);
    out.compare.push_back(
        etcd::Compare{broker, etcd::Compare::kVersion, etcd::Compare::kGreater, 0, ""});
    if (m.broker_epoch != -1) {
      out.compare.push_back(
          etcd::Compare{broker, etcd::Compare::kCreate, etcd::Compare::kEqual, m.broker_epoch, ""});
    }
  }
  LOG_INFO("controller", "%s-%d: ISR %s -> %s, ELR %s (partition epoch %d), asked by its leader %d",
           image.topic(change.topic)->name.c_str(), change.partition, ids_text(now.isr).c_str(),
           ids_text(next->isr).c_str(), ids_text(next->elr).c_str(), next->partition_epoch,
           change.leader);
  // The ISR now holds every target replica of a reassignment: it
  // completes in this write (reassignment.h), perhaps with a new leader.
  if (complete_reassignment(*next, [&](std::int32_t id) { return eligible(image, id); })) {
    // Replicas that left are not eligible leaders any more either.
    auto gone = [&](std::int32_t id) {
      return std::find(next->replicas.begin(), next->replicas.end(), id) == next->replicas.end();
    };
    std::erase_if(next->elr, gone);
    std::erase_if(next->last_known_elr, gone);
    LOG_INFO("controller",
             "%s-%d: reassignment complete: replicas %s, ISR %s, leader %d (leader epoch %d)",
             image.topic(change.topic)->name.c_str(), change.partition,
             ids_text(next->replicas).c_str(), ids_text(next->isr).c_str(), next->leader,
             next->leader_epoch);
    if (next->leader != now.leader && next->leader != -1) {
      out.compare.push_back(etcd::Compare{layout::broker_key(p, next->leader),
                                          etcd::Compare::kVersion, etcd::Compare::kGreater, 0, ""});
    }
  }
  out.ops.push_back(etcd::put_op(key, layout::encode_partition(*next)));
  return out;
}

const std::string* Controller::resolved_config(const MetadataImage& image, const TopicImage& topic,
                                               const std::string& name) const {
  for (const ConfigMap* layer : {&topic.configs, &image.broker_configs(options_.node_id),
                                 &image.broker_configs(std::nullopt)}) {
    auto it = layer->find(name);
    if (it != layer->end()) return &it->second;
  }
  return nullptr;
}

bool Controller::unclean_election_enabled(const MetadataImage& image,
                                          const TopicImage& topic) const {
  const std::string* set = resolved_config(image, topic, "unclean.leader.election.enable");
  if (set == nullptr) return options_.unclean_leader_election_enable;
  // Java's Boolean.parseBoolean, as Kafka reads it: "true" in any case.
  std::string v = *set;
  std::transform(v.begin(), v.end(), v.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return v == "true";
}

std::int32_t Controller::min_isr(const MetadataImage& image, const TopicImage& topic,
                                 const PartitionImage& p) const {
  std::int64_t value = options_.min_insync_replicas;
  if (const std::string* set = resolved_config(image, topic, "min.insync.replicas")) {
    // Validated where it was set; a value that does not parse counts as 1.
    char* end = nullptr;
    const long long parsed = std::strtoll(set->c_str(), &end, 10);
    value = end != set->c_str() && *end == '\0' ? parsed : 1;
  }
  return effective_min_isr(value, p.replicas.size());
}

}  // namespace kgw
