// Forwarding of the partitioned requests in proxy mode (issue 17): the
// partitions of a Produce, Fetch, ListOffsets or OffsetForLeaderEpoch
// request that the resolver routed upstream (UpstreamSlot, in request
// order) are split per legacy leader, each group sent to its leader as a request of the same API,
// and the answers merged back into the client's response at the slots' places.
//
// The happy path is: split_by_leader() -> one sub-request per leader
// (select(): the request's own fields, only that leader's partitions, in
// request order) -> sent at the highest version both the legacy broker and
// the client's request allow (BrokerConnection's ApiVersions; the lowest
// is what the client's request needs, e.g. Produce v3 for record batches)
// -> each answered partition copied into its slot, owning its bytes ->
// `done` once every group answered.
//
// Possible failure modes, all answered per partition, never thrown:
//  - no known legacy leader, or its broker is down (connect failed,
//    dropped, closed): NOT_LEADER_OR_FOLLOWER, and the Upstream refreshes
//    its metadata; the client retries after its own Metadata round;
//  - the legacy broker does not answer in time: REQUEST_TIMED_OUT;
//  - no version both sides speak can carry the request:
//    UNSUPPORTED_VERSION;
//  - an answer that does not decode or does not name the partitions asked
//    (in order): UNKNOWN_SERVER_ERROR;
//  - the legacy broker's own errors pass through (a stale leader there
//    also makes the Upstream refresh).
// A topic rolled back after its cutover (Upstream::epoch_floor) is
// forwarded without the client's leader epoch, which is kgw's.
// Legacy node ids and addresses never reach the client: the fields that
// would carry them (KIP-951 current leaders, KIP-392 preferred replicas)
// are cleared.
//
// Threads: the loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/wire/error_code.h"
#include "src/interbroker/broker_connection.h"
#include "src/replica/partition_resolver.h"

namespace kgw {

class Upstream;
struct ProduceRequest;
struct ProduceResponse;
struct FetchRequest;
struct FetchResponse;
struct ListOffsetsRequest;
struct ListOffsetsResponse;
struct OffsetForLeaderEpochRequest;
struct OffsetForLeaderEpochResponse;

// The slots grouped by legacy leader (`leader(slot)`, -1: none known),
// each group in the order given. Pure.
std::map<std::int32_t, std::vector<UpstreamSlot>> split_by_leader(
    const std::vector<UpstreamSlot>& slots,
    const std::function<std::int32_t(const UpstreamSlot&)>& leader);

// A request's topics reduced to the partitions at `slots` (in order; a
// topic's fields are copied, its partitions only those named). Pure.
template <typename Topics, typename PartitionsOf>
Topics select(const Topics& in, const std::vector<UpstreamSlot>& slots, PartitionsOf&& parts) {
  Topics out;
  std::size_t last = static_cast<std::size_t>(-1);
  for (const UpstreamSlot& s : slots) {
    if (out.empty() || s.ti != last) {
      auto t = in[s.ti];
      parts(t).clear();
      out.push_back(std::move(t));
      last = s.ti;
    }
    parts(out.back()).push_back(parts(in[s.ti])[s.pi]);
  }
  return out;
}

// The Kafka error a partition gets when its call to the legacy broker
// failed.
ErrorCode forward_error(CallError e);

// kgw's own ListOffsets for the LATEST offset (the high watermark, or the
// last stable offset with isolation 1) of `partitions` of `topic`, as the
// cutover and the rollback ask a legacy leader. Views `topic`.
ListOffsetsRequest latest_offsets_request(std::string_view topic,
                                          const std::vector<std::int32_t>& partitions,
                                          std::int8_t isolation);

// Storage the merged answers point into: it lives in the handler's call,
// as long as the response.
struct ForwardStorage {
  std::deque<std::string> strings;
  std::deque<std::vector<std::uint8_t>> bytes;
};

// Each forwards `req`'s partitions at `slots` (from for_each_partition's
// upstream list) and fills the same places of `resp`; `done` runs once,
// on a later loop turn, when all are in. `keep` holds `req` (and the frame
// its views point into), `resp` and `storage` alive until then.
// `client_version` is the version the client sent.
void forward_produce(Upstream& upstream, std::shared_ptr<void> keep, const ProduceRequest& req,
                     std::int16_t client_version, const std::vector<UpstreamSlot>& slots,
                     ProduceResponse& resp, ForwardStorage& storage, std::function<void()> done);
void forward_fetch(Upstream& upstream, std::shared_ptr<void> keep, const FetchRequest& req,
                   std::int16_t client_version, const std::vector<UpstreamSlot>& slots,
                   FetchResponse& resp, ForwardStorage& storage, std::function<void()> done);
void forward_list_offsets(Upstream& upstream, std::shared_ptr<void> keep,
                          const ListOffsetsRequest& req, std::int16_t client_version,
                          const std::vector<UpstreamSlot>& slots, ListOffsetsResponse& resp,
                          ForwardStorage& storage, std::function<void()> done);
void forward_offset_for_leader_epoch(Upstream& upstream, std::shared_ptr<void> keep,
                                     const OffsetForLeaderEpochRequest& req,
                                     std::int16_t client_version,
                                     const std::vector<UpstreamSlot>& slots,
                                     OffsetForLeaderEpochResponse& resp, ForwardStorage& storage,
                                     std::function<void()> done);

}  // namespace kgw
