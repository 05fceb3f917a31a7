#include "protocol/comm/listener.h"

namespace dn {

Status Listen(tcp::acceptor& acceptor, const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return Status::Invalid("bad host '" + host + "': " + ec.message());
  tcp::endpoint ep(addr, port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::IOError("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                           ec.message());
  }
  return Status::OK();
}

awaitable<void> AcceptLoop(tcp::acceptor& acceptor, ConnectionLimits limits, ServeComm serve) {
  auto executor = co_await asio::this_coro::executor;
  while (acceptor.is_open()) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) continue;  // a closed acceptor ends the loop at the check above
    auto conn = std::make_shared<Connection>(std::move(socket), limits);
    asio::co_spawn(executor, serve(conn), asio::detached);
  }
}

}  // namespace dn
