// The JSON of etcd's v3 gateway (grpc-gateway over the v3 protobufs): the
// request bodies the Client posts and the decoding of the answers. Keys and
// values are base64 (protobuf bytes); 64-bit numbers are sent and read as
// JSON strings (proto3's JSON mapping), plain numbers are accepted too;
// fields at their default (false, 0, empty) are absent in answers.
//
// Threads: pure functions; JsonStream is one object per stream.
// Failure modes: a decoder returns a Status: kFailed when the body is not
// the JSON expected, or the gateway's error object mapped by its gRPC code
// (Unavailable and DeadlineExceeded: kUnavailable, a compacted revision:
// kCompacted, anything else: kFailed). Nothing here throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/cluster/etcd/etcd_types.h"

namespace kgw::etcd {

std::string encode_range(std::string_view key, std::string_view range_end, std::int64_t revision);
std::string encode_put(std::string_view key, std::string_view value, std::int64_t lease);
std::string encode_txn(const TxnRequest& request);
std::string encode_lease_grant(std::int64_t ttl_seconds);
std::string encode_lease_id(std::int64_t id);  // keepalive and revoke
std::string encode_compaction(std::int64_t revision);
std::string encode_watch_create(std::string_view key, std::string_view range_end,
                                std::int64_t start_revision);

// `http_status` is the answer's status line; non-200 answers carry the
// gateway's error object.
Status decode_range(int http_status, std::string_view body, RangeResult* out);
Status decode_put(int http_status, std::string_view body, std::int64_t* revision);
Status decode_txn(int http_status, std::string_view body, TxnResult* out);
Status decode_lease_grant(int http_status, std::string_view body, std::int64_t* id,
                          std::int64_t* ttl);
// The first message of the keepalive stream; ttl 0 when the lease is gone.
Status decode_lease_keepalive(int http_status, std::string_view body, std::int64_t* ttl);
// Revoke and compaction: only the status matters.
Status decode_empty(int http_status, std::string_view body);

struct WatchMessage {
  bool created = false;
  bool canceled = false;
  std::int64_t compact_revision = 0;
  std::int64_t header_revision = 0;
  std::string cancel_reason;
  std::vector<Event> events;
};
// One object of the watch stream ({"result": ...} or {"error": ...}).
Status decode_watch(std::string_view object, WatchMessage* out);

// Splits a byte stream of concatenated (optionally newline-separated) JSON
// objects into whole objects, whatever the chunking. Bounded: an object
// larger than `max_object` bytes makes next() fail.
class JsonStream {
 public:
  explicit JsonStream(std::size_t max_object = 64 << 20) : max_object_(max_object) {}
  void append(std::string_view bytes) { buffer_.append(bytes); }
  // 1: `out` holds the next whole object; 0: need more bytes; -1: the
  // stream is not a sequence of objects (or one is too large).
  int next(std::string* out);

 private:
  std::string buffer_;
  std::size_t scanned_ = 0;  // bytes of buffer_ already scanned
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  std::size_t max_object_;
};

}  // namespace kgw::etcd
