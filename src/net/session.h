// Session: what kgw knows of one client connection beyond its bytes: the
// listener it came in on (name and security protocol), the peer's address,
// and who the client is (principal, SASL progress; the TLS state comes with
// the security work).
//
// It lives in `net` because the connection makes it when it accepts the
// socket (the listener and peer are known there) and TLS will sit in the
// connection between the socket and the framing. The broker reads it
// before any handler runs (admit(), src/broker/admission.h) and the SASL
// handlers will move it to authenticated.
//
// Threads: the loop thread only. A Connection owns it through a
// shared_ptr and every request frame shares it, so a request that waits
// for storage after its connection closed still finds it. Failure modes:
// none of its own; a session outlives its connection harmlessly.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "src/net/listener.h"

namespace kgw {

// Kafka's principal for a connection nobody authenticated (a PLAINTEXT
// listener, or SSL without a client certificate).
inline constexpr const char* kAnonymousPrincipal = "User:ANONYMOUS";

// How far SASL has got on this connection. kNotUsed on PLAINTEXT and SSL
// listeners; a SASL_* listener starts at kHandshake.
enum class SaslState : std::uint8_t { kNotUsed, kHandshake, kAuthenticate, kAuthenticated };

// The TLS engine of one connection (memory BIOs); defined by the security
// work, absent (null) until then.
struct TlsSession;

// An idempotent producer's batch that a Produce request on this connection
// had refused, unwritten, with a retriable error: the lowest base sequence
// of its epoch refused since the last batch written (see
// src/broker/handlers/produce.cc, "pipelined successors").
struct RefusedBatch {
  std::int16_t epoch = -1;
  std::int32_t base_sequence = 0;
  std::int16_t error = 0;
  std::uint64_t at_ms = 0;  // loop time of the latest refusal
};

struct Session {
  std::string listener = "PLAINTEXT";  // the listener's name
  SecurityProtocol protocol = SecurityProtocol::kPlaintext;
  std::string peer = "unknown peer";  // "ip:port", brackets around IPv6
  std::string principal = kAnonymousPrincipal;
  SaslState sasl = SaslState::kNotUsed;
  std::shared_ptr<TlsSession> tls;
  // (topic, partition, producer id) -> its refused batch; bounded by
  // the Produce handler.
  std::map<std::tuple<std::string, std::int32_t, std::int64_t>, RefusedBatch> refused_batches;

  // A session for a connection accepted on `l`, SASL not yet begun where
  // the listener asks for it.
  static Session on_listener(const ListenerConfig& l) {
    Session s;
    s.listener = l.name;
    s.protocol = l.protocol;
    if (l.protocol == SecurityProtocol::kSaslPlaintext ||
        l.protocol == SecurityProtocol::kSaslSsl) {
      s.sasl = SaslState::kHandshake;
    }
    return s;
  }
  // Requests other than the SASL ones may be served.
  bool authenticated() const {
    return sasl == SaslState::kNotUsed || sasl == SaslState::kAuthenticated;
  }
};

}  // namespace kgw
