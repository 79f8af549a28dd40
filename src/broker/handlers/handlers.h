// One handler per Kafka API, each in its own file named after the API. The
// shape is always: decode -> guard clauses that answer with a Kafka error
// code -> call the store or a domain service -> respond.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "src/broker/handler_context.h"
#include "src/cluster/metadata_change.h"

namespace kgw {

using Handler = void (*)(HandlerContext&, RequestPtr);

struct ServedApi {
  std::int16_t api_key;
  Handler handler;
  // Lowest version served when above our schema's: Fetch before v4 answers
  // only legacy (magic 0/1) message sets, which we do not down-convert
  // (Produce v0-v2's legacy sets are up-converted: legacy_message_set.h).
  std::int16_t min_version = 0;
};

// The APIs this broker answers, sorted by key; ApiVersions advertises
// exactly these, with the version ranges of our schema.
// The version range served for an API: [min, max].
std::int16_t served_min_version(const ServedApi& s, std::int16_t schema_min);
std::span<const ServedApi> served_apis();
const ServedApi* find_served_api(std::int16_t api_key);

void handle_produce(HandlerContext&, RequestPtr);
void handle_fetch(HandlerContext&, RequestPtr);
void handle_list_offsets(HandlerContext&, RequestPtr);
void handle_offset_for_leader_epoch(HandlerContext&, RequestPtr);
void handle_metadata(HandlerContext&, RequestPtr);
void handle_find_coordinator(HandlerContext&, RequestPtr);
void handle_api_versions(HandlerContext&, RequestPtr);
void handle_create_topics(HandlerContext&, RequestPtr);
void handle_delete_topics(HandlerContext&, RequestPtr);
void handle_describe_configs(HandlerContext&, RequestPtr);
void handle_create_partitions(HandlerContext&, RequestPtr);
void handle_describe_cluster(HandlerContext&, RequestPtr);
void handle_describe_topic_partitions(HandlerContext&, RequestPtr);
void handle_delete_records(HandlerContext&, RequestPtr);
void handle_describe_acls(HandlerContext&, RequestPtr);
void handle_create_acls(HandlerContext&, RequestPtr);
void handle_delete_acls(HandlerContext&, RequestPtr);
void handle_alter_configs(HandlerContext&, RequestPtr);
void handle_describe_log_dirs(HandlerContext&, RequestPtr);
void handle_elect_leaders(HandlerContext&, RequestPtr);
void handle_incremental_alter_configs(HandlerContext&, RequestPtr);
void handle_alter_partition_reassignments(HandlerContext&, RequestPtr);
void handle_unregister_broker(HandlerContext&, RequestPtr);
void handle_list_partition_reassignments(HandlerContext&, RequestPtr);
void handle_describe_client_quotas(HandlerContext&, RequestPtr);
void handle_alter_client_quotas(HandlerContext&, RequestPtr);
void handle_join_group(HandlerContext&, RequestPtr);
void handle_sync_group(HandlerContext&, RequestPtr);
void handle_heartbeat(HandlerContext&, RequestPtr);
void handle_leave_group(HandlerContext&, RequestPtr);
void handle_offset_commit(HandlerContext&, RequestPtr);
void handle_offset_fetch(HandlerContext&, RequestPtr);
void handle_describe_groups(HandlerContext&, RequestPtr);
void handle_list_groups(HandlerContext&, RequestPtr);
void handle_delete_groups(HandlerContext&, RequestPtr);
void handle_offset_delete(HandlerContext&, RequestPtr);

void handle_init_producer_id(HandlerContext&, RequestPtr);
void handle_add_partitions_to_txn(HandlerContext&, RequestPtr);
void handle_add_offsets_to_txn(HandlerContext&, RequestPtr);
void handle_end_txn(HandlerContext&, RequestPtr);
void handle_write_txn_markers(HandlerContext&, RequestPtr);
void handle_txn_offset_commit(HandlerContext&, RequestPtr);
void handle_describe_producers(HandlerContext&, RequestPtr);
void handle_describe_transactions(HandlerContext&, RequestPtr);
void handle_list_transactions(HandlerContext&, RequestPtr);

// PRODUCER_FENCED is new in InitProducerId v4 and AddPartitionsToTxn,
// AddOffsetsToTxn, EndTxn, TxnOffsetCommit v2: older clients get
// INVALID_PRODUCER_EPOCH, which they handle the same way (Kafka does this).
ErrorCode fenced_for_version(ErrorCode e, std::int16_t version, std::int16_t first_version);

// Kafka's form of a client's address in group descriptions: "/127.0.0.1".
std::string client_host(const RequestContext& req);

// Where a client reaches `node`: for this node, the advertised address of
// the listener the request came in on (as Kafka answers); for another, its
// registered address. The views point into the broker's identity or into
// `node` (keep the image it came from while the answer is encoded).
struct AdvertisedAddress {
  std::string_view host;
  std::int32_t port = -1;
};
AdvertisedAddress advertised_endpoint(const HandlerContext& ctx, const RequestContext& req,
                                      const BrokerImage& node);

}  // namespace kgw
