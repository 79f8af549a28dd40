// The partition loop of the group-offsets requests (OffsetCommit,
// TxnOffsetCommit, OffsetDelete): each partition is answered by the
// handler (a guard's error, or UNKNOWN_TOPIC_OR_PARTITION when it does not
// exist) or handed on to the OffsetManager, and the manager's
// per-partition errors are filled back into the response in the order
// they were handed on (PartitionSlots).
//
// Threads: loop thread only. Any broker takes a group's offsets for any
// existing partition (Kafka checks existence, not leadership), so topics
// are looked up through PartitionResolver::topic() and checked with
// exists(), not resolve(). No failure modes of its own: errors beyond the
// slots (or slots beyond the errors) are ignored.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/wire/error_code.h"
#include "src/broker/handler_context.h"
#include "src/group/offset_manager.h"
#include "src/replica/partition_resolver.h"

namespace kgw {

class PartitionSlots {
 public:
  void add(std::size_t topic, std::size_t partition) { at_.emplace_back(topic, partition); }
  bool empty() const { return at_.empty(); }

  // `topics` is the response's topics; each has `partitions` with an
  // `error_code`.
  template <typename Topics>
  void fill(Topics& topics, const std::vector<ErrorCode>& errors) const {
    for (std::size_t i = 0; i < at_.size() && i < errors.size(); ++i) {
      topics[at_[i].first].partitions[at_[i].second].error_code = code(errors[i]);
    }
  }

 private:
  std::vector<std::pair<std::size_t, std::size_t>> at_;
};

// Fills `out` (the response's topics: name, partitions with
// partition_index and error_code) in request order. Each partition gets
// `guard` if it is an error, else UNKNOWN_TOPIC_OR_PARTITION if it does
// not exist, else is handed to take(topic name, request partition) and
// gets a slot. Returns the slots, in the order of the take() calls.
template <typename InTopics, typename OutTopics, typename Take>
PartitionSlots for_each_existing_partition(const PartitionResolver& resolver, const InTopics& in,
                                           OutTopics& out, ErrorCode guard, Take&& take) {
  PartitionSlots slots;
  out.resize(in.size());
  for (std::size_t ti = 0; ti < in.size(); ++ti) {
    const auto& t = in[ti];
    auto& tout = out[ti];
    tout.name = t.name;
    const TopicInfo* topic = resolver.topic(TopicKey::by_name(t.name));
    tout.partitions.resize(t.partitions.size());
    for (std::size_t pi = 0; pi < t.partitions.size(); ++pi) {
      const auto& p = t.partitions[pi];
      auto& pout = tout.partitions[pi];
      pout.partition_index = p.partition_index;
      const ErrorCode e =
          guard != ErrorCode::kNone ? guard : PartitionResolver::exists(topic, p.partition_index);
      if (e != ErrorCode::kNone) {
        pout.error_code = code(e);
        continue;
      }
      take(std::string_view(t.name), p);
      slots.add(ti, pi);
    }
  }
  return slots;
}

// The offset a commit request's partition carries (OffsetCommit's and
// TxnOffsetCommit's share these fields).
CommitPartition commit_partition(std::string_view topic, const auto& p) {
  CommitPartition cp;
  cp.topic = std::string(topic);
  cp.partition = p.partition_index;
  cp.offset = p.committed_offset;
  cp.leader_epoch = p.committed_leader_epoch;
  if (p.committed_metadata) cp.metadata = std::string(*p.committed_metadata);
  return cp;
}

// The OffsetManager's answer to a commit: its errors into the slots, then
// respond. `keep` holds the request's body alive until then.
template <typename Response>
std::function<void(std::vector<ErrorCode>)> answer_commit(HandlerContext& ctx, RequestPtr req,
                                                          std::shared_ptr<const void> keep,
                                                          std::shared_ptr<Response> resp,
                                                          PartitionSlots slots) {
  return [&ctx, req = std::move(req), keep = std::move(keep), resp = std::move(resp),
          slots = std::move(slots)](std::vector<ErrorCode> errors) {
    slots.fill(resp->topics, errors);
    ctx.respond(*req, *resp);
  };
}

}  // namespace kgw
