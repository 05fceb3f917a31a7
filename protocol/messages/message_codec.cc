#include "protocol/messages/message_codec.h"

#include <string>

#include "protocol/pickle/pickle_writer.h"

namespace dn {

namespace {

Result<Value> ResolvePlaceholder(std::span<const Buffer> frames, const MessageLimits& limits,
                                 bool serialized, uint64_t k) {
  const char* what = serialized ? "__Serialized__" : "__Pickled__";
  if (k >= frames.size()) {
    return Status::ProtocolError(std::string(what) + " points at frame " + std::to_string(k) +
                                 " of " + std::to_string(frames.size()));
  }
  // Serialized sub-headers go through msgpack_decode_default (sets); pickled ones
  // through plain msgpack.loads.
  DN_ASSIGN_OR_RETURN(
      Value header,
      DecodeMsgpack(frames[k], serialized ? MapConvention::kSets : MapConvention::kPlain,
                    limits.msgpack));
  Map* map = header.map();
  if (map == nullptr) return Status::ProtocolError(std::string(what) + " sub-header is not a map");
  const Value* nsub = FindKey(*map, "num-sub-frames");
  const int64_t* n = nsub ? nsub->get_if<int64_t>() : nullptr;
  if (n == nullptr || *n < 0) {
    return Status::ProtocolError(std::string(what) + " sub-header lacks num-sub-frames");
  }
  if (static_cast<uint64_t>(*n) > frames.size() - k - 1) {
    return Status::ProtocolError(std::string(what) + " claims " + std::to_string(*n) +
                                 " sub-frames past the end of the message");
  }
  std::vector<Buffer> sub(frames.begin() + k + 1, frames.begin() + k + 1 + *n);
  if (serialized) return Value(Serialized{std::move(*map), std::move(sub)});
  const Value* obj = FindKey(*map, "pickled-obj");
  if (obj == nullptr || !obj->is<Bin>()) {
    return Status::ProtocolError("__Pickled__ sub-header lacks a pickled-obj bin");
  }
  return Value(Pickled{std::move(*map), std::move(sub)});
}

// Re-emit a sub-header the way create_serialized_sub_frames does: same keys in the same
// order, with num-sub-frames overwritten in place (or appended if missing).
Status EncodeSubHeader(const Map& header, size_t nframes, std::string* out) {
  Map copy = header;
  if (Value* n = FindKey(copy, "num-sub-frames")) {
    *n = Value(static_cast<uint64_t>(nframes));
  } else {
    copy.push_back(MapEntry{Value("num-sub-frames"), Value(static_cast<uint64_t>(nframes))});
  }
  return EncodeMsgpack(Value(std::move(copy)), out);
}

}  // namespace

Result<Value> DecodeMessage(std::span<const Buffer> frames, const MessageLimits& limits) {
  if (frames.empty()) return Status::ProtocolError("message with no frames");
  PlaceholderResolver resolver = [&](bool serialized, uint64_t k) {
    return ResolvePlaceholder(frames, limits, serialized, k);
  };
  return DecodeMsgpack(frames[0], MapConvention::kSets, limits.msgpack, &resolver);
}

Result<std::vector<Buffer>> EncodeMessage(const Value& message) {
  std::vector<Buffer> frames(1);
  FrameAppender appender = [&](const Value& v) -> Result<uint64_t> {
    const Map* header;
    const std::vector<Buffer>* sub;
    if (const Serialized* s = v.get_if<Serialized>()) {
      header = &s->header;
      sub = &s->frames;
    } else {
      const Pickled* p = v.get_if<Pickled>();
      header = &p->header;
      sub = &p->frames;
    }
    uint64_t index = frames.size();
    std::string bytes;
    DN_RETURN_NOT_OK(EncodeSubHeader(*header, sub->size(), &bytes));
    frames.push_back(Buffer::FromString(std::move(bytes)));
    frames.insert(frames.end(), sub->begin(), sub->end());
    return index;
  };
  std::string frame0;
  DN_RETURN_NOT_OK(EncodeMsgpack(message, &frame0, &appender));
  frames[0] = Buffer::FromString(std::move(frame0));
  return frames;
}

Result<std::vector<Buffer>> DecompressSubFrames(const Map& header, std::span<const Buffer> frames,
                                                const MessageLimits& limits) {
  std::vector<Buffer> out(frames.begin(), frames.end());
  const Value* comp = FindKey(header, "compression");
  if (comp == nullptr || comp->is_nil()) return out;
  const Array* codecs = comp->array();
  if (codecs == nullptr) return Status::ProtocolError("compression is not an array");
  // Python zips the two lists, so a shorter compression list leaves the rest raw.
  for (size_t i = 0; i < codecs->size() && i < out.size(); ++i) {
    const Value& c = (*codecs)[i];
    if (c.is_nil()) continue;
    const std::string* name = c.str();
    if (name == nullptr) return Status::ProtocolError("compression entry is not a str");
    DN_ASSIGN_OR_RETURN(out[i], Decompress(*name, out[i], limits.max_decompressed_bytes));
  }
  return out;
}

Status CompressSubFrames(std::string_view codec, Map* header, std::vector<Buffer>* frames) {
  Array codecs;
  codecs.reserve(frames->size());
  for (Buffer& f : *frames) {
    if (f.size() < 10000 || f.size() > (uint64_t{1} << 31)) {
      codecs.emplace_back();
      continue;
    }
    DN_ASSIGN_OR_RETURN(Buffer c, Compress(codec, f));
    if (static_cast<double>(c.size()) <= 0.7 * static_cast<double>(f.size())) {
      f = std::move(c);
      codecs.emplace_back(std::string(codec));
    } else {
      codecs.emplace_back();
    }
  }
  if (Value* existing = FindKey(*header, "compression")) {
    *existing = Value(std::move(codecs));
  } else {
    header->push_back(MapEntry{Value("compression"), Value(std::move(codecs))});
  }
  return Status::OK();
}

Value ErrorMessage(std::string_view text, std::string_view status) {
  return Value(Map{{Value("status"), Value(status)},
                   {Value("exception"), Value(text)},
                   {Value("traceback"), Value()},
                   {Value("exception_text"), Value(text)},
                   {Value("traceback_text"), Value("")}});
}

Value TypedErrorMessage(std::string_view type, std::string_view text, std::string_view status) {
  std::string shown = std::string(type) + ": " + std::string(text);
  return Value(
      Map{{Value("status"), Value(status)},
          {Value("exception"), Value(Bin{Buffer::FromString(PickleBuiltinException(type, text))})},
          {Value("traceback"), Value()},
          {Value("exception_text"), Value(shown)},
          {Value("traceback_text"), Value("")}});
}

std::string_view OpOf(const Value& message) {
  const Value* op = message.Find("op");
  const std::string* s = op ? op->str() : nullptr;
  return s ? std::string_view(*s) : std::string_view();
}

}  // namespace dn
