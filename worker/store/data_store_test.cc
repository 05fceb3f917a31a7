#include "worker/store/data_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "tests/testing/test_util.h"

namespace dn {
namespace {

Key K(const std::string& s) { return *Key::FromValue(Value(s)); }

class DataStoreTest : public ::testing::Test {
 protected:
  std::string dir_ =
      (std::filesystem::temp_directory_path() / ("dn-store-test-" + std::to_string(::getpid())))
          .string();
};

TEST_F(DataStoreTest, AccountsMemoryAndPicksLeastRecentlyUsed) {
  DataStore store(dir_);
  store.PutInMemory(K("a"), 100);
  store.PutInMemory(K("b"), 200);
  store.PutInMemory(K("c"), 300);
  store.Touch(K("a"));  // order of use: b, c, a
  EXPECT_EQ(store.memory_bytes(), 600);
  auto none = [](const Key&) { return false; };
  EXPECT_EQ(store.SpillCandidates(150, none), (std::vector<Key>{K("b")}));
  EXPECT_EQ(store.SpillCandidates(201, none), (std::vector<Key>{K("b"), K("c")}));
  EXPECT_EQ(store.SpillCandidates(10'000, none), (std::vector<Key>{K("b"), K("c"), K("a")}));
  auto pin_b = [](const Key& k) { return k == K("b"); };
  EXPECT_EQ(store.SpillCandidates(1, pin_b), (std::vector<Key>{K("c")}));
  EXPECT_TRUE(store.SpillCandidates(0, none).empty());
}

TEST_F(DataStoreTest, SpillRoundTripsHeaderAndFrames) {
  DataStore store(dir_);
  store.PutInMemory(K("x"), 5000);
  Serialized v;
  v.header = Map{{Value("serializer"), Value("dask")},
                 {Value("shape"), Value(Array{Value(25), Value(25)})}};
  std::string zeros(4096, '\0'), text = "tiny";
  std::string noise;
  for (int i = 0; i < 4096; ++i) noise.push_back(static_cast<char>((i * 2654435761u) >> 13));
  v.frames = {Buffer::FromString(zeros), Buffer::FromString(text), Buffer::FromString(noise),
              Buffer()};
  store.BeginSpill(K("x"));
  EXPECT_EQ(store.residence(K("x")), Residence::kSpilling);
  std::string path = store.PathFor(K("x"));
  ASSERT_OK_AND_ASSIGN(int64_t written, DataStore::WriteSpillFile(path, v));
  EXPECT_LT(written, 4096 * 2 + 200);  // the zeros compress
  store.FinishSpill(K("x"), written);
  EXPECT_EQ(store.memory_bytes(), 0);
  EXPECT_EQ(store.disk_bytes(), written);
  EXPECT_EQ(store.spilled_total(), 1);
  ASSERT_OK_AND_ASSIGN(Serialized back, DataStore::ReadSpillFile(path));
  EXPECT_EQ(back, v);
  store.BeginUnspill(K("x"));
  store.FinishUnspill(K("x"));
  EXPECT_EQ(store.residence(K("x")), Residence::kMemory);
  EXPECT_EQ(store.memory_bytes(), 5000);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(DataStoreTest, EraseRemovesTheFileAndCorruptFilesAreErrors) {
  std::string path;
  {
    DataStore store(dir_);
    store.PutInMemory(K("y"), 10);
    store.BeginSpill(K("y"));
    path = store.PathFor(K("y"));
    Serialized v;
    v.frames = {Buffer::FromString(std::string(3000, 'z'))};
    ASSERT_OK(DataStore::WriteSpillFile(path, v).status());
    store.FinishSpill(K("y"), 1);
    // Truncate: reading fails cleanly.
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 1);
    EXPECT_EQ(DataStore::ReadSpillFile(path).status().code(), StatusCode::kIOError);
    std::ofstream(path, std::ios::trunc) << "not a spill file";
    EXPECT_EQ(DataStore::ReadSpillFile(path).status().code(), StatusCode::kIOError);
    EXPECT_TRUE(store.Erase(K("y")));
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_EQ(store.disk_bytes(), 0);
    EXPECT_EQ(store.disk_count(), 0);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_));  // the store removes its directory
}

}  // namespace
}  // namespace dn
