// mt19937.hpp: the reference algorithm's init_genrand and generation (mt19937ar.c), the twist written as
// three branch-free loops.
#include "ortdiffusion/mt19937.hpp"

namespace ortdiffusion {
namespace {

constexpr uint32_t kMatrixA = 0x9908b0dfu;

inline uint32_t mix(uint32_t upper, uint32_t lower, uint32_t far) {
  const uint32_t y = (upper & 0x80000000u) | (lower & 0x7fffffffu);
  return far ^ (y >> 1) ^ ((0u - (y & 1u)) & kMatrixA);
}

}  // namespace

void Mt19937::seed_with(uint32_t seed) {
  state_[0] = seed;
  for (int i = 1; i < kN; ++i) {
    state_[i] = 1812433253u * (state_[i - 1] ^ (state_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  }
  index_ = kN;
}

void Mt19937::twist() {
  uint32_t* s = state_.data();
  int k = 0;
  for (; k < kN - kM; ++k) s[k] = mix(s[k], s[k + 1], s[k + kM]);
  for (; k < kN - 1; ++k) s[k] = mix(s[k], s[k + 1], s[k + kM - kN]);
  s[kN - 1] = mix(s[kN - 1], s[0], s[kM - 1]);
  index_ = 0;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void Mt19937::fill(uint32_t* out, int64_t n) {
  while (n > 0) {
    if (index_ >= kN) twist();
    const int64_t take = n < kN - index_ ? n : kN - index_;
    const uint32_t* s = state_.data() + index_;
    for (int64_t i = 0; i < take; ++i) out[i] = temper(s[i]);
    index_ += static_cast<int>(take);
    out += take;
    n -= take;
  }
}

}  // namespace ortdiffusion
