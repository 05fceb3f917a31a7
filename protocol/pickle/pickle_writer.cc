#include "protocol/pickle/pickle_writer.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "common/escape.h"
#include "protocol/pickle/pickle_opcodes.h"

namespace dn {

namespace {

namespace op = pickle_op;

constexpr size_t kFrameSizeTarget = 64 * 1024;  // CPython's FRAME_SIZE_TARGET
constexpr size_t kFrameSizeMin = 4;             // smaller frames get no FRAME opcode
constexpr size_t kFrameHeaderSize = 9;
constexpr size_t kBatchSize = 1000;  // CPython's BATCHSIZE
constexpr int kMaxDepth = 5000;

// Mirrors Modules/_pickle.c: save_* functions, batch_* helpers and the framing in
// _Pickler_Write / _Pickler_CommitFrame / _Pickler_OpcodeBoundary.
class Writer {
 public:
  Writer(const PickleTree& tree, int protocol, std::vector<Buffer>* oob)
      : tree_(tree), protocol_(protocol), oob_(oob) {}

  Result<std::string> Run() {
    if (protocol_ < 4 || protocol_ > 5) return Status::Invalid("writer supports protocols 4 and 5");
    if (tree_.root() == kNoNode) return Status::Invalid("pickle tree has no root");
    uint8_t proto[2] = {op::kProto, static_cast<uint8_t>(protocol_)};
    Write(proto, 2);
    framing_ = true;
    DN_RETURN_NOT_OK(Save(tree_.root(), 0));
    WriteOp(op::kStop);
    CommitFrame();
    return std::move(out_);
  }

 private:
  // --- output and framing --------------------------------------------------------
  void Write(const void* p, size_t n) {
    if (framing_ && frame_start_ < 0) {
      frame_start_ = static_cast<ptrdiff_t>(out_.size());
      out_.append(kFrameHeaderSize, '\0');
    }
    out_.append(static_cast<const char*>(p), n);
  }
  void WriteOp(uint8_t code) { Write(&code, 1); }
  template <typename T>
  void WriteOpLE(uint8_t code, T v) {
    char buf[1 + sizeof(T)];
    buf[0] = static_cast<char>(code);
    std::memcpy(buf + 1, &v, sizeof(T));
    Write(buf, sizeof buf);
  }
  void CommitFrame() {
    if (frame_start_ < 0) return;
    size_t len = out_.size() - frame_start_ - kFrameHeaderSize;
    if (len >= kFrameSizeMin) {
      out_[frame_start_] = static_cast<char>(op::kFrame);
      uint64_t l = len;
      std::memcpy(&out_[frame_start_ + 1], &l, 8);
    } else {
      out_.erase(frame_start_, kFrameHeaderSize);
    }
    frame_start_ = -1;
  }
  void OpcodeBoundary() {
    if (framing_ && frame_start_ >= 0 &&
        out_.size() - frame_start_ - kFrameHeaderSize >= kFrameSizeTarget) {
      CommitFrame();
    }
  }
  // _Pickler_write_bytes: payloads of a frame's size or more go outside any frame.
  void WriteWithPayload(const char* header, size_t header_size, const Buffer& payload) {
    bool bypass = payload.size() >= kFrameSizeTarget;
    bool framing = framing_;
    if (bypass) {
      CommitFrame();
      framing_ = false;
    }
    Write(header, header_size);
    Write(payload.data(), payload.size());
    framing_ = framing;
  }

  // --- memo ----------------------------------------------------------------------
  void MemoPut(NodeId id) {
    memo_[id] = memo_count_++;
    WriteOp(op::kMemoize);
  }
  void WriteGet(uint32_t index) {
    if (index < 256) {
      uint8_t buf[2] = {op::kBinGet, static_cast<uint8_t>(index)};
      Write(buf, 2);
    } else {
      WriteOpLE<uint32_t>(op::kLongBinGet, index);
    }
  }

  // --- save ----------------------------------------------------------------------
  Status Save(NodeId id, int depth) {
    OpcodeBoundary();
    if (depth > kMaxDepth) return Status::Invalid("pickle tree nested too deeply to write");
    if (id >= tree_.size()) return Status::Invalid("dangling node id");
    if (auto it = memo_.find(id); it != memo_.end()) {
      WriteGet(it->second);
      return Status::OK();
    }
    const PickleNode& n = tree_.node(id);
    if (in_progress_.count(id)) {
      return Status::Invalid("recursive " + std::string(ToString(n.kind)) + " cannot be written");
    }
    in_progress_.insert(id);
    Status st = SaveNode(id, n, depth);
    in_progress_.erase(id);
    DN_RETURN_NOT_OK(st);
    bool reduce_like = n.kind == PickleKind::kReduce || n.kind == PickleKind::kNewObj ||
                       n.kind == PickleKind::kNewObjEx;
    if (n.state != kNoNode && !reduce_like) {  // SaveReduce writes its own BUILD
      DN_RETURN_NOT_OK(Save(n.state, depth + 1));
      WriteOp(op::kBuild);
    }
    for (NodeId effect : n.effects) {
      DN_RETURN_NOT_OK(Save(effect, depth + 1));
      WriteOp(op::kPop);
    }
    return Status::OK();
  }

  Status SaveNode(NodeId id, const PickleNode& n, int depth) {
    switch (n.kind) {
      case PickleKind::kNone: WriteOp(op::kNone); return Status::OK();
      case PickleKind::kBool: WriteOp(n.flag ? op::kNewTrue : op::kNewFalse); return Status::OK();
      case PickleKind::kInt: SaveInt(n.int_value); break;
      case PickleKind::kLong: {
        const Buffer& b = n.data;
        if (b.size() < 256) {
          uint8_t hdr[2] = {op::kLong1, static_cast<uint8_t>(b.size())};
          Write(hdr, 2);
          Write(b.data(), b.size());
        } else {
          WriteOpLE<int32_t>(op::kLong4, static_cast<int32_t>(b.size()));
          Write(b.data(), b.size());
        }
        break;
      }
      case PickleKind::kFloat: {
        uint64_t bits;
        std::memcpy(&bits, &n.float_value, 8);
        WriteOpLE<uint64_t>(op::kBinFloat, __builtin_bswap64(bits));
        break;
      }
      case PickleKind::kStr:
        SaveSized(n.data, op::kShortBinUnicode, op::kBinUnicode, op::kBinUnicode8);
        break;
      case PickleKind::kBytes:
        SaveSized(n.data, op::kShortBinBytes, op::kBinBytes, op::kBinBytes8);
        break;
      case PickleKind::kByteArray: {
        if (protocol_ < 5) return Status::Invalid("bytearray nodes need protocol 5");
        char hdr[9];
        hdr[0] = static_cast<char>(op::kByteArray8);
        uint64_t len = n.data.size();
        std::memcpy(hdr + 1, &len, 8);
        WriteWithPayload(hdr, 9, n.data);
        break;
      }
      case PickleKind::kTuple: return SaveTuple(id, n, depth);
      case PickleKind::kList:
        WriteOp(op::kEmptyList);
        MaybeMemo(id, n);
        if (n.items.size() == 1) {
          DN_RETURN_NOT_OK(Save(n.items[0], depth + 1));
          WriteOp(op::kAppend);
        } else if (!n.items.empty()) {
          // batch_list_exact: MARK ... APPENDS per 1000, no trailing empty batch.
          size_t total = 0;
          while (total < n.items.size()) {
            WriteOp(op::kMark);
            for (size_t b = 0; b < kBatchSize && total < n.items.size(); ++b) {
              DN_RETURN_NOT_OK(Save(n.items[total++], depth + 1));
            }
            WriteOp(op::kAppends);
          }
        }
        return Status::OK();
      case PickleKind::kDict:
        WriteOp(op::kEmptyDict);
        MaybeMemo(id, n);
        return SaveDictItemsExact(n.items, depth);
      case PickleKind::kSet: {
        WriteOp(op::kEmptySet);
        MaybeMemo(id, n);
        if (n.items.empty()) return Status::OK();
        // save_set: the loop repeats while a batch came out full, so a multiple of
        // 1000 items ends with an empty MARK ADDITEMS, exactly as CPython writes it.
        size_t i = 0, total = 0;
        do {
          i = 0;
          WriteOp(op::kMark);
          while (total < n.items.size()) {
            DN_RETURN_NOT_OK(Save(n.items[total++], depth + 1));
            if (++i == kBatchSize) break;
          }
          WriteOp(op::kAddItems);
        } while (i == kBatchSize);
        return Status::OK();
      }
      case PickleKind::kFrozenSet:
        WriteOp(op::kMark);
        for (NodeId item : n.items) DN_RETURN_NOT_OK(Save(item, depth + 1));
        if (memo_.count(id)) {  // became memoized through a recursive reference
          WriteOp(op::kPopMark);
          WriteGet(memo_[id]);
          return Status::OK();
        }
        WriteOp(op::kFrozenSet);
        break;
      case PickleKind::kGlobal:
        if (n.items.size() == 2) {
          DN_RETURN_NOT_OK(Save(n.items[0], depth + 1));
          DN_RETURN_NOT_OK(Save(n.items[1], depth + 1));
        } else {
          // A protocol <= 3 GLOBAL: write its names as CPython would save two new strs.
          SaveSized(Buffer::CopyFrom(tree_.global_module(id)), op::kShortBinUnicode,
                    op::kBinUnicode, op::kBinUnicode8);
          MemoPutAnonymous();
          SaveSized(Buffer::CopyFrom(tree_.global_name(id)), op::kShortBinUnicode, op::kBinUnicode,
                    op::kBinUnicode8);
          MemoPutAnonymous();
        }
        WriteOp(op::kStackGlobal);
        break;
      case PickleKind::kReduce:
      case PickleKind::kNewObj:
      case PickleKind::kNewObjEx: return SaveReduce(id, n, depth);
      case PickleKind::kBuffer: {
        if (protocol_ < 5 || oob_ == nullptr) {
          return Status::Invalid("out-of-band buffers need protocol 5 and a buffer list");
        }
        size_t index = static_cast<size_t>(n.int_value);
        if (index >= tree_.buffers().size()) return Status::Invalid("buffer index out of range");
        oob_->push_back(tree_.buffers()[index]);
        WriteOp(op::kNextBuffer);
        if (n.flag) WriteOp(op::kReadOnlyBuffer);
        return Status::OK();
      }
    }
    MaybeMemo(id, n);
    return Status::OK();
  }

  void MaybeMemo(NodeId id, const PickleNode& n) {
    if (n.memoized) MemoPut(id);
  }
  // A memo entry for an object that has no node (the names of a GLOBAL-form node).
  void MemoPutAnonymous() {
    memo_count_++;
    WriteOp(op::kMemoize);
  }

  void SaveInt(int64_t v) {
    if (v >= 0 && v <= 0xff) {
      uint8_t b[2] = {op::kBinInt1, static_cast<uint8_t>(v)};
      Write(b, 2);
    } else if (v >= 0 && v <= 0xffff) {
      WriteOpLE<uint16_t>(op::kBinInt2, static_cast<uint16_t>(v));
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      WriteOpLE<int32_t>(op::kBinInt, static_cast<int32_t>(v));
    } else {
      // LONG1 with the minimal two's complement little-endian bytes (encode_long).
      uint8_t bytes[8];
      uint64_t u = static_cast<uint64_t>(v);
      std::memcpy(bytes, &u, 8);
      int n = 8;
      while (n > 1) {
        uint8_t top = bytes[n - 1], next = bytes[n - 2];
        if ((top == 0x00 && !(next & 0x80)) || (top == 0xff && (next & 0x80))) {
          --n;
        } else {
          break;
        }
      }
      uint8_t hdr[2] = {op::kLong1, static_cast<uint8_t>(n)};
      Write(hdr, 2);
      Write(bytes, n);
    }
  }

  void SaveSized(const Buffer& data, uint8_t short_op, uint8_t op4, uint8_t op8) {
    char hdr[9];
    size_t hsize;
    uint64_t len = data.size();
    if (len < 256) {
      hdr[0] = static_cast<char>(short_op);
      hdr[1] = static_cast<char>(len);
      hsize = 2;
    } else if (len <= 0xffffffffu) {
      hdr[0] = static_cast<char>(op4);
      uint32_t l = static_cast<uint32_t>(len);
      std::memcpy(hdr + 1, &l, 4);
      hsize = 5;
    } else {
      hdr[0] = static_cast<char>(op8);
      std::memcpy(hdr + 1, &len, 8);
      hsize = 9;
    }
    WriteWithPayload(hdr, hsize, data);
  }

  Status SaveTuple(NodeId id, const PickleNode& n, int depth) {
    size_t len = n.items.size();
    if (len == 0) {
      WriteOp(op::kEmptyTuple);
      return Status::OK();
    }
    if (len > 3) WriteOp(op::kMark);
    for (NodeId item : n.items) DN_RETURN_NOT_OK(Save(item, depth + 1));
    static constexpr uint8_t kSmall[4] = {0, op::kTuple1, op::kTuple2, op::kTuple3};
    WriteOp(len <= 3 ? kSmall[len] : op::kTuple);
    MaybeMemo(id, n);
    return Status::OK();
  }

  // batch_dict_exact: one pair is a SETITEM; otherwise MARK ... SETITEMS per 1000
  // pairs, repeating while a batch came out full (so 1000 pairs end with an empty one).
  Status SaveDictItemsExact(const std::vector<NodeId>& kv, int depth) {
    size_t pairs = kv.size() / 2;
    if (pairs == 0) return Status::OK();
    if (pairs == 1) {
      DN_RETURN_NOT_OK(Save(kv[0], depth + 1));
      DN_RETURN_NOT_OK(Save(kv[1], depth + 1));
      WriteOp(op::kSetItem);
      return Status::OK();
    }
    size_t i = 0, p = 0;
    do {
      i = 0;
      WriteOp(op::kMark);
      while (p < pairs) {
        DN_RETURN_NOT_OK(Save(kv[2 * p], depth + 1));
        DN_RETURN_NOT_OK(Save(kv[2 * p + 1], depth + 1));
        ++p;
        if (++i == kBatchSize) break;
      }
      WriteOp(op::kSetItems);
    } while (i == kBatchSize);
    return Status::OK();
  }

  // batch_list / batch_dict over iterators (save_reduce's listitems / dictitems): a
  // batch holding a single element uses APPEND / SETITEM.
  Status SaveItemsGeneric(const std::vector<NodeId>& items, size_t stride, uint8_t one_op,
                          uint8_t many_op, int depth) {
    size_t count = items.size() / stride, next = 0;
    while (next < count) {
      size_t batch = std::min(kBatchSize, count - next);
      if (batch == 1) {
        for (size_t s = 0; s < stride; ++s)
          DN_RETURN_NOT_OK(Save(items[next * stride + s], depth + 1));
        WriteOp(one_op);
        return Status::OK();
      }
      WriteOp(op::kMark);
      for (size_t b = 0; b < batch; ++b, ++next) {
        for (size_t s = 0; s < stride; ++s)
          DN_RETURN_NOT_OK(Save(items[next * stride + s], depth + 1));
      }
      WriteOp(many_op);
      if (batch < kBatchSize) break;
    }
    return Status::OK();
  }

  Status SaveReduce(NodeId id, const PickleNode& n, int depth) {
    for (NodeId item : n.items) DN_RETURN_NOT_OK(Save(item, depth + 1));
    WriteOp(n.kind == PickleKind::kReduce   ? op::kReduce
            : n.kind == PickleKind::kNewObj ? op::kNewObj
                                            : op::kNewObjEx);
    MaybeMemo(id, n);
    if (!n.list_items.empty()) {
      DN_RETURN_NOT_OK(SaveItemsGeneric(n.list_items, 1, op::kAppend, op::kAppends, depth));
    }
    if (!n.dict_items.empty()) {
      DN_RETURN_NOT_OK(SaveItemsGeneric(n.dict_items, 2, op::kSetItem, op::kSetItems, depth));
    }
    if (n.state != kNoNode) {
      DN_RETURN_NOT_OK(Save(n.state, depth + 1));
      WriteOp(op::kBuild);
    }
    return Status::OK();
  }

  const PickleTree& tree_;
  int protocol_;
  std::vector<Buffer>* oob_;
  std::string out_;
  bool framing_ = false;
  ptrdiff_t frame_start_ = -1;
  std::unordered_map<NodeId, uint32_t> memo_;
  struct InProgress {
    std::vector<bool> bits;
    size_t count(NodeId id) const { return id < bits.size() && bits[id] ? 1 : 0; }
    void insert(NodeId id) {
      if (id >= bits.size()) bits.resize(id + 1);
      bits[id] = true;
    }
    void erase(NodeId id) { bits[id] = false; }
  } in_progress_;
  uint32_t memo_count_ = 0;
};

// --- canonical dump -------------------------------------------------------------

class Dumper {
 public:
  explicit Dumper(const PickleTree& tree) : tree_(tree), on_path_(tree.size(), false) {}

  Status Dump(NodeId id, int depth, std::string* out) {
    if (depth > kMaxDepth) return Status::Invalid("pickle tree nested too deeply to dump");
    if (id >= tree_.size()) return Status::Invalid("dangling node id");
    if (on_path_[id]) {
      out->append("<cycle>");
      return Status::OK();
    }
    on_path_[id] = true;
    Status st = DumpNode(id, depth, out);
    if (st.ok()) st = DumpAfter(tree_.node(id), depth, out);
    on_path_[id] = false;
    return st;
  }

 private:
  Status List(const std::vector<NodeId>& items, const char* open, const char* close, int depth,
              std::string* out) {
    out->append(open);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out->append(", ");
      DN_RETURN_NOT_OK(Dump(items[i], depth + 1, out));
    }
    out->append(close);
    return Status::OK();
  }
  Status Pairs(const std::vector<NodeId>& kv, int depth, std::string* out) {
    out->push_back('{');
    for (size_t i = 0; i + 1 < kv.size(); i += 2) {
      if (i) out->append(", ");
      DN_RETURN_NOT_OK(Dump(kv[i], depth + 1, out));
      out->append(": ");
      DN_RETURN_NOT_OK(Dump(kv[i + 1], depth + 1, out));
    }
    out->push_back('}');
    return Status::OK();
  }

  Status DumpNode(NodeId id, int depth, std::string* out) {
    const PickleNode& n = tree_.node(id);
    char buf[64];
    switch (n.kind) {
      case PickleKind::kNone: out->append("None"); return Status::OK();
      case PickleKind::kBool: out->append(n.flag ? "True" : "False"); return Status::OK();
      case PickleKind::kInt: out->append(std::to_string(n.int_value)); return Status::OK();
      case PickleKind::kLong: {
        out->append("long:");
        for (size_t i = 0; i < n.data.size(); ++i) {
          std::snprintf(buf, sizeof buf, "%02x", n.data.data()[i]);
          out->append(buf);
        }
        return Status::OK();
      }
      case PickleKind::kFloat: {
        uint64_t bits;
        std::memcpy(&bits, &n.float_value, 8);
        std::snprintf(buf, sizeof buf, "float:%016llx", static_cast<unsigned long long>(bits));
        out->append(buf);
        return Status::OK();
      }
      case PickleKind::kStr: AppendQuotedBytes(n.data.view(), out); return Status::OK();
      case PickleKind::kBytes:
        out->push_back('b');
        AppendQuotedBytes(n.data.view(), out);
        return Status::OK();
      case PickleKind::kByteArray:
        out->append("bytearray(b");
        AppendQuotedBytes(n.data.view(), out);
        out->push_back(')');
        return Status::OK();
      case PickleKind::kTuple: return List(n.items, "(", ")", depth, out);
      case PickleKind::kList: return List(n.items, "[", "]", depth, out);
      case PickleKind::kDict: return Pairs(n.items, depth, out);
      case PickleKind::kSet: return List(n.items, "set{", "}", depth, out);
      case PickleKind::kFrozenSet: return List(n.items, "frozenset{", "}", depth, out);
      case PickleKind::kGlobal:
        out->append("global(");
        out->append(tree_.global_module(id));
        out->append(", ");
        out->append(tree_.global_name(id));
        out->push_back(')');
        return Status::OK();
      case PickleKind::kBuffer:
        std::snprintf(buf, sizeof buf, "buffer(%lld, %s, %zu)", static_cast<long long>(n.int_value),
                      n.flag ? "ro" : "rw",
                      static_cast<size_t>(n.int_value) < tree_.buffers().size()
                          ? tree_.buffers()[n.int_value].size()
                          : size_t{0});
        out->append(buf);
        return Status::OK();
      case PickleKind::kReduce:
      case PickleKind::kNewObj:
      case PickleKind::kNewObjEx: {
        out->append(ToString(n.kind));
        DN_RETURN_NOT_OK(List(n.items, "(", ")", depth, out));
        if (!n.list_items.empty()) {
          out->append(" append");
          DN_RETURN_NOT_OK(List(n.list_items, "[", "]", depth, out));
        }
        if (!n.dict_items.empty()) {
          out->append(" setitems");
          DN_RETURN_NOT_OK(Pairs(n.dict_items, depth, out));
        }
        return Status::OK();
      }
    }
    return Status::OK();
  }

  // BUILD and discarded calls can follow any object, so they print after any kind.
  Status DumpAfter(const PickleNode& n, int depth, std::string* out) {
    if (n.state != kNoNode) {
      out->append(" state=");
      DN_RETURN_NOT_OK(Dump(n.state, depth + 1, out));
    }
    if (!n.effects.empty()) {
      out->append(" effects");
      DN_RETURN_NOT_OK(List(n.effects, "[", "]", depth, out));
    }
    return Status::OK();
  }

  const PickleTree& tree_;
  std::vector<bool> on_path_;
};

}  // namespace

Result<std::string> WritePickle(const PickleTree& tree, int protocol,
                                std::vector<Buffer>* out_of_band) {
  Writer w(tree, protocol, out_of_band);
  return w.Run();
}

std::string PickleGlobalRef(std::string_view module, std::string_view name, int protocol) {
  PickleTree t;
  t.set_root(t.AddGlobal(module, name));
  return WritePickle(t, protocol).ValueOrDie();
}

std::string PickleBuiltinException(std::string_view name, std::string_view message, int protocol) {
  PickleTree t;
  NodeId cls = t.AddGlobal("builtins", name);
  t.set_root(t.AddReduce(cls, t.AddTuple({t.AddStr(message)})));
  return WritePickle(t, protocol).ValueOrDie();
}

std::string PickleNumpyScalar(std::string_view multiarray_module, std::string_view dtype_name,
                              std::string_view byteorder, std::string_view raw, int protocol) {
  PickleTree t;
  NodeId scalar = t.AddGlobal(multiarray_module, "scalar");
  NodeId dtype_cls = t.AddGlobal("numpy", "dtype");
  NodeId dtype_args = t.AddTuple({t.AddStr(dtype_name), t.AddBool(false), t.AddBool(true)});
  NodeId none = t.AddNone();
  NodeId state = t.AddTuple({t.AddInt(3), t.AddStr(byteorder), none, none, none, t.AddInt(-1),
                             t.AddInt(-1), t.AddInt(0)});
  NodeId dtype = t.AddReduce(dtype_cls, dtype_args, state);
  NodeId args = t.AddTuple({dtype, t.AddBytes(raw)});
  t.set_root(t.AddReduce(scalar, args));
  return WritePickle(t, protocol).ValueOrDie();
}

Result<std::string> DumpPickleTree(const PickleTree& tree) {
  if (tree.root() == kNoNode) return Status::Invalid("pickle tree has no root");
  Dumper d(tree);
  std::string out;
  DN_RETURN_NOT_OK(d.Dump(tree.root(), 0, &out));
  return out;
}

}  // namespace dn
