#pragma once

#include "protocol/comm/connection.h"

#include <functional>
#include <memory>
#include <string>

namespace dn {

/// Open, bind and listen `acceptor` on host:port (port 0: any free port).
Status Listen(tcp::acceptor& acceptor, const std::string& host, uint16_t port);

/// Handles one accepted comm (from handshake to close).
using ServeComm = std::function<awaitable<void>(std::shared_ptr<Connection>)>;

/// Accept connections until the acceptor is closed, spawning `serve` for each.
awaitable<void> AcceptLoop(tcp::acceptor& acceptor, ConnectionLimits limits, ServeComm serve);

}  // namespace dn
