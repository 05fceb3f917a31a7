#include "worker/native/reduce_plan.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

namespace dn::native::reduce_plan {

// --- The iterator plan -----------------------------------------------------------------

// npyiter_find_best_axis_ordering for `nops` operands: a stable insertion sort of the
// axes from smallest to largest |stride|. A zero stride says nothing; when operands
// disagree, the one voting for the current (C) order wins. `order` holds original axis
// numbers, innermost first.
void SortAxes(int nd, int nops, const int64_t* const* strides, int* order) {
  for (int d = 0; d < nd; ++d) order[d] = nd - 1 - d;
  for (int i0 = 1; i0 < nd; ++i0) {
    const int ax0 = order[i0];
    int ipos = i0;
    for (int i1 = i0 - 1; i1 >= 0; --i1) {
      const int ax1 = order[i1];
      bool ambig = true, shouldswap = false;
      for (int op = 0; op < nops; ++op) {
        const int64_t s0 = strides[op][ax0], s1 = strides[op][ax1];
        if (s0 != 0 && s1 != 0) {
          if (std::abs(s1) <= std::abs(s0)) {
            shouldswap = false;
          } else if (ambig) {
            shouldswap = true;
          }
          ambig = false;
        }
      }
      if (!ambig) {
        if (!shouldswap) break;
        ipos = i1;
      }
    }
    if (ipos != i0) {
      for (int i1 = i0; i1 > ipos; --i1) order[i1] = order[i1 - 1];
      order[ipos] = ax0;
    }
  }
}

// Strides (in elements) of a new array contiguous in iteration order `order` (innermost
// first), skipping `skip` axes; length-1 and skipped axes get 0, as the iterator sees them.
void ContiguousInOrder(int nd, const int* order, const int64_t* shape, AxisMask skip,
                       int64_t* strides) {
  int64_t running = 1;
  for (int d = 0; d < nd; ++d) {
    const int ax = order[d];
    const bool skipped = (skip >> ax) & 1;
    strides[ax] = (skipped || shape[ax] == 1) ? 0 : running;
    if (!skipped) running *= shape[ax];
  }
}

int64_t ViewSize(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void ReducedCStrides(std::span<const int64_t> shape, AxisMask axes, int64_t* strides) {
  int64_t running = 1;
  for (int a = static_cast<int>(shape.size()) - 1; a >= 0; --a) {
    const bool reduced = (axes >> a) & 1;
    strides[a] = reduced ? 0 : running;
    if (!reduced) running *= shape[a];
  }
}

Status CheckView(std::span<const int64_t> shape, std::span<const int64_t> strides, int64_t itemsize,
                 AxisMask axes) {
  const size_t nd = shape.size();
  if (strides.size() != nd) return Status::Invalid("shape and strides differ in length");
  if (nd > static_cast<size_t>(kMaxReduceDims)) {
    return Status::Invalid("reduction of more than " + std::to_string(kMaxReduceDims) +
                           " dimensions");
  }
  if (nd < 64 && (axes >> nd) != 0) return Status::Invalid("reduction axis out of range");
  int64_t size = 1;
  for (size_t i = 0; i < nd; ++i) {
    if (shape[i] < 0) return Status::Invalid("negative dimension");
    if (strides[i] % itemsize != 0) return Status::Invalid("stride not a multiple of itemsize");
    if (shape[i] != 0 && size > std::numeric_limits<int64_t>::max() / shape[i]) {
      return Status::Invalid("array too large");
    }
    size *= shape[i];
  }
  return Status::OK();
}

// Build numpy's iteration plan for `(out, in)`; `cast` marks an input that numpy must
// buffer to change its dtype.
Status MakePlan(std::span<const int64_t> shape, std::span<const int64_t> byte_strides,
                int64_t itemsize, AxisMask axes, bool cast, Plan* p) {
  DN_RETURN_NOT_OK(CheckView(shape, byte_strides, itemsize, axes));
  const int nd = static_cast<int>(shape.size());
  int64_t in_strides[kMaxReduceDims];
  p->itersize = ViewSize(shape);
  p->out_size = ReducedSize(shape, axes);
  for (int a = 0; a < nd; ++a) in_strides[a] = shape[a] == 1 ? 0 : byte_strides[a] / itemsize;
  int order[kMaxReduceDims];
  const int64_t* ops[1] = {in_strides};
  SortAxes(nd, 1, ops, order);  // the output has no strides yet: only the input votes
  ContiguousInOrder(nd, order, shape.data(), axes, p->result_stride);

  // AXISDATA in iteration order; a 0-d array iterates as one element.
  int n = std::max(nd, 1);
  for (int d = 0; d < n; ++d) {
    p->shape[d] = nd ? shape[order[d]] : 1;
    p->in[d] = nd ? in_strides[order[d]] : 0;
    p->out[d] = nd ? p->result_stride[order[d]] : 0;
  }
  // npyiter_coalesce_axes.
  int kept = 0;
  for (int d = 1; d < n; ++d) {
    bool can = true;
    for (int op = 0; op < 2 && can; ++op) {
      const int64_t s0 = op ? p->in[kept] : p->out[kept];
      const int64_t s1 = op ? p->in[d] : p->out[d];
      can = (p->shape[kept] == 1 && s0 == 0) || (p->shape[d] == 1 && s1 == 0) ||
            s0 * p->shape[kept] == s1;
    }
    if (can) {
      p->shape[kept] *= p->shape[d];
      if (p->in[kept] == 0) p->in[kept] = p->in[d];
      if (p->out[kept] == 0) p->out[kept] = p->out[d];
    } else {
      ++kept;
      p->shape[kept] = p->shape[d];
      p->in[kept] = p->in[d];
      p->out[kept] = p->out[d];
    }
  }
  n = kept + 1;
  p->ndim = n;

  // npyiter_find_buffering_setup. Operand 0 is the result (flagged REDUCE when any axis
  // is reduced), operand 1 the input (flagged CAST when its dtype changes).
  const bool op_reduce[2] = {axes != 0, false};
  const bool op_cast[2] = {false, cast};
  auto stride = [&](int d, int op) { return op ? p->in[d] : p->out[d]; };
  int single[2] = {1, 1};
  int reduce_outer[2] = {0, 0};
  int cost = 1 + (cast ? 1 : 0);
  int outer_reduce_dim = 0;
  int64_t size = p->shape[0];
  int best_dim = 0, best_cost = cost;
  int64_t best_size = size, best_coresize = 1;
  for (int idim = 1; idim < n; ++idim) {
    if (outer_reduce_dim) break;
    if (size >= kBufSize && cost > 1) break;  // GROWINNER is always set for reductions
    for (int op = 0; op < 2; ++op) {
      const int64_t prev = stride(idim - 1, op), cur = stride(idim, op);
      if (single[op] == idim) {
        if (prev * p->shape[idim - 1] == cur) {
          ++single[op];
          continue;  // numpy skips the reduce check too: a result stride of 0 twice coalesces
        }
        if (!op_cast[op]) ++cost;
      }
      if (op_reduce[op] && (cur == 0 || prev == 0)) {
        reduce_outer[op] = idim;
        outer_reduce_dim = idim;
      }
    }
    const int64_t coresize = size;
    size *= p->shape[idim];
    if (size == 0) break;
    double bufsize = static_cast<double>(size);
    if (size > kBufSize && cost > 1) bufsize = static_cast<double>(kBufSize);
    if (cost * static_cast<double>(best_size) <= best_cost * bufsize) {
      best_cost = cost;
      best_coresize = coresize;
      best_size = size;
      best_dim = idim;
    }
  }
  const bool using_reduce = outer_reduce_dim != 0 && best_dim == outer_reduce_dim;
  bool buffered[2];
  for (int op = 0; op < 2; ++op) {
    buffered[op] = op_cast[op];
    bool is_reduce_op;
    if (!using_reduce) {
      is_reduce_op = false;
    } else if (reduce_outer[op] == best_dim) {
      is_reduce_op = true;
    } else if (single[op] == best_dim && !buffered[op]) {
      is_reduce_op = true;
    } else {
      is_reduce_op = stride(outer_reduce_dim, op) == 0 && single[op] <= best_dim;
    }
    if (single[op] + (is_reduce_op ? 1 : 0) <= best_dim) buffered[op] = true;
  }
  // numpy could buffer the result too, but an allocated result is contiguous in
  // iteration order, so its strides never break inside the chosen core.
  if (buffered[0]) return Status::Internal("reduction plan buffers the result");
  if (buffered[1] && kBufSize < best_size) {
    best_size = best_coresize * (kBufSize / best_coresize);
  }
  p->coresize = best_coresize;
  p->outerdim = best_dim;
  p->reduce = using_reduce;
  p->in_buffered = buffered[1];
  p->buffersize = best_size;
  if (p->itersize > 0 && p->buffersize <= 0) return Status::Internal("empty reduction buffer");
  return Status::OK();
}

}  // namespace dn::native::reduce_plan
