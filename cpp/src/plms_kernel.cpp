// See plms_kernel.hpp. Liu et al. 2022 (PNDM), the linear multistep combination (Adams-Bashforth weights) and
// formula (9), as diffusers' PNDMScheduler.step_plms / _get_prev_sample compute them:
//   order 2: (3 e_0 - e_1) / 2        order 3: (23 e_0 - 16 e_1 + 5 e_2) / 12
//   order 4: (1 / 24)(55 e_0 - 59 e_1 + 37 e_2 - 9 e_3)
//   x_prev = sqrt(a_prev / a_t) x - (a_prev - a_t) c / (a_t sqrt(1 - a_prev) + sqrt(a_t (1 - a_t) a_prev))
#include "plms_kernel.hpp"

#include "cpu_clones.hpp"
#include "invariant_divisor.hpp"

namespace ortdiffusion::detail {
namespace {

template <typename T, int Order, bool Keep>
ORTDIFFUSION_INLINE void plms_loop(const PlmsUpdate<T>& u) {
  const T* __restrict m = u.model_output;
  const T* __restrict x = u.sample;
  const T* __restrict e1 = u.older[0];
  const T* __restrict e2 = u.older[1];
  const T* __restrict e3 = u.older[2];
  T* __restrict keep = u.keep;
  T* __restrict out = u.out;
  const InvariantDivisor<T> by_denom(u.denom), by_two(T(2)), by_twelve(T(12));
  const auto w = static_cast<T>(1.0 / 24);  // a Python float constant, rounded to the tensor's dtype as torch does
  const T sample_coeff = u.sample_coeff, difference = u.difference;  // locals: the stores cannot alias them
  const int64_t n = u.n;
  // (GCC's runtime overlap check of these seven streams fails and falls back to scalar code; the buffers are
  // distinct by contract)
#pragma GCC ivdep
  for (int64_t i = 0; i < n; ++i) {
    const T e0 = m[i];
    if constexpr (Keep) keep[i] = e0;
    T c;
    if constexpr (Order == 1) c = e0;
    if constexpr (Order == 2) c = by_two.divide(T(3) * e0 - e1[i]);
    if constexpr (Order == 3) c = by_twelve.divide(T(23) * e0 - T(16) * e1[i] + T(5) * e2[i]);
    if constexpr (Order == 4) c = w * (T(55) * e0 - T(59) * e1[i] + T(37) * e2[i] - T(9) * e3[i]);
    out[i] = sample_coeff * x[i] - by_denom.divide(difference * c);
  }
}

template <typename T, bool Keep>
ORTDIFFUSION_INLINE void pick_order(const PlmsUpdate<T>& u) {
  switch (u.order) {
    case 1: plms_loop<T, 1, Keep>(u); break;
    case 2: plms_loop<T, 2, Keep>(u); break;
    case 3: plms_loop<T, 3, Keep>(u); break;
    default: plms_loop<T, 4, Keep>(u); break;
  }
}

template <typename T>
ORTDIFFUSION_INLINE void dispatch(const PlmsUpdate<T>& u) {
  if (u.keep) pick_order<T, true>(u);
  else pick_order<T, false>(u);
}

}  // namespace

ORTDIFFUSION_CLONES void plms_update(const PlmsUpdate<float>& u) { dispatch(u); }
ORTDIFFUSION_CLONES void plms_update(const PlmsUpdate<double>& u) { dispatch(u); }

}  // namespace ortdiffusion::detail
