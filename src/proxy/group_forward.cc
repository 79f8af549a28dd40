#include "src/proxy/group_forward.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "all_messages.h"
#include "common/log.h"
#include "src/proxy/upstream.h"

namespace kgw {

namespace {

// How many coordinator connections one legacy broker gets at most (each a
// channel); past that, calls share them.
constexpr std::int32_t kCoordinatorChannels = 64;

// A connection to `node` with nothing pending, else one of them in turn;
// nullptr if the legacy metadata does not name the node.
// `channel` (if given) gets the one chosen.
BrokerConnection* free_connection(Upstream& upstream, std::int32_t node,
                                  std::int32_t* channel = nullptr) {
  static std::uint32_t turn = 0;
  for (std::int32_t ch = 0; ch < kCoordinatorChannels; ++ch) {
    BrokerConnection* c = upstream.broker(node, kCoordinatorChannel + ch);
    if (c == nullptr) return nullptr;
    if (c->pending() == 0) {
      if (channel != nullptr) *channel = kCoordinatorChannel + ch;
      return c;
    }
  }
  const std::int32_t ch =
      kCoordinatorChannel + static_cast<std::int32_t>(turn++ % kCoordinatorChannels);
  if (channel != nullptr) *channel = ch;
  return upstream.broker(node, ch);
}

std::map<std::string, std::int32_t, std::less<>>& cache_of(Upstream& upstream, KeyType type) {
  return type == KeyType::kGroup ? upstream.group_coordinators() : upstream.txn_coordinators();
}

ErrorCode call_failed(Upstream& upstream, KeyType type, std::string_view key, CallError e) {
  if (e == CallError::kUnsupportedVersion) return ErrorCode::kUnsupportedVersion;
  forget_coordinator(upstream, type, key);
  if (e != CallError::kTimedOut) upstream.refresh_soon();
  return ErrorCode::kCoordinatorNotAvailable;
}

// The coordinator APIs whose calls about one key must reach the legacy
// coordinator in order: offsets and transactions (they answer at once).
bool ordered_api(std::int16_t api_key) {
  switch (api_key) {
    case OffsetCommitRequest::api_key:
    case OffsetFetchRequest::api_key:
    case OffsetDeleteRequest::api_key:
    case TxnOffsetCommitRequest::api_key:
    case InitProducerIdRequest::api_key:
    case AddPartitionsToTxnRequest::api_key:
    case AddOffsetsToTxnRequest::api_key:
    case EndTxnRequest::api_key:
      return true;
    default:
      return false;
  }
}

void send_to_node(Upstream& upstream, std::int32_t node, KeyType type, std::string group,
                  std::int16_t api_key, std::int16_t min_version, std::int16_t max_version,
                  BrokerConnection::Encode encode, CoordinatorDone done) {
  // Offsets and transactions: calls about one key keep to one connection
  // while any is out (see Upstream::key_channels), so that they are
  // applied in order and an OffsetFetch sees the commits before it. Never
  // the group membership calls: a JoinGroup or SyncGroup waits there for
  // the other members' (on a broker, one connection's requests are
  // answered one after the other), which must not queue behind it.
  std::string sticky;
  if (ordered_api(api_key)) sticky = std::to_string(static_cast<int>(type)) + ":" + group;
  auto& channels = upstream.key_channels();
  auto kc = sticky.empty() ? channels.end() : channels.find(sticky);
  BrokerConnection* conn = nullptr;
  std::int32_t channel = 0;
  if (kc != channels.end() && kc->second.node == node) {
    channel = kc->second.channel;
    conn = upstream.broker(node, channel);
  } else {
    conn = free_connection(upstream, node, &channel);
  }
  if (conn == nullptr) {
    forget_coordinator(upstream, type, group);
    upstream.refresh_soon();
    done(ErrorCode::kCoordinatorNotAvailable, 0, Bytes());
    return;
  }
  if (!sticky.empty()) {
    if (kc == channels.end()) kc = channels.emplace(sticky, Upstream::KeyChannel{}).first;
    kc->second.node = node;
    kc->second.channel = channel;
    ++kc->second.pending;
  }
  conn->send(api_key, min_version, max_version, std::move(encode),
             [&upstream, type, group = std::move(group), sticky = std::move(sticky),
              done = std::move(done)](CallError e, std::int16_t version, Bytes body) {
               auto& channels = upstream.key_channels();
               if (auto it = sticky.empty() ? channels.end() : channels.find(sticky);
                   it != channels.end() && --it->second.pending <= 0) {
                 channels.erase(it);
               }
               if (e != CallError::kNone) {
                 done(call_failed(upstream, type, group, e), 0, Bytes());
                 return;
               }
               done(ErrorCode::kNone, version, body);
             });
}

// The legacy cluster's FindCoordinator for `group` (a key of `type`),
// asked of its brokers in turn; `done` gets the coordinator's node id or
// the error.
void find_coordinator(Upstream& upstream, KeyType type, std::string group,
                      std::function<void(ErrorCode, std::int32_t node)> done) {
  static std::uint32_t turn = 0;
  const std::vector<std::int32_t> nodes = upstream.nodes();
  BrokerConnection* conn =
      nodes.empty() ? nullptr : upstream.broker(nodes[turn++ % nodes.size()], 0);
  if (conn == nullptr) {
    upstream.refresh_soon();
    done(ErrorCode::kCoordinatorNotAvailable, -1);
    return;
  }
  auto key = std::make_shared<std::string>(std::move(group));
  conn->send(
      FindCoordinatorRequest::api_key, FindCoordinatorRequest::min_version,
      FindCoordinatorRequest::max_version,
      [key, type](Writer& w, std::int16_t v) {
        FindCoordinatorRequest req;
        req.key_type = static_cast<std::int8_t>(type);
        req.key = *key;
        req.coordinator_keys = {*key};
        req.encode(w, v);
      },
      [&upstream, key, done = std::move(done)](CallError e, std::int16_t version, Bytes body) {
        FindCoordinatorResponse resp;
        if (e == CallError::kNone) {
          Reader r(body);
          if (!resp.decode(r, version)) e = CallError::kDecodeFailed;
        }
        if (e != CallError::kNone) {
          LOG_WARN("proxy", "legacy FindCoordinator for '%s': %s", key->c_str(),
                   call_error_name(e));
          if (e != CallError::kUnsupportedVersion) upstream.refresh_soon();
          done(ErrorCode::kCoordinatorNotAvailable, -1);
          return;
        }
        std::int16_t error = resp.error_code;
        std::int32_t node = resp.node_id;
        if (version >= 4) {
          error = resp.coordinators.empty() ? code(ErrorCode::kCoordinatorNotAvailable)
                                            : resp.coordinators.front().error_code;
          node = resp.coordinators.empty() ? -1 : resp.coordinators.front().node_id;
        }
        if (error == code(ErrorCode::kNotCoordinator)) {
          error = code(ErrorCode::kCoordinatorNotAvailable);
        }
        if (error == 0 && node < 0) error = code(ErrorCode::kCoordinatorNotAvailable);
        done(static_cast<ErrorCode>(error), node);
      });
}

}  // namespace

void forget_coordinator(Upstream& upstream, KeyType type, std::string_view key) {
  auto& cache = cache_of(upstream, type);
  if (auto it = cache.find(key); it != cache.end()) cache.erase(it);
}

void send_to_coordinator(Upstream& upstream, KeyType type, std::string group, std::int16_t api_key,
                         std::int16_t min_version, std::int16_t max_version,
                         BrokerConnection::Encode encode, CoordinatorDone done) {
  if (min_version > max_version) {
    done(ErrorCode::kUnsupportedVersion, 0, Bytes());
    return;
  }
  auto& cache = cache_of(upstream, type);
  if (auto it = cache.find(group); it != cache.end()) {
    send_to_node(upstream, it->second, type, std::move(group), api_key, min_version, max_version,
                 std::move(encode), std::move(done));
    return;
  }
  std::string key = group;
  find_coordinator(
      upstream, type, std::move(key),
      [&upstream, type, group = std::move(group), api_key, min_version, max_version,
       encode = std::move(encode), done = std::move(done)](ErrorCode e, std::int32_t node) mutable {
        if (e != ErrorCode::kNone) {
          done(e, 0, Bytes());
          return;
        }
        cache_of(upstream, type)[group] = node;
        send_to_node(upstream, node, type, std::move(group), api_key, min_version, max_version,
                     std::move(encode), std::move(done));
      });
}

namespace {

// The untyped call to legacy broker `node` (-1: the next one in turn).
void send_to_broker(Upstream& upstream, std::int32_t node, std::int16_t api_key,
                    std::int16_t min_version, std::int16_t max_version,
                    BrokerConnection::Encode encode, CoordinatorDone done) {
  if (min_version > max_version) {
    done(ErrorCode::kUnsupportedVersion, 0, Bytes());
    return;
  }
  static std::size_t turn = 0;
  const std::vector<std::int32_t> nodes = upstream.nodes();
  if (node < 0 && !nodes.empty()) node = nodes[turn++ % nodes.size()];
  BrokerConnection* conn = node < 0 ? nullptr : free_connection(upstream, node);
  if (conn == nullptr) {
    upstream.refresh_soon();
    done(ErrorCode::kCoordinatorNotAvailable, 0, Bytes());
    return;
  }
  conn->send(api_key, min_version, max_version, std::move(encode),
             [&upstream, done = std::move(done)](CallError e, std::int16_t version, Bytes body) {
               if (e == CallError::kUnsupportedVersion) {
                 done(ErrorCode::kUnsupportedVersion, 0, Bytes());
               } else if (e != CallError::kNone) {
                 if (e != CallError::kTimedOut) upstream.refresh_soon();
                 done(ErrorCode::kCoordinatorNotAvailable, 0, Bytes());
               } else {
                 done(ErrorCode::kNone, version, body);
               }
             });
}

}  // namespace

void send_to_any_broker(Upstream& upstream, std::int16_t api_key, std::int16_t min_version,
                        std::int16_t max_version, BrokerConnection::Encode encode,
                        CoordinatorDone done) {
  send_to_broker(upstream, -1, api_key, min_version, max_version, std::move(encode),
                 std::move(done));
}

void send_to_controller(Upstream& upstream, std::int16_t api_key, std::int16_t min_version,
                        std::int16_t max_version, BrokerConnection::Encode encode,
                        CoordinatorDone done) {
  const std::vector<std::int32_t> nodes = upstream.nodes();
  const std::int32_t controller = upstream.controller();
  const bool known = std::find(nodes.begin(), nodes.end(), controller) != nodes.end();
  send_to_broker(upstream, known ? controller : -1, api_key, min_version, max_version,
                 std::move(encode), std::move(done));
}

void legacy_producer_id(Upstream& upstream, std::function<void(ErrorCode, std::int64_t)> done) {
  InitProducerIdRequest req;
  req.transactional_id = std::nullopt;
  req.transaction_timeout_ms = 60000;
  send_to_any_broker(
      upstream, InitProducerIdRequest::api_key, InitProducerIdRequest::min_version,
      InitProducerIdRequest::max_version, [req](Writer& w, std::int16_t v) { req.encode(w, v); },
      [done = std::move(done)](ErrorCode e, std::int16_t version, Bytes body) {
        InitProducerIdResponse resp;
        if (e == ErrorCode::kNone) {
          Reader r(body);
          if (!resp.decode(r, version)) e = ErrorCode::kUnknownServerError;
        }
        if (e == ErrorCode::kNone && resp.error_code != 0) {
          e = static_cast<ErrorCode>(resp.error_code);
        }
        done(e, e == ErrorCode::kNone ? resp.producer_id : -1);
      });
}

void list_upstream_groups(Upstream& upstream, const ListGroupsRequest& req,
                          std::int16_t client_version, ForwardStorage& storage,
                          std::function<void(std::int16_t error, ListGroupsResponse groups)> done) {
  struct State {
    GroupJoin join;
    std::int16_t error = 0;
    ListGroupsResponse merged;
  };
  auto state = std::make_shared<State>();
  state->join.done = [state, done = std::move(done)] {
    done(state->error, std::move(state->merged));
  };
  // Filters need the versions that carry them.
  std::int16_t min_version = ListGroupsRequest::min_version;
  if (!req.states_filter.empty()) min_version = 4;
  if (!req.types_filter.empty()) min_version = 5;
  // The filters as owned strings: the calls outlive the client's frame.
  ListGroupsRequest sub;
  for (std::string_view s : req.states_filter) {
    sub.states_filter.push_back(storage.strings.emplace_back(s));
  }
  for (std::string_view s : req.types_filter) {
    sub.types_filter.push_back(storage.strings.emplace_back(s));
  }
  for (std::int32_t node : upstream.nodes()) {
    BrokerConnection* conn = free_connection(upstream, node);
    if (conn == nullptr) continue;
    ++state->join.pending;
    conn->send(
        ListGroupsRequest::api_key, min_version, client_version,
        [sub](Writer& w, std::int16_t v) { sub.encode(w, v); },
        [&upstream, &storage, state](CallError e, std::int16_t version, Bytes body) {
          ListGroupsResponse resp;
          if (e == CallError::kNone) {
            Reader r(body);
            if (!resp.decode(r, version)) e = CallError::kDecodeFailed;
          }
          if (e != CallError::kNone && e != CallError::kUnsupportedVersion) {
            if (state->error == 0) state->error = code(ErrorCode::kCoordinatorNotAvailable);
            upstream.refresh_soon();
          } else if (e == CallError::kNone) {
            if (state->error == 0) state->error = resp.error_code;
            for (auto& g : resp.groups) {
              g.group_id = storage.strings.emplace_back(g.group_id);
              g.protocol_type = storage.strings.emplace_back(g.protocol_type);
              g.group_state = storage.strings.emplace_back(g.group_state);
              g.group_type = storage.strings.emplace_back(g.group_type);
              g.unknown_tags = {};
            }
            merge_listed_groups(state->merged.groups, resp.groups);
            state->merged.throttle_time_ms =
                std::max(state->merged.throttle_time_ms, resp.throttle_time_ms);
          }
          state->join.one();
        });
  }
  state->join.one();
}

}  // namespace kgw
