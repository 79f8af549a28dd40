// The table of APIs this broker serves. An API is listed here only when its
// handler is real: ApiVersions advertises exactly this list.
#include <algorithm>
#include <array>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"

namespace kgw {

// Declared here rather than in handlers.h only so that adding it did not
// rebuild every handler on the shared machine; move it there with the next
// change to handlers.h.
void handle_describe_topic_partitions(HandlerContext&, RequestPtr);

namespace {
constexpr std::array kServed = {
    ServedApi{ProduceRequest::api_key, handle_produce},
    ServedApi{FetchRequest::api_key, handle_fetch, 4},
    ServedApi{ListOffsetsRequest::api_key, handle_list_offsets},
    ServedApi{MetadataRequest::api_key, handle_metadata},
    ServedApi{OffsetCommitRequest::api_key, handle_offset_commit},
    ServedApi{OffsetFetchRequest::api_key, handle_offset_fetch},
    ServedApi{FindCoordinatorRequest::api_key, handle_find_coordinator},
    ServedApi{JoinGroupRequest::api_key, handle_join_group},
    ServedApi{HeartbeatRequest::api_key, handle_heartbeat},
    ServedApi{LeaveGroupRequest::api_key, handle_leave_group},
    ServedApi{SyncGroupRequest::api_key, handle_sync_group},
    ServedApi{DescribeGroupsRequest::api_key, handle_describe_groups},
    ServedApi{ListGroupsRequest::api_key, handle_list_groups},
    ServedApi{ApiVersionsRequest::api_key, handle_api_versions},
    ServedApi{CreateTopicsRequest::api_key, handle_create_topics},
    ServedApi{DeleteTopicsRequest::api_key, handle_delete_topics},
    ServedApi{DeleteRecordsRequest::api_key, handle_delete_records},
    ServedApi{InitProducerIdRequest::api_key, handle_init_producer_id},
    ServedApi{OffsetForLeaderEpochRequest::api_key, handle_offset_for_leader_epoch},
    ServedApi{AddPartitionsToTxnRequest::api_key, handle_add_partitions_to_txn},
    ServedApi{AddOffsetsToTxnRequest::api_key, handle_add_offsets_to_txn},
    ServedApi{EndTxnRequest::api_key, handle_end_txn},
    ServedApi{WriteTxnMarkersRequest::api_key, handle_write_txn_markers},
    ServedApi{TxnOffsetCommitRequest::api_key, handle_txn_offset_commit},
    ServedApi{DescribeAclsRequest::api_key, handle_describe_acls},
    ServedApi{CreateAclsRequest::api_key, handle_create_acls},
    ServedApi{DeleteAclsRequest::api_key, handle_delete_acls},
    ServedApi{DescribeConfigsRequest::api_key, handle_describe_configs},
    ServedApi{AlterConfigsRequest::api_key, handle_alter_configs},
    ServedApi{DescribeLogDirsRequest::api_key, handle_describe_log_dirs},
    ServedApi{CreatePartitionsRequest::api_key, handle_create_partitions},
    ServedApi{DeleteGroupsRequest::api_key, handle_delete_groups},
    ServedApi{ElectLeadersRequest::api_key, handle_elect_leaders},
    ServedApi{IncrementalAlterConfigsRequest::api_key, handle_incremental_alter_configs},
    ServedApi{AlterPartitionReassignmentsRequest::api_key, handle_alter_partition_reassignments},
    ServedApi{ListPartitionReassignmentsRequest::api_key, handle_list_partition_reassignments},
    ServedApi{OffsetDeleteRequest::api_key, handle_offset_delete},
    ServedApi{DescribeClientQuotasRequest::api_key, handle_describe_client_quotas},
    ServedApi{AlterClientQuotasRequest::api_key, handle_alter_client_quotas},
    ServedApi{DescribeClusterRequest::api_key, handle_describe_cluster},
    ServedApi{DescribeProducersRequest::api_key, handle_describe_producers},
    ServedApi{UnregisterBrokerRequest::api_key, handle_unregister_broker},
    ServedApi{DescribeTransactionsRequest::api_key, handle_describe_transactions},
    ServedApi{ListTransactionsRequest::api_key, handle_list_transactions},
    ServedApi{DescribeTopicPartitionsRequest::api_key, handle_describe_topic_partitions},
};
static_assert(std::is_sorted(kServed.begin(), kServed.end(),
                             [](const ServedApi& a, const ServedApi& b) {
                               return a.api_key < b.api_key;
                             }));
}  // namespace

std::span<const ServedApi> served_apis() {
  return kServed;
}

std::int16_t served_min_version(const ServedApi& s, std::int16_t schema_min) {
  return std::max(s.min_version, schema_min);
}

const ServedApi* find_served_api(std::int16_t api_key) {
  for (const auto& s : kServed) {
    if (s.api_key == api_key) return &s;
  }
  return nullptr;
}

}  // namespace kgw
