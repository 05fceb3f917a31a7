#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "protocol/messages/key.h"
#include "protocol/msgpack/value.h"

namespace dn {

/// Where a stored result is. Spilling and unspilling run off the loop thread, so a key
/// may be between the two for a while; nothing may read it then.
enum class Residence : uint8_t { kMemory, kSpilling, kDisk, kUnspilling };

/// Bookkeeping of a worker's results and the disk half of spilling.
///
/// The values themselves live elsewhere (Python objects in the embedded runtime, native
/// arrays in WorkerServer). This class knows each key's size, whether it is in memory or
/// on disk, and the order keys were last used in, and it names the spill files. It is
/// owned by the worker's loop thread; the static file functions are the only part that
/// other threads call. Stock workers keep the same split: a `SpillBuffer` (zict LRU over a
/// file store) sized by `sizeof`, with the target at 60% of the memory limit.
class DataStore {
 public:
  /// Spill files go to `directory`, created on first use and removed with the store.
  explicit DataStore(std::string directory);
  ~DataStore();
  DataStore(const DataStore&) = delete;
  DataStore& operator=(const DataStore&) = delete;

  /// Record `key` as held in memory with `nbytes` (its sizeof), most recently used.
  /// A key already on disk is moved back to memory (its file is removed).
  void PutInMemory(const Key& key, int64_t nbytes);
  /// Mark `key` most recently used.
  void Touch(const Key& key);
  /// Forget `key`; removes its spill file, if any. Returns whether it was held.
  bool Erase(const Key& key);

  bool Contains(const Key& key) const { return entries_.count(key) != 0; }
  std::vector<Key> Keys() const;
  std::optional<Residence> residence(const Key& key) const;
  std::optional<int64_t> nbytes(const Key& key) const;

  /// Keys in memory, least recently used first, whose sizes add up to at least `bytes`
  /// (or all of them), skipping those `pinned` holds on to.
  std::vector<Key> SpillCandidates(int64_t bytes,
                                   const std::function<bool(const Key&)>& pinned) const;

  /// Transitions around the file functions below, on the loop thread.
  void BeginSpill(const Key& key);
  void FinishSpill(const Key& key, int64_t disk_bytes);  ///< now on disk
  void AbortSpill(const Key& key);                       ///< still in memory
  void BeginUnspill(const Key& key);
  void FinishUnspill(const Key& key);  ///< back in memory
  void AbortUnspill(const Key& key);   ///< still on disk

  /// The spill file of `key` (stable for the key's lifetime in the store).
  std::string PathFor(const Key& key) const;

  int64_t memory_bytes() const { return memory_bytes_; }      ///< sizeof of keys in memory
  int64_t disk_bytes() const { return disk_bytes_; }          ///< file bytes on disk
  int64_t spilled_nbytes() const { return spilled_nbytes_; }  ///< sizeof of keys on disk
  int64_t memory_count() const { return memory_count_; }
  int64_t disk_count() const { return disk_count_; }
  int64_t spilled_total() const { return spilled_total_; }  ///< spills since start

  /// Write `value`'s header and its frames, each zstd-compressed, to `path`. Thread-safe
  /// (touches nothing but the file). Returns the bytes written.
  static Result<int64_t> WriteSpillFile(const std::string& path, const Serialized& value);
  /// Read back what WriteSpillFile wrote. Corrupt or truncated files are IOError.
  static Result<Serialized> ReadSpillFile(const std::string& path);

 private:
  struct Entry {
    int64_t nbytes = 0;
    int64_t disk_bytes = 0;
    uint64_t last_use = 0;
    uint64_t file_id = 0;
    Residence where = Residence::kMemory;
  };
  Entry* Find(const Key& key);
  void Account(const Entry& e, int sign);

  std::string directory_;
  bool directory_made_ = false;
  std::unordered_map<Key, Entry, KeyHash> entries_;
  uint64_t clock_ = 0;
  uint64_t next_file_id_ = 0;
  int64_t memory_bytes_ = 0;
  int64_t disk_bytes_ = 0;
  int64_t spilled_nbytes_ = 0;
  int64_t memory_count_ = 0;
  int64_t disk_count_ = 0;
  int64_t spilled_total_ = 0;
};

}  // namespace dn
