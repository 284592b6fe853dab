#include "tessera/backend/cuda/reduce_plan.h"

#include <algorithm>

namespace tessera::cuda {

ReduceConfig plan_reduce(int64_t outputs, int64_t reduced, bool along_reduced, int sms) {
  ReduceConfig c;
  c.along_reduced = along_reduced;
  int64_t threads_per_output;
  if (along_reduced) {
    // A whole block per output when outputs are few and long; a warp per output otherwise.
    bool whole_block = reduced > 4096 && outputs < int64_t(sms) * 16;
    c.warps_per_output = whole_block ? kReduceBlock / 32 : 1;
    c.outputs_per_block = whole_block ? 1 : kReduceBlock / 32;
    threads_per_output = whole_block ? kReduceBlock : 32;
  } else {
    c.warps_per_output = 0;
    c.outputs_per_block = kReduceBlock / kReduceRows;
    threads_per_output = kReduceRows;
  }
  c.grid_x = std::max<int64_t>(1, (outputs + c.outputs_per_block - 1) / c.outputs_per_block);
  // Split the reduced range while the grid is smaller than a few blocks per multiprocessor,
  // keeping at least 16 elements per thread and split.
  int64_t want = (int64_t(sms) * 4 + c.grid_x - 1) / c.grid_x;
  int64_t most = std::max<int64_t>(1, reduced / (threads_per_output * 16));
  c.splits = std::clamp<int64_t>(want, 1, std::min(most, kMaxGridY));
  c.chunk = reduced > 0 ? (reduced + c.splits - 1) / c.splits : 0;
  c.splits = reduced > 0 ? (reduced + c.chunk - 1) / c.chunk : 1;
  return c;
}

}  // namespace tessera::cuda
