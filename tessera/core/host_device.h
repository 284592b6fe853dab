#pragma once
// Marks code that runs on the host and on CUDA devices. Under nvcc TS_HOST_DEVICE is
// `__host__ __device__`; for g++ it is empty, so the same header-only op math (backend/math/)
// serves the CPU backend and the CUDA kernels.
#include <cstring>

#if defined(__CUDACC__)
#define TS_HOST_DEVICE __host__ __device__
#define TS_DEVICE_CODE 1
#else
#define TS_HOST_DEVICE
#endif
#define TS_INLINE TS_HOST_DEVICE inline __attribute__((always_inline))

namespace tessera {

// std::bit_cast without <bit>'s constexpr machinery, callable from device code.
template <class To, class From>
TS_INLINE To bit_cast(const From& from) {
  static_assert(sizeof(To) == sizeof(From), "bit_cast: sizes differ");
  To to;
  memcpy(&to, &from, sizeof(To));
  return to;
}

}  // namespace tessera
