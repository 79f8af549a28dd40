// Admission: the one rule dispatch asks before any handler runs, "may
// this session send this API now?", so per-listener rules and SASL's
// "nothing before authentication" live in one place.
//
// The happy path is: a PLAINTEXT (or SSL) listener's session is admitted
// for every API. A SASL_* listener's session, until authenticated, is
// admitted only for ApiVersions, SaslHandshake and SaslAuthenticate, as
// Kafka; anything else gets a reason and the connection is closed (Kafka
// closes it too). No SASL listener can be configured yet (they are refused
// at start, src/net/listener.h), so today every request is admitted.
// Threads: any; it reads the session only. No failure modes of its own.
#pragma once

#include <cstdint>
#include <string>

#include "src/net/session.h"

namespace kgw {

// "" when `session` may send `api_key` now; otherwise the reason to close
// the connection, for the log line.
std::string admit(const Session& session, std::int16_t api_key);

}  // namespace kgw
