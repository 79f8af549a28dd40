// TxnOffsetCommit (key 28): a group's offsets written inside a transaction;
// they become the committed offsets when it commits. The transaction
// coordinator checks the producer (PRODUCER_FENCED, INVALID_TXN_STATE when
// AddOffsetsToTxn did not come first), the group coordinator the member
// (v3+: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID).
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/offset_manager.h"
#include "src/txn/transaction_coordinator.h"
#include "storage/store.h"

namespace kgw {

void handle_txn_offset_commit(HandlerContext& ctx, RequestPtr req) {
  auto body = std::make_shared<TxnOffsetCommitRequest>();
  if (!ctx.decode(*req, *body)) return;
  auto resp = std::make_shared<TxnOffsetCommitResponse>();
  const ErrorCode txn_error = fenced_for_version(
      ctx.txns().check_offset_commit(std::string(body->transactional_id), body->producer_id,
                                     body->producer_epoch, std::string(body->group_id)),
      req->version(), 2);
  TxnCommitArgs args;
  args.group_id = body->group_id;
  args.producer_id = body->producer_id;
  args.generation_id = body->generation_id;
  args.member_id = body->member_id;
  if (body->group_instance_id) args.group_instance_id = std::string(*body->group_instance_id);
  std::vector<std::pair<std::size_t, std::size_t>> slots;
  for (std::size_t ti = 0; ti < body->topics.size(); ++ti) {
    const auto& t = body->topics[ti];
    auto& tout = resp->topics.emplace_back();
    tout.name = t.name;
    const TopicInfo* topic = ctx.store().find_topic(t.name);
    for (std::size_t pi = 0; pi < t.partitions.size(); ++pi) {
      const auto& p = t.partitions[pi];
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = p.partition_index;
      if (txn_error != ErrorCode::kNone) {
        pout.error_code = code(txn_error);
        continue;
      }
      if (topic == nullptr || p.partition_index < 0 || p.partition_index >= topic->partitions) {
        pout.error_code = code(ErrorCode::kUnknownTopicOrPartition);
        continue;
      }
      CommitPartition cp;
      cp.topic = t.name;
      cp.partition = p.partition_index;
      cp.offset = p.committed_offset;
      cp.leader_epoch = p.committed_leader_epoch;
      if (p.committed_metadata) cp.metadata = std::string(*p.committed_metadata);
      args.partitions.push_back(std::move(cp));
      slots.emplace_back(ti, pi);
    }
  }
  if (args.partitions.empty()) {
    ctx.respond(*req, *resp);
    return;
  }
  ctx.offsets().commit_txn_offsets(
      std::move(args),
      [&ctx, req, body, resp, slots = std::move(slots)](std::vector<ErrorCode> errors) {
        for (std::size_t i = 0; i < slots.size() && i < errors.size(); ++i) {
          resp->topics[slots[i].first].partitions[slots[i].second].error_code = code(errors[i]);
        }
        ctx.respond(*req, *resp);
      });
}

}  // namespace kgw
