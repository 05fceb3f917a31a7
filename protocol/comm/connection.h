#pragma once

// The only Asio code in protocol/: one TCP connection speaking dask's framing,
// handshake and message encoding (docs/protocol.md#framing to #streams).

#include <utility>  // boost 1.74's awaitable.hpp uses std::exchange without including it

#include <boost/asio.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "protocol/frame/frame_decoder.h"
#include "protocol/messages/handshake.h"
#include "protocol/messages/message_codec.h"
#include "protocol/msgpack/value.h"

namespace dn {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;

/// Limits a server applies to every connection it accepts.
struct ConnectionLimits {
  FrameLimits frames;
  MessageLimits messages;
  /// A peer must complete its handshake within this many bytes (a handshake is ~66).
  uint64_t max_handshake_bytes = 64 * 1024;
};

/// One dask comm over TCP: framed messages in, framed messages out.
///
/// Reads run in the caller's coroutine (`co_await Read()`); writes are queued by
/// `Send()` and drained by one writer coroutine with a single write in flight, so
/// messages leave in the order they were sent. All methods must be called on the
/// connection's executor (the owning event loop thread). Errors close the socket.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, ConnectionLimits limits = {});
  ~Connection();

  /// Dial `host:port` and return a connected (not yet handshaken) connection.
  static awaitable<Result<std::shared_ptr<Connection>>> Dial(std::string host, uint16_t port,
                                                             ConnectionLimits limits = {});

  /// Exchange handshakes (both sides write first, then read) and return the peer's.
  awaitable<Result<Handshake>> DoHandshake(const Handshake& local);

  /// Read and decode the next message. Returns IOError when the peer closed.
  awaitable<Result<Value>> Read();

  /// Queue `message` for sending; encoding errors close the connection.
  void Send(const Value& message);
  /// Queue an already-encoded message.
  void SendFrames(std::vector<Buffer> frames);

  /// Wait, without reading, until the peer closes or sends something; true when it
  /// closed (or the socket failed). For a handler that blocks long before it replies on
  /// a comm whose peer sends nothing meanwhile (the coordination primitives' waits), so
  /// a caller that went away stops being waited for. Another Read may follow.
  awaitable<bool> WaitPeerClosed();

  /// Send `request` and read one reply (an RPC on a dedicated connection).
  awaitable<Result<Value>> Request(const Value& request);

  /// Close the socket; pending reads fail and queued writes are dropped.
  void Close();
  bool closed() const { return closed_; }
  /// Close once everything already sent has been written (Close() drops it).
  void CloseAfterFlush();

  /// "tcp://ip:port" of the peer, as dask writes addresses.
  const std::string& peer() const { return peer_; }
  const CommSettings& settings() const { return settings_; }
  /// The local IP of this connection (how the peer sees us), or "" when closed.
  std::string local_host() const;

 private:
  awaitable<void> WriteLoop();

  tcp::socket socket_;
  ConnectionLimits limits_;
  FrameDecoder decoder_;
  std::deque<std::vector<Buffer>> outbox_;
  bool writing_ = false;
  bool closed_ = false;
  bool close_after_flush_ = false;
  std::string peer_;
  CommSettings settings_;
};

/// Read one message of a batched stream as its op maps (core.py:handle_stream): a lone
/// map is a batch of one, and a plain "OK" string ends the batch (legacy).
awaitable<Result<Array>> ReadBatch(Connection& conn);

/// Return "tcp://host:port" split into host and port; Invalid for other schemes.
Result<std::pair<std::string, uint16_t>> ParseTcpAddress(std::string_view address);

}  // namespace dn
