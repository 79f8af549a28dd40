// Leader elections of the Controller (controller.h): ElectLeaders requests
// and the automatic preferred-leader rebalance. What moves is decided by
// leader_election.h; this writes it with the compares of every controller
// write (controller epoch, partition keys unchanged since the image, new
// leaders registered).
#include <set>
#include <utility>

#include "common/log.h"
#include "src/cluster/controller.h"
#include "src/cluster/etcd_layout.h"

namespace kgw {

void Controller::commit_election(const etcd::KeyValue& request, const ElectLeaders& election,
                                 const MetadataImage& image, std::int64_t revision, int attempt) {
  ElectionDecision d = decide_elections(
      image, election, [&](std::int32_t id) { return eligible(image, id); },
      options_.partitions_per_txn);
  Ops ops;
  std::set<std::int32_t> leaders;
  for (const SetPartitionStates& c : d.changes) {
    Ops one = ops_of(c, image, revision);
    ops.compare.insert(ops.compare.end(), one.compare.begin(), one.compare.end());
    ops.ops.insert(ops.ops.end(), one.ops.begin(), one.ops.end());
    for (const PartitionImage& p : c.partitions) leaders.insert(p.leader);
  }
  for (std::int32_t id : leaders) {
    ops.compare.push_back(etcd::Compare{layout::broker_key(options_.prefix, id),
                                        etcd::Compare::kVersion, etcd::Compare::kGreater, 0, ""});
  }
  ops.changes_image = d.changed > 0;
  if (d.changed > 0) {
    LOG_INFO("controller", "%s election moves the leader of %zu partition(s)",
             election.election_type == ElectLeaders::kUnclean ? "unclean" : "preferred", d.changed);
  }
  commit_request(request, std::move(ops), ErrorCode::kNone, "", attempt, std::move(d.outcomes));
}

void Controller::schedule_rebalance() {
  if (!options_.auto_leader_rebalance) return;
  defer(options_.leader_imbalance_check_interval_ms, 0, true, [this] {
    rebalance_due_ = true;
    pump();
    schedule_rebalance();
  });
}

// Kafka's checkAndTriggerAutoLeaderRebalance: a preferred election for the
// partitions of brokers whose imbalance is above the percentage, whose
// preferred replica can lead now. More than one txn's worth: the next
// pass follows at once.
void Controller::rebalance_pass(std::function<void()> done, int attempt) {
  defer(attempt == 0 ? 0 : options_.retry_ms, last_written_, true,
        [this, done = std::move(done), attempt] {
          ImagePtr image = log_.image();
          const std::int64_t revision = options_.image_revision();
          auto can_lead = [&](std::int32_t id) { return eligible(*image, id); };
          std::vector<std::string> report;
          const ElectLeaders wanted = imbalanced_partitions(
              *image, can_lead, options_.leader_imbalance_per_broker_percentage, &report);
          if (wanted.partitions.empty()) {
            done();
            return;
          }
          for (const std::string& line : report) {
            LOG_INFO("controller", "leader rebalance: %s", line.c_str());
          }
          const ElectionDecision d =
              decide_elections(*image, wanted, can_lead, options_.partitions_per_txn);
          auto updates = std::make_shared<std::vector<PartitionUpdate>>();
          for (const SetPartitionStates& c : d.changes) {
            TopicPtr t = image->topic(c.id);
            for (const PartitionImage& p : c.partitions) {
              LOG_INFO("controller", "leader rebalance: %s-%d moves to broker %d (leader epoch %d)",
                       t->name.c_str(), p.index, p.leader, p.leader_epoch);
              updates->push_back(
                  PartitionUpdate{layout::partition_key(options_.prefix, c.id, p.index), p, true});
            }
          }
          const bool more = d.changed < wanted.partitions.size();
          write_updates(
              updates, revision, 0,
              [this, done, more] {
                if (more) rebalance_due_ = true;
                done();
              },
              [this, done, attempt] {
                if (attempt + 1 >= options_.max_attempts) {
                  LOG_WARN("controller", "leader rebalance gave up after %d attempts", attempt + 1);
                  done();
                  return;
                }
                rebalance_pass(done, attempt + 1);
              });
        });
}

}  // namespace kgw
