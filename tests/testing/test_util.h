#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "common/buffer.h"
#include "common/result.h"

#define ASSERT_OK(expr)                      \
  do {                                       \
    ::dn::Status _st = (expr);               \
    ASSERT_TRUE(_st.ok()) << _st.ToString(); \
  } while (false)

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                                                          \
  auto DN_CONCAT(_res_, __LINE__) = (rexpr);                                                      \
  ASSERT_TRUE(DN_CONCAT(_res_, __LINE__).ok()) << DN_CONCAT(_res_, __LINE__).status().ToString(); \
  lhs = DN_CONCAT(_res_, __LINE__).MoveValueUnsafe()

namespace dn::testing {

/// Return the shared/ folder beside the checkout (DN_SHARED_DIR overrides).
inline std::filesystem::path SharedDir() {
  if (const char* env = std::getenv("DN_SHARED_DIR")) return env;
  return DN_SHARED_DIR;
}

/// Read a whole file into a Buffer; fails the test if missing.
inline Buffer ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return Buffer::FromString(std::move(bytes));
}

}  // namespace dn::testing

namespace dn::testing {

/// Load a pickle vector `X.pkl` with its out-of-band buffers `X.buf0`, `X.buf1`, ...
inline std::pair<Buffer, std::vector<Buffer>> ReadPickleVector(const std::filesystem::path& pkl) {
  Buffer data = ReadFile(pkl);
  std::vector<Buffer> bufs;
  std::string stem = pkl.string().substr(0, pkl.string().size() - 4);
  for (int i = 0;; ++i) {
    std::filesystem::path b = stem + ".buf" + std::to_string(i);
    if (!std::filesystem::exists(b)) break;
    bufs.push_back(ReadFile(b));
  }
  return {data, bufs};
}

}  // namespace dn::testing
