// The partition store: topics, partition logs and their offsets, in one
// RocksDB database (see keys.h for the layout, database.h for the column
// families).
//
// Threads. Every method runs on the loop thread that opened the store, and
// every completion is delivered on that thread (through a uv_async_t). Disk
// work never runs there:
//  - writes (appends, topic changes, deletes) go to one writer thread that
//    group-commits them (group_writer.h): everything queued while the
//    previous write ran becomes one WriteBatch and one DB::Write;
//  - reads (read(), offset_for_timestamp()) run on the libuv threadpool
//    (shared with libuv's file and DNS work; UV_THREADPOOL_SIZE, default
//    4, bounds how many run at once).
// A `done` callback never runs inside the call that takes it (errors found
// at once are posted too), except after stop().
//
// The happy path is: append() assigns offsets at once (so the next append
// to the same partition, even before this one is written, gets the next
// offsets), rewrites each batch's base offset in place, and queues the
// write; when the group is written, the partition's high watermark moves
// to the end of the append, the append listener runs and `done` gets the
// base offset. Readers see a batch only once it is below the high
// watermark, i.e. written.
//
// Possible failure modes are:
//  - a bad call (unknown topic or partition, malformed batch, conflicting
//    topic): `done` gets an error string, nothing changes;
//  - a write fails: the error reaches `done` of every operation in the
//    group and of every later write (see group_writer.h: failures are
//    sticky until restart); the high watermark does not move, so nothing
//    unwritten is ever read;
//  - a read finds a damaged batch: the read's error says so.
//
// Durability (StoreOptions::fsync). Every write goes through RocksDB's WAL.
// With fsync=false (the default) a write is acknowledged once the WAL
// write() syscall returned: it survives the kgw process dying (the data is
// in the OS page cache) but not the machine losing power, like Kafka's
// default of acknowledging on page-cache write and leaving flushing to the
// OS (and, in Kafka, to replication). With fsync=true each group commit is
// one synced write: nothing acknowledged is lost to a power failure, at the
// cost of one fsync per group (group commit is what keeps that affordable).
// Either way a group is atomic: after a crash it is all there or not at all.
//
// Memory and queues: the write queue is bounded by bytes in the soft sense
// that append() still queues above the bound but overloaded() turns true;
// the broker stops reading from clients while it is. Each read holds at
// most max_bytes plus one batch.
//
// Retention and compaction (store_maintenance.cc). Each partition is a
// list of segments (segment_list.h): the active one takes appends and
// rolls at segment.bytes / segment.ms. Every log.retention.check.interval.ms
// the loop thread decides in memory which leading segments retention.ms or
// retention.bytes delete (cleanup.policy with delete), moves the log start
// offset and queues one write (DeleteRange of their batches and time index
// entries, their segment records, the partition record); the maintenance
// thread then compacts that key range in RocksDB to reclaim the space.
// Every log.cleaner.backoff.ms the loop picks the dirtiest compacted
// partition whose dirty ratio reached min.cleanable.dirty.ratio (or whose
// dirty data is older than max.compaction.lag.ms) and runs one LogCleaner
// pass for it on the maintenance thread; the pass's changes come back to
// the loop in chunks, which drops those for batches that retention or
// DeleteRecords removed meanwhile and queues the rest to the writer (so no
// write ever resurrects a deleted batch), and adjusts the segments' bytes.
// The cleanable section ends below the active segment, the last batch (so
// the log end offset always has a batch behind it, also after a restart)
// and data younger than min.compaction.lag.ms. The state of the active
// segments is checkpointed every 60 s and at stop(), so a restart after a
// crash re-reads only what was appended since.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <uv.h>

#include "protocol/wire/types.h"
#include "storage/log_cleaner.h"
#include "storage/log_policy.h"
#include "storage/segment_list.h"
#include "storage/topic_info.h"

namespace kgw {

struct CompletedOp;
struct TruncationLookup;
class Database;
class GroupWriter;
class LoopPoster;
class LoopTimer;
class MaintenanceThread;
class PoolJob;

struct StoreOptions {
  // Default: "./data". Created if missing.
  std::string data_dir = "./data";
  // Default: false (--fsync=batch sets true): acknowledge after the WAL
  // write; true: after an fsync per group commit. See "Durability" above.
  bool fsync = false;
  // Default: 64 MiB. Bytes queued for the writer above which overloaded()
  // is true.
  std::size_t max_queued_bytes = 64u << 20;
  // Default: 32 MiB. Largest group commit (one WriteBatch); a bigger burst
  // becomes several writes. One operation larger than this is written
  // alone.
  std::size_t max_group_bytes = 32u << 20;
  // Default: 64 MiB. Cap on one batch's decompressed records when
  // offset_for_timestamp() has to look inside a compressed batch.
  std::size_t max_decompressed_batch_bytes = 64u << 20;
  // Default: false. Tests only: keep the whole store in memory (RocksDB's
  // in-memory Env), new and empty at each open and gone at close, so a
  // unit test needs no temporary directory; data_dir only names it.
  bool in_memory = false;
};

struct AppendResult {
  std::string error;  // "" on success
  std::int64_t base_offset = -1;
  std::int64_t log_start_offset = -1;
};

struct ReadResult {
  std::string error;  // "" on success
  // Whole batches, back to back; empty if nothing at or after the offset
  // is below the high watermark.
  std::vector<std::uint8_t> data;
  std::int64_t high_watermark = -1;
  std::int64_t log_start_offset = -1;
};

// The column families that hold small keyed records rather than partition
// logs: committed offsets and group metadata (offsets_store.h), producer
// state (later). Their key layouts belong to their own stores.
enum class RecordFamily { kOffsets, kProducers };

// One change to a record: a put, or a delete when `value` is empty.
struct RecordWrite {
  std::string key;
  std::optional<std::string> value;
};

struct StoreStats {
  std::uint64_t db_writes = 0;            // DB::Write calls (one per group commit)
  std::uint64_t ops_written = 0;          // operations those writes carried
  std::uint64_t largest_group = 0;        // most operations in one write
  std::size_t queued_bytes = 0;           // waiting for or in the current write
  std::uint64_t retention_deletions = 0;  // partitions retention shortened
  std::uint64_t cleaner_passes = 0;       // log cleaner passes finished
  std::uint64_t cleaner_failures = 0;     // ... that failed
  CleanerStats last_cleaning;             // figures of the last finished pass
};

// A partition's log as retention and the cleaner see it.
struct LogInfo {
  std::int64_t size_bytes = 0;
  std::size_t segments = 0;
  std::int64_t active_segment_base = 0;
  // The cleaner checkpoint: offsets below it are compacted.
  std::int64_t cleaned_offset = 0;
  bool cleaning = false;  // a cleaner pass is running on it
};

class Store {
 public:
  using Done = std::function<void(std::string error)>;

  // Opens (creating if needed) the store in options.data_dir and loads
  // every topic and partition's offsets: two seeks per partition, so the
  // time grows with the number of partitions, not with the data. Blocks on
  // disk: call at startup, before serving. On failure returns nullptr and
  // sets `error` to one line naming the data dir and what to do.
  static std::unique_ptr<Store> open(uv_loop_t* loop, const StoreOptions& options,
                                     std::string& error);

  // Stops the store if stop() was not called (see there).
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- Topics. The returned pointers stay valid until that topic is
  // deleted or the store is destroyed.
  const TopicInfo* find_topic(std::string_view name) const;
  const TopicInfo* find_topic(const Uuid& id) const;
  // Sorted by name.
  std::vector<const TopicInfo*> topics() const;

  // The new topic is visible at once (find_topic, append, ...); `done`
  // runs when its metadata is written, ordered with appends. A zero
  // info.id gets a random v4 UUID. Errors: empty name, partitions < 1,
  // name or id already in use, invalid UTF-8.
  void create_topic(TopicInfo info, Done done);
  // Gone from memory at once; one write deletes its metadata and, by
  // DeleteRange, its whole log and time index. Appends queued before it
  // are written and then deleted with it. `id` is taken by value: callers
  // pass TopicInfo::id, and the TopicInfo is freed here.
  void delete_topic(Uuid id, Done done);
  // new_total must be above the current count.
  void add_partitions(const Uuid& id, std::int32_t new_total, Done done);
  // Replaces the topic's configs (and re-resolves its log policy).
  void set_topic_configs(const Uuid& id, std::map<std::string, std::string> configs, Done done);

  // --- How logs are kept (see "Retention and compaction" below).
  //
  // The store does not read configs itself: the broker resolves each
  // topic's LogPolicy (topic overrides over broker configs) with this
  // function, which the store calls on the loop thread for every topic at
  // once, for each topic created or changed, and on refresh_policies()
  // (after a broker config change). Until it is set, LogPolicy's defaults.
  using PolicyResolver = std::function<LogPolicy(const TopicInfo&)>;
  void set_policy_resolver(PolicyResolver fn);
  void refresh_policies();
  // Starts (or reschedules) the background work: retention checks, the
  // log cleaner, segment checkpoints. Not started until called.
  void set_maintenance(const MaintenanceOptions& options);
  // One retention check / one cleaner round now, as the timers would run
  // them (tests; after a config change).
  void check_retention_now();
  void run_cleaner_now();
  // nullopt if the topic or partition is unknown.
  std::optional<LogInfo> log_info(const Uuid& topic, std::int32_t partition) const;
  const std::string& data_dir() const { return options_.data_dir; }

  // --- Cluster records: small JSON values of the broker's own (dynamic
  // broker configs, client quotas), loaded at open and kept in memory.
  // nullptr if never written.
  const std::string* cluster_record(std::string_view name) const;
  // Visible at once; `done` when written.
  void put_cluster_record(const std::string& name, std::string value, Done done);

  // nullptr if the topic or partition is unknown. Stays valid as the
  // topic's pointer does.
  const PartitionState* partition(const Uuid& topic, std::int32_t partition) const;

  // --- Data.
  //
  // `batches` are whole v2 record batches the caller has validated (size,
  // magic, CRC); the store checks only what it relies on (header present,
  // batch_length matches, last_offset_delta >= 0) and fails the whole call
  // if one is off. Offsets are assigned now, in order; each batch's base
  // offset is rewritten in place (it is outside the CRC).
  // `producer_writes` are records of the producers family written in the
  // same atomic write (idempotent producer state, transaction markers'
  // bookkeeping), so they never disagree with the log after a crash.
  void append(const Uuid& topic, std::int32_t partition,
              std::vector<std::vector<std::uint8_t>> batches,
              std::function<void(AppendResult)> done,
              std::vector<RecordWrite> producer_writes = {});
  // The same without copying the batches first: `batches` are views of
  // whole batches inside a buffer that `owner` keeps alive (for Produce,
  // the request frame). Base offsets are rewritten in place in that
  // buffer, and the store holds `owner` until `done` has run, releasing
  // it on the loop thread.
  void append_in_place(const Uuid& topic, std::int32_t partition,
                       std::vector<std::span<std::uint8_t>> batches,
                       std::shared_ptr<const void> owner, std::function<void(AppendResult)> done,
                       std::vector<RecordWrite> producer_writes = {});

  // --- A follower's log (replication: followers keep a byte-identical
  // copy of the leader's log, Kafka's Log.appendAsFollower, truncateTo and
  // truncateFullyAndStartAt). The replica fetcher calls these on the loop
  // thread; they share the writer with appends, so they are ordered with
  // everything else written to the partition.
  //
  // append_replica: as append_in_place, except that the batches KEEP their
  // base offsets and partition_leader_epoch (the leader's; set_leader_epoch
  // is not applied). The first base offset must be >= the log end offset
  // (equal normally; above it after the leader compacted a gap away) and
  // every base offset above the previous batch's last offset; otherwise
  // `done` gets an error and nothing changes. The log end offset becomes
  // the last batch's last offset + 1; a batch whose epoch is above the
  // latest entry starts a leader-epoch entry at its base offset.
  // `producer_writes` come from ProducerStateManager::apply_replicated.
  void append_replica(const Uuid& topic, std::int32_t partition,
                      std::vector<std::span<std::uint8_t>> batches,
                      std::shared_ptr<const void> owner, std::function<void(AppendResult)> done,
                      std::vector<RecordWrite> producer_writes = {});

  // Records of the producers family to write with a truncation, given the
  // new log end offset (ProducerStateManager::truncate): called on the
  // loop thread once the new end is known, just before the write.
  using TruncateWrites = std::function<std::vector<RecordWrite>(std::int64_t new_end)>;

  // truncate_to: removes every batch whose last offset is >= `offset` (a
  // batch straddling `offset` goes whole: the new log end offset is its
  // base offset; otherwise it is `offset`), with their time index entries,
  // the segments above the new end (the last one left becomes the active
  // segment, its bytes less the removed batches), the leader-epoch entries
  // starting at or above it (Kafka's truncateFromEnd); the cleaner
  // checkpoint is clamped to it. max_timestamp becomes that of the last
  // time index entry left, which is exactly the largest timestamp of the
  // batches left (an entry marks each new maximum); a segment cut in the
  // middle gets that timestamp if its entry lies in the segment, else the
  // smaller of its own and that one (an upper bound: reading its batches
  // to find out is not worth it).
  //  - At once: the log end offset and the written end (high watermark)
  //    move down to `offset` (to the new end once it is known, before
  //    `done`), reads queued from now on return no batch reaching
  //    `offset`, appends and DeleteRecords to the partition fail until the
  //    removal is queued (a second truncate_to too: wait for `done`).
  //  - Then one write looks up the batch at `offset` (it runs alone, after
  //    everything queued before it is written), and the loop queues the
  //    removal as ONE atomic write with `more`'s records: after a crash
  //    either all of it happened or none (then the log is as before).
  //  - `offset` >= the log end offset: no change, done(""). Below the log
  //    start offset: reset_log(offset).
  // A cleaner pass in flight drops its changes to batches at or above the
  // cut (they would bring removed batches back, or delete new ones).
  void truncate_to(const Uuid& topic, std::int32_t partition, std::int64_t offset, Done done,
                   TruncateWrites more = {});
  // reset_log: Kafka's truncateFullyAndStartAt (a follower whose fetch
  // offset fell below the leader's log start): every batch, time index
  // entry, segment and leader-epoch entry of the partition goes; log start
  // = log end = written end = `start_offset`, at once; one atomic write
  // with `producer_writes` (ProducerStateManager::reset's deletes).
  void reset_log(const Uuid& topic, std::int32_t partition, std::int64_t start_offset, Done done,
                 std::vector<RecordWrite> producer_writes = {});

  // Called once, on the loop thread, after the first write that failed
  // (every later one fails too; see group_writer.h), with its error (one
  // line naming the data dir). kgw stops then, as Kafka stops a broker
  // whose only log dir failed.
  void set_failure_listener(std::function<void(const std::string& error)> fn);
  // "" until a write failed, then that write's error.
  const std::string& failure() const { return failure_; }

  // Called on the loop thread after partitions' high watermarks (the
  // written ends) advance, once per partition per group commit: the
  // ReplicaManager (src/replica/) moves its high watermarks and wakes the
  // waits on them with it.
  void set_append_listener(std::function<void(const Uuid& topic, std::int32_t partition)> fn);

  // Batches starting with the one that contains `offset` (or the first
  // after it, across a gap), below the high watermark as it is now, up to
  // max_bytes but, with `min_one_batch`, always at least one whole batch if
  // there is one (as Kafka does for the first partition of a fetch, so a
  // consumer can make progress past a big batch).
  // Checking `offset` against the log start and end offsets is the
  // caller's job (PartitionState::fetch_offset_in_range): a read below the
  // log start returns the first batches still stored.
  // `limit` (exclusive), when not -1, stops the read earlier than the high
  // watermark: read_committed fetches stop at the last stable offset.
  // No batch reaching the bound is returned: bounds fall between batches,
  // except while truncate_to() cuts one, which is going.
  void read(const Uuid& topic, std::int32_t partition, std::int64_t offset, std::int32_t max_bytes,
            std::function<void(ReadResult)> done, std::int64_t limit = -1,
            bool min_one_batch = true);

  // ListOffsets by time: the first record (offset >= log start, below the
  // high watermark) whose timestamp is >= `timestamp`, and that timestamp;
  // offset -1 if there is none. Records of compressed batches are
  // decompressed to find it (LogAppendTime batches: every record has the
  // batch's max timestamp). The special timestamps -1/-2/-3 are the
  // broker's to answer from partition(); for -3 (max timestamp) it can
  // call this with PartitionState::max_timestamp.
  void offset_for_timestamp(
      const Uuid& topic, std::int32_t partition, std::int64_t timestamp,
      std::function<void(std::int64_t offset, std::int64_t timestamp, std::string error)> done);

  // DeleteRecords: moves the log start offset up (in memory at once,
  // persisted in meta) and deletes the batches that lie wholly below it; a
  // batch straddling it stays (readers skip to the offset themselves, as
  // Kafka's do). Segments wholly below go; the one holding the new log
  // start keeps counting its deleted batches' bytes until it goes or is
  // compacted, as Kafka counts the whole segment file. Lower than the
  // current log start: no change, no error. Errors: above the high
  // watermark (check log_start_offset_allowed()).
  void set_log_start_offset(const Uuid& topic, std::int32_t partition, std::int64_t offset,
                            Done done);

  // --- Leader epochs: Kafka's leader-epoch cache, the first offset of
  // each leader epoch of the partition's log, persisted in the same write
  // as the batch that starts the epoch (so they never disagree after a
  // crash) and loaded at open. Entries are never trimmed by retention or
  // DeleteRecords (one per leader change: small, and a truncation check
  // below the log start still gets a true answer); a follower's
  // truncate_to() removes those at or above its cut, reset_log() and the
  // topic's deletion all of them.
  //
  // From set_leader_epoch() on, every appended batch is stamped with
  // `epoch` (partition_leader_epoch, outside the CRC), as a Kafka leader
  // stamps what it appends; -1 (the default) keeps the batches' own
  // epochs, as a follower does. Either way a batch whose epoch is above
  // the latest entry starts a new entry at its base offset.
  void set_leader_epoch(const Uuid& topic, std::int32_t partition, std::int32_t epoch);
  struct EpochEnd {
    std::int32_t epoch = -1;       // -1: undefined
    std::int64_t end_offset = -1;  // -1: undefined
  };
  // OffsetForLeaderEpoch's answer from this log (Kafka's
  // LeaderEpochFileCache.endOffsetFor): the latest epoch ends at the
  // written end of the log; an earlier one at the start of the next epoch
  // above it, named by the largest epoch at or below the one asked (or
  // the one asked, if the log starts with a later epoch); undefined for -1,
  // an empty cache, or an epoch above every entry.
  EpochEnd end_offset_for_epoch(const Uuid& topic, std::int32_t partition,
                                std::int32_t epoch) const;
  // The cache as it is: epoch -> start offset (tests, DescribeLogDirs).
  std::map<std::int32_t, std::int64_t> leader_epochs(const Uuid& topic,
                                                     std::int32_t partition) const;

  // --- Records (see RecordFamily). Written by the same writer as appends,
  // so they are ordered with them and group-committed with them; `done`
  // runs once they are durable as the fsync setting says.
  void write_records(RecordFamily family, std::vector<RecordWrite> writes, Done done);
  // Start-up only (blocks on disk): calls `fn` for every record of the
  // family in key order. `fn` returns "" to go on, or an error that stops
  // the scan and is returned. Returns "" or the first error, one line.
  std::string scan_records(
      RecordFamily family,
      const std::function<std::string(std::string_view key, std::string_view value)>& fn);

  // True while more than max_queued_bytes wait for the writer: stop
  // reading requests that append until it clears.
  bool overloaded() const;
  StoreStats stats() const;
  // The identity of this store (RocksDB's DB identity, made when the
  // database was created and kept in it): a wiped or replaced data dir has
  // another one (KIP-903: the cluster tells a broker whose log survived a
  // restart from one that came back empty). "" if it cannot be read.
  std::string identity() const;

  // Shutdown contract:
  //  1. Call on the loop thread (it may be from inside a store callback,
  //     but never destroy the store inside one).
  //  2. It writes everything queued and runs those completions before it
  //     returns; it then waits for reads running on the threadpool and
  //     closes the database. Returns "" or the close error, one line.
  //  3. Calls after stop() complete at once, synchronously, with an error.
  //  4. Completions of reads that were running are delivered later, when
  //     the loop runs; they do not touch the store, so it may already be
  //     destroyed, but they must not call it. The caller then runs the
  //     loop until its handles close (that also frees the async handle).
  std::string stop();

 private:
  // What the store keeps per partition beyond PartitionState.
  struct PartitionLog {
    SegmentList segments;
    // The cleaner checkpoint (persisted in the partition record).
    std::int64_t cleaned_offset = 0;
    // Base offset of the last batch in the log (-1: none), which the
    // cleaner never touches.
    std::int64_t last_batch_base = -1;
    // The leader-epoch cache: epoch -> first offset (see set_leader_epoch).
    std::map<std::int32_t, std::int64_t> epochs;
    // Epoch stamped on appended batches; -1: keep theirs.
    std::int32_t stamp_epoch = -1;
    bool cleaning = false;
    // Earliest delete horizon the last pass left (tombstones or markers
    // to drop once it passes).
    std::int64_t next_horizon_ms = kNoLimit;
    // The active segment changed since its record was last written.
    bool checkpoint_due = false;
    // After a failed pass, not before this (wall clock ms), so a damaged
    // log does not fill the log with the same error every round.
    std::int64_t retry_after_ms = 0;
    // truncate_to() is between its call and the queueing of its removal.
    bool truncating = false;
    // Lowest offset a truncation (or reset) cut at since the running
    // cleaner pass started: its changes to batches reaching it are dropped.
    std::int64_t cleaner_fence = kNoLimit;
  };

  struct TopicEntry {
    TopicInfo info;
    LogPolicy policy;
    std::deque<PartitionState> partitions;  // a deque: growing keeps pointers
    std::deque<PartitionLog> logs;          // same indexes as partitions
    // Tells a completion queued before a delete from a later topic that
    // reuses the id.
    std::uint64_t incarnation = 0;
  };

  Store(uv_loop_t* loop, const StoreOptions& options, std::unique_ptr<Database> db);
  bool load(std::string& error);
  // Writer thread: hands a written group's completions to the loop.
  void deliver(std::vector<CompletedOp> ops);

  TopicEntry* entry(const Uuid& id) const;
  PartitionState* mutable_partition(TopicEntry* t, std::int32_t partition) const;
  PartitionLog* mutable_log(TopicEntry* t, std::int32_t partition) const;
  void resolve_policy(TopicEntry& t);
  // Loads (or rebuilds by reading the log) a partition's segments.
  bool load_segments(TopicEntry& t, std::int32_t p, std::deque<Segment> records,
                     std::string& error);
  // Queues a write of the partition record.
  void submit_partition_record(const Uuid& topic, std::int32_t partition);

  // store_maintenance.cc
  void start_maintenance();
  void retention_round();
  void apply_retention(TopicEntry& t, std::int32_t p, const RetentionPlan& plan);
  void cleaner_round();
  void start_cleaning(TopicEntry& t, std::int32_t p, std::int64_t end, std::int64_t now);
  // Loop thread: validates a chunk of the cleaner's changes and queues
  // its write; `written` runs when it is written (or dropped).
  void apply_cleaner_chunk(const Uuid& topic, std::int32_t partition, std::uint64_t incarnation,
                           std::vector<BatchChange> changes,
                           std::function<void(const std::string&)> written);
  void finish_cleaning(const Uuid& topic, std::int32_t partition, std::uint64_t incarnation,
                       const CleanerResult& result);
  void checkpoint_segments(bool all);
  void compact_range_later(const Uuid& topic, std::int32_t partition, std::int64_t below);
  Uuid random_topic_id();
  // Queues a metadata write (topic JSON) whose completion runs `done`.
  void submit_topic_write(const TopicEntry& t, std::string encoded, Done done);
  // Delivers a result on the loop thread later (never from inside the
  // call), or now if the store is stopped.
  void post(std::function<void()> fn);
  // Moves the high watermark; returns the log start offset (-1 if the
  // partition is gone).
  std::int64_t on_append_written(const Uuid& topic, std::int32_t partition,
                                 std::uint64_t incarnation, std::int64_t end,
                                 const std::string& error);
  void flush_listeners();
  // The append path shared by append_in_place (offsets assigned here) and
  // append_replica (`replica`: offsets and epochs kept, checked).
  void append_batches(const Uuid& topic, std::int32_t partition,
                      std::vector<std::span<std::uint8_t>> batches,
                      std::shared_ptr<const void> owner, std::function<void(AppendResult)> done,
                      std::vector<RecordWrite> producer_writes, bool replica);
  // store_truncate.cc: the partition to truncate or reset (and its state
  // in `ps`), or nullptr after handing `done` why not; the loop's half of
  // truncate_to, once the lookup is done.
  PartitionLog* truncatable(const Uuid& topic, std::int32_t partition, PartitionState*& ps,
                            Done& done);
  void finish_truncation(const Uuid& topic, std::int32_t partition, std::uint64_t incarnation,
                         const TruncationLookup& found, const std::string& error, Done done,
                         TruncateWrites more);
  // Runs the job on the libuv threadpool, then finishes it on the loop.
  void queue_work(std::unique_ptr<PoolJob> job);
  void job_finished();
  static void on_work(uv_work_t* req);
  static void on_after_work(uv_work_t* req, int status);

  uv_loop_t* loop_;
  StoreOptions options_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<LoopPoster> poster_;
  std::unique_ptr<GroupWriter> writer_;
  bool stopped_ = false;

  std::map<std::string, std::unique_ptr<TopicEntry>, std::less<>> by_name_;
  std::map<Uuid, TopicEntry*> by_id_;
  std::uint64_t next_incarnation_ = 1;
  std::mt19937_64 rng_;

  std::function<void(const Uuid&, std::int32_t)> append_listener_;
  std::function<void(const std::string&)> failure_listener_;
  std::string failure_;

  PolicyResolver policy_resolver_;
  MaintenanceOptions maintenance_;
  std::unique_ptr<MaintenanceThread> maintenance_thread_;
  std::unique_ptr<LoopTimer> retention_timer_;
  std::unique_ptr<LoopTimer> cleaner_timer_;
  std::unique_ptr<LoopTimer> checkpoint_timer_;
  std::map<std::string, std::string, std::less<>> cluster_records_;
  std::uint64_t retention_deletions_ = 0;
  std::uint64_t cleaner_passes_ = 0;
  std::uint64_t cleaner_failures_ = 0;
  CleanerStats last_cleaning_;
  std::vector<std::pair<Uuid, std::int32_t>> to_notify_;

  // Threadpool jobs queued or running; stop() waits for zero.
  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::size_t jobs_ = 0;
};

}  // namespace kgw
