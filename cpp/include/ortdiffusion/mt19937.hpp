// Mt19937: the 32-bit Mersenne Twister (Matsumoto & Nishimura 1998) as torch's CPU generator runs it
// (at::mt19937: seeded with init_genrand, the same sequence as std::mt19937), with a bulk fill that
// regenerates the 624-word state in place (a loop the compiler vectorizes) instead of one call per word.
#pragma once

#include <array>
#include <cstdint>

namespace ortdiffusion {

class Mt19937 {
 public:
  explicit Mt19937(uint32_t seed = 5489u) { seed_with(seed); }

  // init_genrand(seed): the state from a 32-bit seed.
  void seed_with(uint32_t seed);

  // The next word (tempered).
  uint32_t next() {
    if (index_ >= kN) twist();
    return temper(state_[index_++]);
  }

  // The next n words into out, as n calls of next() would give them.
  void fill(uint32_t* out, int64_t n);

 private:
  static constexpr int kN = 624;
  static constexpr int kM = 397;
  static uint32_t temper(uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }
  void twist();

  std::array<uint32_t, kN> state_{};
  int index_ = kN;
};

}  // namespace ortdiffusion
