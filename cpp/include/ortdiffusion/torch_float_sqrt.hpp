// torch's float32 square root, as diffusers' schedulers get it from `tensor ** 0.5` and `tensor.sqrt()`.
// On x86 torch sends both to Intel MKL's vmsSqrt (high-accuracy mode), whose AVX-512 kernel is not
// correctly rounded: it returns y + (x - y*y) * r/2 with y = r*x and r = the 14-bit hardware estimate
// of 1/sqrt(x) (vrsqrt14ps). That is one ulp below IEEE sqrt for 0.59% of float32 inputs (never above).
// Where torch would run that kernel (an Intel CPU with AVX-512, no MKL_CBWR / MKL_ENABLE_INSTRUCTIONS
// override) torch_sqrt reproduces it bit for bit; elsewhere it is IEEE sqrt (MKL's AVX2 kernel builds on
// the 12-bit rsqrtps estimate, whose bits vary between CPU models).
#pragma once

namespace ortdiffusion {

// MKL's AVX-512 high-accuracy float32 sqrt, emulated in portable arithmetic (integer rsqrt14 table,
// IEEE multiplies, std::fma). Bit-exact against torch.sqrt on all 2^32 float32 inputs (torch 2.13,
// MKL 2024.2, checked exhaustively when this was written).
float mkl_avx512_sqrt(float x);

// True when torch on this machine computes float32 sqrt with MKL's AVX-512 kernel (checked once).
bool torch_sqrt_is_mkl_avx512();

// sqrt(x) as torch computes it for a float32 tensor on this machine.
float torch_sqrt(float x);

}  // namespace ortdiffusion
