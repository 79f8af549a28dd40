// WriteTxnMarkers (key 27): a transaction coordinator on another broker
// asks this one, the leader of some of the transaction's partitions, to
// append the COMMIT/ABORT control markers there (Kafka's
// TransactionMarkerChannelManager sends one request per leader). Each
// partition answers on its own: NOT_LEADER_OR_FOLLOWER or
// UNKNOWN_TOPIC_OR_PARTITION from the resolver (the coordinator retries
// from its latest image), KAFKA_STORAGE_ERROR when the append fails.
// A marker for a __consumer_offsets partition is the group coordinator's
// part of a transaction that sent offsets (send_offsets_to_transaction):
// the producer's pending offsets of the groups that partition coordinates
// are committed or dropped here, where TxnOffsetCommit put them (kgw keeps
// group offsets in the store's offsets family, not in that partition's
// log, so no control batch is written there).
//
// TODO(security, issue 18): only brokers may send this (Kafka requires
// CLUSTER_ACTION on the cluster resource); once listeners carry principals,
// refuse it from clients with CLUSTER_AUTHORIZATION_FAILED.
#include <memory>
#include <string>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/pending_call.h"
#include "src/cluster/coordinator_placement.h"
#include "src/group/offset_manager.h"
#include "src/replica/partition_resolver.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

namespace {

using MarkersCall = PendingCall<WriteTxnMarkersRequest, WriteTxnMarkersResponse>;
using PartitionResult = WriteTxnMarkersResponse::WritableTxnMarkerPartitionResult;

ErrorCode stored(const std::string& error) {
  return error.empty() ? ErrorCode::kNone : ErrorCode::kKafkaStorageError;
}

// The producer's pending offsets in the groups `partition` coordinates.
void complete_group_offsets(HandlerContext& ctx, const std::shared_ptr<MarkersCall>& call,
                            PartitionResult& out, const TxnMarker& marker,
                            std::int32_t partitions) {
  for (const auto& g : ctx.offsets().groups_with_txn_offsets(marker.producer_id)) {
    if (coordinator_partition(g, partitions) != out.partition_index) continue;
    ++call->pending;
    ctx.offsets().complete_txn_offsets(g, marker.producer_id, marker.commit,
                                       [&ctx, call, &out](const std::string& e) {
                                         if (!e.empty()) out.error_code = code(stored(e));
                                         finish_one(ctx, *call);
                                       });
  }
}

}  // namespace

void handle_write_txn_markers(HandlerContext& ctx, RequestPtr req) {
  auto call = std::make_shared<MarkersCall>();
  call->req = req;
  if (!ctx.decode(*req, call->body)) return;
  auto& resp = call->resp;
  resp.markers.resize(call->body.markers.size());
  for (std::size_t mi = 0; mi < call->body.markers.size(); ++mi) {
    const auto& in = call->body.markers[mi];
    auto& out = resp.markers[mi];
    out.producer_id = in.producer_id;
    out.topics.resize(in.topics.size());
    TxnMarker marker;
    marker.producer_id = in.producer_id;
    marker.epoch = in.producer_epoch;
    marker.commit = in.transaction_result;
    marker.coordinator_epoch = in.coordinator_epoch;
    for (std::size_t ti = 0; ti < in.topics.size(); ++ti) {
      const auto& tin = in.topics[ti];
      auto& tout = out.topics[ti];
      tout.name = tin.name;
      tout.partitions.resize(tin.partition_indexes.size());
      const TopicKey key = TopicKey::by_name(tin.name);
      const TopicInfo* topic = ctx.resolver().topic(key);
      for (std::size_t pi = 0; pi < tin.partition_indexes.size(); ++pi) {
        PartitionResult& pout = tout.partitions[pi];
        pout.partition_index = tin.partition_indexes[pi];
        const Resolved r = ctx.resolver().resolve(key, topic, pout.partition_index);
        if (!r.ok()) {
          pout.error_code = code(r.error);
          continue;
        }
        if (tin.name == kGroupStateTopic) {
          complete_group_offsets(ctx, call, pout, marker, r.local.topic->partitions);
          continue;
        }
        ++call->pending;
        ctx.txns().markers().append_local(r.local.topic->id, pout.partition_index, marker,
                                          [&ctx, call, &pout](const std::string& e) {
                                            pout.error_code = code(stored(e));
                                            finish_one(ctx, *call);
                                          });
      }
    }
  }
  finish_one(ctx, *call);
}

}  // namespace kgw
