// dn-native-eval: run one pickled run_spec through the worker's native evaluator, for
// tests/worker/test_native_eval.py to compare with Python executing the same pickle.
//
//   dn-native-eval RUNSPEC.pkl [BUFFER...]      (the task must have no dependencies)
//
// Prints one JSON line: {"status": "ok", "dtype": "<f8", "shape": [..], "scalar": b,
// "hex": "<C-order bytes>"}, {"status": "ok", "dict": [{"key": .., <array fields>}..]},
// for a numpy structured array {"status": "ok", "records": [<fields as dict>],
// "descr": "[('vals', '<f8'), ..]", "hex": "<packed records>"}
// or {"status": "NotImplemented"|..., "message": "..."}.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "protocol/pickle/pickle_reader.h"
#include "worker/native/evaluator.h"
#include "worker/native/records.h"

namespace {

dn::Buffer ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return dn::Buffer::FromString(std::string(std::istreambuf_iterator<char>(in), {}));
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out.push_back(c);
  }
  return out;
}

std::string Hex(const uint8_t* p, int64_t n) {
  std::string hex;
  static const char* digits = "0123456789abcdef";
  for (int64_t i = 0; i < n; ++i) {
    hex.push_back(digits[p[i] >> 4]);
    hex.push_back(digits[p[i] & 15]);
  }
  return hex;
}

std::string ArrayJson(const dn::native::NdArray& input) {
  dn::native::NdArray a = dn::native::AsCContiguous(input);
  std::string shape;
  for (size_t i = 0; i < a.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(a.shape[i]);
  std::string hex = Hex(a.data.data(), a.nbytes());
  return "\"dtype\": \"" + std::string(dn::native::DTypeStr(a.dtype)) + "\", \"shape\": [" + shape +
         "], \"scalar\": " + (a.scalar ? "true" : "false") + ", \"hex\": \"" + hex + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: dn-native-eval RUNSPEC.pkl [BUFFER...]\n");
    return 2;
  }
  std::vector<dn::Buffer> buffers;
  for (int i = 2; i < argc; ++i) buffers.push_back(ReadFile(argv[i]));
  auto tree = dn::ReadPickle(ReadFile(argv[1]), buffers);
  if (!tree.ok()) {
    std::printf("{\"status\": \"parse-error\", \"message\": \"%s\"}\n",
                JsonEscape(tree.status().ToString()).c_str());
    return 0;
  }
  auto result = dn::native::EvaluateRunSpec(*tree, [](const dn::Key&) { return nullptr; });
  if (!result.ok()) {
    std::printf("{\"status\": \"%s\", \"message\": \"%s\"}\n",
                std::string(dn::ToString(result.status().code())).c_str(),
                JsonEscape(result.status().message()).c_str());
    return 0;
  }
  if (!result->is_dict() && !result->records) {
    std::printf("{\"status\": \"ok\", %s}\n", ArrayJson(result->array).c_str());
    return 0;
  }
  std::string fields;
  for (const auto& [name, arr] : result->fields) {
    fields += (fields.empty() ? "" : ", ") + std::string("{\"key\": \"") + JsonEscape(name) +
              "\", " + ArrayJson(arr) + "}";
  }
  if (result->records) {
    dn::Buffer packed = dn::native::PackRecords(*result);
    std::printf("{\"status\": \"ok\", \"records\": [%s], \"descr\": \"%s\", \"hex\": \"%s\"}\n",
                fields.c_str(),
                JsonEscape(dn::native::RecordsDescr(dn::native::RecordFields(*result))).c_str(),
                Hex(packed.data(), static_cast<int64_t>(packed.size())).c_str());
    return 0;
  }
  std::printf("{\"status\": \"ok\", \"dict\": [%s]}\n", fields.c_str());
  return 0;
}
