// The etcd gateway's JSON without an etcd: base64, request bodies, answer
// decoding (including the gateway's error objects) and the splitting of a
// watch stream however it is chunked.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "src/cluster/etcd/base64.h"
#include "src/cluster/etcd/etcd_json.h"

namespace kgw::etcd {

TEST_CASE("base64: RFC 4648 vectors, binary bytes, and bad input") {
  const char* vectors[][2] = {{"", ""},
                              {"f", "Zg=="},
                              {"fo", "Zm8="},
                              {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="},
                              {"fooba", "Zm9vYmE="},
                              {"foobar", "Zm9vYmFy"}};
  for (auto& v : vectors) {
    CHECK(base64_encode(v[0]) == v[1]);
    std::string out;
    REQUIRE(base64_decode(v[1], &out));
    CHECK(out == v[0]);
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string back;
  REQUIRE(base64_decode(base64_encode(all), &back));
  CHECK(back == all);
  CHECK(base64_encode(std::string("\x00", 1)) == "AA==");  // prefix_end of all-0xff keys
  std::string out;
  CHECK_FALSE(base64_decode("Zm9", &out));
  CHECK_FALSE(base64_decode("Zm9*", &out));
  CHECK_FALSE(base64_decode("Z===", &out));
}

TEST_CASE("prefix_end: the next prefix, skipping trailing 0xff bytes") {
  CHECK(prefix_end("/kgw/") == "/kgw0");
  CHECK(prefix_end(std::string("a\xff", 2)) == "b");
  CHECK(prefix_end(std::string("\xff\xff", 2)) == std::string(1, '\0'));
}

TEST_CASE("encode: keys base64, 64-bit numbers as strings, defaults left out") {
  auto range = nlohmann::json::parse(encode_range("k", "l", 7));
  CHECK(range["key"] == "aw==");
  CHECK(range["range_end"] == "bA==");
  CHECK(range["revision"] == "7");
  CHECK_FALSE(nlohmann::json::parse(encode_range("k", "", 0)).contains("range_end"));

  TxnRequest t;
  t.compare.push_back(Compare{"k", Compare::kCreate, Compare::kEqual, 0, ""});
  t.compare.push_back(Compare{"k", Compare::kValue, Compare::kNotEqual, 0, "v"});
  t.success.push_back(Op{Op::kPut, "k", "", "v", 9007199254740993});
  t.failure.push_back(Op{Op::kRange, "a", "b", "", 0});
  t.failure.push_back(Op{Op::kDelete, "c", "", "", 0});
  auto j = nlohmann::json::parse(encode_txn(t));
  CHECK(j["compare"][0]["target"] == "CREATE");
  CHECK(j["compare"][0]["create_revision"] == "0");
  CHECK(j["compare"][1]["result"] == "NOT_EQUAL");
  CHECK(j["compare"][1]["value"] == "dg==");
  CHECK(j["success"][0]["request_put"]["lease"] == "9007199254740993");  // beyond a double
  CHECK(j["failure"][0]["request_range"]["range_end"] == "Yg==");
  CHECK(j["failure"][1]["request_delete_range"]["key"] == "Yw==");
  auto w = nlohmann::json::parse(encode_watch_create("a", "b", 5));
  CHECK(w["create_request"]["start_revision"] == "5");
}

TEST_CASE("decode: answers, absent defaults, and the gateway's error objects") {
  RangeResult r;
  Status s =
      decode_range(200,
                   R"({"header":{"revision":"12"},"kvs":[{"key":"YQ==","create_revision":"2",)"
                   R"("mod_revision":"3","version":"2","value":"MQ==","lease":"77"}],"count":"1"})",
                   &r);
  REQUIRE(s.ok());
  CHECK(r.revision == 12);
  REQUIRE(r.kvs.size() == 1);
  CHECK(r.kvs[0].key == "a");
  CHECK(r.kvs[0].value == "1");
  CHECK(r.kvs[0].create_revision == 2);
  CHECK(r.kvs[0].mod_revision == 3);
  CHECK(r.kvs[0].version == 2);
  CHECK(r.kvs[0].lease == 77);
  CHECK_FALSE(r.more);

  TxnResult t;
  REQUIRE(decode_txn(200,
                     R"({"header":{"revision":"5"},"responses":[{"response_put":{"header":{}}},)"
                     R"({"response_range":{"header":{"revision":"5"}}}]})",
                     &t)
              .ok());
  CHECK_FALSE(t.succeeded);  // absent = false
  CHECK(t.revision == 5);
  REQUIRE(t.ranges.size() == 1);
  CHECK(t.ranges[0].kvs.empty());

  Status compacted = decode_range(
      400, R"({"error":"etcdserver: mvcc: required revision has been compacted","code":11})", &r);
  CHECK(compacted.code == Status::kCompacted);
  CHECK(decode_range(400,
                     R"({"error":"etcdserver: mvcc: required revision is a future revision",)"
                     R"("code":11})",
                     &r)
            .code == Status::kFailed);
  CHECK(decode_empty(503, R"({"error":"etcdserver: no leader","code":14})").code ==
        Status::kUnavailable);
  CHECK(decode_empty(404, "not json").code == Status::kFailed);
  CHECK(decode_range(200, R"({"kvs":[{"key":"!!"}]})", &r).code == Status::kFailed);
  CHECK(decode_range(200, R"({"header":{"revision":"x1"}})", &r).ok());  // header is advisory

  std::int64_t ttl = -1;
  REQUIRE(decode_lease_keepalive(200, R"({"result":{"ID":"5"}})", &ttl).ok());
  CHECK(ttl == 0);  // the lease is gone
  REQUIRE(decode_lease_keepalive(200, "{\"result\":{\"ID\":\"5\",\"TTL\":\"9\"}}\n", &ttl).ok());
  CHECK(ttl == 9);
  std::int64_t id = 0;
  CHECK(decode_lease_grant(200, R"({"ID":"4111120418632584969","TTL":"2"})", &id, &ttl).ok());
  CHECK(id == 4111120418632584969);
}

TEST_CASE("decode_watch: created, events with types, compaction") {
  WatchMessage m;
  REQUIRE(decode_watch(R"({"result":{"header":{"revision":"2"},"created":true}})", &m).ok());
  CHECK(m.created);
  CHECK(m.header_revision == 2);
  REQUIRE(decode_watch(R"({"result":{"header":{"revision":"9"},"events":[)"
                       R"({"kv":{"key":"YQ==","mod_revision":"9","value":"MQ=="}},)"
                       R"({"type":"DELETE","kv":{"key":"Yg==","mod_revision":"9"}}]}})",
                       &m)
              .ok());
  REQUIRE(m.events.size() == 2);
  CHECK(m.events[0].type == Event::kPut);
  CHECK(m.events[0].kv.value == "1");
  CHECK(m.events[1].type == Event::kDelete);
  CHECK(m.events[1].kv.key == "b");
  REQUIRE(decode_watch(R"({"result":{"canceled":true,"compact_revision":"2"}})", &m).ok());
  CHECK(m.canceled);
  CHECK(m.compact_revision == 2);
  CHECK(decode_watch(R"({"error":{"grpc_code":14,"message":"transport closing"}})", &m).code ==
        Status::kUnavailable);
}

TEST_CASE("JsonStream: whole objects whatever the chunking, braces in strings") {
  std::string stream =
      "{\"result\":{\"a\":\"}{\\\"\"}}\n{\"result\":{\"b\":[1,{\"c\":2}]}}  {\"x\":1}";
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, stream.size()}) {
    JsonStream s;
    std::vector<std::string> got;
    for (std::size_t i = 0; i < stream.size(); i += chunk) {
      s.append(std::string_view(stream).substr(i, chunk));
      std::string obj;
      while (s.next(&obj) == 1) got.push_back(obj);
    }
    REQUIRE(got.size() == 3);
    CHECK(got[0] == "{\"result\":{\"a\":\"}{\\\"\"}}");
    CHECK(nlohmann::json::parse(got[1])["result"]["b"][1]["c"] == 2);
    CHECK(got[2] == "{\"x\":1}");
  }
  JsonStream bad;
  bad.append("garbage");
  std::string obj;
  CHECK(bad.next(&obj) == -1);
  JsonStream small(8);
  small.append("{\"aaaaaaaaaaaa");
  CHECK(small.next(&obj) == -1);
}

}  // namespace kgw::etcd
