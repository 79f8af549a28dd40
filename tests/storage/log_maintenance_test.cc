// Retention and log compaction through the Store's public API, on a real
// libuv loop and a real RocksDB store in a temp dir. Transactional batches
// are built here with RecordBatchBuilder: clients cannot produce
// transactions to kgw yet, but the cleaner must already handle them from
// the log alone.
#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "protocol/records/control_record.h"
#include "protocol/records/record_batch.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/records/record_iterator.h"
#include "storage/offset_map.h"
#include "storage/segment_list.h"
#include "storage/store.h"

namespace fs = std::filesystem;
using namespace kgw;

namespace {

// prefix + std::to_string(n), by appending: GCC 12 at -O3 reports a false
// -Wrestrict on operator+(const char*, std::string&&) (GCC bug 105329).
std::string str_of(const char* prefix, std::int64_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

struct Rec {
  std::optional<std::string> key;
  std::optional<std::string> value;  // nullopt: a tombstone
  std::int64_t ts = 0;
};

struct BatchSpec {
  CompressionCodec codec = CompressionCodec::kNone;
  bool transactional = false;
  std::int64_t producer_id = -1;
};

std::vector<std::uint8_t> batch_of(const std::vector<Rec>& recs, BatchSpec spec = {}) {
  RecordBatchOptions o;
  o.codec = spec.codec;
  o.transactional = spec.transactional;
  o.producer_id = spec.producer_id;
  o.producer_epoch = spec.producer_id >= 0 ? 0 : -1;
  o.base_sequence = spec.producer_id >= 0 ? 0 : -1;
  RecordBatchBuilder b(o);
  for (const auto& r : recs) {
    std::optional<Bytes> k, v;
    if (r.key) k = Bytes(std::string_view(*r.key));
    if (r.value) v = Bytes(std::string_view(*r.value));
    REQUIRE(b.add(r.ts, k, v) == RecordError::kNone);
  }
  std::vector<std::uint8_t> out;
  REQUIRE(b.build(out) == RecordError::kNone);
  return out;
}

std::vector<std::uint8_t> marker(std::int64_t producer_id, ControlRecordType type) {
  RecordBatchOptions o;
  o.control = true;
  o.transactional = true;
  o.producer_id = producer_id;
  o.producer_epoch = 0;
  RecordBatchBuilder b(o);
  std::vector<std::uint8_t> key, value;
  encode_control_record_key(type, key);
  encode_end_txn_marker(0, value);
  REQUIRE(b.add(1000, Bytes(key), Bytes(value)) == RecordError::kNone);
  std::vector<std::uint8_t> out;
  REQUIRE(b.build(out) == RecordError::kNone);
  return out;
}

struct Got {
  std::int64_t offset;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t ts;
  RecordBatchHeader batch;
};

// A policy from the topic's configs, the way the broker resolves them
// (reduced to what these tests set).
LogPolicy policy_of(const TopicInfo& t) {
  LogPolicy p;
  auto get = [&](const char* name) -> const std::string* {
    auto it = t.configs.find(name);
    return it == t.configs.end() ? nullptr : &it->second;
  };
  if (auto* v = get("cleanup.policy")) {
    p.compact = v->find("compact") != std::string::npos;
    p.delete_enabled = v->find("delete") != std::string::npos;
  }
  if (auto* v = get("retention.ms")) p.retention_ms = std::stoll(*v);
  if (auto* v = get("retention.bytes")) p.retention_bytes = std::stoll(*v);
  if (auto* v = get("segment.bytes")) p.segment_bytes = std::stoll(*v);
  if (auto* v = get("delete.retention.ms")) p.delete_retention_ms = std::stoll(*v);
  if (auto* v = get("min.cleanable.dirty.ratio")) p.min_cleanable_dirty_ratio = std::stod(*v);
  return p;
}

class Harness {
 public:
  Harness() {
    std::string tmpl = (fs::temp_directory_path() / "kgw-maint-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
    REQUIRE(uv_loop_init(&loop_) == 0);
    REQUIRE(uv_timer_init(&loop_, &tick_) == 0);
    REQUIRE(uv_timer_start(
                &tick_, [](uv_timer_t*) {}, 20, 20) == 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&tick_));
    open();
  }
  ~Harness() {
    if (store) close();
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop_) == 0);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void open() {
    StoreOptions o;
    o.data_dir = dir_;
    std::string error;
    store = Store::open(&loop_, o, error);
    INFO(error);
    REQUIRE(store != nullptr);
    store->set_policy_resolver(policy_of);
    if (maintenance) store->set_maintenance(*maintenance);
  }
  void close() {
    CHECK(store->stop() == "");
    store.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  void reopen() {
    close();
    open();
  }

  void run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      uv_run(&loop_, UV_RUN_ONCE);
    }
  }

  Uuid create(const std::string& name, std::map<std::string, std::string> configs,
              std::int32_t partitions = 1) {
    TopicInfo info;
    info.name = name;
    info.partitions = partitions;
    info.configs = std::move(configs);
    std::optional<std::string> result;
    store->create_topic(info, [&](std::string e) { result = e; });
    run_until([&] { return result.has_value(); });
    REQUIRE(*result == "");
    return store->find_topic(name)->id;
  }

  std::int64_t append(const Uuid& t, std::vector<std::uint8_t> batch) {
    std::vector<std::vector<std::uint8_t>> v;
    v.push_back(std::move(batch));
    std::optional<AppendResult> result;
    store->append(t, 0, std::move(v), [&](AppendResult r) { result = r; });
    run_until([&] { return result.has_value(); });
    REQUIRE(result->error == "");
    return result->base_offset;
  }

  std::string wait_done(const std::function<void(Store::Done)>& call) {
    std::optional<std::string> result;
    call([&](std::string e) { result = e; });
    run_until([&] { return result.has_value(); });
    return *result;
  }

  // One cleaner round; true if it ran a pass (and it finished).
  bool clean() {
    const auto before = store->stats();
    store->run_cleaner_now();
    bool started = false;
    for (const TopicInfo* t : store->topics()) {
      for (std::int32_t p = 0; p < t->partitions; ++p)
        started |= store->log_info(t->id, p)->cleaning;
    }
    if (!started) return false;
    run_until([&] {
      auto s = store->stats();
      return s.cleaner_passes + s.cleaner_failures >
             before.cleaner_passes + before.cleaner_failures;
    });
    CHECK(store->stats().cleaner_failures == before.cleaner_failures);
    return true;
  }
  void clean_fully() {
    int passes = 0;
    while (clean()) REQUIRE(++passes < 100);
  }

  // Every record from the log start to the high watermark.
  std::vector<Got> read_all(const Uuid& t) {
    std::vector<Got> out;
    const PartitionState* ps = store->partition(t, 0);
    std::int64_t next = ps->log_start_offset;
    while (next < ps->high_watermark) {
      std::optional<ReadResult> r;
      store->read(t, 0, next, 1 << 20, [&](ReadResult x) { r = std::move(x); });
      run_until([&] { return r.has_value(); });
      REQUIRE(r->error == "");
      if (r->data.empty()) break;
      std::vector<Bytes> views;
      REQUIRE(split_record_batches(Bytes(r->data), views) == RecordError::kNone);
      for (Bytes v : views) {
        RecordBatchHeader h;
        REQUIRE(validate_record_batch(v, h) == RecordError::kNone);
        std::vector<std::uint8_t> scratch;
        Bytes records;
        REQUIRE(batch_records(v, h, scratch, records, 1 << 24) == RecordError::kNone);
        RecordIterator it(records, h.record_count);
        Record rec;
        while (it.next(rec)) {
          const std::int64_t off = h.base_offset + rec.offset_delta;
          if (off < next) continue;
          Got g{off, std::nullopt, std::nullopt, h.base_timestamp + rec.timestamp_delta, h};
          if (rec.key) g.key = std::string(rec.key->as_string());
          if (rec.value) g.value = std::string(rec.value->as_string());
          out.push_back(g);
        }
        REQUIRE(it.error() == RecordError::kNone);
        next = h.last_offset() + 1;
      }
    }
    return out;
  }

  std::unique_ptr<Store> store;
  std::optional<MaintenanceOptions> maintenance;

 private:
  std::string dir_;
  uv_loop_t loop_;
  uv_timer_t tick_;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("the offset map keeps the latest offset per key within its budget") {
  OffsetMap map(24 * 1000);  // room for 750 keys
  for (int i = 0; i < 700; ++i) {
    std::string k = "key-" + std::to_string(i);
    REQUIRE(map.put(Bytes(std::string_view(k)), i));
  }
  for (int i = 0; i < 700; ++i) {
    std::string k = "key-" + std::to_string(i);
    REQUIRE(map.put(Bytes(std::string_view(k)), 1000 + i));  // updates never need room
  }
  CHECK(map.size() == 700);
  CHECK(map.get(Bytes(std::string_view("key-5"))) == 1005);
  CHECK(map.get(Bytes(std::string_view("absent"))) == -1);
  int refused = 0;
  for (int i = 700; i < 900; ++i) {
    std::string k = "key-" + std::to_string(i);
    if (!map.put(Bytes(std::string_view(k)), i)) ++refused;
  }
  CHECK(refused > 0);
  CHECK(map.memory_bytes() <= 24 * 1000);
}

TEST_CASE("segments roll at segment.bytes and retention picks whole leading segments") {
  LogPolicy p;
  p.segment_bytes = 100;
  p.retention_ms = -1;
  SegmentList s;
  s.reset(0, 1000);
  std::int64_t end = 0;
  for (int i = 0; i < 10; ++i) {
    if (s.should_roll(40, 1000, p)) s.roll(end, 1000);
    end += 5;
    s.on_append(end, 40, 100 + i, 1000);
  }
  // 40-byte batches, 100-byte segments: two batches per segment.
  CHECK(s.segments().size() == 5);
  CHECK(s.bytes() == 400);
  p.retention_bytes = 150;
  RetentionPlan plan = s.plan_retention(p, 2000, end);
  CHECK(plan.count == 3);  // keeps at least retention.bytes
  CHECK(plan.bytes == 240);
  CHECK(plan.by_size);
  // Not past the high watermark.
  CHECK(s.plan_retention(p, 2000, 12).count == 1);
  p.retention_bytes = -1;
  p.retention_ms = 1000;
  CHECK(s.plan_retention(p, 1000 + 103 + 1, end).count == 2);  // timestamps 100..103 expired
  plan = s.plan_retention(p, 100000, end);
  CHECK(plan.count == 5);
  CHECK(plan.includes_active);
}

TEST_CASE("compaction keeps the latest record per key at its offset, never the last batch") {
  Harness h;
  Uuid t = h.create("compact", {{"cleanup.policy", "compact"},
                                {"segment.bytes", "1"},
                                {"min.cleanable.dirty.ratio", "0.01"}});
  // 20 batches of 3 records over 5 keys; values name their offset.
  std::int64_t offset = 0;
  for (int b = 0; b < 20; ++b) {
    std::vector<Rec> recs;
    for (int i = 0; i < 3; ++i, ++offset) {
      recs.push_back({str_of("k", offset % 5), str_of("v", offset), 1000 + offset});
    }
    REQUIRE(h.append(t, batch_of(recs)) == offset - 3);
  }
  CHECK(h.store->log_info(t, 0)->segments == 20);  // segment.bytes=1: a segment per batch
  const std::int64_t last_batch = 57;
  REQUIRE(h.clean());
  CHECK(h.store->log_info(t, 0)->cleaned_offset == last_batch);
  CHECK(!h.clean());  // nothing dirty left

  // Expected: below the last batch, the latest record per key among those
  // offsets; the last batch whole.
  std::map<std::string, std::int64_t> latest;
  for (std::int64_t o = 0; o < last_batch; ++o) latest[str_of("k", o % 5)] = o;
  auto check = [&] {
    auto got = h.read_all(t);
    std::vector<std::int64_t> offsets;
    for (const auto& g : got) {
      REQUIRE(g.value);
      CHECK(*g.value == str_of("v", g.offset));  // offsets preserved
      CHECK(g.ts == 1000 + g.offset);            // timestamps too
      offsets.push_back(g.offset);
    }
    std::vector<std::int64_t> expect;
    for (const auto& [k, o] : latest) expect.push_back(o);
    expect.push_back(57);
    expect.push_back(58);
    expect.push_back(59);
    std::sort(expect.begin(), expect.end());
    CHECK(offsets == expect);
    const PartitionState* ps = h.store->partition(t, 0);
    CHECK(ps->log_end_offset == 60);
    CHECK(ps->high_watermark == 60);
    CHECK(ps->log_start_offset == 0);
  };
  check();
  const std::int64_t size = h.store->log_info(t, 0)->size_bytes;
  CHECK(size == h.store->partition(t, 0)->size_bytes);
  CHECK(h.store->log_info(t, 0)->segments < 20);  // emptied segments were merged
  h.reopen();
  check();
  CHECK(h.store->log_info(t, 0)->size_bytes == size);
  CHECK(h.store->log_info(t, 0)->cleaned_offset == last_batch);
  // The log continues at its end.
  CHECK(h.append(t, batch_of({{"k0", "v60", 1060}})) == 60);
}

TEST_CASE("tombstones are kept by the first cleaning and dropped after delete.retention.ms") {
  Harness h;
  Uuid t = h.create("tomb", {{"cleanup.policy", "compact"},
                             {"segment.bytes", "1"},
                             {"delete.retention.ms", "0"},
                             {"min.cleanable.dirty.ratio", "0.01"}});
  h.append(t, batch_of({{"a", "1", 1}, {"b", "2", 2}}));  // 0-1
  h.append(t, batch_of({{"a", std::nullopt, 3}}));        // 2: delete a
  h.append(t, batch_of({{"c", "3", 4}}));                 // 3: the last batch
  REQUIRE(h.clean());
  auto got = h.read_all(t);
  REQUIRE(got.size() == 3);
  CHECK(got[0].offset == 1);  // a's value went, b stays
  CHECK(got[1].offset == 2);
  CHECK(!got[1].value);  // the tombstone stays, stamped with its horizon
  CHECK(got[1].batch.has_delete_horizon());
  CHECK(got[1].ts == 3);  // record timestamps survive the new base timestamp
  // The horizon (now + 0 ms) has passed at the next pass, which runs for it
  // alone (nothing is dirty).
  REQUIRE(h.clean());
  got = h.read_all(t);
  REQUIRE(got.size() == 2);
  CHECK(got[0].offset == 1);
  CHECK(got[1].offset == 3);
  CHECK(!h.clean());
}

TEST_CASE("compressed batches are rewritten with their codec, offsets kept") {
  Harness h;
  Uuid t = h.create("zstd", {{"cleanup.policy", "compact"},
                             {"segment.bytes", "1"},
                             {"min.cleanable.dirty.ratio", "0.01"}});
  for (int b = 0; b < 4; ++b) {
    std::vector<Rec> recs;
    for (int i = 0; i < 10; ++i) {
      const int o = b * 10 + i;
      recs.push_back({str_of("k", o % 7), str_of("v", o), o});
    }
    h.append(t, batch_of(recs, {b % 2 ? CompressionCodec::kZstd : CompressionCodec::kGzip}));
  }
  REQUIRE(h.clean());
  auto got = h.read_all(t);
  std::map<std::string, std::int64_t> latest;
  for (int o = 0; o < 30; ++o) latest[str_of("k", o % 7)] = o;
  std::size_t below = 0;
  for (const auto& g : got) {
    CHECK(*g.value == str_of("v", g.offset));
    if (g.offset < 30) {
      ++below;
      CHECK(latest[*g.key] == g.offset);
      CHECK(g.batch.compression() == (g.offset < 10 || (g.offset >= 20 && g.offset < 30)
                                          ? CompressionCodec::kGzip
                                          : CompressionCodec::kZstd));
    }
  }
  CHECK(below == latest.size());
}

TEST_CASE("aborted transactions go, markers stay until no data is left and the horizon passed") {
  Harness h;
  Uuid t = h.create("txn", {{"cleanup.policy", "compact"},
                            {"segment.bytes", "1"},
                            {"delete.retention.ms", "0"},
                            {"min.cleanable.dirty.ratio", "0.01"}});
  const BatchSpec p1{CompressionCodec::kNone, true, 101};
  const BatchSpec p2{CompressionCodec::kNone, true, 202};
  h.append(t, batch_of({{"x", "committed-before", 1}}));                  // 0
  h.append(t, batch_of({{"x", "aborted", 2}, {"y", "aborted", 2}}, p1));  // 1-2, aborted
  h.append(t, batch_of({{"z", "committed", 3}}, p2));                     // 3, committed
  h.append(t, marker(101, ControlRecordType::kAbort));                    // 4
  h.append(t, marker(202, ControlRecordType::kCommit));                   // 5
  h.append(t, batch_of({{"w", "last", 6}}));                              // 6: last batch

  REQUIRE(h.clean());
  auto got = h.read_all(t);
  std::vector<std::int64_t> offsets;
  for (const auto& g : got) offsets.push_back(g.offset);
  // x keeps its committed value (the aborted update does not shadow it),
  // the aborted records go, both markers stay (their data was seen in this
  // pass) with a horizon.
  CHECK(offsets == std::vector<std::int64_t>{0, 3, 4, 5, 6});
  for (const auto& g : got) {
    if (g.batch.is_control()) CHECK(g.batch.has_delete_horizon());
  }
  REQUIRE(h.clean());  // the horizons passed
  offsets.clear();
  for (const auto& g : h.read_all(t)) offsets.push_back(g.offset);
  // The ABORT marker's data is gone: it goes. The COMMIT marker's data (z)
  // is still there: it stays.
  CHECK(offsets == std::vector<std::int64_t>{0, 3, 5, 6});
  CHECK(h.store->partition(t, 0)->log_end_offset == 7);
}

TEST_CASE("an open transaction bounds the cleanable range") {
  Harness h;
  Uuid t = h.create("open", {{"cleanup.policy", "compact"},
                             {"segment.bytes", "1"},
                             {"min.cleanable.dirty.ratio", "0.01"}});
  h.append(t, batch_of({{"a", "1", 1}}));                                         // 0
  h.append(t, batch_of({{"a", "2", 2}}));                                         // 1
  h.append(t, batch_of({{"b", "open", 3}}, {CompressionCodec::kNone, true, 7}));  // 2: no marker
  h.append(t, batch_of({{"a", "3", 4}}));                                         // 3
  h.append(t, batch_of({{"a", "4", 5}}));                                         // 4
  h.append(t, batch_of({{"c", "last", 6}}));                                      // 5
  REQUIRE(h.clean());
  std::vector<std::int64_t> offsets;
  for (const auto& g : h.read_all(t)) offsets.push_back(g.offset);
  // Only [0, 2) was cleanable: a@0 went (a@1 is later), the rest stays.
  CHECK(offsets == std::vector<std::int64_t>{1, 2, 3, 4, 5});
  CHECK(h.store->log_info(t, 0)->cleaned_offset == 2);
}

TEST_CASE("a small offset map cleans a large dirty section in several passes") {
  Harness h;
  MaintenanceOptions m;
  m.cleaner_dedupe_buffer_bytes = 24 * 64;  // 48 keys per pass
  h.maintenance = m;
  h.store->set_maintenance(m);
  Uuid t = h.create("small", {{"cleanup.policy", "compact"},
                              {"segment.bytes", "1"},
                              {"min.cleanable.dirty.ratio", "0.01"}});
  std::int64_t o = 0;
  for (int round = 0; round < 3; ++round) {
    for (int b = 0; b < 20; ++b) {
      std::vector<Rec> recs;
      for (int i = 0; i < 10; ++i, ++o) {
        recs.push_back({str_of("k", (b * 10 + i) % 200), str_of("v", o), o});
      }
      h.append(t, batch_of(recs));
    }
  }
  h.append(t, batch_of({{"last", str_of("v", o), o}}));
  int passes = 0;
  while (h.clean()) ++passes;
  CHECK(passes > 1);
  auto got = h.read_all(t);
  // 200 keys, each once (the last round), plus the last batch.
  std::set<std::string> keys;
  for (const auto& g : got) {
    CHECK(keys.insert(*g.key).second);
    CHECK(*g.value == str_of("v", g.offset));
  }
  CHECK(keys.size() == 201);
}

TEST_CASE("retention by size and by time deletes whole segments and moves the log start") {
  Harness h;
  Uuid t = h.create("ret", {{"cleanup.policy", "delete"},
                            {"segment.bytes", "1"},
                            {"retention.bytes", "-1"},
                            {"retention.ms", "3600000"}});
  const std::int64_t now = now_ms();
  std::int64_t batch_size = 0;
  for (int i = 0; i < 10; ++i) {
    // Five old batches (a day ago), then five new ones.
    auto b = batch_of({{"k", "value-" + std::to_string(i), i < 5 ? now - 86400000 : now - 10}});
    batch_size = static_cast<std::int64_t>(b.size());
    h.append(t, std::move(b));
  }
  CHECK(h.store->partition(t, 0)->size_bytes == 10 * batch_size);
  h.store->check_retention_now();
  h.run_until([&] { return h.store->stats().retention_deletions == 1; });
  CHECK(h.store->partition(t, 0)->log_start_offset == 5);
  CHECK(h.store->partition(t, 0)->size_bytes == 5 * batch_size);
  CHECK(h.read_all(t).front().offset == 5);

  // Size: keep at least 2.5 batches' worth.
  REQUIRE(h.wait_done([&](Store::Done d) {
    h.store->set_topic_configs(t,
                               {{"cleanup.policy", "delete"},
                                {"segment.bytes", "1"},
                                {"retention.bytes", std::to_string(batch_size * 5 / 2)}},
                               std::move(d));
  }) == "");
  h.store->check_retention_now();
  h.run_until([&] { return h.store->stats().retention_deletions == 2; });
  CHECK(h.store->partition(t, 0)->log_start_offset == 7);
  CHECK(h.store->partition(t, 0)->size_bytes == 3 * batch_size);
  h.reopen();
  CHECK(h.store->partition(t, 0)->log_start_offset == 7);
  CHECK(h.store->partition(t, 0)->size_bytes == 3 * batch_size);
  CHECK(h.read_all(t).size() == 3);

  // Everything expired: the log start reaches the end, which stays.
  REQUIRE(h.wait_done([&](Store::Done d) {
    h.store->set_topic_configs(t, {{"retention.ms", "0"}}, std::move(d));
  }) == "");
  h.store->check_retention_now();
  h.run_until([&] { return h.store->stats().retention_deletions == 1; });  // counts since reopen
  CHECK(h.store->partition(t, 0)->log_start_offset == 10);
  CHECK(h.store->partition(t, 0)->size_bytes == 0);
  h.reopen();
  CHECK(h.store->partition(t, 0)->log_start_offset == 10);
  CHECK(h.store->partition(t, 0)->log_end_offset == 10);
  CHECK(h.append(t, batch_of({{"k", "again", now}})) == 10);
}

TEST_CASE("DeleteRecords below a compacted range: nothing below the log start comes back") {
  Harness h;
  Uuid t = h.create("mixed", {{"cleanup.policy", "compact,delete"},
                              {"segment.bytes", "1"},
                              {"min.cleanable.dirty.ratio", "0.01"},
                              {"retention.ms", "-1"}});
  for (int i = 0; i < 10; ++i) h.append(t, batch_of({{str_of("k", i % 3), str_of("v", i), i}}));
  REQUIRE(h.wait_done(
              [&](Store::Done d) { h.store->set_log_start_offset(t, 0, 4, std::move(d)); }) == "");
  REQUIRE(h.clean());
  auto got = h.read_all(t);
  for (const auto& g : got) CHECK(g.offset >= 4);
  h.reopen();
  for (const auto& g : h.read_all(t)) CHECK(g.offset >= 4);
  CHECK(h.store->partition(t, 0)->log_start_offset == 4);
}

TEST_CASE("a cleaner pass in flight writes nothing back at or above a truncation") {
  Harness h;
  Uuid t = h.create("follower", {{"cleanup.policy", "compact"},
                                 {"segment.bytes", "1"},
                                 {"min.cleanable.dirty.ratio", "0.01"}});
  // 6000 batches of 3 records, a segment each: two keys of their own and
  // one shared by all, so the pass rewrites every batch but the last, in
  // two chunks (4096 changes each at most): the truncation cuts inside
  // the second.
  std::int64_t offset = 0;
  for (int call = 0; call < 60; ++call) {
    std::vector<std::vector<std::uint8_t>> batches;
    for (int b = 0; b < 100; ++b) {
      std::vector<Rec> recs;
      for (int i = 0; i < 3; ++i, ++offset) {
        recs.push_back(
            {i < 2 ? str_of("k", offset) : "shared", str_of("v", offset), 1000 + offset});
      }
      batches.push_back(batch_of(recs));
    }
    std::optional<AppendResult> r;
    h.store->append(t, 0, std::move(batches), [&](AppendResult x) { r = x; });
    h.run_until([&] { return r.has_value(); });
    REQUIRE(r->error == "");
  }
  const auto before = h.store->stats();
  const std::int64_t size = h.store->partition(t, 0)->size_bytes;
  h.store->run_cleaner_now();
  REQUIRE(h.store->log_info(t, 0)->cleaning);
  // Once the first chunk is queued (the segments shrank), the pass reads
  // on for the second one while the truncation is written.
  h.run_until([&] { return h.store->partition(t, 0)->size_bytes < size; });
  std::optional<std::string> truncated;
  h.store->truncate_to(t, 0, 15001, [&](std::string e) { truncated = e; });
  h.run_until([&] {
    return truncated.has_value() && h.store->stats().cleaner_passes > before.cleaner_passes;
  });
  CHECK(*truncated == "");
  auto check = [&] {
    const PartitionState* ps = h.store->partition(t, 0);
    CHECK(ps->log_end_offset == 15000);  // [15000, 15003) straddled 15001
    CHECK(ps->high_watermark == 15000);
    CHECK(h.store->log_info(t, 0)->cleaned_offset <= 15000);
    for (const auto& g : h.read_all(t)) {
      REQUIRE(g.offset < 15000);
      REQUIRE(g.value);
      REQUIRE(*g.value == str_of("v", g.offset));
    }
  };
  check();
  // A restart finds the log end from the batches: none came back above.
  h.reopen();
  check();
  CHECK(h.append(t, batch_of({{"k0", "new", 2000}})) == 15000);
}
