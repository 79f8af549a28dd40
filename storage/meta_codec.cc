#include "storage/meta_codec.h"

#include <nlohmann/json.hpp>

#include "storage/keys.h"

namespace kgw {
namespace {

using nlohmann::json;

// parse() with allow_exceptions=false returns a discarded value instead of
// throwing; every field access below checks the type first, for the same
// reason.
json parse(std::string_view value) {
  return json::parse(value, nullptr, false);
}

// dump() throws on invalid UTF-8 with the default handler; `replace` never
// throws, and encode_topic() detects the replacement by reading back.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool get_int(const json& j, const char* field, std::int64_t& out) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_number_integer()) return false;
  out = it->get<std::int64_t>();
  return true;
}

bool get_string(const json& j, const char* field, std::string& out) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

}  // namespace

std::string encode_format(std::int64_t format) {
  return dump(json{{"format", format}});
}

bool decode_format(std::string_view value, std::int64_t& format, std::string& error) {
  json j = parse(value);
  if (!j.is_object() || !get_int(j, "format", format)) {
    error = "format record is not {\"format\": N}";
    return false;
  }
  return true;
}

bool encode_topic(const TopicInfo& topic, std::string& out, std::string& error) {
  json configs = json::object();
  for (const auto& [k, v] : topic.configs) configs[k] = v;
  json j = {{"name", topic.name},
            {"id", keys::uuid_hex(topic.id)},
            {"partitions", topic.partitions},
            {"configs", std::move(configs)}};
  out = dump(j);
  TopicInfo back;
  std::string ignored;
  if (!decode_topic(out, back, ignored) || back.name != topic.name ||
      back.configs != topic.configs) {
    error = "topic name or a config is not valid UTF-8";
    return false;
  }
  return true;
}

bool decode_topic(std::string_view value, TopicInfo& out, std::string& error) {
  json j = parse(value);
  std::string id_hex;
  std::int64_t partitions = 0;
  if (!j.is_object() || !get_string(j, "name", out.name) || !get_string(j, "id", id_hex) ||
      !keys::parse_uuid_hex(id_hex, out.id) || !get_int(j, "partitions", partitions) ||
      partitions < 0 || partitions > INT32_MAX) {
    error = "topic record lacks a valid name, id or partition count";
    return false;
  }
  out.partitions = static_cast<std::int32_t>(partitions);
  out.configs.clear();
  auto configs = j.find("configs");
  if (configs != j.end()) {
    if (!configs->is_object()) {
      error = "topic record has non-object configs";
      return false;
    }
    for (const auto& [k, v] : configs->items()) {
      if (!v.is_string()) {
        error = "topic config " + k + " is not a string";
        return false;
      }
      out.configs.emplace(k, v.get<std::string>());
    }
  }
  return true;
}

std::string encode_partition(const PartitionRecord& p) {
  return dump(json{{"log_start_offset", p.log_start_offset}, {"cleaned_offset", p.cleaned_offset}});
}

bool decode_partition(std::string_view value, PartitionRecord& out, std::string& error) {
  json j = parse(value);
  if (!j.is_object() || !get_int(j, "log_start_offset", out.log_start_offset) ||
      out.log_start_offset < 0) {
    error = "partition record lacks a valid log_start_offset";
    return false;
  }
  out.cleaned_offset = 0;
  if (j.contains("cleaned_offset") &&
      (!get_int(j, "cleaned_offset", out.cleaned_offset) || out.cleaned_offset < 0)) {
    error = "partition record has an invalid cleaned_offset";
    return false;
  }
  return true;
}

std::string encode_segment(const Segment& s) {
  return dump(json{{"end", s.end},
                   {"bytes", s.bytes},
                   {"max_timestamp", s.max_timestamp},
                   {"created", s.created_ms},
                   {"last_append", s.last_append_ms}});
}

bool decode_segment(std::string_view value, Segment& out, std::string& error) {
  json j = parse(value);
  if (!j.is_object() || !get_int(j, "end", out.end) || !get_int(j, "bytes", out.bytes) ||
      !get_int(j, "max_timestamp", out.max_timestamp) || !get_int(j, "created", out.created_ms) ||
      !get_int(j, "last_append", out.last_append_ms) || out.bytes < 0 || out.end < out.base) {
    error = "segment record lacks a valid end, bytes, max_timestamp, created or last_append";
    return false;
  }
  return true;
}

}  // namespace kgw
