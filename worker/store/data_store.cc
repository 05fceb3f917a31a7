#include "worker/store/data_store.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "protocol/msgpack/msgpack_codec.h"
#include "protocol/serialize/compression.h"

namespace dn {

namespace {

// Spill file layout, all integers little-endian u64 (our own: a spill file is read back
// only by the process that wrote it, so a tiny fixed layout beats a general container):
//   "DNSPILL1" | header length | header msgpack | frame count |
//   per frame: raw length, stored length, codec (0 raw, 1 zstd) | frame bytes...
constexpr char kMagic[8] = {'D', 'N', 'S', 'P', 'I', 'L', 'L', '1'};
// Frames that zstd shrinks by less than this keep their raw bytes (random doubles
// barely compress, and reading them back then costs nothing).
constexpr double kKeepCompressedBelow = 0.9;

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

bool GetU64(std::ifstream& in, uint64_t* v) {
  unsigned char b[8];
  if (!in.read(reinterpret_cast<char*>(b), 8)) return false;
  *v = 0;
  for (int i = 7; i >= 0; --i) *v = (*v << 8) | b[i];
  return true;
}

}  // namespace

DataStore::DataStore(std::string directory) : directory_(std::move(directory)) {}

DataStore::~DataStore() {
  if (!directory_made_) return;
  std::error_code ec;
  std::filesystem::remove_all(directory_, ec);
}

DataStore::Entry* DataStore::Find(const Key& key) {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

void DataStore::Account(const Entry& e, int sign) {
  if (e.where == Residence::kMemory || e.where == Residence::kSpilling) {
    memory_bytes_ += sign * e.nbytes;
    memory_count_ += sign;
  } else {
    disk_bytes_ += sign * e.disk_bytes;
    spilled_nbytes_ += sign * e.nbytes;
    disk_count_ += sign;
  }
}

void DataStore::PutInMemory(const Key& key, int64_t nbytes) {
  if (Entry* e = Find(key)) {
    Account(*e, -1);
    if (e->where == Residence::kDisk) std::remove(PathFor(key).c_str());
    e->nbytes = nbytes;
    e->disk_bytes = 0;
    e->where = Residence::kMemory;
    e->last_use = ++clock_;
    Account(*e, +1);
    return;
  }
  Entry e;
  e.nbytes = nbytes;
  e.last_use = ++clock_;
  e.file_id = next_file_id_++;
  Account(e, +1);
  entries_.emplace(key, e);
}

void DataStore::Touch(const Key& key) {
  if (Entry* e = Find(key)) e->last_use = ++clock_;
}

bool DataStore::Erase(const Key& key) {
  Entry* e = Find(key);
  if (e == nullptr) return false;
  Account(*e, -1);
  if (e->where != Residence::kMemory) std::remove(PathFor(key).c_str());
  entries_.erase(key);
  return true;
}

std::vector<Key> DataStore::Keys() const {
  std::vector<Key> out;
  out.reserve(entries_.size());
  for (const auto& [k, e] : entries_) out.push_back(k);
  return out;
}

std::optional<Residence> DataStore::residence(const Key& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second.where;
}

std::optional<int64_t> DataStore::nbytes(const Key& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second.nbytes;
}

std::vector<Key> DataStore::SpillCandidates(int64_t bytes,
                                            const std::function<bool(const Key&)>& pinned) const {
  std::vector<std::pair<uint64_t, const Key*>> lru;
  for (const auto& [k, e] : entries_) {
    if (e.where == Residence::kMemory && !pinned(k)) lru.emplace_back(e.last_use, &k);
  }
  std::sort(lru.begin(), lru.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Key> out;
  int64_t sum = 0;
  for (const auto& [use, k] : lru) {
    if (sum >= bytes) break;
    out.push_back(*k);
    sum += entries_.at(*k).nbytes;
  }
  return out;
}

void DataStore::BeginSpill(const Key& key) {
  if (Entry* e = Find(key); e && e->where == Residence::kMemory) e->where = Residence::kSpilling;
}

void DataStore::FinishSpill(const Key& key, int64_t disk_bytes) {
  Entry* e = Find(key);
  if (e == nullptr || e->where != Residence::kSpilling) return;
  Account(*e, -1);
  e->where = Residence::kDisk;
  e->disk_bytes = disk_bytes;
  Account(*e, +1);
  ++spilled_total_;
}

void DataStore::AbortSpill(const Key& key) {
  if (Entry* e = Find(key); e && e->where == Residence::kSpilling) e->where = Residence::kMemory;
}

void DataStore::BeginUnspill(const Key& key) {
  if (Entry* e = Find(key); e && e->where == Residence::kDisk) e->where = Residence::kUnspilling;
}

void DataStore::FinishUnspill(const Key& key) {
  Entry* e = Find(key);
  if (e == nullptr || e->where != Residence::kUnspilling) return;
  std::remove(PathFor(key).c_str());
  Account(*e, -1);
  e->where = Residence::kMemory;
  e->disk_bytes = 0;
  e->last_use = ++clock_;
  Account(*e, +1);
}

void DataStore::AbortUnspill(const Key& key) {
  if (Entry* e = Find(key); e && e->where == Residence::kUnspilling) e->where = Residence::kDisk;
}

std::string DataStore::PathFor(const Key& key) const {
  auto it = entries_.find(key);
  uint64_t id = it == entries_.end() ? 0 : it->second.file_id;
  // The directory is made here, lazily: most workers never spill.
  if (!directory_made_) {
    std::error_code ec;
    std::filesystem::create_directories(directory_, ec);
    const_cast<DataStore*>(this)->directory_made_ = true;
  }
  return directory_ + "/" + std::to_string(id) + ".spill";
}

Result<int64_t> DataStore::WriteSpillFile(const std::string& path, const Serialized& value) {
  std::string head(kMagic, sizeof kMagic);
  std::string header;
  DN_RETURN_NOT_OK(EncodeMsgpack(Value(value.header), &header));
  PutU64(&head, header.size());
  head += header;
  PutU64(&head, value.frames.size());
  std::vector<Buffer> stored;
  stored.reserve(value.frames.size());
  for (const Buffer& f : value.frames) {
    Buffer out = f;
    uint64_t codec = 0;
    if (f.size() >= 1024) {
      Result<Buffer> z = Compress("zstd", f, /*zstd_level=*/1);
      if (z.ok() &&
          static_cast<double>(z->size()) < kKeepCompressedBelow * static_cast<double>(f.size())) {
        out = *z;
        codec = 1;
      }
    }
    PutU64(&head, f.size());
    PutU64(&head, out.size());
    PutU64(&head, codec);
    stored.push_back(out);
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return Status::IOError("cannot create spill file " + path);
  file.write(head.data(), static_cast<std::streamsize>(head.size()));
  int64_t total = static_cast<int64_t>(head.size());
  for (const Buffer& b : stored) {
    file.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    total += static_cast<int64_t>(b.size());
  }
  file.flush();
  if (!file) return Status::IOError("cannot write spill file " + path + " (disk full?)");
  return total;
}

Result<Serialized> DataStore::ReadSpillFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot open spill file " + path);
  char magic[8];
  uint64_t header_len = 0, nframes = 0;
  if (!in.read(magic, 8) || std::string_view(magic, 8) != std::string_view(kMagic, 8) ||
      !GetU64(in, &header_len) || header_len > (uint64_t{1} << 30)) {
    return Status::IOError("corrupt spill file " + path);
  }
  std::string header(header_len, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header_len)) || !GetU64(in, &nframes) ||
      nframes > (uint64_t{1} << 20)) {
    return Status::IOError("corrupt spill file " + path);
  }
  struct FrameInfo {
    uint64_t raw, stored, codec;
  };
  std::vector<FrameInfo> infos(nframes);
  for (FrameInfo& f : infos) {
    if (!GetU64(in, &f.raw) || !GetU64(in, &f.stored) || !GetU64(in, &f.codec) || f.codec > 1) {
      return Status::IOError("corrupt spill file " + path);
    }
  }
  DN_ASSIGN_OR_RETURN(Value h,
                      DecodeMsgpack(Buffer::FromString(std::move(header)), MapConvention::kPlain));
  if (h.map() == nullptr) return Status::IOError("corrupt spill file header " + path);
  Serialized out;
  out.header = *h.map();
  for (const FrameInfo& f : infos) {
    uint8_t* p = nullptr;
    Buffer b = Buffer::Allocate(f.stored, &p);
    if (!in.read(reinterpret_cast<char*>(p), static_cast<std::streamsize>(f.stored))) {
      return Status::IOError("truncated spill file " + path);
    }
    if (f.codec == 1) {
      DN_ASSIGN_OR_RETURN(b, Decompress("zstd", b, f.raw));
      if (b.size() != f.raw) return Status::IOError("corrupt frame in spill file " + path);
    }
    out.frames.push_back(std::move(b));
  }
  return out;
}

}  // namespace dn
