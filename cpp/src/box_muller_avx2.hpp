// Private: torch's AVX2/AVX512 float32 Box-Muller (ATen's normal_fill_16_AVX2 with avx_mathfun's log256_ps
// and sincos256_ps) in AVX2 intrinsics, eight lanes at a time: the same operations, in the same order,
// with FMA where torch's build contracts (cephes_float_math.hpp is the scalar form of the same code).
// Call only where the CPU has AVX2 and FMA (torch_cpu_capability() is Avx2 or Avx512).
#pragma once

namespace ortdiffusion::detail {

// data[0..7] = r cos(theta), data[8..15] = r sin(theta) with r = sqrt(-2 log(1 - data[j])),
// theta = 2 pi data[j + 8].
void box_muller_16_avx2(float* data);

}  // namespace ortdiffusion::detail
