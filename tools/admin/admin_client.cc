#include "tools/admin/admin_client.h"

#include <fstream>

namespace kgw::admin {

std::unique_ptr<AdminClient> AdminClient::create(const std::string& bootstrap,
                                                 const std::string& command_config,
                                                 std::string& error) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      error = std::string(errstr);
      return false;
    }
    return true;
  };
  if (!set("bootstrap.servers", bootstrap) || !set("log_level", "3")) {
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  if (!command_config.empty()) {
    std::ifstream in(command_config);
    if (!in) {
      error = "--command-config " + command_config + ": cannot read the file";
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
    std::string line;
    while (std::getline(in, line)) {
      auto start = line.find_first_not_of(" \t");
      if (start == std::string::npos || line[start] == '#') continue;
      auto eq = line.find('=');
      if (eq == std::string::npos) {
        error = "--command-config " + command_config + ": '" + line + "' is not key=value";
        rd_kafka_conf_destroy(conf);
        return nullptr;
      }
      if (!set(line.substr(start, eq - start), line.substr(eq + 1))) {
        error = "--command-config " + command_config + ": " + error;
        rd_kafka_conf_destroy(conf);
        return nullptr;
      }
    }
  }
  std::unique_ptr<AdminClient> c(new AdminClient());
  c->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (c->rk_ == nullptr) {
    error = errstr;  // on failure the conf is still ours
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  c->queue_ = rd_kafka_queue_new(c->rk_);
  return c;
}

AdminClient::~AdminClient() {
  if (queue_ != nullptr) rd_kafka_queue_destroy(queue_);
  if (rk_ != nullptr) rd_kafka_destroy(rk_);
}

rd_kafka_AdminOptions_t* AdminClient::options(rd_kafka_admin_op_t op) const {
  rd_kafka_AdminOptions_t* o = rd_kafka_AdminOptions_new(rk_, op);
  char errstr[256];
  rd_kafka_AdminOptions_set_request_timeout(o, kTimeoutMs, errstr, sizeof errstr);
  return o;
}

Event AdminClient::wait(rd_kafka_event_type_t type, std::string& error) const {
  for (;;) {
    Event ev(rd_kafka_queue_poll(queue_, kTimeoutMs + 5000));
    if (!ev) {
      error = "timed out waiting for the broker's answer";
      return nullptr;
    }
    if (rd_kafka_event_type(ev.get()) != type) continue;  // logs, errors of other calls
    if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* s = rd_kafka_event_error_string(ev.get());
      error = s != nullptr ? s : rd_kafka_err2str(rd_kafka_event_error(ev.get()));
      return nullptr;
    }
    return ev;
  }
}

Metadata AdminClient::metadata(std::string& error) const {
  // Always every topic: asking for one by name would let the broker
  // auto-create it.
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 1, nullptr, &md, kTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error = std::string("metadata request failed: ") + rd_kafka_err2str(err);
    return nullptr;
  }
  return Metadata(md);
}

}  // namespace kgw::admin
