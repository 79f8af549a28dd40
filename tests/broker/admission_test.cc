// Tests for admit(): the rule dispatch asks before any handler.
#include "src/broker/admission.h"

#include <doctest/doctest.h>

#include "all_messages.h"

using kgw::admit;
using kgw::Session;

namespace {

Session on(kgw::SecurityProtocol protocol, const char* name) {
  kgw::ListenerConfig l;
  l.name = name;
  l.protocol = protocol;
  return Session::on_listener(l);
}

}  // namespace

TEST_CASE("admit: a PLAINTEXT listener admits every API, as today") {
  const Session s = on(kgw::SecurityProtocol::kPlaintext, "PLAINTEXT");
  for (std::int16_t key = 0; key < 100; ++key) CHECK(admit(s, key) == "");
  CHECK(admit(Session{}, kgw::ProduceRequest::api_key) == "");
}

TEST_CASE("admit: before SASL authentication only ApiVersions and the SASL APIs") {
  Session s = on(kgw::SecurityProtocol::kSaslPlaintext, "EXTERNAL");
  CHECK(admit(s, kgw::ApiVersionsRequest::api_key) == "");
  CHECK(admit(s, kgw::SaslHandshakeRequest::api_key) == "");
  CHECK(admit(s, kgw::SaslAuthenticateRequest::api_key) == "");
  CHECK(admit(s, kgw::MetadataRequest::api_key) ==
        "api key 3 before SASL authentication on listener EXTERNAL");
  CHECK(admit(s, kgw::ProduceRequest::api_key) != "");
  CHECK(admit(s, kgw::FetchRequest::api_key) != "");

  s.sasl = kgw::SaslState::kAuthenticate;  // handshake done, not yet authenticated
  CHECK(admit(s, kgw::FetchRequest::api_key) != "");
  s.sasl = kgw::SaslState::kAuthenticated;
  s.principal = "User:alice";
  CHECK(admit(s, kgw::ProduceRequest::api_key) == "");
  CHECK(admit(s, kgw::MetadataRequest::api_key) == "");
}

TEST_CASE("admit: an SSL listener without SASL admits every API") {
  const Session s = on(kgw::SecurityProtocol::kSsl, "SSL");
  CHECK(admit(s, kgw::ProduceRequest::api_key) == "");
}
