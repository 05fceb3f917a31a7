// dn-wire-tool: prints what dn_protocol decodes, for the differential tests in
// tests/protocol/ that compare it with Python's msgpack, pickletools, numpy and
// distributed. Not shipped; one subcommand per check.
//
//   dn-wire-tool message FILE...      one JSON line per framed message file
//   dn-wire-tool pickle FILE.pkl...   one JSON line per pickle (buffers FILE.bufN)
//   dn-wire-tool keysplit             stdin: one hex msgpack key per line -> key_split
//   dn-wire-tool ndarray-encode DTYPE SHAPE STRIDES DATAFILE OUTFILE [SHARD [CODEC]]
//   dn-wire-tool scalar-pickle MODULE DTYPE BYTEORDER HEXRAW PROTOCOL
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "protocol/frame/frame_decoder.h"
#include "protocol/frame/frame_encoder.h"
#include "protocol/messages/key.h"
#include "protocol/messages/message_codec.h"
#include "protocol/pickle/pickle_reader.h"
#include "protocol/pickle/pickle_writer.h"
#include "protocol/serialize/ndarray_serializer.h"

namespace dn {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string Hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(2 * s.size());
  for (unsigned char c : s) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

std::string Unhex(std::string_view h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

void JsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

void Canonical(const Value& v, std::string* out);

void CanonicalMap(const Map& m, std::string* out) {
  out->append("{\"map\":[");
  for (size_t i = 0; i < m.size(); ++i) {
    if (i) out->push_back(',');
    out->push_back('[');
    Canonical(m[i].key, out);
    out->push_back(',');
    Canonical(m[i].value, out);
    out->push_back(']');
  }
  out->append("]}");
}

void CanonicalFrames(const std::vector<Buffer>& frames, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i) out->push_back(',');
    JsonString(Hex(frames[i].view()), out);
  }
  out->push_back(']');
}

// The typed JSON form tests/protocol/canonical.py builds from Python's msgpack.
void Canonical(const Value& v, std::string* out) {
  const auto& var = v.variant();
  if (v.is_nil()) {
    out->append("null");
  } else if (const bool* b = std::get_if<bool>(&var)) {
    out->append(*b ? "true" : "false");
  } else if (const int64_t* i = std::get_if<int64_t>(&var)) {
    out->append("{\"int\":\"" + std::to_string(*i) + "\"}");
  } else if (const uint64_t* u = std::get_if<uint64_t>(&var)) {
    out->append("{\"int\":\"" + std::to_string(*u) + "\"}");
  } else if (const double* d = std::get_if<double>(&var)) {
    uint64_t bits;
    std::memcpy(&bits, d, 8);
    char buf[40];
    std::snprintf(buf, sizeof buf, "{\"float\":\"%016" PRIx64 "\"}", bits);
    out->append(buf);
  } else if (const std::string* s = std::get_if<std::string>(&var)) {
    out->append("{\"str\":");
    JsonString(*s, out);
    out->push_back('}');
  } else if (const Bin* bin = std::get_if<Bin>(&var)) {
    out->append("{\"bin\":\"" + Hex(bin->data.view()) + "\"}");
  } else if (const Array* a = std::get_if<Array>(&var)) {
    out->push_back('[');
    for (size_t k = 0; k < a->size(); ++k) {
      if (k) out->push_back(',');
      Canonical((*a)[k], out);
    }
    out->push_back(']');
  } else if (const Map* m = std::get_if<Map>(&var)) {
    CanonicalMap(*m, out);
  } else if (const Set* set = std::get_if<Set>(&var)) {
    out->append("{\"set\":");
    Canonical(Value(set->items), out);
    out->push_back('}');
  } else if (const Serialized* ser = std::get_if<Serialized>(&var)) {
    out->append("{\"serialized\":{\"header\":");
    CanonicalMap(ser->header, out);
    out->append(",\"frames\":");
    CanonicalFrames(ser->frames, out);
    out->append("}}");
  } else if (const Pickled* p = std::get_if<Pickled>(&var)) {
    out->append("{\"pickled\":{\"header\":");
    CanonicalMap(p->header, out);
    out->append(",\"frames\":");
    CanonicalFrames(p->frames, out);
    out->append("}}");
  }
}

int Message(int argc, char** argv) {
  int failures = 0;
  for (int i = 2; i < argc; ++i) {
    std::string wire = ReadAll(argv[i]);
    FrameDecoder d;
    std::string line = "{\"file\":";
    JsonString(argv[i], &line);
    Status st = d.Consume(reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
    if (!st.ok() || !d.HasMessage()) {
      line += ",\"error\":";
      JsonString(st.ok() ? "incomplete message" : st.ToString(), &line);
      std::cout << line << "}\n";
      ++failures;
      continue;
    }
    FramedMessage m = d.Pop();
    auto v = DecodeMessage(m.frames);
    if (!v.ok()) {
      line += ",\"error\":";
      JsonString(v.status().ToString(), &line);
      std::cout << line << "}\n";
      ++failures;
      continue;
    }
    auto frames = EncodeMessage(*v);
    bool same = frames.ok() && EncodeFramedMessage(*frames, m.nosplit_frames) == wire;
    line += ",\"nframes\":" + std::to_string(m.frames.size());
    // Every op of a batch (a single message is a batch of one).
    line += ",\"ops\":[";
    if (const Array* batch = v->array()) {
      for (size_t k = 0; k < batch->size(); ++k) {
        if (k) line += ",";
        JsonString(OpOf((*batch)[k]), &line);
      }
    } else {
      JsonString(OpOf(*v), &line);
    }
    line += "]";
    line += std::string(",\"reencoded_identical\":") + (same ? "true" : "false");
    line += ",\"value\":";
    Canonical(*v, &line);
    std::cout << line << "}\n";
  }
  return failures ? 1 : 0;
}

int PickleCmd(int argc, char** argv) {
  int failures = 0;
  for (int i = 2; i < argc; ++i) {
    std::string path = argv[i];
    Buffer data = Buffer::FromString(ReadAll(path));
    std::vector<Buffer> bufs;
    std::string stem = path.substr(0, path.size() - 4);
    for (int k = 0;; ++k) {
      std::ifstream probe(stem + ".buf" + std::to_string(k));
      if (!probe.good()) break;
      bufs.push_back(Buffer::FromString(ReadAll(stem + ".buf" + std::to_string(k))));
    }
    // Vectors pickled with a buffer_callback whose buffers were not kept (shared
    // pickles/extras/) get empty stand-ins, so NEXT_BUFFER parses.
    if (bufs.empty()) bufs.assign(8, Buffer());
    std::string line = "{\"file\":";
    JsonString(path, &line);
    auto tree = ReadPickle(data, bufs);
    if (!tree.ok()) {
      line += ",\"error\":";
      JsonString(tree.status().ToString(), &line);
      std::cout << line << "}\n";
      ++failures;
      continue;
    }
    auto dump = DumpPickleTree(*tree);
    std::vector<Buffer> oob;
    auto again = WritePickle(*tree, tree->protocol() >= 4 ? tree->protocol() : 5, &oob);
    line += ",\"protocol\":" + std::to_string(tree->protocol());
    line += std::string(",\"rewritten_identical\":") +
            (again.ok() && *again == data.view() ? "true" : "false");
    line += ",\"tree\":";
    JsonString(dump.ok() ? *dump : dump.status().ToString(), &line);
    if (again.ok()) {
      line += ",\"rewritten\":\"" + Hex(*again) + "\"";
    }
    std::cout << line << "}\n";
  }
  return failures ? 1 : 0;
}

int KeySplitCmd() {
  std::string hex;
  while (std::getline(std::cin, hex)) {
    auto v = DecodeMsgpack(Buffer::FromString(Unhex(hex)));
    if (!v.ok()) {
      std::cout << "!" << v.status().ToString() << "\n";
      continue;
    }
    auto key = Key::FromValue(*v);
    std::cout << (key.ok() ? KeySplit(*key) : std::string("Other")) << "\n";
  }
  return 0;
}

std::vector<int64_t> Ints(const std::string& csv) {
  std::vector<int64_t> out;
  std::stringstream ss(csv);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(std::stoll(item));
  }
  return out;
}

int NdarrayEncode(int argc, char** argv) {
  if (argc < 7) return 2;
  NdarrayMeta meta;
  meta.dtype = argv[2];
  meta.shape = Ints(argv[3]);
  meta.strides = Ints(argv[4]);
  Buffer data = Buffer::FromString(ReadAll(argv[5]));
  uint64_t shard = argc > 7 ? std::stoull(argv[7]) : kShardBytes;
  auto s = SerializeNdarray(meta, data, shard);
  if (!s.ok()) {
    std::cerr << s.status().ToString() << "\n";
    return 1;
  }
  if (argc > 8) {
    Status st = CompressSubFrames(argv[8], &s->header, &s->frames);
    if (!st.ok()) {
      std::cerr << st.ToString() << "\n";
      return 1;
    }
  }
  Map msg;
  msg.push_back({Value("op"), Value("x")});
  msg.push_back({Value("data"), Value(*s)});
  auto frames = EncodeMessage(Value(std::move(msg)));
  if (!frames.ok()) return 1;
  std::ofstream(argv[6], std::ios::binary) << EncodeFramedMessage(*frames);
  return 0;
}

int ScalarPickle(int argc, char** argv) {
  if (argc < 7) return 2;
  std::cout << Hex(PickleNumpyScalar(argv[2], argv[3], argv[4], Unhex(argv[5]), std::stoi(argv[6])))
            << "\n";
  return 0;
}

}  // namespace
}  // namespace dn

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: dn-wire-tool message|pickle|keysplit|ndarray-encode|scalar-pickle ...\n";
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "message") return dn::Message(argc, argv);
  if (cmd == "pickle") return dn::PickleCmd(argc, argv);
  if (cmd == "keysplit") return dn::KeySplitCmd();
  if (cmd == "ndarray-encode") return dn::NdarrayEncode(argc, argv);
  if (cmd == "scalar-pickle") return dn::ScalarPickle(argc, argv);
  std::cerr << "unknown subcommand " << cmd << "\n";
  return 2;
}
