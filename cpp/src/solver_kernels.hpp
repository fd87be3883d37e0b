// Private: element-wise passes of the multistep solvers (DPM-Solver, UniPC), built with GCC target_clones
// like ddim_step_kernel.hpp (AVX-512, AVX2 or SSE2 chosen at load time). Each does diffusers' rounded
// operations in diffusers' order; divisions by a step's scalar go through InvariantDivisor (exact bits), and
// no FMA is formed, so every clone gives the same bits.
#pragma once

#include <cstdint>

namespace ortdiffusion::detail {

// out = (x - c * y) / divisor: convert_model_output's x_0 = (sample - sigma_t * eps) / alpha_t and
// eps = (sample - alpha_t * x_0) / sigma_t
void scaled_difference_quotient(const float* x, const float* y, int64_t n, float c, float divisor, float* out);
void scaled_difference_quotient(const double* x, const double* y, int64_t n, double c, double divisor, double* out);

// DPM-Solver's first- and second-order updates (diffusers' dpm_solver_first_order_update and the singlestep /
// multistep second-order updates, data or noise prediction):
//   out = (a x - b m1) + sign * c * (k (m0 - m1))      (sign = +1 or -1; with c = 0 and m0 = m1 = m: a x - b m)
// computed as written, left to right, in the tensor's dtype.
template <typename T>
struct DPMUpdate {
  const T* x;
  const T* m1;
  const T* m0;  // null: the first-order update (a x - b m1)
  T a, b, c, k;
  bool add;  // + c d1 (else - c d1)
  int64_t n;
  T* out;
};
void dpm_update(const DPMUpdate<float>& u);
void dpm_update(const DPMUpdate<double>& u);

// UniPC's predictor / corrector update (diffusers' multistep_uni_p_bh_update / multistep_uni_c_bh_update):
//   res = sum_k rho_k * ((m_k - m0) / r_k)        (einsum over D1s; k < count)
//   predictor (model_t null):  out = (a x - b m0) - d res                  (res = 0 when count = 0)
//   corrector:                 out = (a x - b m0) - d (res + rho_t (model_t - m0))
template <typename T>
struct UniPCUpdate {
  const T* x;
  const T* m0;
  const T* const* mis;  // count earlier converted outputs
  const float* rks;     // their r_k
  const float* rhos;    // their rho_k
  int count;
  const T* model_t;  // null: predictor
  T rho_t;
  T a, b, d;
  int64_t n;
  T* out;
};
void unipc_update(const UniPCUpdate<float>& u);
void unipc_update(const UniPCUpdate<double>& u);

}  // namespace ortdiffusion::detail
