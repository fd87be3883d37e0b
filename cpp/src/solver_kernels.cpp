// See solver_kernels.hpp. UniPC: Zhao et al. 2023, Algorithms 1-2 (B(h) variants bh1/bh2), as diffusers'
// UniPCMultistepScheduler computes them; the sums run in diffusers' order (rho_0 term first).
#include "solver_kernels.hpp"

#include "cpu_clones.hpp"
#include "invariant_divisor.hpp"

namespace ortdiffusion::detail {
namespace {

template <typename T>
ORTDIFFUSION_INLINE void quotient_loop(const T* __restrict x, const T* __restrict y, int64_t n, T c, T divisor,
                                       T* __restrict out) {
  const InvariantDivisor<T> by(divisor);
  for (int64_t i = 0; i < n; ++i) out[i] = by.divide(x[i] - c * y[i]);
}

template <typename T, int Order, bool Add>
ORTDIFFUSION_INLINE void dpm_loop(const DPMUpdate<T>& u) {
  const T* __restrict x = u.x;
  const T* __restrict m1 = u.m1;
  const T* __restrict m0 = u.m0;
  T* __restrict out = u.out;
  const T a = u.a, b = u.b, c = u.c, k = u.k;
  const int64_t n = u.n;
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (Order == 1) {
      out[i] = a * x[i] - b * m1[i];
    } else {
      const T d1 = k * (m0[i] - m1[i]);
      out[i] = Add ? (a * x[i] - b * m1[i]) + c * d1 : (a * x[i] - b * m1[i]) - c * d1;
    }
  }
}

template <typename T>
ORTDIFFUSION_INLINE void dpm_dispatch(const DPMUpdate<T>& u) {
  if (!u.m0) dpm_loop<T, 1, true>(u);
  else if (u.add) dpm_loop<T, 2, true>(u);
  else dpm_loop<T, 2, false>(u);
}

// count = 0 or 1 (UniPC's orders 1 and 2, SD's default solver_order = 2) as straight loops the compiler
// vectorises; more terms through the general loop.
template <typename T, int Count, bool Corrector>
ORTDIFFUSION_INLINE void unipc_loop(const UniPCUpdate<T>& u) {
  const T* __restrict x = u.x;
  const T* __restrict m0 = u.m0;
  const T* __restrict mt = u.model_t;
  T* __restrict out = u.out;
  const T a = u.a, b = u.b, d = u.d, rho_t = u.rho_t;
  const int64_t n = u.n;  // a local: the stores cannot alias it
  if constexpr (Count == 1) {
    const T* __restrict m1 = u.mis[0];
    const InvariantDivisor<T> by_r(static_cast<T>(u.rks[0]));
    const auto rho0 = static_cast<T>(u.rhos[0]);
    for (int64_t e = 0; e < n; ++e) {
      const T base = a * x[e] - b * m0[e];
      const T res = rho0 * by_r.divide(m1[e] - m0[e]);
      if constexpr (Corrector) out[e] = base - d * (res + rho_t * (mt[e] - m0[e]));
      else out[e] = base - d * res;
    }
  } else if constexpr (Count == 0) {
    for (int64_t e = 0; e < n; ++e) {
      const T base = a * x[e] - b * m0[e];
      if constexpr (Corrector) out[e] = base - d * (rho_t * (mt[e] - m0[e]));  // corr_res = 0: rho * D1_t
      else out[e] = base - d * T(0);                                            // pred_res = 0
    }
  } else {
    for (int64_t e = 0; e < n; ++e) {
      const T base = a * x[e] - b * m0[e];
      T res = static_cast<T>(u.rhos[0]) * ((u.mis[0][e] - m0[e]) / static_cast<T>(u.rks[0]));
      for (int k = 1; k < u.count; ++k) {
        res = res + static_cast<T>(u.rhos[k]) * ((u.mis[k][e] - m0[e]) / static_cast<T>(u.rks[k]));
      }
      if constexpr (Corrector) out[e] = base - d * (res + rho_t * (mt[e] - m0[e]));
      else out[e] = base - d * res;
    }
  }
}

template <typename T, bool Corrector>
ORTDIFFUSION_INLINE void unipc_pick_count(const UniPCUpdate<T>& u) {
  if (u.count == 0) unipc_loop<T, 0, Corrector>(u);
  else if (u.count == 1) unipc_loop<T, 1, Corrector>(u);
  else unipc_loop<T, 2, Corrector>(u);
}

template <typename T>
ORTDIFFUSION_INLINE void unipc_dispatch(const UniPCUpdate<T>& u) {
  if (u.model_t) unipc_pick_count<T, true>(u);
  else unipc_pick_count<T, false>(u);
}

}  // namespace

ORTDIFFUSION_CLONES void scaled_difference_quotient(const float* x, const float* y, int64_t n, float c, float divisor,
                                                    float* out) {
  quotient_loop(x, y, n, c, divisor, out);
}
ORTDIFFUSION_CLONES void scaled_difference_quotient(const double* x, const double* y, int64_t n, double c,
                                                    double divisor, double* out) {
  quotient_loop(x, y, n, c, divisor, out);
}
ORTDIFFUSION_CLONES void dpm_update(const DPMUpdate<float>& u) { dpm_dispatch(u); }
ORTDIFFUSION_CLONES void dpm_update(const DPMUpdate<double>& u) { dpm_dispatch(u); }
ORTDIFFUSION_CLONES void unipc_update(const UniPCUpdate<float>& u) { unipc_dispatch(u); }
ORTDIFFUSION_CLONES void unipc_update(const UniPCUpdate<double>& u) { unipc_dispatch(u); }

}  // namespace ortdiffusion::detail
