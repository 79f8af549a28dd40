// Produce (key 0): validate each partition's record batches and append them.
//
// Guards, per partition, as Kafka answers them: unknown topic or partition
// (UNKNOWN_TOPIC_OR_PARTITION), a legacy message set (magic 0/1:
// UNSUPPORTED_FOR_MESSAGE_FORMAT), a bad CRC or framing (CORRUPT_MESSAGE), a
// batch the producer may not send (INVALID_RECORD), a batch over the topic's
// max.message.bytes (MESSAGE_TOO_LARGE). Valid partitions are appended even
// when others in the same request fail. acks=0 gets no response at all.
#include <chrono>
#include <memory>
#include <span>

#include "all_messages.h"
#include "protocol/records/record_batch.h"
#include "src/broker/handlers/handlers.h"
#include "src/util/log.h"
#include "storage/store.h"

namespace kgw {

namespace {

struct ProduceCall {
  RequestPtr req;
  ProduceRequest body;
  ProduceResponse resp;
  bool acks_zero = false;
  int pending = 1;
};

ErrorCode record_error_code(RecordError e) {
  switch (e) {
    case RecordError::kNone: return ErrorCode::kNone;
    case RecordError::kLegacyMessageFormat: return ErrorCode::kUnsupportedForMessageFormat;
    case RecordError::kBadRecord: return ErrorCode::kInvalidRecord;
    case RecordError::kUnsupportedCodec: return ErrorCode::kUnsupportedCompressionType;
    default: return ErrorCode::kCorruptMessage;
  }
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void finish_one(Broker& broker, const std::shared_ptr<ProduceCall>& call) {
  if (--call->pending != 0) return;
  if (!call->acks_zero) broker.respond(*call->req, call->resp);
}

}  // namespace

void handle_produce(Broker& broker, RequestPtr req) {
  auto call = std::make_shared<ProduceCall>();
  call->req = req;
  if (!broker.decode(*req, call->body)) return;
  const auto& body = call->body;
  if (body.acks == 0) {
    // Nothing goes back, not even errors: let later responses pass now.
    call->acks_zero = true;
    broker.skip(*req);
  }
  const bool bad_acks = body.acks != 0 && body.acks != 1 && body.acks != -1;
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
      std::vector<Bytes> batches;
      RecordError err = split_record_batches(*pd.records, batches);
      const std::int64_t max_bytes = broker.config().topic_long(topic->configs, "max.message.bytes");
      const bool log_append_time =
          broker.config().topic_value(topic->configs, "message.timestamp.type") == "LogAppendTime";
      // The batches are appended in place, as views into the request frame
      // (which the store keeps alive until the write is done): no copy on
      // the loop thread. The frame is ours to change; only the base offset
      // (and for LogAppendTime the timestamp) is rewritten.
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
      std::int64_t append_time = -1;
      if (log_append_time) {
        append_time = now_ms();
        for (auto& b : views) set_log_append_time(b, append_time);
      }
      ++call->pending;
      store.append_in_place(topic->id, pd.index, std::move(views), req,
                   [&broker, call, ti, pi, append_time](AppendResult r) {
                     auto& out = call->resp.responses[ti].partition_responses[pi];
                     if (!r.error.empty()) {
                       LOG_ERROR("produce", "append failed: %s", r.error.c_str());
                       out.error_code = code(ErrorCode::kKafkaStorageError);
                     } else {
                       out.base_offset = r.base_offset;
                       out.log_start_offset = r.log_start_offset;
                       out.log_append_time_ms = append_time;
                     }
                     finish_one(broker, call);
                   });
    }
  }
  finish_one(broker, call);
}

}  // namespace kgw
