#include "src/interbroker/inter_broker_client.h"

namespace kgw {

InterBrokerClient::InterBrokerClient(uv_loop_t* loop, std::int32_t self, ImageSource image,
                                     BrokerConnectionOptions options)
    : loop_(loop),
      self_(self),
      image_(std::move(image)),
      options_(std::move(options)),
      timers_(loop) {}

InterBrokerClient::~InterBrokerClient() {
  stop();
}

BrokerConnection* InterBrokerClient::connection(std::int32_t node, std::int32_t channel) {
  if (stopped_) return nullptr;
  const ImagePtr image = image_();
  const BrokerImage* b = image ? image->broker(node) : nullptr;
  if (b == nullptr || b->fenced || b->port <= 0) return nullptr;
  const auto key = std::make_pair(node, channel);
  auto it = connections_.find(key);
  if (it == connections_.end()) {
    it = connections_
             .emplace(key, std::make_unique<BrokerConnection>(loop_, b->host, b->port, options_))
             .first;
  } else if (it->second->host() != b->host || it->second->port() != b->port) {
    it->second->set_address(b->host, b->port);
  }
  return it->second.get();
}

void InterBrokerClient::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& [key, c] : connections_) c->close();
  // The connections' own callbacks (kClosed) ran inside close(); their
  // handles are freed by the loop.
  connections_.clear();
  timers_.stop();
}

}  // namespace kgw
