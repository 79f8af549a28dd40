// Connection: one accepted TCP socket, its framing and its response FIFO.
//
// The happy path is: bytes arrive in arbitrary chunks and are assembled into
// 4-byte big-endian size-prefixed frames; each whole frame gets a response
// slot at the back of the FIFO and goes up to the Server's frame handler;
// answers come back through respond()/skip() in any order, and ready slots
// leave from the front of the FIFO, several per uv_write, so responses keep
// request order.
//
// Possible failure modes are: a size prefix that is negative or over
// max_frame_bytes, a read or write error, the peer closing, running out of
// memory, the connection idle for connections_max_idle_ms, a connection
// over max_connections or max_connections_per_ip, a response too large for
// a Kafka frame, or the layer above asking to close. Each closes this
// connection only: pending slots are abandoned, libuv cancels the write in
// flight (its callback runs before the close callback), and the object
// deletes itself in the close callback. The Server drops the id from its
// map then, so later respond()/skip() calls for it find nothing.
//
// Memory: reads land in the Server's one shared read buffer; a connection
// keeps only what it could not parse yet (a frame's bytes so far, grown as
// they arrive and never to what a size prefix merely promises, and bytes
// read ahead while paused). An idle connection holds no buffer.
//
// Backpressure: while the FIFO holds max_inflight_requests slots, or
// max_queued_response_bytes wait to be sent or are reserved by requests
// still being answered (reserve_response()), the socket is not read, and
// frames already read are not delivered; both resume once below half.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "common/log.h"
#include "src/net/server.h"

namespace kgw {

class Connection {
 public:
  // `listener`: the one the socket is accepted from, for the Session.
  Connection(Server* server, ConnectionId id, const ListenerConfig& listener);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Initialises the handle, accepts the pending socket from `listener` and
  // starts reading. Returns false only if the handle could not be
  // initialised (the caller then deletes the object); any later failure
  // closes the connection, which frees itself.
  bool open(uv_stream_t* listener);

  void respond(std::uint64_t sequence, std::vector<std::uint8_t> bytes);
  void skip(std::uint64_t sequence);
  // Counts `bytes` against max_queued_response_bytes until request
  // `sequence` is answered (Server::reserve_response).
  void reserve_response(std::uint64_t sequence, std::size_t bytes);
  // Closes the connection once, logging "closing <peer>: <reason>" at
  // `level`. Later calls do nothing.
  void close(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  // Delivers frames read before a pause, then reads again (Server's idle).
  void resume();

  // Held by the layer above (Server::hold): not read, frames already read
  // not delivered, until released.
  void set_held(bool held);
  bool held() const { return held_; }

  bool closing() const { return closing_; }
  // For the Server's idle sweep: no bytes read or written since `since`
  // (loop time, ms) and no request waiting for the layer above.
  bool idle_since(std::uint64_t since) const {
    return !closing_ && pending_count_ == 0 && last_active_ms_ <= since;
  }
  ConnectionId id() const { return id_; }
  const std::string& peer() const { return peer_; }
  const std::shared_ptr<Session>& session() const { return session_; }

 private:
  enum class SlotState : std::uint8_t { kPending, kReady, kSkipped };
  struct Slot {
    SlotState state = SlotState::kPending;
    std::size_t reserved = 0;  // reserve_response() bytes, counted in queued_bytes_
    std::vector<std::uint8_t> bytes;
  };

  // Only from on_close, or by the Server when open() failed before the
  // handle existed.
  friend class Server;
  ~Connection() = default;

  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_close(uv_handle_t* handle);

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  void alloc(uv_buf_t* buf);
  // Runs `work`, turning anything it throws into closing this connection:
  // no exception may cross a libuv callback.
  template <typename Work>
  void guarded(Work&& work) {
    try {
      work();
    } catch (const std::bad_alloc&) {
      close(LogLevel::kWarn, "out of memory");
    } catch (const std::exception& e) {
      close(LogLevel::kError, "internal error: %s", e.what());
    } catch (...) {
      close(LogLevel::kError, "internal error");
    }
  }
  void handle_read(ssize_t nread);
  void handle_write(int status);
  // Parses [p, p + n) into frames, delivering each whole one, until done,
  // paused or closing; returns the bytes consumed.
  std::size_t parse(const std::uint8_t* p, std::size_t n);
  void keep_leftover(const std::uint8_t* p, std::size_t n);
  void touch();
  bool begin_frame();
  void grow_frame(std::size_t at_least);
  void deliver_frame();
  Slot* find_pending(std::uint64_t sequence, const char* what);
  void flush();
  void update_backpressure();
  // After a pause or hold: the bytes kept from the last read first (from
  // the server's idle callback, never re-entering the frame handler), then
  // the socket.
  void read_again();
  void start_reading();
  void stop_reading();

  uv_tcp_t tcp_{};
  Server* server_;
  ConnectionId id_;
  std::string peer_ = "unknown peer";
  std::string ip_;  // the peer's address alone, for max.connections.per.ip
  // Shared with every frame delivered (InboundFrame::session).
  std::shared_ptr<Session> session_;
  bool admitted_ = false;  // counted by the Server's connection caps
  bool closing_ = false;
  bool reading_ = false;
  bool paused_ = false;            // over a backpressure limit
  bool held_ = false;              // set_held()
  bool resume_scheduled_ = false;  // queued in Server::resume_queue_

  // Framing. Reads land in the Server's shared buffer and each frame is
  // copied once into its own vector; once a large frame has proven itself
  // by sending kStagingBytes, the rest of its body is read straight into
  // that vector (direct_read_), with no copy at all.
  std::uint8_t header_[4] = {};
  std::size_t header_have_ = 0;
  bool in_body_ = false;
  std::size_t frame_size_ = 0;  // from the size prefix
  std::size_t frame_have_ = 0;  // body bytes received so far
  std::vector<std::uint8_t> frame_;
  // Bytes read but not parsed because we paused; [leftover_begin_, end).
  std::vector<std::uint8_t> leftover_;
  std::size_t leftover_begin_ = 0;
  bool direct_read_ = false;  // the last alloc handed out frame_, not the shared buffer
  std::uint64_t next_sequence_ = 0;
  std::size_t pending_count_ = 0;     // slots still kPending
  std::uint64_t last_active_ms_ = 0;  // loop time of the last read or write

  // Responses. slots_.front() is request front_sequence_.
  std::deque<Slot> slots_;
  std::uint64_t front_sequence_ = 0;
  // Bytes handed to respond() and not yet written (the FIFO plus the write
  // in flight), plus the reservations of requests not yet answered; the
  // second backpressure measure.
  std::size_t queued_bytes_ = 0;
  // One uv_write at a time: responses that become ready meanwhile wait and
  // go out together in the next one.
  uv_write_t write_req_{};
  bool writing_ = false;
  std::vector<std::vector<std::uint8_t>> write_buffers_;
  std::vector<uv_buf_t> write_bufs_;
  std::size_t write_bytes_ = 0;
};

}  // namespace kgw
