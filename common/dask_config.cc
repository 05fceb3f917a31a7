#include "common/dask_config.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <string>
#include <utility>

extern char** environ;

namespace dn {

namespace {

// dask.config.canonical_name: case-insensitive, and "_" and "-" alike.
char Canonical(char c) {
  if (c == '-') return '_';
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// Does the variable name (without "DASK_") spell `key` ("a.b-c" ~ "A__B_C")?
bool NameMatches(std::string_view name, std::string_view key) {
  size_t i = 0, j = 0;
  while (i < name.size() && j < key.size()) {
    if (key[j] == '.') {
      if (name.substr(i, 2) != "__") return false;
      i += 2;
      ++j;
      continue;
    }
    if (Canonical(name[i]) != Canonical(key[j])) return false;
    ++i;
    ++j;
  }
  return i == name.size() && j == key.size();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string> DaskConfigFromEnviron(std::string_view key, const char* const* env) {
  constexpr std::string_view kPrefix = "DASK_";
  for (const char* const* e = env; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos || entry.substr(0, kPrefix.size()) != kPrefix) continue;
    if (!NameMatches(entry.substr(kPrefix.size(), eq - kPrefix.size()), key)) continue;
    std::string_view value = Trim(entry.substr(eq + 1));
    // dask parses values with ast.literal_eval; strings come quoted or bare.
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    return std::string(value);
  }
  return std::nullopt;
}

std::optional<std::string> DaskConfigFromEnv(std::string_view key) {
  return DaskConfigFromEnviron(key, environ);
}

bool ParseDuration(std::string_view text, double* seconds) {
  text = Trim(text);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data()) return false;
  std::string_view unit = Trim(std::string_view(end, text.data() + text.size() - end));
  static constexpr std::pair<std::string_view, double> kUnits[] = {{"", 1},
                                                                   {"s", 1},
                                                                   {"sec", 1},
                                                                   {"second", 1},
                                                                   {"seconds", 1},
                                                                   {"ms", 1e-3},
                                                                   {"milliseconds", 1e-3},
                                                                   {"m", 60},
                                                                   {"min", 60},
                                                                   {"minute", 60},
                                                                   {"minutes", 60},
                                                                   {"h", 3600},
                                                                   {"hr", 3600},
                                                                   {"hour", 3600},
                                                                   {"hours", 3600},
                                                                   {"d", 86400},
                                                                   {"day", 86400},
                                                                   {"days", 86400}};
  for (const auto& [name, scale] : kUnits) {
    if (unit == name) {
      *seconds = value * scale;
      return value >= 0;
    }
  }
  return false;
}

bool ParseConfigInt(std::string_view text, int64_t* value) {
  text = Trim(text);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

namespace {

// A cursor over a mapping literal's text.
class MappingReader {
 public:
  explicit MappingReader(std::string_view text) : text_(text) {}

  bool Read(std::vector<ConfigEntry>* out) {
    out->clear();
    if (!Take('{')) return false;
    if (Take('}')) return AtEnd();
    while (true) {
      std::string key;
      std::optional<std::string> value;
      if (!Scalar(&key, /*quoted_only=*/false) || !Take(':') || !Value(&value)) return false;
      out->emplace_back(std::move(key), std::move(value));
      if (Take('}')) return AtEnd();
      if (!Take(',')) return false;
      if (Take('}')) return AtEnd();  // a trailing comma, as Python allows
    }
  }

 private:
  void Skip() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Take(char c) {
    Skip();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool AtEnd() {
    Skip();
    return pos_ == text_.size();
  }
  // A quoted string (no escapes: environment names and values need none), or a bare
  // word up to the next delimiter.
  bool Scalar(std::string* out, bool quoted_only) {
    Skip();
    if (pos_ >= text_.size()) return false;
    const char q = text_[pos_];
    if (q == '"' || q == '\'') {
      const size_t end = text_.find(q, pos_ + 1);
      if (end == std::string_view::npos) return false;
      std::string_view body = text_.substr(pos_ + 1, end - pos_ - 1);
      if (body.find('\\') != std::string_view::npos) return false;
      *out = std::string(body);
      pos_ = end + 1;
      return true;
    }
    if (quoted_only) return false;
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           std::string_view(",:{}[]()\"'").find(text_[pos_]) == std::string_view::npos) {
      ++pos_;
    }
    *out = std::string(Trim(text_.substr(start, pos_ - start)));
    return !out->empty() && out->find_first_of(" \t") == std::string::npos;
  }
  bool Value(std::optional<std::string>* out) {
    Skip();
    if (pos_ < text_.size() && (text_[pos_] == '"' || text_[pos_] == '\'')) {
      std::string s;
      if (!Scalar(&s, true)) return false;
      *out = std::move(s);
      return true;
    }
    std::string word;
    if (!Scalar(&word, false)) return false;
    if (word == "None" || word == "null" || word == "~") {
      *out = std::nullopt;
    } else if (word == "True" || word == "true") {
      *out = "True";
    } else if (word == "False" || word == "false") {
      *out = "False";
    } else {
      double number = 0;  // str() of a number: its text as written
      auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), number);
      if (ec != std::errc() || end != word.data() + word.size()) return false;
      *out = std::move(word);
    }
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

bool ParseConfigMapping(std::string_view text, std::vector<ConfigEntry>* out) {
  return MappingReader(text).Read(out);
}

}  // namespace dn
