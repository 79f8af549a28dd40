#include "tools/admin/etcd_status.h"

#include <curl/curl.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

namespace kgw::admin {

namespace {

using nlohmann::json;

// The gateway sends uint64 ids as decimal strings; etcdctl prints hex.
std::string hex_id(const json& v) {
  unsigned long long n = 0;
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    char* end = nullptr;
    n = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0') return s;
  } else if (v.is_number_unsigned()) {
    n = v.get<unsigned long long>();
  } else {
    return "";
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", n);
  return buf;
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& s : *it)
    if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

size_t append(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// One HTTP request: false with `error` when no HTTP answer came; an HTTP
// status other than 200 is an error too, with the body.
bool http(const std::string& url, const char* post_body, long timeout_ms, std::string& body,
          std::string& error) {
  CURL* c = curl_easy_init();
  if (c == nullptr) {
    error = "curl_easy_init failed";
    return false;
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_slist* headers = nullptr;
  if (post_body != nullptr) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body);
  }
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    error = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    return false;
  }
  // etcd answers /health with 503 and a JSON body when unhealthy: the body
  // says why, so it is kept.
  if (status != 200 && status != 503) {
    error = "HTTP " + std::to_string(status) + ": " + body.substr(0, 200);
    return false;
  }
  return true;
}

std::string base_url(const std::string& endpoint) {
  std::string u = endpoint;
  if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) u = "http://" + u;
  while (!u.empty() && u.back() == '/') u.pop_back();
  return u;
}

}  // namespace

std::vector<std::string> etcd_endpoints(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string e;
  while (std::getline(ss, e, ',')) {
    auto b = e.find_first_not_of(" \t");
    auto t = e.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(base_url(e.substr(b, t - b + 1)));
  }
  return out;
}

bool parse_member_list(const std::string& body, EtcdClusterStatus& out, std::string& error) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "member list answer is not JSON: " + body.substr(0, 200);
    return false;
  }
  if (auto e = j.find("error"); e != j.end()) {
    error = "member list refused: " + (e->is_string() ? e->get<std::string>() : e->dump());
    return false;
  }
  if (auto h = j.find("header"); h != j.end() && h->is_object() && h->contains("cluster_id"))
    out.cluster_id = hex_id((*h)["cluster_id"]);
  out.members.clear();
  auto ms = j.find("members");
  if (ms == j.end() || !ms->is_array()) {
    error = "member list answer has no members: " + body.substr(0, 200);
    return false;
  }
  for (const auto& m : *ms) {
    if (!m.is_object()) continue;
    EtcdMemberStatus s;
    s.id = m.contains("ID") ? hex_id(m["ID"]) : "";
    if (auto n = m.find("name"); n != m.end() && n->is_string()) s.name = n->get<std::string>();
    s.client_urls = strings(m, "clientURLs");
    s.peer_urls = strings(m, "peerURLs");
    if (s.client_urls.empty()) s.detail = "no client URL (member not started yet?)";
    out.members.push_back(std::move(s));
  }
  return true;
}

bool parse_health(const std::string& body, std::string& detail) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("health")) {
    detail = "health answer is not JSON: " + body.substr(0, 200);
    return false;
  }
  const json& h = j["health"];
  bool ok = (h.is_string() && h.get<std::string>() == "true") || (h.is_boolean() && h.get<bool>());
  if (ok) {
    detail.clear();
    return true;
  }
  auto r = j.find("reason");
  detail = r != j.end() && r->is_string() && !r->get<std::string>().empty()
               ? r->get<std::string>()
               : "member says it is not healthy";
  return false;
}

bool parse_status(const std::string& body, std::string& member_id, std::string& leader_id,
                  std::string& version) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("leader")) return false;
  leader_id = hex_id(j["leader"]);
  if (auto h = j.find("header"); h != j.end() && h->is_object() && h->contains("member_id"))
    member_id = hex_id((*h)["member_id"]);
  if (auto v = j.find("version"); v != j.end() && v->is_string()) version = v->get<std::string>();
  return true;
}

bool etcd_cluster_status(const std::vector<std::string>& endpoints, long timeout_ms,
                         EtcdClusterStatus& out, std::string& error) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  bool listed = false;
  for (const std::string& ep : endpoints) {
    std::string body, why;
    if (!http(ep + "/v3/cluster/member/list", "{}", timeout_ms, body, why) ||
        !parse_member_list(body, out, why)) {
      out.unreachable.push_back(ep + ": " + why);
      continue;
    }
    out.listed_by = ep;
    listed = true;
    break;
  }
  if (!listed) {
    error = "no etcd endpoint answered the member list:";
    for (const auto& u : out.unreachable) error += " " + u + ";";
    error.pop_back();
    return false;
  }
  std::string leader;
  for (EtcdMemberStatus& m : out.members) {
    if (m.client_urls.empty()) continue;
    const std::string url = base_url(m.client_urls.front());
    std::string body, why;
    if (!http(url + "/health", nullptr, timeout_ms, body, why)) {
      m.health = "unreachable";
      m.detail = url + ": " + why;
      continue;
    }
    m.health = parse_health(body, m.detail) ? "healthy" : "unhealthy";
    std::string sbody, member_id, leader_id;
    if (http(url + "/v3/maintenance/status", "{}", timeout_ms, sbody, why) &&
        parse_status(sbody, member_id, leader_id, m.version) && !leader_id.empty() &&
        leader_id != "0")
      leader = leader_id;
  }
  for (EtcdMemberStatus& m : out.members) m.leader = !leader.empty() && m.id == leader;
  return true;
}

}  // namespace kgw::admin
