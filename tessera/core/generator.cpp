#include "tessera/core/generator.h"

#include "tessera/backend/math/random.h"

namespace tessera {

Generator& default_generator() {
  static Generator g;
  return g;
}
void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

uint64_t draw_seed(Generator& g) {
  Philox4x32 r = philox4x32(g.seed(), g.reserve(1), 7);
  return (uint64_t(r.v[0]) << 32) | r.v[1];
}

}  // namespace tessera
