// Produce (key 0): validate each partition's record batches and append them.
//
// Guards, per partition, as Kafka answers them: unknown topic or partition
// (UNKNOWN_TOPIC_OR_PARTITION), acks=all on a topic whose
// min.insync.replicas is above 1 (NOT_ENOUGH_REPLICAS: this node is the
// only replica), a bad CRC or framing (CORRUPT_MESSAGE), a
// batch the producer may not send (INVALID_RECORD), a batch over the topic's
// max.message.bytes (MESSAGE_TOO_LARGE) or segment.bytes
// (RECORD_LIST_TOO_LARGE). Then every batch's records are checked on the
// threadpool as Kafka's LogValidator does (record_validator.h: counts,
// varints and lengths, offset deltas, keys on compacted topics, timestamps;
// KIP-467 RecordErrors name the bad records, and the batch is refused), and
// batches are recompressed there when compression.type asks
// (record_rules.h); the partition's appends keep the order of the requests
// (append_sequencer.h) and, unless recompressed, are made from the request
// frame without a copy. Produce v0-v2 carry legacy message sets (magic
// 0/1), up-converted to one v2 batch on the threadpool as Kafka does for a
// v2 log, then checked alike. Valid partitions are appended even
// when others in the same request fail. acks=0 gets no response at all.
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <span>

#include "all_messages.h"
#include "common/clock.h"
#include "common/log.h"
#include "protocol/records/legacy_message_set.h"
#include "protocol/records/record_batch.h"
#include "protocol/records/record_validator.h"
#include "src/broker/append_sequencer.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/pool_work.h"
#include "src/broker/record_rules.h"
#include "src/txn/producer_state_manager.h"
#include "src/txn/transaction_coordinator.h"
#include "storage/store.h"

namespace kgw {

namespace {

// Bound on one batch's records when the topic's rules need them
// decompressed (Kafka's bound is the batch size limits; this keeps a
// compression bomb from taking more).
constexpr std::size_t kMaxDecompressed = 64u << 20;

struct ProduceCall {
  RequestPtr req;
  ProduceRequest body;
  ProduceResponse resp;
  std::deque<std::string> strings;  // backing storage of error messages
  bool acks_zero = false;
  int pending = 1;
};

ErrorCode record_error_code(RecordError e) {
  switch (e) {
    case RecordError::kNone:
      return ErrorCode::kNone;
    case RecordError::kLegacyMessageFormat:
      return ErrorCode::kUnsupportedForMessageFormat;
    case RecordError::kBadRecord:
      return ErrorCode::kInvalidRecord;
    case RecordError::kUnsupportedCodec:
      return ErrorCode::kUnsupportedCompressionType;
    default:
      return ErrorCode::kCorruptMessage;
  }
}

void finish_one(Broker& broker, const std::shared_ptr<ProduceCall>& call) {
  if (--call->pending != 0) return;
  broker.produce_finished(*call->req);
  // acks=0 frees its place in the connection's line only now, once its
  // writes are done: until then it counts against the connection's
  // in-flight limit like any request, so a flood of acks=0 requests cannot
  // queue more than that (and queued.max.request.bytes) in memory.
  if (call->acks_zero) {
    broker.skip(*call->req);
  } else {
    broker.respond(*call->req, call->resp);
  }
}

// The completion of one partition's append: fills its answer.
std::function<void(AppendResult)> written(Broker& broker, std::shared_ptr<ProduceCall> call,
                                          std::size_t ti, std::size_t pi,
                                          std::int64_t append_time) {
  return [&broker, call = std::move(call), ti, pi, append_time](AppendResult r) {
    auto& out = call->resp.responses[ti].partition_responses[pi];
    if (!r.error.empty()) {
      // The store reports the failure once (kgw stops on it); one line per
      // partition per request would bury that line.
      LOG_DEBUG("produce", "append failed: %s", r.error.c_str());
      out.error_code = code(ErrorCode::kKafkaStorageError);
    } else {
      out.base_offset = r.base_offset;
      out.log_start_offset = r.log_start_offset;
      out.log_append_time_ms = append_time;
    }
    finish_one(broker, call);
  };
}

// Idempotence and transactions, checked right before the store appends a
// partition's batches (in the same loop turn, so the offsets the producer
// state records are the ones the store assigns). Returns true to go on,
// with `writes` to add to the append; false when the answer is already
// filled: a refusal (INVALID_TXN_STATE, INVALID_PRODUCER_EPOCH,
// OUT_OF_ORDER_SEQUENCE_NUMBER), or a retried batch answered with the
// offset it was first written at, once that write is done (Kafka records
// producer state only with the append that stores the batch: a retry must
// not be acknowledged before the batch it repeats is stored, nor when that
// write failed).
bool check_producers(Broker& broker, const std::shared_ptr<ProduceCall>& callp, std::size_t ti,
                     std::size_t pi, const Uuid& topic_id, std::string_view topic_name,
                     std::int32_t partition, const std::vector<Bytes>& batches,
                     std::vector<RecordWrite>& writes) {
  std::vector<RecordBatchHeader> headers(batches.size());
  bool idempotent = false;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (parse_record_batch_header(batches[i], headers[i]) != RecordError::kNone) return true;
    idempotent |= headers[i].producer_id >= 0;
  }
  if (!idempotent) return true;
  ProduceCall& call = *callp;
  auto& out = call.resp.responses[ti].partition_responses[pi];
  auto refuse = [&](ErrorCode e, std::string message) {
    out.error_code = code(e);
    if (!message.empty()) out.error_message = call.strings.emplace_back(std::move(message));
    return false;
  };
  for (const auto& h : headers) {
    if (h.producer_id >= 0 && !broker.txns().issued(h.producer_id)) {
      return refuse(ErrorCode::kUnknownProducerId,
                    "producer id " + std::to_string(h.producer_id) +
                        " was never issued by this broker: get one with InitProducerId");
    }
    if (!h.is_transactional()) continue;
    // KIP-890: a transactional batch only for a partition its open
    // transaction has added, at the producer's current epoch.
    ErrorCode e = broker.txns().check_produce(h.producer_id, h.producer_epoch,
                                              std::string(topic_name), partition);
    if (e != ErrorCode::kNone) {
      return refuse(e, "producer " + std::to_string(h.producer_id) + " epoch " +
                           std::to_string(h.producer_epoch) +
                           " has no open transaction with this partition");
    }
  }
  const PartitionState* ps = broker.store().partition(topic_id, partition);
  if (ps == nullptr) return true;  // deleted meanwhile: the store refuses it
  AppendCheck c =
      broker.producers().check_append(topic_id, partition, headers, ps->log_end_offset, wall_ms());
  if (c.error != ErrorCode::kNone) return refuse(c.error, std::move(c.message));
  if (c.duplicate_of) {
    ++call.pending;
    broker.store().when_written(
        topic_id, partition, c.duplicate_end,
        [&broker, callp, ti, pi, topic_id, partition, base = *c.duplicate_of](
            Store::WaitOutcome outcome, const std::string&) {
          auto& o = callp->resp.responses[ti].partition_responses[pi];
          switch (outcome) {
            case Store::WaitOutcome::kWritten: {
              o.base_offset = base;
              const PartitionState* now = broker.store().partition(topic_id, partition);
              o.log_start_offset = now != nullptr ? now->log_start_offset : -1;
              break;
            }
            case Store::WaitOutcome::kFailed:
              o.error_code = code(ErrorCode::kKafkaStorageError);
              break;
            case Store::WaitOutcome::kGone:
              o.error_code = code(ErrorCode::kUnknownTopicOrPartition);
              break;
          }
          finish_one(broker, callp);
        });
    return false;
  }
  writes = std::move(c.writes);
  return true;
}

}  // namespace

void handle_produce(Broker& broker, RequestPtr req) {
  auto call = std::make_shared<ProduceCall>();
  call->req = req;
  if (!broker.decode(*req, call->body)) return;
  broker.produce_started(*req);
  const auto& body = call->body;
  // Nothing goes back, not even errors (finish_one skips the response).
  call->acks_zero = body.acks == 0;
  const bool bad_acks = body.acks != 0 && body.acks != 1 && body.acks != -1;
  // Produce v0-v2: what all the request's compressed wrappers may inflate to.
  auto legacy_budget = std::make_shared<DecompressionBudget>(kMaxDecompressed);
  Store& store = broker.store();
  call->resp.responses.resize(body.topic_data.size());
  for (std::size_t ti = 0; ti < body.topic_data.size(); ++ti) {
    const auto& td = body.topic_data[ti];
    auto& tout = call->resp.responses[ti];
    tout.name = td.name;
    const TopicInfo* topic = store.find_topic(td.name);
    tout.partition_responses.resize(td.partition_data.size());
    for (std::size_t pi = 0; pi < td.partition_data.size(); ++pi) {
      const auto& pd = td.partition_data[pi];
      auto& pout = tout.partition_responses[pi];
      pout.index = pd.index;
      pout.base_offset = -1;
      auto fail = [&](ErrorCode e) { pout.error_code = code(e); };
      if (bad_acks) {
        fail(ErrorCode::kInvalidRequiredAcks);
        continue;
      }
      if (topic == nullptr || pd.index < 0 || pd.index >= topic->partitions) {
        fail(ErrorCode::kUnknownTopicOrPartition);
        continue;
      }
      if (!pd.records || pd.records->empty()) {
        fail(ErrorCode::kCorruptMessage);
        continue;
      }
      // One node is the whole in-sync replica set.
      if (body.acks == -1 &&
          broker.config().topic_long(topic->configs, "min.insync.replicas") > 1) {
        fail(ErrorCode::kNotEnoughReplicas);
        continue;
      }
      // Produce v0-v2 carry legacy message sets (magic 0/1): up-converted
      // to one v2 batch on the threadpool below (legacy_message_set.h).
      const bool legacy = req->version() < 3;
      std::vector<Bytes> batches;
      RecordError err = legacy ? RecordError::kNone : split_record_batches(*pd.records, batches);
      const std::int64_t max_bytes =
          broker.config().topic_long(topic->configs, "max.message.bytes");
      // Kafka refuses a batch larger than a whole segment.
      const std::int64_t segment_bytes =
          broker.config().topic_long(topic->configs, "segment.bytes");
      const bool log_append_time =
          broker.config().topic_value(topic->configs, "message.timestamp.type") == "LogAppendTime";
      // Views of the batches inside the request frame, which is ours to
      // change: the common path appends them in place (the store keeps the
      // frame alive until the write is done), with no copy on the loop
      // thread; only the base offset (and for LogAppendTime the
      // timestamp) is rewritten.
      std::vector<std::span<std::uint8_t>> views;
      views.reserve(batches.size());
      std::uint8_t* const frame = req->frame.bytes.data();
      ErrorCode result = record_error_code(err);
      for (const Bytes& b : batches) {
        if (result != ErrorCode::kNone) break;
        RecordBatchHeader h;
        result = record_error_code(validate_record_batch(b, h));
        if (result == ErrorCode::kNone) result = record_error_code(check_producer_batch(h));
        if (result == ErrorCode::kNone && static_cast<std::int64_t>(b.size()) > max_bytes) {
          result = ErrorCode::kMessageTooLarge;
        }
        if (result == ErrorCode::kNone && static_cast<std::int64_t>(b.size()) > segment_bytes) {
          result = ErrorCode::kRecordListTooLarge;
        }
        if (result == ErrorCode::kNone) {
          views.emplace_back(frame + (b.data() - req->frame.bytes.data()), b.size());
        }
      }
      if (result != ErrorCode::kNone) {
        LOG_DEBUG("produce", "%s: %.*s-%d rejected: %s", req->peer().c_str(),
                  static_cast<int>(td.name.size()), td.name.data(), pd.index, error_name(result));
        fail(result);
        continue;
      }
      // Every batch's records are checked on the threadpool
      // (record_validator.h) before anything is appended; the partition's
      // appends wait in line so that they keep the order requests came in.
      // The checks read views into the request frame, which the loop does
      // not touch meanwhile (the RequestPtr keeps it alive), so the common
      // path still appends from the frame with no copy; only batches the
      // topic recompresses, and up-converted legacy sets, are copied.
      const RecordRules rules = RecordRules::of(broker.config(), topic->configs);
      const AppendSequencer::Key key{topic->id, pd.index};
      const std::uint64_t ticket = broker.append_sequencer().enter(key);
      ++call->pending;
      struct Work {
        std::vector<std::span<std::uint8_t>> views;    // in the frame
        std::vector<std::vector<std::uint8_t>> owned;  // legacy or recompressed
        bool in_place = true;
        BatchCheck check;
      };
      auto work = std::make_shared<Work>();
      work->views = std::move(views);
      if (legacy) {
        work->owned.emplace_back(pd.records->begin(), pd.records->end());
        work->in_place = false;
      }
      const std::string where = std::string(td.name) + "-" + std::to_string(pd.index);
      // Appends (after LogAppendTime is stamped) and answers when written.
      auto append = [&broker, call, ti, pi, id = topic->id, name = std::string(td.name),
                     partition = pd.index, log_append_time, work] {
        std::vector<RecordWrite> writes;
        std::vector<Bytes> bs = work->in_place
                                    ? std::vector<Bytes>(work->views.begin(), work->views.end())
                                    : std::vector<Bytes>(work->owned.begin(), work->owned.end());
        if (!check_producers(broker, call, ti, pi, id, name, partition, bs, writes)) return;
        std::int64_t append_time = -1;
        if (log_append_time) {
          append_time = wall_ms();
          for (auto& b : work->views) set_log_append_time(b, append_time);
          for (auto& b : work->owned) set_log_append_time(b, append_time);
        }
        ++call->pending;
        if (work->in_place) {
          broker.store().append_in_place(id, partition, std::move(work->views), call->req,
                                         written(broker, call, ti, pi, append_time),
                                         std::move(writes));
        } else {
          broker.store().append(id, partition, std::move(work->owned),
                                written(broker, call, ti, pi, append_time), std::move(writes));
        }
      };
      run_on_pool(
          broker.loop(),
          [work, rules, where, legacy, max_bytes, segment_bytes, legacy_budget] {
            BatchCheck& check = work->check;
            if (legacy) {
              std::vector<std::uint8_t> batch;
              RecordError e =
                  convert_legacy_message_set(Bytes(work->owned.front()), *legacy_budget, batch);
              if (e != RecordError::kNone) {
                check.error = record_error_code(e);
                check.message = std::string("legacy message set (magic 0/1) for ") + where + ": " +
                                record_error_name(e);
                return;
              }
              const auto size = static_cast<std::int64_t>(batch.size());
              if (size > max_bytes || size > segment_bytes) {
                check.error =
                    size > max_bytes ? ErrorCode::kMessageTooLarge : ErrorCode::kRecordListTooLarge;
                return;
              }
              work->owned = {std::move(batch)};
            }
            const RecordChecks checks = rules.checks(wall_ms(), kMaxDecompressed);
            std::vector<std::uint8_t> scratch;
            auto validate = [&](std::span<std::uint8_t> b) {
              RecordBatchHeader h;
              if (parse_record_batch_header(Bytes(b.data(), b.size()), h) != RecordError::kNone) {
                check.error = ErrorCode::kCorruptMessage;
                return false;
              }
              check = validate_batch_records(Bytes(b.data(), b.size()), h, checks, where, scratch);
              if (check.error != ErrorCode::kNone) return false;
              // Kafka sets a CreateTime batch's max_timestamp to its
              // largest record timestamp; the time index relies on it.
              if (h.timestamp_type() == TimestampType::kCreateTime &&
                  check.max_timestamp != h.max_timestamp) {
                set_max_timestamp(b, check.max_timestamp);
              }
              return true;
            };
            for (auto& b : work->views) {
              if (!validate(b)) return;
            }
            for (auto& b : work->owned) {
              if (!validate(b)) return;
            }
            if (!rules.rewrites()) return;
            if (work->in_place) {
              for (const auto& v : work->views) work->owned.emplace_back(v.begin(), v.end());
              work->views.clear();
              work->in_place = false;
            }
            check.error = rules.recompress(work->owned, where, kMaxDecompressed, check.message);
          },
          [&broker, call, work, append, key, ticket, ti, pi] {
            const BatchCheck& check = work->check;
            if (check.error != ErrorCode::kNone) {
              // KIP-467: the partition's error and message, and each bad
              // record by its index in the batch; the batch is not stored.
              auto& out = call->resp.responses[ti].partition_responses[pi];
              out.error_code = code(check.error);
              if (!check.message.empty()) {
                out.error_message = call->strings.emplace_back(check.message);
              }
              for (const RecordFault& f : check.faults) {
                auto& e = out.record_errors.emplace_back();
                e.batch_index = f.batch_index;
                e.batch_index_error_message = call->strings.emplace_back(f.message);
              }
              LOG_DEBUG("produce", "%s: records rejected: %s", call->req->peer().c_str(),
                        check.message.c_str());
              broker.append_sequencer().ready(key, ticket, [] {});
              finish_one(broker, call);
            } else {
              // The append may wait for earlier ones: the call stays
              // pending until it has started (it then counts itself).
              broker.append_sequencer().ready(key, ticket, [append, call, &broker] {
                append();
                finish_one(broker, call);
              });
            }
          });
    }
  }
  finish_one(broker, call);
}

}  // namespace kgw
