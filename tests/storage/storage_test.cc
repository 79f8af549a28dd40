// Tests of the RocksDB partition store (storage/store.h) through its public
// API only, on a real libuv loop and a real database in a temp dir.
//
// The crash test re-executes this binary (fork + exec) as a child that
// appends and dies without stop(): a plain fork() would inherit RocksDB's
// and libuv's thread pools half-alive, so the child starts fresh instead.
// The child is recognised by an environment variable, before doctest runs.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "protocol/records/record_batch.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/records/record_iterator.h"
#include "storage/keys.h"
#include "storage/store.h"

// Only the damage test below touches RocksDB directly, to break a store the
// way a bad disk or a bug would.
#include <rocksdb/db.h>

namespace fs = std::filesystem;
using kgw::AppendResult;
using kgw::Bytes;
using kgw::CompressionCodec;
using kgw::ReadResult;
using kgw::Store;
using kgw::StoreOptions;
using kgw::TopicInfo;
using kgw::Uuid;

namespace {

constexpr const char* kChildDirEnv = "KGW_STORAGE_TEST_CRASH_DIR";
constexpr const char* kChildFdEnv = "KGW_STORAGE_TEST_CRASH_FD";

struct Rec {
  std::int64_t ts;
  std::string value;
};

// No doctest asserts here: the crash child builds batches before doctest
// runs. The builder fails only on absurd sizes, a bug in the test.
std::vector<std::uint8_t> make_batch(const std::vector<Rec>& records,
                                     CompressionCodec codec = CompressionCodec::kNone) {
  kgw::RecordBatchOptions o;
  o.codec = codec;
  kgw::RecordBatchBuilder b(o);
  for (const auto& r : records) {
    if (b.add(r.ts, std::nullopt, Bytes(std::string_view(r.value))) != kgw::RecordError::kNone) {
      std::abort();
    }
  }
  std::vector<std::uint8_t> out;
  if (b.build(out) != kgw::RecordError::kNone) std::abort();
  return out;
}

// "p<partition>@<offset>", by appending: GCC 12 at -O3 reports a false
// -Wrestrict on operator+(const char*, std::string&&) (GCC bug 105329).
std::string tag_of(std::int32_t partition, std::int64_t offset) {
  std::string s = "p";
  s += std::to_string(partition);
  s += '@';
  s += std::to_string(offset);
  return s;
}

// A batch of `n` records whose values say where they should land, so a
// reader can check every record's offset.
std::vector<std::uint8_t> tagged_batch(std::int32_t partition, std::int64_t first_offset, int n,
                                       std::int64_t ts = 1000) {
  std::vector<Rec> recs;
  for (int i = 0; i < n; ++i) {
    recs.push_back({ts + i, tag_of(partition, first_offset + i) + std::string(20, 'x')});
  }
  return make_batch(recs);
}

// A batch as a leader would send it to a follower: `n` records at `base`
// (tagged with their offsets) in the leader's `epoch`, timestamps from `ts`.
std::vector<std::uint8_t> leader_batch(std::int64_t base, int n, std::int32_t epoch,
                                       std::int64_t ts) {
  std::vector<std::uint8_t> b = tagged_batch(0, base, n, ts);
  if (kgw::set_base_offset(b, base) != kgw::RecordError::kNone ||
      kgw::set_partition_leader_epoch(b, epoch) != kgw::RecordError::kNone) {
    std::abort();
  }
  return b;
}

struct ParsedRecord {
  std::int64_t offset;
  std::int64_t ts;
  std::string value;
};

struct ParsedBatch {
  kgw::RecordBatchHeader header;
  std::vector<ParsedRecord> records;
};

// Splits read() output into batches, checking each fully (CRC included:
// the store rewrote only the base offset, which the CRC does not cover).
std::vector<ParsedBatch> parse(const std::vector<std::uint8_t>& data) {
  std::vector<Bytes> views;
  REQUIRE(kgw::split_record_batches(Bytes(data), views) == kgw::RecordError::kNone);
  std::vector<ParsedBatch> out;
  for (Bytes v : views) {
    ParsedBatch pb;
    REQUIRE(kgw::validate_record_batch(v, pb.header) == kgw::RecordError::kNone);
    std::vector<std::uint8_t> scratch;
    Bytes records;
    REQUIRE(kgw::batch_records(v, pb.header, scratch, records, 1 << 24) == kgw::RecordError::kNone);
    kgw::RecordIterator it(records, pb.header.record_count);
    kgw::Record r;
    while (it.next(r)) {
      pb.records.push_back({pb.header.base_offset + r.offset_delta,
                            pb.header.base_timestamp + r.timestamp_delta,
                            std::string(r.value->as_string())});
    }
    REQUIRE(it.error() == kgw::RecordError::kNone);
    out.push_back(std::move(pb));
  }
  return out;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kgw-storage-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A loop plus a store on it, with synchronous helpers that run the loop
// until a completion arrives.
class Harness {
 public:
  explicit Harness(std::string dir) : dir_(std::move(dir)) {
    REQUIRE(uv_loop_init(&loop_) == 0);
    // Wakes UV_RUN_ONCE now and then so run_until() can give up instead
    // of hanging a broken test; unref'd so it never keeps the loop alive.
    REQUIRE(uv_timer_init(&loop_, &tick_) == 0);
    REQUIRE(uv_timer_start(
                &tick_, [](uv_timer_t*) {}, 50, 50) == 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&tick_));
  }
  ~Harness() {
    if (store) close();
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop_) == 0);
  }

  uv_loop_t* loop() { return &loop_; }

  void open(StoreOptions o = {}) {
    o.data_dir = dir_;
    std::string error;
    store = Store::open(&loop_, o, error);
    INFO(error);
    REQUIRE(store != nullptr);
  }
  void close() {
    CHECK(store->stop() == "");
    store.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // lets the async handle close
  }
  void reopen(StoreOptions o = {}) {
    close();
    open(o);
  }

  void run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      uv_run(&loop_, UV_RUN_ONCE);
    }
  }

  Uuid create(const std::string& name, std::int32_t partitions,
              std::map<std::string, std::string> configs = {}) {
    TopicInfo info;
    info.name = name;
    info.partitions = partitions;
    info.configs = std::move(configs);
    std::optional<std::string> result;
    store->create_topic(info, [&](std::string e) { result = e; });
    REQUIRE(store->find_topic(name) != nullptr);  // visible before the write
    run_until([&] { return result.has_value(); });
    REQUIRE(*result == "");
    return store->find_topic(name)->id;
  }

  std::string wait_done(const std::function<void(Store::Done)>& call) {
    std::optional<std::string> result;
    call([&](std::string e) { result = e; });
    run_until([&] { return result.has_value(); });
    return *result;
  }

  AppendResult append(const Uuid& t, std::int32_t p, std::vector<std::vector<std::uint8_t>> b) {
    std::optional<AppendResult> result;
    store->append(t, p, std::move(b), [&](AppendResult r) { result = r; });
    run_until([&] { return result.has_value(); });
    return *result;
  }

  ReadResult read(const Uuid& t, std::int32_t p, std::int64_t offset, std::int32_t max_bytes) {
    std::optional<ReadResult> result;
    store->read(t, p, offset, max_bytes, [&](ReadResult r) { result = std::move(r); });
    run_until([&] { return result.has_value(); });
    return std::move(*result);
  }

  struct TsResult {
    std::int64_t offset;
    std::int64_t ts;
    std::string error;
  };
  TsResult offset_for(const Uuid& t, std::int32_t p, std::int64_t ts) {
    std::optional<TsResult> result;
    store->offset_for_timestamp(t, p, ts, [&](std::int64_t o, std::int64_t found, std::string e) {
      result = TsResult{o, found, e};
    });
    run_until([&] { return result.has_value(); });
    return *result;
  }

  std::unique_ptr<Store> store;

 private:
  std::string dir_;
  uv_loop_t loop_;
  uv_timer_t tick_;
};

// Reads the whole partition from 0 and checks that every record sits at
// the offset its value names, with no gap, up to the high watermark.
void check_partition_contents(Harness& h, const Uuid& t, std::int32_t p, std::int64_t end) {
  std::int64_t next = 0;
  while (next < end) {
    ReadResult r = h.read(t, p, next, 1 << 20);
    REQUIRE(r.error == "");
    REQUIRE(!r.data.empty());
    for (const auto& b : parse(r.data)) {
      REQUIRE(b.header.base_offset == next);
      for (const auto& rec : b.records) {
        std::string expect = tag_of(p, rec.offset);
        REQUIRE(rec.value.substr(0, expect.size()) == expect);
        REQUIRE(rec.offset == next);
        ++next;
      }
    }
  }
  CHECK(next == end);
}

// --- Crash child: runs instead of the tests when the env var is set.

// The crash child's store on a new loop; nullptr (and the error told to
// the parent through `fd`) if it does not open.
std::unique_ptr<Store> open_child_store(uv_loop_t& loop, const char* dir, int fd) {
  if (uv_loop_init(&loop) != 0) return nullptr;
  StoreOptions o;
  o.data_dir = dir;
  std::string error;
  std::unique_ptr<Store> store = Store::open(&loop, o, error);
  if (!store) dprintf(fd, "error %s\n", error.c_str());
  return store;
}

int crash_child(const char* dir, int fd) {
  uv_loop_t loop;
  std::unique_ptr<Store> store = open_child_store(loop, dir, fd);
  if (!store) return 3;
  bool created = false;
  TopicInfo info;
  info.name = "crash";
  info.partitions = 3;
  store->create_topic(info, [&](std::string e) { created = e.empty(); });
  Uuid id = store->find_topic("crash")->id;
  // Acknowledged appends: several requests per loop turn, as a broker
  // under load would issue them.
  int pending = 0;
  bool failed = false;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 10; ++i) {
      std::int32_t p = i % 3;
      std::int64_t first = store->partition(id, p)->log_end_offset;
      std::vector<std::vector<std::uint8_t>> batches;
      batches.push_back(tagged_batch(p, first, 1 + i % 4));
      ++pending;
      store->append(id, p, std::move(batches), [&](AppendResult r) {
        --pending;
        if (!r.error.empty()) failed = true;
      });
    }
    while (pending > 0) uv_run(&loop, UV_RUN_ONCE);
  }
  if (!created || failed) return 4;
  for (std::int32_t p = 0; p < 3; ++p) {
    dprintf(fd, "%d %lld\n", p, static_cast<long long>(store->partition(id, p)->high_watermark));
  }
  // Unacknowledged appends still queued or being written when the process
  // dies: they may or may not survive, but never partly.
  for (int i = 0; i < 200; ++i) {
    std::int32_t p = i % 3;
    std::int64_t first = store->partition(id, p)->log_end_offset;
    std::vector<std::vector<std::uint8_t>> batches;
    batches.push_back(tagged_batch(p, first, 3));
    store->append(id, p, std::move(batches), [](AppendResult) {});
  }
  return 0;  // _exit() by the caller: no stop(), no destructors
}

// A follower's log that grows and is truncated round after round; each
// acknowledged log end is reported. Then an append and a truncation are
// left in flight (after `turns` loop turns) when the process dies.
int truncate_child(const char* dir, int fd, int turns) {
  uv_loop_t loop;
  std::unique_ptr<Store> store = open_child_store(loop, dir, fd);
  if (!store) return 3;
  store->set_policy_resolver([](const TopicInfo&) {
    kgw::LogPolicy p;
    p.segment_bytes = 1000;  // several segments, so truncations cross them
    return p;
  });
  TopicInfo info;
  info.name = "trunc";
  info.partitions = 1;
  int pending = 1;
  bool failed = false;
  store->create_topic(info, [&](std::string e) {
    --pending;
    failed |= !e.empty();
  });
  const Uuid id = store->find_topic("trunc")->id;
  auto append3 = [&](std::int64_t base, std::int32_t epoch) {
    auto owned = std::make_shared<std::vector<std::vector<std::uint8_t>>>();
    for (int i = 0; i < 3; ++i)
      owned->push_back(leader_batch(base + 3 * i, 3, epoch, 1000 * epoch + i));
    std::vector<std::span<std::uint8_t>> views(owned->begin(), owned->end());
    ++pending;
    store->append_replica(id, 0, std::move(views), owned, [&](AppendResult r) {
      --pending;
      failed |= !r.error.empty();
    });
  };
  auto truncate = [&](std::int64_t offset) {
    ++pending;
    store->truncate_to(id, 0, offset, [&](std::string e) {
      --pending;
      failed |= !e.empty();
    });
  };
  std::int64_t end = 0;
  for (std::int32_t epoch = 1; epoch <= 30; ++epoch) {
    // [end, end+9) in three batches; the cut at end+7 takes the last.
    append3(end, epoch);
    truncate(end + 7);
    while (pending > 0) uv_run(&loop, UV_RUN_ONCE);
    if (failed) return 4;
    end += 6;
    dprintf(fd, "%lld\n", static_cast<long long>(end));
  }
  append3(end, 31);
  truncate(end + 4);
  for (int i = 0; i < turns; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  return 0;  // _exit() by the caller: no stop(), no destructors
}

constexpr const char* kChildTurnsEnv = "KGW_STORAGE_TEST_TRUNCATE_TURNS";

struct CrashChildHook {
  CrashChildHook() {
    const char* dir = std::getenv(kChildDirEnv);
    const char* fd = std::getenv(kChildFdEnv);
    const char* turns = std::getenv(kChildTurnsEnv);
    if (dir != nullptr && fd != nullptr && turns != nullptr) {
      _exit(truncate_child(dir, std::atoi(fd), std::atoi(turns)));
    }
    if (dir != nullptr && fd != nullptr) _exit(crash_child(dir, std::atoi(fd)));
  }
} crash_child_hook;

}  // namespace

TEST_CASE("appends from several requests get contiguous offsets in few group commits") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  Uuid t = h.create("orders", 5);  // 0-3 for requests, 4 for one big batch
  CHECK(!t.is_zero());
  CHECK((t.bytes[6] >> 4) == 4);  // random v4 id

  std::map<std::int32_t, int> notified;
  h.store->set_append_listener([&](const Uuid& topic, std::int32_t p) {
    CHECK(topic == t);
    ++notified[p];
  });

  // Batches are built first so that the appends below are issued as fast
  // as a broker would issue them from one read of many requests.
  constexpr int kRequests = 50;
  std::map<std::int32_t, std::int64_t> expected_end;
  std::map<std::int32_t, std::vector<std::int64_t>> expected_bases;
  std::vector<std::vector<std::vector<std::uint8_t>>> requests;
  for (int r = 0; r < kRequests; ++r) {
    for (std::int32_t p = 0; p < 4; ++p) {
      std::int64_t first = expected_end[p];
      int n1 = 1 + r % 3;
      int n2 = 2;
      requests.emplace_back();
      requests.back().push_back(tagged_batch(p, first, n1));
      requests.back().push_back(tagged_batch(p, first + n1, n2));
      expected_bases[p].push_back(first);
      expected_end[p] = first + n1 + n2;
    }
  }
  // A big first append keeps the writer busy for a while, so the test
  // does not depend on how fast this thread queues the rest (under ASan
  // an idle writer keeps up with a slow producer and groups are small,
  // which is group commit working as intended, but not what we measure).
  std::vector<std::vector<std::uint8_t>> big;
  big.push_back(make_batch({{1, "p4@0" + std::string(8 << 20, 'b')}}));
  const auto before = h.store->stats();

  std::map<std::int32_t, std::vector<std::int64_t>> got_bases;
  int done = 0;
  bool big_done = false;
  h.store->append(t, 4, std::move(big), [&](AppendResult res) {
    CHECK(res.error == "");
    CHECK(res.base_offset == 0);
    big_done = true;
  });
  for (int r = 0; r < kRequests; ++r) {
    for (std::int32_t p = 0; p < 4; ++p) {
      auto& batches = requests[static_cast<std::size_t>(r * 4 + p)];
      h.store->append(t, p, std::move(batches), [&, p](AppendResult res) {
        CHECK(res.error == "");
        CHECK(res.log_start_offset == 0);
        got_bases[p].push_back(res.base_offset);
        // The watermark covers this append when its completion runs.
        CHECK(h.store->partition(t, p)->high_watermark >= res.base_offset);
        ++done;
      });
    }
  }
  for (std::int32_t p = 0; p < 4; ++p) {
    // Offsets are assigned at once; nothing is visible before its write.
    CHECK(h.store->partition(t, p)->log_end_offset == expected_end[p]);
    CHECK(h.store->partition(t, p)->high_watermark == 0);
  }
  h.run_until([&] { return big_done && done == kRequests * 4; });

  const auto after = h.store->stats();
  const auto writes = after.db_writes - before.db_writes;
  const auto ops = after.ops_written - before.ops_written;
  MESSAGE("group commit: " << ops << " appends in " << writes << " DB writes, largest group "
                           << after.largest_group);
  CHECK(ops == kRequests * 4 + 1);
  CHECK(writes * 10 <= ops);  // at least 10 appends per write on average
  CHECK(after.queued_bytes == 0);
  CHECK(!h.store->overloaded());

  for (std::int32_t p = 0; p < 4; ++p) {
    CHECK(got_bases[p] == expected_bases[p]);  // completions in offset order
    const auto* ps = h.store->partition(t, p);
    CHECK(ps->log_end_offset == expected_end[p]);
    CHECK(ps->high_watermark == expected_end[p]);
    CHECK(notified[p] >= 1);
    CHECK(notified[p] <= static_cast<int>(writes));  // once per partition per group
    check_partition_contents(h, t, p, expected_end[p]);
  }

  // Measured only: the same load without the big batch in front. How much
  // groups up then depends on the relative speed of this thread and the
  // writer.
  std::vector<std::vector<std::vector<std::uint8_t>>> more;
  for (int i = 0; i < kRequests * 4; ++i) {
    std::int32_t p = i % 4;
    more.emplace_back();
    more.back().push_back(tagged_batch(p, expected_end[p], 2));
    expected_end[p] += 2;
  }
  const auto before2 = h.store->stats();
  done = 0;
  for (int i = 0; i < kRequests * 4; ++i) {
    h.store->append(t, i % 4, std::move(more[static_cast<std::size_t>(i)]), [&](AppendResult res) {
      CHECK(res.error == "");
      ++done;
    });
  }
  h.run_until([&] { return done == kRequests * 4; });
  const auto after2 = h.store->stats();
  MESSAGE("group commit, writer idle at start: "
          << after2.ops_written - before2.ops_written << " appends in "
          << after2.db_writes - before2.db_writes << " DB writes");
  for (std::int32_t p = 0; p < 4; ++p) check_partition_contents(h, t, p, expected_end[p]);
}

TEST_CASE("read starts with the batch containing the offset and honours max_bytes") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  Uuid t = h.create("r", 1);
  std::vector<std::size_t> sizes;
  for (int i = 0; i < 10; ++i) {
    auto b = tagged_batch(0, i * 5, 5);
    sizes.push_back(b.size());
    std::vector<std::vector<std::uint8_t>> batches;
    batches.push_back(std::move(b));
    AppendResult res = h.append(t, 0, std::move(batches));
    REQUIRE(res.error == "");
    CHECK(res.base_offset == i * 5);
  }

  SUBCASE("from the middle of a batch") {
    ReadResult r = h.read(t, 0, 23, 1 << 20);
    CHECK(r.error == "");
    CHECK(r.high_watermark == 50);
    CHECK(r.log_start_offset == 0);
    auto batches = parse(r.data);
    REQUIRE(batches.size() == 6);
    CHECK(batches.front().header.base_offset == 20);
    CHECK(batches.back().header.base_offset == 45);
  }
  SUBCASE("max_bytes below one batch still returns that whole batch") {
    ReadResult r = h.read(t, 0, 23, 1);
    auto batches = parse(r.data);
    REQUIRE(batches.size() == 1);
    CHECK(batches[0].header.base_offset == 20);
    CHECK(r.data.size() == sizes[4]);
  }
  SUBCASE("max_bytes stops before a batch that would exceed it") {
    auto limit = static_cast<std::int32_t>(sizes[4] + sizes[5] + sizes[6] / 2);
    ReadResult r = h.read(t, 0, 20, limit);
    auto batches = parse(r.data);
    REQUIRE(batches.size() == 2);
    CHECK(batches[1].header.base_offset == 25);
  }
  SUBCASE("at or past the high watermark: nothing, no error") {
    ReadResult r = h.read(t, 0, 50, 1 << 20);
    CHECK(r.error == "");
    CHECK(r.data.empty());
    CHECK(r.high_watermark == 50);
  }
  SUBCASE("unknown partition") {
    ReadResult r = h.read(t, 7, 0, 100);
    CHECK(r.error != "");
  }
}

TEST_CASE("reads never return batches at or above the high watermark") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  Uuid t = h.create("hw", 1);
  std::vector<std::vector<std::uint8_t>> first;
  first.push_back(tagged_batch(0, 0, 4));
  REQUIRE(h.append(t, 0, std::move(first)).error == "");

  // Queue a second append and read in the same loop turn: it is not
  // written yet, so the read must stop at offset 4.
  bool appended = false;
  std::vector<std::vector<std::uint8_t>> second;
  second.push_back(tagged_batch(0, 4, 4));
  h.store->append(t, 0, std::move(second), [&](AppendResult r) {
    CHECK(r.error == "");
    appended = true;
  });
  CHECK(h.store->partition(t, 0)->log_end_offset == 8);
  CHECK(h.store->partition(t, 0)->high_watermark == 4);
  std::optional<ReadResult> early;
  h.store->read(t, 0, 0, 1 << 20, [&](ReadResult r) { early = std::move(r); });
  std::optional<ReadResult> at_hw;
  h.store->read(t, 0, 4, 1 << 20, [&](ReadResult r) { at_hw = std::move(r); });
  h.run_until([&] { return appended && early.has_value() && at_hw.has_value(); });
  CHECK(early->high_watermark == 4);
  auto batches = parse(early->data);
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].header.base_offset == 0);
  CHECK(at_hw->data.empty());

  ReadResult later = h.read(t, 0, 0, 1 << 20);
  CHECK(parse(later.data).size() == 2);
  CHECK(later.high_watermark == 8);
}

TEST_CASE("everything comes back after close and reopen") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  Uuid a = h.create("alpha", 2, {{"cleanup.policy", "compact"}, {"retention.ms", "1000"}});
  Uuid b = h.create("beta", 1);
  for (int i = 0; i < 5; ++i) {
    std::vector<std::vector<std::uint8_t>> batches;
    batches.push_back(tagged_batch(0, i * 3, 3, 5000 + i * 10));
    REQUIRE(h.append(a, 0, std::move(batches)).error == "");
  }
  std::vector<std::vector<std::uint8_t>> one;
  one.push_back(tagged_batch(1, 0, 2, 7000));
  REQUIRE(h.append(a, 1, std::move(one)).error == "");
  CHECK(h.wait_done([&](Store::Done d) { h.store->add_partitions(b, 3, std::move(d)); }) == "");
  std::vector<std::vector<std::uint8_t>> two;
  two.push_back(tagged_batch(2, 0, 6, 100));
  REQUIRE(h.append(b, 2, std::move(two)).error == "");
  CHECK(h.wait_done([&](Store::Done d) {
    h.store->set_topic_configs(b, {{"max.message.bytes", "2048"}}, std::move(d));
  }) == "");
  CHECK(h.wait_done([&](Store::Done d) { h.store->set_log_start_offset(a, 0, 7, std::move(d)); }) ==
        "");

  auto snapshot = [&] {
    std::ostringstream s;
    for (const TopicInfo* t : h.store->topics()) {
      s << t->name << " " << static_cast<int>(t->id.bytes[0]) << " " << t->partitions << " {";
      for (const auto& [k, v] : t->configs) s << k << "=" << v << ";";
      s << "}\n";
      for (std::int32_t p = 0; p < t->partitions; ++p) {
        const auto* ps = h.store->partition(t->id, p);
        s << "  " << p << " lso=" << ps->log_start_offset << " leo=" << ps->log_end_offset
          << " hw=" << ps->high_watermark << " maxts=" << ps->max_timestamp << "\n";
      }
    }
    return s.str();
  };
  std::string before = snapshot();
  h.reopen();
  std::string after = snapshot();
  CHECK(before == after);
  MESSAGE("state after reopen:\n" << after);

  REQUIRE(h.store->find_topic("alpha") != nullptr);
  CHECK(h.store->find_topic("alpha")->id == a);
  CHECK(h.store->find_topic(b)->name == "beta");
  CHECK(h.store->find_topic("alpha")->configs.at("cleanup.policy") == "compact");
  const auto* a0 = h.store->partition(a, 0);
  CHECK(a0->log_start_offset == 7);
  CHECK(a0->log_end_offset == 15);
  CHECK(a0->high_watermark == 15);
  CHECK(a0->max_timestamp == 5042);
  CHECK(h.store->partition(b, 2)->log_end_offset == 6);
  CHECK(h.store->partition(b, 1)->log_end_offset == 0);

  // The batch holding the log start stays; those wholly below it went.
  ReadResult r = h.read(a, 0, 0, 1 << 20);
  auto batches = parse(r.data);
  REQUIRE(!batches.empty());
  CHECK(batches[0].header.base_offset == 6);
  CHECK(r.log_start_offset == 7);

  // Appending after a reopen continues the offsets.
  std::vector<std::vector<std::uint8_t>> more;
  more.push_back(tagged_batch(0, 15, 1));
  CHECK(h.append(a, 0, std::move(more)).base_offset == 15);
}

// Runs this binary as a crash child on `dir` (with `extra_env` added) and
// returns what it reported, once it exited with 0.
std::string run_crash_child(const TempDir& dir, const std::string& extra_env = "") {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    std::string dir_env = std::string(kChildDirEnv) + "=" + dir.path();
    std::string fd_env = std::string(kChildFdEnv) + "=" + std::to_string(fds[1]);
    std::string extra = extra_env;
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
    envp.push_back(dir_env.data());
    envp.push_back(fd_env.data());
    if (!extra.empty()) envp.push_back(extra.data());
    envp.push_back(nullptr);
    char arg0[] = "storage_test_crash_child";
    char* argv[] = {arg0, nullptr};
    execve("/proc/self/exe", argv, envp.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  INFO("child output: " << out);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return out;
}

TEST_CASE("acknowledged appends survive the process dying without stop()") {
  TempDir dir;
  const std::string out = run_crash_child(dir);

  std::map<std::int32_t, std::int64_t> acked;
  std::istringstream lines(out);
  for (int p; lines >> p;) lines >> acked[p];
  REQUIRE(acked.size() == 3);

  Harness h(dir.path());
  h.open();
  const TopicInfo* t = h.store->find_topic("crash");
  REQUIRE(t != nullptr);
  for (std::int32_t p = 0; p < 3; ++p) {
    const auto* ps = h.store->partition(t->id, p);
    MESSAGE("partition " << p << ": acknowledged up to " << acked[p] << ", recovered up to "
                         << ps->log_end_offset);
    CHECK(acked[p] > 0);
    CHECK(ps->log_end_offset >= acked[p]);
    CHECK(ps->high_watermark == ps->log_end_offset);
    // Unacknowledged appends came back whole or not at all.
    check_partition_contents(h, t->id, p, ps->log_end_offset);
  }
}

TEST_CASE("a deleted topic can be recreated with the same name: new id, empty log") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  Uuid old_id = h.create("again", 2);
  // Appends queued right before the delete are written, then deleted.
  std::vector<std::vector<std::uint8_t>> batches;
  batches.push_back(tagged_batch(0, 0, 5));
  REQUIRE(h.append(old_id, 0, std::move(batches)).error == "");
  int late = 0;
  std::vector<std::vector<std::uint8_t>> queued;
  queued.push_back(tagged_batch(1, 0, 5));
  h.store->append(old_id, 1, std::move(queued), [&](AppendResult) { ++late; });
  std::optional<std::string> deleted;
  h.store->delete_topic(old_id, [&](std::string e) { deleted = e; });
  CHECK(h.store->find_topic("again") == nullptr);
  CHECK(h.store->partition(old_id, 0) == nullptr);
  h.run_until([&] { return deleted.has_value() && late == 1; });
  CHECK(*deleted == "");

  Uuid new_id = h.create("again", 2);
  CHECK(new_id != old_id);
  CHECK(h.store->partition(new_id, 0)->log_end_offset == 0);
  CHECK(h.read(new_id, 0, 0, 1000).data.empty());
  CHECK(h.read(old_id, 0, 0, 1000).error != "");

  h.reopen();
  REQUIRE(h.store->topics().size() == 1);
  CHECK(h.store->find_topic("again")->id == new_id);
  CHECK(h.store->partition(new_id, 0)->log_end_offset == 0);
  CHECK(h.store->partition(new_id, 1)->log_end_offset == 0);
  CHECK(h.store->partition(new_id, 0)->max_timestamp == kgw::kNoTimestamp);
}

TEST_CASE("offset_for_timestamp finds the first record at or after a time") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  Uuid t = h.create("times", 1);
  auto add = [&](std::vector<std::uint8_t> b) {
    std::vector<std::vector<std::uint8_t>> v;
    v.push_back(std::move(b));
    REQUIRE(h.append(t, 0, std::move(v)).error == "");
  };
  add(make_batch({{100, "a"}, {300, "b"}, {200, "c"}}));               // 0-2, max 300
  add(make_batch({{150, "d"}, {250, "e"}}));                           // 3-4, max 250
  add(make_batch({{400, "f"}, {350, "g"}}));                           // 5-6, max 400
  add(make_batch({{500, "h"}, {600, "i"}}, CompressionCodec::kZstd));  // 7-8, max 600
  add(make_batch({{700, "j"}}, CompressionCodec::kGzip));              // 9
  CHECK(h.store->partition(t, 0)->max_timestamp == 700);

  auto expect = [&](std::int64_t target, std::int64_t offset, std::int64_t ts) {
    auto r = h.offset_for(t, 0, target);
    INFO("target " << target);
    CHECK(r.error == "");
    CHECK(r.offset == offset);
    if (offset >= 0) CHECK(r.ts == ts);
  };
  expect(0, 0, 100);
  expect(250, 1, 300);  // by offset first: 300 at 1 comes before 250 at 4
  expect(301, 5, 400);
  expect(450, 7, 500);  // inside a zstd batch
  expect(550, 8, 600);
  expect(700, 9, 700);  // gzip
  expect(701, -1, 0);

  // After DeleteRecords the search starts at the log start, even when the
  // index points at a deleted batch.
  CHECK(h.wait_done([&](Store::Done d) { h.store->set_log_start_offset(t, 0, 4, std::move(d)); }) ==
        "");
  expect(0, 4, 250);
  expect(250, 4, 250);
  expect(260, 5, 400);
  CHECK(parse(h.read(t, 0, 0, 1 << 20).data).front().header.base_offset == 3);

  CHECK(h.wait_done([&](Store::Done d) { h.store->set_log_start_offset(t, 0, 8, std::move(d)); }) ==
        "");
  expect(0, 8, 600);
  expect(250, 8, 600);
  h.reopen();
  expect(0, 8, 600);
  expect(650, 9, 700);
  CHECK(h.store->partition(t, 0)->log_start_offset == 8);
  CHECK(h.store->partition(t, 0)->max_timestamp == 700);

  // Lowering the log start is a no-op; above the high watermark an error.
  CHECK(h.wait_done([&](Store::Done d) { h.store->set_log_start_offset(t, 0, 2, std::move(d)); }) ==
        "");
  CHECK(h.store->partition(t, 0)->log_start_offset == 8);
  CHECK(h.wait_done(
            [&](Store::Done d) { h.store->set_log_start_offset(t, 0, 11, std::move(d)); }) != "");
  // Up to the high watermark: everything goes, the offsets stay.
  CHECK(h.wait_done(
            [&](Store::Done d) { h.store->set_log_start_offset(t, 0, 10, std::move(d)); }) == "");
  h.reopen();
  CHECK(h.store->partition(t, 0)->log_start_offset == 10);
  CHECK(h.store->partition(t, 0)->log_end_offset == 10);
  CHECK(h.read(t, 0, 10, 100).data.empty());
  expect(0, -1, 0);
}

TEST_CASE("a bad data dir is one clear error, never a crash") {
  TempDir dir;
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  auto open_error = [&](const std::string& path) {
    StoreOptions o;
    o.data_dir = path;
    std::string error;
    auto store = Store::open(&loop, o, error);
    CHECK(store == nullptr);
    CHECK(error.find('\n') == std::string::npos);
    CHECK(error.find("data dir " + path) == 0);
    return error;
  };

  SUBCASE("a file where the directory should be") {
    std::ofstream(dir.sub("file")) << "not a dir";
    CHECK(open_error(dir.sub("file")).find("not a directory") != std::string::npos);
  }
  SUBCASE("a garbage CURRENT file") {
    {
      Harness h(dir.sub("db"));
      h.open();
      h.create("x", 1);
    }
    std::ofstream(dir.sub("db/CURRENT"), std::ios::trunc) << "garbage\n";
    std::string e = open_error(dir.sub("db"));
    MESSAGE(e);
  }
  SUBCASE("RocksDB files without CURRENT") {
    {
      Harness h(dir.sub("db"));
      h.open();
      h.create("x", 1);
    }
    fs::remove(dir.sub("db/CURRENT"));
    CHECK(open_error(dir.sub("db")).find("no CURRENT") != std::string::npos);
  }
  SUBCASE("a new data dir may hold other .log files (a node's kgw.log)") {
    fs::create_directories(dir.sub("fresh"));
    std::ofstream(dir.sub("fresh/kgw.log")) << "kgw: listening\n";
    std::ofstream(dir.sub("fresh/etcd.log")) << "etcd\n";
    std::ofstream(dir.sub("fresh/000012.log")) << "";  // but a RocksDB WAL is one
    CHECK(open_error(dir.sub("fresh")).find("no CURRENT") != std::string::npos);
    fs::remove(dir.sub("fresh/000012.log"));
    Harness h(dir.sub("fresh"));
    h.open();
    h.create("x", 1);
  }
  SUBCASE("a store already open") {
    Harness h(dir.sub("db"));
    h.open();
    std::string e = open_error(dir.sub("db"));
    MESSAGE(e);
    CHECK(e.find("another kgw") != std::string::npos);
  }
  SUBCASE("an unreadable directory") {
    if (geteuid() != 0) {  // root reads anything
      fs::create_directory(dir.sub("locked"));
      fs::permissions(dir.sub("locked"), fs::perms::none);
      MESSAGE(open_error(dir.sub("locked")));
      fs::permissions(dir.sub("locked"), fs::perms::owner_all);
    }
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

// Opens the store's database directly, runs `fn` on a column family by
// name, and closes it again.
void with_raw_db(const std::string& dir, const std::string& cf,
                 const std::function<void(rocksdb::DB&, rocksdb::ColumnFamilyHandle*)>& fn) {
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(), dir, descriptors, &handles, &db).ok());
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == cf) fn(*db, handles[i]);
  }
  for (auto* h : handles) CHECK(db->DestroyColumnFamilyHandle(h).ok());
  CHECK(db->Close().ok());
  delete db;
}

TEST_CASE("damage inside the store is an error at open, not silently skipped") {
  TempDir dir;
  Uuid id;
  {
    Harness h(dir.path());
    h.open();
    id = h.create("d", 1);
    std::vector<std::vector<std::uint8_t>> b;
    b.push_back(tagged_batch(0, 0, 3));
    REQUIRE(h.append(id, 0, std::move(b)).error == "");
  }
  auto open_error = [&] {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    StoreOptions o;
    o.data_dir = dir.path();
    std::string error;
    auto store = Store::open(&loop, o, error);
    CHECK(store == nullptr);
    store.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    MESSAGE(error);
    CHECK(error.find("damaged") != std::string::npos);
    return error;
  };

  SUBCASE("a truncated last batch") {
    with_raw_db(dir.path(), "log", [&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
      CHECK(db.Put(rocksdb::WriteOptions(), cf, kgw::keys::log_key(id, 0, 3), "short").ok());
    });
    CHECK(open_error().find("partition 0") != std::string::npos);
  }
  SUBCASE("a topic record that is not JSON") {
    with_raw_db(dir.path(), "meta", [&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
      CHECK(db.Put(rocksdb::WriteOptions(), cf, kgw::keys::meta_topic_key(id), "{oops").ok());
    });
    open_error();
  }
  SUBCASE("a store format from the future") {
    with_raw_db(dir.path(), "meta", [&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
      CHECK(db.Put(rocksdb::WriteOptions(), cf, kgw::keys::meta_format_key(), R"({"format": 99})")
                .ok());
    });
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    StoreOptions o;
    o.data_dir = dir.path();
    std::string error;
    CHECK(Store::open(&loop, o, error) == nullptr);
    CHECK(error.find("newer kgw") != std::string::npos);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
}

TEST_CASE("stop() writes what is queued and runs its completions") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  Uuid t = h.create("s", 1);
  int done = 0;
  for (int i = 0; i < 30; ++i) {
    std::vector<std::vector<std::uint8_t>> b;
    b.push_back(tagged_batch(0, i * 2, 2));
    h.store->append(t, 0, std::move(b), [&](AppendResult r) {
      CHECK(r.error == "");
      ++done;
    });
  }
  // A read queued on the pool: stop() waits for it, the result arrives
  // when the loop runs, after the store is gone.
  std::optional<ReadResult> read;
  h.store->read(t, 0, 0, 100, [&](ReadResult r) { read = std::move(r); });
  CHECK(h.store->stop() == "");
  CHECK(done == 30);

  // Calls after stop() fail at once.
  std::optional<std::string> late;
  h.store->create_topic(TopicInfo{"late", Uuid{}, 1, {}}, [&](std::string e) { late = e; });
  REQUIRE(late.has_value());
  CHECK(*late != "");
  h.store.reset();
  uv_run(h.loop(), UV_RUN_DEFAULT);

  h.open();
  CHECK(h.store->partition(t, 0)->log_end_offset == 60);
  check_partition_contents(h, t, 0, 60);
}

TEST_CASE("bad calls fail without changing anything") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  Uuid t = h.create("dup", 2);
  auto create = [&](TopicInfo info) {
    return h.wait_done([&](Store::Done d) { h.store->create_topic(info, std::move(d)); });
  };
  CHECK(create(TopicInfo{"dup", Uuid{}, 1, {}}) != "");
  CHECK(create(TopicInfo{"", Uuid{}, 1, {}}) != "");
  CHECK(create(TopicInfo{"zero", Uuid{}, 0, {}}) != "");
  CHECK(create(TopicInfo{"sameid", t, 1, {}}) != "");
  CHECK(create(TopicInfo{"badutf8", Uuid{}, 1, {{"k", "\xff\xfe"}}}) != "");
  CHECK(h.store->topics().size() == 1);
  CHECK(h.wait_done([&](Store::Done d) { h.store->add_partitions(t, 2, std::move(d)); }) != "");

  // A short batch fails the whole call; the good one before it is not
  // appended either.
  std::vector<std::vector<std::uint8_t>> batches;
  batches.push_back(tagged_batch(0, 0, 1));
  batches.push_back(std::vector<std::uint8_t>(30, 0));
  AppendResult r = h.append(t, 0, std::move(batches));
  CHECK(r.error != "");
  CHECK(h.store->partition(t, 0)->log_end_offset == 0);
  std::vector<std::vector<std::uint8_t>> none;
  CHECK(h.append(t, 9, std::move(none)).error != "");

  // An explicit id is kept.
  Uuid chosen;
  chosen.bytes[15] = 7;
  CHECK(create(TopicInfo{"chosen", chosen, 1, {}}) == "");
  CHECK(h.store->find_topic(chosen)->name == "chosen");
}

TEST_CASE("overloaded() reports a full write queue") {
  TempDir dir;
  Harness h(dir.path());
  StoreOptions o;
  o.max_queued_bytes = 1000;
  o.fsync = true;  // also exercises synced group commits
  h.open(o);
  Uuid t = h.create("big", 1);
  int done = 0;
  for (int i = 0; i < 20; ++i) {
    std::vector<std::vector<std::uint8_t>> b;
    b.push_back(tagged_batch(0, i * 10, 10));
    h.store->append(t, 0, std::move(b), [&](AppendResult r) {
      CHECK(r.error == "");
      ++done;
    });
  }
  CHECK(h.store->overloaded());
  h.run_until([&] { return done == 20; });
  CHECK(!h.store->overloaded());
  check_partition_contents(h, t, 0, 200);
}

TEST_CASE("the leader-epoch cache: stamped appends, end offsets, reopen, topic deletion") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  Uuid t = h.create("epochs", 2);
  auto append_n = [&](std::int32_t p, std::int64_t first, int n) {
    std::vector<std::vector<std::uint8_t>> b;
    b.push_back(tagged_batch(p, first, n));
    REQUIRE(h.append(t, p, std::move(b)).error == "");
  };
  // Before any epoch: batches keep theirs (the builder's -1), no entry.
  append_n(0, 0, 2);
  CHECK(h.store->leader_epochs(t, 0).empty());
  CHECK(h.store->end_offset_for_epoch(t, 0, 0).epoch == -1);
  CHECK(h.store->end_offset_for_epoch(t, 0, 0).end_offset == -1);

  // Epoch 3 from offset 2, epoch 5 from offset 6 (epochs 1, 2 and 4 led
  // elsewhere, or never appended).
  h.store->set_leader_epoch(t, 0, 3);
  append_n(0, 2, 4);
  h.store->set_leader_epoch(t, 0, 5);
  append_n(0, 6, 3);
  append_n(0, 9, 1);
  const std::map<std::int32_t, std::int64_t> want{{3, 2}, {5, 6}};
  CHECK(h.store->leader_epochs(t, 0) == want);
  // A stale epoch set again changes no entry, and the batch is stamped 2
  // but starts no epoch: an entry is only for a newer epoch.
  h.store->set_leader_epoch(t, 0, 2);
  append_n(0, 10, 1);
  CHECK(h.store->leader_epochs(t, 0) == want);
  h.store->set_leader_epoch(t, 0, 5);

  // The batches carry the epochs (partition_leader_epoch is outside the
  // CRC: parse() checks it).
  auto batches = parse(h.read(t, 0, 0, 1 << 20).data);
  REQUIRE(batches.size() == 5);
  CHECK(batches[0].header.partition_leader_epoch == -1);
  CHECK(batches[1].header.partition_leader_epoch == 3);
  CHECK(batches[2].header.partition_leader_epoch == 5);
  CHECK(batches[3].header.partition_leader_epoch == 5);
  CHECK(batches[4].header.partition_leader_epoch == 2);

  auto end = [&](std::int32_t e) {
    Store::EpochEnd r = h.store->end_offset_for_epoch(t, 0, e);
    return std::pair{r.epoch, r.end_offset};
  };
  CHECK(end(5) == std::pair<std::int32_t, std::int64_t>{5, 11});  // latest: the log end
  CHECK(end(4) == std::pair<std::int32_t, std::int64_t>{3, 6});   // ends where 5 starts
  CHECK(end(3) == std::pair<std::int32_t, std::int64_t>{3, 6});
  CHECK(end(1) == std::pair<std::int32_t, std::int64_t>{1, 2});    // below the first entry
  CHECK(end(6) == std::pair<std::int32_t, std::int64_t>{-1, -1});  // above every entry
  CHECK(end(-1) == std::pair<std::int32_t, std::int64_t>{-1, -1});
  CHECK(h.store->leader_epochs(t, 1).empty());

  // Persisted with the batches: the same after a reopen, and the stamp is
  // the broker's to set again (it is not persisted).
  h.reopen();
  CHECK(h.store->leader_epochs(t, 0) == want);
  CHECK(end(5) == std::pair<std::int32_t, std::int64_t>{5, 11});
  append_n(0, 11, 1);
  CHECK(h.store->leader_epochs(t, 0) == want);
  CHECK(parse(h.read(t, 0, 11, 1 << 20).data).back().header.partition_leader_epoch == -1);

  // Deleting the topic deletes its entries (a new topic of the same name
  // starts empty), in the database too.
  CHECK(h.wait_done([&](Store::Done d) { h.store->delete_topic(t, std::move(d)); }) == "");
  Uuid again = h.create("epochs", 2);
  CHECK(h.store->leader_epochs(again, 0).empty());
  h.close();
  int entries = 0;
  with_raw_db(dir.path(), "meta", [&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), cf));
    for (it->Seek(kgw::keys::meta_topic_epochs_begin(t));
         it->Valid() && it->key().compare(kgw::keys::meta_topic_epochs_end(t)) < 0; it->Next()) {
      ++entries;
    }
  });
  CHECK(entries == 0);
}

// --- A follower's log: append_replica, truncate_to, reset_log.

namespace {

AppendResult append_replica(Harness& h, const Uuid& t,
                            std::vector<std::vector<std::uint8_t>> batches) {
  auto owned = std::make_shared<std::vector<std::vector<std::uint8_t>>>(std::move(batches));
  std::vector<std::span<std::uint8_t>> views(owned->begin(), owned->end());
  std::optional<AppendResult> result;
  h.store->append_replica(t, 0, std::move(views), owned, [&](AppendResult r) { result = r; });
  h.run_until([&] { return result.has_value(); });
  return *result;
}

// Base offsets and epochs of every batch of partition 0 from `from`.
std::vector<std::pair<std::int64_t, std::int32_t>> batch_list(Harness& h, const Uuid& t,
                                                              std::int64_t from = 0) {
  ReadResult r = h.read(t, 0, from, 1 << 20);
  REQUIRE(r.error == "");
  std::vector<std::pair<std::int64_t, std::int32_t>> out;
  for (const auto& b : parse(r.data)) {
    out.emplace_back(b.header.base_offset, b.header.partition_leader_epoch);
  }
  return out;
}

// A follower's partition: five batches of three records, [0,3) [3,6) in
// epoch 1, [6,9) [9,12) in epoch 2, [12,15) in epoch 4, timestamps rising
// (batch i's records at 1000 + 100 i ...), two batches to a segment.
struct FollowerLog {
  explicit FollowerLog(Harness& h) : h(h) {
    batch_size = static_cast<std::int64_t>(leader_batch(0, 3, 1, 1000).size());
    h.store->set_policy_resolver([size = batch_size](const TopicInfo&) {
      kgw::LogPolicy p;
      p.segment_bytes = 2 * size + size / 2;
      return p;
    });
    t = h.create("follower", 1);
    const std::int32_t epochs[] = {1, 1, 2, 2, 4};
    for (int i = 0; i < 5; ++i) {
      std::vector<std::vector<std::uint8_t>> b;
      b.push_back(leader_batch(3 * i, 3, epochs[i], 1000 + 100 * i));
      bytes_below.push_back(bytes_below.back() + static_cast<std::int64_t>(b[0].size()));
      REQUIRE(append_replica(h, t, std::move(b)).error == "");
    }
  }
  std::string truncate(std::int64_t offset) {
    return h.wait_done([&](Store::Done d) { h.store->truncate_to(t, 0, offset, std::move(d)); });
  }
  const kgw::PartitionState& ps() const { return *h.store->partition(t, 0); }

  Harness& h;
  std::int64_t batch_size = 0;
  // Bytes of the first i batches.
  std::vector<std::int64_t> bytes_below{0};
  Uuid t;
};

using Epochs = std::map<std::int32_t, std::int64_t>;
using BatchList = std::vector<std::pair<std::int64_t, std::int32_t>>;

}  // namespace

TEST_CASE("append_replica keeps the leader's offsets and epochs and refuses going back") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  FollowerLog f(h);
  CHECK(f.ps().log_end_offset == 15);
  CHECK(f.ps().high_watermark == 15);
  CHECK(f.ps().max_timestamp == 1402);
  CHECK(h.store->leader_epochs(f.t, 0) == Epochs{{1, 0}, {2, 6}, {4, 12}});
  CHECK(batch_list(h, f.t) == BatchList{{0, 1}, {3, 1}, {6, 2}, {9, 2}, {12, 4}});
  CHECK(h.store->log_info(f.t, 0)->segments == 3);
  check_partition_contents(h, f.t, 0, 15);

  // Below the log end, or overlapping the batch before: refused whole.
  std::vector<std::vector<std::uint8_t>> below;
  below.push_back(leader_batch(14, 2, 4, 2000));
  CHECK(append_replica(h, f.t, std::move(below)).error != "");
  std::vector<std::vector<std::uint8_t>> overlap;
  overlap.push_back(leader_batch(15, 3, 4, 2000));
  overlap.push_back(leader_batch(17, 1, 4, 2000));
  CHECK(append_replica(h, f.t, std::move(overlap)).error != "");
  CHECK(f.ps().log_end_offset == 15);
  CHECK(batch_list(h, f.t, 12) == BatchList{{12, 4}});

  // A stamp set while this replica led does not apply to the leader's
  // batches; a gap (the leader compacted it away) is allowed.
  h.store->set_leader_epoch(f.t, 0, 9);
  std::vector<std::vector<std::uint8_t>> gap;
  gap.push_back(leader_batch(15, 1, 4, 2000));
  gap.push_back(leader_batch(20, 2, 6, 2100));
  AppendResult r = append_replica(h, f.t, std::move(gap));
  CHECK(r.error == "");
  CHECK(r.base_offset == 15);
  CHECK(f.ps().log_end_offset == 22);
  CHECK(h.store->leader_epochs(f.t, 0) == Epochs{{1, 0}, {2, 6}, {4, 12}, {6, 20}});
  CHECK(batch_list(h, f.t, 15) == BatchList{{15, 4}, {20, 6}});
  h.reopen();
  CHECK(h.store->partition(f.t, 0)->log_end_offset == 22);
  CHECK(h.store->leader_epochs(f.t, 0) == Epochs{{1, 0}, {2, 6}, {4, 12}, {6, 20}});
}

TEST_CASE("truncate_to removes whole batches from the end, with epochs, segments and time") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  FollowerLog f(h);
  const std::vector<std::int64_t>& bytes = f.bytes_below;

  SUBCASE("straddling a batch in the active segment") {
    CHECK(f.truncate(13) == "");
    CHECK(f.ps().log_end_offset == 12);
    CHECK(f.ps().high_watermark == 12);
    CHECK(f.ps().max_timestamp == 1302);
    CHECK(f.ps().size_bytes == bytes[4]);
    CHECK(h.store->leader_epochs(f.t, 0) == Epochs{{1, 0}, {2, 6}});
    CHECK(h.store->log_info(f.t, 0)->segments == 2);
    CHECK(h.store->log_info(f.t, 0)->active_segment_base == 6);
    CHECK(batch_list(h, f.t) == BatchList{{0, 1}, {3, 1}, {6, 2}, {9, 2}});
    CHECK(h.read(f.t, 0, 12, 1 << 20).data.empty());
    // The latest epoch now ends at the new log end.
    CHECK(h.store->end_offset_for_epoch(f.t, 0, 2).end_offset == 12);
    CHECK(h.offset_for(f.t, 0, 1400).offset == -1);
  }
  SUBCASE("at a segment boundary") {
    CHECK(f.truncate(6) == "");
    CHECK(f.ps().log_end_offset == 6);
    CHECK(f.ps().max_timestamp == 1102);
    CHECK(f.ps().size_bytes == bytes[2]);
    CHECK(h.store->leader_epochs(f.t, 0) == Epochs{{1, 0}});
    CHECK(h.store->log_info(f.t, 0)->segments == 1);
    CHECK(batch_list(h, f.t) == BatchList{{0, 1}, {3, 1}});
  }
  SUBCASE("straddling a batch in the middle of a closed segment") {
    CHECK(f.truncate(4) == "");
    CHECK(f.ps().log_end_offset == 3);
    CHECK(f.ps().max_timestamp == 1002);
    CHECK(f.ps().size_bytes == bytes[1]);
    CHECK(h.store->leader_epochs(f.t, 0) == Epochs{{1, 0}});
    CHECK(h.store->log_info(f.t, 0)->segments == 1);
    CHECK(batch_list(h, f.t) == BatchList{{0, 1}});
  }
  SUBCASE("below every batch") {
    CHECK(f.truncate(0) == "");
    CHECK(f.ps().log_end_offset == 0);
    CHECK(f.ps().max_timestamp == kgw::kNoTimestamp);
    CHECK(f.ps().size_bytes == 0);
    CHECK(h.store->leader_epochs(f.t, 0).empty());
    CHECK(h.read(f.t, 0, 0, 1 << 20).data.empty());
  }
  SUBCASE("at or above the log end: nothing changes") {
    CHECK(f.truncate(15) == "");
    CHECK(f.truncate(40) == "");
    CHECK(f.ps().log_end_offset == 15);
    CHECK(batch_list(h, f.t).size() == 5);
  }
  const std::int64_t end = f.ps().log_end_offset;
  const std::int64_t max_ts = f.ps().max_timestamp;
  const Epochs epochs = h.store->leader_epochs(f.t, 0);
  const BatchList batches = batch_list(h, f.t);
  const kgw::LogInfo info = *h.store->log_info(f.t, 0);

  // What a restart finds is the truncated log.
  h.reopen();
  CHECK(f.ps().log_end_offset == end);
  CHECK(f.ps().high_watermark == end);
  CHECK(f.ps().max_timestamp == max_ts);
  CHECK(h.store->leader_epochs(f.t, 0) == epochs);
  CHECK(batch_list(h, f.t) == batches);
  CHECK(h.store->log_info(f.t, 0)->segments == info.segments);
  CHECK(h.store->log_info(f.t, 0)->size_bytes == info.size_bytes);

  // The leader's log continues from there, in a new epoch.
  std::vector<std::vector<std::uint8_t>> next;
  next.push_back(leader_batch(end, 2, 7, 5000));
  REQUIRE(append_replica(h, f.t, std::move(next)).error == "");
  CHECK(h.store->leader_epochs(f.t, 0).rbegin()->first == 7);
  CHECK(h.store->leader_epochs(f.t, 0).rbegin()->second == end);
  CHECK(f.ps().max_timestamp == 5001);
  CHECK(h.offset_for(f.t, 0, 5000).offset == end);
  check_partition_contents(h, f.t, 0, end + 2);
}

TEST_CASE("truncate_to: at once for reads, after appends queued before it, refuses appends") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  FollowerLog f(h);
  // An append still queued when the truncation is called: the truncation
  // finds its batch ([15,18) straddles 16) and removes it.
  auto owned = std::make_shared<std::vector<std::vector<std::uint8_t>>>();
  owned->push_back(leader_batch(15, 3, 4, 1500));
  std::vector<std::span<std::uint8_t>> views(owned->begin(), owned->end());
  std::optional<AppendResult> appended;
  h.store->append_replica(f.t, 0, std::move(views), owned, [&](AppendResult r) { appended = r; });
  std::optional<std::string> truncated;
  h.store->truncate_to(f.t, 0, 10, [&](std::string e) { truncated = e; });
  // At once: the ends are down, a read queued now stops before the batch
  // that straddles 10, an append is refused.
  CHECK(f.ps().log_end_offset == 10);
  CHECK(f.ps().high_watermark <= 10);
  std::optional<ReadResult> read;
  h.store->read(f.t, 0, 0, 1 << 20, [&](ReadResult r) { read = std::move(r); });
  std::optional<AppendResult> refused;
  auto more = std::make_shared<std::vector<std::vector<std::uint8_t>>>();
  more->push_back(leader_batch(10, 1, 4, 1500));
  h.store->append_replica(f.t, 0, {more->front()}, more, [&](AppendResult r) { refused = r; });
  h.run_until([&] { return appended && truncated && read && refused; });
  CHECK(appended->error == "");
  CHECK(*truncated == "");
  CHECK(refused->error != "");
  for (const auto& b : parse(read->data)) CHECK(b.header.last_offset() < 10);
  CHECK(f.ps().log_end_offset == 9);
  CHECK(f.ps().high_watermark == 9);
  CHECK(batch_list(h, f.t) == BatchList{{0, 1}, {3, 1}, {6, 2}});
  h.reopen();
  CHECK(f.ps().log_end_offset == 9);
  CHECK(batch_list(h, f.t) == BatchList{{0, 1}, {3, 1}, {6, 2}});
}

TEST_CASE("reset_log empties the partition and starts it at an offset") {
  TempDir dir;
  Harness h(dir.path());
  h.open();
  FollowerLog f(h);
  CHECK(h.wait_done([&](Store::Done d) { h.store->reset_log(f.t, 0, 100, std::move(d)); }) == "");
  auto check = [&] {
    CHECK(f.ps().log_start_offset == 100);
    CHECK(f.ps().log_end_offset == 100);
    CHECK(f.ps().high_watermark == 100);
    CHECK(f.ps().size_bytes == 0);
    CHECK(f.ps().max_timestamp == kgw::kNoTimestamp);
    CHECK(h.store->leader_epochs(f.t, 0).empty());
    CHECK(h.store->log_info(f.t, 0)->segments == 1);
    CHECK(h.read(f.t, 0, 0, 1 << 20).data.empty());
    CHECK(h.offset_for(f.t, 0, 0).offset == -1);
  };
  check();
  h.reopen();
  check();
  std::vector<std::vector<std::uint8_t>> next;
  next.push_back(leader_batch(100, 2, 8, 3000));
  REQUIRE(append_replica(h, f.t, std::move(next)).error == "");
  CHECK(batch_list(h, f.t) == BatchList{{100, 8}});
  CHECK(h.store->leader_epochs(f.t, 0) == Epochs{{8, 100}});

  // truncate_to below the log start is a reset there.
  CHECK(f.truncate(50) == "");
  CHECK(f.ps().log_start_offset == 50);
  CHECK(f.ps().log_end_offset == 50);
  CHECK(h.read(f.t, 0, 0, 1 << 20).data.empty());
}

TEST_CASE("a truncation is all or nothing when the process dies without stop()") {
  // The child dies with an append and a truncation in flight, after 0 to
  // 3 loop turns: the log found is the acknowledged one, or with the
  // append, or with both, never a half-truncated log (batches, epochs,
  // time index and segments always agree).
  for (int turns : {0, 1, 3}) {
    CAPTURE(turns);
    TempDir dir;
    const std::string out =
        run_crash_child(dir, std::string(kChildTurnsEnv) + "=" + std::to_string(turns));
    std::int64_t acked = -1;
    std::istringstream lines(out);
    for (long long v; lines >> v;) acked = v;
    REQUIRE(acked == 180);

    Harness h(dir.path());
    h.open();
    const TopicInfo* t = h.store->find_topic("trunc");
    REQUIRE(t != nullptr);
    const kgw::PartitionState& ps = *h.store->partition(t->id, 0);
    MESSAGE("turns " << turns << ": acknowledged up to " << acked << ", recovered up to "
                     << ps.log_end_offset);
    CHECK((ps.log_end_offset == acked || ps.log_end_offset == acked + 9 ||
           ps.log_end_offset == acked + 3));
    check_partition_contents(h, t->id, 0, ps.log_end_offset);
    const Epochs epochs = h.store->leader_epochs(t->id, 0);
    REQUIRE(!epochs.empty());
    CHECK(epochs.rbegin()->second < ps.log_end_offset);
    std::map<std::int64_t, std::int32_t> epoch_at;  // start offset -> epoch
    for (const auto& [epoch, start] : epochs) epoch_at[start] = epoch;
    std::int64_t bytes = 0;
    std::int64_t max_ts = kgw::kNoTimestamp;
    for (std::int64_t next = 0; next < ps.log_end_offset;) {
      ReadResult r = h.read(t->id, 0, next, 1 << 20);
      REQUIRE(r.error == "");
      REQUIRE(!r.data.empty());
      bytes += static_cast<std::int64_t>(r.data.size());
      for (const auto& b : parse(r.data)) {
        auto e = epoch_at.upper_bound(b.header.base_offset);
        REQUIRE(e != epoch_at.begin());
        CHECK(std::prev(e)->second == b.header.partition_leader_epoch);
        max_ts = std::max(max_ts, b.header.max_timestamp);
        next = b.header.last_offset() + 1;
      }
    }
    CHECK(ps.max_timestamp == max_ts);
    CHECK(h.store->log_info(t->id, 0)->size_bytes == bytes);
    CHECK(h.offset_for(t->id, 0, max_ts + 1).offset == -1);
  }
}
