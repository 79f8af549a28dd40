// The etcd writes of a decided MetadataChange (Controller::ops_of), with
// the compares that make them fail if what the decision read changed.
#include <map>
#include <utility>
#include <variant>

#include "src/cluster/controller.h"
#include "src/cluster/etcd_layout.h"

namespace kgw {

namespace {

using etcd::Compare;
using etcd::Op;

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

// Initial states of new partitions: led by the first live replica (none
// live: leader -1, ISR all replicas, as KRaft's controller does for a
// manual assignment naming fenced brokers). The ISR: every live replica
// (their logs are all empty), or the leader alone without
// followers_in_sync (controller.h).
std::vector<PartitionImage> initial_states(std::int32_t first, const ReplicaAssignment& replicas,
                                           const MetadataImage& image, bool followers_in_sync) {
  std::vector<PartitionImage> out = place_partitions(first, replicas);
  for (PartitionImage& p : out) {
    std::vector<std::int32_t> isr;
    for (std::int32_t r : p.replicas) {
      const BrokerImage* b = image.broker(r);
      if (b != nullptr && !b->fenced) isr.push_back(r);
    }
    if (isr.empty()) {
      p.leader = -1;
    } else {
      p.leader = isr.front();
      p.isr = followers_in_sync ? std::move(isr) : std::vector<std::int32_t>{p.leader};
    }
  }
  return out;
}

}  // namespace

void Controller::unchanged_since(std::vector<Compare>& out, const std::string& key,
                                 std::int64_t revision) {
  out.push_back(Compare{key, Compare::kVersion, Compare::kGreater, 0, ""});
  out.push_back(Compare{key, Compare::kMod, Compare::kLess, revision + 1, ""});
}

bool Controller::resumes(const MetadataChange& change, const MetadataImage& image, Ops& ops) const {
  const auto* c = std::get_if<CreateTopic>(&change);
  if (c == nullptr || c->id.is_zero() || c->assignments.empty()) return false;
  TopicPtr t = image.topic(c->name);
  if (t == nullptr || t->id != c->id) return false;
  ops.changes_image = true;
  for (const PartitionImage& part :
       initial_states(0, c->assignments, image, options_.followers_in_sync)) {
    const PartitionImage* have = t->partition(part.index);
    if (have != nullptr && !have->replicas.empty()) continue;  // written before
    ops.ops.push_back(etcd::put_op(layout::partition_key(options_.prefix, c->id, part.index),
                                   layout::encode_partition(part)));
  }
  return true;
}

Controller::Ops Controller::ops_of(const MetadataChange& change, const MetadataImage& image,
                                   std::int64_t revision) {
  const std::string& p = options_.prefix;
  Ops out;
  out.changes_image = true;
  auto put_partitions = [&](const Uuid& id, const std::vector<PartitionImage>& parts) {
    for (const PartitionImage& part : parts) {
      out.ops.push_back(
          etcd::put_op(layout::partition_key(p, id, part.index), layout::encode_partition(part)));
    }
  };
  auto topic_record = [](const TopicImage& t) {
    return layout::TopicRecord{t.id, t.configs, t.partition_count()};
  };
  std::visit(
      Overloaded{
          [&](const CreateTopic& c) {
            const std::string key = layout::topic_key(p, c.name);
            out.compare.push_back(Compare{key, Compare::kCreate, Compare::kEqual, 0, ""});
            out.ops.push_back(etcd::put_op(
                key, layout::encode_topic(layout::TopicRecord{c.id, c.configs, c.partitions})));
            put_partitions(c.id,
                           initial_states(0, c.assignments, image, options_.followers_in_sync));
          },
          [&](const DeleteTopic& c) {
            TopicPtr t = image.topic(c.id);
            const std::string key = layout::topic_key(p, t->name);
            unchanged_since(out.compare, key, revision);
            out.ops.push_back(etcd::delete_op(key));
            const std::string parts = layout::topic_partitions_prefix(p, c.id);
            out.ops.push_back(etcd::delete_op(parts, etcd::prefix_end(parts)));
          },
          [&](const CreatePartitions& c) {
            TopicPtr t = image.topic(c.id);
            const std::string key = layout::topic_key(p, t->name);
            unchanged_since(out.compare, key, revision);
            layout::TopicRecord r = topic_record(*t);
            r.partitions = c.total;
            out.ops.push_back(etcd::put_op(key, layout::encode_topic(r)));
            put_partitions(c.id, initial_states(t->partition_count(), c.assignments, image,
                                                options_.followers_in_sync));
          },
          [&](const SetTopicConfigs& c) {
            TopicPtr t = image.topic(c.id);
            const std::string key = layout::topic_key(p, t->name);
            unchanged_since(out.compare, key, revision);
            layout::TopicRecord r = topic_record(*t);
            r.configs = c.configs;
            out.ops.push_back(etcd::put_op(key, layout::encode_topic(r)));
          },
          [&](const SetBrokerConfigs& c) {
            const std::string key = c.broker ? layout::broker_configs_key(p, *c.broker)
                                             : layout::default_configs_key(p);
            out.ops.push_back(etcd::put_op(key, layout::encode_configs(c.configs)));
          },
          [&](const SetClientQuotas& c) {
            ClientQuotas quotas = image.quotas();
            // One op per key: etcd refuses a txn naming a key twice.
            std::map<std::string, Op> by_key;
            for (const auto& [entity, ops] : c.entries) {
              quotas.apply(entity, ops);
              std::vector<ClientQuotas::Filter> filters;
              for (const auto& [type, name] : entity) {
                filters.push_back(
                    ClientQuotas::Filter{type, name ? std::int8_t{0} : std::int8_t{1}, name});
              }
              std::string error;
              ClientQuotas::Values values;
              for (auto& [e, v] : quotas.describe(filters, true, error)) {
                if (e == entity) values = v;
              }
              const std::string key = layout::quota_key(p, entity);
              by_key[key] =
                  values.empty()
                      ? etcd::delete_op(key)
                      : etcd::put_op(key,
                                     layout::encode_quota(layout::QuotaRecord{entity, values}));
            }
            for (auto& [key, op] : by_key) out.ops.push_back(std::move(op));
          },
          [&](const SetPartitionStates& c) {
            for (const PartitionImage& part : c.partitions) {
              unchanged_since(out.compare, layout::partition_key(p, c.id, part.index), revision);
            }
            put_partitions(c.id, c.partitions);
          },
          [&](const UnregisterBroker& c) {
            // Only once the broker's session key is gone (its lease lapsed
            // or was revoked): a live broker is never forgotten.
            out.compare.push_back(
                Compare{layout::broker_key(p, c.id), Compare::kVersion, Compare::kEqual, 0, ""});
            out.ops.push_back(etcd::delete_op(layout::registered_key(p, c.id)));
          },
          [&](const AlterPartition& c) { out = isr_change_ops(c, image, revision); },
          [&](const AlterReassignment& c) { out = reassignment_ops(c, image, revision); },
          // Not requests (complete() refuses them; FenceBroker is a
          // controlled shutdown, handled before).
          [&](const RegisterBroker&) { out.changes_image = false; },
          [&](const FenceBroker&) { out.changes_image = false; },
          [&](const SetController&) { out.changes_image = false; },
          // Decided into SetPartitionStates first (commit_election).
          [&](const ElectLeaders&) { out.changes_image = false; },
      },
      change);
  return out;
}

}  // namespace kgw
