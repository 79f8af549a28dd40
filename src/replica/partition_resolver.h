// PartitionResolver: the one place that turns a request's (topic, partition)
// into an error or a local partition handle, and for_each_partition(), the
// topics x partitions loop every partitioned request runs through it.
//
// Threads: loop thread only (it reads the metadata image and the Store's
// in-memory catalogue).
//
// The happy path is: a handler names a topic (by name or id) and a
// partition index -> resolve() finds the topic and checks the index -> the
// handler gets a LocalPartition and does its work. Possible failure modes
// (each answered as a Kafka error code, never thrown): an unknown topic
// name (UNKNOWN_TOPIC_OR_PARTITION), an unknown topic id (UNKNOWN_TOPIC_ID),
// a partition index outside the topic (UNKNOWN_TOPIC_OR_PARTITION), a
// partition whose leader in the metadata image is another node
// (NOT_LEADER_OR_FOLLOWER). In proxy mode (issue 17) a topic that does not
// exist here and exists in the legacy cluster, or one whose local copy is
// being mirrored (kgw.migration.state=mirroring), routes upstream (route():
// Route::kUpstream, no LocalPartition): for_each_partition() hands
// those partitions to the shape's `upstream` list, and a handler that
// forwards (Produce, Fetch, ListOffsets: src/proxy/forward.h) sends them to
// the legacy leaders; any other handler answers UNKNOWN_TOPIC_OR_PARTITION
// for them, as before. The check still to come (not authorised:
// TOPIC_AUTHORIZATION_FAILED) goes into resolve() and lookup(), so no
// handler has to change for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/wire/error_code.h"
#include "protocol/wire/types.h"
#include "storage/topic_info.h"

namespace kgw {

class MetadataLog;
class Store;

// How a request names a topic: by name (most APIs) or by id (Fetch v13+).
struct TopicKey {
  std::string_view name;
  const Uuid* id = nullptr;  // set: look up by id, `name` is ignored

  static TopicKey by_name(std::string_view n) { return TopicKey{n, nullptr}; }
  static TopicKey by_id(const Uuid& i) { return TopicKey{{}, &i}; }
};

// A partition this node serves. The pointers stay valid as long as the
// topic exists (storage/topic_info.h): use them in the same loop turn, or
// look the partition up again after waiting.
struct LocalPartition {
  const TopicInfo* topic = nullptr;
  std::int32_t partition = 0;
  const PartitionState* state = nullptr;
};

// Who may serve a partition: only its leader (everything but Fetch), or
// any of its replicas (a consumer's Fetch v11+: KIP-392's fetch from a
// follower, which reads up to its high watermark).
// kOwnCopy: this node's own copy, as kAnyReplica, and also for a topic
// whose clients are routed upstream while it is mirrored (Kafka's
// debugging replica id: ListOffsets from replica -2; how kgw-admin migrate
// status reads the mirror's progress).
// kWrite: the leader, for a write (Produce): as kLeader, but a topic in
// a migration's cutover answers NOT_LEADER_OR_FOLLOWER (the fence: the
// producer retries, as on a leader change, until the topic is kgw's).
enum class Serving { kLeader, kAnyReplica, kOwnCopy, kWrite };

// Where a resolved partition is served. A topic that exists here with
// the topic config kgw.migration.state other than local (issue 17:
// mirroring, cutover, upstream) routes upstream in proxy mode: its local
// copy is written by the mirror only (src/proxy/mirror.h); in cutover its
// writes are fenced (Serving::kWrite).
enum class Route : std::uint8_t {
  kLocal,     // this node's store: `local`
  kUpstream,  // the legacy cluster (proxy mode): forwarded
};

// The legacy cluster's topics, as the proxy's Upstream knows them
// (src/proxy/upstream.h); the resolver asks it only for topics it does not
// have itself.
class UpstreamCatalogue {
 public:
  virtual ~UpstreamCatalogue() = default;
  // The topic's partition count there, -1 if the legacy cluster has no
  // such topic.
  virtual std::int32_t partitions(std::string_view topic) const = 0;
  // The name of the topic with this id there, empty if none.
  virtual std::string_view name_of(const Uuid& id) const = 0;
  // A migration's rollback holds the topic's writes (src/proxy/copy_back.h).
  virtual bool writes_fenced(std::string_view /*topic*/) const { return false; }
};

struct Resolved {
  ErrorCode error = ErrorCode::kNone;
  Route route = Route::kLocal;
  LocalPartition local;  // meaningful only when error is kNone and route is kLocal
  bool ok() const { return error == ErrorCode::kNone; }
};

class PartitionResolver {
 public:
  // Topics and leaders come from `metadata`'s image, logs from `store`;
  // `node_id` is this node. Both outlive the resolver.
  PartitionResolver(const Store& store, const MetadataLog& metadata, std::int32_t node_id)
      : store_(store), metadata_(metadata), node_id_(node_id) {}

  // The topic, or nullptr (unknown). For handlers that need the topic
  // itself before its partitions (e.g. to answer topic-level fields).
  const TopicInfo* topic(const TopicKey& key) const { return lookup(key); }
  // `topic` as lookup() found it (nullptr: unknown) and a partition index.
  Resolved resolve(const TopicKey& key, const TopicInfo* topic, std::int32_t partition,
                   Serving serving = Serving::kLeader) const;
  Resolved resolve(const TopicKey& key, std::int32_t partition) const {
    return resolve(key, lookup(key), partition);
  }
  // resolve(), or in proxy mode, for a topic unknown here that the legacy
  // cluster has, Route::kUpstream (kNone, or UNKNOWN_TOPIC_OR_PARTITION for
  // an index outside it). Only for_each_partition() routes: a caller of
  // resolve() never sees kUpstream.
  Resolved route(const TopicKey& key, const TopicInfo* topic, std::int32_t partition,
                 Serving serving = Serving::kLeader) const;
  // Proxy mode: topics unknown here are looked up there (nullptr: not a
  // proxy). `upstream` outlives the resolver.
  void set_upstream(const UpstreamCatalogue* upstream) { upstream_ = upstream; }
  const UpstreamCatalogue* upstream() const { return upstream_; }
  // The topic config that carries a topic's migration state (issue 17),
  // and its value while the legacy cluster still serves the topic.
  static constexpr std::string_view kMigrationState = "kgw.migration.state";
  static constexpr std::string_view kMirroring = "mirroring";
  // Produce fenced while kgw catches up and switches (src/proxy/cutover.h).
  static constexpr std::string_view kCutover = "cutover";
  // Rolled back: kgw drops its copy (src/proxy/cutover.h), or after the
  // switch keeps it as a stub (src/proxy/copy_back.h).
  static constexpr std::string_view kUpstreamState = "upstream";
  // Rolling back after the switch: kgw serves the topic while it copies
  // its records back to the legacy cluster (src/proxy/copy_back.h).
  static constexpr std::string_view kRollback = "rollback";
  // Whether kgw's own copy serves the topic's clients in this state.
  static bool served_here(std::string_view state) { return state == kLocal || state == kRollback; }
  static constexpr std::string_view kLocal = "local";
  // The topic config that is false from a cutover until finalize.
  static constexpr std::string_view kMigrationFinalized = "kgw.migration.finalized";
  // A topic's migration state (kLocal when it has none).
  static std::string_view migration_state(const std::map<std::string, std::string>& configs) {
    auto c = configs.find(std::string(kMigrationState));
    return c == configs.end() ? kLocal : std::string_view(c->second);
  }
  // Whether `partition` is one of `topic`'s (as topic() found it; nullptr:
  // unknown), led here or not: for requests any broker answers for any
  // partition (group offsets, admin requests), which Kafka checks only for
  // existence. UNKNOWN_TOPIC_OR_PARTITION or kNone.
  static ErrorCode exists(const TopicInfo* topic, std::int32_t partition) {
    return topic == nullptr || partition < 0 || partition >= topic->partitions
               ? ErrorCode::kUnknownTopicOrPartition
               : ErrorCode::kNone;
  }

 private:
  // Every topic lookup of every partitioned request goes through here.
  const TopicInfo* lookup(const TopicKey& key) const;

  const Store& store_;
  const MetadataLog& metadata_;
  std::int32_t node_id_;
  const UpstreamCatalogue* upstream_ = nullptr;
};

// One partition for_each_partition() routed upstream: its place in the
// request (topic ti, partition pi).
struct UpstreamSlot {
  std::size_t ti = 0;
  std::size_t pi = 0;
};

// The topics x partitions loop of a request, in request order. `shape`
// names the request's and response's fields:
//   TopicKey topic(const InTopic&, OutTopic&)   fills the response topic
//   in_partitions(const InTopic&), out_partitions(OutTopic&)
//   std::int32_t index(const InPartition&)
//   void start(const InPartition&, OutPartition&)  index and defaults
// A shape with a `serving` member resolves partitions as it says (Fetch).
// A shape with an `upstream` member (std::vector<UpstreamSlot>*, may be
// null) collects the partitions routed upstream there, with no error and
// no on_partition(); without one (or null) they are
// UNKNOWN_TOPIC_OR_PARTITION, as for a topic that does not exist.
// For each partition: start() -> before(ti, pi, in) (a guard that comes
// before the topic is looked up; kNone to go on) -> resolve -> if
// resolved, on_partition(ti, pi, in, out, local) which returns its own
// error or kNone. Every error lands in out.error_code; on_partition runs
// only for resolved partitions. Returns how many partitions got an error.
template <typename Shape, typename InTopics, typename OutTopics, typename Before,
          typename OnPartition>
std::size_t for_each_partition(const PartitionResolver& resolver, const Shape& shape,
                               const InTopics& in, OutTopics& out, Before&& before,
                               OnPartition&& on_partition) {
  std::size_t errors = 0;
  out.resize(in.size());
  for (std::size_t ti = 0; ti < in.size(); ++ti) {
    const auto& tin = in[ti];
    auto& tout = out[ti];
    const TopicKey key = shape.topic(tin, tout);
    const TopicInfo* topic = resolver.topic(key);
    const auto& pins = shape.in_partitions(tin);
    auto& pouts = shape.out_partitions(tout);
    pouts.resize(pins.size());
    for (std::size_t pi = 0; pi < pins.size(); ++pi) {
      const auto& pin = pins[pi];
      auto& pout = pouts[pi];
      shape.start(pin, pout);
      ErrorCode e = before(ti, pi, pin);
      if (e == ErrorCode::kNone) {
        Serving serving = Serving::kLeader;
        if constexpr (requires { shape.serving; }) serving = shape.serving;
        Resolved r = resolver.route(key, topic, shape.index(pin), serving);
        if (r.ok() && r.route == Route::kUpstream) {
          std::vector<UpstreamSlot>* slots = nullptr;
          if constexpr (requires { shape.upstream; }) slots = shape.upstream;
          if (slots != nullptr) {
            slots->push_back(UpstreamSlot{ti, pi});
          } else {
            e = ErrorCode::kUnknownTopicOrPartition;
          }
        } else {
          e = r.ok() ? on_partition(ti, pi, pin, pout, r.local) : r.error;
        }
      }
      if (e != ErrorCode::kNone) {
        pout.error_code = code(e);
        ++errors;
      }
    }
  }
  return errors;
}

// No guard before the lookup.
struct NoGuard {
  template <typename P>
  ErrorCode operator()(std::size_t, std::size_t, const P&) const {
    return ErrorCode::kNone;
  }
};

// The shape most requests have: topics by `name`, their partitions in
// `partitions`, indexed by `partition_index`. A handler whose answer has
// more defaults derives from it and hides start().
struct NamedTopicsShape {
  TopicKey topic(const auto& in, auto& out) const {
    out.name = in.name;
    return TopicKey::by_name(in.name);
  }
  const auto& in_partitions(const auto& t) const { return t.partitions; }
  auto& out_partitions(auto& t) const { return t.partitions; }
  std::int32_t index(const auto& p) const { return p.partition_index; }
  void start(const auto& in, auto& out) const { out.partition_index = in.partition_index; }
};

}  // namespace kgw
