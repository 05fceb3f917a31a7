#include "worker/config/memory_limit.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>

namespace dn {

namespace {

// Python's float() for the strings parse_bytes hands it: optional sign, digits with
// single underscores between digits, optional fraction and exponent. (strtod alone
// would also take hex floats, "inf" and "nan", which have no digits-only form here.)
bool ParsePythonFloat(std::string_view s, double* out) {
  std::string clean;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) clean.push_back(s[i++]);
  bool digits = false, seen_exp = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits = true;
      clean.push_back(c);
    } else if (c == '_') {
      bool ok = i > 0 && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
                std::isdigit(static_cast<unsigned char>(s[i + 1]));
      if (!ok) return false;
    } else if (c == '.' && !seen_exp) {
      clean.push_back(c);
    } else if ((c == 'e' || c == 'E') && digits && !seen_exp) {
      seen_exp = true;
      clean.push_back(c);
      if (i + 1 < s.size() && (s[i + 1] == '+' || s[i + 1] == '-')) clean.push_back(s[++i]);
    } else {
      return false;
    }
  }
  if (!digits) return false;
  char* end = nullptr;
  *out = std::strtod(clean.c_str(), &end);
  return end == clean.c_str() + clean.size();
}

int64_t UnitMultiplier(std::string unit, bool* ok) {
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, int64_t> kUnits[] = {{"", 1},
                                                           {"b", 1},
                                                           {"k", 1000},
                                                           {"kb", 1000},
                                                           {"ki", int64_t{1} << 10},
                                                           {"kib", int64_t{1} << 10},
                                                           {"m", 1000000},
                                                           {"mb", 1000000},
                                                           {"mi", int64_t{1} << 20},
                                                           {"mib", int64_t{1} << 20},
                                                           {"g", 1000000000},
                                                           {"gb", 1000000000},
                                                           {"gi", int64_t{1} << 30},
                                                           {"gib", int64_t{1} << 30},
                                                           {"t", 1000000000000},
                                                           {"tb", 1000000000000},
                                                           {"ti", int64_t{1} << 40},
                                                           {"tib", int64_t{1} << 40},
                                                           {"p", 1000000000000000},
                                                           {"pb", 1000000000000000},
                                                           {"pi", int64_t{1} << 50},
                                                           {"pib", int64_t{1} << 50}};
  for (const auto& [name, mult] : kUnits) {
    if (unit == name) {
      *ok = true;
      return mult;
    }
  }
  *ok = false;
  return 0;
}

Result<int64_t> ToInt64(double v, std::string_view text) {
  if (!(v > -9.2e18 && v < 9.2e18)) {
    return Status::Invalid("byte count out of range: '" + std::string(text) + "'");
  }
  return static_cast<int64_t>(v);  // Python's int() truncates toward zero, as this does
}

int64_t ReadCgroupLimit(const char* path) {
  std::ifstream in(path);
  std::string v;
  if (!(in >> v) || v == "max") return -1;
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  return (end && *end == '\0' && n > 0) ? n : -1;
}

}  // namespace

Result<int64_t> ParseBytes(std::string_view text) {
  std::string s;
  for (char c : text) {
    if (c != ' ') s.push_back(c);
  }
  if (std::none_of(s.begin(), s.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    s = "1" + s;
  }
  size_t index = s.size();
  while (index > 0 && std::isalpha(static_cast<unsigned char>(s[index - 1]))) --index;
  // parse_bytes' loop stops at the last non-letter but keeps at least one prefix char.
  if (index == 0) index = 1;
  std::string prefix = s.substr(0, index), suffix = s.substr(index);
  double n;
  if (!ParsePythonFloat(prefix, &n)) {
    return Status::Invalid("Could not interpret '" + prefix + "' as a number");
  }
  bool ok;
  int64_t mult = UnitMultiplier(suffix, &ok);
  if (!ok) return Status::Invalid("Could not interpret '" + suffix + "' as a byte unit");
  return ToInt64(n * static_cast<double>(mult), text);
}

Result<std::optional<int64_t>> ParseMemoryLimit(std::string_view spec, int64_t nthreads,
                                                int64_t total_cores, int64_t system_limit) {
  int64_t limit;
  double f;
  if (spec == "auto") {
    double share = std::min(1.0, static_cast<double>(nthreads) / static_cast<double>(total_cores));
    limit = static_cast<int64_t>(static_cast<double>(system_limit) * share);
  } else if (ParsePythonFloat(spec, &f)) {
    if (f <= 1) {
      DN_ASSIGN_OR_RETURN(limit, ToInt64(f * static_cast<double>(system_limit), spec));
    } else {
      DN_ASSIGN_OR_RETURN(limit, ToInt64(f, spec));
    }
  } else {
    DN_ASSIGN_OR_RETURN(limit, ParseBytes(spec));
  }
  if (limit < 0) return Status::Invalid("negative memory limit '" + std::string(spec) + "'");
  if (limit == 0) return std::optional<int64_t>();
  return std::optional<int64_t>(std::min(limit, system_limit));
}

int64_t SystemMemoryLimit() {
  int64_t limit = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  for (const char* path :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    int64_t c = ReadCgroupLimit(path);
    if (c > 0) limit = std::min(limit, c);
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_RSS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 0) {
    limit = std::min<int64_t>(limit, static_cast<int64_t>(rl.rlim_cur));
  }
  return limit;
}

}  // namespace dn

namespace dn {

int CpuLimit() {
  cpu_set_t set;
  int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
  if (cpus <= 0) cpus = static_cast<int>(std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN)));
  double quota = -1, period = -1;
  if (std::ifstream v2("/sys/fs/cgroup/cpu.max"); v2) {
    std::string q;
    v2 >> q >> period;
    if (q != "max") quota = std::atof(q.c_str());
  } else {
    std::ifstream("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") >> quota;
    std::ifstream("/sys/fs/cgroup/cpu/cpu.cfs_period_us") >> period;
  }
  if (quota > 0 && period > 0)
    cpus = std::min(cpus, std::max(1, static_cast<int>(std::ceil(quota / period))));
  return std::max(1, cpus);
}

}  // namespace dn
