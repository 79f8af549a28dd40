#include "src/cluster/etcd_image.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "src/cluster/etcd_layout.h"

namespace kgw::layout {

namespace {

using Quotas = std::map<ClientQuotas::Entity, ClientQuotas::Values>;

Quotas all_quotas(const MetadataImage& image) {
  std::string error;
  Quotas out;
  for (auto& [entity, values] : image.quotas().describe({}, false, error)) {
    out[entity] = std::move(values);
  }
  return out;
}

// The ops that turn `from` into `to` for one entity.
std::vector<ClientQuotas::Op> quota_ops(const ClientQuotas::Values& from,
                                        const ClientQuotas::Values& to) {
  std::vector<ClientQuotas::Op> ops;
  for (const auto& [k, v] : to) {
    auto it = from.find(k);
    if (it == from.end() || it->second != v) ops.push_back({k, v, false});
  }
  for (const auto& [k, v] : from) {
    if (to.count(k) == 0) ops.push_back({k, 0, true});
  }
  return ops;
}

BrokerImage broker_image(const BrokerRegistration& r, std::int64_t epoch, bool fenced) {
  BrokerImage b;
  b.id = r.id;
  b.host = r.host;
  b.port = r.port;
  b.rack = r.rack;
  b.epoch = epoch;
  b.fenced = fenced;
  b.log_dir_id = r.log_dir_id;
  b.previous_log_dir_id = r.previous_log_dir_id;
  return b;
}

// Collects changes and applies each to a scratch image, so that later
// steps of the same revision see the earlier ones.
class Changes {
 public:
  explicit Changes(const MetadataImage& before) : before_(before) {}
  const MetadataImage& now() const { return cur_ ? *cur_ : before_; }
  void add(MetadataChange c) {
    cur_ = now().apply(c);
    out_.push_back(std::move(c));
  }
  std::vector<MetadataChange> take() { return std::move(out_); }

  // After a topic exists: the partitions of `stored` (by index) whose state
  // differs from the image's become one SetPartitionStates.
  void states(const Uuid& id, const std::map<std::int32_t, PartitionImage>& stored) {
    TopicPtr t = now().topic(id);
    if (t == nullptr) return;
    SetPartitionStates s;
    s.id = id;
    for (const auto& [index, p] : stored) {
      const PartitionImage* have = t->partition(index);
      if (have != nullptr && !same_partition(*have, p)) s.partitions.push_back(p);
    }
    if (!s.partitions.empty()) add(std::move(s));
  }
  // New partitions [count, total) of an existing topic, replicas from
  // `stored` (a missing one gets none: offline until its key arrives).
  void grow(const Uuid& id, std::int32_t total,
            const std::map<std::int32_t, PartitionImage>& stored) {
    TopicPtr t = now().topic(id);
    if (t == nullptr || total <= t->partition_count()) return;
    CreatePartitions c;
    c.id = id;
    c.total = total;
    for (std::int32_t i = t->partition_count(); i < total; ++i) {
      auto it = stored.find(i);
      c.assignments.push_back(it == stored.end() ? std::vector<std::int32_t>{}
                                                 : it->second.replicas);
    }
    add(std::move(c));
  }
  void create(const std::string& name, const TopicRecord& r,
              const std::map<std::int32_t, PartitionImage>& stored) {
    CreateTopic c;
    c.name = name;
    c.id = r.id;
    c.partitions = r.partitions;
    c.configs = r.configs;
    for (std::int32_t i = 0; i < r.partitions; ++i) {
      auto it = stored.find(i);
      c.assignments.push_back(it == stored.end() ? std::vector<std::int32_t>{}
                                                 : it->second.replicas);
    }
    c.replication_factor = c.assignments.empty() || c.assignments[0].empty()
                               ? 1
                               : static_cast<std::int32_t>(c.assignments[0].size());
    add(std::move(c));
    states(r.id, stored);
  }

 private:
  const MetadataImage& before_;
  ImagePtr cur_;
  std::vector<MetadataChange> out_;
};

void note(std::vector<std::string>* errors, const std::string& key, const std::string& what) {
  if (errors != nullptr) errors->push_back(key + ": " + what);
}

}  // namespace

bool same_partition(const PartitionImage& a, const PartitionImage& b) {
  return a.index == b.index && a.leader == b.leader && a.leader_epoch == b.leader_epoch &&
         a.partition_epoch == b.partition_epoch && a.replicas == b.replicas && a.isr == b.isr &&
         a.adding == b.adding && a.removing == b.removing && a.elr == b.elr &&
         a.last_known_elr == b.last_known_elr;
}

bool same_broker(const BrokerImage& a, const BrokerImage& b) {
  return a.id == b.id && a.host == b.host && a.port == b.port && a.rack == b.rack &&
         a.epoch == b.epoch && a.fenced == b.fenced && a.log_dir_id == b.log_dir_id &&
         a.previous_log_dir_id == b.previous_log_dir_id;
}

ImagePtr build_image(std::string_view p, const std::vector<etcd::KeyValue>& kvs,
                     std::vector<std::string>* errors) {
  std::map<std::string, TopicRecord> topics;
  std::map<Uuid, std::map<std::int32_t, PartitionImage>> partitions;
  std::map<std::int32_t, BrokerImage> alive, registered;
  std::optional<SetController> controller;
  ConfigMap defaults;
  std::map<std::int32_t, ConfigMap> broker_configs;
  ClientQuotas quotas;
  for (const etcd::KeyValue& kv : kvs) {
    ParsedKey k = parse_key(p, kv.key);
    std::string err;
    switch (k.kind) {
      case ParsedKey::kBroker:
      case ParsedKey::kRegistered: {
        BrokerRegistration r;
        err = decode_broker(kv.value, r);
        if (err.empty() && r.id != k.id) err = "the id differs from the key's";
        if (err.empty() && k.kind == ParsedKey::kBroker) {
          alive[r.id] = broker_image(r, kv.create_revision, false);
        } else if (err.empty()) {
          registered[r.id] = broker_image(r, 0, true);
        }
        break;
      }
      case ParsedKey::kController: {
        ControllerRecord r;
        err = decode_controller(kv.value, r);
        if (err.empty()) controller = SetController{r.id, kv.create_revision};
        break;
      }
      case ParsedKey::kTopic: {
        TopicRecord r;
        err = decode_topic(kv.value, r);
        if (err.empty()) topics[k.name] = std::move(r);
        break;
      }
      case ParsedKey::kPartition: {
        PartitionImage part;
        part.index = k.index;
        err = decode_partition(kv.value, part);
        if (err.empty()) partitions[k.topic][k.index] = std::move(part);
        break;
      }
      case ParsedKey::kDefaultConfigs:
        err = decode_configs(kv.value, defaults);
        break;
      case ParsedKey::kBrokerConfigs: {
        ConfigMap m;
        err = decode_configs(kv.value, m);
        if (err.empty()) broker_configs[k.id] = std::move(m);
        break;
      }
      case ParsedKey::kQuota: {
        QuotaRecord q;
        err = decode_quota(kv.value, q);
        if (err.empty()) {
          std::vector<ClientQuotas::Op> ops;
          for (const auto& [key, v] : q.values) ops.push_back({key, v, false});
          quotas.apply(q.entity, ops);
        }
        break;
      }
      default:
        break;
    }
    if (!err.empty()) note(errors, kv.key, err);
  }

  std::vector<TopicImage> images;
  for (auto& [name, r] : topics) {
    TopicImage& t = images.emplace_back();
    t.name = name;
    t.id = r.id;
    t.configs = std::move(r.configs);
    const auto& stored = partitions[r.id];
    for (std::int32_t i = 0; i < r.partitions; ++i) {
      auto it = stored.find(i);
      PartitionImage part;
      if (it != stored.end()) {
        part = it->second;
      } else {
        note(errors, partition_key(p, r.id, i), "missing: the partition is offline");
      }
      part.index = i;
      t.partitions.push_back(std::move(part));
    }
  }
  ImagePtr image = MetadataImage::build(std::move(images), std::move(defaults),
                                        std::move(broker_configs), std::move(quotas));
  for (auto& [id, b] : registered) {
    if (alive.count(id) == 0) image = image->apply(RegisterBroker{b});
  }
  for (auto& [id, b] : alive) image = image->apply(RegisterBroker{b});
  if (controller) image = image->apply(*controller);
  return image;
}

std::vector<MetadataChange> changes_of_revision(std::string_view p, const MetadataImage& before,
                                                const std::vector<etcd::Event>& events,
                                                std::vector<std::string>* errors) {
  using etcd::Event;
  std::vector<const Event*> brokers, registered, controller, configs, quotas;
  std::vector<std::pair<std::string, const Event*>> topic_events;
  std::map<Uuid, std::map<std::int32_t, PartitionImage>> parts;
  for (const Event& e : events) {
    ParsedKey k = parse_key(p, e.kv.key);
    switch (k.kind) {
      case ParsedKey::kBroker:
        brokers.push_back(&e);
        break;
      case ParsedKey::kRegistered:
        registered.push_back(&e);
        break;
      case ParsedKey::kController:
        controller.push_back(&e);
        break;
      case ParsedKey::kTopic:
        topic_events.emplace_back(k.name, &e);
        break;
      case ParsedKey::kPartition:
        // A deleted partition key goes with its topic's deletion.
        if (e.type == Event::kPut) {
          PartitionImage part;
          part.index = k.index;
          if (std::string err = decode_partition(e.kv.value, part); !err.empty()) {
            note(errors, e.kv.key, err);
          } else {
            parts[k.topic][k.index] = std::move(part);
          }
        }
        break;
      case ParsedKey::kDefaultConfigs:
      case ParsedKey::kBrokerConfigs:
        configs.push_back(&e);
        break;
      case ParsedKey::kQuota:
        quotas.push_back(&e);
        break;
      default:
        break;
    }
  }

  Changes out(before);
  std::set<std::int32_t> put_brokers;
  for (const Event* e : brokers) {
    ParsedKey k = parse_key(p, e->kv.key);
    const BrokerImage* have = out.now().broker(k.id);
    if (e->type == Event::kDelete) {
      if (have != nullptr && !have->fenced) out.add(FenceBroker{k.id});
      continue;
    }
    BrokerRegistration r;
    std::string err = decode_broker(e->kv.value, r);
    if (err.empty() && r.id != k.id) err = "the id differs from the key's";
    if (!err.empty()) {
      note(errors, e->kv.key, err);
      continue;
    }
    put_brokers.insert(k.id);
    BrokerImage b = broker_image(r, e->kv.create_revision, false);
    if (have == nullptr || !same_broker(*have, b)) out.add(RegisterBroker{b});
  }
  for (const Event* e : registered) {
    ParsedKey k = parse_key(p, e->kv.key);
    if (e->type == Event::kDelete) {
      // UnregisterBroker: the controller deletes the key only once the
      // session key is gone, so the broker is fenced here.
      const BrokerImage* have = out.now().broker(k.id);
      if (have != nullptr && have->fenced && put_brokers.count(k.id) == 0) {
        out.add(UnregisterBroker{k.id});
      }
      continue;
    }
    if (put_brokers.count(k.id) != 0) continue;
    if (out.now().broker(k.id) != nullptr) continue;
    BrokerRegistration r;
    if (std::string err = decode_broker(e->kv.value, r); !err.empty() || r.id != k.id) {
      note(errors, e->kv.key, err.empty() ? "the id differs from the key's" : err);
      continue;
    }
    out.add(RegisterBroker{broker_image(r, 0, true)});
  }
  for (const Event* e : controller) {
    SetController c{-1, 0};
    if (e->type == Event::kPut) {
      ControllerRecord r;
      if (std::string err = decode_controller(e->kv.value, r); !err.empty()) {
        note(errors, e->kv.key, err);
        continue;
      }
      c = SetController{r.id, e->kv.create_revision};
    }
    if (out.now().controller_id() != c.id || out.now().controller_epoch() != c.epoch) out.add(c);
  }

  // Topics: deletions first (a name may be deleted and created again).
  std::set<Uuid> handled;
  for (const auto& [name, e] : topic_events) {
    if (e->type != Event::kDelete) continue;
    if (TopicPtr t = out.now().topic(name)) out.add(DeleteTopic{t->id});
  }
  for (const auto& [name, e] : topic_events) {
    if (e->type != Event::kPut) continue;
    TopicRecord r;
    if (std::string err = decode_topic(e->kv.value, r); !err.empty()) {
      note(errors, e->kv.key, err);
      continue;
    }
    handled.insert(r.id);
    const auto& stored = parts[r.id];
    TopicPtr have = out.now().topic(name);
    if (have != nullptr && have->id != r.id) {
      out.add(DeleteTopic{have->id});
      have = nullptr;
    }
    if (have == nullptr) {
      out.create(name, r, stored);
      continue;
    }
    if (have->configs != r.configs) out.add(SetTopicConfigs{r.id, r.configs});
    out.grow(r.id, r.partitions, stored);
    out.states(r.id, stored);
  }
  // Partition keys whose topic key did not change in this revision.
  for (const auto& [id, stored] : parts) {
    if (handled.count(id) != 0) continue;
    TopicPtr t = out.now().topic(id);
    if (t == nullptr) continue;  // an unknown topic's (its key comes later or never)
    std::int32_t total = t->partition_count();
    while (stored.count(total) != 0) ++total;
    out.grow(id, total, stored);
    out.states(id, stored);
  }

  for (const Event* e : configs) {
    ParsedKey k = parse_key(p, e->kv.key);
    SetBrokerConfigs c;
    if (k.kind == ParsedKey::kBrokerConfigs) c.broker = k.id;
    if (e->type == Event::kPut) {
      if (std::string err = decode_configs(e->kv.value, c.configs); !err.empty()) {
        note(errors, e->kv.key, err);
        continue;
      }
    }
    if (c.broker && out.now().broker(*c.broker) == nullptr) {
      note(errors, e->kv.key, "configs of an unknown broker are ignored");
      continue;
    }
    if (out.now().broker_configs(c.broker) != c.configs) out.add(std::move(c));
  }

  if (!quotas.empty()) {
    const Quotas have = all_quotas(out.now());
    SetClientQuotas c;
    for (const Event* e : quotas) {
      ClientQuotas::Entity entity;
      ClientQuotas::Values to;
      if (e->type == Event::kPut) {
        QuotaRecord q;
        if (std::string err = decode_quota(e->kv.value, q); !err.empty()) {
          note(errors, e->kv.key, err);
          continue;
        }
        entity = std::move(q.entity);
        to = std::move(q.values);
      } else {
        // A deleted key has no value: find the entity by its key.
        bool found = false;
        for (const auto& [en, v] : have) {
          if (quota_key(p, en) == e->kv.key) {
            entity = en;
            found = true;
          }
        }
        if (!found) continue;
      }
      auto it = have.find(entity);
      auto ops = quota_ops(it == have.end() ? ClientQuotas::Values{} : it->second, to);
      if (!ops.empty()) c.entries.emplace_back(std::move(entity), std::move(ops));
    }
    if (!c.entries.empty()) out.add(std::move(c));
  }
  return out.take();
}

std::vector<MetadataChange> diff_images(const MetadataImage& from, const MetadataImage& to) {
  Changes out(from);
  for (const auto& [id, b] : to.brokers()) {
    const BrokerImage* have = out.now().broker(id);
    if (have != nullptr && have->fenced && b.fenced) continue;  // a fenced one's epoch is moot
    if (have != nullptr && same_broker(*have, b)) continue;
    if (have != nullptr && b.fenced) {
      out.add(FenceBroker{id});
    } else {
      out.add(RegisterBroker{b});
    }
  }
  for (const auto& [id, b] : from.brokers()) {
    if (to.broker(id) == nullptr) out.add(UnregisterBroker{id});
  }
  if (from.controller_id() != to.controller_id() ||
      from.controller_epoch() != to.controller_epoch()) {
    out.add(SetController{to.controller_id(), to.controller_epoch()});
  }

  for (const TopicPtr& t : from.topics()) {
    TopicPtr there = to.topic(t->id);
    if (there == nullptr || there->name != t->name ||
        there->partition_count() < t->partition_count()) {
      out.add(DeleteTopic{t->id});
    }
  }
  for (const TopicPtr& t : to.topics()) {
    std::map<std::int32_t, PartitionImage> stored;
    for (const PartitionImage& part : t->partitions) stored[part.index] = part;
    TopicPtr have = out.now().topic(t->id);
    if (have == nullptr) {
      TopicRecord r{t->id, t->configs, t->partition_count()};
      out.create(t->name, r, stored);
      continue;
    }
    if (have->configs != t->configs) out.add(SetTopicConfigs{t->id, t->configs});
    out.grow(t->id, t->partition_count(), stored);
    out.states(t->id, stored);
  }

  if (from.broker_configs(std::nullopt) != to.broker_configs(std::nullopt)) {
    out.add(SetBrokerConfigs{std::nullopt, to.broker_configs(std::nullopt)});
  }
  for (const auto& [id, b] : to.brokers()) {
    if (out.now().broker_configs(id) != to.broker_configs(id)) {
      out.add(SetBrokerConfigs{id, to.broker_configs(id)});
    }
  }

  const Quotas have = all_quotas(from);
  const Quotas want = all_quotas(to);
  SetClientQuotas q;
  for (const auto& [entity, values] : want) {
    auto it = have.find(entity);
    auto ops = quota_ops(it == have.end() ? ClientQuotas::Values{} : it->second, values);
    if (!ops.empty()) q.entries.emplace_back(entity, std::move(ops));
  }
  for (const auto& [entity, values] : have) {
    if (want.count(entity) == 0) q.entries.emplace_back(entity, quota_ops(values, {}));
  }
  if (!q.entries.empty()) out.add(std::move(q));
  return out.take();
}

}  // namespace kgw::layout
