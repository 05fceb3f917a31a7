#pragma once

#include <vector>

#include "common/result.h"
#include "worker/native/eval_value.h"

namespace dn::native::eval {

/// Call a recognised callable on evaluated arguments: `fn`'s partial-bound arguments
/// first, its bound keywords where the call has none. NotImplemented for arguments the
/// native kernels do not cover (the task then runs in Python).
Result<Obj> Call(const Fn& fn, std::vector<Obj> argv, Kwargs kwargs);

}  // namespace dn::native::eval
