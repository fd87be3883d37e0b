// torch's float32 sqrt (torch_float_sqrt.hpp). The rsqrt14 emulation follows Intel's published
// piecewise-linear reference for VRSQRT14 (two tables of 32 segments for mantissas in [1, 2) and [2, 4),
// a 19-bit free term and a 10-bit slope per segment, the input truncated to 17 bits); the sqrt kernel is
// MKL's mkl_vml_kernel_sSqrt_Z0HAynn as disassembled from torch 2.13's libtorch_cpu.so.
#include "ortdiffusion/torch_float_sqrt.hpp"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace ortdiffusion {
namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Free terms (x 2^-19) and slopes of the 32 segments, [0]: mantissa in [1, 2), [1]: in [2, 4).
const int32_t kFree[2][32] = {
    {520261, 512437, 504953, 497790, 490922, 484331, 478001, 471909, 466046, 460397, 454947,
     449688, 444606, 439694, 434939, 430335, 425875, 421551, 417355, 413284, 409329, 405487,
     401748, 398111, 394571, 391127, 387770, 384498, 381307, 378194, 375155, 372190},
    {367881, 362349, 357056, 351992, 347136, 342475, 337997, 333693, 329545, 325551, 321697,
     317977, 314385, 310910, 307549, 304295, 301139, 298079, 295115, 292237, 289439, 286722,
     284080, 281508, 279006, 276569, 274195, 271882, 269625, 267425, 265276, 263178}};
const int32_t kSlope[2][32] = {
    {1001, 955, 915, 877, 841, 807, 775, 747, 719, 693, 669, 647, 625, 603, 585, 567,
     549,  533, 517, 501, 487, 473, 461, 449, 437, 425, 415, 403, 393, 385, 375, 367},
    {707, 675, 647, 619, 595, 571, 549, 527, 509, 491, 473, 457, 441, 427, 413, 401,
     389, 377, 365, 355, 345, 335, 325, 317, 309, 301, 293, 285, 279, 271, 265, 259}};

// VRSQRT14SS for finite x > 0 (normal or subnormal, DAZ off).
float rsqrt14(float x) {
  const uint32_t b = bits_of(x);
  int32_t exponent = static_cast<int32_t>(b >> 23);
  uint32_t mantissa = b & 0x7fffffu;
  if (exponent == 0) {  // subnormal: normalise
    exponent = -126;
    while (!(mantissa & 0x800000u)) {
      mantissa <<= 1;
      --exponent;
    }
    mantissa &= 0x7fffffu;
  } else {
    exponent -= 127;
  }
  const int odd = exponent & 1;  // x = 2^(2n) s with s in [1, 2) (even) or [2, 4) (odd)
  const int n = (exponent - odd) / 2;
  if (mantissa == 0 && !odd) return std::ldexp(1.0f, -n);  // powers of 4 are exact
  const uint32_t segment = mantissa >> 18;                                  // top 5 fraction bits
  const int32_t offset = static_cast<int32_t>((mantissa >> 8) & 1023u) - 512;  // from the segment's middle
  const int64_t value = 128LL * kFree[odd][segment] - static_cast<int64_t>(kSlope[odd][segment]) * offset;
  const int64_t q = value >> 9;  // 17 significant bits
  return std::ldexp(static_cast<float>(q), -17 - n);
}

bool detect_mkl_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  // MKL's own switches: a conditional-reproducibility mode or an instruction cap below AVX-512 selects
  // another kernel.
  if (const char* cbwr = std::getenv("MKL_CBWR"); cbwr != nullptr && std::string(cbwr) != "AUTO") return false;
  if (const char* cap = std::getenv("MKL_ENABLE_INSTRUCTIONS"); cap != nullptr && std::string(cap).rfind("AVX512", 0) != 0) {
    return false;
  }
  __builtin_cpu_init();
  return __builtin_cpu_is("intel") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

}  // namespace

float mkl_avx512_sqrt(float x) {
  const uint32_t b = bits_of(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) return float_of(b | 0x400000u);  // NaN: quietened
  if ((b & 0x7fffffffu) == 0 || b == 0x7f800000u) return x;             // +-0 and +inf unchanged
  if (b >> 31) return float_of(0x7fc00000u);                             // negative: +qNaN
  const float r = rsqrt14(x);
  float half_r = r * 0.5f;
  const float y = r * x;
  if (r > 0x1p39f) {  // tiny x: the residual is rescaled against underflow
    const float xs = x * 0x1p78f, ys = y * 0x1p39f;
    half_r = half_r * 0x1p-78f;
    return std::fma(std::fma(-ys, ys, xs), half_r, y);
  }
  return std::fma(std::fma(-y, y, x), half_r, y);  // one Newton-Raphson correction of y = x / sqrt(x)
}

bool torch_sqrt_is_mkl_avx512() {
  static const bool mkl_avx512 = detect_mkl_avx512();
  return mkl_avx512;
}

float torch_sqrt(float x) { return torch_sqrt_is_mkl_avx512() ? mkl_avx512_sqrt(x) : std::sqrt(x); }

}  // namespace ortdiffusion
