// The etcd key layout (src/cluster/etcd_layout.h) and the image kept from
// it (src/cluster/etcd_image.h): keys parse back to what they name, every
// value round-trips, bad values are refused with a reason, a range read
// builds the image, and each watch revision becomes the changes that take
// the image to the new state.
#include <doctest/doctest.h>

#include <string>
#include <variant>
#include <vector>

#include "src/cluster/etcd_image.h"
#include "src/cluster/etcd_layout.h"

using namespace kgw;
using namespace kgw::layout;
using etcd::Event;
using etcd::KeyValue;

namespace {

const std::string P = "/kgw/";

Uuid uuid(std::uint8_t seed) {
  Uuid id;
  for (std::size_t i = 0; i < id.bytes.size(); ++i) {
    id.bytes[i] = static_cast<std::uint8_t>(seed * 17 + i);
  }
  return id;
}

MetadataChange round_trip(const MetadataChange& c) {
  MetadataChange out;
  std::string text = encode_change(c);
  INFO(text);
  REQUIRE(decode_change(text, out) == "");
  CHECK(out.index() == c.index());
  CHECK(encode_change(out) == text);
  return out;
}

// The keys the controller writes for a topic, at revision `rev`.
std::vector<KeyValue> topic_kvs(const std::string& name, const Uuid& id,
                                const std::vector<PartitionImage>& parts, std::int64_t rev,
                                ConfigMap configs = {}) {
  std::vector<KeyValue> out;
  TopicRecord r{id, std::move(configs), static_cast<std::int32_t>(parts.size())};
  out.push_back(KeyValue{topic_key(P, name), encode_topic(r), rev, rev, 1, 0});
  for (const PartitionImage& p : parts) {
    out.push_back(KeyValue{partition_key(P, id, p.index), encode_partition(p), rev, rev, 1, 0});
  }
  return out;
}

KeyValue broker_kv(std::int32_t id, std::int64_t rev, bool registered = false) {
  BrokerRegistration r;
  r.id = id;
  r.host = std::string("h").append(std::to_string(id));
  r.port = 9000 + id;
  r.listeners["PLAINTEXT"] = "h:1";
  std::string key = registered ? registered_key(P, id) : broker_key(P, id);
  return KeyValue{key, encode_broker(r, !registered), rev, rev, 1, registered ? 0 : 77};
}

std::vector<Event> puts(const std::vector<KeyValue>& kvs) {
  std::vector<Event> out;
  for (const KeyValue& kv : kvs) out.push_back(Event{Event::kPut, kv});
  return out;
}

Event deletion(const std::string& key) {
  Event e;
  e.type = Event::kDelete;
  e.kv.key = key;
  return e;
}

ImagePtr apply_all(ImagePtr image, const std::vector<MetadataChange>& changes) {
  for (const MetadataChange& c : changes) {
    std::string message;
    INFO(change_name(c));
    CHECK(image->check(c, message) == ErrorCode::kNone);
    image = image->apply(c);
  }
  return image;
}

PartitionImage part(std::int32_t index, std::vector<std::int32_t> replicas, std::int32_t leader,
                    std::int32_t epoch = 0) {
  PartitionImage p;
  p.index = index;
  p.leader = leader;
  p.leader_epoch = epoch;
  p.partition_epoch = epoch;
  p.replicas = replicas;
  p.isr = replicas;
  return p;
}

}  // namespace

TEST_CASE("uuids print as Kafka's base64 and parse back") {
  Uuid id = uuid(3);
  std::string text = uuid_base64(id);
  CHECK(text.size() == 22);
  Uuid back;
  REQUIRE(parse_uuid_base64(text, back));
  CHECK(back == id);
  CHECK(uuid_base64(Uuid{}) == "AAAAAAAAAAAAAAAAAAAAAA");
  CHECK_FALSE(parse_uuid_base64("short", back));
  CHECK_FALSE(parse_uuid_base64("AAAAAAAAAAAAAAAAAAAAA+", back));
  CHECK_FALSE(parse_uuid_base64("AAAAAAAAAAAAAAAAAAAAAB", back));  // stray low bits
}

TEST_CASE("keys are padded and parse back to what they name") {
  CHECK(cluster_key(P) == "/kgw/cluster");
  CHECK(broker_key(P, 7) == "/kgw/brokers/0000000007");
  CHECK(registered_key(P, 7) == "/kgw/registered/0000000007");
  CHECK(controller_key(P) == "/kgw/controller");
  CHECK(topic_key(P, "orders") == "/kgw/topics/orders");
  CHECK(partition_key(P, uuid(1), 12) == "/kgw/partitions/" + uuid_base64(uuid(1)) + "/0000000012");
  CHECK(default_configs_key(P) == "/kgw/configs/default");
  CHECK(broker_configs_key(P, 2) == "/kgw/configs/broker/0000000002");
  CHECK(producer_ids_key(P) == "/kgw/producer-ids");
  CHECK(request_key(P, 3, 9) == "/kgw/requests/0000000003-00000000000000000009");
  CHECK(result_key(P, 3, 9) == "/kgw/results/0000000003-00000000000000000009");
  CHECK(quota_key(P, {{"user", "a b"}, {"client-id", std::nullopt}}) ==
        "/kgw/quotas/client-id,user=a%20b");

  CHECK(parse_key(P, broker_key(P, 42)).kind == ParsedKey::kBroker);
  CHECK(parse_key(P, broker_key(P, 42)).id == 42);
  CHECK(parse_key(P, registered_key(P, 5)).kind == ParsedKey::kRegistered);
  ParsedKey t = parse_key(P, topic_key(P, "a/b"));
  CHECK(t.kind == ParsedKey::kTopic);
  CHECK(t.name == "a/b");
  ParsedKey pk = parse_key(P, partition_key(P, uuid(4), 3));
  CHECK(pk.kind == ParsedKey::kPartition);
  CHECK(pk.topic == uuid(4));
  CHECK(pk.index == 3);
  ParsedKey rq = parse_key(P, request_key(P, 3, 9));
  CHECK(rq.kind == ParsedKey::kRequest);
  CHECK(rq.id == 3);
  CHECK(rq.seq == 9);
  CHECK(parse_key(P, result_key(P, 3, 9)).kind == ParsedKey::kResult);
  CHECK(parse_key(P, broker_configs_key(P, 2)).id == 2);
  CHECK(parse_key(P, default_configs_key(P)).kind == ParsedKey::kDefaultConfigs);
  CHECK(parse_key(P, "/kgw/quotas/user=x").kind == ParsedKey::kQuota);
  CHECK(parse_key(P, "/other/cluster").kind == ParsedKey::kUnknown);
  CHECK(parse_key(P, "/kgw/brokers/x").kind == ParsedKey::kUnknown);
  CHECK(parse_key(P, "/kgw/partitions/nope/1").kind == ParsedKey::kUnknown);
}

TEST_CASE("records round-trip and bad values are refused with a reason") {
  ClusterRecord c;
  REQUIRE(decode_cluster(encode_cluster({"abc"}), c) == "");
  CHECK(c.cluster_id == "abc");

  BrokerRegistration b{3, "host", 9092, "rack-a", {{"PLAINTEXT", "host:9092"}}};
  BrokerRegistration b2;
  REQUIRE(decode_broker(encode_broker(b), b2) == "");
  CHECK(b2.id == 3);
  CHECK(b2.host == "host");
  CHECK(b2.port == 9092);
  CHECK(b2.rack == "rack-a");
  CHECK(b2.listeners.at("PLAINTEXT") == "host:9092");
  REQUIRE(decode_broker(encode_broker(b, false), b2) == "");
  CHECK(b2.listeners.empty());
  CHECK(encode_broker(b, false).find("listeners") == std::string::npos);

  ControllerRecord ctl;
  REQUIRE(decode_controller(encode_controller({4}), ctl) == "");
  CHECK(ctl.id == 4);

  TopicRecord t{uuid(2), {{"retention.ms", "100"}}, 6};
  TopicRecord t2;
  REQUIRE(decode_topic(encode_topic(t), t2) == "");
  CHECK(t2.id == t.id);
  CHECK(t2.configs == t.configs);
  CHECK(t2.partitions == 6);

  PartitionImage p = part(0, {1, 2, 3}, 2, 5);
  p.isr = {2, 3};
  PartitionImage p2;
  p2.index = 0;
  REQUIRE(decode_partition(encode_partition(p), p2) == "");
  CHECK(same_partition(p, p2));
  // The ELR (KIP-966): written only when not empty, so an older kgw's
  // record (without it) decodes with none, and one with it round-trips.
  CHECK(encode_partition(p).find("elr") == std::string::npos);
  p.elr = {1};
  p2.elr = {7};
  REQUIRE(decode_partition(encode_partition(p), p2) == "");
  CHECK(p2.elr == std::vector<std::int32_t>{1});
  CHECK(same_partition(p, p2));
  REQUIRE(decode_partition(R"({"v":1,"leader":2,"leader_epoch":0,"partition_epoch":0,)"
                           R"("replicas":[1,2],"isr":[2]})",
                           p2) == "");
  CHECK(p2.elr.empty());
  CHECK(decode_partition(R"({"v":1,"leader":2,"leader_epoch":0,"partition_epoch":0,)"
                         R"("replicas":[1,2],"isr":[2],"elr":["x"]})",
                         p2) != "");
  // The last known ELR likewise: absent when empty (an older record reads
  // as none), round-trips, and counts in same_partition.
  p.elr.clear();
  CHECK(encode_partition(p).find("last_known_elr") == std::string::npos);
  p.last_known_elr = {1, 2};
  p2.last_known_elr = {7};
  REQUIRE(decode_partition(encode_partition(p), p2) == "");
  CHECK(p2.last_known_elr == std::vector<std::int32_t>{1, 2});
  CHECK(same_partition(p, p2));
  p2.last_known_elr = {1};
  CHECK_FALSE(same_partition(p, p2));
  REQUIRE(decode_partition(R"({"v":1,"leader":2,"leader_epoch":0,"partition_epoch":0,)"
                           R"("replicas":[1,2],"isr":[2],"elr":[1]})",
                           p2) == "");
  CHECK(p2.last_known_elr.empty());
  CHECK(decode_partition(R"({"v":1,"leader":2,"leader_epoch":0,"partition_epoch":0,)"
                         R"("replicas":[1,2],"isr":[2],"last_known_elr":"x"})",
                         p2) != "");

  // A registration's log identities (KIP-903): optional both ways.
  BrokerRegistration wiped = b;
  wiped.log_dir_id = "new";
  wiped.previous_log_dir_id = "old";
  REQUIRE(decode_broker(encode_broker(wiped), b2) == "");
  CHECK(b2.log_dir_id == "new");
  CHECK(b2.previous_log_dir_id == "old");
  REQUIRE(decode_broker(encode_broker(wiped, false), b2) == "");
  CHECK(b2.log_dir_id == "new");
  CHECK(b2.previous_log_dir_id.empty());  // P registered/<id> names the log only
  REQUIRE(decode_broker(encode_broker(b), b2) == "");
  CHECK(b2.log_dir_id.empty());

  ConfigMap m;
  REQUIRE(decode_configs(encode_configs({{"a", "1"}}), m) == "");
  CHECK(m.at("a") == "1");

  QuotaRecord q{{{"client-id", std::nullopt}, {"user", "u"}}, {{"producer_byte_rate", 1024}}};
  QuotaRecord q2;
  REQUIRE(decode_quota(encode_quota(q), q2) == "");
  CHECK(q2.entity == q.entity);
  CHECK(q2.values == q.values);

  ProducerIdBlock pid;
  REQUIRE(decode_producer_ids(encode_producer_ids({5000}), pid) == "");
  CHECK(pid.next == 5000);

  ChangeResult r;
  REQUIRE(decode_result(encode_result({ErrorCode::kTopicAlreadyExists, "exists", {}}), r) == "");
  CHECK(r.error == ErrorCode::kTopicAlreadyExists);
  CHECK(r.message == "exists");
  CHECK(r.partitions.empty());
  // An election's result carries each partition's outcome.
  REQUIRE(decode_result(encode_result({ErrorCode::kNone,
                                       "",
                                       {{uuid(1), 2, ErrorCode::kElectionNotNeeded, "no"},
                                        {uuid(3), 0, ErrorCode::kNone, ""}}}),
                        r) == "");
  REQUIRE(r.partitions.size() == 2);
  CHECK(r.partitions[0].topic == uuid(1));
  CHECK(r.partitions[0].partition == 2);
  CHECK(r.partitions[0].error == ErrorCode::kElectionNotNeeded);
  CHECK(r.partitions[0].message == "no");
  CHECK(r.partitions[1].error == ErrorCode::kNone);
  CHECK(decode_result(R"({"v":1,"error":0,"partitions":[{"id":1}]})", r) != "");

  // Refusals: not JSON, not an object, no version, a later version, a
  // field of the wrong type. Never a throw.
  CHECK(decode_topic("not json", t2) != "");
  CHECK(decode_topic("[1]", t2) != "");
  CHECK(decode_topic(R"({"id":"AAAAAAAAAAAAAAAAAAAAAA","configs":{},"partitions":1})", t2) != "");
  CHECK(decode_topic(R"({"v":2,"id":"AAAAAAAAAAAAAAAAAAAAAA","configs":{},"partitions":1})", t2)
            .find("version 2") != std::string::npos);
  CHECK(decode_topic(R"({"v":1,"id":"AAAAAAAAAAAAAAAAAAAAAA","configs":{},"partitions":"1"})",
                     t2) != "");
  CHECK(decode_topic(R"({"v":1,"id":7,"configs":{},"partitions":1})", t2) != "");
  CHECK(decode_partition(R"({"v":1,"leader":1,"leader_epoch":0,"partition_epoch":0,)"
                         R"("replicas":[1,"x"],"isr":[1]})",
                         p2) != "");
  CHECK(decode_broker(R"({"v":1,"id":1,"host":"h"})", b2) != "");
  CHECK(decode_configs(R"({"v":1,"configs":{"a":1}})", m) != "");
  CHECK(decode_quota(R"({"v":1,"entity":[{"name":"x"}],"values":{}})", q2) != "");
  CHECK(decode_result(R"({"v":1,"message":"m"})", r) != "");
  CHECK(decode_cluster("", c) != "");
}

TEST_CASE("every kind of change round-trips as a request") {
  BrokerImage b;
  b.id = 2;
  b.host = "h";
  b.port = 9;
  b.rack = "r";
  b.epoch = 41;
  auto rb = std::get<RegisterBroker>(round_trip(RegisterBroker{b}));
  CHECK(same_broker(rb.broker, b));

  CreateTopic ct{"t", uuid(1), 2, 2, {{1, 2}, {2, 1}}, {{"cleanup.policy", "compact"}}};
  auto ct2 = std::get<CreateTopic>(round_trip(ct));
  CHECK(ct2.name == "t");
  CHECK(ct2.id == uuid(1));
  CHECK(ct2.partitions == 2);
  CHECK(ct2.replication_factor == 2);
  CHECK(ct2.assignments == ct.assignments);
  CHECK(ct2.configs == ct.configs);
  // A zero id (the controller picks one) survives too.
  CHECK(std::get<CreateTopic>(round_trip(CreateTopic{"z", Uuid{}, 1, 1, {}, {}})).id.is_zero());

  CHECK(std::get<DeleteTopic>(round_trip(DeleteTopic{uuid(5)})).id == uuid(5));
  auto cp = std::get<CreatePartitions>(round_trip(CreatePartitions{uuid(1), 4, {{3}, {1}}}));
  CHECK(cp.total == 4);
  CHECK(cp.assignments == ReplicaAssignment{{3}, {1}});
  auto tc = std::get<SetTopicConfigs>(round_trip(SetTopicConfigs{uuid(1), {{"a", "b"}}}));
  CHECK(tc.configs.at("a") == "b");
  auto bc = std::get<SetBrokerConfigs>(round_trip(SetBrokerConfigs{7, {{"x", "y"}}}));
  CHECK(bc.broker == 7);
  CHECK_FALSE(std::get<SetBrokerConfigs>(round_trip(SetBrokerConfigs{std::nullopt, {}})).broker);

  SetClientQuotas q;
  q.entries.emplace_back(ClientQuotas::Entity{{"user", std::nullopt}},
                         std::vector<ClientQuotas::Op>{{"producer_byte_rate", 10, false},
                                                       {"consumer_byte_rate", 0, true}});
  auto q2 = std::get<SetClientQuotas>(round_trip(q));
  REQUIRE(q2.entries.size() == 1);
  CHECK(q2.entries[0].first == q.entries[0].first);
  REQUIRE(q2.entries[0].second.size() == 2);
  CHECK(q2.entries[0].second[0].value == 10);
  CHECK(q2.entries[0].second[1].remove);

  CHECK(std::get<FenceBroker>(round_trip(FenceBroker{3})).id == 3);
  CHECK(std::get<UnregisterBroker>(round_trip(UnregisterBroker{4})).id == 4);
  auto sc = std::get<SetController>(round_trip(SetController{2, 99}));
  CHECK(sc.id == 2);
  CHECK(sc.epoch == 99);
  auto ps = std::get<SetPartitionStates>(
      round_trip(SetPartitionStates{uuid(1), {part(1, {1, 2}, 2, 3)}}));
  REQUIRE(ps.partitions.size() == 1);
  CHECK(same_partition(ps.partitions[0], part(1, {1, 2}, 2, 3)));
  const AlterPartition ap{2, 812, uuid(6), 4, 9, 17, {{2, 812}, {1, -1}, {3, 30}}};
  const auto ap2 = std::get<AlterPartition>(round_trip(ap));
  CHECK(ap2.leader == 2);
  CHECK(ap2.broker_epoch == 812);
  CHECK(ap2.topic == uuid(6));
  CHECK(ap2.partition == 4);
  CHECK(ap2.leader_epoch == 9);
  CHECK(ap2.partition_epoch == 17);
  CHECK(ap2.isr == ap.isr);
  auto el = std::get<ElectLeaders>(
      round_trip(ElectLeaders{ElectLeaders::kUnclean, false, {{uuid(1), 0}, {uuid(2), 3}}}));
  CHECK(el.election_type == ElectLeaders::kUnclean);
  CHECK_FALSE(el.all);
  CHECK(el.partitions == std::vector<std::pair<Uuid, std::int32_t>>{{uuid(1), 0}, {uuid(2), 3}});
  CHECK(std::get<ElectLeaders>(round_trip(ElectLeaders{ElectLeaders::kPreferred, true, {}})).all);

  MetadataChange out;
  CHECK(decode_change(R"({"v":1,"type":"AlterPartition","leader":1,"broker_epoch":2,)"
                      R"("topic":"AAAAAAAAAAAAAAAAAAAAAA","partition":0,"leader_epoch":0,)"
                      R"("partition_epoch":0,"isr":[{"id":1}]})",
                      out)
            .find("AlterPartition change lacks a field") != std::string::npos);
  CHECK(decode_change(R"({"v":1,"type":"Launch"})", out).find("unknown") != std::string::npos);
  CHECK(decode_change(R"({"v":1,"type":"DeleteTopic"})", out) != "");
  CHECK(decode_change(R"({"v":3,"type":"DeleteTopic","id":"AAAAAAAAAAAAAAAAAAAAAA"})", out) != "");
}

TEST_CASE("a range read builds the image: brokers alive and fenced, controller, topics") {
  std::vector<KeyValue> kvs;
  kvs.push_back(KeyValue{cluster_key(P), encode_cluster({"cid"}), 2, 2, 1, 0});
  kvs.push_back(broker_kv(1, 3));
  kvs.push_back(broker_kv(1, 3, true));
  kvs.push_back(broker_kv(2, 4, true));  // registered once, session gone: fenced
  kvs.push_back(KeyValue{controller_key(P), encode_controller({1}), 5, 5, 1, 77});
  for (const KeyValue& kv : topic_kvs("a", uuid(1), {part(0, {1}, 1), part(1, {2, 1}, 1, 3)}, 6,
                                      {{"retention.ms", "5"}})) {
    kvs.push_back(kv);
  }
  kvs.push_back(KeyValue{default_configs_key(P), encode_configs({{"d", "1"}}), 7, 7, 1, 0});
  kvs.push_back(KeyValue{broker_configs_key(P, 1), encode_configs({{"b", "2"}}), 7, 7, 1, 0});
  kvs.push_back(KeyValue{quota_key(P, {{"user", "u"}}),
                         encode_quota({{{"user", "u"}}, {{"producer_byte_rate", 100}}}), 8, 8, 1,
                         0});
  kvs.push_back(KeyValue{topic_key(P, "bad"), "{broken", 9, 9, 1, 0});
  kvs.push_back(KeyValue{request_key(P, 1, 1), "ignored", 9, 9, 1, 77});

  std::vector<std::string> errors;
  ImagePtr image = build_image(P, kvs, &errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("/kgw/topics/bad") == 0);
  REQUIRE(image->broker(1) != nullptr);
  CHECK_FALSE(image->broker(1)->fenced);
  CHECK(image->broker(1)->epoch == 3);
  CHECK(image->broker(1)->port == 9001);
  REQUIRE(image->broker(2) != nullptr);
  CHECK(image->broker(2)->fenced);
  CHECK(image->controller_id() == 1);
  CHECK(image->controller_epoch() == 5);
  TopicPtr t = image->topic("a");
  REQUIRE(t != nullptr);
  CHECK(t->id == uuid(1));
  CHECK(t->configs.at("retention.ms") == "5");
  REQUIRE(t->partition_count() == 2);
  CHECK(t->partitions[1].leader_epoch == 3);
  CHECK(t->partitions[1].replicas == std::vector<std::int32_t>{2, 1});
  CHECK(image->broker_configs(std::nullopt).at("d") == "1");
  CHECK(image->broker_configs(1).at("b") == "2");
  std::string err;
  CHECK(image->quotas().describe({}, false, err).size() == 1);
}

TEST_CASE("a revision creating a topic becomes CreateTopic, then the states that differ") {
  ImagePtr before = build_image(P, {broker_kv(1, 3), broker_kv(2, 4)});
  // Partition 1 was written with a leader that is not its first replica.
  PartitionImage moved = part(1, {1, 2}, 2, 1);
  auto changes = changes_of_revision(
      P, *before, puts(topic_kvs("t", uuid(1), {part(0, {1, 2}, 1), moved}, 10)));
  REQUIRE(changes.size() == 2);
  const auto& ct = std::get<CreateTopic>(changes[0]);
  CHECK(ct.name == "t");
  CHECK(ct.id == uuid(1));
  CHECK(ct.partitions == 2);
  CHECK(ct.replication_factor == 2);
  CHECK(ct.assignments == ReplicaAssignment{{1, 2}, {1, 2}});
  const auto& ps = std::get<SetPartitionStates>(changes[1]);
  REQUIRE(ps.partitions.size() == 1);
  CHECK(same_partition(ps.partitions[0], moved));
  ImagePtr after = apply_all(before, changes);
  CHECK(same_partition(after->topic("t")->partitions[1], moved));

  // Same topic again with equal content: nothing.
  CHECK(
      changes_of_revision(P, *after, puts(topic_kvs("t", uuid(1), {part(0, {1, 2}, 1), moved}, 11)))
          .empty());
}

TEST_CASE("topic and partition keys changing become the changes a single node makes") {
  ImagePtr image = build_image(P, {broker_kv(1, 3)});
  image = apply_all(
      image, changes_of_revision(P, *image, puts(topic_kvs("t", uuid(1), {part(0, {1}, 1)}, 5))));

  // Configs changed and one partition added, in one txn.
  auto grow = puts(topic_kvs("t", uuid(1), {part(0, {1}, 1), part(1, {1}, 1)}, 6, {{"x", "y"}}));
  grow.erase(grow.begin() + 1);  // partition 0's key is not rewritten
  auto changes = changes_of_revision(P, *image, grow);
  REQUIRE(changes.size() == 2);
  CHECK(std::get<SetTopicConfigs>(changes[0]).configs.at("x") == "y");
  CHECK(std::get<CreatePartitions>(changes[1]).total == 2);
  image = apply_all(image, changes);
  CHECK(image->topic("t")->partition_count() == 2);

  // A leader change alone.
  PartitionImage offline = part(0, {1}, -1, 1);
  changes = changes_of_revision(
      P, *image,
      puts({KeyValue{partition_key(P, uuid(1), 0), encode_partition(offline), 5, 7, 2, 0}}));
  REQUIRE(changes.size() == 1);
  CHECK(std::get<SetPartitionStates>(changes[0]).partitions[0].leader == -1);
  image = apply_all(image, changes);

  // Partitions added without the topic key (a controller that writes only
  // the new keys) still grow the topic.
  changes = changes_of_revision(P, *image,
                                puts({KeyValue{partition_key(P, uuid(1), 2),
                                               encode_partition(part(2, {1}, 1)), 8, 8, 1, 0}}));
  REQUIRE(changes.size() == 1);
  CHECK(std::get<CreatePartitions>(changes[0]).total == 3);
  image = apply_all(image, changes);

  // The topic key and its partitions deleted: one DeleteTopic.
  changes =
      changes_of_revision(P, *image,
                          {deletion(topic_key(P, "t")), deletion(partition_key(P, uuid(1), 0)),
                           deletion(partition_key(P, uuid(1), 1))});
  REQUIRE(changes.size() == 1);
  CHECK(std::get<DeleteTopic>(changes[0]).id == uuid(1));
  image = apply_all(image, changes);
  CHECK(image->topic("t") == nullptr);
}

TEST_CASE("broker, controller, config and quota keys become their changes") {
  ImagePtr image = build_image(P, {});
  auto changes = changes_of_revision(P, *image, puts({broker_kv(3, 10), broker_kv(3, 10, true)}));
  REQUIRE(changes.size() == 1);
  CHECK(std::get<RegisterBroker>(changes[0]).broker.epoch == 10);
  image = apply_all(image, changes);

  // Lease lapsed: the broker key goes, the broker is fenced.
  changes = changes_of_revision(P, *image, {deletion(broker_key(P, 3))});
  REQUIRE(changes.size() == 1);
  CHECK(std::get<FenceBroker>(changes[0]).id == 3);
  image = apply_all(image, changes);
  CHECK(image->broker(3)->fenced);
  // Back with a new key: a higher epoch, unfenced.
  changes = changes_of_revision(P, *image, puts({broker_kv(3, 15)}));
  image = apply_all(image, changes);
  CHECK_FALSE(image->broker(3)->fenced);
  CHECK(image->broker(3)->epoch == 15);

  changes = changes_of_revision(
      P, *image, puts({KeyValue{controller_key(P), encode_controller({3}), 16, 16, 1, 9}}));
  REQUIRE(changes.size() == 1);
  CHECK(std::get<SetController>(changes[0]).epoch == 16);
  image = apply_all(image, changes);
  changes = changes_of_revision(P, *image, {deletion(controller_key(P))});
  REQUIRE(changes.size() == 1);
  CHECK(std::get<SetController>(changes[0]).id == -1);
  image = apply_all(image, changes);

  changes = changes_of_revision(
      P, *image,
      puts({KeyValue{default_configs_key(P), encode_configs({{"a", "1"}}), 17, 17, 1, 0},
            KeyValue{broker_configs_key(P, 3), encode_configs({{"b", "2"}}), 17, 17, 1, 0}}));
  REQUIRE(changes.size() == 2);
  image = apply_all(image, changes);
  CHECK(image->broker_configs(3).at("b") == "2");
  changes = changes_of_revision(P, *image, {deletion(default_configs_key(P))});
  REQUIRE(changes.size() == 1);
  image = apply_all(image, changes);
  CHECK(image->broker_configs(std::nullopt).empty());

  ClientQuotas::Entity u{{"user", "u"}};
  changes = changes_of_revision(
      P, *image,
      puts({KeyValue{quota_key(P, u),
                     encode_quota({u, {{"producer_byte_rate", 10}, {"consumer_byte_rate", 20}}}),
                     18, 18, 1, 0}}));
  REQUIRE(changes.size() == 1);
  image = apply_all(image, changes);
  changes = changes_of_revision(
      P, *image,
      puts({KeyValue{quota_key(P, u), encode_quota({u, {{"producer_byte_rate", 11}}}), 18, 19, 2,
                     0}}));
  REQUIRE(changes.size() == 1);
  image = apply_all(image, changes);
  std::string err;
  auto q = image->quotas().describe({}, false, err);
  REQUIRE(q.size() == 1);
  CHECK(q[0].second == ClientQuotas::Values{{"producer_byte_rate", 11}});
  changes = changes_of_revision(P, *image, {deletion(quota_key(P, u))});
  REQUIRE(changes.size() == 1);
  image = apply_all(image, changes);
  CHECK(image->quotas().describe({}, false, err).empty());

  // Keys that are not image: nothing.
  CHECK(changes_of_revision(
            P, *image,
            puts({KeyValue{request_key(P, 3, 1), "x", 20, 20, 1, 0},
                  KeyValue{producer_ids_key(P), encode_producer_ids({1000}), 20, 20, 1, 0}}))
            .empty());
}

TEST_CASE("the difference of two images becomes changes that give the second") {
  std::vector<KeyValue> a_kvs{broker_kv(1, 3), broker_kv(2, 4)};
  for (const KeyValue& kv : topic_kvs("gone", uuid(1), {part(0, {1}, 1)}, 5)) a_kvs.push_back(kv);
  for (const KeyValue& kv : topic_kvs("kept", uuid(2), {part(0, {1, 2}, 1)}, 5))
    a_kvs.push_back(kv);
  ImagePtr a = build_image(P, a_kvs);

  std::vector<KeyValue> b_kvs{broker_kv(1, 3), broker_kv(2, 4, true), broker_kv(4, 9)};
  b_kvs.push_back(KeyValue{controller_key(P), encode_controller({4}), 9, 9, 1, 0});
  for (const KeyValue& kv :
       topic_kvs("kept", uuid(2), {part(0, {1, 2}, 1, 1), part(1, {4}, 4)}, 9, {{"k", "v"}})) {
    b_kvs.push_back(kv);
  }
  for (const KeyValue& kv : topic_kvs("new", uuid(3), {part(0, {4}, -1, 2)}, 9))
    b_kvs.push_back(kv);
  b_kvs.push_back(KeyValue{quota_key(P, {{"user", "u"}}),
                           encode_quota({{{"user", "u"}}, {{"producer_byte_rate", 1}}}), 9, 9, 1,
                           0});
  ImagePtr b = build_image(P, b_kvs);

  ImagePtr got = apply_all(a, diff_images(*a, *b));
  CHECK(got->topic("gone") == nullptr);
  REQUIRE(got->topic("kept") != nullptr);
  CHECK(got->topic("kept")->configs.at("k") == "v");
  REQUIRE(got->topic("kept")->partition_count() == 2);
  for (std::int32_t i = 0; i < 2; ++i) {
    CHECK(same_partition(got->topic("kept")->partitions[static_cast<std::size_t>(i)],
                         b->topic("kept")->partitions[static_cast<std::size_t>(i)]));
  }
  REQUIRE(got->topic("new") != nullptr);
  CHECK(same_partition(got->topic("new")->partitions[0], b->topic("new")->partitions[0]));
  CHECK(got->broker(2)->fenced);
  CHECK(same_broker(*got->broker(4), *b->broker(4)));
  CHECK(got->controller_id() == 4);
  std::string err;
  CHECK(got->quotas().describe({}, false, err).size() == 1);
  CHECK(diff_images(*got, *b).empty());
}

TEST_CASE("cut or garbled values are refused, never thrown or crashed on") {
  std::vector<std::string> valid{
      encode_change(CreateTopic{"t", uuid(1), 2, 2, {{1, 2}, {2, 1}}, {{"a", "b"}}}),
      encode_change(SetPartitionStates{uuid(1), {part(0, {1, 2}, 1, 3)}}),
      encode_topic({uuid(2), {{"x", "y"}}, 3}),
      encode_partition(part(0, {1}, 1)),
      encode_broker({1, "h", 1, "r", {{"L", "h:1"}}}),
      encode_quota({{{"user", "u"}}, {{"producer_byte_rate", 1}}}),
      encode_result({ErrorCode::kNone, "m", {}})};
  int refused = 0;
  for (const std::string& text : valid) {
    for (std::size_t n = 0; n < text.size(); ++n) {
      std::string cut = text.substr(0, n);
      std::string flipped = text;
      flipped[n] = flipped[n] == '1' ? '"' : '1';
      for (const std::string& bad : {cut, flipped}) {
        MetadataChange c;
        TopicRecord t;
        PartitionImage p;
        BrokerRegistration b;
        QuotaRecord q;
        ChangeResult r;
        // Each may accept a value that still parses; none may throw.
        refused += decode_change(bad, c) != "";
        refused += decode_topic(bad, t) != "";
        refused += decode_partition(bad, p) != "";
        refused += decode_broker(bad, b) != "";
        refused += decode_quota(bad, q) != "";
        refused += decode_result(bad, r) != "";
      }
    }
  }
  CHECK(refused > 0);
}

TEST_CASE("a deleted registered key forgets a fenced broker, in a revision and a rebuild") {
  ImagePtr image = build_image(P, {broker_kv(3, 10), broker_kv(3, 10, true)});
  // Alive (its session key is there): a lone deletion of the registered
  // key, which the controller never writes, changes nothing.
  CHECK(changes_of_revision(P, *image, {deletion(registered_key(P, 3))}).empty());

  image = apply_all(image, changes_of_revision(P, *image, {deletion(broker_key(P, 3))}));
  REQUIRE(image->broker(3)->fenced);
  auto changes = changes_of_revision(P, *image, {deletion(registered_key(P, 3))});
  REQUIRE(changes.size() == 1);
  CHECK(std::get<UnregisterBroker>(changes[0]).id == 3);
  ImagePtr gone = apply_all(image, changes);
  CHECK(gone->broker(3) == nullptr);

  // A rebuild after a gap: the broker missing from the new image is
  // unregistered, not left fenced.
  changes = diff_images(*image, *build_image(P, {}));
  REQUIRE(changes.size() == 1);
  CHECK(std::get<UnregisterBroker>(changes[0]).id == 3);
  CHECK(apply_all(image, changes)->brokers().empty());
}
