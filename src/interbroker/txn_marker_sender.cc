#include "src/interbroker/txn_marker_sender.h"

#include <map>
#include <string>

#include "protocol/schema/write_txn_markers.h"

namespace kgw {

void TxnMarkerSender::send(std::int32_t node, const TxnMarker& marker,
                           std::function<void(std::vector<ErrorCode>)> done) {
  // The request's strings are views: the marker's partitions (copied into
  // the callback) keep them alive until the answer.
  auto parts =
      std::make_shared<std::vector<std::pair<std::string, std::int32_t>>>(marker.partitions);
  WriteTxnMarkersRequest req;
  WriteTxnMarkersRequest::WritableTxnMarker m;
  m.producer_id = marker.producer_id;
  m.producer_epoch = marker.epoch;
  m.transaction_result = marker.commit;
  m.coordinator_epoch = marker.coordinator_epoch;
  std::map<std::string_view, std::size_t> topic_at;
  for (const auto& [topic, partition] : *parts) {
    auto [it, added] = topic_at.emplace(topic, m.topics.size());
    if (added) {
      m.topics.emplace_back();
      m.topics.back().name = topic;
    }
    m.topics[it->second].partition_indexes.push_back(partition);
  }
  req.markers.push_back(std::move(m));
  client_.call<WriteTxnMarkersRequest, WriteTxnMarkersResponse>(
      node, req,
      [parts, pid = marker.producer_id, done = std::move(done)](CallError e,
                                                                const WriteTxnMarkersResponse& r) {
        std::vector<ErrorCode> errors(parts->size(), e == CallError::kTimedOut
                                                         ? ErrorCode::kRequestTimedOut
                                                         : ErrorCode::kNetworkException);
        if (e == CallError::kNone) {
          // An answer that leaves a partition out leaves it failed (retried).
          std::map<std::pair<std::string_view, std::int32_t>, ErrorCode> got;
          for (const auto& mr : r.markers) {
            if (mr.producer_id != pid) continue;
            for (const auto& t : mr.topics) {
              for (const auto& p : t.partitions) {
                got[{t.name, p.partition_index}] = static_cast<ErrorCode>(p.error_code);
              }
            }
          }
          for (std::size_t i = 0; i < parts->size(); ++i) {
            auto it = got.find({(*parts)[i].first, (*parts)[i].second});
            if (it != got.end()) errors[i] = it->second;
          }
        }
        done(std::move(errors));
      });
}

}  // namespace kgw
