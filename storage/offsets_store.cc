#include "storage/offsets_store.h"

#include "protocol/wire/reader.h"
#include "protocol/wire/writer.h"
#include "storage/keys.h"

namespace kgw {

namespace {

constexpr char kGroupKey = 'G';
constexpr char kOffsetKey = 'O';
constexpr char kTxnOffsetKey = 'Q';
constexpr std::uint8_t kFormat = 0;

void put_u16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

std::string group_key(const std::string& group_id) {
  std::string k;
  k.reserve(1 + group_id.size());
  k.push_back(kGroupKey);
  k += group_id;
  return k;
}

// Group ids and topic names are Kafka strings (int16 length), so a u16
// length always fits.
std::string offset_key(const std::string& group_id, const std::string& topic,
                       std::int32_t partition) {
  std::string k;
  k.reserve(1 + 2 + group_id.size() + 2 + topic.size() + 4);
  k.push_back(kOffsetKey);
  put_u16(k, group_id.size());
  k += group_id;
  put_u16(k, topic.size());
  k += topic;
  keys::put_u32(k, static_cast<std::uint32_t>(partition));
  return k;
}

std::string txn_offset_key(const std::string& group_id, std::int64_t producer_id,
                           const std::string& topic, std::int32_t partition) {
  std::string k;
  k.push_back(kTxnOffsetKey);
  put_u16(k, group_id.size());
  k += group_id;
  keys::put_i64(k, producer_id);
  put_u16(k, topic.size());
  k += topic;
  keys::put_u32(k, static_cast<std::uint32_t>(partition));
  return k;
}

// Offset keys, with the producer id between group and topic for 'Q' keys.
bool parse_offset_key(std::string_view key, std::string& group_id, std::string& topic,
                      std::int32_t& partition, std::int64_t* producer_id = nullptr) {
  std::size_t at = 1;
  auto take_string = [&](std::string& out) {
    if (key.size() < at + 2) return false;
    std::size_t n =
        (static_cast<std::uint8_t>(key[at]) << 8) | static_cast<std::uint8_t>(key[at + 1]);
    at += 2;
    if (key.size() < at + n) return false;
    out.assign(key.substr(at, n));
    at += n;
    return true;
  };
  if (!take_string(group_id)) return false;
  if (producer_id != nullptr) {
    if (key.size() < at + 8) return false;
    *producer_id = keys::get_i64(key.data() + at);
    at += 8;
  }
  if (!take_string(topic) || key.size() != at + 4) return false;
  partition = static_cast<std::int32_t>(keys::get_u32(key.data() + at));
  return partition >= 0;
}

std::string to_string(const std::vector<std::uint8_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

std::string owned(std::string_view s) {
  return std::string(s);
}
std::optional<std::string> owned(const std::optional<std::string_view>& s) {
  return s ? std::optional<std::string>(std::string(*s)) : std::nullopt;
}
std::optional<std::string_view> view(const std::optional<std::string>& s) {
  return s ? std::optional<std::string_view>(*s) : std::nullopt;
}

}  // namespace

std::string encode_committed_offset(const CommittedOffset& o) {
  std::vector<std::uint8_t> out;
  Writer w(out);
  w.i8(static_cast<std::int8_t>(kFormat));
  w.i64(o.offset);
  w.i32(o.leader_epoch);
  w.i64(o.commit_timestamp);
  w.i64(o.expire_timestamp);
  w.bytes(Bytes(o.metadata), false);
  return to_string(out);
}

bool decode_committed_offset(std::string_view value, CommittedOffset& out) {
  Reader r{Bytes(value)};
  if (r.i8() != kFormat) return false;
  out.offset = r.i64();
  out.leader_epoch = r.i32();
  out.commit_timestamp = r.i64();
  out.expire_timestamp = r.i64();
  Bytes metadata = r.bytes(false);
  if (!r.ok() || r.remaining() != 0) return false;
  out.metadata.assign(reinterpret_cast<const char*>(metadata.data()), metadata.size());
  return true;
}

std::string encode_group_record(const GroupRecord& g) {
  std::vector<std::uint8_t> out;
  Writer w(out);
  w.i8(static_cast<std::int8_t>(kFormat));
  w.string(g.protocol_type, false);
  w.i32(g.generation_id);
  w.nullable_string(view(g.protocol_name), false);
  w.nullable_string(view(g.leader), false);
  w.i64(g.state_timestamp);
  w.i32(static_cast<std::int32_t>(g.members.size()));
  for (const auto& m : g.members) {
    w.string(m.member_id, false);
    w.nullable_string(view(m.group_instance_id), false);
    w.string(m.client_id, false);
    w.string(m.client_host, false);
    w.i32(m.rebalance_timeout_ms);
    w.i32(m.session_timeout_ms);
    w.bytes(Bytes(m.subscription), false);
    w.bytes(Bytes(m.assignment), false);
  }
  return to_string(out);
}

bool decode_group_record(std::string_view value, GroupRecord& out) {
  Reader r{Bytes(value)};
  if (r.i8() != kFormat) return false;
  out.protocol_type = owned(r.string(false));
  out.generation_id = r.i32();
  out.protocol_name = owned(r.nullable_string(false));
  out.leader = owned(r.nullable_string(false));
  out.state_timestamp = r.i64();
  // Each member takes at least 2+2+2+2+4+4+4+4 bytes.
  const std::int32_t n = r.array_length(false, false, 24);
  if (!r.ok()) return false;
  out.members.clear();
  out.members.reserve(static_cast<std::size_t>(n));
  for (std::int32_t i = 0; i < n && r.ok(); ++i) {
    auto& m = out.members.emplace_back();
    m.member_id = owned(r.string(false));
    m.group_instance_id = owned(r.nullable_string(false));
    m.client_id = owned(r.string(false));
    m.client_host = owned(r.string(false));
    m.rebalance_timeout_ms = r.i32();
    m.session_timeout_ms = r.i32();
    Bytes sub = r.bytes(false);
    m.subscription.assign(reinterpret_cast<const char*>(sub.data()), sub.size());
    Bytes assignment = r.bytes(false);
    m.assignment.assign(reinterpret_cast<const char*>(assignment.data()), assignment.size());
  }
  return r.ok() && r.remaining() == 0;
}

void OffsetsStore::Batch::put_group(const GroupRecord& group) {
  writes_.push_back(RecordWrite{group_key(group.group_id), encode_group_record(group)});
}

void OffsetsStore::Batch::delete_group(const std::string& group_id) {
  writes_.push_back(RecordWrite{group_key(group_id), std::nullopt});
}

void OffsetsStore::Batch::put_offset(const std::string& group_id, const std::string& topic,
                                     std::int32_t partition, const CommittedOffset& offset) {
  writes_.push_back(
      RecordWrite{offset_key(group_id, topic, partition), encode_committed_offset(offset)});
}

void OffsetsStore::Batch::delete_offset(const std::string& group_id, const std::string& topic,
                                        std::int32_t partition) {
  writes_.push_back(RecordWrite{offset_key(group_id, topic, partition), std::nullopt});
}

void OffsetsStore::Batch::put_txn_offset(const std::string& group_id, std::int64_t producer_id,
                                         const std::string& topic, std::int32_t partition,
                                         const CommittedOffset& offset) {
  writes_.push_back(RecordWrite{txn_offset_key(group_id, producer_id, topic, partition),
                                encode_committed_offset(offset)});
}

void OffsetsStore::Batch::delete_txn_offset(const std::string& group_id, std::int64_t producer_id,
                                            const std::string& topic, std::int32_t partition) {
  writes_.push_back(
      RecordWrite{txn_offset_key(group_id, producer_id, topic, partition), std::nullopt});
}

std::string visit_offsets_record(std::string_view key, std::string_view value,
                                 const OffsetsStore::OnGroup& on_group,
                                 const OffsetsStore::OnOffset& on_offset,
                                 const OffsetsStore::OnTxnOffset& on_txn_offset) {
  if (!key.empty() && key[0] == kGroupKey) {
    GroupRecord g;
    g.group_id.assign(key.substr(1));
    if (!decode_group_record(value, g)) {
      return "offsets: group record of '" + g.group_id + "' cannot be decoded";
    }
    if (on_group) on_group(std::move(g));
    return "";
  }
  if (!key.empty() && key[0] == kOffsetKey) {
    std::string group_id, topic;
    std::int32_t partition = 0;
    CommittedOffset o;
    if (!parse_offset_key(key, group_id, topic, partition)) {
      return "offsets: a committed-offset key is malformed";
    }
    if (!decode_committed_offset(value, o)) {
      return "offsets: committed offset of group '" + group_id + "' " + topic + "-" +
             std::to_string(partition) + " cannot be decoded";
    }
    if (on_offset) on_offset(group_id, topic, partition, std::move(o));
    return "";
  }
  if (!key.empty() && key[0] == kTxnOffsetKey) {
    std::string group_id, topic;
    std::int32_t partition = 0;
    std::int64_t producer_id = -1;
    CommittedOffset o;
    if (!parse_offset_key(key, group_id, topic, partition, &producer_id) ||
        !decode_committed_offset(value, o)) {
      return "offsets: a transactional offset of group '" + group_id + "' cannot be decoded";
    }
    if (on_txn_offset) on_txn_offset(group_id, producer_id, topic, partition, std::move(o));
    return "";
  }
  // Kinds a newer version may add: left alone, so a downgrade starts.
  return "";
}

std::optional<std::string> offsets_record_group(std::string_view key) {
  if (key.empty()) return std::nullopt;
  if (key[0] == kGroupKey) return std::string(key.substr(1));
  if (key[0] != kOffsetKey && key[0] != kTxnOffsetKey) return std::nullopt;
  if (key.size() < 3) return std::nullopt;
  const std::size_t n =
      (static_cast<std::uint8_t>(key[1]) << 8) | static_cast<std::uint8_t>(key[2]);
  if (key.size() < 3 + n) return std::nullopt;
  return std::string(key.substr(3, n));
}

std::string OffsetsStore::load(const OnGroup& on_group, const OnOffset& on_offset,
                               const OnTxnOffset& on_txn_offset) {
  return store_.scan_records(
      RecordFamily::kOffsets, [&](std::string_view key, std::string_view value) -> std::string {
        return visit_offsets_record(key, value, on_group, on_offset, on_txn_offset);
      });
}

void OffsetsStore::write(Batch batch, Store::Done done) {
  if (replicator_) return replicator_(std::move(batch.writes_), std::move(done));
  store_.write_records(RecordFamily::kOffsets, std::move(batch.writes_), std::move(done));
}

}  // namespace kgw
