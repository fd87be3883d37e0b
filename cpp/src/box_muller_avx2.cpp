// box_muller_avx2.hpp: avx_mathfun's log256_ps and sincos256_ps (Julien Pommier's SSE/AVX ports of the
// Cephes routines, as ATen vendors them), operation for operation.
#include "box_muller_avx2.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <cstdint>

namespace ortdiffusion::detail {
namespace {

#define ORTDIFFUSION_AVX2 __attribute__((target("avx2,fma")))

ORTDIFFUSION_AVX2 inline __m256 set1(float v) { return _mm256_set1_ps(v); }
ORTDIFFUSION_AVX2 inline __m256 bits(uint32_t v) { return _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(v))); }

// log256_ps
ORTDIFFUSION_AVX2 __m256 log8(__m256 x) {
  const __m256 one = set1(1.0f);
  const __m256 invalid = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LE_OS);
  x = _mm256_max_ps(x, bits(0x00800000u));  // cut off denormals
  __m256i emm0 = _mm256_srli_epi32(_mm256_castps_si256(x), 23);
  x = _mm256_and_ps(x, bits(~0x7f800000u));  // keep the mantissa
  x = _mm256_or_ps(x, set1(0.5f));
  emm0 = _mm256_sub_epi32(emm0, _mm256_set1_epi32(0x7f));
  __m256 e = _mm256_cvtepi32_ps(emm0);
  e = _mm256_add_ps(e, one);
  // if (x < SQRTHF) { e -= 1; x = x + x - 1.0; } else { x = x - 1.0; }
  const __m256 mask = _mm256_cmp_ps(x, set1(0.707106781186547524f), _CMP_LT_OS);
  const __m256 tmp = _mm256_and_ps(x, mask);
  x = _mm256_sub_ps(x, one);
  e = _mm256_sub_ps(e, _mm256_and_ps(one, mask));
  x = _mm256_add_ps(x, tmp);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 y = set1(7.0376836292E-2f);
  y = _mm256_fmadd_ps(y, x, set1(-1.1514610310E-1f));
  y = _mm256_fmadd_ps(y, x, set1(1.1676998740E-1f));
  y = _mm256_fmadd_ps(y, x, set1(-1.2420140846E-1f));
  y = _mm256_fmadd_ps(y, x, set1(1.4249322787E-1f));
  y = _mm256_fmadd_ps(y, x, set1(-1.6668057665E-1f));
  y = _mm256_fmadd_ps(y, x, set1(2.0000714765E-1f));
  y = _mm256_fmadd_ps(y, x, set1(-2.4999993993E-1f));
  y = _mm256_fmadd_ps(y, x, set1(3.3333331174E-1f));
  y = _mm256_mul_ps(y, x);
  y = _mm256_fmadd_ps(y, z, _mm256_mul_ps(e, set1(-2.12194440e-4f)));  // y * z + e * q1
  y = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_setzero_ps(), z), set1(0.5f), y);  // y - z * 0.5
  x = _mm256_add_ps(x, y);
  x = _mm256_fmadd_ps(e, set1(0.693359375f), x);  // x + e * q2
  return _mm256_or_ps(x, invalid);  // negative arg will be NAN
}

// sincos256_ps
ORTDIFFUSION_AVX2 void sincos8(__m256 x, __m256* s, __m256* c) {
  __m256 sign_bit_sin = _mm256_and_ps(x, bits(0x80000000u));
  x = _mm256_and_ps(x, bits(0x7fffffffu));
  __m256 y = _mm256_mul_ps(x, set1(1.27323954473516f));  // scale by 4/pi
  __m256i j = _mm256_cvttps_epi32(y);
  j = _mm256_add_epi32(j, _mm256_set1_epi32(1));
  j = _mm256_and_si256(j, _mm256_set1_epi32(~1));
  y = _mm256_cvtepi32_ps(j);
  const __m256i swap = _mm256_slli_epi32(_mm256_and_si256(j, _mm256_set1_epi32(4)), 29);
  const __m256 poly_mask = _mm256_castsi256_ps(
      _mm256_cmpeq_epi32(_mm256_and_si256(j, _mm256_set1_epi32(2)), _mm256_setzero_si256()));
  x = _mm256_fmadd_ps(y, set1(-0.78515625f), x);  // the magic pass: x - y DP1 - y DP2 - y DP3
  x = _mm256_fmadd_ps(y, set1(-2.4187564849853515625e-4f), x);
  x = _mm256_fmadd_ps(y, set1(-3.77489497744594108e-8f), x);
  const __m256i j2 = _mm256_sub_epi32(j, _mm256_set1_epi32(2));
  const __m256 sign_bit_cos = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_andnot_si256(j2, _mm256_set1_epi32(4)), 29));
  sign_bit_sin = _mm256_xor_ps(sign_bit_sin, _mm256_castsi256_ps(swap));
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 yc = set1(2.443315711809948E-005f);
  yc = _mm256_fmadd_ps(yc, z, set1(-1.388731625493765E-003f));
  yc = _mm256_fmadd_ps(yc, z, set1(4.166664568298827E-002f));
  yc = _mm256_mul_ps(yc, z);
  yc = _mm256_fmadd_ps(yc, z, _mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(z, set1(0.5f))));
  yc = _mm256_add_ps(yc, set1(1.0f));
  __m256 ys = set1(-1.9515295891E-4f);
  ys = _mm256_fmadd_ps(ys, z, set1(8.3321608736E-3f));
  ys = _mm256_fmadd_ps(ys, z, set1(-1.6666654611E-1f));
  ys = _mm256_mul_ps(ys, z);
  ys = _mm256_fmadd_ps(ys, x, x);
  const __m256 ysin2 = _mm256_and_ps(poly_mask, ys);
  const __m256 ysin1 = _mm256_andnot_ps(poly_mask, yc);
  ys = _mm256_sub_ps(ys, ysin2);
  yc = _mm256_sub_ps(yc, ysin1);
  *s = _mm256_xor_ps(_mm256_add_ps(ysin1, ysin2), sign_bit_sin);
  *c = _mm256_xor_ps(_mm256_add_ps(yc, ys), sign_bit_cos);
}

}  // namespace

ORTDIFFUSION_AVX2 void box_muller_16_avx2(float* data) {
  const __m256 u1 = _mm256_sub_ps(set1(1.0f), _mm256_loadu_ps(data));
  const __m256 u2 = _mm256_loadu_ps(data + 8);
  const __m256 radius = _mm256_sqrt_ps(_mm256_mul_ps(set1(-2.0f), log8(u1)));
  const __m256 theta = _mm256_mul_ps(set1(static_cast<float>(2.0 * 3.14159265358979323846)), u2);
  __m256 sin_theta, cos_theta;
  sincos8(theta, &sin_theta, &cos_theta);
  const __m256 one = set1(1.0f), zero = _mm256_setzero_ps();
  _mm256_storeu_ps(data, _mm256_fmadd_ps(_mm256_mul_ps(radius, cos_theta), one, zero));  // * std + mean
  _mm256_storeu_ps(data + 8, _mm256_fmadd_ps(_mm256_mul_ps(radius, sin_theta), one, zero));
}

}  // namespace ortdiffusion::detail
#endif
