#include "common/escape.h"

#include <cstdio>

namespace dn {

void AppendQuotedBytes(std::string_view bytes, std::string* out) {
  out->push_back('\'');
  for (unsigned char c : bytes) {
    if (c == '\\' || c == '\'') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c >= 0x20 && c < 0x7f) {
      out->push_back(static_cast<char>(c));
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out->append(buf);
    }
  }
  out->push_back('\'');
}

}  // namespace dn
