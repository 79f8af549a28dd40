// A MetadataChange as the JSON of a request key (etcd_layout.h).
#include <utility>
#include <variant>

#include "src/cluster/etcd_json.h"
#include "src/cluster/etcd_layout.h"

namespace kgw::layout {

namespace {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

}  // namespace

std::string encode_change(const MetadataChange& change) {
  json j = std::visit(
      Overloaded{
          [](const RegisterBroker& c) {
            json b = {{"id", c.broker.id},
                      {"host", c.broker.host},
                      {"port", c.broker.port},
                      {"epoch", c.broker.epoch},
                      {"fenced", c.broker.fenced}};
            if (c.broker.rack) b["rack"] = *c.broker.rack;
            return json{{"broker", b}};
          },
          [](const CreateTopic& c) {
            return json{{"name", c.name},
                        {"id", uuid_base64(c.id)},
                        {"partitions", c.partitions},
                        {"replication_factor", c.replication_factor},
                        {"assignments", c.assignments},
                        {"configs", configs_json(c.configs)}};
          },
          [](const DeleteTopic& c) {
            return json{{"id", uuid_base64(c.id)}};
          },
          [](const CreatePartitions& c) {
            return json{
                {"id", uuid_base64(c.id)}, {"total", c.total}, {"assignments", c.assignments}};
          },
          [](const SetTopicConfigs& c) {
            return json{{"id", uuid_base64(c.id)}, {"configs", configs_json(c.configs)}};
          },
          [](const SetBrokerConfigs& c) {
            return json{{"broker", c.broker ? json(*c.broker) : json()},
                        {"configs", configs_json(c.configs)}};
          },
          [](const SetClientQuotas& c) {
            json entries = json::array();
            for (const auto& [entity, ops] : c.entries) {
              json o = json::array();
              for (const auto& op : ops) {
                o.push_back({{"key", op.key}, {"value", op.value}, {"remove", op.remove}});
              }
              entries.push_back({{"entity", entity_json(entity)}, {"ops", o}});
            }
            return json{{"entries", entries}};
          },
          [](const FenceBroker& c) {
            return json{{"id", c.id}};
          },
          [](const SetController& c) {
            return json{{"id", c.id}, {"epoch", c.epoch}};
          },
          [](const SetPartitionStates& c) {
            json parts = json::array();
            for (const PartitionImage& p : c.partitions) {
              json pj = partition_json(p);
              pj["index"] = p.index;
              parts.push_back(pj);
            }
            return json{{"id", uuid_base64(c.id)}, {"partitions", parts}};
          },
          [](const UnregisterBroker& c) {
            return json{{"id", c.id}};
          },
          [](const AlterPartition& c) {
            json isr = json::array();
            for (const IsrMember& m : c.isr) {
              isr.push_back({{"id", m.id}, {"broker_epoch", m.broker_epoch}});
            }
            return json{{"leader", c.leader},
                        {"broker_epoch", c.broker_epoch},
                        {"topic", uuid_base64(c.topic)},
                        {"partition", c.partition},
                        {"leader_epoch", c.leader_epoch},
                        {"partition_epoch", c.partition_epoch},
                        {"isr", isr}};
          },
          [](const ElectLeaders& c) {
            json parts = json::array();
            for (const auto& [id, index] : c.partitions) {
              parts.push_back({{"id", uuid_base64(id)}, {"index", index}});
            }
            return json{{"election_type", c.election_type}, {"all", c.all}, {"partitions", parts}};
          },
          [](const AlterReassignment& c) {
            return json{{"topic", uuid_base64(c.topic)},
                        {"partition", c.partition},
                        {"replicas", c.replicas ? json(*c.replicas) : json()}};
          },
      },
      change);
  j["v"] = kVersion;
  j["type"] = change_name(change);
  return dump(j);
}

std::string decode_change(std::string_view text, MetadataChange& out) {
  json j;
  if (std::string e = open(text, "a metadata change", j); !e.empty()) return e;
  std::string type;
  if (!get_string(j, "type", type)) return "a metadata change has no type";
  const std::string bad = "a " + type + " change lacks a field or has one of the wrong type";
  if (type == "RegisterBroker") {
    RegisterBroker c;
    auto b = j.find("broker");
    if (b == j.end() || !b->is_object() || !get_int(*b, "id", c.broker.id) ||
        !get_string(*b, "host", c.broker.host) || !get_int(*b, "port", c.broker.port) ||
        !get_int(*b, "epoch", c.broker.epoch)) {
      return bad;
    }
    if (auto r = b->find("rack"); r != b->end() && r->is_string()) {
      c.broker.rack = r->get<std::string>();
    }
    if (auto f = b->find("fenced"); f != b->end() && f->is_boolean()) {
      c.broker.fenced = f->get<bool>();
    }
    out = std::move(c);
  } else if (type == "CreateTopic") {
    CreateTopic c;
    if (!get_string(j, "name", c.name) || !get_uuid(j, "id", c.id) ||
        !get_int(j, "partitions", c.partitions) ||
        !get_int(j, "replication_factor", c.replication_factor) ||
        !get_assignment(j, "assignments", c.assignments) || !get_configs(j, "configs", c.configs)) {
      return bad;
    }
    out = std::move(c);
  } else if (type == "DeleteTopic") {
    DeleteTopic c;
    if (!get_uuid(j, "id", c.id)) return bad;
    out = c;
  } else if (type == "CreatePartitions") {
    CreatePartitions c;
    if (!get_uuid(j, "id", c.id) || !get_int(j, "total", c.total) ||
        !get_assignment(j, "assignments", c.assignments)) {
      return bad;
    }
    out = std::move(c);
  } else if (type == "SetTopicConfigs") {
    SetTopicConfigs c;
    if (!get_uuid(j, "id", c.id) || !get_configs(j, "configs", c.configs)) return bad;
    out = std::move(c);
  } else if (type == "SetBrokerConfigs") {
    SetBrokerConfigs c;
    if (!get_configs(j, "configs", c.configs)) return bad;
    if (auto b = j.find("broker"); b != j.end() && !b->is_null()) {
      std::int32_t id = 0;
      if (!get_int(j, "broker", id)) return bad;
      c.broker = id;
    }
    out = std::move(c);
  } else if (type == "SetClientQuotas") {
    SetClientQuotas c;
    auto entries = j.find("entries");
    if (entries == j.end() || !entries->is_array()) return bad;
    for (const json& e : *entries) {
      if (!e.is_object()) return bad;
      auto& [entity, ops] = c.entries.emplace_back();
      if (!get_entity(e, "entity", entity)) return bad;
      auto o = e.find("ops");
      if (o == e.end() || !o->is_array()) return bad;
      for (const json& x : *o) {
        ClientQuotas::Op op;
        if (!x.is_object() || !get_string(x, "key", op.key)) return bad;
        auto v = x.find("value");
        if (v == x.end() || !v->is_number()) return bad;
        op.value = v->get<double>();
        auto r = x.find("remove");
        op.remove = r != x.end() && r->is_boolean() && r->get<bool>();
        ops.push_back(std::move(op));
      }
    }
    out = std::move(c);
  } else if (type == "FenceBroker") {
    FenceBroker c;
    if (!get_int(j, "id", c.id)) return bad;
    out = c;
  } else if (type == "UnregisterBroker") {
    UnregisterBroker c;
    if (!get_int(j, "id", c.id)) return bad;
    out = c;
  } else if (type == "SetController") {
    SetController c;
    if (!get_int(j, "id", c.id) || !get_int(j, "epoch", c.epoch)) return bad;
    out = c;
  } else if (type == "SetPartitionStates") {
    SetPartitionStates c;
    auto parts = j.find("partitions");
    if (!get_uuid(j, "id", c.id) || parts == j.end() || !parts->is_array()) return bad;
    for (const json& pj : *parts) {
      PartitionImage& p = c.partitions.emplace_back();
      if (!pj.is_object() || !get_int(pj, "index", p.index) || !get_partition(pj, p)) return bad;
    }
    out = std::move(c);
  } else if (type == "AlterPartition") {
    AlterPartition c;
    auto isr = j.find("isr");
    if (!get_int(j, "leader", c.leader) || !get_int(j, "broker_epoch", c.broker_epoch) ||
        !get_uuid(j, "topic", c.topic) || !get_int(j, "partition", c.partition) ||
        !get_int(j, "leader_epoch", c.leader_epoch) ||
        !get_int(j, "partition_epoch", c.partition_epoch) || isr == j.end() || !isr->is_array()) {
      return bad;
    }
    for (const json& m : *isr) {
      IsrMember& member = c.isr.emplace_back();
      if (!m.is_object() || !get_int(m, "id", member.id) ||
          !get_int(m, "broker_epoch", member.broker_epoch)) {
        return bad;
      }
    }
    out = std::move(c);
  } else if (type == "ElectLeaders") {
    ElectLeaders c;
    auto parts = j.find("partitions");
    auto all = j.find("all");
    if (!get_int(j, "election_type", c.election_type) || all == j.end() || !all->is_boolean() ||
        parts == j.end() || !parts->is_array()) {
      return bad;
    }
    c.all = all->get<bool>();
    for (const json& pj : *parts) {
      auto& [id, index] = c.partitions.emplace_back();
      if (!pj.is_object() || !get_uuid(pj, "id", id) || !get_int(pj, "index", index)) return bad;
    }
    out = std::move(c);
  } else if (type == "AlterReassignment") {
    AlterReassignment c;
    auto replicas = j.find("replicas");
    if (!get_uuid(j, "topic", c.topic) || !get_int(j, "partition", c.partition) ||
        replicas == j.end()) {
      return bad;
    }
    if (!replicas->is_null()) {
      std::vector<std::int32_t> ids;
      if (!get_ints(j, "replicas", ids)) return bad;
      c.replicas = std::move(ids);
    }
    out = std::move(c);
  } else {
    return "unknown metadata change type " + type;
  }
  return "";
}

}  // namespace kgw::layout
