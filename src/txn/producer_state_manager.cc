#include "src/txn/producer_state_manager.h"

#include <algorithm>
#include <climits>
#include <iterator>
#include <set>

#include "protocol/records/control_record.h"
#include "protocol/records/record_iterator.h"

namespace kgw {

namespace {

// Kafka's DefaultRecordBatch.incrementSequence: sequences wrap from
// INT32_MAX to 0.
std::int32_t increment_sequence(std::int32_t seq, std::int32_t by) {
  if (seq > INT32_MAX - by) return by - (INT32_MAX - seq) - 1;
  return seq + by;
}

std::int32_t last_sequence(const RecordBatchHeader& h) {
  return increment_sequence(h.base_sequence, h.last_offset_delta);
}

// In 64 bits, as Kafka's inSequence: INT32_MAX + 1 in 32 bits is undefined
// behaviour, and the optimiser dropped the wrap-around case.
bool in_sequence(std::int32_t last_seq, std::int32_t next_seq) {
  return std::int64_t{next_seq} == std::int64_t{last_seq} + 1 ||
         (next_seq == 0 && last_seq == INT32_MAX);
}

}  // namespace

ProducerStateRecord ProducerStateManager::to_record(const Entry& e) {
  ProducerStateRecord r;
  r.epoch = e.epoch;
  r.coordinator_epoch = e.coordinator_epoch;
  r.txn_first_offset = e.txn_first_offset;
  r.last_timestamp = e.last_timestamp;
  r.batches.assign(e.batches.begin(), e.batches.end());
  r.epoch_offset = e.epoch_offset;
  r.marker_offset = e.marker_offset;
  r.marker_txn_first_offset = e.marker_txn_first_offset;
  return r;
}

bool ProducerStateManager::accept_batch(Entry& e, const RecordBatchHeader& h,
                                        std::int64_t batch_offset, std::int64_t now_ms) {
  if (h.producer_epoch != e.epoch) {
    e.batches.clear();
    e.epoch = h.producer_epoch;
    e.epoch_offset = batch_offset;
  }
  e.batches.push_back(ProducerBatchRecord{h.base_sequence, last_sequence(h), batch_offset,
                                          batch_offset + h.last_offset_delta, h.max_timestamp});
  while (e.batches.size() > kMaxBatches) e.batches.pop_front();
  e.last_timestamp = h.max_timestamp >= 0 ? h.max_timestamp : now_ms;
  if (!h.is_transactional() || e.txn_first_offset >= 0) return false;
  e.txn_first_offset = batch_offset;
  return true;
}

void ProducerStateManager::load_state(const Uuid& topic, std::int32_t partition,
                                      std::int64_t producer_id, ProducerStateRecord r) {
  Partition& p = partitions_[{topic, partition}];
  Entry& e = p.producers[producer_id];
  e.epoch = r.epoch;
  e.coordinator_epoch = r.coordinator_epoch;
  e.txn_first_offset = r.txn_first_offset;
  e.last_timestamp = r.last_timestamp;
  e.batches.assign(r.batches.begin(), r.batches.end());
  e.epoch_offset = r.epoch_offset;
  e.marker_offset = r.marker_offset;
  e.marker_txn_first_offset = r.marker_txn_first_offset;
  if (e.txn_first_offset >= 0) p.open[e.txn_first_offset] = producer_id;
}

void ProducerStateManager::load_aborted(const Uuid& topic, std::int32_t partition,
                                        std::int64_t producer_id, std::int64_t first_offset,
                                        std::int64_t last_offset) {
  partitions_[{topic, partition}].aborted[{last_offset, producer_id}] = first_offset;
}

AppendCheck ProducerStateManager::check_append(const Uuid& topic, std::int32_t partition,
                                               std::span<const RecordBatchHeader> batches,
                                               std::int64_t first_offset, std::int64_t now_ms) {
  AppendCheck out;
  bool any_idempotent = false;
  for (const auto& h : batches) any_idempotent |= h.producer_id >= 0;
  if (!any_idempotent) return out;

  Partition& part = partitions_[{topic, partition}];
  // Work on copies: a refused request changes nothing.
  std::map<std::int64_t, Entry> staged;
  auto entry_of = [&](std::int64_t pid) -> Entry* {
    auto s = staged.find(pid);
    if (s != staged.end()) return &s->second;
    auto it = part.producers.find(pid);
    if (it == part.producers.end()) return nullptr;
    return &staged.emplace(pid, it->second).first->second;
  };

  std::size_t duplicates = 0;
  std::optional<std::int64_t> first_duplicate;
  std::int64_t offset = first_offset;
  std::vector<std::pair<std::int64_t, std::int64_t>> opened;  // (first offset, pid)
  for (const auto& h : batches) {
    const std::int64_t batch_offset = offset;
    offset += std::int64_t{h.last_offset_delta} + 1;
    if (h.producer_id < 0) continue;
    const std::int64_t pid = h.producer_id;
    const std::int32_t last_seq = last_sequence(h);
    Entry* e = entry_of(pid);

    // A retry of a batch already written: Kafka answers with where it went.
    if (e != nullptr && e->epoch == h.producer_epoch) {
      auto dup =
          std::find_if(e->batches.begin(), e->batches.end(), [&](const ProducerBatchRecord& b) {
            return b.first_seq == h.base_sequence && b.last_seq == last_seq;
          });
      if (dup != e->batches.end()) {
        ++duplicates;
        if (!first_duplicate) first_duplicate = dup->first_offset;
        out.duplicate_end = std::max(out.duplicate_end, dup->last_offset + 1);
        continue;
      }
    }
    if (e != nullptr && e->epoch >= 0 && h.producer_epoch < e->epoch) {
      out.error = ErrorCode::kInvalidProducerEpoch;
      out.message = "Producer " + std::to_string(pid) + "'s epoch " +
                    std::to_string(h.producer_epoch) + " is older than the last seen epoch " +
                    std::to_string(e->epoch);
      return out;
    }
    if (e != nullptr && e->epoch >= 0) {
      if (h.producer_epoch != e->epoch) {
        if (h.base_sequence != 0) {
          out.error = ErrorCode::kOutOfOrderSequenceNumber;
          out.message = "Invalid sequence number " + std::to_string(h.base_sequence) +
                        " for the new epoch " + std::to_string(h.producer_epoch) + " of producer " +
                        std::to_string(pid) + ": expected 0";
          return out;
        }
      } else {
        const std::int32_t current = e->batches.empty() ? -1 : e->batches.back().last_seq;
        if (!in_sequence(current, h.base_sequence)) {
          out.error = ErrorCode::kOutOfOrderSequenceNumber;
          out.message = "Out of order sequence number for producer " + std::to_string(pid) + ": " +
                        std::to_string(h.base_sequence) + " (incoming seq. number), " +
                        std::to_string(current) + " (current end sequence number)";
          return out;
        }
      }
    }
    if (e == nullptr) e = &staged.emplace(pid, Entry{}).first->second;
    if (accept_batch(*e, h, batch_offset, now_ms)) opened.emplace_back(batch_offset, pid);
  }
  if (duplicates != 0) {
    if (duplicates != batches.size()) {
      // Kafka producers send one batch per partition; a request mixing a
      // retry with new batches is not something a client does.
      out.error = ErrorCode::kOutOfOrderSequenceNumber;
      out.message = "a produce request mixes already written batches with new ones";
      return out;
    }
    out.duplicate_of = first_duplicate;
    return out;
  }
  for (auto& [pid, e] : staged) {
    out.writes.push_back(ProducerStore::put_state(topic, partition, pid, to_record(e)));
    part.producers[pid] = std::move(e);
  }
  for (const auto& [first, pid] : opened) part.open[first] = pid;
  return out;
}

std::vector<RecordWrite> ProducerStateManager::on_marker(
    const Uuid& topic, std::int32_t partition, std::int64_t producer_id, std::int16_t epoch,
    bool commit, std::int64_t marker_offset, std::int32_t coordinator_epoch, std::int64_t now_ms) {
  Partition& part = partitions_[{topic, partition}];
  Entry& e = part.producers[producer_id];
  std::vector<RecordWrite> writes;
  if (epoch > e.epoch) {
    // A bumped epoch (a fenced or timed-out producer): sequences restart.
    e.epoch = epoch;
    e.batches.clear();
    e.epoch_offset = marker_offset;
  }
  e.coordinator_epoch = coordinator_epoch;
  e.last_timestamp = now_ms;
  if (e.txn_first_offset >= 0) {
    e.marker_offset = marker_offset;
    e.marker_txn_first_offset = e.txn_first_offset;
    if (!commit) {
      part.aborted[{marker_offset, producer_id}] = e.txn_first_offset;
      writes.push_back(ProducerStore::put_aborted(topic, partition, producer_id, e.txn_first_offset,
                                                  marker_offset));
    }
    part.open.erase(e.txn_first_offset);
    e.txn_first_offset = -1;
  }
  writes.push_back(ProducerStore::put_state(topic, partition, producer_id, to_record(e)));
  return writes;
}

namespace {

// The COMMIT/ABORT marker of a control batch; false for anything else.
bool read_marker(Bytes batch, const RecordBatchHeader& h, ControlRecordKey& key,
                 EndTxnMarker& marker) {
  std::vector<std::uint8_t> scratch;
  Bytes records;
  if (batch_records(batch, h, scratch, records, std::size_t{1} << 20) != RecordError::kNone) {
    return false;
  }
  RecordIterator it(records, h.record_count);
  Record r;
  return it.next(r) && parse_control_record_key(r.key, key) == RecordError::kNone &&
         (key.is_commit() || key.is_abort()) &&
         parse_end_txn_marker(r.value, marker) == RecordError::kNone;
}

}  // namespace

std::vector<RecordWrite> ProducerStateManager::apply_replicated(
    const Uuid& topic, std::int32_t partition,
    std::span<const std::span<const std::uint8_t>> batches, std::int64_t now_ms) {
  std::vector<RecordWrite> writes;
  std::set<std::int64_t> touched;  // producers whose state to write at the end
  for (std::span<const std::uint8_t> b : batches) {
    RecordBatchHeader h;
    if (parse_record_batch_header(Bytes(b), h) != RecordError::kNone || h.producer_id < 0) {
      continue;
    }
    if (h.is_control()) {
      ControlRecordKey key;
      EndTxnMarker marker;
      if (!read_marker(Bytes(b), h, key, marker)) continue;
      std::vector<RecordWrite> w = on_marker(
          topic, partition, h.producer_id, h.producer_epoch, key.is_commit(), h.base_offset,
          marker.coordinator_epoch, h.max_timestamp >= 0 ? h.max_timestamp : now_ms);
      writes.insert(writes.end(), std::make_move_iterator(w.begin()),
                    std::make_move_iterator(w.end()));
      touched.erase(h.producer_id);  // on_marker wrote its state
      continue;
    }
    Partition& part = partitions_[{topic, partition}];
    if (accept_batch(part.producers[h.producer_id], h, h.base_offset, now_ms)) {
      part.open[h.base_offset] = h.producer_id;
    }
    touched.insert(h.producer_id);
  }
  for (std::int64_t pid : touched) {
    writes.push_back(ProducerStore::put_state(
        topic, partition, pid, to_record(partitions_[{topic, partition}].producers[pid])));
  }
  return writes;
}

std::vector<RecordWrite> ProducerStateManager::truncate(const Uuid& topic, std::int32_t partition,
                                                        std::int64_t end) {
  std::vector<RecordWrite> writes;
  auto p = partitions_.find({topic, partition});
  if (p == partitions_.end()) return writes;
  Partition& part = p->second;
  // Markers removed: their aborts are undone (the transactions reopen
  // below, from the producers' last markers).
  for (auto it = part.aborted.lower_bound({end, INT64_MIN}); it != part.aborted.end();) {
    writes.push_back(
        ProducerStore::delete_aborted(topic, partition, it->first.second, it->first.first));
    it = part.aborted.erase(it);
  }
  for (auto it = part.producers.begin(); it != part.producers.end();) {
    const std::int64_t pid = it->first;
    Entry& e = it->second;
    bool changed = false;
    while (!e.batches.empty() && e.batches.back().first_offset >= end) {
      e.batches.pop_back();
      changed = true;
    }
    if (e.txn_first_offset >= end) {
      part.open.erase(e.txn_first_offset);
      e.txn_first_offset = -1;
      changed = true;
    }
    if (e.marker_offset >= end) {
      if (e.txn_first_offset < 0 && e.marker_txn_first_offset >= 0 &&
          e.marker_txn_first_offset < end) {
        e.txn_first_offset = e.marker_txn_first_offset;
        part.open[e.txn_first_offset] = pid;
      }
      e.marker_offset = -1;
      e.marker_txn_first_offset = -1;
      changed = true;
    }
    if (e.epoch_offset >= end) {
      if (e.txn_first_offset < 0) {
        writes.push_back(ProducerStore::delete_state(topic, partition, pid));
        it = part.producers.erase(it);
        continue;
      }
      e.batches.clear();
      e.epoch_offset = -1;
      changed = true;
    }
    if (changed) writes.push_back(ProducerStore::put_state(topic, partition, pid, to_record(e)));
    ++it;
  }
  return writes;
}

std::vector<RecordWrite> ProducerStateManager::reset(const Uuid& topic, std::int32_t partition) {
  std::vector<RecordWrite> writes;
  auto p = partitions_.find({topic, partition});
  if (p == partitions_.end()) return writes;
  for (const auto& [pid, e] : p->second.producers) {
    writes.push_back(ProducerStore::delete_state(topic, partition, pid));
  }
  for (const auto& [key, first] : p->second.aborted) {
    writes.push_back(ProducerStore::delete_aborted(topic, partition, key.second, key.first));
  }
  partitions_.erase(p);
  return writes;
}

void ProducerStateManager::on_write_failed(
    const std::function<std::optional<std::int64_t>(const Uuid&, std::int32_t)>& written_end) {
  for (auto& [key, part] : partitions_) {
    const std::optional<std::int64_t> end = written_end(key.first, key.second);
    if (!end) continue;
    for (auto it = part.producers.begin(); it != part.producers.end();) {
      Entry& e = it->second;
      while (!e.batches.empty() && e.batches.back().first_offset >= *end) e.batches.pop_back();
      if (e.txn_first_offset >= *end) {
        part.open.erase(e.txn_first_offset);
        e.txn_first_offset = -1;
      }
      if (e.epoch_offset >= *end) {
        it = part.producers.erase(it);
      } else {
        ++it;
      }
    }
    // Markers not stored: their aborted transactions are not aborted yet.
    // (The transaction they ended stays closed in memory; nothing is
    // written after a failure, and a restart reopens it from disk.)
    for (auto it = part.aborted.lower_bound({*end, INT64_MIN}); it != part.aborted.end();) {
      it = part.aborted.erase(it);
    }
  }
}

std::vector<RecordWrite> ProducerStateManager::expire(
    std::int64_t now_ms, std::int64_t expiration_ms,
    const std::function<std::optional<std::int64_t>(const Uuid&, std::int32_t)>& written_end) {
  std::vector<RecordWrite> deletes;
  for (auto p = partitions_.begin(); p != partitions_.end();) {
    const auto& [topic, partition] = p->first;
    Partition& part = p->second;
    const std::optional<std::int64_t> end = written_end(topic, partition);
    for (auto it = part.producers.begin(); it != part.producers.end();) {
      const Entry& e = it->second;
      const bool written = end && (e.batches.empty() || e.batches.back().last_offset < *end);
      if (e.txn_first_offset < 0 && written && now_ms - e.last_timestamp >= expiration_ms) {
        deletes.push_back(ProducerStore::delete_state(topic, partition, it->first));
        it = part.producers.erase(it);
      } else {
        ++it;
      }
    }
    if (part.producers.empty() && part.open.empty() && part.aborted.empty()) {
      p = partitions_.erase(p);
    } else {
      ++p;
    }
  }
  return deletes;
}

std::size_t ProducerStateManager::size() const {
  std::size_t n = 0;
  for (const auto& [key, part] : partitions_) n += part.producers.size();
  return n;
}

std::vector<ProducerStateManager::OpenTransaction> ProducerStateManager::open_transactions(
    std::int64_t producer_id) const {
  std::vector<OpenTransaction> out;
  for (const auto& [key, part] : partitions_) {
    auto e = part.producers.find(producer_id);
    if (e == part.producers.end() || e->second.txn_first_offset < 0) continue;
    out.push_back(
        OpenTransaction{key.first, key.second, e->second.epoch, e->second.coordinator_epoch});
  }
  return out;
}

bool ProducerStateManager::has_open_transaction(const Uuid& topic, std::int32_t partition,
                                                std::int64_t producer_id) const {
  auto p = partitions_.find({topic, partition});
  if (p == partitions_.end()) return false;
  auto e = p->second.producers.find(producer_id);
  return e != p->second.producers.end() && e->second.txn_first_offset >= 0;
}

std::int64_t ProducerStateManager::last_stable_offset(const Uuid& topic, std::int32_t partition,
                                                      std::int64_t high_watermark) const {
  auto p = partitions_.find({topic, partition});
  if (p == partitions_.end() || p->second.open.empty()) return high_watermark;
  return std::min(high_watermark, p->second.open.begin()->first);
}

std::vector<AbortedTransaction> ProducerStateManager::aborted(const Uuid& topic,
                                                              std::int32_t partition,
                                                              std::int64_t from,
                                                              std::int64_t to) const {
  std::vector<AbortedTransaction> out;
  auto p = partitions_.find({topic, partition});
  if (p == partitions_.end()) return out;
  for (auto it = p->second.aborted.lower_bound({from, INT64_MIN}); it != p->second.aborted.end();
       ++it) {
    if (it->second < to)
      out.push_back(AbortedTransaction{it->first.second, it->second, it->first.first});
  }
  std::sort(out.begin(), out.end(), [](const AbortedTransaction& a, const AbortedTransaction& b) {
    return a.first_offset < b.first_offset;
  });
  return out;
}

std::vector<ActiveProducer> ProducerStateManager::active(const Uuid& topic,
                                                         std::int32_t partition) const {
  std::vector<ActiveProducer> out;
  auto p = partitions_.find({topic, partition});
  if (p == partitions_.end()) return out;
  for (const auto& [pid, e] : p->second.producers) {
    ActiveProducer a;
    a.producer_id = pid;
    a.epoch = e.epoch;
    a.last_sequence = e.batches.empty() ? -1 : e.batches.back().last_seq;
    a.last_timestamp = e.last_timestamp;
    a.coordinator_epoch = e.coordinator_epoch;
    a.current_txn_start_offset = e.txn_first_offset;
    out.push_back(a);
  }
  return out;
}

void ProducerStateManager::on_log_start(const Uuid& topic, std::int32_t partition,
                                        std::int64_t log_start) {
  auto p = partitions_.find({topic, partition});
  if (p == partitions_.end()) return;
  std::vector<RecordWrite> writes;
  auto& aborted = p->second.aborted;
  while (!aborted.empty() && aborted.begin()->first.first < log_start) {
    writes.push_back(ProducerStore::delete_aborted(topic, partition, aborted.begin()->first.second,
                                                   aborted.begin()->first.first));
    aborted.erase(aborted.begin());
  }
  if (!writes.empty()) store_.write(std::move(writes), [](const std::string&) {});
}

void ProducerStateManager::on_topic_deleted(const Uuid& topic) {
  // The store deletes the records with the topic.
  auto it = partitions_.lower_bound({topic, 0});
  while (it != partitions_.end() && it->first.first == topic) it = partitions_.erase(it);
}

}  // namespace kgw
