#include "protocol/comm/connection.h"

#include <charconv>

#include "protocol/frame/frame_encoder.h"

namespace dn {

namespace {

std::string Endpoint(const tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "tcp://?";
  return "tcp://" + ep.address().to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

Connection::Connection(tcp::socket socket, ConnectionLimits limits)
    : socket_(std::move(socket)), limits_(limits), decoder_(limits.frames) {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  peer_ = Endpoint(socket_);
}

Connection::~Connection() = default;

std::string Connection::local_host() const {
  boost::system::error_code ec;
  auto ep = socket_.local_endpoint(ec);
  return ec ? std::string() : ep.address().to_string();
}

awaitable<Result<Array>> ReadBatch(Connection& conn) {
  Result<Value> batch = co_await conn.Read();
  if (!batch.ok()) co_return batch.status();
  Array out;
  if (const Array* msgs = batch->array()) {
    for (const Value& m : *msgs) {
      if (m.str() && *m.str() == "OK") break;
      out.push_back(m);
    }
  } else {
    out.push_back(std::move(*batch));
  }
  co_return out;
}

Result<std::pair<std::string, uint16_t>> ParseTcpAddress(std::string_view address) {
  std::string_view rest = address;
  if (rest.starts_with("tcp://")) {
    rest.remove_prefix(6);
  } else if (rest.find("://") != std::string_view::npos) {
    return Status::Invalid("only tcp:// addresses are supported: " + std::string(address));
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos)
    return Status::Invalid("address lacks a port: " + std::string(address));
  std::string host(rest.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  uint16_t port = 0;
  std::string_view p = rest.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || ptr != p.data() + p.size()) {
    return Status::Invalid("bad port in address: " + std::string(address));
  }
  return std::make_pair(host, port);
}

awaitable<Result<std::shared_ptr<Connection>>> Connection::Dial(std::string host, uint16_t port,
                                                                ConnectionLimits limits) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  boost::system::error_code ec;
  auto endpoints = co_await resolver.async_resolve(host, std::to_string(port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Status::IOError("resolve " + host + ": " + ec.message());
  tcp::socket socket(executor);
  co_await asio::async_connect(socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    co_return Status::IOError("connect tcp://" + host + ":" + std::to_string(port) + ": " +
                              ec.message());
  }
  co_return std::make_shared<Connection>(std::move(socket), limits);
}

awaitable<Result<Handshake>> Connection::DoHandshake(const Handshake& local) {
  Send(local.ToValue());
  // Bound the bytes a peer may send before its handshake completes.
  FrameLimits saved = limits_.frames;
  FrameLimits tight = saved;
  tight.max_message_bytes = limits_.max_handshake_bytes;
  tight.max_frame_bytes = limits_.max_handshake_bytes;
  tight.max_frames = 16;
  decoder_ = FrameDecoder(tight);
  Result<Value> v = co_await Read();
  decoder_ = FrameDecoder(saved);
  if (!v.ok()) co_return v.status().WithContext("handshake");
  Result<Handshake> h = Handshake::FromValue(*v);
  if (!h.ok()) co_return h.status();
  settings_ = Negotiate(local, *h);
  co_return h;
}

awaitable<Result<Value>> Connection::Read() {
  while (!decoder_.HasMessage()) {
    if (closed_) co_return Status::IOError("connection closed");
    if (!decoder_.error().ok()) co_return decoder_.error();
    std::span<uint8_t> region = decoder_.WritableRegion();
    boost::system::error_code ec;
    size_t n = co_await socket_.async_read_some(asio::buffer(region.data(), region.size()),
                                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      Close();
      co_return Status::IOError(ec == asio::error::eof ? "peer closed the connection"
                                                       : ec.message());
    }
    Status st = decoder_.Commit(n);
    if (!st.ok()) {
      Close();
      co_return st;
    }
  }
  FramedMessage m = decoder_.Pop();
  Result<Value> v = DecodeMessage(m.frames, limits_.messages);
  if (!v.ok()) Close();
  co_return v;
}

awaitable<bool> Connection::WaitPeerClosed() {
  if (closed_) co_return true;
  boost::system::error_code ec;
  co_await socket_.async_wait(tcp::socket::wait_read,
                              asio::redirect_error(asio::use_awaitable, ec));
  if (ec || closed_) co_return true;
  // Readable with nothing to read is the peer's end of stream.
  co_return socket_.available(ec) == 0 || ec;
}

void Connection::Send(const Value& message) {
  Result<std::vector<Buffer>> frames = EncodeMessage(message);
  if (!frames.ok()) {
    Close();
    return;
  }
  SendFrames(frames.MoveValueUnsafe());
}

void Connection::SendFrames(std::vector<Buffer> frames) {
  if (closed_ || close_after_flush_) return;
  outbox_.push_back(std::move(frames));
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(
        socket_.get_executor(), [self = shared_from_this()] { return self->WriteLoop(); },
        asio::detached);
  }
}

awaitable<void> Connection::WriteLoop() {
  while (!outbox_.empty() && !closed_) {
    std::vector<Buffer> frames = std::move(outbox_.front());
    outbox_.pop_front();
    std::string header = EncodeFrameHeader(frames, NosplitFrames(frames));
    std::vector<asio::const_buffer> bufs;
    bufs.reserve(frames.size() + 1);
    bufs.emplace_back(header.data(), header.size());
    for (const Buffer& f : frames) {
      if (!f.empty()) bufs.emplace_back(f.data(), f.size());
    }
    boost::system::error_code ec;
    co_await asio::async_write(socket_, bufs, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      Close();
      break;
    }
  }
  writing_ = false;
  if (close_after_flush_) Close();
}

void Connection::CloseAfterFlush() {
  if (closed_) return;
  close_after_flush_ = true;
  if (!writing_) Close();
}

awaitable<Result<Value>> Connection::Request(const Value& request) {
  Send(request);
  co_return co_await Read();
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  outbox_.clear();
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

}  // namespace dn
