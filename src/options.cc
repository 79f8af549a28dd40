#include "src/options.h"

#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kgw_version.h"
#include "src/broker/broker_config.h"

namespace kgw {

namespace {

constexpr const char* kUsage =
    "Usage: kgw [options]\n"
    "\n"
    "A Kafka wire-protocol compatible broker. Standard Kafka clients connect to it\n"
    "as to a one-node Kafka cluster; partitions are stored in RocksDB.\n"
    "\n"
    "Options (flags override the config file):\n"
    "  --listen HOST:PORT     address to serve (default 127.0.0.1:9092; port 0 picks one)\n"
    "  --advertise HOST:PORT  address given to clients in Metadata (default: --listen)\n"
    "  --data-dir DIR         where partitions and metadata live (default ./data)\n"
    "  --config FILE          JSON config file: {\"listen\": \"...\", \"advertise\": \"...\",\n"
    "                         \"data_dir\": \"...\", \"fsync\": \"never|batch\",\n"
    "                         \"log_level\": \"...\", \"broker\": {\"num.partitions\": 4, ...}}\n"
    "  --fsync never|batch    never: acknowledge after the write-ahead log write, as\n"
    "                         Kafka acknowledges after its page-cache write (default);\n"
    "                         batch: fsync every group commit before acknowledging\n"
    "  --log-level LEVEL      error, warn, info (default) or debug\n"
    "  --set NAME=VALUE       a broker config by its Kafka name, e.g.\n"
    "                         --set num.partitions=4 --set auto.create.topics.enable=false\n"
    "                         Kafka's listeners, advertised.listeners and\n"
    "                         listener.security.protocol.map are taken too (instead of\n"
    "                         --listen), e.g. --set listeners=PLAINTEXT://127.0.0.1:9092,\n"
    "                         INTERNAL://127.0.0.1:9093 --set listener.security.protocol.map=\n"
    "                         PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT (PLAINTEXT only for now)\n"
    "  --upstream HOST:PORT[,HOST:PORT...]\n"
    "                         proxy mode: stand in front of this Kafka cluster (the\n"
    "                         same as --set upstream.bootstrap.servers=...); its\n"
    "                         topics are served through kgw (one node only for now)\n"
    "  --help                 print this help and exit\n"
    "  --version              print the version and exit\n"
    "\n"
    "Broker configs (--set, or \"broker\" in the config file), with defaults:\n";

bool parse_port(std::string_view s, int& port) {
  int v = -1;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0 || v > 65535) return false;
  port = v;
  return true;
}

bool apply_fsync(const std::string& v, Options& out, std::string& error, const std::string& where) {
  if (v == "never") {
    out.fsync = false;
  } else if (v == "batch") {
    out.fsync = true;
  } else {
    error = where + ": '" + v + "' is not never or batch";
    return false;
  }
  return true;
}

bool load_file(const std::string& path, Options& out, bool& listen_given, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "--config " + path + ": cannot read the file";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false, true);
  if (j.is_discarded() || !j.is_object()) {
    error = "--config " + path + ": not a JSON object";
    return false;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const auto& v = it.value();
    const std::string where = "--config " + path + ": \"" + key + "\"";
    if (key == "broker") {
      if (!v.is_object()) {
        error = where + " must be an object of Kafka broker configs";
        return false;
      }
      for (auto b = v.begin(); b != v.end(); ++b) {
        std::string value = b.value().is_string() ? b.value().get<std::string>() : b.value().dump();
        out.broker_configs.emplace_back(b.key(), value);
      }
      continue;
    }
    if (!v.is_string()) {
      error = where + " must be a string";
      return false;
    }
    const std::string s = v.get<std::string>();
    if (key == "listen") {
      listen_given = true;
      if (!parse_host_port(s, out.listen_host, out.listen_port)) {
        error = where + ": '" + s + "' is not HOST:PORT";
        return false;
      }
    } else if (key == "advertise") {
      if (!parse_host_port(s, out.advertise_host, out.advertise_port)) {
        error = where + ": '" + s + "' is not HOST:PORT";
        return false;
      }
    } else if (key == "data_dir") {
      out.data_dir = s;
    } else if (key == "fsync") {
      if (!apply_fsync(s, out, error, where)) return false;
    } else if (key == "log_level") {
      if (!parse_log_level(s, out.log_level)) {
        error = where + ": '" + s + "' is not error, warn, info or debug";
        return false;
      }
    } else {
      error =
          where + " is not a known setting (listen, advertise, data_dir, fsync, log_level, broker)";
      return false;
    }
  }
  return true;
}

bool is_meta_address(const std::string& host) {
  return host == "0.0.0.0" || host == "::";
}

// Takes Kafka's listener settings out of the broker configs (they shape the
// Server, not BrokerConfig) and makes out.listeners from them or from
// --listen / --advertise. `listen_given`: --listen (flag or file) was set.
bool resolve_listeners(Options& out, bool listen_given, std::string& error) {
  std::string listeners;
  std::string protocol_map;
  std::string advertised;
  bool any = false;
  std::vector<std::pair<std::string, std::string>> rest;
  for (auto& [name, value] : out.broker_configs) {
    if (name == "listeners") {
      listeners = value;
    } else if (name == "listener.security.protocol.map") {
      protocol_map = value;
    } else if (name == "advertised.listeners") {
      advertised = value;
    } else {
      rest.emplace_back(std::move(name), std::move(value));
      continue;
    }
    any = true;
  }
  out.broker_configs = std::move(rest);
  if (!any) {
    // Metadata tells clients where to connect; the wildcard address is not a
    // place (Kafka refuses to start the same way).
    const std::string& shown = out.advertise_host.empty() ? out.listen_host : out.advertise_host;
    if (is_meta_address(shown)) {
      error = std::string(out.advertise_host.empty()
                              ? "--listen " + shown + " without --advertise: the advertised"
                              : "--advertise") +
              " address cannot be the nonroutable meta-address " + shown +
              "; set --advertise HOST:PORT to an address clients can reach";
      return false;
    }
    ListenerConfig l;
    l.host = out.listen_host;
    l.port = out.listen_port;
    l.advertised_host = out.advertise_host;
    l.advertised_port = out.advertise_port;
    out.listeners = {std::move(l)};
    return true;
  }
  if (!listeners.empty() && listen_given) {
    error = "--listen and listeners both given; use one of them";
    return false;
  }
  if (!advertised.empty() && !out.advertise_host.empty()) {
    error = "--advertise and advertised.listeners both given; use one of them";
    return false;
  }
  if (listeners.empty()) {
    // Only the map or advertised.listeners given: they apply to --listen.
    ListenerConfig l;
    l.host = out.listen_host;
    l.port = out.listen_port;
    listeners = describe_listener(l);
  }
  std::vector<ListenerConfig> parsed;
  if (!parse_listeners(listeners, protocol_map, parsed, error) ||
      !parse_advertised_listeners(advertised, parsed, error)) {
    return false;
  }
  if (!out.advertise_host.empty()) {
    parsed.front().advertised_host = out.advertise_host;
    parsed.front().advertised_port = out.advertise_port;
  }
  if (std::string why = refuse_unsupported(parsed); !why.empty()) {
    error = why;
    return false;
  }
  for (const ListenerConfig& l : parsed) {
    if (is_meta_address(l.advertised_host)) {
      error = "--advertise: the advertised address cannot be the nonroutable meta-address " +
              l.advertised_host + "; set --advertise HOST:PORT to an address clients can reach";
      return false;
    }
    if (l.advertised_host.empty() && (l.host.empty() || is_meta_address(l.host))) {
      error = "listener " + describe_listener(l) +
              " binds every address and has no advertised address; name it in "
              "advertised.listeners with an address clients can reach";
      return false;
    }
  }
  out.listeners = std::move(parsed);
  return true;
}

}  // namespace

bool parse_host_port(const std::string& text, std::string& host, int& port) {
  std::string h;
  std::string p;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find("]:");
    if (close == std::string::npos) return false;
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return false;
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
  }
  if (h.empty() || !parse_port(p, port)) return false;
  host = h;
  return true;
}

bool parse_options(int argc, char** argv, Options& out, std::string& error) {
  bool listen_given = false;
  // The config file comes first so that flags override it, wherever they are.
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc && !load_file(argv[i + 1], out, listen_given, error)) {
      return false;
    }
    if (a.rfind("--config=", 0) == 0 && !load_file(a.substr(9), out, listen_given, error)) {
      return false;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    const auto eq = flag.find('=');
    bool inline_value = false;
    if (flag.rfind("--", 0) == 0 && eq != std::string::npos && flag.substr(0, eq) != "--set") {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      inline_value = true;
    }
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      for (const ConfigDef& d : broker_config_defs()) {
        std::printf("  %-40s %s\n", d.name, d.default_value ? d.default_value : "(none)");
      }
      out.exit_now = true;
      return true;
    }
    if (flag == "--version") {
      std::printf("kgw %s\n", KGW_VERSION);
      out.exit_now = true;
      return true;
    }
    const bool takes_value = flag == "--listen" || flag == "--advertise" || flag == "--data-dir" ||
                             flag == "--config" || flag == "--fsync" || flag == "--log-level" ||
                             flag == "--set" || flag == "--upstream";
    if (!takes_value) {
      error = "unknown option '" + std::string(argv[i]) + "' (see kgw --help)";
      return false;
    }
    if (!inline_value) {
      if (i + 1 >= argc) {
        error = flag + " needs a value (see kgw --help)";
        return false;
      }
      value = argv[++i];
    }
    if (flag == "--listen") {
      listen_given = true;
      if (!parse_host_port(value, out.listen_host, out.listen_port)) {
        error = "--listen: '" + value + "' is not HOST:PORT";
        return false;
      }
    } else if (flag == "--advertise") {
      if (!parse_host_port(value, out.advertise_host, out.advertise_port)) {
        error = "--advertise: '" + value + "' is not HOST:PORT";
        return false;
      }
    } else if (flag == "--data-dir") {
      out.data_dir = value;
    } else if (flag == "--fsync") {
      if (!apply_fsync(value, out, error, "--fsync")) return false;
    } else if (flag == "--log-level") {
      if (!parse_log_level(value, out.log_level)) {
        error = "--log-level: '" + value + "' is not error, warn, info or debug";
        return false;
      }
    } else if (flag == "--set") {
      const auto e = value.find('=');
      if (e == std::string::npos || e == 0) {
        error = "--set: '" + value + "' is not NAME=VALUE";
        return false;
      }
      out.broker_configs.emplace_back(value.substr(0, e), value.substr(e + 1));
    } else if (flag == "--upstream") {
      out.broker_configs.emplace_back("upstream.bootstrap.servers", value);
    }
    // --config was loaded above.
  }
  return resolve_listeners(out, listen_given, error);
}

}  // namespace kgw
