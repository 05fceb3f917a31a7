// Fuzz the frame decoder with the bytes split at a point the input chooses.
#include <cstdint>

#include "protocol/frame/frame_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dn::FrameLimits limits;
  limits.max_frames = 1 << 12;
  limits.max_frame_bytes = 1 << 24;
  limits.max_message_bytes = 1 << 24;
  dn::FrameDecoder decoder(limits);
  size_t split = size ? data[0] % (size + 1) : 0;
  if (decoder.Consume(data, split).ok()) {
    (void)decoder.Consume(data + split, size - split);
  }
  while (decoder.HasMessage()) decoder.Pop();
  return 0;
}
