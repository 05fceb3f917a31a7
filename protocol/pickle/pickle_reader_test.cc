#include "protocol/pickle/pickle_reader.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "protocol/pickle/pickle_writer.h"
#include "tests/testing/test_util.h"

namespace dn {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> AllPickles() {
  std::vector<fs::path> out;
  fs::path root = testing::SharedDir() / "vectors/pickles";
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() == ".pkl") out.push_back(e.path());
  }
  return out;
}

TEST(PickleReaderTest, EveryVectorParsesAndRewritesIdentically) {
  auto paths = AllPickles();
  ASSERT_GE(paths.size(), 100u);
  for (const fs::path& p : paths) {
    auto [data, bufs] = testing::ReadPickleVector(p);
    // pickles/extras/ were written with a buffer_callback but their buffers were not
    // kept; empty stand-ins let NEXT_BUFFER parse (the pickle bytes do not hold them).
    if (bufs.empty()) bufs.assign(8, Buffer());
    auto tree = ReadPickle(data, bufs);
    ASSERT_TRUE(tree.ok()) << p << ": " << tree.status().ToString();
    std::vector<Buffer> oob;
    auto again = WritePickle(*tree, tree->protocol() >= 4 ? tree->protocol() : 5, &oob);
    ASSERT_TRUE(again.ok()) << p << ": " << again.status().ToString();
    if (tree->protocol() >= 4) {
      EXPECT_EQ(*again, std::string(data.view())) << p;
      EXPECT_EQ(oob.size(), tree->buffers().size()) << p;
    }
  }
}

TEST(PickleReaderTest, SeedChunkTaskStructure) {
  auto [data, bufs] = testing::ReadPickleVector(
      testing::SharedDir() / "vectors/pickles/wire/compute-task__random_sample-sum__0.runspec.pkl");
  ASSERT_EQ(bufs.size(), 1u);
  ASSERT_OK_AND_ASSIGN(PickleTree t, ReadPickle(data, bufs));
  EXPECT_EQ(t.protocol(), 5);
  const PickleNode& root = t.node(t.root());
  ASSERT_EQ(root.kind, PickleKind::kNewObj);
  EXPECT_TRUE(t.IsGlobal(root.items[0], "dask._task_spec", "Task"));
  const PickleNode& state = t.node(root.state);
  ASSERT_EQ(state.kind, PickleKind::kTuple);
  ASSERT_EQ(state.items.size(), 9u);  // sorted slots
  EXPECT_TRUE(t.IsGlobal(state.items[6], "dask._task_spec", "_execute_subgraph"));
  // args[0] is the inner graph dict with two tasks; the random one holds the buffer.
  const PickleNode& args = t.node(state.items[5]);
  ASSERT_EQ(args.kind, PickleKind::kTuple);
  const PickleNode& inner = t.node(args.items[0]);
  ASSERT_EQ(inner.kind, PickleKind::kDict);
  EXPECT_EQ(inner.items.size(), 4u);
  bool saw_buffer = false;
  for (NodeId id = 0; id < t.size(); ++id) {
    if (t.node(id).kind == PickleKind::kBuffer) {
      saw_buffer = true;
      EXPECT_TRUE(t.node(id).flag);  // READONLY_BUFFER
      EXPECT_EQ(t.buffers()[t.node(id).int_value].size(), 2496u);
    }
  }
  EXPECT_TRUE(saw_buffer);
}

Buffer B(std::string_view s) { return Buffer::CopyFrom(s); }

TEST(PickleReaderTest, MalformedStreamsAreErrorsNeverCrashes) {
  const char* cases[] = {
      "",                                                // empty
      "\x80\x05",                                        // no STOP
      "\x80\x05.",                                       // STOP on empty stack
      "\x80\x05K",                                       // truncated argument
      "\x80\x05h\x03.",                                  // BINGET of a missing memo entry
      "\x80\x05e.",                                      // APPENDS without MARK
      "\x80\x05K\x01K\x02R.",                            // REDUCE args not a tuple
      "\x80\x05\x97.",                                   // NEXT_BUFFER without buffers
      "\x80\x05I1\n.",                                   // text opcode
      "\x80\x05\xff.",                                   // unknown opcode
      "\x80\x06N.",                                      // protocol 6
      "\x80\x05\x95\xff\xff\xff\xff\xff\xff\xff\x7fN.",  // FRAME longer than the input
      "\x80\x05\x8c\x02\xc3(.",                          // invalid UTF-8
      "\x80\x05K\x01K\x02\x93.",                         // STACK_GLOBAL of ints
      "\x80\x05\x8e\xff\xff\xff\xff\xff\xff\xff\xff.",   // BINBYTES8 claiming 2^64-1
  };
  for (const char* c : cases) {
    auto r = ReadPickle(B(c));
    EXPECT_FALSE(r.ok()) << "case: " << c;
  }
}

TEST(PickleReaderTest, LimitsOnNodes) {
  std::string p = "\x80\x05(";
  for (int i = 0; i < 100; ++i) p += "N";
  p += "l.";
  PickleLimits limits;
  limits.max_nodes = 50;
  EXPECT_EQ(ReadPickle(B(p), {}, limits).status().code(), StatusCode::kOutOfMemory);
  EXPECT_TRUE(ReadPickle(B(p)).ok());
}

TEST(PickleWriterTest, BuiltinExceptionPickleMatchesCPython) {
  using namespace std::string_literals;
  // pickle.dumps(RuntimeError("boom"), protocol=5)
  EXPECT_EQ(PickleBuiltinException("RuntimeError", "boom"),
            "\x80\x05\x95\x28\x00\x00\x00\x00\x00\x00\x00\x8c\x08"
            "builtins\x94\x8c\x0cRuntimeError\x94\x93\x94\x8c\x04"
            "boom\x94\x85\x94R\x94."s);
}

TEST(PickleWriterTest, TypeAndScalarPicklesMatchCPython) {
  // The exact bytes stock workers send (native-ops.md §6.1 and §6.2).
  using namespace std::string_literals;
  EXPECT_EQ(PickleGlobalRef("numpy", "ndarray", 5),
            "\x80\x05\x95\x15\x00\x00\x00\x00\x00\x00\x00\x8c\x05numpy\x94\x8c\x07"
            "ndarray\x94\x93\x94."s);
  double v = 0.5;
  std::string raw(reinterpret_cast<const char*>(&v), 8);
  std::string expected =
      "\x80\x04\x95i\x00\x00\x00\x00\x00\x00\x00\x8c\x15numpy.core.multiarray\x94"
      "\x8c\x06scalar\x94\x93\x94\x8c\x05numpy\x94\x8c\x05"
      "dtype\x94\x93\x94\x8c\x02"
      "f8\x94\x89\x88\x87\x94R\x94(K\x03\x8c\x01<\x94NNNJ\xff\xff\xff\xffJ\xff\xff\xff"
      "\xffK\x00t\x94"
      "bC\x08"s +
      raw + "\x94\x86\x94R\x94."s;
  EXPECT_EQ(PickleNumpyScalar("numpy.core.multiarray", "f8", "<", raw, 4), expected);
}

TEST(PickleReaderTest, NumpyScalarsAreMatched) {
  // What numpy 2 and numpy 1 send, read back: name, byte order and the value's bytes.
  int64_t i = -7;
  std::string raw(reinterpret_cast<const char*>(&i), 8);
  for (const char* module : {"numpy._core.multiarray", "numpy.core.multiarray"}) {
    for (int protocol : {4, 5}) {
      ASSERT_OK_AND_ASSIGN(PickleTree t,
                           ReadPickle(B(PickleNumpyScalar(module, "i8", "<", raw, protocol))));
      std::optional<NumpyScalarPickle> m = MatchNumpyScalar(t);
      ASSERT_TRUE(m.has_value()) << module << " " << protocol;
      EXPECT_EQ(m->dtype_name, "i8");
      EXPECT_EQ(m->byteorder, "<");
      EXPECT_EQ(m->raw.view(), raw);
    }
  }
  ASSERT_OK_AND_ASSIGN(
      PickleTree b,
      ReadPickle(B(PickleNumpyScalar("numpy._core.multiarray", "b1", "|", "\x01", 5))));
  ASSERT_TRUE(MatchNumpyScalar(b).has_value());
  EXPECT_EQ(MatchNumpyScalar(b)->byteorder, "|");
  // Other objects are not scalars: a type reference, a plain int, a bytes value.
  for (const std::string& other :
       {PickleGlobalRef("numpy", "float64", 5), std::string("\x80\x05K\x03.", 5),
        std::string("\x80\x05"
                    "C\x01"
                    "a.",
                    6)}) {
    ASSERT_OK_AND_ASSIGN(PickleTree t, ReadPickle(B(other)));
    EXPECT_FALSE(MatchNumpyScalar(t).has_value());
  }
}

TEST(PickleWriterTest, SmallIntHasNoFrame) {
  PickleTree t;
  t.set_root(t.AddInt(3));
  ASSERT_OK_AND_ASSIGN(std::string s, WritePickle(t, 5));
  EXPECT_EQ(s, std::string("\x80\x05K\x03.", 5));
}

}  // namespace
}  // namespace dn
