#pragma once
// How the CUDA reduction kernels cut a reduction into threads and blocks (host-only planning,
// tested without a GPU). `outputs` results of `reduced` elements each:
//  - along_reduced (the input's fastest dim is reduced): a warp, or a whole block, walks each
//    output's elements, lanes on adjacent addresses;
//  - otherwise a thread per output, adjacent threads on adjacent outputs, 8 rows of threads
//    per block sharing each output's elements.
// When there are too few outputs to fill the device, the reduced range is cut into `splits`
// chunks of `chunk` elements (grid.y); a second pass combines the partial results.
#include <cstdint>

namespace tessera::cuda {

inline constexpr int kReduceBlock = 256;       // threads per block
inline constexpr int kReduceRows = 8;          // along outputs: rows of threads sharing an output
inline constexpr int64_t kMaxGridY = 65535;

struct ReduceConfig {
  bool along_reduced = true;
  int warps_per_output = 1;   // along_reduced: 1, or kReduceBlock / 32 (the whole block)
  int64_t outputs_per_block = 1;
  int64_t grid_x = 1;         // blocks along the outputs
  int64_t splits = 1;         // blocks along the reduced range (grid.y)
  int64_t chunk = 0;          // reduced elements per split; the last split may be shorter
};

// sms: the device's multiprocessors (the plan aims at a few blocks each).
ReduceConfig plan_reduce(int64_t outputs, int64_t reduced, bool along_reduced, int sms);

}  // namespace tessera::cuda
