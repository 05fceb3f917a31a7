// Fuzz framing plus message decoding (msgpack, placeholders, sub-headers), then
// re-encode whatever decoded: both must hold up on any input.
#include <cstdint>

#include "protocol/frame/frame_decoder.h"
#include "protocol/messages/handshake.h"
#include "protocol/messages/key.h"
#include "protocol/messages/message_codec.h"
#include "protocol/serialize/ndarray_serializer.h"

namespace {

void Walk(const dn::Value& v) {
  if (const auto* s = v.get_if<dn::Serialized>()) {
    (void)dn::DeserializeNdarray(*s, 1 << 24);
  } else if (const auto* a = v.array()) {
    (void)dn::Key::FromValue(v);
    for (const auto& x : *a) Walk(x);
  } else if (const auto* m = v.map()) {
    for (const auto& e : *m) Walk(e.value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dn::FrameLimits limits;
  limits.max_frames = 1 << 12;
  limits.max_frame_bytes = 1 << 24;
  limits.max_message_bytes = 1 << 24;
  dn::FrameDecoder decoder(limits);
  (void)decoder.Consume(data, size);
  dn::MessageLimits mlimits;
  mlimits.msgpack.max_values = 1 << 16;
  mlimits.max_decompressed_bytes = 1 << 24;
  while (decoder.HasMessage()) {
    dn::FramedMessage msg = decoder.Pop();
    auto value = dn::DecodeMessage(msg.frames, mlimits);
    if (!value.ok()) continue;
    (void)dn::Handshake::FromValue(*value);
    Walk(*value);
    auto frames = dn::EncodeMessage(*value);
    if (frames.ok()) {
      auto again = dn::DecodeMessage(*frames, mlimits);
      if (!again.ok() || !(*again == *value)) __builtin_trap();
    }
  }
  return 0;
}
