// Tests for Kafka's listener settings (listeners,
// listener.security.protocol.map, advertised.listeners) and the Session a
// listener gives its connections.
#include "src/net/listener.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "src/net/session.h"

using kgw::ListenerConfig;
using kgw::SecurityProtocol;

namespace {

std::vector<ListenerConfig> parse(const std::string& listeners, const std::string& map = "") {
  std::vector<ListenerConfig> out;
  std::string error;
  const bool ok = kgw::parse_listeners(listeners, map, out, error);
  INFO(error);
  REQUIRE(ok);
  return out;
}

std::string parse_error(const std::string& listeners, const std::string& map = "") {
  std::vector<ListenerConfig> out;
  std::string error;
  CHECK_FALSE(kgw::parse_listeners(listeners, map, out, error));
  CHECK(out.empty());
  return error;
}

}  // namespace

TEST_CASE("listeners: Kafka's syntax with the default protocol map") {
  auto l = parse("PLAINTEXT://127.0.0.1:9092, SSL://:9093,sasl_ssl://[::1]:9094");
  REQUIRE(l.size() == 3);
  CHECK(l[0].name == "PLAINTEXT");
  CHECK(l[0].protocol == SecurityProtocol::kPlaintext);
  CHECK(l[0].host == "127.0.0.1");
  CHECK(l[0].port == 9092);
  CHECK(l[1].name == "SSL");
  CHECK(l[1].protocol == SecurityProtocol::kSsl);
  CHECK(l[1].host == "");  // every interface, as in Kafka
  CHECK(l[1].port == 9093);
  CHECK(l[2].name == "SASL_SSL");  // names are case-insensitive
  CHECK(l[2].protocol == SecurityProtocol::kSaslSsl);
  CHECK(l[2].host == "::1");
  CHECK(kgw::describe_listener(l[2]) == "SASL_SSL://[::1]:9094");
  CHECK(l[0].advertised_host.empty());
  CHECK(l[0].advertised_port == -1);
}

TEST_CASE("listeners: custom names take their protocol from the map") {
  auto l = parse("CLIENT://127.0.0.1:0,REPLICATION://127.0.0.1:0",
                 "CLIENT:PLAINTEXT, replication:SASL_PLAINTEXT");
  REQUIRE(l.size() == 2);
  CHECK(l[0].protocol == SecurityProtocol::kPlaintext);
  CHECK(l[1].name == "REPLICATION");
  CHECK(l[1].protocol == SecurityProtocol::kSaslPlaintext);
  // Port 0 twice is two free ports, not a clash.
  CHECK(l[0].port == 0);
  CHECK(l[1].port == 0);
}

TEST_CASE("listeners: bad entries are refused with one line naming them") {
  CHECK(parse_error("127.0.0.1:9092").find("'127.0.0.1:9092' is not NAME://HOST:PORT") !=
        std::string::npos);
  CHECK(parse_error("PLAINTEXT://127.0.0.1").find("not NAME://HOST:PORT") != std::string::npos);
  CHECK(parse_error("PLAINTEXT://127.0.0.1:70000").find("not in 0-65535") != std::string::npos);
  CHECK(parse_error("PLAINTEXT://[::1:9092").find("unclosed") != std::string::npos);
  CHECK(parse_error("CLIENT://127.0.0.1:9092").find("no security protocol for listener CLIENT") !=
        std::string::npos);
  CHECK(parse_error("PLAINTEXT://a:9092,plaintext://b:9093").find("given twice") !=
        std::string::npos);
  CHECK(parse_error("PLAINTEXT://a:9092,SSL://b:9092").find("both use port 9092") !=
        std::string::npos);
  CHECK(parse_error(" , ").find("no listener given") != std::string::npos);
  CHECK(parse_error("A://a:1", "A:TLS").find("listener.security.protocol.map: 'A:TLS'") !=
        std::string::npos);
  // An explicit map replaces Kafka's default one.
  CHECK(parse_error("PLAINTEXT://a:1", "CLIENT:PLAINTEXT").find("listener PLAINTEXT") !=
        std::string::npos);
}

TEST_CASE("advertised.listeners: sets the address of the listeners it names") {
  auto l = parse("PLAINTEXT://0.0.0.0:9092,INTERNAL://127.0.0.1:9093",
                 "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT");
  std::string error;
  REQUIRE(kgw::parse_advertised_listeners("PLAINTEXT://broker1.example:19092", l, error));
  CHECK(l[0].advertised_host == "broker1.example");
  CHECK(l[0].advertised_port == 19092);
  CHECK(l[1].advertised_host.empty());

  CHECK_FALSE(kgw::parse_advertised_listeners("OTHER://h:1", l, error));
  CHECK(error.find("OTHER is not a listener") != std::string::npos);
  CHECK_FALSE(kgw::parse_advertised_listeners("INTERNAL://0.0.0.0:1", l, error));
  CHECK(error.find("nonroutable meta-address") != std::string::npos);
  CHECK_FALSE(kgw::parse_advertised_listeners("INTERNAL://:1", l, error));
  CHECK(l[1].advertised_host.empty());
}

TEST_CASE("listeners: only PLAINTEXT can be served today") {
  CHECK(kgw::refuse_unsupported(parse("PLAINTEXT://127.0.0.1:9092,INTERNAL://127.0.0.1:9093",
                                      "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT")) == "");
  const std::string why =
      kgw::refuse_unsupported(parse("PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093"));
  CHECK(why ==
        "listener SSL://127.0.0.1:9093 uses security protocol SSL: TLS and SASL are not "
        "supported yet; only PLAINTEXT listeners can be served");
  CHECK(kgw::refuse_unsupported(parse("EXTERNAL://h:1", "EXTERNAL:SASL_PLAINTEXT"))
            .find("listener EXTERNAL://h:1 uses security protocol SASL_PLAINTEXT") == 0);
}

TEST_CASE("security protocol names round-trip, exactly as Kafka spells them") {
  for (auto p : {SecurityProtocol::kPlaintext, SecurityProtocol::kSsl,
                 SecurityProtocol::kSaslPlaintext, SecurityProtocol::kSaslSsl}) {
    SecurityProtocol back{};
    REQUIRE(kgw::parse_security_protocol(kgw::security_protocol_name(p), back));
    CHECK(back == p);
  }
  SecurityProtocol p{};
  CHECK_FALSE(kgw::parse_security_protocol("plaintext", p));
  CHECK_FALSE(kgw::parse_security_protocol("TLS", p));
}

TEST_CASE("session: a listener's connection starts anonymous, SASL pending where asked") {
  ListenerConfig plain;
  plain.name = "INTERNAL";
  kgw::Session s = kgw::Session::on_listener(plain);
  CHECK(s.listener == "INTERNAL");
  CHECK(s.protocol == SecurityProtocol::kPlaintext);
  CHECK(s.principal == "User:ANONYMOUS");
  CHECK(s.sasl == kgw::SaslState::kNotUsed);
  CHECK(s.authenticated());
  CHECK(s.tls == nullptr);

  ListenerConfig sasl;
  sasl.name = "SASL_SSL";
  sasl.protocol = SecurityProtocol::kSaslSsl;
  kgw::Session t = kgw::Session::on_listener(sasl);
  CHECK(t.sasl == kgw::SaslState::kHandshake);
  CHECK_FALSE(t.authenticated());
  t.sasl = kgw::SaslState::kAuthenticated;
  CHECK(t.authenticated());
}
