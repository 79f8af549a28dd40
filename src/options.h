// Command line and config file of kgw. Flags override the JSON config file;
// anything not given keeps its default (one node on 127.0.0.1:9092, data in
// ./data).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/log.h"
#include "src/net/listener.h"

namespace kgw {

struct Options {
  std::string listen_host = "127.0.0.1";  // Default: 127.0.0.1
  int listen_port = 9092;                 // Default: 9092
  std::string advertise_host;             // Default: the listen host
  int advertise_port = -1;                // Default: the bound port
  // The listeners to serve, never empty after parse_options(): Kafka's
  // listeners / listener.security.protocol.map / advertised.listeners when
  // given (--set or the file's "broker"), else one PLAINTEXT listener on
  // --listen advertising --advertise. With listeners, --advertise is the
  // first listener's advertised address.
  std::vector<ListenerConfig> listeners;
  std::string data_dir = "./data";       // Default: ./data
  bool fsync = false;                    // --fsync=batch; Default: never
  LogLevel log_level = LogLevel::kInfo;  // Default: info
  // Broker configs by Kafka name, in the order given (file first).
  std::vector<std::pair<std::string, std::string>> broker_configs;
  bool exit_now = false;  // --help or --version was handled
};

// Parses argv (and the --config file it names). On error returns false with
// one line in `error` naming the flag or file and what is wrong.
bool parse_options(int argc, char** argv, Options& out, std::string& error);

// Splits "host:port" or "[v6]:port".
bool parse_host_port(const std::string& text, std::string& host, int& port);

}  // namespace kgw
