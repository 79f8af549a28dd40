// JSON values of the meta column family (nlohmann/json: metadata is small
// and rarely written, and JSON keeps `ldb dump` readable for operators).
//
// Decoding never throws: a value that does not parse or lacks a field is an
// error string, which open() turns into "the store is damaged".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/segment_list.h"
#include "storage/topic_info.h"

namespace kgw {

// The layout version written at creation; open() refuses newer ones.
inline constexpr std::int64_t kStoreFormat = 1;

std::string encode_format(std::int64_t format);
bool decode_format(std::string_view value, std::int64_t& format, std::string& error);

// Fails (with a message) only if the name or a config is not valid UTF-8,
// which JSON cannot carry: the value would not read back as written.
bool encode_topic(const TopicInfo& topic, std::string& out, std::string& error);
bool decode_topic(std::string_view value, TopicInfo& out, std::string& error);

// A partition's own record: its log start offset (DeleteRecords,
// retention) and the log cleaner's checkpoint (the first offset not yet
// compacted; Kafka's cleaner-offset-checkpoint). Records written before
// the cleaner existed have no checkpoint: 0.
struct PartitionRecord {
  std::int64_t log_start_offset = 0;
  std::int64_t cleaned_offset = 0;
};
std::string encode_partition(const PartitionRecord& p);
bool decode_partition(std::string_view value, PartitionRecord& out, std::string& error);

// A segment record (the base offset is in the key).
std::string encode_segment(const Segment& s);
bool decode_segment(std::string_view value, Segment& out, std::string& error);

}  // namespace kgw
