#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "protocol/msgpack/value.h"

namespace dn {

/// The first message each side writes on every comm (docs/protocol.md#handshake).
struct Handshake {
  /// Codec this side would like to send with; nullopt is msgpack nil (no compression).
  std::optional<std::string> compression;
  /// sys.version_info[:3] of the sender; informational only.
  std::vector<int64_t> python = {3, 11, 2};
  /// Highest pickle protocol the sender accepts (5 normally; stock schedulers dial with 4).
  int64_t pickle_protocol = 5;

  /// Return the wire map, keys in the stock order: compression, python, pickle-protocol.
  Value ToValue() const;
  /// Parse a peer's handshake. `compression` and `pickle-protocol` are required, as the
  /// stock peer requires them; other keys are ignored.
  static Result<Handshake> FromValue(const Value& v);

  bool operator==(const Handshake&) const = default;
};

/// What one side sends with after the handshake (`handshake_configuration`).
struct CommSettings {
  int64_t pickle_protocol = 5;
  std::optional<std::string> compression;
};

/// Negotiate as each stock side does independently: the lower pickle protocol, and the
/// local codec only if both sides asked for the same one.
CommSettings Negotiate(const Handshake& local, const Handshake& remote);

}  // namespace dn
