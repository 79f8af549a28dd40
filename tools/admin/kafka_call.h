// KafkaCall: one blocking Kafka request and its answer over a plain TCP
// connection, encoded with kgw's own protocol library. kgw-admin talks
// through librdkafka everywhere else; this is for answers librdkafka 2.0's
// API does not expose (DescribeCluster's racks).
//
// Thread: the caller's; every call blocks up to the timeout given. Happy
// path: connect() to the first bootstrap address that accepts, call()
// sends the request with a fresh correlation id, reads one size-prefixed
// frame and decodes it. Failure modes (one line in `error`, naming the
// address): no address accepts, the peer closes or times out (a TLS or SASL
// listener, a broker that does not know the API), the answer does not
// decode or carries another correlation id.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/wire/headers.h"
#include "protocol/wire/reader.h"
#include "protocol/wire/writer.h"

namespace kgw::admin {

class KafkaCall {
 public:
  KafkaCall() = default;
  ~KafkaCall();
  KafkaCall(const KafkaCall&) = delete;
  KafkaCall& operator=(const KafkaCall&) = delete;

  // bootstrap: HOST:PORT[,...], tried in order.
  bool connect(const std::string& bootstrap, int timeout_ms, std::string& error);
  // The HOST:PORT connected to.
  const std::string& address() const { return address_; }

  // Sends `req` at `version` and decodes the answer into `resp` (a
  // default-constructed value). Its strings are views into this object's
  // buffer: valid until the next call.
  template <typename Req, typename Resp>
  bool call(const Req& req, std::int16_t version, Resp& resp, std::string& error) {
    std::vector<std::uint8_t> out;
    Writer w(out);
    w.i32(0);
    RequestHeader h;
    h.api_key = Req::api_key;
    h.api_version = version;
    h.correlation_id = ++correlation_id_;
    h.client_id = "kgw-admin";
    h.encode(w, request_header_version(Req::api_key, version));
    req.encode(w, version);
    w.patch_i32(0, static_cast<std::int32_t>(out.size() - 4));
    if (!exchange(out, error)) return false;
    Reader r{Bytes(in_)};
    ResponseHeader rh;
    if (!rh.decode(r, response_header_version(Req::api_key, version)) || !resp.decode(r, version)) {
      error = address_ + ": cannot decode the " + Req::api_name + " v" + std::to_string(version) +
              " answer (" + decode_error_name(r.error()) + ")";
      return false;
    }
    if (rh.correlation_id != correlation_id_) {
      error = address_ + ": answer carries correlation id " + std::to_string(rh.correlation_id) +
              ", expected " + std::to_string(correlation_id_);
      return false;
    }
    return true;
  }

 private:
  // Writes `frame`, reads one answer frame into in_.
  bool exchange(const std::vector<std::uint8_t>& frame, std::string& error);

  int fd_ = -1;
  int timeout_ms_ = 10000;
  std::int32_t correlation_id_ = 0;
  std::string address_;
  std::vector<std::uint8_t> in_;
};

}  // namespace kgw::admin
