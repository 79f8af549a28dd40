#include "src/net/listener.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

namespace kgw {

namespace {

constexpr std::string_view kDefaultProtocolMap =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Kafka's list syntax: comma-separated, blanks around entries ignored,
// empty entries skipped.
std::vector<std::string_view> split_list(std::string_view text) {
  std::vector<std::string_view> out;
  while (true) {
    const std::size_t comma = text.find(',');
    std::string_view entry = trim(text.substr(0, comma));
    if (!entry.empty()) out.push_back(entry);
    if (comma == std::string_view::npos) return out;
    text.remove_prefix(comma + 1);
  }
}

// One NAME://HOST:PORT entry; `what` names the setting in errors.
bool parse_endpoint(std::string_view entry, const char* what, std::string& name, std::string& host,
                    int& port, std::string& error) {
  const std::string quoted = std::string(what) + ": '" + std::string(entry) + "' ";
  const std::size_t scheme = entry.find("://");
  if (scheme == std::string_view::npos || scheme == 0) {
    error = quoted + "is not NAME://HOST:PORT";
    return false;
  }
  name = upper(entry.substr(0, scheme));
  std::string_view rest = entry.substr(scheme + 3);
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    error = quoted + "is not NAME://HOST:PORT";
    return false;
  }
  std::string_view h = rest.substr(0, colon);
  const std::string_view p = rest.substr(colon + 1);
  if (!h.empty() && h.front() == '[') {
    if (h.size() < 2 || h.back() != ']') {
      error = quoted + "has an unclosed '[' around its host";
      return false;
    }
    h = h.substr(1, h.size() - 2);
  }
  int v = -1;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || end != p.data() + p.size() || v < 0 || v > 65535) {
    error = quoted + "has a port that is not in 0-65535";
    return false;
  }
  host = std::string(h);
  port = v;
  return true;
}

}  // namespace

const char* security_protocol_name(SecurityProtocol protocol) {
  switch (protocol) {
    case SecurityProtocol::kPlaintext:
      return "PLAINTEXT";
    case SecurityProtocol::kSsl:
      return "SSL";
    case SecurityProtocol::kSaslPlaintext:
      return "SASL_PLAINTEXT";
    case SecurityProtocol::kSaslSsl:
      return "SASL_SSL";
  }
  return "UNKNOWN";
}

bool parse_security_protocol(std::string_view text, SecurityProtocol& out) {
  for (SecurityProtocol p : {SecurityProtocol::kPlaintext, SecurityProtocol::kSsl,
                             SecurityProtocol::kSaslPlaintext, SecurityProtocol::kSaslSsl}) {
    if (text == security_protocol_name(p)) {
      out = p;
      return true;
    }
  }
  return false;
}

bool parse_listeners(std::string_view listeners, std::string_view protocol_map,
                     std::vector<ListenerConfig>& out, std::string& error) {
  std::map<std::string, SecurityProtocol> protocols;
  for (std::string_view entry :
       split_list(trim(protocol_map).empty() ? kDefaultProtocolMap : protocol_map)) {
    const std::size_t colon = entry.find(':');
    SecurityProtocol p{};
    if (colon == std::string_view::npos || colon == 0 ||
        !parse_security_protocol(upper(trim(entry.substr(colon + 1))), p)) {
      error =
          "listener.security.protocol.map: '" + std::string(entry) +
          "' is not NAME:PROTOCOL with PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL";
      return false;
    }
    protocols[upper(trim(entry.substr(0, colon)))] = p;
  }
  std::vector<ListenerConfig> parsed;
  for (std::string_view entry : split_list(listeners)) {
    ListenerConfig l;
    if (!parse_endpoint(entry, "listeners", l.name, l.host, l.port, error)) return false;
    auto it = protocols.find(l.name);
    if (it == protocols.end()) {
      error = "listeners: no security protocol for listener " + l.name +
              " in listener.security.protocol.map";
      return false;
    }
    l.protocol = it->second;
    for (const ListenerConfig& other : parsed) {
      if (other.name == l.name) {
        error = "listeners: listener " + l.name + " is given twice; each needs its own name";
        return false;
      }
      if (other.port == l.port && l.port != 0) {
        error = "listeners: " + other.name + " and " + l.name + " both use port " +
                std::to_string(l.port) + "; each listener needs its own port";
        return false;
      }
    }
    parsed.push_back(std::move(l));
  }
  if (parsed.empty()) {
    error = "listeners: no listener given (e.g. PLAINTEXT://127.0.0.1:9092)";
    return false;
  }
  out = std::move(parsed);
  return true;
}

bool parse_advertised_listeners(std::string_view text, std::vector<ListenerConfig>& listeners,
                                std::string& error) {
  for (std::string_view entry : split_list(text)) {
    std::string name;
    std::string host;
    int port = 0;
    if (!parse_endpoint(entry, "advertised.listeners", name, host, port, error)) return false;
    auto it = std::find_if(listeners.begin(), listeners.end(),
                           [&name](const ListenerConfig& l) { return l.name == name; });
    if (it == listeners.end()) {
      error = "advertised.listeners: " + name + " is not a listener in listeners";
      return false;
    }
    if (host.empty() || host == "0.0.0.0" || host == "::") {
      error = "advertised.listeners: " + name + " cannot advertise the nonroutable meta-address '" +
              host + "'; give an address clients can reach";
      return false;
    }
    it->advertised_host = host;
    it->advertised_port = port;
  }
  return true;
}

std::string refuse_unsupported(const std::vector<ListenerConfig>& listeners) {
  for (const ListenerConfig& l : listeners) {
    if (l.protocol == SecurityProtocol::kPlaintext) continue;
    return "listener " + describe_listener(l) + " uses security protocol " +
           security_protocol_name(l.protocol) +
           ": TLS and SASL are not supported yet; only PLAINTEXT listeners can be served";
  }
  return "";
}

std::string describe_listener(const ListenerConfig& listener) {
  const bool v6 = listener.host.find(':') != std::string::npos;
  return listener.name + "://" + (v6 ? "[" + listener.host + "]" : listener.host) + ":" +
         std::to_string(listener.port);
}

}  // namespace kgw
