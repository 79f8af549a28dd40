// InterBrokerClient: this broker's calls to the other brokers of the
// cluster. One BrokerConnection per peer, made on first use, addressed
// from the latest metadata image (the broker's registered host and port),
// and moved when the broker re-registers elsewhere.
//
// The happy path is: call(node, request, done) finds the node in the
// image, takes (or makes) its connection and hands the call to it; the
// answer comes back through `done`. A caller that must not queue behind
// the others' calls (a replica fetcher's long poll) names its own channel:
// each (node, channel) is a connection of its own, as each of Kafka's
// replica fetcher threads has its own NetworkClient.
//
// Possible failure modes are: the node is not in the image or is fenced
// (kUnknownBroker, answered on a later loop turn, never inside call()),
// and every failure of BrokerConnection (not connected, dropped, timed
// out, no common version), which the caller sees as a CallError and
// decides whether to retry. stop() fails every call with kClosed.
// Everything runs on the loop thread.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "common/timer_queue.h"
#include "src/cluster/metadata_image.h"
#include "src/interbroker/broker_connection.h"

namespace kgw {

class InterBrokerClient {
 public:
  using ImageSource = std::function<ImagePtr()>;
  InterBrokerClient(uv_loop_t* loop, std::int32_t self, ImageSource image,
                    BrokerConnectionOptions options = {});
  ~InterBrokerClient();
  InterBrokerClient(const InterBrokerClient&) = delete;
  InterBrokerClient& operator=(const InterBrokerClient&) = delete;

  template <typename Req, typename Resp>
  void call(std::int32_t node, const Req& req, std::function<void(CallError, const Resp&)> done,
            std::int16_t max_version = Req::max_version) {
    call_on<Req, Resp>(node, 0, req, std::move(done), max_version);
  }
  // The same on connection `channel` (0 is the one call() uses).
  template <typename Req, typename Resp>
  void call_on(std::int32_t node, std::int32_t channel, const Req& req,
               std::function<void(CallError, const Resp&)> done,
               std::int16_t max_version = Req::max_version) {
    BrokerConnection* c = connection(node, channel);
    if (c == nullptr) {
      timers_.schedule(0, [done = std::move(done)] { done(CallError::kUnknownBroker, Resp{}); });
      return;
    }
    c->call<Req, Resp>(req, std::move(done), max_version);
  }

  std::int32_t self() const { return self_; }
  // Closes every connection (their calls get kClosed); later calls get
  // kClosed too.
  void stop();

 private:
  // nullptr: no live broker `node` in the image (or stopped).
  BrokerConnection* connection(std::int32_t node, std::int32_t channel);

  uv_loop_t* loop_;
  std::int32_t self_;
  ImageSource image_;
  BrokerConnectionOptions options_;
  TimerQueue timers_;
  // By (node, channel).
  std::map<std::pair<std::int32_t, std::int32_t>, std::unique_ptr<BrokerConnection>> connections_;
  bool stopped_ = false;
};

}  // namespace kgw
