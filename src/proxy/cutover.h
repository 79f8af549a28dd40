// Cutover: the steps of a migration (issue 17) that kgw takes itself,
// once a user asked for them (src/proxy/migration_state.h has the states):
//
//  - kgw.migration.state=cutover: switch the topic to kgw, fenced.
//    The happy path is:
//      fence: the resolver already answers the topic's Produce with
//        NOT_LEADER_OR_FOLLOWER (producers retry, as on a leader change),
//        while Fetch and ListOffsets still go to the legacy cluster;
//      drain: wait until no transaction the legacy cluster coordinates
//        has the topic open there (UpstreamTxns, src/proxy/upstream_txns.h:
//        their writes and further partitions pass the fence so that they
//        can end; a new transaction cannot add the topic meanwhile) and no
//        Produce kgw forwarded for the topic is still unanswered
//        (Upstream::produces_in_flight), so the legacy log can no longer
//        grow through kgw. After the switch such transactions write to
//        kgw's copy, which kgw marks itself when the legacy coordinator
//        has decided (TransactionCoordinator::end_upstream_txn);
//      target: ask each legacy leader (ListOffsets LATEST, read
//        uncommitted and read committed) for every partition's high
//        watermark and last stable offset; an open transaction (LSO < HW
//        there, or mirrored records of a transaction with no marker yet
//        in kgw's copy) means asking again, as the transaction may end
//        within the pause;
//      catch up: the mirror (still fetching the topic) brings kgw's copy to
//        those offsets;
//      switch: one SetTopicConfigs: state local, kgw.migration.finalized
//        false, kgw.migration.leader.epoch above every legacy epoch (and
//        every epoch in kgw's copy), so clients holding a legacy epoch
//        accept kgw's leader; and the legacy topic's configs that are not
//        defaults there (DescribeConfigs: retention, cleanup policy, ...,
//        each as kgw validates it; the copy's own retention.ms=-1 and
//        retention.bytes=-1 give way to the legacy values or kgw's
//        defaults), so the topic behaves as it did. From the next request on, clients read and
//        write kgw's copy, at the same offsets.
//    Producers' ids, epochs and sequences are kgw's already: the mirror
//    applied every batch to the producer state (ProducerStateManager), so
//    an idempotent producer continues its sequence here.
//  - kgw.migration.state=upstream (rollback): drop kgw's copy (DeleteTopic);
//    the legacy cluster serves the topic again. A topic rolled back after
//    its switch (kgw.migration.leader.epoch set; src/proxy/copy_back.h
//    copied kgw's records back) stays as a stub: kgw's copy as it was at
//    the rollback (retention off), and its leader epoch, so that Metadata
//    never answers an epoch below the one clients hold.
//
//  - kgw.migration.state=local with kgw.migration.finalized=false (after
//    the switch, until finalize): the watch. Every `watch_interval_ms` the
//    legacy leaders are asked for the topic's high watermarks; one that is
//    not where the legacy log ended at the switch
//    (kgw.migration.legacy.end) means records reached the legacy cluster
//    around kgw (a client still bootstrapped to it) or the legacy log was
//    cut: the two logs have diverged. kgw says so loudly (an error in its
//    log, and the topic config kgw.migration.diverged, which kgw-admin
//    migrate status shows) and changes nothing else: the records are the
//    user's to reconcile.
//
// Possible failure modes: the pause (`max_pause_ms`, the broker config
// migration.cutover.max.pause.ms) runs out before the switch (a legacy
// broker that does not answer, a transaction that stays open, a mirror
// that cannot catch up): the topic goes back to mirroring, produce is
// forwarded again, and the log says which partition held it up. A
// metadata write that fails is retried within the pause. A write that
// reached the legacy cluster around kgw after the target was taken (a
// client still configured with the legacy bootstrap) is not in kgw's
// copy: it is what finalize's watch (not built yet) is for.
//
// Threads: the loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/timer_queue.h"
#include "protocol/wire/types.h"

namespace kgw {

class MetadataLog;
class ProducerStateManager;
class Store;
class Upstream;
struct TopicImage;

struct CutoverOptions {
  // Default: 1000 (migration.cutover.max.pause.ms). How long produce may be
  // fenced before the cutover is abandoned.
  std::uint64_t max_pause_ms = 1000;
  // Default: 200. How often the image is scanned for topics to act on.
  std::uint64_t scan_interval_ms = 200;
  // Default: 5. The scan interval while a cutover is under way.
  std::uint64_t busy_scan_interval_ms = 5;
  // Default: 1000. How often a switched, not finalized topic's legacy high
  // watermarks are compared with where the legacy log ended.
  std::uint64_t watch_interval_ms = 1000;
  // "" if kgw takes topic config `name`=`value`, else why not (main.cc
  // passes the broker's validation). Unset: no legacy config is copied.
  std::function<std::string(const std::string& name, const std::string& value)> check_topic_config;
};

class Cutover {
 public:
  Cutover(uv_loop_t* loop, const Store& store, const ProducerStateManager& producers,
          MetadataLog& metadata, Upstream& upstream, CutoverOptions options = {});
  ~Cutover();
  Cutover(const Cutover&) = delete;
  Cutover& operator=(const Cutover&) = delete;

  void start();
  void stop();

 private:
  // kAbandoning: going back to mirroring failed; tried again.
  enum class Phase : std::uint8_t {
    kDraining,
    kAsking,
    kAsked,
    kCatchingUp,
    kSwitching,
    kAbandoning,
    kDone
  };
  struct Topic {
    std::string name;
    std::uint64_t started = 0;
    Phase phase = Phase::kDraining;
    int answers_pending = 0;
    bool ask_failed = false;
    // By partition: the legacy high watermark and last stable offset.
    std::map<std::int32_t, std::int64_t> high_watermark;
    std::map<std::int32_t, std::int64_t> last_stable;
    std::string held_by;  // why it has not switched yet (for the log)
    // The legacy topic's configs that are not defaults there (asked once
    // per cutover; `configs_done` once answered or failed).
    bool configs_asked = false;
    bool configs_done = false;
    bool configs_known = false;
    std::map<std::string, std::string> legacy_configs;
  };

  void scan();
  // One step of a topic in cutover; true while it is under way.
  bool step(const TopicImage& t, Topic& c, std::uint64_t now);
  // The topic's partitions by legacy leader; false (and `no_leader`) if
  // one has no known leader.
  bool partitions_by_leader(const TopicImage& t,
                            std::map<std::int32_t, std::vector<std::int32_t>>& out,
                            std::int32_t& no_leader);
  void ask(const TopicImage& t, Topic& c);
  void ask_configs(const TopicImage& t, Topic& c, std::int32_t leader);
  void switch_topic(const TopicImage& t, Topic& c, std::uint64_t now);
  void abandon(const TopicImage& t, Topic& c);
  void roll_back(const TopicImage& t);
  // Upstream::set_epoch_floor from kgw.migration.leader.epoch.
  void set_epoch_floor(const TopicImage& t);
  void watch(const TopicImage& t, std::uint64_t now);
  void on_watched(const Uuid& id, const std::map<std::int32_t, std::int64_t>& high_watermarks);

  const Store& store_;
  const ProducerStateManager& producers_;
  MetadataLog& metadata_;
  Upstream& upstream_;
  CutoverOptions options_;
  TimerQueue timers_;
  TimerQueue::Id timer_ = 0;
  std::map<Uuid, Topic> topics_;
  std::map<Uuid, bool> dropping_;
  struct Watch {
    std::uint64_t next = 0;
    bool in_flight = false;
  };
  std::map<Uuid, Watch> watches_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool stopped_ = false;
};

}  // namespace kgw
