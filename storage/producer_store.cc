#include "storage/producer_store.h"

#include <cstring>

#include "protocol/wire/reader.h"
#include "protocol/wire/writer.h"
#include "storage/keys.h"

namespace kgw {

namespace {

constexpr std::int8_t kFormat = 0;

std::string to_string(const std::vector<std::uint8_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

// 'P'/'A' keys: kind | topic id (16) | partition (4) | ...
bool parse_partition_key(std::string_view key, std::size_t extra, Uuid& topic,
                         std::int32_t& partition) {
  if (key.size() != 1 + keys::kPartitionPrefixSize + extra) return false;
  std::memcpy(topic.bytes.data(), key.data() + 1, keys::kIdSize);
  partition = static_cast<std::int32_t>(keys::get_u32(key.data() + 1 + keys::kIdSize));
  return partition >= 0;
}

}  // namespace

std::string encode_producer_state(const ProducerStateRecord& r) {
  std::vector<std::uint8_t> out;
  Writer w(out);
  w.i8(kFormat);
  w.i16(r.epoch);
  w.i32(r.coordinator_epoch);
  w.i64(r.txn_first_offset);
  w.i64(r.last_timestamp);
  w.i32(static_cast<std::int32_t>(r.batches.size()));
  for (const auto& b : r.batches) {
    w.i32(b.first_seq);
    w.i32(b.last_seq);
    w.i64(b.first_offset);
    w.i64(b.last_offset);
    w.i64(b.timestamp);
  }
  w.i64(r.epoch_offset);
  w.i64(r.marker_offset);
  w.i64(r.marker_txn_first_offset);
  return to_string(out);
}

bool decode_producer_state(std::string_view value, ProducerStateRecord& out) {
  Reader r{Bytes(value)};
  if (r.i8() != kFormat) return false;
  out.epoch = r.i16();
  out.coordinator_epoch = r.i32();
  out.txn_first_offset = r.i64();
  out.last_timestamp = r.i64();
  const std::int32_t n = r.array_length(false, false, 32);
  if (!r.ok()) return false;
  out.batches.clear();
  for (std::int32_t i = 0; i < n; ++i) {
    ProducerBatchRecord b;
    b.first_seq = r.i32();
    b.last_seq = r.i32();
    b.first_offset = r.i64();
    b.last_offset = r.i64();
    b.timestamp = r.i64();
    out.batches.push_back(b);
  }
  // The three offsets were appended later: a value without them is read
  // with them unknown.
  out.epoch_offset = out.marker_offset = out.marker_txn_first_offset = -1;
  if (r.ok() && r.remaining() != 0) {
    out.epoch_offset = r.i64();
    out.marker_offset = r.i64();
    out.marker_txn_first_offset = r.i64();
  }
  return r.ok() && r.remaining() == 0;
}

std::string encode_transaction(const TransactionRecord& t) {
  std::vector<std::uint8_t> out;
  Writer w(out);
  w.i8(kFormat);
  w.i64(t.producer_id);
  w.i16(t.epoch);
  w.i16(t.last_epoch);
  w.i32(t.timeout_ms);
  w.i8(t.state);
  w.i64(t.start_ms);
  w.i64(t.last_update_ms);
  w.i32(static_cast<std::int32_t>(t.partitions.size()));
  for (const auto& [topic, partition] : t.partitions) {
    w.string(topic, false);
    w.i32(partition);
  }
  w.i32(static_cast<std::int32_t>(t.groups.size()));
  for (const auto& g : t.groups) w.string(g, false);
  return to_string(out);
}

bool decode_transaction(std::string_view value, TransactionRecord& out) {
  Reader r{Bytes(value)};
  if (r.i8() != kFormat) return false;
  out.producer_id = r.i64();
  out.epoch = r.i16();
  out.last_epoch = r.i16();
  out.timeout_ms = r.i32();
  out.state = r.i8();
  out.start_ms = r.i64();
  out.last_update_ms = r.i64();
  std::int32_t n = r.array_length(false, false, 6);
  if (!r.ok()) return false;
  out.partitions.clear();
  for (std::int32_t i = 0; i < n && r.ok(); ++i) {
    std::string topic(r.string(false));
    out.partitions.emplace_back(std::move(topic), r.i32());
  }
  n = r.array_length(false, false, 2);
  if (!r.ok()) return false;
  out.groups.clear();
  for (std::int32_t i = 0; i < n && r.ok(); ++i) out.groups.emplace_back(r.string(false));
  return r.ok() && r.remaining() == 0;
}

RecordWrite ProducerStore::put_state(const Uuid& topic, std::int32_t partition,
                                     std::int64_t producer_id, const ProducerStateRecord& r) {
  return RecordWrite{keys::producer_state_key(topic, partition, producer_id),
                     encode_producer_state(r)};
}

RecordWrite ProducerStore::delete_state(const Uuid& topic, std::int32_t partition,
                                        std::int64_t producer_id) {
  return RecordWrite{keys::producer_state_key(topic, partition, producer_id), std::nullopt};
}

RecordWrite ProducerStore::put_aborted(const Uuid& topic, std::int32_t partition,
                                       std::int64_t producer_id, std::int64_t first_offset,
                                       std::int64_t last_offset) {
  return RecordWrite{keys::aborted_txn_key(topic, partition, last_offset, producer_id),
                     keys::encode_i64(first_offset)};
}

RecordWrite ProducerStore::delete_aborted(const Uuid& topic, std::int32_t partition,
                                          std::int64_t producer_id, std::int64_t last_offset) {
  return RecordWrite{keys::aborted_txn_key(topic, partition, last_offset, producer_id),
                     std::nullopt};
}

RecordWrite ProducerStore::put_transaction(const TransactionRecord& r) {
  return RecordWrite{std::string(1, keys::kTransaction) + r.transactional_id,
                     encode_transaction(r)};
}

RecordWrite ProducerStore::delete_transaction(const std::string& transactional_id) {
  return RecordWrite{std::string(1, keys::kTransaction) + transactional_id, std::nullopt};
}

std::optional<std::string> ProducerStore::transaction_id_of(std::string_view key) {
  if (key.size() < 2 || key[0] != keys::kTransaction) return std::nullopt;
  return std::string(key.substr(1));
}

RecordWrite ProducerStore::put_next_producer_id(std::int64_t next) {
  return RecordWrite{std::string(1, keys::kNextProducerId), keys::encode_i64(next)};
}

std::string ProducerStore::load(const Loaders& l) {
  return store_.scan_records(
      RecordFamily::kProducers, [&](std::string_view key, std::string_view value) -> std::string {
        if (key.empty()) return "";
        Uuid topic;
        std::int32_t partition = 0;
        switch (key[0]) {
          case keys::kProducerState: {
            ProducerStateRecord r;
            if (!parse_partition_key(key, 8, topic, partition) ||
                !decode_producer_state(value, r)) {
              return "producers: a producer state record cannot be decoded";
            }
            const std::int64_t pid = keys::get_i64(key.data() + 1 + keys::kPartitionPrefixSize);
            if (l.state) l.state(topic, partition, pid, std::move(r));
            return "";
          }
          case keys::kAbortedTxn: {
            if (!parse_partition_key(key, 16, topic, partition) || value.size() != 8) {
              return "producers: an aborted-transaction record cannot be decoded";
            }
            const char* p = key.data() + 1 + keys::kPartitionPrefixSize;
            if (l.aborted) {
              l.aborted(topic, partition, keys::get_i64(p + 8), keys::get_i64(value.data()),
                        keys::get_i64(p));
            }
            return "";
          }
          case keys::kTransaction: {
            TransactionRecord t;
            t.transactional_id.assign(key.substr(1));
            if (!decode_transaction(value, t)) {
              return "producers: the state of transactional id '" + t.transactional_id +
                     "' cannot be decoded";
            }
            if (l.transaction) l.transaction(std::move(t));
            return "";
          }
          case keys::kNextProducerId:
            if (key.size() != 1 || value.size() != 8) {
              return "producers: the next producer id record cannot be decoded";
            }
            if (l.next_producer_id) l.next_producer_id(keys::get_i64(value.data()));
            return "";
          default:
            return "";  // a kind a newer version may add
        }
      });
}

void ProducerStore::write(std::vector<RecordWrite> writes, Store::Done done) {
  store_.write_records(RecordFamily::kProducers, std::move(writes), std::move(done));
}

}  // namespace kgw
