// A Kafka-protocol listener on 127.0.0.1 for tests of outgoing broker
// connections: it accepts connections on the test's loop, cuts the bytes
// into frames and hands each request (header decoded) to the test, which
// answers at once or later with answer(). Answers leave in the order
// answer() is called.
#pragma once

#include <doctest/doctest.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "protocol/wire/headers.h"
#include "protocol/wire/reader.h"
#include "protocol/wire/writer.h"

namespace kgw::test {

class LoopbackServer {
 public:
  // One request: `body` is a Reader positioned after the header, over
  // `frame` (valid during the call only). Return false to close the
  // connection instead of answering.
  struct Request {
    std::uint64_t client = 0;
    std::int16_t key = 0;
    std::int16_t version = 0;
    std::int32_t correlation_id = 0;
    Reader& body;
  };
  using OnRequest = std::function<bool(Request&)>;

  LoopbackServer(uv_loop_t* loop, OnRequest on_request)
      : loop_(loop), on_request_(std::move(on_request)) {
    uv_tcp_init(loop_, server_);
    server_->data = this;
    sockaddr_in a{};
    uv_ip4_addr("127.0.0.1", 0, &a);
    REQUIRE(uv_tcp_bind(server_, reinterpret_cast<const sockaddr*>(&a), 0) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(server_), 8, on_connection) == 0);
    int len = sizeof a;
    uv_tcp_getsockname(server_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~LoopbackServer() {
    close_all();
    // The handle outlives this object until its close callback.
    uv_close(reinterpret_cast<uv_handle_t*>(server_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  std::int32_t port() const { return port_; }
  int connections = 0;

  // Sends the answer to a request (nothing if its client is gone).
  template <typename Resp>
  void answer(std::uint64_t client, std::int16_t key, std::int16_t version,
              std::int32_t correlation_id, const Resp& resp) {
    auto it = clients_.find(client);
    if (it == clients_.end()) return;
    std::vector<std::uint8_t> out;
    Writer w(out);
    w.i32(0);
    ResponseHeader rh;
    rh.correlation_id = correlation_id;
    rh.encode(w, response_header_version(key, version));
    resp.encode(w, version);
    w.patch_i32(0, static_cast<std::int32_t>(out.size() - 4));
    auto* req = new uv_write_t;
    auto* bytes = new std::vector<std::uint8_t>(std::move(out));
    req->data = bytes;
    uv_buf_t b =
        uv_buf_init(reinterpret_cast<char*>(bytes->data()), static_cast<unsigned>(bytes->size()));
    uv_write(req, reinterpret_cast<uv_stream_t*>(&it->second->tcp), &b, 1, [](uv_write_t* q, int) {
      delete static_cast<std::vector<std::uint8_t>*>(q->data);
      delete q;
    });
  }

  void close_all() {
    while (!clients_.empty()) close_client(clients_.begin()->second);
  }

 private:
  struct Client {
    uv_tcp_t tcp{};
    LoopbackServer* owner = nullptr;
    std::uint64_t id = 0;
    std::vector<std::uint8_t> in;
    char buf[65536];
  };

  static void on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<LoopbackServer*>(server->data);
    if (status != 0) return;
    auto* c = new Client;
    c->owner = self;
    c->id = self->next_id_++;
    uv_tcp_init(self->loop_, &c->tcp);
    c->tcp.data = c;
    uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp));
    self->clients_[c->id] = c;
    ++self->connections;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t* h, std::size_t, uv_buf_t* b) {
          auto* cl = static_cast<Client*>(h->data);
          *b = uv_buf_init(cl->buf, sizeof cl->buf);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* cl = static_cast<Client*>(s->data);
          if (n < 0) return cl->owner->close_client(cl);
          cl->in.insert(cl->in.end(), b->base, b->base + n);
          cl->owner->on_bytes(cl);
        });
  }

  void close_client(Client* c) {
    clients_.erase(c->id);
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->tcp))) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
             [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
  }

  void on_bytes(Client* c) {
    while (c->in.size() >= 4) {
      const std::uint32_t len = (std::uint32_t{c->in[0]} << 24) | (std::uint32_t{c->in[1]} << 16) |
                                (std::uint32_t{c->in[2]} << 8) | std::uint32_t{c->in[3]};
      if (c->in.size() < 4 + len) return;
      std::vector<std::uint8_t> frame(c->in.begin() + 4, c->in.begin() + 4 + len);
      c->in.erase(c->in.begin(), c->in.begin() + 4 + len);
      std::int16_t key = 0, version = 0;
      REQUIRE(peek_api(Bytes(frame), key, version));
      Reader r{Bytes(frame)};
      RequestHeader h;
      REQUIRE(h.decode(r, request_header_version(key, version)));
      Request req{c->id, key, version, h.correlation_id, r};
      if (!on_request_(req)) return close_client(c);
    }
  }

  uv_loop_t* loop_;
  OnRequest on_request_;
  uv_tcp_t* server_ = new uv_tcp_t;
  std::int32_t port_ = 0;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, Client*> clients_;
};

}  // namespace kgw::test
