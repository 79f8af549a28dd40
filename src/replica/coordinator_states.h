// The two coordinators whose state a cluster keeps in replicated internal
// partitions (coordinator_log.h): what each writes there, how a record key
// names its coordinator key, and how a partition's state loads and drops.
//  - GroupCoordinatorState: `__consumer_offsets`, the group coordinator's
//    groups and the offset manager's committed (and transactional) offsets;
//    takes over the OffsetsStore's writes and the groups' loading check.
//  - TxnCoordinatorState: `__transaction_state`, the transaction
//    coordinator's transactional ids (TransactionRecord); takes over its
//    writes and answers its requests COORDINATOR_LOAD_IN_PROGRESS while the
//    id's partition is not loaded here. A loaded partition's prepared
//    transactions are completed and ongoing ones' timeouts re-armed.
// Threads: the loop thread only.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/replica/coordinator_log.h"
#include "storage/offsets_store.h"
#include "storage/producer_store.h"

namespace kgw {

class GroupCoordinator;
class OffsetManager;
class TransactionCoordinator;

class GroupCoordinatorState final : public CoordinatorState {
 public:
  GroupCoordinatorState(Store& store, GroupCoordinator& groups, OffsetManager& offsets)
      : store_(store), groups_(groups), offsets_(offsets) {}
  // Routes the OffsetsStore's writes and the groups' loading check to `log`.
  void attach(CoordinatorLog& log, OffsetsStore& offsets_store);

  std::optional<std::string> key_of(std::string_view record_key) const override;
  std::size_t drop(const Which& which) override;
  void load(const std::string& name,
            const std::map<std::string, std::optional<std::string>>& state) override;
  void write_local(std::vector<RecordWrite> writes, Store::Done done) override;
  std::string scan_local(
      const std::function<void(std::string_view key, std::string_view value)>& fn) override;

 private:
  Store& store_;
  GroupCoordinator& groups_;
  OffsetManager& offsets_;
};

class TxnCoordinatorState final : public CoordinatorState {
 public:
  TxnCoordinatorState(ProducerStore& records, TransactionCoordinator& txns)
      : records_(records), txns_(txns) {}
  // Routes the transaction coordinator's writes and its loading check to `log`.
  void attach(CoordinatorLog& log);

  std::optional<std::string> key_of(std::string_view record_key) const override;
  std::size_t drop(const Which& which) override;
  void load(const std::string& name,
            const std::map<std::string, std::optional<std::string>>& state) override;
  void write_local(std::vector<RecordWrite> writes, Store::Done done) override;
  std::string scan_local(
      const std::function<void(std::string_view key, std::string_view value)>& fn) override;

 private:
  ProducerStore& records_;
  TransactionCoordinator& txns_;
};

}  // namespace kgw
