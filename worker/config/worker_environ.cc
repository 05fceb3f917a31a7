#include "worker/config/worker_environ.h"

#include <algorithm>

#include "common/dask_config.h"

namespace dn {

namespace {

// distributed.yaml's defaults for distributed.nanny.pre-spawn-environ.
const std::vector<ConfigEntry>& PreSpawnDefaults() {
  static const std::vector<ConfigEntry> kDefaults = {{"MALLOC_TRIM_THRESHOLD_", "65536"},
                                                     {"OMP_NUM_THREADS", "1"},
                                                     {"MKL_NUM_THREADS", "1"},
                                                     {"OPENBLAS_NUM_THREADS", "1"}};
  return kDefaults;
}

// Set entries of `overrides` replace (or with None remove) those of `base`, in place.
void Merge(std::vector<ConfigEntry>* base, const std::vector<ConfigEntry>& overrides) {
  for (const ConfigEntry& o : overrides) {
    auto it = std::find_if(base->begin(), base->end(),
                           [&](const ConfigEntry& b) { return b.first == o.first; });
    if (it != base->end()) {
      it->second = o.second;
    } else {
      base->push_back(o);
    }
  }
}

Result<std::vector<ConfigEntry>> ConfigMapping(const EnvReader& config, std::string_view key,
                                               std::vector<ConfigEntry> defaults) {
  std::optional<std::string> text = config(key);
  if (!text) return defaults;
  std::vector<ConfigEntry> set;
  if (!ParseConfigMapping(*text, &set)) {
    return Status::Invalid(std::string(key) + " must be a mapping of variable names to values, " +
                           "e.g. {\"OMP_NUM_THREADS\": 2}; got " + *text);
  }
  Merge(&defaults, set);
  return defaults;
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> WorkerEnviron(const EnvReader& getenv,
                                                                       const EnvReader& config) {
  DN_ASSIGN_OR_RETURN(
      std::vector<ConfigEntry> pre_spawn,
      ConfigMapping(config, "distributed.nanny.pre-spawn-environ", PreSpawnDefaults()));
  DN_ASSIGN_OR_RETURN(std::vector<ConfigEntry> environ,
                      ConfigMapping(config, "distributed.nanny.environ", {}));
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const std::string& name, const std::string& value) {
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& e) { return e.first == name; });
    if (it != out.end()) {
      it->second = value;
    } else {
      out.emplace_back(name, value);
    }
  };
  std::optional<std::string> hash_seed;
  for (const ConfigEntry& e : pre_spawn) {
    if (!e.second) continue;
    std::optional<std::string> current = getenv(e.first);
    const std::string value = current ? *current : *e.second;
    if (e.first == "PYTHONHASHSEED") hash_seed = value;
    if (!current) add(e.first, value);
  }
  // Stock sets the seed over the process's own value unless pre-spawn-environ names
  // one (dask/distributed#8400).
  if (!hash_seed || *hash_seed == "0") add("PYTHONHASHSEED", "6640");
  for (const ConfigEntry& e : environ) {
    if (e.second && !getenv(e.first)) add(e.first, *e.second);
  }
  return out;
}

}  // namespace dn
