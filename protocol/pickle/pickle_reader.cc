#include "protocol/pickle/pickle_reader.h"

#include <bit>
#include <cstring>
#include <string>

#include "protocol/msgpack/msgpack_codec.h"
#include "protocol/pickle/pickle_opcodes.h"

namespace dn {

namespace {

namespace op = pickle_op;

// Mirrors the stack machine of CPython's Modules/_pickle.c (load_* functions), but
// every construction step records a node instead of calling anything.
class Reader {
 public:
  Reader(const Buffer& data, std::span<const Buffer> buffers, const PickleLimits& limits)
      : data_(data), buffers_(buffers), limits_(limits) {}

  Result<PickleTree> Run() {
    nodes_hint_ = std::min<size_t>(data_.size() / 4 + 8, limits_.max_nodes);
    tree_.Reserve(nodes_hint_);
    while (true) {
      if (pos_ >= data_.size()) return Error("pickle ends without STOP");
      size_t at = pos_;
      uint8_t code = data_.data()[pos_++];
      if (code == op::kStop) {
        DN_ASSIGN_OR_RETURN(NodeId root, Pop());
        tree_.set_root(root);
        return std::move(tree_);
      }
      Status st = Step(code);
      if (!st.ok()) {
        return st.WithContext("pickle opcode 0x" + Hex(code) + " at byte " + std::to_string(at));
      }
    }
  }

 private:
  static std::string Hex(uint8_t c) {
    static const char* d = "0123456789abcdef";
    return {d[c >> 4], d[c & 15]};
  }
  Status Error(std::string msg) const { return Status::ProtocolError(std::move(msg)); }

  // --- input ---------------------------------------------------------------------
  Status Need(uint64_t n) const {
    if (n > data_.size() - pos_) return Error("truncated pickle");
    return Status::OK();
  }
  template <typename T>
  Result<T> ReadLE() {
    DN_RETURN_NOT_OK(Need(sizeof(T)));
    T v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  Result<Buffer> ReadBytes(uint64_t n) {
    DN_RETURN_NOT_OK(Need(n));
    Buffer b = data_.Slice(pos_, n);
    pos_ += n;
    return b;
  }
  Result<std::string_view> ReadLine() {
    const uint8_t* start = data_.data() + pos_;
    const void* nl = std::memchr(start, '\n', data_.size() - pos_);
    if (nl == nullptr) return Error("unterminated text argument");
    size_t len = static_cast<const uint8_t*>(nl) - start;
    pos_ += len + 1;
    return std::string_view(reinterpret_cast<const char*>(start), len);
  }

  // --- stack ---------------------------------------------------------------------
  size_t StackFloor() const { return marks_.empty() ? 0 : marks_.back(); }
  Status Push(NodeId id) {
    stack_.push_back(id);
    return Status::OK();
  }
  Result<NodeId> NewNode(PickleNode n) {
    if (tree_.size() >= limits_.max_nodes) {
      return Status::OutOfMemory("pickle creates more than " + std::to_string(limits_.max_nodes) +
                                 " objects");
    }
    return tree_.Add(std::move(n));
  }
  Status PushNew(PickleNode n) {
    DN_ASSIGN_OR_RETURN(NodeId id, NewNode(std::move(n)));
    return Push(id);
  }
  Result<NodeId> Pop() {
    if (stack_.size() <= StackFloor()) return Error("stack underflow");
    NodeId id = stack_.back();
    stack_.pop_back();
    return id;
  }
  Result<NodeId> Top() const {
    if (stack_.size() <= StackFloor()) return Error("stack underflow");
    return stack_.back();
  }
  Result<std::vector<NodeId>> PopMark() {
    if (marks_.empty()) return Error("no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<NodeId> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }

  static PickleNode Make(PickleKind kind) {
    PickleNode n;
    n.kind = kind;
    return n;
  }
  Status PushInt(int64_t v) {
    PickleNode n = Make(PickleKind::kInt);
    n.int_value = v;
    return PushNew(std::move(n));
  }
  Status PushData(PickleKind kind, uint64_t len) {
    DN_ASSIGN_OR_RETURN(Buffer b, ReadBytes(len));
    if (kind == PickleKind::kStr && !IsValidUtf8Surrogatepass(b.view())) {
      return Error("str is not valid UTF-8");
    }
    PickleNode n = Make(kind);
    n.data = std::move(b);
    return PushNew(std::move(n));
  }
  static bool IsValidUtf8Surrogatepass(std::string_view s) {
    // pickle decodes with errors="surrogatepass": lone surrogates are allowed. Replace
    // each encoded surrogate (ED A0..BF xx) before the strict check.
    if (s.find('\xed') == std::string_view::npos) return IsValidUtf8(s);
    std::string copy(s);
    for (size_t i = 0; i + 2 < copy.size(); ++i) {
      if (static_cast<uint8_t>(copy[i]) == 0xed &&
          (static_cast<uint8_t>(copy[i + 1]) & 0xe0) == 0xa0) {
        copy[i + 1] = static_cast<char>(0x80 | (copy[i + 1] & 0x1f));
      }
    }
    return IsValidUtf8(copy);
  }
  Status PushLong(uint64_t len) {
    DN_ASSIGN_OR_RETURN(Buffer b, ReadBytes(len));
    if (len == 0) return PushInt(0);
    if (len <= 8) {
      uint64_t u = 0;
      for (size_t i = 0; i < len; ++i) u |= uint64_t{b.data()[i]} << (8 * i);
      if (len < 8 && (b.data()[len - 1] & 0x80)) u |= ~uint64_t{0} << (8 * len);  // sign-extend
      return PushInt(static_cast<int64_t>(u));
    }
    PickleNode n = Make(PickleKind::kLong);
    n.data = std::move(b);
    return PushNew(std::move(n));
  }
  Status PushSeq(PickleKind kind, std::vector<NodeId> items) {
    PickleNode n = Make(kind);
    n.items = std::move(items);
    return PushNew(std::move(n));
  }
  // The memo is a vector indexed like CPython's (MEMOIZE appends; BINPUT may name any
  // index below the limit, as _Unpickler_MemoPut grows its table).
  Status Memoize(uint64_t index) {
    DN_ASSIGN_OR_RETURN(NodeId top, Top());
    if (index >= limits_.max_memo) {
      return Status::OutOfMemory("pickle memo index " + std::to_string(index) + " over the limit " +
                                 std::to_string(limits_.max_memo));
    }
    if (index >= memo_.size()) memo_.resize(index + 1, kNoNode);
    if (memo_[index] == kNoNode) ++memo_count_;
    memo_[index] = top;
    tree_.mutable_node(top).memoized = true;
    return Status::OK();
  }
  Status Get(uint64_t index) {
    if (index >= memo_.size() || memo_[index] == kNoNode) {
      return Error("memo key " + std::to_string(index) + " not found");
    }
    return Push(memo_[index]);
  }
  Status Append(NodeId target, std::span<const NodeId> items) {
    PickleNode& t = tree_.mutable_node(target);
    if (t.kind == PickleKind::kList) {
      t.items.insert(t.items.end(), items.begin(), items.end());
    } else if (t.kind == PickleKind::kReduce || t.kind == PickleKind::kNewObj ||
               t.kind == PickleKind::kNewObjEx) {
      t.list_items.insert(t.list_items.end(), items.begin(), items.end());
    } else {
      return Error("APPEND to a " + std::string(ToString(t.kind)));
    }
    return Status::OK();
  }
  Status SetItems(NodeId target, std::span<const NodeId> kv) {
    if (kv.size() % 2) return Error("odd number of items for SETITEMS");
    PickleNode& t = tree_.mutable_node(target);
    if (t.kind == PickleKind::kDict) {
      t.items.insert(t.items.end(), kv.begin(), kv.end());
    } else if (t.kind == PickleKind::kReduce || t.kind == PickleKind::kNewObj ||
               t.kind == PickleKind::kNewObjEx) {
      t.dict_items.insert(t.dict_items.end(), kv.begin(), kv.end());
    } else {
      return Error("SETITEM on a " + std::string(ToString(t.kind)));
    }
    return Status::OK();
  }
  Status RequireKind(NodeId id, PickleKind kind, const char* what) const {
    if (tree_.node(id).kind != kind) {
      return Error(std::string(what) + " must be a " + std::string(ToString(kind)) + ", not a " +
                   std::string(ToString(tree_.node(id).kind)));
    }
    return Status::OK();
  }

  Status Step(uint8_t code) {
    switch (code) {
      case op::kProto: {
        DN_ASSIGN_OR_RETURN(uint8_t p, ReadLE<uint8_t>());
        if (p > 5) return Error("unsupported pickle protocol " + std::to_string(p));
        tree_.set_protocol(p);
        return Status::OK();
      }
      case op::kFrame: {
        DN_ASSIGN_OR_RETURN(uint64_t n, ReadLE<uint64_t>());
        return Need(n);  // frames are only a read-ahead hint; the opcodes run on
      }
      case op::kMark: marks_.push_back(stack_.size()); return Status::OK();
      case op::kPop: {
        // As CPython's load_pop: a MARK on top of the stack is popped first.
        if (!marks_.empty() && marks_.back() == stack_.size()) {
          marks_.pop_back();
          return Status::OK();
        }
        if (stack_.size() <= StackFloor()) return Error("POP on an empty stack");
        NodeId popped = stack_.back();
        stack_.pop_back();
        // A discarded value is a side effect on what is beneath it (a state setter
        // call); keep it there so it is neither lost nor executed.
        if (stack_.empty()) return Error("POP of the only value on the stack");
        tree_.mutable_node(stack_.back()).effects.push_back(popped);
        return Status::OK();
      }
      case op::kPopMark: return PopMark().status();
      case op::kDup: {
        DN_ASSIGN_OR_RETURN(NodeId top, Top());
        return Push(top);
      }
      case op::kNone: return PushNew(Make(PickleKind::kNone));
      case op::kNewTrue:
      case op::kNewFalse: {
        PickleNode n = Make(PickleKind::kBool);
        n.flag = code == op::kNewTrue;
        return PushNew(std::move(n));
      }
      case op::kBinInt: {
        DN_ASSIGN_OR_RETURN(int32_t v, ReadLE<int32_t>());
        return PushInt(v);
      }
      case op::kBinInt1: {
        DN_ASSIGN_OR_RETURN(uint8_t v, ReadLE<uint8_t>());
        return PushInt(v);
      }
      case op::kBinInt2: {
        DN_ASSIGN_OR_RETURN(uint16_t v, ReadLE<uint16_t>());
        return PushInt(v);
      }
      case op::kLong1: {
        DN_ASSIGN_OR_RETURN(uint8_t n, ReadLE<uint8_t>());
        return PushLong(n);
      }
      case op::kLong4: {
        DN_ASSIGN_OR_RETURN(int32_t n, ReadLE<int32_t>());
        if (n < 0) return Error("LONG4 with a negative length");
        return PushLong(static_cast<uint64_t>(n));
      }
      case op::kBinFloat: {
        DN_ASSIGN_OR_RETURN(uint64_t bits, ReadLE<uint64_t>());
        bits = __builtin_bswap64(bits);  // BINFLOAT is big-endian
        PickleNode n = Make(PickleKind::kFloat);
        std::memcpy(&n.float_value, &bits, 8);
        return PushNew(std::move(n));
      }
      case op::kShortBinUnicode: {
        DN_ASSIGN_OR_RETURN(uint8_t n, ReadLE<uint8_t>());
        return PushData(PickleKind::kStr, n);
      }
      case op::kBinUnicode: {
        DN_ASSIGN_OR_RETURN(uint32_t n, ReadLE<uint32_t>());
        return PushData(PickleKind::kStr, n);
      }
      case op::kBinUnicode8: {
        DN_ASSIGN_OR_RETURN(uint64_t n, ReadLE<uint64_t>());
        return PushData(PickleKind::kStr, n);
      }
      case op::kShortBinBytes: {
        DN_ASSIGN_OR_RETURN(uint8_t n, ReadLE<uint8_t>());
        return PushData(PickleKind::kBytes, n);
      }
      case op::kBinBytes: {
        DN_ASSIGN_OR_RETURN(uint32_t n, ReadLE<uint32_t>());
        return PushData(PickleKind::kBytes, n);
      }
      case op::kBinBytes8: {
        DN_ASSIGN_OR_RETURN(uint64_t n, ReadLE<uint64_t>());
        return PushData(PickleKind::kBytes, n);
      }
      case op::kByteArray8: {
        DN_ASSIGN_OR_RETURN(uint64_t n, ReadLE<uint64_t>());
        return PushData(PickleKind::kByteArray, n);
      }
      case op::kNextBuffer: {
        if (next_buffer_ >= buffers_.size()) {
          return Error("NEXT_BUFFER without an out-of-band buffer (" +
                       std::to_string(buffers_.size()) + " given)");
        }
        PickleNode n = Make(PickleKind::kBuffer);
        n.int_value = static_cast<int64_t>(next_buffer_);
        tree_.mutable_buffers().push_back(buffers_[next_buffer_++]);
        return PushNew(std::move(n));
      }
      case op::kReadOnlyBuffer: {
        DN_ASSIGN_OR_RETURN(NodeId top, Top());
        PickleNode& n = tree_.mutable_node(top);
        if (n.kind == PickleKind::kBuffer) {
          n.flag = true;
        } else if (n.kind != PickleKind::kBytes) {
          return Error("READONLY_BUFFER on a " + std::string(ToString(n.kind)));
        }
        return Status::OK();
      }
      case op::kEmptyTuple: return PushSeq(PickleKind::kTuple, {});
      case op::kTuple1:
      case op::kTuple2:
      case op::kTuple3: {
        size_t n = code - op::kTuple1 + 1;
        if (stack_.size() < StackFloor() + n) return Error("stack underflow");
        std::vector<NodeId> items(stack_.end() - n, stack_.end());
        stack_.resize(stack_.size() - n);
        return PushSeq(PickleKind::kTuple, std::move(items));
      }
      case op::kTuple: {
        DN_ASSIGN_OR_RETURN(auto items, PopMark());
        return PushSeq(PickleKind::kTuple, std::move(items));
      }
      case op::kEmptyList: return PushSeq(PickleKind::kList, {});
      case op::kList: {
        DN_ASSIGN_OR_RETURN(auto items, PopMark());
        return PushSeq(PickleKind::kList, std::move(items));
      }
      case op::kEmptyDict: return PushSeq(PickleKind::kDict, {});
      case op::kDict: {
        DN_ASSIGN_OR_RETURN(auto items, PopMark());
        if (items.size() % 2) return Error("odd number of items for DICT");
        return PushSeq(PickleKind::kDict, std::move(items));
      }
      case op::kEmptySet: return PushSeq(PickleKind::kSet, {});
      case op::kFrozenSet: {
        DN_ASSIGN_OR_RETURN(auto items, PopMark());
        return PushSeq(PickleKind::kFrozenSet, std::move(items));
      }
      case op::kAppend: {
        DN_ASSIGN_OR_RETURN(NodeId v, Pop());
        DN_ASSIGN_OR_RETURN(NodeId target, Top());
        NodeId items[1] = {v};
        return Append(target, items);
      }
      case op::kAppends: {
        DN_ASSIGN_OR_RETURN(auto items, PopMark());
        DN_ASSIGN_OR_RETURN(NodeId target, Top());
        return Append(target, items);
      }
      case op::kSetItem: {
        DN_ASSIGN_OR_RETURN(NodeId v, Pop());
        DN_ASSIGN_OR_RETURN(NodeId k, Pop());
        DN_ASSIGN_OR_RETURN(NodeId target, Top());
        NodeId kv[2] = {k, v};
        return SetItems(target, kv);
      }
      case op::kSetItems: {
        DN_ASSIGN_OR_RETURN(auto kv, PopMark());
        DN_ASSIGN_OR_RETURN(NodeId target, Top());
        return SetItems(target, kv);
      }
      case op::kAddItems: {
        DN_ASSIGN_OR_RETURN(auto items, PopMark());
        DN_ASSIGN_OR_RETURN(NodeId target, Top());
        DN_RETURN_NOT_OK(RequireKind(target, PickleKind::kSet, "ADDITEMS target"));
        auto& v = tree_.mutable_node(target).items;
        v.insert(v.end(), items.begin(), items.end());
        return Status::OK();
      }
      case op::kGlobal: {
        DN_ASSIGN_OR_RETURN(std::string_view module, ReadLine());
        DN_ASSIGN_OR_RETURN(std::string_view name, ReadLine());
        // CPython decodes both lines as strict UTF-8 (load_global).
        if (!IsValidUtf8(module) || !IsValidUtf8(name)) return Error("GLOBAL name is not UTF-8");
        PickleNode n = Make(PickleKind::kGlobal);
        n.data = Buffer::FromString(std::string(module) + "\n" + std::string(name));
        return PushNew(std::move(n));
      }
      case op::kStackGlobal: {
        DN_ASSIGN_OR_RETURN(NodeId name, Pop());
        DN_ASSIGN_OR_RETURN(NodeId module, Pop());
        DN_RETURN_NOT_OK(RequireKind(name, PickleKind::kStr, "STACK_GLOBAL name"));
        DN_RETURN_NOT_OK(RequireKind(module, PickleKind::kStr, "STACK_GLOBAL module"));
        return PushSeq(PickleKind::kGlobal, {module, name});
      }
      case op::kReduce: {
        DN_ASSIGN_OR_RETURN(NodeId args, Pop());
        DN_ASSIGN_OR_RETURN(NodeId callable, Pop());
        DN_RETURN_NOT_OK(RequireKind(args, PickleKind::kTuple, "REDUCE arguments"));
        return PushSeq(PickleKind::kReduce, {callable, args});
      }
      case op::kNewObj: {
        DN_ASSIGN_OR_RETURN(NodeId args, Pop());
        DN_ASSIGN_OR_RETURN(NodeId cls, Pop());
        DN_RETURN_NOT_OK(RequireKind(args, PickleKind::kTuple, "NEWOBJ arguments"));
        return PushSeq(PickleKind::kNewObj, {cls, args});
      }
      case op::kNewObjEx: {
        DN_ASSIGN_OR_RETURN(NodeId kwargs, Pop());
        DN_ASSIGN_OR_RETURN(NodeId args, Pop());
        DN_ASSIGN_OR_RETURN(NodeId cls, Pop());
        DN_RETURN_NOT_OK(RequireKind(args, PickleKind::kTuple, "NEWOBJ_EX arguments"));
        DN_RETURN_NOT_OK(RequireKind(kwargs, PickleKind::kDict, "NEWOBJ_EX keywords"));
        return PushSeq(PickleKind::kNewObjEx, {cls, args, kwargs});
      }
      case op::kBuild: {
        DN_ASSIGN_OR_RETURN(NodeId state, Pop());
        DN_ASSIGN_OR_RETURN(NodeId target, Top());
        PickleNode& t = tree_.mutable_node(target);
        // A second BUILD on one object is legal pickle but never produced by CPython's
        // pickler; refusing it keeps one state slot per node.
        if (t.state != kNoNode) return Error("BUILD applied twice to one object");
        t.state = state;
        return Status::OK();
      }
      case op::kMemoize: return Memoize(memo_count_);  // len(memo) in CPython
      case op::kBinPut: {
        DN_ASSIGN_OR_RETURN(uint8_t i, ReadLE<uint8_t>());
        return Memoize(i);
      }
      case op::kLongBinPut: {
        DN_ASSIGN_OR_RETURN(uint32_t i, ReadLE<uint32_t>());
        return Memoize(i);
      }
      case op::kBinGet: {
        DN_ASSIGN_OR_RETURN(uint8_t i, ReadLE<uint8_t>());
        return Get(i);
      }
      case op::kLongBinGet: {
        DN_ASSIGN_OR_RETURN(uint32_t i, ReadLE<uint32_t>());
        return Get(i);
      }
      case op::kInt:
      case op::kLong:
      case op::kFloat:
      case op::kString:
      case op::kBinString:
      case op::kShortBinString:
      case op::kUnicode:
      case op::kGet:
      case op::kPut:
      case op::kInst:
      case op::kObj: return Error("protocol 0/1 text opcode is not supported");
      case op::kPersId:
      case op::kBinPersId: return Error("persistent ids are not supported");
      case op::kExt1:
      case op::kExt2:
      case op::kExt4: return Error("extension registry codes are not supported");
      default: return Error("unknown opcode");
    }
  }

  const Buffer& data_;
  std::span<const Buffer> buffers_;
  const PickleLimits& limits_;
  size_t pos_ = 0;
  size_t next_buffer_ = 0;
  size_t nodes_hint_ = 0;
  std::vector<NodeId> stack_;
  std::vector<size_t> marks_;
  std::vector<NodeId> memo_;
  uint64_t memo_count_ = 0;
  PickleTree tree_;
};

}  // namespace

Result<PickleTree> ReadPickle(const Buffer& data, std::span<const Buffer> buffers,
                              const PickleLimits& limits) {
  Reader reader(data, buffers, limits);
  return reader.Run();
}

std::optional<NumpyScalarPickle> MatchNumpyScalar(const PickleTree& t) {
  return MatchNumpyScalar(t, t.root());
}

std::optional<NumpyScalarPickle> MatchNumpyScalar(const PickleTree& t, NodeId id) {
  auto valid = [&t](NodeId id) { return id != kNoNode && id < t.size(); };
  auto tuple_items = [&](NodeId id) -> const std::vector<NodeId>* {
    return valid(id) && t.node(id).kind == PickleKind::kTuple ? &t.node(id).items : nullptr;
  };
  if (!valid(id)) return std::nullopt;
  const PickleNode& root = t.node(id);
  if (root.kind != PickleKind::kReduce || root.items.size() != 2 || root.state != kNoNode ||
      !(t.IsGlobal(root.items[0], "numpy._core.multiarray", "scalar") ||
        t.IsGlobal(root.items[0], "numpy.core.multiarray", "scalar"))) {
    return std::nullopt;
  }
  const std::vector<NodeId>* args = tuple_items(root.items[1]);
  if (args == nullptr || args->size() != 2 || !valid((*args)[0]) || !valid((*args)[1]))
    return std::nullopt;
  const PickleNode& dtype = t.node((*args)[0]);
  const PickleNode& raw = t.node((*args)[1]);
  if (dtype.kind != PickleKind::kReduce || dtype.items.size() != 2 ||
      !t.IsGlobal(dtype.items[0], "numpy", "dtype") || raw.kind != PickleKind::kBytes) {
    return std::nullopt;
  }
  const std::vector<NodeId>* dargs = tuple_items(dtype.items[1]);
  const std::vector<NodeId>* state = tuple_items(dtype.state);  // (3, byteorder, ...)
  if (dargs == nullptr || dargs->empty() || !valid((*dargs)[0]) ||
      t.node((*dargs)[0]).kind != PickleKind::kStr || state == nullptr || state->size() < 2 ||
      !valid((*state)[1]) || t.node((*state)[1]).kind != PickleKind::kStr) {
    return std::nullopt;
  }
  return NumpyScalarPickle{std::string(t.str((*dargs)[0])), std::string(t.str((*state)[1])),
                           raw.data};
}

}  // namespace dn
