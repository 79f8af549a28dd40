// What kgw asks of etcd v3, as plain data and one abstract interface
// (KvApi): ranges, transactions, leases and watches. The Client
// (etcd_client.h) speaks it to a real etcd; the metadata log and the
// controller are written against KvApi only.
//
// Threads: a KvApi lives on one libuv loop; every method is called on it
// and every callback runs on it, never inside the call that started it.
//
// Failure modes: each callback gets a Status. kUnavailable (no endpoint
// answered in time) is retriable; kCompacted ends a watch whose start
// revision etcd has compacted away (range-read again, then watch from
// there); kFailed is etcd refusing the request (its message says why).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace kgw::etcd {

struct Status {
  enum Code { kOk, kUnavailable, kCompacted, kFailed };
  Code code = kOk;
  std::string message;
  std::int64_t compact_revision = 0;  // kCompacted: the oldest revision still kept
  bool ok() const { return code == kOk; }
};

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0;
};

struct RangeResult {
  std::int64_t revision = 0;  // the store's revision when read
  std::vector<KeyValue> kvs;
  bool more = false;
};

struct Compare {
  enum Target { kVersion, kCreate, kMod, kValue, kLease };
  enum Result { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  Target target = kVersion;
  Result result = kEqual;
  std::int64_t number = 0;  // kVersion, kCreate, kMod, kLease
  std::string value;        // kValue
};

struct Op {
  enum Kind { kPut, kDelete, kRange };
  Kind kind = kPut;
  std::string key;
  std::string range_end;   // kDelete, kRange: empty = the one key
  std::string value;       // kPut
  std::int64_t lease = 0;  // kPut
};

// The two ops every writer builds: a put (with a lease or 0) and a delete
// of one key or of [key, range_end).
inline Op put_op(std::string key, std::string value, std::int64_t lease = 0) {
  return Op{Op::kPut, std::move(key), "", std::move(value), lease};
}
inline Op delete_op(std::string key, std::string range_end = "") {
  return Op{Op::kDelete, std::move(key), std::move(range_end), "", 0};
}

struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<Op> success;
  std::vector<Op> failure;
};

struct TxnResult {
  bool succeeded = false;
  std::int64_t revision = 0;
  std::vector<RangeResult> ranges;  // one per kRange op of the branch taken
};

struct Event {
  enum Type { kPut, kDelete };
  Type type = kPut;
  KeyValue kv;  // kDelete: key and mod_revision only
};

// The range end that covers every key starting with `prefix` (etcd's
// "prefix" option): the prefix with its last byte below 0xff incremented.
std::string prefix_end(std::string_view prefix);

class KvApi {
 public:
  using RangeDone = std::function<void(Status, RangeResult)>;
  using TxnDone = std::function<void(Status, TxnResult)>;
  using PutDone = std::function<void(Status, std::int64_t revision)>;
  using GrantDone = std::function<void(Status, std::int64_t id, std::int64_t ttl)>;
  using KeepAliveDone = std::function<void(Status, std::int64_t ttl)>;  // ttl 0: expired
  using RevokeDone = std::function<void(Status)>;
  using OnEvents = std::function<void(std::int64_t revision, std::vector<Event> events)>;
  using OnEnd = std::function<void(Status)>;

  virtual ~KvApi() = default;

  // Keys in [key, range_end) (range_end empty: the one key) at `revision`
  // (0: latest).
  virtual void range(std::string key, std::string range_end, std::int64_t revision,
                     RangeDone done) = 0;
  virtual void txn(TxnRequest request, TxnDone done) = 0;
  virtual void put(std::string key, std::string value, std::int64_t lease, PutDone done) = 0;
  virtual void lease_grant(std::int64_t ttl_seconds, GrantDone done) = 0;
  virtual void lease_keepalive(std::int64_t id, KeepAliveDone done) = 0;
  virtual void lease_revoke(std::int64_t id, RevokeDone done) = 0;
  // Events of keys in [key, range_end) from `start_revision` on, in
  // revision order; each on_events call is one revision's events (all
  // events of one txn together). on_end is called once when the stream
  // ends (kCompacted, or kUnavailable after the connection broke); the
  // caller watches again. Returns an id for cancel_watch.
  virtual std::uint64_t watch(std::string key, std::string range_end, std::int64_t start_revision,
                              OnEvents on_events, OnEnd on_end) = 0;
  // No callback of the watch runs after this.
  virtual void cancel_watch(std::uint64_t id) = 0;
};

}  // namespace kgw::etcd
