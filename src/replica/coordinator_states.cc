#include "src/replica/coordinator_states.h"

#include <utility>

#include "common/log.h"
#include "src/group/group_coordinator.h"
#include "src/group/offset_manager.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

// --- Groups -----------------------------------------------------------------

void GroupCoordinatorState::attach(CoordinatorLog& log, OffsetsStore& offsets_store) {
  offsets_store.set_replicator([&log](std::vector<RecordWrite> writes, Store::Done done) {
    log.replicate(std::move(writes), std::move(done));
  });
  groups_.set_loading_check([&log](std::string_view group_id) { return log.loading(group_id); });
}

std::optional<std::string> GroupCoordinatorState::key_of(std::string_view record_key) const {
  return offsets_record_group(record_key);
}

std::size_t GroupCoordinatorState::drop(const Which& which) {
  const std::size_t gone = groups_.unload_groups(which);
  offsets_.unload_groups(which);
  return gone;
}

void GroupCoordinatorState::load(const std::string& name,
                                 const std::map<std::string, std::optional<std::string>>& state) {
  std::size_t groups = 0;
  std::size_t offsets = 0;
  // 'G' keys sort before 'O' and 'Q': a group's record loads before its
  // offsets.
  for (const auto& [key, value] : state) {
    if (!value) continue;
    std::string error = visit_offsets_record(
        key, *value,
        [this, &groups](GroupRecord r) {
          groups_.load_group(std::move(r), /*start_sessions=*/true);
          ++groups;
        },
        [this, &offsets](const std::string& group_id, const std::string& topic, std::int32_t index,
                         CommittedOffset o) {
          offsets_.load_offset(group_id, topic, index, std::move(o));
          ++offsets;
        },
        [this](const std::string& group_id, std::int64_t producer_id, const std::string& topic,
               std::int32_t index, CommittedOffset o) {
          offsets_.load_txn_offset(group_id, producer_id, topic, index, std::move(o));
        });
    if (!error.empty()) {
      LOG_WARN("coordinator", "loading %s: %s (skipped)", name.c_str(), error.c_str());
    }
  }
  LOG_INFO("coordinator", "%s: %zu group(s), %zu offset(s)", name.c_str(), groups, offsets);
}

void GroupCoordinatorState::write_local(std::vector<RecordWrite> writes, Store::Done done) {
  store_.write_records(RecordFamily::kOffsets, std::move(writes), std::move(done));
}

std::string GroupCoordinatorState::scan_local(
    const std::function<void(std::string_view key, std::string_view value)>& fn) {
  return store_.scan_records(RecordFamily::kOffsets,
                             [&](std::string_view key, std::string_view value) -> std::string {
                               if (key_of(key)) fn(key, value);
                               return "";
                             });
}

// --- Transactions -------------------------------------------------------------

void TxnCoordinatorState::attach(CoordinatorLog& log) {
  txns_.set_replicator([&log](std::vector<RecordWrite> writes, Store::Done done) {
    log.replicate(std::move(writes), std::move(done));
  });
  txns_.set_serving_check([&log](std::string_view id) { return log.serving(id); });
}

std::optional<std::string> TxnCoordinatorState::key_of(std::string_view record_key) const {
  return ProducerStore::transaction_id_of(record_key);
}

std::size_t TxnCoordinatorState::drop(const Which& which) {
  return txns_.unload_transactions(which);
}

void TxnCoordinatorState::load(const std::string& name,
                               const std::map<std::string, std::optional<std::string>>& state) {
  std::vector<TransactionRecord> loaded;
  for (const auto& [key, value] : state) {
    const std::optional<std::string> id = ProducerStore::transaction_id_of(key);
    if (!value || !id) continue;
    TransactionRecord r;
    r.transactional_id = *id;
    if (!decode_transaction(*value, r)) {
      LOG_WARN("coordinator",
               "loading %s: the state of transactional id '%s' cannot be decoded "
               "(skipped)",
               name.c_str(), id->c_str());
      continue;
    }
    loaded.push_back(std::move(r));
  }
  LOG_INFO("coordinator", "%s: %zu transactional id(s)", name.c_str(), loaded.size());
  txns_.load_transactions(std::move(loaded));
}

void TxnCoordinatorState::write_local(std::vector<RecordWrite> writes, Store::Done done) {
  records_.write(std::move(writes), std::move(done));
}

std::string TxnCoordinatorState::scan_local(
    const std::function<void(std::string_view key, std::string_view value)>& fn) {
  // The family holds partitions' producer states too: transactional ids only.
  return records_.store().scan_records(
      RecordFamily::kProducers, [&](std::string_view key, std::string_view value) -> std::string {
        if (key_of(key)) fn(key, value);
        return "";
      });
}

}  // namespace kgw
