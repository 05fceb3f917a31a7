#pragma once

#include <chrono>

namespace dn {

/// Seconds since the epoch as a double, the clock dask puts in messages (time()).
inline double WallTime() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace dn
