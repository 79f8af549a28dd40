// kgw-perf: a Kafka load generator on librdkafka, in the spirit of Kafka's
// producer-perf-test and librdkafka's rdkafka_performance, for any broker
// (kgw, librdkafka's mock cluster, Kafka).
//
//   kgw-perf produce -b HOST:PORT -t TOPIC [-s BYTES] [-n COUNT | -d SECONDS] ...
//   kgw-perf consume -b HOST:PORT -t TOPIC [-n COUNT]
//   kgw-perf e2e     -b HOST:PORT -t TOPIC -r MSGS_PER_S [-d SECONDS] ...
//
// produce: sends as fast as librdkafka takes them (or at --rate), and times
//   each message from rd_kafka_produce() to its delivery report (the ack).
// consume: reads every partition from the beginning to its end (or COUNT
//   messages) and reports the rate.
// e2e: a producer at --rate and a consumer in the same process; each value
//   starts with its send time (steady clock), so the consumer's latency is
//   produce -> ack -> fetch -> poll, end to end.
//
// Consumers read with the legacy per-partition API (consume_start into one
// queue) and no group.id: it works on any broker that serves Fetch and
// ListOffsets, consumer groups or not.
//
// Output: a readable summary on stderr and, with --json, one JSON object on
// stdout, which tools/bench/side_by_side.py reads. Exit 0 on success, 1 if
// a message failed or the run could not finish, 2 for a bad flag.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Options {
  std::string mode;
  std::string brokers = "127.0.0.1:9092";
  std::string topic = "kgw-perf";
  std::size_t size = 100;   // Default: 100 bytes per value
  std::int64_t count = -1;  // Default: 1,000,000 unless --duration is given
  double duration = 0;      // Default: none (seconds)
  double rate = 0;          // Default: 0, unlimited (messages per second)
  std::string acks = "1";   // Default: 1
  std::string compression = "none";
  double linger_ms = 5;  // Default: 5
  int inflight = 5;      // Default: 5 (Kafka's max.in.flight default)
  std::int64_t batch_messages = 10000;
  int partitions = 0;  // Default: 0, every partition the topic has
  bool json = false;
  std::vector<std::pair<std::string, std::string>> extra;  // -X name=value
};

[[noreturn]] void usage(int code) {
  std::fputs(
      "usage: kgw-perf produce|consume|e2e -b HOST:PORT -t TOPIC [options]\n"
      "  -s, --size BYTES        value size (default 100; e2e: at least 8)\n"
      "  -n, --count N           messages (default 1000000; unlimited with --duration,\n"
      "                          and for consume, which reads to the end)\n"
      "  -d, --duration SECONDS  stop after this long\n"
      "  -r, --rate N            messages per second (default unlimited; e2e needs it)\n"
      "  -a, --acks 0|1|all      (default 1)\n"
      "  -z, --compression none|gzip|snappy|lz4|zstd\n"
      "  -l, --linger MS         linger.ms (default 5)\n"
      "  -i, --inflight N        max.in.flight per connection (default 5)\n"
      "  -B, --batch N           batch.num.messages (default 10000)\n"
      "  -p, --partitions N      consume/e2e: the first N partitions (default all)\n"
      "  -X NAME=VALUE           any librdkafka property\n"
      "      --json              also print one JSON object on stdout\n",
      code == 0 ? stdout : stderr);
  std::exit(code);
}

bool parse_number(const char* s, double& out) {
  char* end = nullptr;
  out = std::strtod(s, &end);
  return end != s && *end == '\0' && out >= 0;
}

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2) usage(2);
  o.mode = argv[1];
  if (o.mode == "-h" || o.mode == "--help") usage(0);
  if (o.mode != "produce" && o.mode != "consume" && o.mode != "e2e") {
    std::fprintf(stderr, "kgw-perf: unknown mode '%s' (produce, consume or e2e)\n", argv[1]);
    std::exit(2);
  }
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") {
      o.json = true;
      continue;
    }
    if (a == "-h" || a == "--help") usage(0);
    if (i + 1 >= argc) {
      std::fprintf(stderr, "kgw-perf: %s needs a value\n", a.c_str());
      std::exit(2);
    }
    const char* v = argv[++i];
    double num = 0;
    auto number = [&]() {
      if (!parse_number(v, num)) {
        std::fprintf(stderr, "kgw-perf: %s needs a non-negative number, not '%s'\n", a.c_str(), v);
        std::exit(2);
      }
      return num;
    };
    if (a == "-b" || a == "--brokers")
      o.brokers = v;
    else if (a == "-t" || a == "--topic")
      o.topic = v;
    else if (a == "-s" || a == "--size")
      o.size = static_cast<std::size_t>(number());
    else if (a == "-n" || a == "--count")
      o.count = static_cast<std::int64_t>(number());
    else if (a == "-d" || a == "--duration")
      o.duration = number();
    else if (a == "-r" || a == "--rate")
      o.rate = number();
    else if (a == "-a" || a == "--acks")
      o.acks = (std::string(v) == "all") ? "-1" : v;
    else if (a == "-z" || a == "--compression")
      o.compression = v;
    else if (a == "-l" || a == "--linger")
      o.linger_ms = number();
    else if (a == "-i" || a == "--inflight")
      o.inflight = static_cast<int>(number());
    else if (a == "-B" || a == "--batch")
      o.batch_messages = static_cast<std::int64_t>(number());
    else if (a == "-p" || a == "--partitions")
      o.partitions = static_cast<int>(number());
    else if (a == "-X") {
      const char* eq = std::strchr(v, '=');
      if (eq == nullptr) {
        std::fprintf(stderr, "kgw-perf: -X needs NAME=VALUE, not '%s'\n", v);
        std::exit(2);
      }
      o.extra.emplace_back(std::string(v, eq), std::string(eq + 1));
    } else {
      std::fprintf(stderr, "kgw-perf: unknown option '%s' (--help lists them)\n", a.c_str());
      std::exit(2);
    }
  }
  // consume reads to the end of every partition unless told otherwise.
  if (o.count < 0) o.count = (o.duration > 0 || o.mode == "consume") ? INT64_MAX : 1'000'000;
  if (o.mode == "e2e") {
    if (o.rate <= 0) {
      std::fprintf(stderr, "kgw-perf: e2e needs --rate (latency is measured below saturation)\n");
      std::exit(2);
    }
    o.size = std::max<std::size_t>(o.size, sizeof(std::int64_t));
  }
  return o;
}

[[noreturn]] void die(const char* what, const char* detail) {
  std::fprintf(stderr, "kgw-perf: %s: %s\n", what, detail);
  std::exit(1);
}

void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    die(("property " + name).c_str(), err);
  }
}

// Latencies in microseconds; percentiles by sorting once at the end.
struct Latencies {
  std::vector<std::uint32_t> us;
  void add(std::int64_t ns) {
    us.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(ns / 1000, 0, UINT32_MAX)));
  }
  double pct(double p) const {
    if (us.empty()) return 0;
    std::size_t i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(us.size() - 1) + 0.5);
    return us[std::min(i, us.size() - 1)] / 1000.0;
  }
};

struct Summary {
  std::int64_t messages = 0;
  std::int64_t bytes = 0;
  double seconds = 0;
  std::int64_t failed = 0;
  Latencies lat;
};

void report(const Options& o, const char* what, Summary& s) {
  std::sort(s.lat.us.begin(), s.lat.us.end());
  const double secs = s.seconds > 0 ? s.seconds : 1e-9;
  const double mps = static_cast<double>(s.messages) / secs;
  const double mbps = static_cast<double>(s.bytes) / secs / 1e6;
  std::fprintf(stderr,
               "%s: %" PRId64 " messages, %" PRId64 " bytes in %.3f s: %.0f msgs/s, %.1f MB/s",
               what, s.messages, s.bytes, s.seconds, mps, mbps);
  if (!s.lat.us.empty()) {
    std::fprintf(stderr, "; latency ms p50 %.3f p99 %.3f p99.9 %.3f max %.3f", s.lat.pct(50),
                 s.lat.pct(99), s.lat.pct(99.9), s.lat.pct(100));
  }
  if (s.failed != 0) std::fprintf(stderr, "; %" PRId64 " FAILED", s.failed);
  std::fputc('\n', stderr);
  if (o.json) {
    std::printf(
        "{\"mode\": \"%s\", \"what\": \"%s\", \"messages\": %" PRId64 ", \"bytes\": %" PRId64
        ", \"seconds\": %.6f, \"msgs_per_s\": %.1f, \"mb_per_s\": %.3f, \"failed\": %" PRId64,
        o.mode.c_str(), what, s.messages, s.bytes, s.seconds, mps, mbps, s.failed);
    if (!s.lat.us.empty()) {
      std::printf(", \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f",
                  s.lat.pct(50), s.lat.pct(99), s.lat.pct(99.9), s.lat.pct(100));
    }
    std::printf("}\n");
    std::fflush(stdout);
  }
}

// --- produce -------------------------------------------------------------

struct ProducerState {
  Summary* summary = nullptr;
  bool record_latency = true;
  std::atomic<std::int64_t> acked{0};
  std::int64_t first_error_logged = 0;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* st = static_cast<ProducerState*>(opaque);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (st->summary->failed++ == 0) {
      std::fprintf(stderr, "kgw-perf: delivery failed: %s\n", rd_kafka_err2str(m->err));
    }
  } else {
    ++st->summary->messages;
    st->summary->bytes += static_cast<std::int64_t>(m->len);
    if (st->record_latency) {
      const auto sent = static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(m->_private));
      st->summary->lat.add(now_ns() - sent);
    }
  }
  st->acked.fetch_add(1, std::memory_order_relaxed);
}

rd_kafka_t* make_producer(const Options& o, ProducerState& st) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", o.brokers);
  set(conf, "acks", o.acks);
  set(conf, "compression.codec", o.compression);
  set(conf, "linger.ms", std::to_string(o.linger_ms));
  set(conf, "batch.num.messages", std::to_string(o.batch_messages));
  set(conf, "max.in.flight", std::to_string(o.inflight));
  set(conf, "queue.buffering.max.messages", "1000000");
  set(conf, "queue.buffering.max.kbytes", "1048576");
  set(conf, "enable.idempotence", "false");
  // A message the broker never acknowledges fails instead of hanging the run.
  set(conf, "message.timeout.ms", "60000");
  for (const auto& [k, v] : o.extra) set(conf, k, v);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &st);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) die("producer", err);
  return rk;
}

// Produces until the count or the duration is reached, paced at o.rate if
// set. Values are `size` bytes; e2e values start with their send time.
void produce_loop(const Options& o, rd_kafka_t* rk, rd_kafka_topic_t* rkt, ProducerState& st,
                  std::atomic<bool>* stop = nullptr) {
  // Values are random uppercase letters, like Kafka's producer-perf-test,
  // but different for every message (a window sliding over a 4 MiB pool):
  // a payload of one repeated byte would let any compression along the way
  // (RocksDB's blocks, the codecs) look far cheaper than with real data.
  std::vector<char> pool((4u << 20) + o.size);
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (char& c : pool) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
    c = static_cast<char>('A' + x % 26);
  }
  std::vector<char> value(o.size);
  std::size_t at = 0;
  const std::int64_t start = now_ns();
  const std::int64_t end =
      o.duration > 0 ? start + static_cast<std::int64_t>(o.duration * 1e9) : INT64_MAX;
  const double ns_per_msg = o.rate > 0 ? 1e9 / o.rate : 0;
  std::int64_t sent = 0;
  while (sent < o.count) {
    if ((sent & 1023) == 0 && (now_ns() >= end || (stop != nullptr && stop->load()))) break;
    if (o.rate > 0) {
      const std::int64_t due =
          start + static_cast<std::int64_t>(static_cast<double>(sent) * ns_per_msg);
      std::int64_t t = now_ns();
      while (t < due) {
        // Sleep in short steps so a slow delivery thread is still polled.
        rd_kafka_poll(rk, 0);
        const std::int64_t wait = std::min<std::int64_t>(due - t, 200'000);
        if (wait > 50'000) std::this_thread::sleep_for(std::chrono::nanoseconds(wait - 50'000));
        t = now_ns();
      }
      if (t >= end) break;
    }
    std::memcpy(value.data(), pool.data() + at, value.size());
    at = (at + 4099) % (pool.size() - value.size());
    const std::int64_t t = now_ns();
    if (o.mode == "e2e") std::memcpy(value.data(), &t, sizeof t);
    void* opaque = reinterpret_cast<void*>(static_cast<std::intptr_t>(t));
    if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, value.data(),
                         value.size(), nullptr, 0, opaque) == -1) {
      const rd_kafka_resp_err_t e = rd_kafka_last_error();
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 1);
        continue;
      }
      die("produce", rd_kafka_err2str(e));
    }
    ++sent;
    if ((sent & 255) == 0) rd_kafka_poll(rk, 0);
  }
  while (rd_kafka_outq_len(rk) > 0) rd_kafka_poll(rk, 50);
  (void)st;
}

int run_produce(const Options& o) {
  Summary s;
  ProducerState st;
  st.summary = &s;
  s.lat.us.reserve(static_cast<std::size_t>(std::min<std::int64_t>(o.count, 20'000'000)));
  rd_kafka_t* rk = make_producer(o, st);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
  // Fetch metadata first, so connecting is not counted as throughput.
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) die("metadata", rd_kafka_err2str(e));
  rd_kafka_metadata_destroy(md);
  const std::int64_t t0 = now_ns();
  produce_loop(o, rk, rkt, st);
  s.seconds = static_cast<double>(now_ns() - t0) / 1e9;
  report(o, "produce", s);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return s.failed == 0 && s.messages > 0 ? 0 : 1;
}

// --- consume -------------------------------------------------------------

struct Consumer {
  rd_kafka_t* rk = nullptr;
  rd_kafka_topic_t* rkt = nullptr;
  rd_kafka_queue_t* queue = nullptr;
  std::vector<std::int32_t> partitions;
};

// Starts consuming `o.topic` at `offsets[i]` of each partition (or from the
// beginning if empty). Partitions come from the broker's metadata.
Consumer start_consumer(const Options& o, bool from_end) {
  Consumer c;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", o.brokers);
  set(conf, "enable.partition.eof", "true");
  // Fetch sizes are librdkafka's defaults (50 MB per fetch, 1 MB per
  // partition, as Kafka's consumer); prefetch a lot, so the consumer and
  // not its queue limits the rate.
  set(conf, "queued.max.messages.kbytes", "262144");
  set(conf, "fetch.wait.max.ms", o.mode == "e2e" ? "100" : "500");
  set(conf, "fetch.error.backoff.ms", "10");
  // The mock cluster keeps only recent data: start at its first retained
  // offset instead of jumping to the end.
  set(conf, "auto.offset.reset", "smallest");
  for (const auto& [k, v] : o.extra) set(conf, k, v);
  char err[512];
  c.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (c.rk == nullptr) die("consumer", err);
  c.rkt = rd_kafka_topic_new(c.rk, o.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t e = rd_kafka_metadata(c.rk, 0, c.rkt, &md, 10000);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) die("metadata", rd_kafka_err2str(e));
  if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    die(("topic " + o.topic).c_str(),
        md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "not in metadata");
  }
  for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
    if (o.partitions > 0 && static_cast<int>(c.partitions.size()) >= o.partitions) break;
    c.partitions.push_back(md->topics[0].partitions[i].id);
  }
  rd_kafka_metadata_destroy(md);
  std::sort(c.partitions.begin(), c.partitions.end());
  c.queue = rd_kafka_queue_new(c.rk);
  for (std::int32_t p : c.partitions) {
    std::int64_t offset = RD_KAFKA_OFFSET_BEGINNING;
    if (from_end) {
      std::int64_t lo = 0, hi = 0;
      e = rd_kafka_query_watermark_offsets(c.rk, o.topic.c_str(), p, &lo, &hi, 10000);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) die("watermarks", rd_kafka_err2str(e));
      offset = hi;
    }
    if (rd_kafka_consume_start_queue(c.rkt, p, offset, c.queue) == -1) {
      die("consume_start", rd_kafka_err2str(rd_kafka_last_error()));
    }
  }
  return c;
}

void stop_consumer(Consumer& c) {
  for (std::int32_t p : c.partitions) rd_kafka_consume_stop(c.rkt, p);
  rd_kafka_queue_destroy(c.queue);
  rd_kafka_topic_destroy(c.rkt);
  rd_kafka_destroy(c.rk);
}

int run_consume(const Options& o) {
  Summary s;
  const std::int64_t t0 = now_ns();
  Consumer c = start_consumer(o, false);
  std::size_t at_eof = 0;
  std::vector<bool> eof(c.partitions.size(), false);
  const std::int64_t end =
      o.duration > 0 ? t0 + static_cast<std::int64_t>(o.duration * 1e9) : INT64_MAX;
  std::vector<rd_kafka_message_t*> batch(10000);
  while (s.messages < o.count && at_eof < c.partitions.size() && now_ns() < end) {
    const ssize_t n = rd_kafka_consume_batch_queue(c.queue, 100, batch.data(), batch.size());
    for (ssize_t i = 0; i < n; ++i) {
      rd_kafka_message_t* m = batch[static_cast<std::size_t>(i)];
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        // An empty partition or the end of one: done with it (EOF comes again
        // after more data, so count each partition once).
        auto it = std::lower_bound(c.partitions.begin(), c.partitions.end(), m->partition);
        const std::size_t idx = static_cast<std::size_t>(it - c.partitions.begin());
        if (idx < eof.size() && !eof[idx]) {
          eof[idx] = true;
          ++at_eof;
        }
      } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (s.failed++ == 0)
          std::fprintf(stderr, "kgw-perf: consume: %s\n", rd_kafka_message_errstr(m));
      } else {
        ++s.messages;
        s.bytes += static_cast<std::int64_t>(m->len);
      }
      rd_kafka_message_destroy(m);
    }
  }
  s.seconds = static_cast<double>(now_ns() - t0) / 1e9;
  report(o, "consume", s);
  stop_consumer(c);
  return s.failed == 0 && s.messages > 0 ? 0 : 1;
}

// --- end to end ----------------------------------------------------------

int run_e2e(const Options& o) {
  Summary produced, consumed;
  ProducerState st;
  st.summary = &produced;
  st.record_latency = true;
  // The producer asks for metadata first: it may auto-create the topic,
  // which a consumer's metadata request never does.
  rd_kafka_t* rk = make_producer(o, st);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) die("metadata", rd_kafka_err2str(e));
  rd_kafka_metadata_destroy(md);
  Consumer c = start_consumer(o, true);
  // Give the consumer time to reach its fetch loop, so startup is not
  // counted as latency.
  {
    std::vector<rd_kafka_message_t*> batch(1000);
    const std::int64_t until = now_ns() + 1'000'000'000;
    while (now_ns() < until) {
      const ssize_t n = rd_kafka_consume_batch_queue(c.queue, 50, batch.data(), batch.size());
      for (ssize_t i = 0; i < n; ++i) rd_kafka_message_destroy(batch[static_cast<std::size_t>(i)]);
    }
  }

  std::atomic<bool> producing{true};
  std::atomic<std::int64_t> received{0};
  // consume_callback_queue, not consume_batch_queue: the latter waits for
  // a full batch or its timeout, which would add up to that timeout to
  // every message's latency.
  struct ReaderState {
    Summary* consumed;
    std::atomic<std::int64_t>* received;
    std::int64_t last_seen = 0;
  } rs{&consumed, &received};
  std::thread reader([&]() {
    for (;;) {
      const int n = rd_kafka_consume_callback_queue(
          c.queue, 50,
          [](rd_kafka_message_t* m, void* opaque) {
            auto* r = static_cast<ReaderState*>(opaque);
            const std::int64_t t = now_ns();
            r->last_seen = t;
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->len >= sizeof(std::int64_t)) {
              std::int64_t sent = 0;
              std::memcpy(&sent, m->payload, sizeof sent);
              r->consumed->lat.add(t - sent);
              ++r->consumed->messages;
              r->consumed->bytes += static_cast<std::int64_t>(m->len);
              r->received->fetch_add(1, std::memory_order_relaxed);
            } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                       m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
              if (r->consumed->failed++ == 0) {
                std::fprintf(stderr, "kgw-perf: consume: %s\n", rd_kafka_message_errstr(m));
              }
            }
          },
          &rs);
      if (!producing.load()) {
        if (received.load() >= st.acked.load()) break;
        const std::int64_t t = now_ns();
        if (n > 0 || rs.last_seen == 0) rs.last_seen = t;
        if (t - rs.last_seen > 10'000'000'000) break;  // 10 s with nothing: give up
      }
    }
  });
  const std::int64_t t0 = now_ns();
  produce_loop(o, rk, rkt, st);
  produced.seconds = static_cast<double>(now_ns() - t0) / 1e9;
  producing = false;
  reader.join();
  consumed.seconds = static_cast<double>(now_ns() - t0) / 1e9;
  report(o, "e2e produce->ack", produced);
  report(o, "e2e produce->consume", consumed);
  const bool complete = consumed.messages == produced.messages;
  if (!complete) {
    std::fprintf(stderr, "kgw-perf: e2e: consumed %" PRId64 " of %" PRId64 " acknowledged\n",
                 consumed.messages, produced.messages);
  }
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  stop_consumer(c);
  return produced.failed == 0 && consumed.failed == 0 && complete && produced.messages > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.mode == "produce") return run_produce(o);
  if (o.mode == "consume") return run_consume(o);
  return run_e2e(o);
}
