#pragma once

#include <string>
#include <string_view>

namespace dn {

/// Append `bytes` in single quotes with Python-like escapes: printable ASCII as is,
/// backslash and quote escaped, every other byte as \xNN. For debug output and the
/// canonical dumps the tests compare; not a Python repr of non-ASCII text.
void AppendQuotedBytes(std::string_view bytes, std::string* out);

}  // namespace dn
