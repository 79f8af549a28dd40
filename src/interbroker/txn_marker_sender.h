// TxnMarkerSender: the transaction coordinator's markers to other
// brokers, as WriteTxnMarkers requests through the InterBrokerClient
// (the MarkerTransport of src/txn/txn_markers.h).
#pragma once

#include "src/interbroker/inter_broker_client.h"
#include "src/txn/txn_markers.h"

namespace kgw {

class TxnMarkerSender : public MarkerTransport {
 public:
  explicit TxnMarkerSender(InterBrokerClient& client) : client_(client) {}
  void send(std::int32_t node, const TxnMarker& marker,
            std::function<void(std::vector<ErrorCode>)> done) override;

 private:
  InterBrokerClient& client_;
};

}  // namespace kgw
