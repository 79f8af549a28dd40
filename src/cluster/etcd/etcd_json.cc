#include "src/cluster/etcd/etcd_json.h"

#include <charconv>

#include <nlohmann/json.hpp>

#include "src/cluster/etcd/base64.h"

namespace kgw::etcd {
namespace {

using nlohmann::json;

std::string num(std::int64_t v) {
  return std::to_string(v);
}

// Absent fields are proto3 defaults (0); strings are how int64 arrives.
bool get_i64(const json& obj, const char* name, std::int64_t* out) {
  *out = 0;
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return true;
  if (it->is_number_integer()) {
    *out = it->get<std::int64_t>();
    return true;
  }
  if (!it->is_string()) return false;
  const auto& s = it->get_ref<const std::string&>();
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool get_bytes(const json& obj, const char* name, std::string* out) {
  out->clear();
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  return base64_decode(it->get_ref<const std::string&>(), out);
}

bool get_bool(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

const json* get_object(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_object()) return nullptr;
  return &*it;
}

std::string get_string(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

Status malformed(std::string_view what) {
  return Status{Status::kFailed, "etcd: malformed " + std::string(what) + " answer", 0};
}

Status from_grpc(std::int64_t code, std::string message) {
  // gRPC codes: 4 DeadlineExceeded, 14 Unavailable (no leader, stopping
  // member, timeout inside etcd): retriable. 11 OutOfRange is how etcd
  // says "required revision has been compacted".
  Status s;
  s.message = "etcd: " + message;
  if (code == 4 || code == 14) {
    s.code = Status::kUnavailable;
  } else if (code == 11 && message.find("compacted") != std::string::npos) {
    s.code = Status::kCompacted;
  } else {
    s.code = Status::kFailed;
  }
  return s;
}

// Parses the body; non-200 answers and error objects become a Status.
Status parse(int http_status, std::string_view body, json* out, std::string_view what) {
  *out = json::parse(body, nullptr, false);
  if (out->is_discarded() || !out->is_object()) {
    if (http_status >= 500) {
      return Status{Status::kUnavailable, "etcd: HTTP " + std::to_string(http_status), 0};
    }
    return http_status == 200
               ? malformed(what)
               : Status{Status::kFailed, "etcd: HTTP " + std::to_string(http_status), 0};
  }
  // Unary errors: {"error": "...", "code": N, "message": "..."}; stream
  // errors: {"error": {"grpc_code": N, "message": "..."}}.
  auto err = out->find("error");
  if (err != out->end()) {
    std::int64_t code = 0;
    std::string message;
    if (err->is_object()) {
      get_i64(*err, "grpc_code", &code);
      message = get_string(*err, "message");
    } else {
      get_i64(*out, "code", &code);
      message = err->is_string() ? err->get<std::string>() : get_string(*out, "message");
    }
    return from_grpc(code, message.empty() ? "HTTP " + std::to_string(http_status) : message);
  }
  if (http_status != 200) {
    return Status{http_status >= 500 ? Status::kUnavailable : Status::kFailed,
                  "etcd: HTTP " + std::to_string(http_status), 0};
  }
  return Status{};
}

std::int64_t header_revision(const json& obj) {
  std::int64_t rev = 0;
  if (const json* h = get_object(obj, "header")) get_i64(*h, "revision", &rev);
  return rev;
}

bool decode_kv(const json& j, KeyValue* kv) {
  return j.is_object() && get_bytes(j, "key", &kv->key) && get_bytes(j, "value", &kv->value) &&
         get_i64(j, "create_revision", &kv->create_revision) &&
         get_i64(j, "mod_revision", &kv->mod_revision) && get_i64(j, "version", &kv->version) &&
         get_i64(j, "lease", &kv->lease);
}

bool decode_range_object(const json& j, std::int64_t revision, RangeResult* out) {
  out->revision = revision;
  out->more = get_bool(j, "more");
  out->kvs.clear();
  auto kvs = j.find("kvs");
  if (kvs == j.end() || kvs->is_null()) return true;
  if (!kvs->is_array()) return false;
  for (const auto& e : *kvs) {
    KeyValue kv;
    if (!decode_kv(e, &kv)) return false;
    out->kvs.push_back(std::move(kv));
  }
  return true;
}

json op_json(const Op& op) {
  json j;
  switch (op.kind) {
    case Op::kPut: {
      json p = {{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
      if (op.lease != 0) p["lease"] = num(op.lease);
      j["request_put"] = std::move(p);
      break;
    }
    case Op::kDelete: {
      json d = {{"key", base64_encode(op.key)}};
      if (!op.range_end.empty()) d["range_end"] = base64_encode(op.range_end);
      j["request_delete_range"] = std::move(d);
      break;
    }
    case Op::kRange: {
      json r = {{"key", base64_encode(op.key)}};
      if (!op.range_end.empty()) r["range_end"] = base64_encode(op.range_end);
      j["request_range"] = std::move(r);
      break;
    }
  }
  return j;
}

json compare_json(const Compare& c) {
  static const char* const kTargets[] = {"VERSION", "CREATE", "MOD", "VALUE", "LEASE"};
  static const char* const kResults[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
  json j = {{"key", base64_encode(c.key)},
            {"target", kTargets[c.target]},
            {"result", kResults[c.result]}};
  switch (c.target) {
    case Compare::kVersion:
      j["version"] = num(c.number);
      break;
    case Compare::kCreate:
      j["create_revision"] = num(c.number);
      break;
    case Compare::kMod:
      j["mod_revision"] = num(c.number);
      break;
    case Compare::kValue:
      j["value"] = base64_encode(c.value);
      break;
    case Compare::kLease:
      j["lease"] = num(c.number);
      break;
  }
  return j;
}

}  // namespace

std::string encode_range(std::string_view key, std::string_view range_end, std::int64_t revision) {
  json j = {{"key", base64_encode(key)}};
  if (!range_end.empty()) j["range_end"] = base64_encode(range_end);
  if (revision != 0) j["revision"] = num(revision);
  return j.dump();
}

std::string encode_put(std::string_view key, std::string_view value, std::int64_t lease) {
  json j = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) j["lease"] = num(lease);
  return j.dump();
}

std::string encode_txn(const TxnRequest& request) {
  json compare = json::array(), success = json::array(), failure = json::array();
  for (const auto& c : request.compare) compare.push_back(compare_json(c));
  for (const auto& op : request.success) success.push_back(op_json(op));
  for (const auto& op : request.failure) failure.push_back(op_json(op));
  return json{{"compare", compare}, {"success", success}, {"failure", failure}}.dump();
}

std::string encode_lease_grant(std::int64_t ttl_seconds) {
  return json{{"TTL", num(ttl_seconds)}, {"ID", "0"}}.dump();
}

std::string encode_lease_id(std::int64_t id) {
  return json{{"ID", num(id)}}.dump();
}

std::string encode_compaction(std::int64_t revision) {
  return json{{"revision", num(revision)}, {"physical", true}}.dump();
}

std::string encode_watch_create(std::string_view key, std::string_view range_end,
                                std::int64_t start_revision) {
  json c = {{"key", base64_encode(key)}};
  if (!range_end.empty()) c["range_end"] = base64_encode(range_end);
  if (start_revision != 0) c["start_revision"] = num(start_revision);
  return json{{"create_request", c}}.dump();
}

Status decode_range(int http_status, std::string_view body, RangeResult* out) {
  json j;
  Status s = parse(http_status, body, &j, "range");
  if (!s.ok()) return s;
  if (!decode_range_object(j, header_revision(j), out)) return malformed("range");
  return s;
}

Status decode_put(int http_status, std::string_view body, std::int64_t* revision) {
  json j;
  Status s = parse(http_status, body, &j, "put");
  if (s.ok()) *revision = header_revision(j);
  return s;
}

Status decode_txn(int http_status, std::string_view body, TxnResult* out) {
  json j;
  Status s = parse(http_status, body, &j, "txn");
  if (!s.ok()) return s;
  out->succeeded = get_bool(j, "succeeded");
  out->revision = header_revision(j);
  out->ranges.clear();
  auto responses = j.find("responses");
  if (responses == j.end() || responses->is_null()) return s;
  if (!responses->is_array()) return malformed("txn");
  for (const auto& r : *responses) {
    if (!r.is_object()) return malformed("txn");
    const json* range = get_object(r, "response_range");
    if (range == nullptr) continue;
    RangeResult rr;
    if (!decode_range_object(*range, out->revision, &rr)) return malformed("txn");
    out->ranges.push_back(std::move(rr));
  }
  return s;
}

Status decode_lease_grant(int http_status, std::string_view body, std::int64_t* id,
                          std::int64_t* ttl) {
  json j;
  Status s = parse(http_status, body, &j, "lease grant");
  if (!s.ok()) return s;
  // LeaseGrantResponse reports failures in its own "error" string field,
  // which parse() already turned into kFailed.
  if (!get_i64(j, "ID", id) || !get_i64(j, "TTL", ttl) || *id == 0) return malformed("lease grant");
  return s;
}

Status decode_lease_keepalive(int http_status, std::string_view body, std::int64_t* ttl) {
  JsonStream stream;
  stream.append(body);
  std::string first;
  if (stream.next(&first) != 1) {
    return http_status == 200 ? malformed("lease keepalive")
                              : Status{http_status >= 500 ? Status::kUnavailable : Status::kFailed,
                                       "etcd: HTTP " + std::to_string(http_status), 0};
  }
  json j;
  Status s = parse(http_status, first, &j, "lease keepalive");
  if (!s.ok()) return s;
  const json* result = get_object(j, "result");
  if (result == nullptr || !get_i64(*result, "TTL", ttl)) return malformed("lease keepalive");
  if (*ttl < 0) *ttl = 0;
  return s;
}

Status decode_empty(int http_status, std::string_view body) {
  json j;
  return parse(http_status, body, &j, "etcd");
}

Status decode_watch(std::string_view object, WatchMessage* out) {
  json j;
  Status s = parse(200, object, &j, "watch");
  if (!s.ok()) return s;
  const json* r = get_object(j, "result");
  if (r == nullptr) {
    // The stream's last object when etcd ends it: {"error":{"grpc_code":14,
    // "message":"etcdserver: no leader",...}}; 14 is gRPC's UNAVAILABLE.
    if (const json* e = get_object(j, "error"); e != nullptr) {
      std::int64_t code = 0;
      get_i64(*e, "grpc_code", &code);
      return Status{code == 14 ? Status::kUnavailable : Status::kFailed,
                    "etcd watch: " + get_string(*e, "message"), 0};
    }
    return malformed("watch");
  }
  *out = WatchMessage{};
  out->created = get_bool(*r, "created");
  out->canceled = get_bool(*r, "canceled");
  out->cancel_reason = get_string(*r, "cancel_reason");
  out->header_revision = header_revision(*r);
  if (!get_i64(*r, "compact_revision", &out->compact_revision)) return malformed("watch");
  auto events = r->find("events");
  if (events == r->end() || events->is_null()) return s;
  if (!events->is_array()) return malformed("watch");
  for (const auto& e : *events) {
    if (!e.is_object()) return malformed("watch");
    Event ev;
    auto type = e.find("type");
    if (type != e.end() && ((type->is_string() && type->get<std::string>() == "DELETE") ||
                            (type->is_number_integer() && type->get<int>() == 1))) {
      ev.type = Event::kDelete;
    }
    const json* kv = get_object(e, "kv");
    if (kv == nullptr || !decode_kv(*kv, &ev.kv)) return malformed("watch");
    out->events.push_back(std::move(ev));
  }
  return s;
}

int JsonStream::next(std::string* out) {
  // Drop whitespace between objects.
  if (depth_ == 0 && scanned_ == 0) {
    std::size_t skip = 0;
    while (skip < buffer_.size() && (buffer_[skip] == ' ' || buffer_[skip] == '\n' ||
                                     buffer_[skip] == '\r' || buffer_[skip] == '\t')) {
      ++skip;
    }
    buffer_.erase(0, skip);
    if (buffer_.empty()) return 0;
    if (buffer_[0] != '{') return -1;
  }
  for (; scanned_ < buffer_.size(); ++scanned_) {
    char c = buffer_[scanned_];
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        out->assign(buffer_, 0, scanned_ + 1);
        buffer_.erase(0, scanned_ + 1);
        scanned_ = 0;
        return 1;
      }
      if (depth_ < 0) return -1;
    }
  }
  return buffer_.size() > max_object_ ? -1 : 0;
}

}  // namespace kgw::etcd
