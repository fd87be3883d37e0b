// InvariantDivisor (cpp/src/invariant_divisor.hpp) against IEEE division, bit for bit: every float32
// significand of [1, 2) and [-2, -1) over divisors chosen to be hard (significands all ones or barely above
// one, subnormal, huge, the noise levels of SD 1.5 schedules), then random bit patterns over all exponents,
// zeros, infinities and NaNs (whose quotients are all normal, zero, infinite or NaN apart from rare subnormals,
// see the header's exception). Built with -ffp-contract=off like the core, so x / d is the division itself.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "invariant_divisor.hpp"

namespace {

uint32_t bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

float from_bits(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

bool same(float a, float b) { return (std::isnan(a) && std::isnan(b)) || bits(a) == bits(b); }

int failures = 0;

void check_divisor(float d, const std::vector<float>& dividends) {
  const ortdiffusion::detail::InvariantDivisor<float> divisor(d);
  long bad = 0;
  float first = 0.0f;
  for (const float x : dividends) {
    if (!same(divisor.divide(x), x / d)) {
      if (bad++ == 0) first = x;
    }
  }
  if (bad) {
    std::fprintf(stderr, "FAILED: InvariantDivisor(%a): %ld of %zu quotients differ from x / d (first x = %a)\n", d,
                 bad, dividends.size(), first);
    ++failures;
  }
}

}  // namespace

int main() {
  std::vector<float> significands;
  for (uint32_t m = 0; m < (1u << 23); ++m) {
    significands.push_back(from_bits(0x3f800000u | m));  // [1, 2)
    significands.push_back(from_bits(0xbf800000u | m));  // [-2, -1)
  }
  const float hard[] = {1.0f, 3.0f, 0.1f, from_bits(0x3fffffffu) /* 1.99999988 */, from_bits(0x3f800001u),
                        1.0044974f /* sqrt(0.0292^2 + 1)-like */, 14.614646f /* SD 1.5's largest sigma */,
                        from_bits(0x00000003u) /* subnormal */};
  for (const float d : hard) check_divisor(d, significands);

  // random bit patterns (every exponent, subnormals, infinities, NaNs) against random and special divisors
  std::vector<float> anything;
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < (1 << 20); ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    anything.push_back(from_bits(static_cast<uint32_t>(state >> 32)));
  }
  for (const float special : {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max()}) {
    anything.push_back(special);
    check_divisor(special, anything);
  }
  for (int i = 0; i < 64; ++i) check_divisor(anything[static_cast<size_t>(i) * 997], anything);

  // the documented exception: a subnormal quotient exactly on a midpoint (147 2^-149 / 98 = 1.5 2^-149) rounds
  // the other way; if this starts to hold, the header's comment is out of date
  const float x = std::ldexp(147.0f, -149), d = 98.0f;
  if (ortdiffusion::detail::InvariantDivisor<float>(d).divide(x) == x / d) {
    std::fprintf(stderr, "FAILED: the subnormal tie 147 2^-149 / 98 now matches; update invariant_divisor.hpp\n");
    ++failures;
  }

  if (failures == 0) std::printf("InvariantDivisor: all quotients equal x / d\n");
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
