// Listener: one endpoint the Server binds, as Kafka's listener model names
// it (`listeners=NAME://HOST:PORT,...`, `listener.security.protocol.map`,
// `advertised.listeners`).
//
// The happy path is: the operator's text is parsed once at start-up into
// ListenerConfigs (plain values, no threads involved), the Server binds
// each one, and every connection it accepts remembers the listener it came
// in on (its Session, session.h). Possible failure modes, each a one-line
// error naming the entry: an entry not NAME://HOST:PORT, a listener name
// with no security protocol in the map, two listeners with one name or one
// port, an advertised listener that names no listener or advertises the
// meta-address, and (refuse_unsupported) a listener whose security
// protocol needs TLS or SASL, which kgw does not serve yet.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kgw {

// Kafka's SecurityProtocol names.
enum class SecurityProtocol : std::uint8_t { kPlaintext, kSsl, kSaslPlaintext, kSaslSsl };

const char* security_protocol_name(SecurityProtocol protocol);
// Exact, upper-case names as Kafka spells them; false for anything else.
bool parse_security_protocol(std::string_view text, SecurityProtocol& out);

struct ListenerConfig {
  std::string name = "PLAINTEXT";  // upper case, as Kafka normalises it
  SecurityProtocol protocol = SecurityProtocol::kPlaintext;
  std::string host = "127.0.0.1";  // "" binds every interface, as in Kafka
  int port = 9092;                 // 0 picks a free port
  // What Metadata tells clients of this listener (advertised.listeners);
  // empty host / negative port: the bound host / the bound port.
  std::string advertised_host;
  int advertised_port = -1;
};

// `listeners` (comma-separated NAME://HOST:PORT, HOST possibly empty or a
// bracketed IPv6 literal) with `protocol_map` (NAME:PROTOCOL,...; empty
// means Kafka's default, where PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL
// each name their own protocol). Listener names are case-insensitive.
// Returns false with one line in `error`.
bool parse_listeners(std::string_view listeners, std::string_view protocol_map,
                     std::vector<ListenerConfig>& out, std::string& error);

// `advertised.listeners` (NAME://HOST:PORT,...): sets the advertised
// address of the listeners it names; each name must be in `listeners`, and
// the host must be a place (not empty, 0.0.0.0 or ::).
bool parse_advertised_listeners(std::string_view text, std::vector<ListenerConfig>& listeners,
                                std::string& error);

// "" when every listener can be served today; otherwise the one-line
// reason naming the first that cannot (TLS and SASL come with the
// security work).
std::string refuse_unsupported(const std::vector<ListenerConfig>& listeners);

// "NAME://HOST:PORT", brackets around an IPv6 host, for log lines.
std::string describe_listener(const ListenerConfig& listener);

}  // namespace kgw
