// Private: scalar float32 log and sincos with the Cephes polynomial algorithm, operation for
// operation as the vector routines (log256_ps / sincos256_ps of avx_mathfun) that torch's AVX2/AVX512
// CPU normal kernel calls. torch builds those with FMA and GCC's default contraction, which fuses each
// multiply whose only use is an add or subtract into that add; the std::fma calls below sit exactly
// there (verified bit-for-bit against torch.randn over 65536 samples), every other operation is
// rounded on its own (this project builds with -ffp-contract=off).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace ortdiffusion::detail {

inline uint32_t float_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
inline float bits_float(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// Natural log for x > 0 (Cephes logf): x = m * 2^e with m in [sqrt(1/2), sqrt(2)), then
// log(x) = e*ln2 + log(m) with log(1+t) ~ t - t^2/2 + t^3 P(t); ln2 split as q2 + q1 for precision.
inline float cephes_logf(float x) {
  const bool invalid = x <= 0.0f;
  const float min_norm_pos = bits_float(0x00800000u);
  x = x > min_norm_pos ? x : min_norm_pos;  // max_ps(x, min_norm_pos): cut off denormals
  const auto exponent_bits = static_cast<int32_t>(float_bits(x) >> 23);
  x = bits_float((float_bits(x) & ~0x7f800000u) | float_bits(0.5f));  // mantissa in [0.5, 1)
  float e = static_cast<float>(exponent_bits - 0x7f);
  e = e + 1.0f;
  // if (x < SQRTHF) { e -= 1; x = x + x - 1.0; } else { x = x - 1.0; }
  const bool below = x < 0.707106781186547524f;
  const float tmp = below ? x : 0.0f;
  x = x - 1.0f;
  e = e - (below ? 1.0f : 0.0f);
  x = x + tmp;
  const float z = x * x;
  float y = 7.0376836292E-2f;
  y = std::fma(y, x, -1.1514610310E-1f);
  y = std::fma(y, x, 1.1676998740E-1f);
  y = std::fma(y, x, -1.2420140846E-1f);
  y = std::fma(y, x, 1.4249322787E-1f);
  y = std::fma(y, x, -1.6668057665E-1f);
  y = std::fma(y, x, 2.0000714765E-1f);
  y = std::fma(y, x, -2.4999993993E-1f);
  y = std::fma(y, x, 3.3333331174E-1f);
  y = y * x;
  y = std::fma(y, z, e * -2.12194440e-4f);  // y * z + e * q1
  y = std::fma(-z, 0.5f, y);                // y - z * 0.5
  x = x + y;
  x = std::fma(e, 0.693359375f, x);         // x + e * q2
  return invalid ? bits_float(float_bits(x) | 0xffffffffu) : x;  // or_ps with the all-ones mask: NaN
}

// sin and cos together (Cephes sinf/cosf): reduce by multiples of pi/4 with pi/4 split in three
// parts (DP1 + DP2 + DP3), then pick the sine or cosine polynomial per octant.
inline void cephes_sincosf(float x, float* sin_out, float* cos_out) {
  uint32_t sign_bit_sin = float_bits(x) & 0x80000000u;
  x = bits_float(float_bits(x) & 0x7fffffffu);  // |x|
  float y = x * 1.27323954473516f;               // scale by 4/pi
  auto j = static_cast<int32_t>(y);              // cvttps: truncate
  j = (j + 1) & ~1;                              // j = (j + 1) & ~1 (see the cephes sources)
  y = static_cast<float>(j);
  const uint32_t swap_sign_bit_sin = static_cast<uint32_t>(j & 4) << 29;
  const bool poly_mask = (j & 2) == 0;
  // The magic pass: "Extended precision modular arithmetic": x = ((x - y DP1) - y DP2) - y DP3
  x = std::fma(y, -0.78515625f, x);
  x = std::fma(y, -2.4187564849853515625e-4f, x);
  x = std::fma(y, -3.77489497744594108e-8f, x);
  const uint32_t sign_bit_cos = static_cast<uint32_t>(~(j - 2) & 4) << 29;
  sign_bit_sin ^= swap_sign_bit_sin;
  // Evaluate the first polynomial (cosine, 0 <= x <= pi/4)
  const float z = x * x;
  float yc = 2.443315711809948E-005f;
  yc = std::fma(yc, z, -1.388731625493765E-003f);
  yc = std::fma(yc, z, 4.166664568298827E-002f);
  yc = yc * z;
  yc = std::fma(yc, z, -(z * 0.5f));  // yc * z - z * 0.5
  yc = yc + 1.0f;
  // Evaluate the second polynomial (sine, 0 <= x <= pi/4)
  float ys = -1.9515295891E-4f;
  ys = std::fma(ys, z, 8.3321608736E-3f);
  ys = std::fma(ys, z, -1.6666654611E-1f);
  ys = ys * z;
  ys = std::fma(ys, x, x);  // ys * x + x
  // Select the right polynomial for each output, with the vector code's masked adds.
  const float ysin2 = poly_mask ? ys : 0.0f;
  const float ysin1 = poly_mask ? 0.0f : yc;
  ys = ys - ysin2;
  yc = yc - ysin1;
  *sin_out = bits_float(float_bits(ysin1 + ysin2) ^ sign_bit_sin);
  *cos_out = bits_float(float_bits(yc + ys) ^ sign_bit_cos);
}

}  // namespace ortdiffusion::detail
