// The CreateTopics, Produce, Fetch and ListOffsets handlers through
// Broker::on_frame, without sockets (handler_fixture.h): each case sends
// requests encoded with the generated types and checks the decoded answers
// field by field, as a Kafka client would read them.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "all_messages.h"
#include "common/clock.h"
#include "protocol/records/record_batch.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/wire/error_code.h"
#include "tests/broker/handler_fixture.h"

namespace kgw {
namespace {

using test::HandlerFixture;

constexpr std::int16_t kCreateTopicsVersion = 7;
constexpr std::int16_t kProduceVersion = 9;
constexpr std::int16_t kFetchByNameVersion = 12;
constexpr std::int16_t kFetchByIdVersion = 13;
constexpr std::int16_t kListOffsetsVersion = 7;

CreateTopicsRequest create_request(std::string_view name, std::int32_t partitions,
                                   bool validate_only = false) {
  CreateTopicsRequest req;
  auto& t = req.topics.emplace_back();
  t.name = name;
  t.num_partitions = partitions;
  t.replication_factor = 1;
  req.validate_only = validate_only;
  return req;
}

// Creates `name` and returns its id.
Uuid create(HandlerFixture& f, std::string_view name, std::int32_t partitions) {
  auto resp = f.call<CreateTopicsResponse>(create_request(name, partitions), kCreateTopicsVersion);
  REQUIRE(resp.topics.size() == 1);
  REQUIRE(resp.topics[0].error_code == code(ErrorCode::kNone));
  return resp.topics[0].topic_id;
}

std::vector<std::uint8_t> make_batch(int records) {
  RecordBatchBuilder b(RecordBatchOptions{});
  const std::string value = "value";
  for (int i = 0; i < records; ++i) {
    REQUIRE(b.add(wall_ms(), std::nullopt, Bytes(std::string_view(value))) == RecordError::kNone);
  }
  std::vector<std::uint8_t> out;
  REQUIRE(b.build(out) == RecordError::kNone);
  return out;
}

// One batch for one partition; `batch` must outlive the send.
ProduceRequest produce_request(std::string_view topic, std::int32_t partition,
                               const std::vector<std::uint8_t>& batch, std::int16_t acks = 1) {
  ProduceRequest req;
  req.acks = acks;
  req.timeout_ms = 30000;
  auto& t = req.topic_data.emplace_back();
  t.name = topic;
  auto& p = t.partition_data.emplace_back();
  p.index = partition;
  p.records = Bytes(batch);
  return req;
}

// The one partition answer of a one-partition produce.
ProduceResponse::PartitionProduceResponse produce(HandlerFixture& f, std::string_view topic,
                                                  std::int32_t partition, int records,
                                                  std::int16_t acks = 1) {
  const auto batch = make_batch(records);
  auto resp =
      f.call<ProduceResponse>(produce_request(topic, partition, batch, acks), kProduceVersion);
  REQUIRE(resp.responses.size() == 1);
  CHECK(resp.responses[0].name == topic);
  REQUIRE(resp.responses[0].partition_responses.size() == 1);
  CHECK(resp.responses[0].partition_responses[0].index == partition);
  return resp.responses[0].partition_responses[0];
}

FetchRequest fetch_request(std::int64_t offset) {
  FetchRequest req;
  req.max_wait_ms = 0;
  req.min_bytes = 1;
  req.max_bytes = 1 << 20;
  req.session_epoch = -1;
  auto& p = req.topics.emplace_back().partitions.emplace_back();
  p.partition = 0;
  p.fetch_offset = offset;
  p.partition_max_bytes = 1 << 20;
  return req;
}

ListOffsetsRequest list_offsets_request(std::string_view topic,
                                        const std::vector<std::int64_t>& timestamps) {
  ListOffsetsRequest req;
  req.replica_id = -1;
  auto& t = req.topics.emplace_back();
  t.name = topic;
  for (std::int64_t ts : timestamps) {
    auto& p = t.partitions.emplace_back();
    p.partition_index = 0;
    p.timestamp = ts;
  }
  return req;
}

TEST_CASE("CreateTopics creates a topic once and checks the request") {
  HandlerFixture f;

  auto resp = f.call<CreateTopicsResponse>(create_request("orders", 3), kCreateTopicsVersion);
  REQUIRE(resp.topics.size() == 1);
  const auto& created = resp.topics[0];
  CHECK(created.name == "orders");
  CHECK(created.error_code == code(ErrorCode::kNone));
  CHECK(created.num_partitions == 3);
  CHECK(created.replication_factor == 1);
  CHECK_FALSE(created.topic_id.is_zero());
  REQUIRE(f.store->find_topic("orders") != nullptr);
  CHECK(f.store->find_topic("orders")->id == created.topic_id);

  SUBCASE("a second create answers TOPIC_ALREADY_EXISTS") {
    auto again = f.call<CreateTopicsResponse>(create_request("orders", 3), kCreateTopicsVersion);
    REQUIRE(again.topics.size() == 1);
    CHECK(again.topics[0].name == "orders");
    CHECK(again.topics[0].error_code == code(ErrorCode::kTopicAlreadyExists));
    CHECK(f.store->find_topic("orders")->partitions == 3);
  }
  SUBCASE("0 partitions answers INVALID_PARTITIONS and creates nothing") {
    auto zero = f.call<CreateTopicsResponse>(create_request("empty", 0), kCreateTopicsVersion);
    REQUIRE(zero.topics.size() == 1);
    CHECK(zero.topics[0].name == "empty");
    CHECK(zero.topics[0].error_code == code(ErrorCode::kInvalidPartitions));
    CHECK(f.store->find_topic("empty") == nullptr);
    CHECK(f.metadata->image()->topic("empty") == nullptr);
  }
  SUBCASE("validate_only answers as a create would and creates nothing") {
    auto dry = f.call<CreateTopicsResponse>(create_request("dry", 2, true), kCreateTopicsVersion);
    REQUIRE(dry.topics.size() == 1);
    CHECK(dry.topics[0].name == "dry");
    CHECK(dry.topics[0].error_code == code(ErrorCode::kNone));
    CHECK(dry.topics[0].num_partitions == 2);
    CHECK(f.store->find_topic("dry") == nullptr);
    CHECK(f.metadata->image()->topic("dry") == nullptr);
  }
}

TEST_CASE("Produce appends batches and answers per partition") {
  HandlerFixture f;
  create(f, "events", 1);

  SUBCASE("acks=1: the first batch at offset 0, the next after it") {
    auto first = produce(f, "events", 0, 3);
    CHECK(first.error_code == code(ErrorCode::kNone));
    CHECK(first.base_offset == 0);
    CHECK(first.log_start_offset == 0);
    auto second = produce(f, "events", 0, 2);
    CHECK(second.error_code == code(ErrorCode::kNone));
    CHECK(second.base_offset == 3);
  }
  SUBCASE("an unknown topic answers UNKNOWN_TOPIC_OR_PARTITION") {
    auto p = produce(f, "nowhere", 0, 1);
    CHECK(p.error_code == code(ErrorCode::kUnknownTopicOrPartition));
    CHECK(p.base_offset == -1);
    auto q = produce(f, "events", 7, 1);
    CHECK(q.error_code == code(ErrorCode::kUnknownTopicOrPartition));
  }
  SUBCASE("acks=0: no response, the request is skipped, the batch is written") {
    const auto batch = make_batch(2);
    const std::uint64_t seq =
        f.send(produce_request("events", 0, batch, /*acks=*/0), kProduceVersion);
    f.run_until([&] { return f.responder.skipped.count(seq) != 0; });
    CHECK(f.responder.responses.count(seq) == 0);
    CHECK(f.responder.closed.empty());
    // It was appended: the next acks=1 batch comes after it.
    auto next = produce(f, "events", 0, 1);
    CHECK(next.error_code == code(ErrorCode::kNone));
    CHECK(next.base_offset == 2);
  }
  SUBCASE("acks=2 answers INVALID_REQUIRED_ACKS and writes nothing") {
    auto p = produce(f, "events", 0, 1, /*acks=*/2);
    CHECK(p.error_code == code(ErrorCode::kInvalidRequiredAcks));
    auto next = produce(f, "events", 0, 1);
    CHECK(next.base_offset == 0);
  }
}

TEST_CASE("Fetch returns what was produced, with the high watermark") {
  HandlerFixture f;
  const Uuid id = create(f, "logs", 1);
  REQUIRE(produce(f, "logs", 0, 3).error_code == code(ErrorCode::kNone));
  REQUIRE(produce(f, "logs", 0, 2).error_code == code(ErrorCode::kNone));

  SUBCASE("by name (v12): both batches, high watermark 5") {
    auto req = fetch_request(0);
    req.topics[0].topic = "logs";
    const std::uint64_t seq = f.send(req, kFetchByNameVersion);
    auto resp = f.answer<FetchResponse>(seq, kFetchByNameVersion);
    CHECK(resp.error_code == code(ErrorCode::kNone));
    // The response's bytes were reserved on the connection while it was made.
    CHECK(f.responder.reserved.count(seq) == 1);
    REQUIRE(resp.responses.size() == 1);
    CHECK(resp.responses[0].topic == "logs");
    REQUIRE(resp.responses[0].partitions.size() == 1);
    const auto& p = resp.responses[0].partitions[0];
    CHECK(p.partition_index == 0);
    CHECK(p.error_code == code(ErrorCode::kNone));
    CHECK(p.high_watermark == 5);
    CHECK(p.log_start_offset == 0);
    REQUIRE(p.records.has_value());
    std::vector<Bytes> batches;
    REQUIRE(split_record_batches(*p.records, batches) == RecordError::kNone);
    REQUIRE(batches.size() == 2);
    RecordBatchHeader h;
    REQUIRE(parse_record_batch_header(batches[0], h) == RecordError::kNone);
    CHECK(h.base_offset == 0);
    CHECK(h.record_count == 3);
    REQUIRE(parse_record_batch_header(batches[1], h) == RecordError::kNone);
    CHECK(h.base_offset == 3);
    CHECK(h.record_count == 2);
  }
  SUBCASE("by id (v13): from offset 3, the second batch") {
    auto req = fetch_request(3);
    req.topics[0].topic_id = id;
    auto resp = f.call<FetchResponse>(req, kFetchByIdVersion);
    REQUIRE(resp.responses.size() == 1);
    CHECK(resp.responses[0].topic_id == id);
    REQUIRE(resp.responses[0].partitions.size() == 1);
    const auto& p = resp.responses[0].partitions[0];
    CHECK(p.error_code == code(ErrorCode::kNone));
    CHECK(p.high_watermark == 5);
    REQUIRE(p.records.has_value());
    RecordBatchHeader h;
    REQUIRE(parse_record_batch_header(*p.records, h) == RecordError::kNone);
    CHECK(h.base_offset == 3);
    CHECK(h.record_count == 2);
  }
  SUBCASE("an offset past the high watermark answers OFFSET_OUT_OF_RANGE") {
    auto req = fetch_request(6);
    req.topics[0].topic = "logs";
    auto resp = f.call<FetchResponse>(req, kFetchByNameVersion);
    REQUIRE(resp.responses.size() == 1);
    REQUIRE(resp.responses[0].partitions.size() == 1);
    const auto& p = resp.responses[0].partitions[0];
    CHECK(p.error_code == code(ErrorCode::kOffsetOutOfRange));
    CHECK(p.high_watermark == 5);
    CHECK((!p.records || p.records->empty()));
  }
  SUBCASE("an unknown topic id (v13) answers UNKNOWN_TOPIC_ID") {
    Uuid unknown;
    unknown.bytes[0] = 0x42;
    unknown.bytes[15] = 0x17;
    REQUIRE(unknown != id);
    auto req = fetch_request(0);
    req.topics[0].topic_id = unknown;
    auto resp = f.call<FetchResponse>(req, kFetchByIdVersion);
    REQUIRE(resp.responses.size() == 1);
    CHECK(resp.responses[0].topic_id == unknown);
    REQUIRE(resp.responses[0].partitions.size() == 1);
    CHECK(resp.responses[0].partitions[0].error_code == code(ErrorCode::kUnknownTopicId));
  }
}

TEST_CASE("ListOffsets answers earliest and latest, and refuses a partition asked twice") {
  HandlerFixture f;
  create(f, "metrics", 1);

  SUBCASE("before any produce, earliest and latest are 0") {
    auto resp =
        f.call<ListOffsetsResponse>(list_offsets_request("metrics", {-2}), kListOffsetsVersion);
    REQUIRE(resp.topics.size() == 1);
    REQUIRE(resp.topics[0].partitions.size() == 1);
    CHECK(resp.topics[0].partitions[0].error_code == code(ErrorCode::kNone));
    CHECK(resp.topics[0].partitions[0].offset == 0);
    auto latest =
        f.call<ListOffsetsResponse>(list_offsets_request("metrics", {-1}), kListOffsetsVersion);
    REQUIRE(latest.topics.size() == 1);
    REQUIRE(latest.topics[0].partitions.size() == 1);
    CHECK(latest.topics[0].partitions[0].offset == 0);
  }
  SUBCASE("after producing 4 records, earliest -2 is 0 and latest -1 is 4") {
    REQUIRE(produce(f, "metrics", 0, 4).error_code == code(ErrorCode::kNone));
    auto earliest =
        f.call<ListOffsetsResponse>(list_offsets_request("metrics", {-2}), kListOffsetsVersion);
    REQUIRE(earliest.topics.size() == 1);
    CHECK(earliest.topics[0].name == "metrics");
    REQUIRE(earliest.topics[0].partitions.size() == 1);
    const auto& e = earliest.topics[0].partitions[0];
    CHECK(e.partition_index == 0);
    CHECK(e.error_code == code(ErrorCode::kNone));
    CHECK(e.offset == 0);
    CHECK(e.timestamp == -1);
    CHECK(e.leader_epoch == 0);
    auto latest =
        f.call<ListOffsetsResponse>(list_offsets_request("metrics", {-1}), kListOffsetsVersion);
    REQUIRE(latest.topics.size() == 1);
    REQUIRE(latest.topics[0].partitions.size() == 1);
    const auto& l = latest.topics[0].partitions[0];
    CHECK(l.error_code == code(ErrorCode::kNone));
    CHECK(l.offset == 4);
    CHECK(l.leader_epoch == 0);
  }
  SUBCASE("the same partition twice answers INVALID_REQUEST for the repeat") {
    auto resp =
        f.call<ListOffsetsResponse>(list_offsets_request("metrics", {-1, -2}), kListOffsetsVersion);
    REQUIRE(resp.topics.size() == 1);
    REQUIRE(resp.topics[0].partitions.size() == 2);
    CHECK(resp.topics[0].partitions[0].error_code == code(ErrorCode::kNone));
    CHECK(resp.topics[0].partitions[1].error_code == code(ErrorCode::kInvalidRequest));
  }
  SUBCASE("an unknown topic answers UNKNOWN_TOPIC_OR_PARTITION") {
    auto resp =
        f.call<ListOffsetsResponse>(list_offsets_request("absent", {-1}), kListOffsetsVersion);
    REQUIRE(resp.topics.size() == 1);
    REQUIRE(resp.topics[0].partitions.size() == 1);
    CHECK(resp.topics[0].partitions[0].error_code == code(ErrorCode::kUnknownTopicOrPartition));
  }
}

TEST_CASE("ElectLeaders on one node: never needed, unknown partitions named, all lists topics") {
  HandlerFixture f;
  create(f, "lead", 2);
  ElectLeadersRequest req;
  req.election_type = 0;
  auto& t = req.topic_partitions->emplace_back();
  t.topic = "lead";
  t.partitions = {0, 1, 9};
  auto& absent = req.topic_partitions->emplace_back();
  absent.topic = "absent";
  absent.partitions = {0};

  for (std::int8_t type : {0, 1}) {
    CAPTURE(type);
    req.election_type = type;
    auto resp = f.call<ElectLeadersResponse>(req, 2);
    CHECK(resp.error_code == 0);
    REQUIRE(resp.replica_election_results.size() == 2);
    const auto& lead = resp.replica_election_results[0];
    CHECK(lead.topic == "lead");
    REQUIRE(lead.partition_result.size() == 3);
    CHECK(lead.partition_result[0].error_code == code(ErrorCode::kElectionNotNeeded));
    CHECK(lead.partition_result[1].partition_id == 1);
    CHECK(lead.partition_result[1].error_code == code(ErrorCode::kElectionNotNeeded));
    CHECK(lead.partition_result[2].error_code == code(ErrorCode::kUnknownTopicOrPartition));
    REQUIRE(resp.replica_election_results[1].partition_result.size() == 1);
    CHECK(resp.replica_election_results[1].partition_result[0].error_code ==
          code(ErrorCode::kUnknownTopicOrPartition));
  }

  SUBCASE("all partitions (null): each topic listed, none needing an election") {
    ElectLeadersRequest all;
    all.topic_partitions.reset();
    auto resp = f.call<ElectLeadersResponse>(all, 1);
    CHECK(resp.error_code == 0);
    REQUIRE(resp.replica_election_results.size() == 1);
    CHECK(resp.replica_election_results[0].topic == "lead");
    CHECK(resp.replica_election_results[0].partition_result.empty());
  }
  SUBCASE("an unknown election type is INVALID_REQUEST") {
    req.election_type = 2;
    auto resp = f.call<ElectLeadersResponse>(req, 1);
    CHECK(resp.error_code == code(ErrorCode::kInvalidRequest));
    CHECK(resp.replica_election_results.empty());
  }
}

}  // namespace
}  // namespace kgw
