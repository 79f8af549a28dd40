// CopyBack: a migration's rollback after the switch (issue 17), the
// `rollback` state (src/proxy/migration_state.h). kgw owns the topic and
// has written records the legacy cluster has not seen; handing the topic
// back must lose none of them and shift no offset, so kgw copies its own
// log since the switch back to the legacy leaders, batch by batch, at the
// same offsets, then switches the topic to `upstream`.
//
// The happy path of a partition is:
//   ask: ListOffsets LATEST to the legacy leader; its high watermark is
//     where the legacy log ended at the switch (kgw.migration.legacy.end,
//     which then records the copy's progress every second);
//   copy: kgw's next batches (Store::read from there, read ahead), each
//     sent as it is in a Produce (acks=all, one batch per request as Kafka
//     requires, one request in flight per partition so that batches land
//     in order), and
//     the legacy leader's answer must put it at kgw's base offset; again
//     until the copy reaches kgw's high watermark. Idempotent batches keep
//     their producer ids, epochs and sequences: the legacy cluster saw the
//     same producers' earlier sequences before the switch, so it takes
//     them as their continuation, and a retried batch as a duplicate.
// Meanwhile kgw keeps serving the topic (reads and writes). Once every
// partition is close (what is left takes a quarter of the pause at the
// rate measured, or nothing is left), the switch:
//   fence: Upstream::fence_writes(topic): produce is held as in a cutover
//     (handlers/produce.cc), at most `max_pause_ms`;
//   drain: no Produce kgw took for the topic is unanswered
//     (Upstream::local_writes_in_flight: an append may wait for the
//     threadpool before it takes its offsets) and kgw's log end and high
//     watermark are equal;
//   copy the tail, as above;
//   switch: one SetTopicConfigs: state upstream, kgw.migration.legacy.end
//     where both logs now end, kgw.migration.leader.epoch kept. Clients
//     hold kgw's leader epoch, above the legacy one: the Metadata answer
//     never goes below it and forwarded requests carry no epoch for the
//     topic (Upstream::epoch_floor). Then the fence is lifted: the held
//     produce requests go to the legacy cluster, in order.
// kgw's copy is then kept as a stub, as it is (retention and cleaning
// off: the fallback the legacy copy was), so that the epoch floor survives
// restarts and a later `migrate start` mirrors on from its end.
//
// A partition whose legacy log is already past where it ended at the
// switch (a rollback resumed after a restart or a failed call) is
// verified first: the legacy batches from there are compared with kgw's
// (offsets, producer fields and records: the bytes from producer id on,
// which a Kafka leader does not rewrite), and the copy resumes after the
// last one that matches.
//
// Possible failure modes, none thrown: a legacy leader that is down or
// moved (the call fails, or NOT_LEADER_OR_FOLLOWER and friends): the
// Upstream refreshes its metadata and the partition is asked again after
// `backoff_ms`; the pause runs out before the switch: the fence is lifted,
// kgw serves the topic on and tries again after `retry_fence_ms`. What
// stops the rollback (logged as an error, recorded in the topic config
// kgw.migration.diverged, which `kgw-admin migrate status` shows; kgw
// keeps serving the topic): a legacy log that is not kgw's (records
// written around kgw, a legacy log cut below where it ended), a
// transactional or control batch in kgw's log since the switch (only a
// transaction coordinator may write those: a client Produce cannot carry
// them back), a gap in kgw's log (compaction since the switch), and a
// batch the legacy leader refuses for good (OUT_OF_ORDER_SEQUENCE_NUMBER
// after its producer state expired, INVALID_RECORD, ...).
//
// Threads: the loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/timer_queue.h"
#include "protocol/wire/types.h"

namespace kgw {

class BrokerConnection;
class MetadataLog;
class Store;
class Upstream;
struct TopicImage;

struct CopyBackOptions {
  // Default: 1000 (migration.cutover.max.pause.ms). How long produce may be
  // held at the switch.
  std::uint64_t max_pause_ms = 1000;
  // Default: 100. How often the image is scanned for topics to copy back.
  std::uint64_t scan_interval_ms = 100;
  // Default: 5. The scan interval while produce is held.
  std::uint64_t busy_scan_interval_ms = 5;
  // Default: 500. Wait after a failed call or a partition error.
  std::uint64_t backoff_ms = 500;
  // Default: 1000. Wait after a switch given up past the pause.
  std::uint64_t retry_fence_ms = 1000;
  // Default: 1000. How often the copy's progress is recorded in
  // kgw.migration.legacy.end.
  std::uint64_t record_interval_ms = 1000;
  // Default: 262144. Bytes of kgw's log read ahead per partition.
  std::int32_t read_ahead_bytes = 262144;
  // Default: 1048576. Bytes of the legacy log compared per verification
  // round.
  std::int32_t verify_max_bytes = 1048576;
};

class CopyBack {
 public:
  CopyBack(uv_loop_t* loop, Store& store, MetadataLog& metadata, Upstream& upstream,
           CopyBackOptions options = {});
  ~CopyBack();
  CopyBack(const CopyBack&) = delete;
  CopyBack& operator=(const CopyBack&) = delete;

  void start();
  void stop();

 private:
  enum class Step : std::uint8_t { kAsk, kVerify, kCopy, kBlocked };
  struct Part {
    Step step = Step::kAsk;
    bool in_flight = false;
    std::uint64_t retry_at = 0;
    // The legacy log holds kgw's log up to here (known), -1 before asked.
    std::int64_t legacy_end = -1;
    // kVerify: the legacy high watermark to verify up to.
    std::int64_t legacy_hw = -1;
    // kCopy: kgw's next batches from legacy_end on, read ahead.
    std::deque<std::shared_ptr<std::vector<std::uint8_t>>> queued;
  };
  struct Topic {
    std::string name;
    std::map<std::int32_t, Part> parts;
    bool fenced = false;
    std::uint64_t fenced_at = 0;
    std::uint64_t next_fence = 0;
    bool switching = false;
    std::string blocked;  // why the rollback cannot go on ("" if it can)
    bool blocked_recorded = false;
    std::uint64_t next_record = 0;
    // Offsets copied, and the rate measured over about a second.
    std::int64_t copied = 0;
    std::int64_t copied_then = 0;
    std::uint64_t rate_at = 0;
    double rate = 0;
  };

  void scan();
  // One topic's work; true while its produce is held.
  bool step(const TopicImage& t, Topic& c, std::uint64_t now);
  void ask(const TopicImage& t, std::int32_t p, Part& part);
  void verify(const TopicImage& t, std::int32_t p, Part& part);
  void copy(const TopicImage& t, std::int32_t p, Part& part);
  // The partition's next queued batch to its legacy leader.
  void send(const Uuid& id, std::int32_t p);
  void switch_topic(const TopicImage& t, Topic& c, std::uint64_t now);
  // kgw.migration.legacy.end := how far the copy is (kgw-admin migrate
  // status shows it; a restart verifies less).
  void record_progress(const TopicImage& t, Topic& c, std::uint64_t now);
  void block(const Uuid& id, std::int32_t p, std::string why);
  void retry(const Uuid& id, std::int32_t p);
  // The connection to partition p's legacy leader; nullptr (and the
  // partition asked again later) when the leader is unknown or unreachable.
  BrokerConnection* leader_or_retry(const Uuid& id, const std::string& topic, std::int32_t p);
  Part* part(const Uuid& id, std::int32_t p);
  // In an answer's callback: the partition it is for, its request no
  // longer in flight; nullptr when the copy-back or the partition is gone.
  Part* landed(const std::weak_ptr<bool>& alive, const Uuid& id, std::int32_t p);
  // scan() on the loop's next turn, instead of at its next tick.
  void scan_now();
  void unfence(Topic& c);

  Store& store_;
  MetadataLog& metadata_;
  Upstream& upstream_;
  CopyBackOptions options_;
  TimerQueue timers_;
  TimerQueue::Id timer_ = 0;
  std::map<Uuid, Topic> topics_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool stopped_ = false;
};

}  // namespace kgw
